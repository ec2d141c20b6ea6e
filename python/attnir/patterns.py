"""Spec text for common attention patterns.

Each function returns MLIR text like examples/dense.mlir: one ``func.func``
with dynamic batch, heads and sequence lengths (so GQA, cross attention and
any N, M work with one compiled kernel), static head dims. Pass it to
attnir.compile or attnir.reference, or print it as a starting point for a
spec of your own.

    >>> print(attnir.patterns.causal(head_dim=128, dtype="bf16", lse=True))
"""
import math

from . import _dtypes

__all__ = ["attention", "dense", "causal"]


def _float(x):
    """A float literal MLIR parses (it needs a '.') that round-trips exactly."""
    r = repr(float(x))
    if not math.isfinite(x):
        raise ValueError(f"scale must be finite, got {x}")
    if "." not in r:
        r = r.replace("e", ".0e") if "e" in r else r + ".0"
    return r


def attention(name="attention", head_dim=64, dtype="f32", scale=None, lse=False,
              causal=False, dv=None, window=None):
    """One attn.attention as a function @name(q, k, v) -> out [, lse].

    head_dim: D (static); dv: Dv of v and out (default D); dtype: 'f32',
    'bf16' or 'f16' (numpy names work too); scale: the logit scale (default
    1/sqrt(D)); lse: also return the log-sum-exp per row (f32, [B, Hq, N]);
    causal: mask(#attn.causal), bottom-right aligned when M != N;
    window: (left, right) for mask(#attn.window<left, right>), a band of keys
    i + M - N - left <= j <= i + M - N + right.
    """
    et = _dtypes.spec_name(dtype)
    if et == "f64":
        raise TypeError("attn.attention takes f32, bf16 or f16 tensors, not f64")
    D = int(head_dim)
    Dv = D if dv is None else int(dv)
    if D <= 0 or Dv <= 0:
        raise ValueError(f"head_dim and dv must be positive, got {D} and {Dv}")
    if not str(name).replace("_", "a").isalnum():
        raise ValueError(f"name must be an identifier, got {name!r}")
    tq = f"tensor<?x?x?x{D}x{et}>"
    tv = f"tensor<?x?x?x{Dv}x{et}>"
    tl = "tensor<?x?x?xf32>"
    attrs = ""
    if causal and window is not None:
        raise ValueError("give causal or window, not both (window=(left, 0) is causal within a band)")
    if causal:
        attrs += " mask(#attn.causal)"
    if window is not None:
        left, right = (int(x) for x in window)
        if left < 0 or right < 0:
            raise ValueError(f"window sizes must be non-negative, got {window}")
        attrs += f" mask(#attn.window<{left}, {right}>)"
    if scale is not None:
        attrs += f" scale({_float(scale)})"
    ins = f"({tq}, {tq}, {tv})"
    if lse:
        res_t, res, ret = f"({tv}, {tl})", "%o, %lse", f"%o, %lse : {tv}, {tl}"
    else:
        res_t, res, ret = tv, "%o", f"%o : {tv}"
    what = ("Causal (bottom-right aligned when M != N)" if causal else
            f"Sliding-window {window}" if window is not None else "Dense")
    pad = " " * len(f"func.func @{name}(")
    return (
        f"// {what} attention, D = {D}, Dv = {Dv}, {et}"
        f"{', lse' if lse else ''}; B, H, N, M dynamic. (attnir.patterns)\n"
        f"func.func @{name}(%q: {tq}, %k: {tq},\n"
        f"{pad}%v: {tv}) -> {res_t} {{\n"
        f"  {res} = attn.attention %q, %k, %v{attrs}\n"
        f"       : {ins}\n"
        f"       -> {res_t}\n"
        f"  return {ret}\n"
        f"}}\n")


def dense(head_dim=64, dtype="f32", scale=None, lse=False, dv=None, name="dense"):
    """Dense (non-causal) attention: see attention()."""
    return attention(name, head_dim, dtype, scale, lse, False, dv)


def causal(head_dim=64, dtype="f32", scale=None, lse=False, dv=None, name="causal"):
    """Causal attention (query i sees keys j <= i + M - N): see attention()."""
    return attention(name, head_dim, dtype, scale, lse, True, dv)


def sliding_window(left=256, right=0, head_dim=64, dtype="f32", scale=None, lse=False,
                   dv=None, name="sliding_window"):
    """Sliding-window attention: query i sees keys i + M - N - left ..
    i + M - N + right (left=256, right=0: the query and the 256 keys before
    it). See attention()."""
    return attention(name, head_dim, dtype, scale, lse, False, dv, (left, right))
