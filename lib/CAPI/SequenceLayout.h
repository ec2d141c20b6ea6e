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

/// The box of heads [h0, h0 + blk heads) and rows [at, at + blk rows) of
/// `x` ([B, H, N, X] or [B, H, N], contiguous) copied to or from a Block
/// (`into`: x <- blk).
inline void copyBox(const attnir_tensor_t &x, Block &blk, int64_t h0, int64_t at,
                    bool into) {
  size_t es = elementSize(x.dtype);
  int64_t B = x.shape[0], H = x.shape[1], N = x.shape[2];
  int64_t row = x.rank == 4 ? x.shape[3] : 1, hs = blk.shape[1], len = blk.shape[2];
  size_t span = static_cast<size_t>(len * row) * es;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < hs; ++h) {
      int64_t xh = b * H + h0 + h, bh = b * hs + h;
      char *xs = static_cast<char *>(x.data) + static_cast<size_t>((xh * N + at) * row) * es;
      char *bs = blk.data.data() + static_cast<size_t>(bh * len * row) * es;
      if (into)
        std::memcpy(xs, bs, span);
      else
        std::memcpy(bs, xs, span);
    }
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
