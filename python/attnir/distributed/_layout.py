"""Where each rank's part of the sequence lies.

The sequence [0, N) is cut into chunks whose starts are multiples of a
granule g (the block size of a block list, else 1), as evenly as whole
granules allow; only the last chunk may end off the grid (the ragged tail).

- contiguous: P chunks, rank r holds chunk r.
- zigzag: 2P chunks, rank r holds chunks r and 2P - 1 - r (in that order),
  so that under a causal mask every rank does the same work (the rank with
  the earliest queries also holds the latest ones).
"""

LAYOUTS = ("zigzag", "contiguous")


def chunk_count(world, layout):
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    return 2 * world if layout == "zigzag" else world


def chunk_bounds(n, world, layout="zigzag", granule=1):
    """[(start, stop)] of every chunk, in sequence order."""
    n, world, granule = int(n), int(world), int(granule)
    if world < 1:
        raise ValueError(f"world size must be positive, got {world}")
    if granule < 1:
        raise ValueError(f"granule must be positive, got {granule}")
    if n < 0:
        raise ValueError(f"sequence length must be non-negative, got {n}")
    c = chunk_count(world, layout)
    units = -(-n // granule)  # whole granules, the last one may be short
    base, extra = divmod(units, c)
    bounds, start = [], 0
    for i in range(c):
        stop = min(n, start + (base + (1 if i < extra else 0)) * granule)
        bounds.append((start, stop))
        start = stop
    return bounds


def rank_chunks(rank, world, layout="zigzag"):
    """The chunk ids rank `rank` holds, in the order it stores them."""
    if layout == "zigzag":
        return (rank, 2 * world - 1 - rank)
    chunk_count(world, layout)
    return (rank,)


def local_bounds(n, rank, world, layout="zigzag", granule=1):
    """[(chunk id, global start, global stop, local start)] of a rank."""
    bounds = chunk_bounds(n, world, layout, granule)
    out, at = [], 0
    for c in rank_chunks(rank, world, layout):
        s, e = bounds[c]
        out.append((c, s, e, at))
        at += e - s
    return out


def local_length(n, rank, world, layout="zigzag", granule=1):
    return sum(e - s for _, s, e, _ in local_bounds(n, rank, world, layout, granule))


def _cat(parts, axis):
    from .._arrays import _is_torch
    if parts and _is_torch(parts[0]):
        import torch
        return torch.cat(parts, dim=axis)
    import numpy as np
    return np.concatenate(parts, axis=axis)


def _take(x, axis, start, stop):
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, stop)
    return x[tuple(index)]


def shard(x, rank, world, layout="zigzag", granule=1, axis=2):
    """Rank `rank`'s part of the full sequence tensor x (numpy or torch),
    cut along `axis` (2: [B, H, N, D]; use 1 for [B, N] document ids)."""
    n = x.shape[axis]
    parts = [_take(x, axis, s, e) for _, s, e, _ in
             local_bounds(n, rank, world, layout, granule)]
    return _cat(parts, axis)


def unshard(parts, layout="zigzag", granule=1, axis=2):
    """The full sequence tensor from every rank's part, in rank order."""
    world = len(parts)
    n = sum(p.shape[axis] for p in parts)
    pieces = {}
    for r, p in enumerate(parts):
        for c, s, e, at in local_bounds(n, r, world, layout, granule):
            if p.shape[axis] != local_length(n, r, world, layout, granule):
                raise ValueError(f"rank {r}'s part has length {p.shape[axis]} along "
                                 f"axis {axis}; the {layout} layout of {n} gives it "
                                 f"{local_length(n, r, world, layout, granule)}")
            pieces[c] = _take(p, axis, at, at + e - s)
    return _cat([pieces[c] for c in sorted(pieces)], axis)
