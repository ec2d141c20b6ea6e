//===- CAPIRing.cpp - attnir_ring_attention over the caller's transport ----===//
//
// The C form of attnir.distributed.ring_attention (python/attnir/
// distributed/_ring.py), the same schedule and layouts: step s computes
// against the K/V chunks of rank (r - s) mod P while the next step's chunks
// travel (one exchange of the packed chunks, posted before the kernels);
// each (query chunk a, key chunk b) pair runs `causal` (a == b under a
// causal mask), `dense` (a > b, or no mask) or nothing, and the partial
// results merge by the kernel's `merge` entry (attn.merge). Everything a
// device computes is the ring kernel's; this file only orders the calls.
// Host (CPU) kernels; block lists are the Python form's (not here yet).
//
//===----------------------------------------------------------------------===//

#include "KernelHandle.h"
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Chunk {
  int64_t id, start, stop, at; // global [start, stop), local offset `at`
  int64_t len() const { return stop - start; }
};

/// The chunks of [0, n), as attnir.distributed.chunk_bounds (granule 1).
std::vector<std::pair<int64_t, int64_t>> chunkBounds(int64_t n, int64_t world, bool zigzag) {
  int64_t c = zigzag ? 2 * world : world, base = n / c, extra = n % c, start = 0;
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t i = 0; i < c; ++i) {
    int64_t stop = start + base + (i < extra ? 1 : 0);
    out.push_back({start, stop});
    start = stop;
  }
  return out;
}

std::vector<Chunk> rankChunks(int64_t n, int64_t rank, int64_t world, bool zigzag) {
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

size_t elementSize(attnir_dtype_t t) {
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

/// Rows [at, at + len) of dim 2 of `x` ([B, H, N, X] or [B, H, N]) copied
/// to or from a Block (`into`: x <- blk).
void copyRows(const attnir_tensor_t &x, Block &blk, int64_t at, bool into) {
  size_t es = elementSize(x.dtype);
  int64_t B = x.shape[0], H = x.shape[1], N = x.shape[2];
  int64_t row = x.rank == 4 ? x.shape[3] : 1, len = blk.shape[2];
  size_t span = static_cast<size_t>(len * row) * es;
  for (int64_t bh = 0; bh < B * H; ++bh) {
    char *xs = static_cast<char *>(x.data) + static_cast<size_t>((bh * N + at) * row) * es;
    char *bs = blk.data.data() + static_cast<size_t>(bh * len * row) * es;
    if (into)
      std::memcpy(xs, bs, span);
    else
      std::memcpy(bs, xs, span);
  }
}

bool contiguous(const attnir_tensor_t *t, int32_t rank, const char *name) {
  using attnir::capi::setError;
  if (!t || !t->data || !t->shape || t->rank != rank) {
    setError(std::string("attnir_ring_attention: ") + name + " must be a tensor of rank " +
             std::to_string(rank));
    return false;
  }
  if (t->strides) {
    int64_t expect = 1;
    for (int32_t d = rank - 1; d >= 0; --d) {
      if (t->shape[d] > 1 && t->strides[d] != expect) {
        setError(std::string("attnir_ring_attention: ") + name + " must be contiguous");
        return false;
      }
      expect *= t->shape[d];
    }
  }
  return true;
}

struct Ring {
  const attnir_kernel_t *kernel;
  int32_t dense, causal, merge;
  bool run(int32_t entry, std::vector<attnir_tensor_t> in, Block &o, Block &l) {
    attnir_tensor_t outs[2] = {o.view(), l.view()};
    return attnir_run(kernel, entry, in.data(), static_cast<int32_t>(in.size()), outs, 2) == 0;
  }
};

} // namespace

extern "C" int attnir_ring_attention(const attnir_kernel_t *ring, const attnir_comm_t *comm,
                                     int64_t seqLen, int32_t causal, int32_t zigzag,
                                     const attnir_tensor_t *q, const attnir_tensor_t *k,
                                     const attnir_tensor_t *v, const attnir_tensor_t *out,
                                     const attnir_tensor_t *lse) {
  using attnir::capi::setError;
  if (!ring || !comm || !comm->start || !comm->wait || comm->size < 1 || comm->rank < 0 ||
      comm->rank >= comm->size) {
    setError("attnir_ring_attention: null kernel or an invalid communicator");
    return 1;
  }
  Ring r{ring, attnir_entry_index(ring, "dense"), attnir_entry_index(ring, "causal"),
         attnir_entry_index(ring, "merge")};
  if (r.dense < 0 || r.causal < 0 || r.merge < 0) {
    setError("attnir_ring_attention: the kernel needs the entries dense, causal and merge "
             "(attnir.distributed.ring_spec)");
    return 1;
  }
  if (!contiguous(q, 4, "q") || !contiguous(k, 4, "k") || !contiguous(v, 4, "v") ||
      !contiguous(out, 4, "out") || (lse && lse->data && !contiguous(lse, 3, "lse")))
    return 1;
  int64_t P = comm->size, me = comm->rank;
  std::vector<Chunk> mine = rankChunks(seqLen, me, P, zigzag != 0);
  int64_t n = 0;
  for (const Chunk &c : mine)
    n += c.len();
  if (seqLen < 0 || q->shape[2] != n || k->shape[2] != n || v->shape[2] != n ||
      out->shape[2] != n) {
    setError("attnir_ring_attention: rank " + std::to_string(me) + " holds " +
             std::to_string(q->shape[2]) + " positions; the layout of " +
             std::to_string(seqLen) + " over " + std::to_string(P) + " ranks gives it " +
             std::to_string(n));
    return 1;
  }
  int64_t B = q->shape[0], H = q->shape[1], D = q->shape[3], Hkv = k->shape[1],
          Dv = v->shape[3];
  bool lseOk = !lse || !lse->data ||
               (lse->dtype == ATTNIR_F32 && lse->shape[0] == B && lse->shape[1] == H &&
                lse->shape[2] == n);
  if (out->dtype != v->dtype || k->dtype != v->dtype || out->shape[0] != B ||
      out->shape[1] != H || out->shape[3] != Dv || !lseOk) {
    setError("attnir_ring_attention: out must be [B, H, n, Dv] of v's type and lse "
             "[B, H, n] f32 (k and v of one type)");
    return 1;
  }
  auto cut = [&](const attnir_tensor_t &x, const Chunk &c) {
    Block blk = Block::make(x.dtype, x.shape[0], x.shape[1], c.len(), x.shape[3]);
    copyRows(x, blk, c.at, /*into=*/false);
    return blk;
  };
  std::vector<Block> qc, kv; // kv: k chunks, then v chunks
  for (const Chunk &c : mine)
    qc.push_back(cut(*q, c));
  for (const attnir_tensor_t *x : {k, v})
    for (const Chunk &c : mine)
      kv.push_back(cut(*x, c));
  std::vector<Block> accO(mine.size()), accL(mine.size());
  std::vector<bool> have(mine.size(), false);
  for (int64_t step = 0; step < P; ++step) {
    int64_t owner = ((me - step) % P + P) % P;
    std::vector<Chunk> theirs = rankChunks(seqLen, owner, P, zigzag != 0);
    // The next owner's chunks travel while these are computed.
    std::vector<char> sendPack, recvPack;
    std::vector<Chunk> next;
    void *request = nullptr;
    if (step + 1 < P) {
      for (Block &blk : kv)
        sendPack.insert(sendPack.end(), blk.data.begin(), blk.data.end());
      next = rankChunks(seqLen, ((owner - 1) % P + P) % P, P, zigzag != 0);
      size_t bytes = 0;
      for (const Chunk &c : next)
        bytes += static_cast<size_t>(B * Hkv * c.len()) * (D + Dv) * elementSize(k->dtype);
      recvPack.resize(bytes);
      if (comm->start(comm->ctx, sendPack.data(), sendPack.size(),
                      static_cast<int32_t>((me + 1) % P), recvPack.data(), recvPack.size(),
                      static_cast<int32_t>((me - 1 + P) % P), &request) != 0) {
        setError("attnir_ring_attention: the transport's start() failed");
        return 1;
      }
    }
    size_t nc = theirs.size();
    for (size_t ai = 0; ai < mine.size(); ++ai)
      for (size_t bi = 0; bi < nc; ++bi) {
        const Chunk &a = mine[ai], &b = theirs[bi];
        if (a.len() == 0 || b.len() == 0 || (causal && a.id < b.id))
          continue;
        int32_t entry = causal && a.id == b.id ? r.causal : r.dense;
        Block o = Block::make(v->dtype, B, H, a.len(), Dv);
        Block l = Block::make(ATTNIR_F32, B, H, a.len(), -1);
        if (!r.run(entry, {qc[ai].view(), kv[bi].view(), kv[nc + bi].view()}, o, l))
          return 1;
        if (have[ai]) {
          Block mo = Block::make(v->dtype, B, H, a.len(), Dv);
          Block ml = Block::make(ATTNIR_F32, B, H, a.len(), -1);
          if (!r.run(r.merge, {accO[ai].view(), accL[ai].view(), o.view(), l.view()}, mo, ml))
            return 1;
          o = std::move(mo), l = std::move(ml);
        }
        accO[ai] = std::move(o), accL[ai] = std::move(l);
        have[ai] = true;
      }
    if (step + 1 < P) {
      if (comm->wait(comm->ctx, request) != 0) {
        setError("attnir_ring_attention: the transport's wait() failed");
        return 1;
      }
      // Unpack: k chunks, then v chunks, of the next owner.
      kv.clear();
      size_t at = 0;
      for (int64_t x : {D, Dv})
        for (const Chunk &c : next) {
          Block blk = Block::make(k->dtype, B, Hkv, c.len(), x);
          std::memcpy(blk.data.data(), recvPack.data() + at, blk.data.size());
          at += blk.data.size();
          kv.push_back(std::move(blk));
        }
    }
  }
  for (size_t ai = 0; ai < mine.size(); ++ai) {
    if (!have[ai])
      continue; // an empty chunk
    copyRows(*out, accO[ai], mine[ai].at, /*into=*/true);
    if (lse && lse->data)
      copyRows(*lse, accL[ai], mine[ai].at, /*into=*/true);
  }
  return 0;
}
