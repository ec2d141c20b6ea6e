"""attn.linear across ranks by passing its state (shared/patterns.md A8).

The sequence is cut contiguously (a recurrence follows the sequence's
order); rank r's chunk needs the state S_in(r) after every earlier chunk.

- sequential: rank r receives S_in(r) from r - 1, runs its chunk from it
  and sends its final state to r + 1. Any attn.linear (the delta rule,
  every feature map); serial within one call, so it pipelines over layers
  or micro-batches rather than shortening one call.
- scan (decays and gates only, with phi(0) = 0: identity or relu): the
  state is linear in S_in. Every rank runs its chunk from 0 at once (final
  state F_r, outputs o0); the states pass down the ranks,
  S_in(r + 1) = Lambda_r S_in(r) + F_r with Lambda_r the product of the
  chunk's gammas (one D x Dv message per hop); then each rank adds the
  part of its outputs that S_in(r) contributes, the same kernel run with
  k = v = 0 from S_in(r). Twice the per-rank work, all ranks at once.

Every state and output comes from the AttnIR kernel (linear_spec).
"""
import numpy as np

from .. import _dtypes
from ..patterns import _float
from . import _comm, _layout
from ._ring import _dtype_name, _Ops

FEATURE_MAPS = (None, "identity", "elu1", "relu", "exp")


def linear_spec(head_dim, dtype="f32", dv=None, decay=False, gate=False, log_gate=False,
                delta=False, l2norm=False, feature_map=None, scale=None,
                feature_gate=False):
    """MLIR text of the entry `linear`(q, k, v, [decay], [gate], [log_gate],
    [beta], s0) -> (out, final state) that linear_attention runs.
    feature_gate: log_gate is [B, H, N, D], a gate per key feature (GLA)."""
    et = _dtypes.spec_name(dtype)
    if et not in ("f32", "bf16", "f16"):
        raise TypeError(f"attn.linear takes f32, bf16 or f16, not {et}")
    if feature_map not in FEATURE_MAPS:
        raise ValueError(f"feature_map must be one of {FEATURE_MAPS}, got {feature_map!r}")
    D = int(head_dim)
    Dv = D if dv is None else int(dv)
    tq, tv = f"tensor<?x?x?x{D}x{et}>", f"tensor<?x?x?x{Dv}x{et}>"
    tg, ts = "tensor<?x?x?xf32>", f"tensor<?x?x{D}x{Dv}xf32>"
    tlg = f"tensor<?x?x?x{D}xf32>" if feature_gate else tg
    if feature_gate and not log_gate:
        raise ValueError("feature_gate needs log_gate=True (the gate per feature is a log gate)")
    args, types, ops = [f"%q: {tq}", f"%k: {tq}", f"%v: {tv}"], [tq, tq, tv], ""
    for on, name, t, word in ((decay, "decay", "tensor<?xf32>", "decay"),
                              (gate, "gate", tg, "gate"), (log_gate, "g", tlg, "log_gate"),
                              (delta, "beta", tg, "delta")):
        if on:
            args.append(f"%{name}: {t}")
            types.append(t)
            ops += f" {word}(%{name})"
    args.append(f"%s0: {ts}")
    types.append(ts)
    ops += " state(%s0)"
    if feature_map not in (None, "identity"):
        ops += f" feature_map({feature_map})"
    if l2norm:
        ops += " l2norm"
    if scale is not None:
        ops += f" scale({_float(scale)})"
    return (f"// attn.linear with its state in and out (attnir.distributed).\n"
            f"func.func @linear({', '.join(args)}) -> ({tv}, {ts}) {{\n"
            f"  %o, %s = attn.linear %q, %k, %v{ops}\n"
            f"       : ({', '.join(types)}) -> ({tv}, {ts})\n"
            f"  return %o, %s : {tv}, {ts}\n}}\n")


def _gamma_product(ops, q, decay, gate, log_gate):
    """Lambda [B, H, 1, 1] f32 (or [B, H, D, 1] with a gate per feature):
    the product of the chunk's gammas, per state row."""
    B, H, n = q.shape[0], q.shape[1], q.shape[2]
    if log_gate is not None and log_gate.ndim == 4:
        rest = _gamma_product(ops, q, decay, gate, None)
        if ops.torch:
            t = ops.t
            per = t.exp(log_gate.to(t.float64).sum(dim=2)).to(t.float32)[..., None]
        else:
            per = np.exp(np.asarray(log_gate, np.float64).sum(axis=2)).astype(np.float32)[..., None]
        return rest * per
    if ops.torch:
        t = ops.t
        lam = t.ones((B, H), dtype=t.float64, device=q.device)
        if decay is not None:
            lam = lam * decay.to(t.float64)[None, :] ** n
        if gate is not None:
            lam = lam * gate.to(t.float64).prod(dim=-1)
        if log_gate is not None:
            lam = lam * t.exp(log_gate.to(t.float64).sum(dim=-1))
        return lam.to(t.float32)[:, :, None, None]
    lam = np.ones((B, H))
    if decay is not None:
        lam = lam * np.asarray(decay, np.float64)[None, :] ** n
    if gate is not None:
        lam = lam * np.asarray(gate, np.float64).prod(axis=-1)
    if log_gate is not None:
        lam = lam * np.exp(np.asarray(log_gate, np.float64).sum(axis=-1))
    return lam.astype(np.float32)[:, :, None, None]


def linear_attention(q, k, v, comm, *, seq_len, decay=None, gate=None, log_gate=None,
                     beta=None, initial_state=None, l2norm=False, feature_map=None,
                     scale=None, schedule="auto", kernels=None):
    """attn.linear over a sequence cut contiguously across the ranks.

    q, k [B, H, n, D], v [B, H, n, Dv]: this rank's chunk (shard(...,
    layout="contiguous")); gate / log_gate / beta [B, H, n]: its chunk of
    those; decay [H] and initial_state [B, H, D, Dv] (rank 0's start) as
    given. schedule: "scan" (all ranks at once; decays and gates with
    identity or relu), "sequential" (any attn.linear, the delta rule too)
    or "auto". Returns (out [B, H, n, Dv], the state after this rank's
    chunk: the whole sequence's final state on the last rank)."""
    comm = _comm.wrap(comm)
    P, r = comm.size, comm.rank
    ops = _Ops(q)
    n_local = _layout.local_length(seq_len, r, P, "contiguous")
    for name, x in (("q", q), ("k", k), ("v", v)):
        if x.ndim != 4 or x.shape[2] != n_local:
            raise ValueError(f"linear_attention: {name} {tuple(x.shape)} must be "
                             f"[B, H, {n_local}, D] on rank {r} (contiguous layout)")
    feature_gate = log_gate is not None and log_gate.ndim == 4
    linear_ok = beta is None and feature_map in (None, "identity", "relu")
    if schedule == "auto":
        schedule = "scan" if linear_ok else "sequential"
    if schedule not in ("scan", "sequential"):
        raise ValueError(f"schedule must be 'scan', 'sequential' or 'auto', got {schedule!r}")
    if schedule == "scan" and not linear_ok:
        raise ValueError("the scan schedule needs a state linear in the initial state: "
                         "no delta rule, feature_map identity or relu (use 'sequential')")
    if kernels is None:
        from ._ring import _compile_everywhere
        kernels = _compile_everywhere(comm, linear_spec(
            q.shape[3], _dtype_name(q), v.shape[3], decay is not None, gate is not None,
            log_gate is not None, beta is not None, l2norm, feature_map, scale,
            feature_gate),
            "cuda" if ops.cuda else "cpu")
    kern = kernels["linear"] if "linear" in kernels.entries else kernels
    B, H, D, Dv = q.shape[0], q.shape[1], q.shape[3], v.shape[3]
    state_like = [((B, H, D, Dv), ops.t.float32 if ops.torch else np.float32)]

    def zeros_state():
        if ops.torch:
            return ops.t.zeros((B, H, D, Dv), dtype=ops.t.float32, device=q.device)
        return np.zeros((B, H, D, Dv), np.float32)

    extra = [x for x in (decay, gate, log_gate, beta) if x is not None]

    def run(qq, kk, vv, s_in):
        return kern(qq, kk, vv, *extra, s_in)

    if schedule == "sequential":
        if r == 0:
            s_in = initial_state if initial_state is not None else zeros_state()
        else:
            s_in = comm.recv(state_like, r - 1)[0]
        out, s_out = run(q, k, v, s_in)
        if r + 1 < P:
            comm.send([s_out], r + 1)
        return out, s_out

    # scan: every rank's chunk from 0 (rank 0 from its known start) at once.
    start = initial_state if (r == 0 and initial_state is not None) else zeros_state()
    out, f_r = run(q, k, v, start)
    if r == 0:
        s_in, s_next = None, f_r
    else:
        s_in = comm.recv(state_like, r - 1)[0]
        s_next = _gamma_product(ops, q, decay, gate, log_gate) * s_in + f_r
    if r + 1 < P:
        comm.send([s_next], r + 1)
    if s_in is not None:  # what S_in(r) adds: the kernel from S_in with k = v = 0
        zk = ops.t.zeros_like(k) if ops.torch else np.zeros_like(k)
        zv = ops.t.zeros_like(v) if ops.torch else np.zeros_like(v)
        corr, _ = run(q, zk, zv, s_in)
        out = out + corr
    return out, s_next
