"""The all-to-all head schedule (DeepSpeed-Ulysses): one all-to-all turns
sequence shards [B, H, n_r, D] into head shards [B, H / P, N, D], each
rank runs the user's whole kernel on the full sequence of its heads (any
mask, block list or program that treats heads independently), and a second
all-to-all turns the results back into sequence shards. Block lists
(inputs named kv_indices / kv_counts) with a head axis are cut to the
rank's heads; every other extra operand goes to the kernel as given (the
full sequence's, e.g. document ids)."""
from . import _comm, _layout
from ._ring import _Ops

BY_HEAD = ("kv_indices", "kv_counts")


def _gather_sequence(comm, ops, x, seq_len, layout, granule):
    """[B, H, n_r, X] on every rank -> [B, H / P, N, X] of this rank's heads."""
    P = comm.size
    Hg = x.shape[1] // P
    sends = [ops.contig(x[:, g * Hg:(g + 1) * Hg]) for g in range(P)]
    like = [((x.shape[0], Hg, _layout.local_length(seq_len, s, P, layout, granule))
             + tuple(x.shape[3:]), x.dtype) for s in range(P)]
    got = comm.all_to_all(sends, like)
    pieces = {}
    for s, piece in enumerate(got):
        for c, gs, ge, at in _layout.local_bounds(seq_len, s, P, layout, granule):
            pieces[c] = piece[:, :, at:at + ge - gs]
    return ops.contig(ops.cat([pieces[c] for c in sorted(pieces)], 2))


def _scatter_sequence(comm, ops, y, seq_len, layout, granule):
    """[B, H / P, N, X] of this rank's heads -> [B, H, n_r, X]."""
    P = comm.size
    bounds = _layout.chunk_bounds(seq_len, P, layout, granule)
    sends = []
    for s in range(P):
        parts = [y[:, :, bounds[c][0]:bounds[c][1]]
                 for c in _layout.rank_chunks(s, P, layout)]
        sends.append(ops.contig(ops.cat(parts, 2)))
    n_r = _layout.local_length(seq_len, comm.rank, P, layout, granule)
    like = [((y.shape[0], y.shape[1], n_r) + tuple(y.shape[3:]), y.dtype)
            for _ in range(P)]
    return ops.contig(ops.cat(comm.all_to_all(sends, like), 1))


def head_attention(q, k, v, comm, kernel, *extra, seq_len, layout="contiguous",
                   granule=1):
    """Runs `kernel` (an attnir.Kernel whose first three inputs are q, k, v
    [B, H, N, D], any further ones in `extra`) over the whole sequence, the
    heads spread over the ranks. q, k, v are this rank's sequence shards
    (attnir.distributed.shard with the same layout and granule); H and Hkv
    must be multiples of the world size. Returns the kernel's results as
    this rank's sequence shards (every result must be [B, H, N, ...])."""
    comm = _comm.wrap(comm)
    P = comm.size
    ops = _Ops(q)
    H, Hkv = q.shape[1], k.shape[1]
    if H % P or Hkv % P:
        raise ValueError(f"head_attention spreads heads over {P} ranks: H = {H} and "
                         f"Hkv = {Hkv} must be multiples of {P}")
    n_local = _layout.local_length(seq_len, comm.rank, P, layout, granule)
    for name, x in (("q", q), ("k", k), ("v", v)):
        if x.ndim != 4 or x.shape[2] != n_local:
            raise ValueError(f"head_attention: {name} {tuple(x.shape)} must be "
                             f"[B, H, {n_local}, D] on rank {comm.rank}")
    names = [a.name for a in kernel.signature.inputs]
    if len(names) != 3 + len(extra):
        raise TypeError(f"{kernel.signature.entry} takes {len(names)} inputs "
                        f"({', '.join(names)}); got q, k, v and {len(extra)} more")
    full = [_gather_sequence(comm, ops, x, seq_len, layout, granule) for x in (q, k, v)]
    r = comm.rank
    for name, x in zip(names[3:], extra):
        if name in BY_HEAD and x.ndim >= 2 and x.shape[1] > 1:
            group = x.shape[1] // P
            if x.shape[1] % P:
                raise ValueError(f"{name} has {x.shape[1]} heads, not a multiple of {P}")
            x = ops.contig(x[:, r * group:(r + 1) * group])
        full.append(x)
    res = kernel(*full)
    many = isinstance(res, tuple)
    res = [_scatter_sequence(comm, ops, y, seq_len, layout, granule)
           for y in (res if many else (res,))]
    return tuple(res) if many else res[0]
