#!/usr/bin/env python3
"""Here (no GPU needed): compiles the attn.linear programs bench/gpu/linear.py
checks and times into bench/gpu/bundles/linear_*.bundle (carry the folder):
attnir.distributed.linear_spec entries `linear`(q, k, v, [gates], s0) ->
(out, final state) for a per-head decay (f32), per-token gates with the
elu+1 map, log gates, and the gated delta rule with l2norm, GLA's gates per feature (bf16, D = 64 for
the checks, D = 128 for the timings against flash-linear-attention), and
the normalised form (no state; with its lse, and in examples/hybrid_window_linear.mlir)
from a spec of its own; plain linear
attention, and shapes of the chunked tensor-core kernel (D = 64 / Dv = 32,
f16 with Dv = 256); the log-gated program once more as the token
recurrence (linear-chunk=0).

usage: python3 bench/gpu/build_linear.py [--attnc build/bin/attnc]
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
from attnir.distributed._linear import linear_spec  # noqa: E402  (pure Python)
from build_sparse import build_all  # noqa: E402

def normalized_spec(d, elt, dv=None, gates=("gate",), feature_map="elu1", lse=False,
                    scale=None, feature_gate=False):
    """`normalize`d linear attention (the chunk kernel's
    LinearChunkNormalize.cpp, or the recurrence with linear-chunk=0):
    entry `linear`(q, k, v, [decay], [gate], [g]) -> out (, lse); with
    feature_gate g is GLA's [B, H, N, D]."""
    dv = dv or d
    t, tv, tl = (f"tensor<?x?x?x{d}x{elt}>", f"tensor<?x?x?x{dv}x{elt}>",
                 "tensor<?x?x?xf32>")
    tg = f"tensor<?x?x?x{d}xf32>" if feature_gate else tl
    kinds = {"decay": ("tensor<?xf32>", "decay"), "gate": (tl, "gate"), "g": (tg, "log_gate")}
    args = [f"%q: {t}", f"%k: {t}", f"%v: {tv}"] + [f"%{g}: {kinds[g][0]}" for g in gates]
    types = [t, t, tv] + [kinds[g][0] for g in gates]
    words = "".join(f" {kinds[g][1]}(%{g})" for g in gates)
    if feature_map:
        words += f" feature_map({feature_map})"
    words += " normalize" + (f" scale({scale})" if scale is not None else "")
    outs = [tv, tl] if lse else [tv]
    names = "%o, %l" if lse else "%o"
    return (f"func.func @linear({', '.join(args)}) -> ({', '.join(outs)}) {{\n"
            f"  {names} = attn.linear %q, %k, %v{words}\n"
            f"       : ({', '.join(types)}) -> ({', '.join(outs)})\n"
            f"  return {names} : {', '.join(outs)}\n}}\n")


def example(name, elt="bf16"):
    """An example's text with its f32 tensors in `elt`."""
    with open(os.path.join(ROOT, "examples", name + ".mlir")) as f:
        return f.read().replace("x64xf32>", f"x64x{elt}>")


def wy_spec(d, elt, dv):
    """The gated delta rule returning wy(64)'s W and U beside its outputs:
    checks the prep kernel's workspace values against the reference's."""
    t, tv, s = (f"tensor<?x?x?x{d}x{elt}>", f"tensor<?x?x?x{dv}x{elt}>",
                f"tensor<?x?x{d}x{dv}xf32>")
    g = "tensor<?x?x?xf32>"
    return (f"func.func @linear(%q: {t}, %k: {t}, %v: {tv}, %g: {g}, %beta: {g}, %s0: {s})"
            f" -> ({tv}, {s}, {t}, {tv}) {{\n"
            f"  %o, %s, %w, %u = attn.linear %q, %k, %v log_gate(%g) delta(%beta) state(%s0)"
            f" l2norm scale({d ** -0.5}) wy(64)\n"
            f"       : ({t}, {t}, {tv}, {g}, {g}, {s}) -> ({tv}, {s}, {t}, {tv})\n"
            f"  return %o, %s, %w, %u : {tv}, {s}, {t}, {tv}\n}}\n")


def split_spec(d, elt, dv, delta):
    """A program returning split(64)'s chunk states (and with the delta
    rule wy(64)'s W, U and the corrected values) beside its outputs: checks
    the state pass's workspace against the reference's."""
    t, tv, s = (f"tensor<?x?x?x{d}x{elt}>", f"tensor<?x?x?x{dv}x{elt}>",
                f"tensor<?x?x{d}x{dv}xf32>")
    g, st = "tensor<?x?x?xf32>", f"tensor<?x?x?x{d}x{dv}x{elt}>"
    ins = f"%q: {t}, %k: {t}, %v: {tv}, %g: {g}, " + (f"%beta: {g}, " if delta else "") + f"%s0: {s}"
    types = f"{t}, {t}, {tv}, {g}, " + (f"{g}, " if delta else "") + s
    outs = [tv, s] + ([t, tv] if delta else []) + [st] + ([tv] if delta else [])
    names = ["%o", "%s"] + (["%w", "%u"] if delta else []) + ["%h"] + (["%vc"] if delta else [])
    rule = " delta(%beta)" if delta else ""
    attrs = (" l2norm" if delta else "") + f" scale({d ** -0.5})" + (" wy(64)" if delta else "")
    return (f"func.func @linear({ins}) -> ({', '.join(outs)}) {{\n"
            f"  {', '.join(names)} = attn.linear %q, %k, %v log_gate(%g){rule} state(%s0)"
            f"{attrs} split(64)\n"
            f"       : ({types}) -> ({', '.join(outs)})\n"
            f"  return {', '.join(names)} : {', '.join(outs)}\n}}\n")


SPECS = {
    "linear_decay_f32_d64": (linear_spec(64, "f32", decay=True), ""),
    "linear_gate_elu1_bf16_d64": (linear_spec(64, "bf16", gate=True, feature_map="elu1",
                                              scale=0.5), ""),
    "linear_normalized_bf16_d64": (normalized_spec(64, "bf16"), ""),
    # The normaliser on the chunk kernel (LinearChunkNormalize.cpp): with the
    # lse (hybrids' form), decays and log gates, exp and relu maps, Dv of 32
    # (one 32-column form) and 256 (four slices; the first writes the lse).
    "linear_normalized_lse_bf16_d128": (normalized_spec(128, "bf16", gates=("decay", "g"),
                                                        lse=True, scale=128 ** -0.5), ""),
    "linear_normalized_exp_f16_d128_dv32": (normalized_spec(128, "f16", dv=32, gates=("g",),
                                                            feature_map="exp"), ""),
    "linear_normalized_relu_bf16_d64_dv256": (normalized_spec(64, "bf16", dv=256, gates=(),
                                                              feature_map="relu", lse=True,
                                                              scale=0.5), ""),
    # The mma.sync form of the normaliser (sm_80, or mma=sync).
    "linear_normalized_lse_bf16_d128_sync": (normalized_spec(128, "bf16", gates=("decay", "g"),
                                                             lse=True, scale=128 ** -0.5),
                                             "mma=sync"),
    "linear_normalized_lse_bf16_d128_rec": (normalized_spec(128, "bf16", gates=("decay", "g"),
                                                            lse=True, scale=128 ** -0.5),
                                            "linear-chunk=0"),
    # split(64) with normalize (small grids): z at each chunk's start beside
    # the states (the state pass), read back by the output pass; forced
    # (linear-split=2) on wgmma and mma.sync, and the fused kernel alone.
    "linear_normalized_lse_bf16_d128_split": (normalized_spec(128, "bf16", gates=("decay", "g"),
                                                              lse=True, scale=128 ** -0.5),
                                              "linear-split=2"),
    "linear_normalized_lse_bf16_d128_syncsplit": (
        normalized_spec(128, "bf16", gates=("decay", "g"), lse=True, scale=128 ** -0.5),
        "mma=sync linear-split=2"),
    "linear_normalized_lse_bf16_d128_nosplit": (
        normalized_spec(128, "bf16", gates=("decay", "g"), lse=True, scale=128 ** -0.5),
        "linear-split=0"),
    "linear_normalized_relu_bf16_d64_dv256_split": (
        normalized_spec(64, "bf16", dv=256, gates=(), feature_map="relu", lse=True, scale=0.5),
        "linear-split=2"),
    "linear_normalized_exp_f16_d128_dv32_split": (
        normalized_spec(128, "f16", dv=32, gates=("g",), feature_map="exp"), "linear-split=2"),
    "hybrid_window_linear_bf16_d64_split": (example("hybrid_window_linear"), "linear-split=2"),
    # GLA's gates per key feature with normalize (z decays per feature): D =
    # 128 with the head decay and lse on the default forms (Hopper: split),
    # the fused mma.sync kernel, the mma.sync split; D = 64 with Dv = 256
    # (the output pass walks four slices); the recurrence.
    "linear_normalized_gla_bf16_d128": (
        normalized_spec(128, "bf16", gates=("decay", "g"), lse=True, scale=128 ** -0.5,
                        feature_gate=True), ""),
    "linear_normalized_gla_bf16_d128_syncfused": (
        normalized_spec(128, "bf16", gates=("decay", "g"), lse=True, scale=128 ** -0.5,
                        feature_gate=True), "mma=sync linear-split=0"),
    "linear_normalized_gla_bf16_d128_syncsplit": (
        normalized_spec(128, "bf16", gates=("decay", "g"), lse=True, scale=128 ** -0.5,
                        feature_gate=True), "mma=sync linear-split=2"),
    "linear_normalized_gla_bf16_d64_dv256": (
        normalized_spec(64, "bf16", dv=256, gates=("g",), feature_map="relu", lse=True,
                        scale=0.5, feature_gate=True), ""),
    "linear_normalized_gla_bf16_d128_rec": (
        normalized_spec(128, "bf16", gates=("decay", "g"), lse=True, scale=128 ** -0.5,
                        feature_gate=True), "linear-chunk=0"),
    # The same program without the normaliser on the same kernel (the fused
    # mma.sync form): what the normaliser costs.
    "linear_unnormalized_bf16_d128": (
        normalized_spec(128, "bf16", gates=("decay", "g"), scale=128 ** -0.5)
        .replace(" normalize", ""), ""),
    "linear_unnormalized_bf16_d128_syncfused": (
        normalized_spec(128, "bf16", gates=("decay", "g"), scale=128 ** -0.5)
        .replace(" normalize", ""), "mma=sync linear-split=0"),
    # The hybrid of a window's softmax and normalised linear attention, merged.
    "hybrid_window_linear_bf16_d64": (example("hybrid_window_linear"), ""),
    "linear_gdr_bf16_d64": (linear_spec(64, "bf16", log_gate=True, delta=True, l2norm=True,
                                        scale=0.125), ""),
    "linear_gdr_bf16_d128": (linear_spec(128, "bf16", log_gate=True, delta=True, l2norm=True,
                                         scale=128 ** -0.5), ""),
    "linear_loggate_bf16_d128": (linear_spec(128, "bf16", log_gate=True,
                                             scale=128 ** -0.5), ""),
    "linear_gla_bf16_d128": (linear_spec(128, "bf16", log_gate=True, feature_gate=True,
                                         scale=128 ** -0.5), ""),
    # The chunked tensor-core kernel (LinearChunkKernel.cpp) at other shapes:
    # D = 64 with Dv = 32, f16 with four 64-column value slices, no gates.
    "linear_decay_bf16_d64_dv32": (linear_spec(64, "bf16", dv=32, decay=True, scale=0.125), ""),
    "linear_gate_f16_d128_dv256": (linear_spec(128, "f16", dv=256, gate=True,
                                               scale=128 ** -0.5), ""),
    "linear_plain_bf16_d128": (linear_spec(128, "bf16", scale=128 ** -0.5), ""),
    # One form only (the default bundles carry both and the runtime picks):
    # 32 value columns per block (twice the blocks) or 64.
    "linear_loggate_bf16_d128_c32": (linear_spec(128, "bf16", log_gate=True,
                                                 scale=128 ** -0.5), "linear-columns=32"),
    "linear_plain_bf16_d128_c32": (linear_spec(128, "bf16", scale=128 ** -0.5),
                                   "linear-columns=32"),
    "linear_loggate_bf16_d128_c64": (linear_spec(128, "bf16", log_gate=True,
                                                 scale=128 ** -0.5), "linear-columns=64"),
    "linear_plain_bf16_d128_c64": (linear_spec(128, "bf16", scale=128 ** -0.5),
                                   "linear-columns=64"),
    # GLA's gates per key feature on the chunk kernel (LinearChunkGates.cpp):
    # D = 64 with the head decay and elu+1 folded in and bf16 gates, Dv = 32,
    # f16 with Dv = 256; at D = 128 both column forms and the recurrence.
    "linear_gla_bf16_d64": (linear_spec(64, "bf16", log_gate=True, feature_gate=True,
                                        scale=0.125), ""),
    "linear_gla_decay_elu1_bf16_d64_g16": (
        linear_spec(64, "bf16", decay=True, log_gate=True, feature_gate=True,
                    feature_map="elu1", scale=0.125).replace("tensor<?x?x?x64xf32>",
                                                          "tensor<?x?x?x64xbf16>"), ""),
    # D = 128: the state pass's feature slices with elu+1, bf16 gates.
    "linear_gla_decay_elu1_bf16_d128_g16": (
        linear_spec(128, "bf16", decay=True, log_gate=True, feature_gate=True,
                    feature_map="elu1", scale=128 ** -0.5).replace("tensor<?x?x?x128xf32>",
                                                                "tensor<?x?x?x128xbf16>"), ""),
    "linear_gla_bf16_d64_dv32": (linear_spec(64, "bf16", dv=32, log_gate=True,
                                             feature_gate=True, scale=0.125), ""),
    "linear_gla_f16_d128_dv256": (linear_spec(128, "f16", dv=256, log_gate=True,
                                              feature_gate=True, scale=128 ** -0.5), ""),
    "linear_gla_bf16_d128_c32": (linear_spec(128, "bf16", log_gate=True, feature_gate=True,
                                             scale=128 ** -0.5), "linear-columns=32"),
    "linear_gla_bf16_d128_c64": (linear_spec(128, "bf16", log_gate=True, feature_gate=True,
                                             scale=128 ** -0.5), "linear-columns=64"),
    "linear_gla_bf16_d128_rec": (linear_spec(128, "bf16", log_gate=True, feature_gate=True,
                                             scale=128 ** -0.5), "linear-chunk=0"),
    # The gated delta rule on the chunk kernel (LinearChunkDelta.cpp) beside
    # its token recurrence; D = 64 with Dv = 32 and f16 with Dv = 256.
    "linear_gdr_bf16_d128_rec": (linear_spec(128, "bf16", log_gate=True, delta=True,
                                             l2norm=True, scale=128 ** -0.5), "linear-chunk=0"),
    # The rule solved per chunk inside the state pass (before the WY split).
    "linear_gdr_bf16_d128_fused": (linear_spec(128, "bf16", log_gate=True, delta=True,
                                               l2norm=True, scale=128 ** -0.5), "linear-wy=0"),
    "linear_gdr_bf16_d64_dv32": (linear_spec(64, "bf16", dv=32, log_gate=True, delta=True,
                                             l2norm=True, scale=0.125), ""),
    "linear_gdr_f16_d128_dv256": (linear_spec(128, "f16", dv=256, log_gate=True, delta=True,
                                              l2norm=True, scale=128 ** -0.5), ""),
    # The WY form's W and U returned (the prep kernel checked directly).
    "linear_gdr_wy_bf16_d64": (wy_spec(64, "bf16", 64), ""),
    "linear_gdr_wy_f16_d128_dv32": (wy_spec(128, "f16", 32), ""),
    # split(64)'s chunk states (and corrected values) returned: the state
    # pass checked directly.
    "linear_split_loggate_bf16_d64": (split_spec(64, "bf16", 64, False), ""),
    "linear_split_gdr_f16_d128_dv32": (split_spec(128, "f16", 32, True), ""),
    # The token recurrence of the same program (timed beside the chunks).
    "linear_loggate_bf16_d128_rec": (linear_spec(128, "bf16", log_gate=True,
                                                 scale=128 ** -0.5), "linear-chunk=0"),
}

# The issue's four timed programs (D = Dv = 128) in each form beside the
# default bundle: the fused kernels alone (linear-split=0) and the state and
# output passes alone (linear-split=2), whatever the grid (linear_forms.py).
TIMED = ["linear_plain_bf16_d128", "linear_loggate_bf16_d128", "linear_gla_bf16_d128",
         "linear_gdr_bf16_d128"]
for _name in TIMED:
    for _suffix, _option in (("nosplit", "linear-split=0"), ("split", "linear-split=2")):
        SPECS[f"{_name}_{_suffix}"] = (SPECS[_name][0], _option)

if __name__ == "__main__":
    build_all(SPECS)
