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
  /// What the argument is to the op that reads it ("q", "k", "v",
  /// "kv_indices", "kv_counts", ...; "out" and "lse" for results), whatever
  /// the spec names it. Empty when no op gives it a role.
  std::string role;
  /// Workspace only: the buffer keeps its contents from one call of the
  /// entry to the next on the same stream (a block map and what decides
  /// whether to rebuild it); zero when first allocated and whenever the
  /// entry's input shapes change. Bundle line "persist <name>".
  bool persistent = false;
};

/// A dimension computed from another: class `cls` = ceil(class `src` /
/// `divisor`) (the query blocks of a block list: ceil(N / block_q)).
struct DerivedClass {
  int32_t cls = -1, src = -1;
  int64_t divisor = 1;
};

/// A dimension of heads cut into `parts` groups (attn.split_heads): its size
/// must be a multiple of `parts`, or, unless `exact` (the heads an
/// attn.join_heads puts back together), divide it.
struct HeadSplit {
  int32_t cls = -1;
  int64_t parts = 1;
  bool exact = false;
};

/// Where part p of attn.split_heads' `parts` over `heads` heads starts,
/// floor(p heads / parts), and how many heads each part has,
/// ceil(heads / parts) (AttnRouteOps.td): the reference's copies and the
/// runtime's head views (HeadViews.cpp) both place parts by these.
inline int64_t splitPartFirstHead(int64_t p, int64_t heads, int64_t parts) {
  return p * heads / parts;
}
inline int64_t splitPartHeads(int64_t heads, int64_t parts) {
  return (heads + parts - 1) / parts;
}

/// A runtime block list: the inputs holding kv_indices and kv_counts, the
/// list's block sizes, and the classes of M, Hq, Hkv and of the list's head
/// dimension (which must be 1, Hq or Hkv).
struct BlockListABI {
  int32_t indices = -1, counts = -1;
  int64_t blockQ = 0, blockK = 0;
  int32_t mClass = -1, hqClass = -1, hkvClass = -1, headsClass = -1;
};

/// One kernel launch of a program on the GPU, in program order. `args`
/// bind the kernel's memref arguments to the entry's buffers: "i<k>" input
/// k, "o<k>" output k, "w<k>" workspace buffer k. A kernel with `gridArg`
/// >= 0 runs `lanes` threads per element of the first `gridDims` dimensions
/// of argument `gridArg`, `threads` per block; `gridArg` = -1 is the
/// attention kernel, whose launch contract the bundle's features give.
/// With a tile (`tileRows` x `tileCols` > 1 x 1), the last two of those
/// dimensions count in tiles (ceil(rows / tileRows) x ceil(cols /
/// tileCols)): a kernel that runs one block of `lanes` threads per tile of
/// a matrix (the tiled block scores).
/// A step binding parsed: `kind` 'i', 'o' or 'w' and the buffer's index.
struct Binding {
  char kind = 0;
  size_t index = 0;
  /// "i0", "o12", "w3" (canonical spelling only); false otherwise.
  static bool parse(const std::string &text, Binding &out);
};

/// A step that copies a part of a tensor's heads (attn.split_heads: parent
/// args[0], part args[1]) or puts a part back (attn.join_heads: part args[0],
/// parent args[1]): part `part` of `parts` along dimension `dim`. When the
/// part is one contiguous run of its parent's memory at the call's shapes
/// (every dimension before `dim` is 1, as with B = 1), the runtime makes the
/// part's workspace buffer that run and skips the copy. Bundle: "view
/// split|join DIM PART PARTS".
struct HeadView {
  bool join = false;
  int32_t dim = -1;
  int64_t part = 0, parts = 0;
  bool valid() const { return dim >= 0; }
};

struct KernelStep {
  std::string kernel;
  std::vector<std::string> args;
  int32_t gridArg = -1, gridDims = 0;
  int64_t threads = 0, lanes = 1;
  int64_t tileRows = 1, tileCols = 1;
  /// Dynamic shared memory per block, in bytes (0: none).
  int64_t sharedBytes = 0;
  /// Launched only when its blocks are at least smBlocksMin x the GPU's SM
  /// count (0: no lower bound) and below smBlocksMax x that count (0: no
  /// upper bound): two forms of one step, the one that fills the GPU.
  int64_t smBlocksMin = 0, smBlocksMax = 0;
  /// The bounds count blocks per `smBlocksPer` SMs (1: per SM; 2: a bound
  /// of 1 is half the SMs). Bundle: "sm-blocks MIN MAX per K" when K > 1.
  int64_t smBlocksPer = 1;
  /// Launched only when the step before it was (the second kernel of a
  /// form that the step before chose by its grid). Bundle: "after-previous".
  bool afterPrevious = false;
  HeadView view = {};
  /// The number of work items of a launch whose grid argument has
  /// `shape` (lanes x the grid's elements, in tiles where tiled).
  int64_t items(const std::vector<int64_t> &shape) const;
};

/// Where an output dimension's size comes from, for shape functions that
/// run on symbolic sizes (torch's fake tensors): `size` when static (>= 0),
/// else ceil(input `input`'s dimension `inputDim` / `divisor`).
struct DimSource {
  int64_t size = -1;
  int32_t input = -1, inputDim = -1;
  int64_t divisor = 1;
};

struct EntryABI {
  std::string name;
  std::vector<ABIArg> inputs, outputs;
  /// The values a program computes and does not return (pooled keys,
  /// scores, a selected block list), in program order: buffers the runtime
  /// owns, sized like outputs.
  std::vector<ABIArg> workspace;
  /// The GPU's kernel launches (CUDA bundles of programs); empty: one
  /// attention kernel on the inputs then the outputs.
  std::vector<KernelStep> steps;
  /// Per class: its static size, or -1 when dynamic.
  std::vector<int64_t> classSize;
  /// Per class: a human name for messages ("N", "Hkv", ...).
  std::vector<std::string> className;
  /// (a, b): the size of class a must be a multiple of class b's (GQA).
  std::vector<std::pair<int32_t, int32_t>> multipleOf;
  std::vector<DerivedClass> derived;
  std::vector<BlockListABI> blockLists;
  /// (input, class of M): an input of positions along a dimension of
  /// length M (attn.gather's rows), checked to lie in [0, M).
  std::vector<std::pair<int32_t, int32_t>> rowRanges;
  std::vector<HeadSplit> headSplits;
  /// The entry's op graph for the float64 reference (RefProgram's text form,
  /// attnir/Reference/Program.h); empty in bundles written before it.
  std::string program;

  /// The size of class `cls` as the first input dimension of that class
  /// has it in `shapes`, or -1 when no input carries it.
  int64_t classValue(int32_t cls,
                     const std::vector<std::vector<int64_t>> &shapes) const;
  /// Where output `output`'s dimension `dim` comes from; false when no input
  /// determines it (or no such dimension).
  bool outputDimSource(size_t output, size_t dim, DimSource &src) const;
  /// The input with role `role`, or -1.
  int32_t inputWithRole(const std::string &role) const;

  /// Checks input shapes against the entry and computes the output shapes.
  /// On failure `error` names the argument and dimension.
  bool resolve(const std::vector<std::vector<int64_t>> &inputShapes,
               std::vector<std::vector<int64_t>> &outputShapes,
               std::string &error) const;

  /// The class values these input shapes give (static sizes, then the
  /// inputs' dims, then derived classes), checked as resolve() says.
  bool classValues(const std::vector<std::vector<int64_t>> &inputShapes,
                   std::vector<int64_t> &value, std::string &error) const;
  /// The buffer a step binding names ("i0", "o1", "w2"), or null.
  const ABIArg *bufferOf(const std::string &binding) const;

  /// The shapes of the workspace buffers for these (checked) input shapes.
  bool resolveWorkspace(const std::vector<std::vector<int64_t>> &inputShapes,
                        std::vector<std::vector<int64_t>> &shapes,
                        std::string &error) const;

  /// Checks the number and dtypes of the inputs, then resolve().
  bool check(const std::vector<DType> &dtypes,
             const std::vector<std::vector<int64_t>> &inputShapes,
             std::vector<std::vector<int64_t>> &outputShapes,
             std::string &error) const;

  /// Checks the contents of index operands (host memory, contiguous
  /// row-major `data` per input, shapes already checked by resolve()):
  /// block lists (counts in [0, K], the first `count` ids of each list in
  /// [0, ceil(M / block_k))) and document ids (non-decreasing along each
  /// row). The CPU runs it before each call; on the GPU the kernel skips bad
  /// list entries instead (no read out of bounds) and assumes the order.
  bool checkIndexOperands(const std::vector<const void *> &data,
                          const std::vector<std::vector<int64_t>> &shapes,
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
