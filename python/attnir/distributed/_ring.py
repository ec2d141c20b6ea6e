"""Ring attention: every rank keeps its queries, the key/value chunks travel
around the ring, and each rank merges its partial results exactly by their
lse with attn.merge (shared/patterns.md A10).

Step s on rank r computes against the chunks of rank (r - s) mod P while
the next rank's chunks are already in flight (the transfer is queued before
the kernels). Each (query chunk a, key chunk b) pair is one of

- causal: a == b (the same positions: N = M, the causal rule as is);
- full: a > b under a causal mask, or every pair without one;
- skipped: a < b under a causal mask;

so no kernel needs position offsets. With a block list, the pair's own list
is cut from the global one on the device (no host round trip): the rows of
query chunk a, the ids that fall in key chunk b, shifted to b's first block.
"""
import math

import numpy as np

from .. import _dtypes
from .._arrays import _is_torch
from . import _comm, _layout, _specs


class _Ops:
    """numpy or torch, whichever the arrays are."""

    def __init__(self, x):
        self.torch = _is_torch(x)
        if self.torch:
            import torch
            self.t = torch
        self.cuda = self.torch and x.device.type == "cuda"

    def contig(self, x):
        return x.contiguous() if self.torch else np.ascontiguousarray(x)

    def empty(self, q, v, n):
        """(out, lse) of n (= 0) rows."""
        B, H = q.shape[0], q.shape[1]
        if self.torch:
            return (self.t.empty((B, H, n, v.shape[3]), dtype=v.dtype, device=v.device),
                    self.t.empty((B, H, n), dtype=self.t.float32, device=v.device))
        return (np.empty((B, H, n, v.shape[3]), v.dtype),
                np.empty((B, H, n), np.float32))

    def cat(self, xs, axis):
        if len(xs) == 1:
            return xs[0]
        return self.t.cat(xs, dim=axis) if self.torch else np.concatenate(xs, axis=axis)

    def local_list(self, idx, cnt, r0, r1, k0, k1):
        """The pair's block list: rows [r0, r1) of (idx, cnt), the ids in
        [k0, k1) shifted by -k0, ascending, the rest unused (0). k0 = None
        or k1 = None leaves that side open (the first and last key chunk),
        so an id out of the global range reaches the kernel's own check."""
        rows, c = idx[:, :, r0:r1], cnt[:, :, r0:r1]
        K = rows.shape[-1]
        if self.torch:
            t = self.t
            slot = t.arange(K, device=rows.device, dtype=c.dtype)
            keep = slot < c[..., None]
            if k0 is not None:
                keep = keep & (rows >= k0)
            if k1 is not None:
                keep = keep & (rows < k1)
            big = t.iinfo(rows.dtype).max
            shifted = rows - (k0 or 0)
            vals = t.where(keep, shifted, t.full_like(rows, big)).sort(dim=-1).values
            vals = t.where(vals == big, t.zeros_like(vals), vals).contiguous()
            return vals, keep.sum(dim=-1).to(c.dtype).contiguous()
        slot = np.arange(K, dtype=c.dtype)
        keep = slot < c[..., None]
        if k0 is not None:
            keep &= rows >= k0
        if k1 is not None:
            keep &= rows < k1
        big = np.iinfo(rows.dtype).max
        vals = np.sort(np.where(keep, rows - (k0 or 0), big), axis=-1)
        vals = np.where(vals == big, 0, vals).astype(rows.dtype)
        return np.ascontiguousarray(vals), keep.sum(axis=-1).astype(c.dtype)


def _check_shapes(q, k, v, n_local, what):
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError(f"{what}: q, k and v must be [B, H, N, D] shards")
    for name, x in (("q", q), ("k", k), ("v", v)):
        if x.shape[2] != n_local:
            raise ValueError(f"{what}: {name} holds {x.shape[2]} positions on this "
                             f"rank; the layout gives it {n_local}")
    if k.shape[:3] != v.shape[:3] or q.shape[0] != k.shape[0]:
        raise ValueError(f"{what}: q {tuple(q.shape)}, k {tuple(k.shape)} and "
                         f"v {tuple(v.shape)} do not agree")


def _dtype_name(x):
    """The spec's name of x's element type ('f32', 'bf16', ...)."""
    if _is_torch(x):
        from .._cuda import _code, _torch
        return _dtypes.NAME[_code(_torch(), x, "q")]
    return _dtypes.spec_name(x.dtype)


def _check_block_list(ops, idx, cnt, seq_len, bq, bk):
    """The global list, checked once on every rank before any transfer (each
    rank holds the same list, so all raise together and none waits for a
    peer that stopped): FlexAttention's layout, ids in [0, ceil(N / bk)) in
    the used slots, counts in [0, K]."""
    if idx.ndim != 4 or cnt.ndim != 3 or tuple(idx.shape[:3]) != tuple(cnt.shape):
        raise ValueError(f"blocks: kv_indices {tuple(idx.shape)} must be [B, H, QB, K] "
                         f"and kv_counts {tuple(cnt.shape)} [B, H, QB]")
    nqb, nkb, K = -(-seq_len // bq), -(-seq_len // bk), idx.shape[3]
    if idx.shape[2] < nqb:
        raise ValueError(f"blocks: the list has {idx.shape[2]} query block rows; "
                         f"{seq_len} positions in blocks of {bq} need {nqb}")
    if ops.torch:
        t = ops.t
        slot = t.arange(K, device=idx.device)
        used = slot < cnt[..., None]
        bad_ids = (used & ((idx < 0) | (idx >= nkb))).any()
        bad_cnt = ((cnt < 0) | (cnt > K)).any()
        bad_ids, bad_cnt = bool(bad_ids), bool(bad_cnt)  # one host read each
        worst = int(t.where(used, idx, t.zeros_like(idx)).max()) if bad_ids else 0
    else:
        used = np.arange(K) < cnt[..., None]
        bad_ids = bool((used & ((idx < 0) | (idx >= nkb))).any())
        bad_cnt = bool(((cnt < 0) | (cnt > K)).any())
        worst = int(np.where(used, idx, 0).max()) if bad_ids else 0
    if bad_cnt:
        raise ValueError(f"blocks: a kv_counts entry is outside [0, {K}]")
    if bad_ids:
        raise ValueError(f"blocks: a used kv_indices entry is outside [0, {nkb}) "
                         f"(largest {worst}; {seq_len} keys in blocks of {bk})")


_compiled = {}


def _compile_everywhere(comm, spec, target):
    """`spec` compiled for `target` on every rank: rank 0 compiles first,
    the others then find it in the on-disk cache. Memoised per process."""
    from .. import compile as attn_compile
    kern = _compiled.get((spec, target))
    if kern is None:
        comm = _comm.wrap(comm)
        if comm.rank == 0:
            kern = attn_compile(spec, target=target)
        comm.barrier()
        if comm.rank != 0:
            kern = attn_compile(spec, target=target)
        _compiled[(spec, target)] = kern
    return kern


def ring_kernels(comm, head_dim, dtype, dv=None, scale=None, block_size=None,
                 index_type="i32", target="cpu"):
    """The ring's kernel (entries dense, causal, merge [, blocks,
    causal_blocks]) compiled for `target` on every rank."""
    spec = _specs.ring_spec(head_dim, dtype, dv, scale, block_size, index_type)
    return _compile_everywhere(comm, spec, target)


def ring_attention(q, k, v, comm, *, seq_len, causal=False, blocks=None,
                   block_size=None, layout="zigzag", scale=None, lse=False,
                   kernels=None, check=True):
    """Attention of this rank's queries over the whole sequence.

    q [B, H, n, D], k and v [B, Hkv, n, D / Dv]: this rank's part of a
    sequence of `seq_len` positions (self-attention), laid out by `layout`
    (attnir.distributed.shard cuts it). comm: an mpi4py communicator (numpy
    arrays) or a torch process group (torch tensors; NCCL on GPUs).
    causal: the causal mask (zigzag balances it). blocks=(kv_indices,
    kv_counts): a global block list in FlexAttention's layout over the whole
    sequence, with block_size=(bq, bk); the chunks are then cut on a grid
    of lcm(bq, bk). kernels: the compiled ring_spec (needed where nothing
    compiles, e.g. a runtime-only build on a GPU server); by default it is
    compiled for the arrays' target. check=False skips the block list's
    check (on CUDA it reads two flags back to the host). Returns out [B, H, n, Dv] (and lse
    [B, H, n] in natural log with lse=True), this rank's rows.
    """
    comm = _comm.wrap(comm)
    P, r = comm.size, comm.rank
    ops = _Ops(q)
    if (blocks is None) != (block_size is None):
        raise ValueError("give blocks=(kv_indices, kv_counts) and block_size=(bq, bk) together")
    granule = 1
    if blocks is not None:
        bq, bk = (int(b) for b in block_size)
        granule = bq * bk // math.gcd(bq, bk)
    mine = _layout.local_bounds(seq_len, r, P, layout, granule)
    n_local = sum(e - s for _, s, e, _ in mine)
    _check_shapes(q, k, v, n_local, "ring_attention")
    if kernels is None:
        it = "i32"
        if blocks is not None:
            it = "i64" if str(blocks[0].dtype).endswith("int64") else "i32"
        kernels = ring_kernels(comm, q.shape[3], _dtype_name(q), v.shape[3], scale,
                               block_size, it, "cuda" if ops.cuda else "cpu")
    merge = kernels["merge"]
    run = {name: kernels[name] for name in ("dense", "causal")}
    if blocks is not None:
        run["blocks"], run["causal_blocks"] = kernels["blocks"], kernels["causal_blocks"]
        idx, cnt = blocks
        if check:
            _check_block_list(ops, idx, cnt, seq_len, bq, bk)

    def split(x, bounds):
        return [ops.contig(x[:, :, at:at + e - s]) for _, s, e, at in bounds]

    q_chunks = split(q, mine)
    kv = split(k, mine) + split(v, mine)
    acc = [None] * len(mine)
    nkb_chunks = _layout.chunk_count(P, layout)

    def like(owner):
        bounds = _layout.local_bounds(seq_len, owner, P, layout, granule)
        shapes = []
        for x in (k, v):
            for _, s, e, _ in bounds:
                shapes.append(((x.shape[0], x.shape[1], e - s, x.shape[3]), x.dtype))
        return shapes

    for step in range(P):
        owner = (r - step) % P
        pending = None
        if step + 1 < P:  # the next chunks travel while these are computed
            pending = comm.exchange(kv, (r + 1) % P, (r - 1) % P, like((owner - 1) % P))
        theirs = _layout.local_bounds(seq_len, owner, P, layout, granule)
        nc = len(theirs)
        for ai, (a, qs, qe, _) in enumerate(mine):
            for bi, (b, ks, ke, _) in enumerate(theirs):
                if qe == qs or ke == ks or (causal and a < b):
                    continue
                diagonal = causal and a == b
                args = [q_chunks[ai], kv[bi], kv[nc + bi]]
                name = "causal" if diagonal else "dense"
                if blocks is not None:
                    name = "causal_blocks" if diagonal else "blocks"
                    args += list(ops.local_list(
                        idx, cnt, qs // bq, -(-qe // bq),
                        None if b == 0 else ks // bk,
                        None if b == nkb_chunks - 1 else -(-ke // bk)))
                part = run[name](*args)
                acc[ai] = part if acc[ai] is None else merge(*acc[ai], *part)
        if pending is not None:
            kv = pending.wait()
    outs, lses = [], []
    for ai, (_, s, e, _) in enumerate(mine):
        if acc[ai] is None:  # an empty chunk (more chunks than positions)
            acc[ai] = ops.empty(q, v, e - s)
        outs.append(acc[ai][0])
        lses.append(acc[ai][1])
    out = ops.cat(outs, 2)
    return (out, ops.cat(lses, 2)) if lse else out
