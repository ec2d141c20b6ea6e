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

#include "SequenceLayout.h"

namespace {

using namespace attnir::capi;

struct Ring {
  const attnir_kernel_t *kernel;
  int32_t dense, causal, merge;
  bool run(int32_t entry, std::vector<attnir_tensor_t> in, Block &o, Block &l) {
    attnir_tensor_t outs[2] = {o.view(), l.view()};
    return attnir_run(kernel, entry, in.data(), static_cast<int32_t>(in.size()), outs, 2) == 0;
  }
};

/// The arguments' checks; on success `r` holds the ring kernel's entries.
bool checkRingArgs(const attnir_kernel_t *ring, const attnir_comm_t *comm, int64_t seqLen,
                   int64_t n, const attnir_tensor_t *q, const attnir_tensor_t *k,
                   const attnir_tensor_t *v, const attnir_tensor_t *out,
                   const attnir_tensor_t *lse, Ring &r) {
  r = Ring{ring, attnir_entry_index(ring, "dense"), attnir_entry_index(ring, "causal"),
           attnir_entry_index(ring, "merge")};
  if (r.dense < 0 || r.causal < 0 || r.merge < 0) {
    setError("attnir_ring_attention: the kernel needs the entries dense, causal and merge "
             "(attnir.distributed.ring_spec)");
    return false;
  }
  if (!contiguous(q, 4, "q") || !contiguous(k, 4, "k") || !contiguous(v, 4, "v") ||
      !contiguous(out, 4, "out") || (lse && lse->data && !contiguous(lse, 3, "lse")))
    return false;
  if (seqLen < 0 || q->shape[2] != n || k->shape[2] != n || v->shape[2] != n ||
      out->shape[2] != n) {
    setError("attnir_ring_attention: rank " + std::to_string(comm->rank) + " holds " +
             std::to_string(q->shape[2]) + " positions; the layout of " +
             std::to_string(seqLen) + " over " + std::to_string(comm->size) +
             " ranks gives it " + std::to_string(n));
    return false;
  }
  int64_t B = q->shape[0], H = q->shape[1], Dv = v->shape[3];
  bool lseOk = !lse || !lse->data ||
               (lse->dtype == ATTNIR_F32 && lse->shape[0] == B && lse->shape[1] == H &&
                lse->shape[2] == n);
  if (out->dtype != v->dtype || k->dtype != v->dtype || out->shape[0] != B ||
      out->shape[1] != H || out->shape[3] != Dv || !lseOk) {
    setError("attnir_ring_attention: out must be [B, H, n, Dv] of v's type and lse "
             "[B, H, n] f32 (k and v of one type)");
    return false;
  }
  return true;
}

/// One exchange in flight: this rank's K/V chunks sent on, the next
/// owner's arriving.
struct Exchange {
  std::vector<char> sendPack, recvPack;
  std::vector<Chunk> next;
  void *request = nullptr;
};

/// One rank's walk around the ring: its query chunks, the K/V chunks in
/// hand (k chunks, then v chunks) and each query chunk's partial result.
struct RingWalk {
  Ring r;
  const attnir_comm_t *comm;
  int64_t seqLen, P, me;
  bool causal, zigzag;
  attnir_dtype_t outType, kvType;
  int64_t B, H, Hkv, D, Dv;
  std::vector<Chunk> mine;
  std::vector<Block> qc, kv, accO, accL;
  std::vector<bool> have;

  RingWalk(const Ring &ring, const attnir_comm_t *comm, int64_t seqLen, bool causal,
           bool zigzag, const attnir_tensor_t *q, const attnir_tensor_t *k,
           const attnir_tensor_t *v);
  std::vector<Chunk> chunksOf(int64_t rank) const {
    return rankChunks(seqLen, ((rank % P) + P) % P, P, zigzag);
  }
  bool start(int64_t owner, Exchange &x);
  bool computeAgainst(const std::vector<Chunk> &theirs);
  bool finish(Exchange &x);
};

// Cuts this rank's chunks out of q, k and v.
RingWalk::RingWalk(const Ring &ring, const attnir_comm_t *comm, int64_t seqLen, bool causal,
                   bool zigzag, const attnir_tensor_t *q, const attnir_tensor_t *k,
                   const attnir_tensor_t *v)
    : r(ring), comm(comm), seqLen(seqLen), P(comm->size), me(comm->rank), causal(causal),
      zigzag(zigzag), outType(v->dtype), kvType(k->dtype), B(q->shape[0]), H(q->shape[1]),
      Hkv(k->shape[1]), D(q->shape[3]), Dv(v->shape[3]), mine(chunksOf(me)),
      accO(mine.size()), accL(mine.size()), have(mine.size(), false) {
  auto cut = [&](const attnir_tensor_t &x, const Chunk &c) {
    Block blk = Block::make(x.dtype, x.shape[0], x.shape[1], c.len(), x.shape[3]);
    copyRows(x, blk, c.at, /*into=*/false);
    return blk;
  };
  for (const Chunk &c : mine)
    qc.push_back(cut(*q, c));
  for (const attnir_tensor_t *x : {k, v})
    for (const Chunk &c : mine)
      kv.push_back(cut(*x, c));
}

// Posts the exchange before the step's kernels, so the next owner's chunks
// travel while these are computed.
bool RingWalk::start(int64_t owner, Exchange &x) {
  for (Block &blk : kv)
    x.sendPack.insert(x.sendPack.end(), blk.data.begin(), blk.data.end());
  x.next = chunksOf(owner - 1);
  size_t bytes = 0;
  for (const Chunk &c : x.next)
    bytes += static_cast<size_t>(B * Hkv * c.len()) * (D + Dv) * elementSize(kvType);
  x.recvPack.resize(bytes);
  if (comm->start(comm->ctx, x.sendPack.data(), x.sendPack.size(),
                  static_cast<int32_t>((me + 1) % P), x.recvPack.data(), x.recvPack.size(),
                  static_cast<int32_t>((me - 1 + P) % P), &x.request) != 0) {
    setError("attnir_ring_attention: the transport's start() failed");
    return false;
  }
  return true;
}

// Every (query chunk, key chunk) pair the mask keeps, merged into the
// query chunk's partial result.
bool RingWalk::computeAgainst(const std::vector<Chunk> &theirs) {
  size_t nc = theirs.size();
  for (size_t ai = 0; ai < mine.size(); ++ai)
    for (size_t bi = 0; bi < nc; ++bi) {
      const Chunk &a = mine[ai], &b = theirs[bi];
      if (a.len() == 0 || b.len() == 0 || (causal && a.id < b.id))
        continue;
      int32_t entry = causal && a.id == b.id ? r.causal : r.dense;
      Block o = Block::make(outType, B, H, a.len(), Dv);
      Block l = Block::make(ATTNIR_F32, B, H, a.len(), -1);
      if (!r.run(entry, {qc[ai].view(), kv[bi].view(), kv[nc + bi].view()}, o, l))
        return false;
      if (have[ai]) {
        Block mo = Block::make(outType, B, H, a.len(), Dv);
        Block ml = Block::make(ATTNIR_F32, B, H, a.len(), -1);
        if (!r.run(r.merge, {accO[ai].view(), accL[ai].view(), o.view(), l.view()}, mo, ml))
          return false;
        o = std::move(mo), l = std::move(ml);
      }
      accO[ai] = std::move(o), accL[ai] = std::move(l);
      have[ai] = true;
    }
  return true;
}

// Waits for the exchange and unpacks the next owner's k chunks, then its
// v chunks.
bool RingWalk::finish(Exchange &x) {
  if (comm->wait(comm->ctx, x.request) != 0) {
    setError("attnir_ring_attention: the transport's wait() failed");
    return false;
  }
  kv.clear();
  size_t at = 0;
  for (int64_t width : {D, Dv})
    for (const Chunk &c : x.next) {
      Block blk = Block::make(kvType, B, Hkv, c.len(), width);
      std::memcpy(blk.data.data(), x.recvPack.data() + at, blk.data.size());
      at += blk.data.size();
      kv.push_back(std::move(blk));
    }
  return true;
}

} // namespace

extern "C" int attnir_ring_attention(const attnir_kernel_t *ring, const attnir_comm_t *comm,
                                     int64_t seqLen, int32_t causal, int32_t zigzag,
                                     const attnir_tensor_t *q, const attnir_tensor_t *k,
                                     const attnir_tensor_t *v, const attnir_tensor_t *out,
                                     const attnir_tensor_t *lse) {
  if (!ring || !comm || !comm->start || !comm->wait || comm->size < 1 || comm->rank < 0 ||
      comm->rank >= comm->size) {
    setError("attnir_ring_attention: null kernel or an invalid communicator");
    return 1;
  }
  std::vector<Chunk> mine = rankChunks(seqLen, comm->rank, comm->size, zigzag != 0);
  int64_t n = 0;
  for (const Chunk &c : mine)
    n += c.len();
  Ring r;
  if (!checkRingArgs(ring, comm, seqLen, n, q, k, v, out, lse, r))
    return 1;
  RingWalk w(r, comm, seqLen, causal != 0, zigzag != 0, q, k, v);
  for (int64_t step = 0; step < w.P; ++step) {
    int64_t owner = w.me - step;
    Exchange x;
    bool last = step + 1 == w.P;
    if ((!last && !w.start(owner, x)) || !w.computeAgainst(w.chunksOf(owner)) ||
        (!last && !w.finish(x)))
      return 1;
  }
  for (size_t ai = 0; ai < w.mine.size(); ++ai) {
    if (!w.have[ai])
      continue; // an empty chunk
    copyRows(*out, w.accO[ai], w.mine[ai].at, /*into=*/true);
    if (lse && lse->data)
      copyRows(*lse, w.accL[ai], w.mine[ai].at, /*into=*/true);
  }
  return 0;
}
