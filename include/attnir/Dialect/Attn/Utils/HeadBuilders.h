//===- HeadBuilders.h - attn.split_heads / join_heads, one item -*- C++ -*-===//
//
// The bodies the CPU lowering (attn-lower-route) and the CUDA step kernels
// (HeadKernels.cpp) share: where a part's heads start, and one copied
// element (or vector) of a head.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_UTILS_HEADBUILDERS_H
#define ATTNIR_DIALECT_ATTN_UTILS_HEADBUILDERS_H

#include "mlir/IR/Builders.h"

namespace mlir::attn {

/// The first head of part `p` of `heads` (an index) in `parts`:
/// floor(p heads / parts) (AttnRouteOps.td).
Value splitHeadStart(OpBuilder &b, Location loc, Value heads, int64_t p, int64_t parts);

/// ceil(heads / parts): the heads of each part.
Value splitHeadCount(OpBuilder &b, Location loc, Value heads, int64_t parts);

/// Where part `p` of parts of `each` heads starts in attn.join_heads'
/// result: p each.
Value joinHeadStart(OpBuilder &b, Location loc, Value each, int64_t p);

/// dst[at, with dimension `dim` = dstHead] = src[at, with it = srcHead];
/// with `width` > 1 the `width` elements from at.back() on along the last
/// dimension, as one vector.
void buildHeadCopyAt(OpBuilder &b, Location loc, Value src, Value dst, ArrayRef<Value> at,
                     int64_t dim, Value srcHead, Value dstHead, int64_t width = 1);

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_UTILS_HEADBUILDERS_H
