"""The Python reference: attention in float64 numpy.

Written from the math of shared/patterns.md A1/A2 (the same definition the C++
reference in lib/Reference implements), sharing no code with the compiler:

- s_ij = scale * q_i . k_j (scale defaults to 1/sqrt(D)), for kept pairs;
  causal keeps j <= i + M - N (bottom-right aligned when M != N);
  window<l, r> keeps i + M - N - l <= j <= i + M - N + r;
- m_i = max_j s_ij, Z_i = sum_j exp(s_ij - m_i);
  out_i = sum_j exp(s_ij - m_i) v_j / Z_i, lse_i = m_i + log Z_i;
- a row with no kept key: out_i = 0, lse_i = -inf (never NaN);
- GQA: query head h reads KV head h // (Hq // Hkv).

The spec is read by a small text reader (attnir/_spec.py) that understands
functions made of attn.attention ops; other ops raise NotImplementedError.
Inputs are widened exactly to float64 (bf16/f16 values are representable), so
the reference sees the numbers the kernel sees.
"""
import math
import os

import numpy as np

from . import _dtypes, _spec
from ._arrays import to_numpy


def attention(q, k, v, causal=False, scale=None, names=("q", "k", "v"), window=None):
    """(out, lse) in float64 for rank-4 q [B,Hq,N,D], k [B,Hkv,M,D],
    v [B,Hkv,M,Dv]. `window` = (left, right): key j visible to query i when
    i + M - N - left <= j <= i + M - N + right."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    for x, n in zip((q, k, v), names):
        if x.ndim != 4:
            raise ValueError(f"argument '{n}' must have rank 4, got rank {x.ndim}")
    B, Hq, N, D = q.shape
    Bk, Hkv, M, Dk = k.shape
    if k.shape[:3] != v.shape[:3]:
        raise ValueError(f"arguments '{names[1]}' {k.shape} and '{names[2]}' "
                         f"{v.shape} must agree in B, Hkv, M")
    if Bk != B:
        raise ValueError(f"argument '{names[1]}' has batch {Bk}, '{names[0]}' has {B}")
    if Dk != D:
        raise ValueError(f"argument '{names[1]}' has head dim {Dk}, '{names[0]}' has {D}")
    if Hkv == 0 or Hq % Hkv:
        raise ValueError(f"Hq = {Hq} is not a multiple of Hkv = {Hkv}")
    if scale is None:
        scale = 1.0 / math.sqrt(D) if D else 1.0
    g = Hq // Hkv
    kh = np.repeat(k, g, axis=1)  # [B, Hq, M, D]: head h reads KV head h // g
    vh = np.repeat(v, g, axis=1)
    s = scale * np.matmul(q, np.swapaxes(kh, -1, -2))  # [B, Hq, N, M]
    i = np.arange(N)[:, None]
    j = np.arange(M)[None, :]
    if causal:
        s = np.where(j <= i + (M - N), s, -np.inf)
    if window is not None:
        left, right = window
        c = i + (M - N)
        s = np.where((j >= c - left) & (j <= c + right), s, -np.inf)
    m = s.max(axis=-1, keepdims=True) if M else np.full((B, Hq, N, 1), -np.inf)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    p = np.exp(s - m_safe)  # masked: exp(-inf) = 0
    z = p.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(z > 0, np.matmul(p, vh) / np.where(z > 0, z, 1.0), 0.0)
        lse = np.where(z[..., 0] > 0, m_safe[..., 0] + np.log(z[..., 0]), -np.inf)
    return out, lse


def reference(spec, *arrays, entry=None):
    """float64 results of `entry` (default: the first function) of `spec` on
    `arrays`: one array for one result, a tuple for several.

    `spec` is spec text or a path (os.PathLike) to a .mlir file; arrays are
    numpy arrays or DLPack producers (torch CPU tensors included)."""
    if isinstance(spec, os.PathLike):
        with open(spec) as f:
            spec = f.read()
    native = _native_with_compiler()
    if native is not None:
        return _native_reference(native, spec, arrays, entry)
    return _numpy_reference(spec, arrays, entry)


def _native_with_compiler():
    try:
        from ._native import ext
        x = ext()
    except ImportError:
        return None
    return x if x.has_compiler() else None


def _native_reference(native, spec, arrays, entry):
    """The C API's reference (lib/Reference, shared with attnc --check): every
    op, mask and operand the compiler knows."""
    tensors = []
    for i, a in enumerate(arrays):
        arr, code, _ = to_numpy(a, f"#{i}")
        if code is None:
            raise TypeError(f"argument #{i} has dtype {arr.dtype}, which attnir "
                            "does not take")
        tensors.append((arr, code))
    try:
        res = native.reference(spec, entry, tensors)
    except ValueError as e:
        msg = str(e)
        if "inputs, got" in msg:
            raise TypeError(msg.replace(" inputs, got", " arrays, got")) from None
        if "unsupported op" in msg or "is not an op AttnIR compiles" in msg:
            raise NotImplementedError(msg) from None
        raise
    out = tuple(np.frombuffer(data, dtype=np.float64).reshape(shape).copy()
                for data, shape in res)
    return out[0] if len(out) == 1 else out


def _numpy_reference(spec, arrays, entry):
    """Runtime-only builds (no compiler to read the spec): the numpy formula
    for causal and window masks on (q, k, v)."""
    fn = _spec.find(_spec.parse(spec), entry)
    if len(arrays) != len(fn.args):
        names = ", ".join(a for a, _ in fn.args)
        raise TypeError(f"@{fn.name} takes {len(fn.args)} arrays ({names}), "
                        f"got {len(arrays)}")
    env = {}
    for (name, _), a in zip(fn.args, arrays):
        arr, code, _ = to_numpy(a, name)
        if code == _dtypes.BF16 and arr.dtype == np.uint16:  # bf16 bits, no ml_dtypes
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        env["%" + name] = arr.astype(np.float64)
    for op in fn.ops:
        if op.mask not in (None, "causal", "window"):
            raise NotImplementedError(
                f"the Python reference knows #attn.causal and #attn.window, "
                f"not #attn.{op.mask}")
        try:
            q, k, v = env[op.q], env[op.k], env[op.v]
        except KeyError as e:
            raise NotImplementedError(f"operand {e} of attn.attention is not "
                                      "a function argument or an earlier result")
        out, lse = attention(q, k, v, op.mask == "causal", op.scale,
                             names=tuple(x.lstrip("%") for x in (op.q, op.k, op.v)),
                             window=op.window)
        for r, val in zip(op.results, (out, lse)):
            env[r] = val
    try:
        res = tuple(env[r] for r in fn.returns)
    except KeyError as e:
        raise NotImplementedError(f"@{fn.name} returns {e}, which the Python "
                                  "reference does not compute")
    return res[0] if len(res) == 1 else res
