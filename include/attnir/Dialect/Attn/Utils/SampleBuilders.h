//===- SampleBuilders.h - attn.sample and attn.gather, one item -*- C++ -*-===//
//
// The bodies the CPU lowering (attn-lower-route) and the CUDA step kernels
// (RouteKernels.cpp) share: one sampled row position, one gathered row.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_UTILS_SAMPLEBUILDERS_H
#define ATTNIR_DIALECT_ATTN_UTILS_SAMPLEBUILDERS_H

#include "mlir/IR/Builders.h"

namespace mlir::attn {

/// Word 0 of Philox4x32-10 under `key` (two i32 constants) for counter
/// c0..c3 (i32 values), as IR: attnir::philox4x32Word0 at run time.
Value buildPhiloxWord0(OpBuilder &b, Location loc, uint64_t key, Value c0, Value c1,
                       Value c2, Value c3);

/// attn.sample's counter word 3 from its `offset` buffer (a one-element
/// i32/i64 memref; null: no offset): 2 o + 1 as i32.
Value buildSampleStream(OpBuilder &b, Location loc, Value offset);

/// attn.sample's entry (bi, h, s) over [0, m) (indices; m an index) in
/// stream `stream` (buildSampleStream): floor(w m / 2^32) as i32
/// (AttnRouteOps.td; attnir::sampleRow).
Value buildSampleAt(OpBuilder &b, Location loc, uint64_t seed, Value stream, Value m, Value bi,
                    Value h, Value s);

/// attn.gather for one element: `at` = (b, h, s) of a 3-d x, (b, h, s, d)
/// of a 4-d x; with `width` > 1 the `width` features from d on as one
/// vector. A position outside [0, M) stores zeros (no read).
void buildGatherAt(OpBuilder &b, Location loc, Value x, Value rows, Value out,
                   ArrayRef<Value> at, int64_t width = 1);

/// attn.gather for row (bi, h, s): every feature of one row.
void buildGatherRow(OpBuilder &b, Location loc, Value x, Value rows, Value out, Value bi,
                    Value h, Value s);

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_UTILS_SAMPLEBUILDERS_H
