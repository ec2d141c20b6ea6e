//===- Signature.h - entries of a spec and their argument shapes ----------===//
//
// What a driver (attnc, the C API) needs to know about a spec entry before
// compiling it: argument names as written in the spec, dtypes, static dims,
// and the concrete shapes implied by the shapes a user gave (the attn ops'
// dimension equalities, propagated with a union-find).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DRIVER_SIGNATURE_H
#define ATTNIR_DRIVER_SIGNATURE_H

#include "attnir/Runtime/EntryABI.h"
#include "attnir/Support/HostTensor.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include <map>
#include <string>
#include <vector>

namespace attnir {

struct ArgInfo {
  std::string name;           // as in the spec ("q"), or "arg<i>" / "result<i>"
  DType dtype = DType::F32;
  std::vector<int64_t> shape; // -1 for dynamic dims
};

struct EntrySignature {
  std::string name;
  std::vector<ArgInfo> inputs, outputs;
};

/// Reads the signature of `fn`; fails on non-tensor or unsupported element
/// types with a one-line error.
bool getEntrySignature(mlir::func::FuncOp fn, EntrySignature &sig,
                       std::string &error);

/// The runtime's view of `fn`: arguments and the shape relations of its attn
/// ops as dimension classes (union-find over each op's dimension
/// equalities).
bool computeEntryABI(mlir::func::FuncOp fn, const EntrySignature &sig,
                     EntryABI &abi, std::string &error);

/// A public entry of a spec with its signature and ABI.
struct SpecEntry {
  mlir::func::FuncOp fn;
  EntrySignature sig;
  EntryABI abi;
};

/// The public entries of `spec` in source order (only `onlyEntry` when it is
/// non-empty); fails on an unsupported signature or when there is none.
bool collectEntries(mlir::ModuleOp spec, llvm::StringRef onlyEntry,
                    std::vector<SpecEntry> &entries, std::string &error);

/// Resolves every dynamic dim of the inputs and outputs of an entry whose
/// ABI is `abi` (computeEntryABI). `given` maps input index to a full shape.
/// Unknown dims default by role: B = 1, Hq = 8, N = 1000, Hkv = Hq, M = N,
/// list heads = Hq, list length = every key block. Fails when given shapes
/// contradict the spec or each other.
bool resolveShapes(const EntryABI &abi,
                   const std::map<unsigned, std::vector<int64_t>> &given,
                   std::vector<std::vector<int64_t>> &inputShapes,
                   std::vector<std::vector<int64_t>> &outputShapes,
                   std::string &error);

/// Useful flops of running `fn` at these shapes: 2 (D + Dv) per kept
/// (query, key) pair of each attention op, masked pairs excluded. A block
/// list's pairs are counted from its contents in `inputs` (pairs in blocks
/// it does not list are not useful work); without them, as if it listed
/// every block. NaN when the program selects a list itself (its pairs are
/// known only after the run).
double usefulFlops(mlir::func::FuncOp fn,
                   const std::vector<std::vector<int64_t>> &inputShapes,
                   const std::vector<HostTensor> *inputs = nullptr);

} // namespace attnir

#endif // ATTNIR_DRIVER_SIGNATURE_H
