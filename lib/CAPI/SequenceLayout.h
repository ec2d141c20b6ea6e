//===- SequenceLayout.h - the C API's sequence layouts and host blocks ----===//
//
// What attnir_ring_attention and attnir_head_attention share: where a
// rank's positions lie (attnir.distributed.chunk_bounds with granule 1),
// contiguous host blocks of [B, H, n, X] (or [B, H, n]) tensors, and row
// copies between them.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_LIB_CAPI_SEQUENCELAYOUT_H
#define ATTNIR_LIB_CAPI_SEQUENCELAYOUT_H

#include "KernelHandle.h"
#include <cstring>
#include <string>
#include <vector>

namespace attnir::capi {

struct Chunk {
  int64_t id, start, stop, at; // global [start, stop), local offset `at`
  int64_t len() const { return stop - start; }
};

/// The chunks of [0, n), as attnir.distributed.chunk_bounds (granule 1).
inline std::vector<std::pair<int64_t, int64_t>> chunkBounds(int64_t n, int64_t world, bool zigzag) {
  int64_t c = zigzag ? 2 * world : world, base = n / c, extra = n % c, start = 0;
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t i = 0; i < c; ++i) {
    int64_t stop = start + base + (i < extra ? 1 : 0);
    out.push_back({start, stop});
    start = stop;
  }
  return out;
}

inline std::vector<Chunk> rankChunks(int64_t n, int64_t rank, int64_t world, bool zigzag) {
  auto bounds = chunkBounds(n, world, zigzag);
  std::vector<int64_t> ids = {rank};
  if (zigzag)
    ids.push_back(2 * world - 1 - rank);
  std::vector<Chunk> out;
  int64_t at = 0;
  for (int64_t id : ids) {
    out.push_back({id, bounds[id].first, bounds[id].second, at});
    at += bounds[id].second - bounds[id].first;
  }
  return out;
}

inline size_t elementSize(attnir_dtype_t t) {
  return t == ATTNIR_F32 || t == ATTNIR_I32 ? 4 : t == ATTNIR_F64 || t == ATTNIR_I64 ? 8 : 2;
}

/// A contiguous tensor of rank 3 or 4 in a byte buffer.
struct Block {
  std::vector<char> data;
  int64_t shape[4] = {0, 0, 0, 0};
  int32_t rank = 4;
  attnir_dtype_t dtype = ATTNIR_F32;

  static Block make(attnir_dtype_t t, int64_t b, int64_t h, int64_t n, int64_t x) {
    Block blk;
    blk.dtype = t;
    blk.rank = x < 0 ? 3 : 4;
    blk.shape[0] = b, blk.shape[1] = h, blk.shape[2] = n, blk.shape[3] = x;
    blk.data.resize(static_cast<size_t>(b * h * n * (x < 0 ? 1 : x)) * elementSize(t));
    return blk;
  }
  attnir_tensor_t view() { return {data.data(), dtype, rank, shape, nullptr}; }
  int64_t row() const { return rank == 4 ? shape[3] : 1; } // elements per position
};

/// Heads [sh0, sh0 + heads) x rows [sAt, sAt + len) of `src` copied to
/// heads [dh0, ...) x rows [dAt, ...) of `dst`: both contiguous [B, H, N, X]
/// or [B, H, N] of one batch, row width and element type.
inline void copyRegion(const attnir_tensor_t &src, int64_t sh0, int64_t sAt,
                       const attnir_tensor_t &dst, int64_t dh0, int64_t dAt,
                       int64_t heads, int64_t len) {
  size_t es = elementSize(src.dtype);
  int64_t row = src.rank == 4 ? src.shape[3] : 1;
  size_t span = static_cast<size_t>(len * row) * es;
  for (int64_t b = 0; b < src.shape[0]; ++b)
    for (int64_t h = 0; h < heads; ++h) {
      int64_t sRow = (b * src.shape[1] + sh0 + h) * src.shape[2] + sAt;
      int64_t dRow = (b * dst.shape[1] + dh0 + h) * dst.shape[2] + dAt;
      std::memcpy(static_cast<char *>(dst.data) + static_cast<size_t>(dRow * row) * es,
                  static_cast<const char *>(src.data) + static_cast<size_t>(sRow * row) * es,
                  span);
    }
}

/// The box of heads [h0, h0 + blk heads) and rows [at, at + blk rows) of
/// `x` copied to or from all of a Block (`into`: x <- blk).
inline void copyBox(const attnir_tensor_t &x, Block &blk, int64_t h0, int64_t at,
                    bool into) {
  attnir_tensor_t b = blk.view();
  if (into)
    copyRegion(b, 0, 0, x, h0, at, blk.shape[1], blk.shape[2]);
  else
    copyRegion(x, h0, at, b, 0, 0, blk.shape[1], blk.shape[2]);
}

/// Rows [at, at + len) of every head.
inline void copyRows(const attnir_tensor_t &x, Block &blk, int64_t at, bool into) {
  copyBox(x, blk, 0, at, into);
}

inline bool contiguous(const attnir_tensor_t *t, int32_t rank, const char *name,
                       const char *fn = "attnir_ring_attention") {
  if (!t || !t->data || !t->shape || t->rank != rank) {
    setError(std::string(fn) + ": " + name + " must be a tensor of rank " +
             std::to_string(rank));
    return false;
  }
  if (t->strides) {
    int64_t expect = 1;
    for (int32_t d = rank - 1; d >= 0; --d) {
      if (t->shape[d] > 1 && t->strides[d] != expect) {
        setError(std::string(fn) + ": " + name + " must be contiguous");
        return false;
      }
      expect *= t->shape[d];
    }
  }
  return true;
}

} // namespace attnir::capi

#endif // ATTNIR_LIB_CAPI_SEQUENCELAYOUT_H
