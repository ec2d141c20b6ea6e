//===- CAPIHeads.cpp - attnir_head_attention: the all-to-all head schedule ===//
//
// The C form of attnir.distributed.head_attention (python/attnir/
// distributed/_heads.py): one all-to-all turns each rank's sequence shards
// [B, H, n_r, X] into the whole sequence of its H / P heads, the entry runs
// there through attnir_run, and one all-to-all per output returns this
// rank's rows of every head. The transport is the caller's
// (attnir_comm_t::alltoall).
//
//===----------------------------------------------------------------------===//

#include "SequenceLayout.h"

using namespace attnir::capi;

namespace {

struct Heads {
  const attnir_comm_t *comm;
  int64_t seqLen;
  bool zigzag;
  int64_t world() const { return comm->size; }

  bool exchange(std::vector<Block> &sends, std::vector<Block> &recvs) {
    std::vector<const void *> s;
    std::vector<void *> r;
    std::vector<size_t> sb, rb;
    for (Block &b : sends)
      s.push_back(b.data.data()), sb.push_back(b.data.size());
    for (Block &b : recvs)
      r.push_back(b.data.data()), rb.push_back(b.data.size());
    if (comm->alltoall(comm->ctx, s.data(), sb.data(), r.data(), rb.data()) != 0) {
      setError("attnir_head_attention: the transport's alltoall() failed");
      return false;
    }
    return true;
  }

  /// This rank's shard of x (heads all, rows n_r) -> the whole sequence of
  /// heads [rank * Hg, (rank + 1) * Hg).
  bool gather(const attnir_tensor_t &x, Block &full) {
    int64_t P = world(), Hg = x.shape[1] / P, X = x.rank == 4 ? x.shape[3] : -1;
    int64_t B = x.shape[0], n = x.shape[2];
    std::vector<Block> sends, recvs;
    for (int64_t g = 0; g < P; ++g) {
      sends.push_back(Block::make(x.dtype, B, Hg, n, X));
      copyBox(x, sends.back(), g * Hg, 0, /*into=*/false);
    }
    for (int64_t s = 0; s < P; ++s) {
      int64_t len = 0;
      for (const Chunk &c : rankChunks(seqLen, s, P, zigzag))
        len += c.len();
      recvs.push_back(Block::make(x.dtype, B, Hg, len, X));
    }
    if (!exchange(sends, recvs))
      return false;
    full = Block::make(x.dtype, B, Hg, seqLen, X);
    attnir_tensor_t whole = full.view();
    for (int64_t s = 0; s < P; ++s)
      for (const Chunk &c : rankChunks(seqLen, s, P, zigzag))
        copyRegion(recvs[s].view(), 0, c.at, whole, 0, c.start, Hg, c.len());
    return true;
  }

  /// The whole sequence of this rank's heads -> this rank's rows of every
  /// head, written into `out` [B, H, n_r, X].
  bool scatter(Block &full, const attnir_tensor_t &out) {
    int64_t P = world(), Hg = full.shape[1], B = full.shape[0], X = full.rank == 4 ? full.shape[3] : -1;
    attnir_tensor_t whole = full.view();
    std::vector<Block> sends, recvs;
    for (int64_t s = 0; s < P; ++s) {
      std::vector<Chunk> theirs = rankChunks(seqLen, s, P, zigzag);
      int64_t len = 0;
      for (const Chunk &c : theirs)
        len += c.len();
      sends.push_back(Block::make(full.dtype, B, Hg, len, X));
      attnir_tensor_t dst = sends.back().view();
      for (const Chunk &c : theirs)
        copyRegion(whole, 0, c.start, dst, 0, c.at, Hg, c.len());
    }
    for (int64_t g = 0; g < P; ++g)
      recvs.push_back(Block::make(full.dtype, B, Hg, out.shape[2], X));
    if (!exchange(sends, recvs))
      return false;
    for (int64_t g = 0; g < P; ++g)
      copyBox(out, recvs[g], g * Hg, 0, /*into=*/true);
    return true;
  }
};

/// The shards this rank holds: q, k, v and every output contiguous, each
/// of the rank's n positions and a multiple of P heads.
bool checkHeadArgs(const attnir_comm_t *comm, int64_t seqLen, bool zigzag,
                   const attnir_tensor_t *inputs, const attnir_tensor_t *outputs,
                   int32_t numOutputs) {
  const char *fn = "attnir_head_attention";
  int64_t P = comm->size;
  for (int i = 0; i < 3; ++i)
    if (!contiguous(&inputs[i], 4, i == 0 ? "q" : i == 1 ? "k" : "v", fn))
      return false;
  int64_t n = 0;
  for (const Chunk &c : rankChunks(seqLen, comm->rank, P, zigzag))
    n += c.len();
  for (int i = 0; i < 3; ++i)
    if (inputs[i].shape[2] != n || inputs[i].shape[1] % P != 0) {
      setError(std::string(fn) + ": input #" + std::to_string(i) + " must hold " +
               std::to_string(n) + " positions on rank " + std::to_string(comm->rank) +
               " and a multiple of " + std::to_string(P) + " heads");
      return false;
    }
  for (int32_t i = 0; i < numOutputs; ++i)
    if (!contiguous(&outputs[i], outputs[i].rank, "an output", fn) || outputs[i].rank < 3 ||
        outputs[i].shape[2] != n || outputs[i].shape[1] % P != 0) {
      setError(std::string(fn) + ": output #" + std::to_string(i) + " must be [B, H, " +
               std::to_string(n) + ", ...], contiguous");
      return false;
    }
  return true;
}

/// The entry's outputs over the whole sequence of this rank's heads
/// (`in`: the gathered inputs), each checked against the caller's shard of
/// it (`outputs`: this rank's rows of every head).
bool wholeOutputs(const attnir_kernel_t *kernel, int32_t entry, int64_t P, int64_t seqLen,
                  const std::vector<attnir_tensor_t> &in, const attnir_tensor_t *outputs,
                  int32_t numOutputs, std::vector<Block> &res) {
  const char *fn = "attnir_head_attention";
  std::vector<int64_t> shapes(static_cast<size_t>(numOutputs) * 8);
  if (attnir_output_shapes(kernel, entry, in.data(), static_cast<int32_t>(in.size()),
                           shapes.data(), static_cast<int32_t>(shapes.size())) != 0)
    return false;
  size_t at = 0;
  for (int32_t i = 0; i < numOutputs; ++i) {
    const char *name = nullptr;
    attnir_dtype_t dtype;
    int32_t rank = 0;
    const int64_t *staticShape = nullptr;
    if (attnir_arg_info(kernel, entry, 1, i, &name, &dtype, &rank, &staticShape) != 0)
      return false;
    int64_t X = rank == 4 ? shapes[at + 3] : -1;
    if (rank < 3 || rank > 4 || rank != outputs[i].rank || shapes[at + 2] != seqLen) {
      setError(std::string(fn) + ": output #" + std::to_string(i) +
               " is not [B, H, N] or [B, H, N, X] over the whole sequence");
      return false;
    }
    const attnir_tensor_t &o = outputs[i];
    if (o.dtype != dtype || o.shape[0] != shapes[at] || o.shape[1] != shapes[at + 1] * P ||
        (rank == 4 && o.shape[3] != X)) {
      setError(std::string(fn) + ": output #" + std::to_string(i) +
               " must be this rank's rows of the entry's output, of its type");
      return false;
    }
    res.push_back(Block::make(dtype, shapes[at], shapes[at + 1], seqLen, X));
    at += static_cast<size_t>(rank);
  }
  return true;
}

} // namespace

extern "C" int attnir_head_attention(const attnir_kernel_t *kernel, int32_t entry,
                                     const attnir_comm_t *comm, int64_t seqLen,
                                     int32_t zigzag, const attnir_tensor_t *inputs,
                                     int32_t numInputs, const attnir_tensor_t *outputs,
                                     int32_t numOutputs) {
  if (!kernel || !comm || !comm->alltoall || comm->size < 1 || comm->rank < 0 ||
      comm->rank >= comm->size || !inputs || numInputs < 3 || !outputs || numOutputs < 1) {
    setError("attnir_head_attention: null kernel, a communicator without alltoall, or "
             "fewer than q, k, v and one output");
    return 1;
  }
  if (!checkHeadArgs(comm, seqLen, zigzag != 0, inputs, outputs, numOutputs))
    return 1;
  Heads heads{comm, seqLen, zigzag != 0};
  std::vector<Block> full(3);
  for (int i = 0; i < 3; ++i)
    if (!heads.gather(inputs[i], full[i]))
      return 1;
  std::vector<attnir_tensor_t> in;
  for (Block &b : full)
    in.push_back(b.view());
  for (int32_t i = 3; i < numInputs; ++i)
    in.push_back(inputs[i]);
  std::vector<Block> res;
  if (!wholeOutputs(kernel, entry, comm->size, seqLen, in, outputs, numOutputs, res))
    return 1;
  std::vector<attnir_tensor_t> outs;
  for (Block &b : res)
    outs.push_back(b.view());
  if (attnir_run(kernel, entry, in.data(), numInputs, outs.data(), numOutputs) != 0)
    return 1;
  for (int32_t i = 0; i < numOutputs; ++i)
    if (!heads.scatter(res[i], outputs[i]))
      return 1;
  return 0;
}
