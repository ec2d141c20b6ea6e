//===- RouteBuilders.h - attn.route and attn.permute, one item --*- C++ -*-===//
//
// The per-token and per-row bodies of content routing, shared by the CPU
// lowering (attn-lower-route) and the GPU kernels, so every target forms
// the same float64 sums in the same order as the reference
// (lib/Reference/RouteReference.cpp) and buckets agree bit for bit.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_UTILS_ROUTEBUILDERS_H
#define ATTNIR_DIALECT_ATTN_UTILS_ROUTEBUILDERS_H

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {

/// What a route body reads: x [B, H, N, D] and centroids [H, C, D] (or
/// null), or the LSH sign words (a [D] i32 memref: bit k of word d is set
/// when R[d, k] = +1) and the number of bits.
struct RouteSite {
  Value x, centroids, signs;
  /// The head index into `centroids` (null: x's head): 0 where a kernel
  /// has staged one head's centroids (as f64) in shared memory.
  Value centroidHead;
  int64_t bits = 0;
  /// Byte alignment the rows of x and centroids may be loaded with (the
  /// GPU's 16-byte vector loads); 0: element alignment only (the CPU,
  /// whose inputs may be views at any element).
  int64_t rowAlign = 0;
};

/// The LSH sign words of `op` (static D, checked by its verifier) as a
/// constant memref<Dxi32> global named `name` at `b`'s insertion point (a
/// module or a gpu.module), computed here with the generator the op's
/// description specifies.
void declareRouteSigns(OpBuilder &b, Location loc, RouteOp op, StringRef name);
/// The type of that global.
MemRefType routeSignsType(RouteOp op);

/// The number of buckets: C, or 2^bits (index).
Value routeBuckets(OpBuilder &b, Location loc, const RouteSite &site);

/// Up to this many static centroids, a token's dots run in one pass over
/// its features (all C sums at once).
constexpr int64_t kFewCentroids = 32;

/// The reference's nearest centroid: the argmax over c in [0, C) of
/// `score(c)` (a float64 dot, built by the caller from wherever the
/// centroids live) in index order, the first candidate winning, then the
/// first strictly greater (ties to the lower c; a NaN never displaces).
/// Where `candidate(c)` (i1) is given, the others are neither scored nor
/// compared. Returns the winner's index.
Value buildReferenceArgmax(
    OpBuilder &b, Location loc, Value C,
    function_ref<Value(OpBuilder &, Location, Value)> score,
    function_ref<Value(OpBuilder &, Location, Value)> candidate = nullptr);

/// Token (bi, h, t)'s bucket as an index: the float64 dots in index order.
Value buildRouteBucketAt(OpBuilder &b, Location loc, const RouteSite &site,
                         Value bi, Value h, Value t);
/// The buckets of tokens `ts` of row (bi, h), the same as one
/// buildRouteBucketAt each; with few static centroids one pass serves them
/// all (each centroid piece loaded once for every token).
SmallVector<Value> buildRouteBucketsAt(OpBuilder &b, Location loc,
                                       const RouteSite &site, Value bi,
                                       Value h, ArrayRef<Value> ts);

/// Row (bi, h) of the stable order: `start` an index scratch of buckets + 1
/// entries; reads `bucket` [B, H, N], writes `perm` [B, H, N].
void buildRouteOrderRow(OpBuilder &b, Location loc, Value bucket, Value perm,
                        Value start, Value buckets, Value bi, Value h);

/// chunks(C) for row (bi, h): `perm` (the (bucket, position) order)
/// becomes the order by (chunk of the slot, position); `slot` an index
/// scratch of N entries, `start` one of C + 1.
void buildChunkOrderRow(OpBuilder &b, Location loc, Value perm, Value slot,
                        Value start, int64_t chunks, Value bi, Value h);

/// attn.permute for row (bi, h, s): every feature of one token (a loop
/// over D, or the one element of an lse).
void buildPermuteRow(OpBuilder &b, Location loc, bool inverse, Value x,
                     Value perm, Value out, Value bi, Value h, Value s);

/// attn.permute for one element: `at` = (b, h, s) of an lse, (b, h, s, d)
/// of a 4-d x (the gather's output element, the scatter's input element);
/// with `width` > 1, the `width` features from d on as one vector.
void buildPermuteAt(OpBuilder &b, Location loc, bool inverse, Value x,
                    Value perm, Value out, ArrayRef<Value> at,
                    int64_t width = 1);

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_UTILS_ROUTEBUILDERS_H
