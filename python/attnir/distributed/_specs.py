"""The per-device programs of the ring schedule, as one spec of several
entries: attention with its lse over one (query chunk, key chunk) pair, and
attn.merge of two partial results. Everything a device computes is an
AttnIR kernel; Python only orders the calls and the transfers."""
from .. import _dtypes
from ..patterns import _float

ENTRIES = ("dense", "causal", "merge")
BLOCK_ENTRIES = ("blocks", "causal_blocks")


def _attention(name, tq, tv, tl, attrs, extra_args="", extra_types=""):
    ins = f"{tq}, {tq}, {tv}{extra_types}"
    return (f"func.func @{name}(%q: {tq}, %k: {tq}, %v: {tv}{extra_args})\n"
            f"    -> ({tv}, {tl}) {{\n"
            f"  %o, %lse = attn.attention %q, %k, %v{attrs}\n"
            f"       : ({ins}) -> ({tv}, {tl})\n"
            f"  return %o, %lse : {tv}, {tl}\n"
            f"}}\n")


def ring_spec(head_dim, dtype="f32", dv=None, scale=None, block_size=None,
              index_type="i32"):
    """MLIR text with the entries the ring schedule calls: `dense`, `causal`
    (the diagonal pairs, N = M) and `merge`; with `block_size=(bq, bk)` also
    `blocks` and `causal_blocks` taking (kv_indices, kv_counts) of one pair.
    Compile it once for the target (attnc compile --emit bundle, or
    attnir.compile) and hand the kernel to ring_attention(kernels=...)."""
    et = _dtypes.spec_name(dtype)
    if et not in ("f32", "bf16", "f16"):
        raise TypeError(f"ring attention takes f32, bf16 or f16, not {et}")
    D = int(head_dim)
    Dv = D if dv is None else int(dv)
    if D <= 0 or Dv <= 0:
        raise ValueError(f"head_dim and dv must be positive, got {D} and {Dv}")
    tq = f"tensor<?x?x?x{D}x{et}>"
    tv = f"tensor<?x?x?x{Dv}x{et}>"
    tl = "tensor<?x?x?xf32>"
    sc = "" if scale is None else f" scale({_float(scale)})"
    text = [f"// Ring attention's per-device programs (attnir.distributed): "
            f"D = {D}, Dv = {Dv}, {et}.\n",
            _attention("dense", tq, tv, tl, sc),
            _attention("causal", tq, tv, tl, f" mask(#attn.causal){sc}")]
    if block_size is not None:
        bq, bk = (int(b) for b in block_size)
        if bq <= 0 or bk <= 0:
            raise ValueError(f"block sizes must be positive, got {block_size}")
        it = _dtypes.spec_name(index_type)
        if it not in ("i32", "i64"):
            raise TypeError(f"block lists are i32 or i64, not {it}")
        ti, tc = f"tensor<?x?x?x?x{it}>", f"tensor<?x?x?x{it}>"
        args = f", %kv_indices: {ti}, %kv_counts: {tc}"
        types = f", {ti}, {tc}"
        blocks = f" blocks(%kv_indices, %kv_counts) block_size({bq}, {bk})"
        text.append(_attention("blocks", tq, tv, tl, blocks + sc, args, types))
        text.append(_attention("causal_blocks", tq, tv, tl,
                               f"{blocks} mask(#attn.causal){sc}", args, types))
    text.append(
        f"func.func @merge(%o1: {tv}, %lse1: {tl}, %o2: {tv}, %lse2: {tl})\n"
        f"    -> ({tv}, {tl}) {{\n"
        f"  %o, %lse = attn.merge %o1, %lse1, %o2, %lse2\n"
        f"       : ({tv}, {tl}, {tv}, {tl}) -> ({tv}, {tl})\n"
        f"  return %o, %lse : {tv}, {tl}\n"
        f"}}\n")
    return "".join(text)
