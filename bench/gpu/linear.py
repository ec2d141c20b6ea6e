#!/usr/bin/env python3
"""On the GPU machine: attn.linear's CUDA kernel (a thread per (b, h, value
column), the state column in registers) checked against the float64
reference the bundle records, and against flash-linear-attention (fla:
the wheels fla_core is carried as, bench/gpu/wheels/) on the same inputs;
then timed against fla's chunked kernels (chunk_gated_delta_rule,
chunk_simple_gla, chunk_gla). (fla 0.6.0's fused_recurrent_gated_delta_rule hit an
illegal address at these shapes with an initial state, so it is not timed.)

Bundles: python3 bench/gpu/build_linear.py here (carry bench/gpu/bundles).
  PYTHONPATH=<runtime-only site>:<fla site> python3 bench/gpu/linear.py --out DIR
"""
import json
import os

import numpy as np
import torch

import attnir
from sparse import run_report, time_ms

HERE = os.path.dirname(os.path.abspath(__file__))
dev = "cuda"
CHECKS = ["linear_decay_f32_d64", "linear_gate_elu1_bf16_d64", "linear_normalized_bf16_d64",
          "linear_gdr_bf16_d64", "linear_gdr_bf16_d128", "linear_loggate_bf16_d128",
          "linear_gla_bf16_d128", "linear_decay_bf16_d64_dv32", "linear_gate_f16_d128_dv256",
          "linear_plain_bf16_d128", "linear_loggate_bf16_d128_rec",
          "linear_loggate_bf16_d128_c32", "linear_plain_bf16_d128_c32",
          "linear_loggate_bf16_d128_c64", "linear_plain_bf16_d128_c64",
          "linear_gla_bf16_d64", "linear_gla_decay_elu1_bf16_d64_g16", "linear_gla_bf16_d64_dv32",
          "linear_gla_decay_elu1_bf16_d128_g16",
          "linear_gla_f16_d128_dv256", "linear_gla_bf16_d128_c32", "linear_gla_bf16_d128_c64",
          "linear_gla_bf16_d128_rec", "linear_gdr_bf16_d128_rec", "linear_gdr_bf16_d64_dv32",
          "linear_gdr_f16_d128_dv256", "linear_gdr_wy_bf16_d64", "linear_gdr_wy_f16_d128_dv32",
          "linear_split_loggate_bf16_d64", "linear_split_gdr_f16_d128_dv32",
          "linear_plain_bf16_d128_nosplit", "linear_loggate_bf16_d128_nosplit",
          "linear_gla_bf16_d128_nosplit", "linear_gdr_bf16_d128_nosplit",
          "linear_gdr_bf16_d128_fused", "linear_gla_bf16_d128_split",
          "linear_plain_bf16_d128_split", "linear_normalized_lse_bf16_d128",
          "linear_normalized_exp_f16_d128_dv32", "linear_normalized_relu_bf16_d64_dv256",
          "linear_normalized_lse_bf16_d128_rec", "hybrid_window_linear_bf16_d64",
          "linear_unnormalized_bf16_d128_syncfused", "linear_normalized_lse_bf16_d128_sync",
          "linear_unnormalized_bf16_d128", "linear_normalized_lse_bf16_d128_split",
          "linear_normalized_lse_bf16_d128_syncsplit", "linear_normalized_lse_bf16_d128_nosplit",
          "linear_normalized_relu_bf16_d64_dv256_split",
          "linear_normalized_exp_f16_d128_dv32_split", "hybrid_window_linear_bf16_d64_split",
          "linear_normalized_gla_bf16_d128", "linear_normalized_gla_bf16_d128_syncfused",
          "linear_normalized_gla_bf16_d128_syncsplit", "linear_normalized_gla_bf16_d64_dv256",
          "linear_normalized_gla_bf16_d128_rec"]
# The timing shapes (B, H, N), D = Dv = 128.
SHAPES = [(16, 16, 4096), (4, 16, 16384), (1, 16, 4096)]


def load(name):
    return attnir.load(os.path.join(HERE, "bundles", name + ".bundle"))


def inputs(kern, B, H, N, seed, gate_power=1.0):
    """Random inputs by the entry's argument names (their roles).
    gate_power scales the log gates (strong gates: many tiny products)."""
    g = torch.Generator(device=dev).manual_seed(seed)
    out = []
    for a in kern.signature.inputs:
        dt = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[a.dtype]
        D = a.shape[-1]
        if a.name in ("q", "k", "v"):
            x = 0.5 * torch.randn((B, H, N, D), generator=g, device=dev)
        elif a.name == "decay":
            x = 0.5 + 0.5 * torch.rand((H,), generator=g, device=dev)
        elif a.name in ("gate", "g", "beta"):
            shape = (B, H, N) + ((D,) if len(a.shape) == 4 else ())  # GLA: per feature
            x = torch.rand(shape, generator=g, device=dev)
            x = 0.1 + 0.8 * x if a.name == "beta" else 0.5 + 0.5 * x
            if a.name == "g":
                x = gate_power * torch.log(x)
        elif a.name == "s0":
            x = 0.2 * torch.randn((B, H, a.shape[2], a.shape[3]), generator=g, device=dev)
        else:
            raise ValueError(f"no rule for input {a.name}")
        out.append(x.to(dt).contiguous())
    return out


def rel(got, ref):
    got = got.double().cpu().numpy() if torch.is_tensor(got) else np.asarray(got, np.float64)
    ref = ref.double().cpu().numpy() if torch.is_tensor(ref) else np.asarray(ref, np.float64)
    return float(np.abs(got - ref).max() / (np.abs(ref).max() or 1.0))


def check(report):
    rows = []
    only = os.environ.get("LINEAR_CHECKS")  # check these bundles (comma-separated) only
    for name in CHECKS:
        if only and name not in only.split(","):
            continue
        kern = load(name)
        shapes = [(2, 3, 77, 1.0), (1, 2, 1, 1.0), (1, 4, 300, 1.0), (1, 2, 1000, 1.0)]
        if "gla" in name or "gdr" in name or "normalized" in name:  # gates down to e^-28 per token
            shapes.append((1, 3, 517, 40.0))
        for B, H, N, power in shapes:
            args = inputs(kern, B, H, N, seed=N, gate_power=power)
            got = kern(*args)
            got = got if isinstance(got, tuple) else (got,)
            ref = kern.reference(*(a.cpu() for a in args))
            ref = ref if isinstance(ref, tuple) else (ref,)
            err = max(rel(gv, rv) for gv, rv in zip(got, ref))
            tol = 1e-4 if "f32" in name else 2e-2
            ok = err < tol and all(bool(torch.isfinite(gv).all()) for gv in got)
            shape = f"{B}x{H}x{N}" + (f" gates^{power:g}" if power != 1.0 else "")
            rows.append(dict(bundle=name, shape=shape, max_rel_err=err, ok=ok))
            print(f"check {name} {shape} err={err:.2e} {'ok' if ok else 'FAILED'}")
    rows += fla_agreement()
    report["correctness"] += rows


def fla_ops():
    try:
        from fla.ops.gated_delta_rule import chunk_gated_delta_rule
        from fla.ops.simple_gla import chunk_simple_gla
        from fla.ops.gla import chunk_gla
        from fla.ops.linear_attn import chunk_linear_attn
        return chunk_gated_delta_rule, chunk_gla, chunk_simple_gla, chunk_linear_attn
    except Exception as e:  # noqa: BLE001 - reported
        print(f"fla not available: {type(e).__name__}: {e}")
        return None


def bthd(x):
    return x.transpose(1, 2).contiguous()


def fla_agreement():
    """Ours against fla's chunked kernels on the same bf16 inputs (outputs
    and final states). LINEAR_NO_FLA=1 leaves fla out (compute-sanitizer
    runs check AttnIR's kernels only)."""
    if os.environ.get("LINEAR_NO_FLA") == "1" or os.environ.get("LINEAR_CHECKS"):
        return []
    ops = fla_ops()
    if ops is None:
        return [dict(bundle="fla", shape="-", max_rel_err=float("nan"), ok=False)]
    chunk_gdr, chunk_gla, chunk_sgla, chunk_la = ops
    rows = []
    for name, fla_fn in (("linear_gdr_bf16_d128", "gdr"), ("linear_loggate_bf16_d128", "sgla"),
                         ("linear_gla_bf16_d128", "gla"), ("linear_plain_bf16_d128", "la")):
        kern = load(name)
        for B, H, N in [(1, 4, 1000), (2, 2, 257)]:
            args = inputs(kern, B, H, N, seed=3 + N)
            o, s = kern(*args)
            q, k, v, g = (args + [None])[:4]
            if fla_fn == "la":
                fo, fs = chunk_la(bthd(q), bthd(k), bthd(v), scale=128 ** -0.5,
                                  initial_state=args[3], output_final_state=True,
                                  normalize=False)
            elif fla_fn == "gdr":
                beta, s0 = args[4], args[5]
                fo, fs = chunk_gdr(bthd(q), bthd(k), bthd(v), bthd(g.unsqueeze(-1)).squeeze(-1),
                                   bthd(beta.unsqueeze(-1)).squeeze(-1), scale=128 ** -0.5,
                                   initial_state=s0, output_final_state=True,
                                   use_qk_l2norm_in_kernel=True)
            elif fla_fn == "gla":
                s0 = args[4]
                fo, fs = chunk_gla(bthd(q), bthd(k), bthd(v), bthd(g), scale=128 ** -0.5,
                                   initial_state=s0, output_final_state=True)
            else:
                s0 = args[4]
                fo, fs = chunk_sgla(bthd(q), bthd(k), bthd(v), g=bthd(g.unsqueeze(-1)).squeeze(-1),
                                    scale=128 ** -0.5, initial_state=s0,
                                    output_final_state=True)
            err = max(rel(o, bthd(fo).float().cpu().double().numpy()),
                      rel(s, fs.float().cpu().double().numpy()))
            ok = err < 3e-2
            rows.append(dict(bundle=f"{name} vs fla", shape=f"{B}x{H}x{N}", max_rel_err=err,
                             ok=ok))
            print(f"check {name} vs fla {B}x{H}x{N} err={err:.2e} {'ok' if ok else 'FAILED'}")
    return rows


def fla_call(name, ops, args):
    """fla's chunked kernel for program `name` on the same inputs."""
    q, k, v = (bthd(x) for x in args[:3])
    s0 = args[-1]
    kw = dict(scale=128 ** -0.5, initial_state=s0, output_final_state=True)
    if name.startswith("linear_plain"):
        return lambda: ops[3](q, k, v, normalize=False, **kw)
    if name.startswith("linear_gla"):
        g = args[3].transpose(1, 2).contiguous()
        return lambda: ops[1](q, k, v, g, **kw)
    g = bthd(args[3].unsqueeze(-1)).squeeze(-1)
    if name.startswith("linear_gdr"):
        beta = bthd(args[4].unsqueeze(-1)).squeeze(-1)
        return lambda: ops[0](q, k, v, g, beta, use_qk_l2norm_in_kernel=True, **kw)
    return lambda: ops[2](q, k, v, g=g, **kw)


def timed(report, reps):
    ops = fla_ops()
    out = []
    only = os.environ.get("LINEAR_ONLY")  # time these programs (comma-separated) only
    for name in ("linear_plain_bf16_d128", "linear_plain_bf16_d128_c64",
                 "linear_plain_bf16_d128_c32", "linear_loggate_bf16_d128",
                 "linear_loggate_bf16_d128_c64", "linear_loggate_bf16_d128_c32",
                 "linear_loggate_bf16_d128_rec", "linear_gdr_bf16_d128",
                 "linear_gla_bf16_d128", "linear_gla_bf16_d128_c32",
                 "linear_gla_bf16_d128_c64", "linear_gla_bf16_d128_rec",
                 "linear_gdr_bf16_d128_rec", "linear_normalized_lse_bf16_d128",
                 "linear_normalized_lse_bf16_d128_rec",
                 "linear_unnormalized_bf16_d128_syncfused",
                 "linear_normalized_lse_bf16_d128_sync", "linear_unnormalized_bf16_d128",
                 "linear_normalized_lse_bf16_d128_split",
                 "linear_normalized_lse_bf16_d128_nosplit",
                 "linear_normalized_lse_bf16_d128_syncsplit",
                 "linear_normalized_gla_bf16_d128", "linear_normalized_gla_bf16_d128_syncfused",
                 "linear_normalized_gla_bf16_d128_syncsplit",
                 "linear_normalized_gla_bf16_d128_rec"):
        if only and name not in only.split(","):
            continue
        kern = load(name)
        for B, H, N in SHAPES:
            args = inputs(kern, B, H, N, seed=1)
            row = dict(program=name, shape=f"{B}x{H}x{N}x128",
                       attnir_ms=time_ms(lambda: kern(*args), reps))
            if ops is not None and not name.endswith("_rec") and "normalized" not in name:
                row["fla_chunk_ms"] = time_ms(fla_call(name.replace("_c32", "").replace("_c64", ""),
                                                         ops, args), reps)
                row["fla_over_attnir"] = row["fla_chunk_ms"] / row["attnir_ms"]
            out.append(row)
            print(json.dumps(row))
    report["linear"] = out


if __name__ == "__main__":
    run_report("linear.json", [check], timed)
