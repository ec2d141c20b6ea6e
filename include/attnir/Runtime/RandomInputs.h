//===- RandomInputs.h - seeded inputs for an entry, by role -----*- C++ -*-===//
//
// What `attnc run` feeds an entry when no .npy is given: N(0, 1) data for
// float arguments, and for index arguments values that are valid for their
// role (a block list's ids inside [0, ceil(M / block_k)), counts within K).
// Plain C++ (no MLIR), so the runtime-only build has it too.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_RUNTIME_RANDOMINPUTS_H
#define ATTNIR_RUNTIME_RANDOMINPUTS_H

#include "attnir/Runtime/EntryABI.h"

namespace attnir {

/// Fills a block list: for each query block, each key block of
/// [0, numKeyBlocks) is listed with probability `density`, in a random
/// order, sometimes twice (duplicates count once); slots past the count
/// hold -1, which a correct kernel never reads.
void fillRandomBlockList(HostTensor &indices, HostTensor &counts,
                         int64_t numKeyBlocks, double density, uint64_t seed);

/// One tensor per input of `abi` with the given shapes: floats N(0, 1),
/// block lists of about `blockDensity` of the blocks, packed document ids.
std::vector<HostTensor>
makeRandomInputs(const EntryABI &abi,
                 const std::vector<std::vector<int64_t>> &shapes,
                 uint64_t seed, double blockDensity = 0.5);

} // namespace attnir

#endif // ATTNIR_RUNTIME_RANDOMINPUTS_H
