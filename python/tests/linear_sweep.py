"""Property sweeps of attn.linear: random valid recurrences, compiled and
checked against the reference.

The recurrent family's tests fix one option set each (test_linear.py,
test_linear_state.py); here each case draws a combination:
- the form: decayed linear attention, the (gated) delta rule, or Titans'
  momentum (alone, as the verifier asks);
- gamma's sources, any subset: decay [H], gate [B, H, N], log_gate per
  token [B, H, N] or per key feature [B, H, N, D] (GLA; not with delta);
- feature_map (none, identity, elu1, relu, exp), l2norm (always with the
  delta rule and momentum, whose recurrences are stable only for |k| <= 1),
  scale, normalize (with the positive maps elu1 and exp: with others
  phi(q) . z can be near 0 and the quotient ill-conditioned) and its lse,
  or an initial state and the final state;
- ragged N from 1, B 1-2, H 1-3, D 32-128 and Dv 32-128 independently,
  f32 or f16 (gates, decays and states stay f32).
The compiled kernel (the CPU's chunked form, at a random chunk size, or the
token walk) is checked against attnir.reference (the op's float64
recurrence) at the dtype's tolerance, every result.

python/tests/test_sweep.py runs a fixed seed in CI; `python3
linear_sweep.py --seed S --cases N` prints every failure with its spec.
"""
import sys

import numpy as np

import sweep
from sweep import NP_DTYPE, TOL, rel


def random_linear(rng):
    c = sweep.random_heads(rng)
    c["H"] = c.pop("Hq")
    c.pop("Hkv")
    c["Dv"] = int(rng.choice([32, 64, 128]))
    c["N"] = int(rng.choice([1, rng.integers(1, 40), rng.integers(40, 300)]))
    c["form"] = str(rng.choice(["plain", "plain", "plain", "delta", "delta", "momentum"]))
    plain = c["form"] != "momentum"
    c["decay"] = plain and bool(rng.random() < 0.4)
    c["gate"] = plain and bool(rng.random() < 0.3)
    lg = str(rng.choice(["none", "none", "token", "feature"])) if plain else "none"
    c["log_gate"] = "token" if lg == "feature" and c["form"] == "delta" else lg
    c["fmap"] = str(rng.choice(["none", "identity", "elu1", "relu", "exp"]))
    c["normalize"] = c["form"] == "plain" and c["fmap"] in ("elu1", "exp") and bool(
        rng.random() < 0.5)
    c["lse"] = c["normalize"] and bool(rng.random() < 0.5)
    c["state"] = plain and not c["normalize"] and bool(rng.random() < 0.3)
    c["l2norm"] = c["form"] != "plain" or bool(rng.random() < 0.3)
    c["scale"] = float(rng.choice([0.125, 1.0])) if rng.random() < 0.4 else None
    # The CPU's chunk (linear-chunk): the default, the token walk's 1, others.
    c["chunk"] = int(rng.choice([0, 1, 16, 64, rng.integers(2, 100)]))
    return c


def operands(c):
    """(name, type, op text) of each operand after q, k, v."""
    g3, d = "tensor<?x?x?xf32>", c["D"]
    out = []
    if c["decay"]:
        out.append(("decay", "tensor<?xf32>", "decay(%decay)"))
    if c["gate"]:
        out.append(("gate", g3, "gate(%gate)"))
    if c["log_gate"] != "none":
        t = g3 if c["log_gate"] == "token" else f"tensor<?x?x?x{d}xf32>"
        out.append(("log_gate", t, "log_gate(%log_gate)"))
    if c["form"] == "delta":
        out.append(("beta", g3, "delta(%beta)"))
    if c["form"] == "momentum":
        out += [("alpha", g3, None), ("theta", g3, None), ("eta", g3, None)]
    if c["state"]:
        out.append(("s0", f"tensor<?x?x{d}x{c['Dv']}xf32>", "state(%s0)"))
    return out


def linear_spec(c):
    dt = c["dtype"]
    tq, tv = f"tensor<?x?x?x{c['D']}x{dt}>", f"tensor<?x?x?x{c['Dv']}x{dt}>"
    ops = operands(c)
    args = [f"%q: {tq}", f"%k: {tq}", f"%v: {tv}"] + [f"%{n}: {t}" for n, t, _ in ops]
    types = [tq, tq, tv] + [t for _, t, _ in ops]
    opts = "".join(f" {o}" for _, _, o in ops if o)
    if c["form"] == "momentum":
        opts += " momentum(%alpha, %theta, %eta)"
    if c["fmap"] != "none":
        opts += f" feature_map({c['fmap']})"
    if c["l2norm"]:
        opts += " l2norm"
    if c["normalize"]:
        opts += " normalize"
    if c["scale"] is not None:
        opts += f" scale({c['scale']})"
    results = [tv]
    if c["lse"]:
        results.append("tensor<?x?x?xf32>")
    if c["state"]:
        results.append(f"tensor<?x?x{c['D']}x{c['Dv']}xf32>")
    names = ["%o", "%r"][:len(results)]
    rt = f"({', '.join(results)})" if len(results) > 1 else results[0]
    return (f"func.func @f({', '.join(args)}) -> {rt} {{\n"
            f"  {', '.join(names)} = attn.linear %q, %k, %v{opts}\n"
            f"      : ({', '.join(types)}) -> {rt}\n"
            f"  return {', '.join(names)} : {', '.join(results)}\n}}\n")


def linear_inputs(c, rng):
    B, H, N, D, Dv = c["B"], c["H"], c["N"], c["D"], c["Dv"]
    dt = NP_DTYPE[c["dtype"]]
    arrs = [(0.3 * rng.standard_normal(s)).astype(dt)
            for s in ((B, H, N, D), (B, H, N, D), (B, H, N, Dv))]
    u = lambda lo, hi, s: rng.uniform(lo, hi, s).astype(np.float32)  # noqa: E731
    for name, _, _ in operands(c):
        arrs.append({
            "decay": lambda: u(0.5, 1.0, (H,)),
            "gate": lambda: u(0.7, 1.0, (B, H, N)),
            "log_gate": lambda: np.log(u(0.7, 1.0, (B, H, N) if c["log_gate"] == "token"
                                         else (B, H, N, D))).astype(np.float32),
            "beta": lambda: u(0.1, 0.9, (B, H, N)),
            "alpha": lambda: u(0.0, 0.5, (B, H, N)),
            "theta": lambda: u(0.1, 0.9, (B, H, N)),
            "eta": lambda: u(0.5, 1.0, (B, H, N)),
            "s0": lambda: (0.3 * rng.standard_normal((B, H, D, Dv))).astype(np.float32),
        }[name]())
    return arrs


def check_linear(c, rng, reference_case=None):
    """None when the case holds, else a message with the spec (see
    sweep.check_family)."""
    def judge(got, want, _):
        errs = [rel(g, w) for g, w in zip(got, want)]
        tol = TOL[c["dtype"]]
        if len(got) != len(want) or max(errs) > tol:
            shapes = {k: c[k] for k in ("B", "H", "N", "D", "Dv", "chunk")}
            return (f"kernel vs reference {', '.join(f'{e:.2e}' for e in errs)} "
                    f"(tol {tol:.0e}), shapes {shapes}")
        return None
    opts = {"linear_chunk": c["chunk"]} if c["chunk"] else {}
    return sweep.check_family(c, rng, linear_spec, linear_inputs, judge, reference_case, **opts)


def run(seed, cases, out=sys.stdout):
    return sweep.run(seed, cases, out, random_linear, check_linear)


if __name__ == "__main__":
    sweep.main("linear sweep", run)
