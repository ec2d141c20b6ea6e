//===- EntryABI.h - what a compiled entry expects of its arguments --------===//
//
// Everything the runtime needs to check a call and size its outputs, with no
// MLIR in sight: the argument list (names, dtypes, static dims) and the shape
// relations of the spec reduced to dimension classes. Produced by the
// compiler from the spec (lib/Driver/Signature.cpp), stored in bundles, and
// used by runtime-only builds.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_RUNTIME_ENTRYABI_H
#define ATTNIR_RUNTIME_ENTRYABI_H

#include "attnir/Support/HostTensor.h"
#include <string>
#include <vector>

namespace attnir {

struct ABIArg {
  std::string name;
  DType dtype = DType::F32;
  /// One class id per dimension; dims of one class must be equal.
  std::vector<int32_t> dimClass;
};

struct EntryABI {
  std::string name;
  std::vector<ABIArg> inputs, outputs;
  /// Per class: its static size, or -1 when dynamic.
  std::vector<int64_t> classSize;
  /// Per class: a human name for messages ("N", "Hkv", ...).
  std::vector<std::string> className;
  /// (a, b): the size of class a must be a multiple of class b's (GQA).
  std::vector<std::pair<int32_t, int32_t>> multipleOf;

  /// Checks input shapes against the entry and computes the output shapes.
  /// On failure `error` names the argument and dimension.
  bool resolve(const std::vector<std::vector<int64_t>> &inputShapes,
               std::vector<std::vector<int64_t>> &outputShapes,
               std::string &error) const;

  /// Checks the number and dtypes of the inputs, then resolve().
  bool check(const std::vector<DType> &dtypes,
             const std::vector<std::vector<int64_t>> &inputShapes,
             std::vector<std::vector<int64_t>> &outputShapes,
             std::string &error) const;

  /// A line-based text form, stable across versions of the compiler that
  /// write the same bundle format.
  std::string serialize() const;
  static bool deserialize(const std::string &text, EntryABI &abi,
                          std::string &error);
};

/// Bytes a call touches: its inputs, the kernel's f32 packed copy of each,
/// and its outputs. Callers compare it with physicalMemoryBytes() before
/// allocating, so that an oversized call is an error, not a failed malloc.
double callFootprintBytes(const std::vector<DType> &inTypes,
                          const std::vector<std::vector<int64_t>> &inShapes,
                          const std::vector<DType> &outTypes,
                          const std::vector<std::vector<int64_t>> &outShapes);

/// This machine's physical memory in bytes.
double physicalMemoryBytes();

} // namespace attnir

#endif // ATTNIR_RUNTIME_ENTRYABI_H
