"""Context parallelism: attention over a sequence split across processes or
GPUs, on existing engines (mpi4py between CPU processes; torch.distributed
with NCCL between GPUs, gloo between CPU processes).

    from mpi4py import MPI
    import attnir.distributed as ad
    comm = MPI.COMM_WORLD
    q_r = ad.shard(q, comm.rank, comm.size)            # zigzag by default
    out_r = ad.ring_attention(q_r, k_r, v_r, comm, seq_len=N, causal=True)

Two schedules (docs/design/context-parallel.md):
- ring_attention: K/V chunks travel around the ring, partial results are
  merged by attn.merge; the zigzag layout balances causal masks; dense,
  causal, block lists and causal block lists.
- head_attention: all-to-all over heads (Ulysses), then any compiled kernel
  on the whole sequence of the rank's heads: every mask and program.
- linear_attention: attn.linear by passing its state down the ranks (all
  ranks at once for decays and gates; in sequence for the delta rule).
"""
from ._comm import MPIComm, TorchComm
from ._heads import head_attention
from ._linear import linear_attention, linear_spec
from ._layout import chunk_bounds, local_bounds, local_length, rank_chunks, shard, unshard
from ._ring import ring_attention, ring_kernels
from ._specs import ring_spec

__all__ = ["ring_attention", "head_attention", "linear_attention", "ring_spec",
           "linear_spec", "ring_kernels",
           "shard", "unshard", "chunk_bounds", "local_bounds", "local_length",
           "rank_chunks", "MPIComm", "TorchComm"]
