"""attn.linear's state in and out, log gates, l2norm and the gated delta
rule (shared/patterns.md A8), against numpy oracles written here in
flash-linear-attention's own form (S [Dv, D], S_t = e^{g_t} S_{t-1}
(I - beta_t k_t k_t^T) + beta_t v_t k_t^T, out_t = scale S_t q_t), and the
identities: a sequence split in two with the state passed on equals one
call; beta = 1, g = 0, one token stores v exactly; bad uses are errors."""
import numpy as np
import pytest

import attnir
from conftest import REPO, rand, rel_err

T = "tensor<?x?x?x64xf32>"
G = "tensor<?x?x?xf32>"
S = "tensor<?x?x64x64xf32>"


def spec(delta=False, state=False, final=False, l2=False, et="f32", scale=0.125,
         chunk_gate="log_gate"):
    t = T.replace("f32", et)
    args = [f"%q: {t}", f"%k: {t}", f"%v: {t}", f"%g: {G}"]
    types = [t, t, t, G]
    ops = f" {chunk_gate}(%g)"
    if delta:
        args.append(f"%beta: {G}")
        types.append(G)
        ops += " delta(%beta)"
    if state:
        args.append(f"%s0: {S}")
        types.append(S)
        ops += " state(%s0)"
    if l2:
        ops += " l2norm"
    res, rtypes = ["%o"], [t]
    if final:
        res.append("%s")
        rtypes.append(S)
    rt = rtypes[0] if len(rtypes) == 1 else f"({', '.join(rtypes)})"
    return (f"func.func @f({', '.join(args)}) -> {rt} {{\n"
            f"  {', '.join(res)} = attn.linear %q, %k, %v{ops} scale({scale})"
            f" : ({', '.join(types)}) -> {rt}\n"
            f"  return {', '.join(res)} : {', '.join(rtypes)}\n}}")


def l2n(x):
    return x / np.sqrt((x * x).sum(-1, keepdims=True) + 1e-6)


def fla_recurrence(q, k, v, g, beta=None, s0=None, l2=False, scale=0.125):
    """fla's fused_recurrent form: S [Dv, D] per (b, h). Returns (out, S
    as [B, H, D, Dv])."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    if l2:
        q, k = l2n(q), l2n(k)
    B, H, N, D = q.shape
    Dv = v.shape[-1]
    out = np.zeros((B, H, N, Dv))
    last = np.zeros((B, H, D, Dv))
    for b in range(B):
        for h in range(H):
            St = np.zeros((Dv, D)) if s0 is None else s0[b, h].astype(np.float64).T.copy()
            for t in range(N):
                a = np.exp(np.float64(g[b, h, t]))
                kt, vt = k[b, h, t], v[b, h, t]
                if beta is None:
                    St = a * St + np.outer(vt, kt)
                else:
                    bt = np.float64(beta[b, h, t])
                    St = a * St @ (np.eye(D) - bt * np.outer(kt, kt)) + bt * np.outer(vt, kt)
                out[b, h, t] = scale * St @ q[b, h, t]
            last[b, h] = St.T
    return out, last


def inputs(B, H, N, seed):
    rng = np.random.default_rng(seed)
    q, k, v = (rand((B, H, N, 64), seed=seed + i, scale=0.5) for i in range(3))
    g = np.log(rng.uniform(0.6, 1.0, (B, H, N))).astype(np.float32)
    beta = rng.uniform(0.1, 0.9, (B, H, N)).astype(np.float32)
    s0 = rand((B, H, 64, 64), seed=seed + 9, scale=0.2)
    return q, k, v, g, beta, s0


@pytest.mark.parametrize("N", [1, 45, 130])
def test_gated_delta_rule_is_flas_recurrence(compiled, N):
    q, k, v, g, beta, _ = inputs(2, 2, N, seed=N)
    want, _ = fla_recurrence(q, k, v, g, beta, l2=True)
    s = spec(delta=True, l2=True)
    assert rel_err(attnir.reference(s, q, k, v, g, beta), want) < 1e-12
    assert rel_err(compiled(s)(q, k, v, g, beta), want) < 1e-5
    # The example is this spec.
    ex = (REPO / "examples" / "gated_delta_rule.mlir").read_text()
    assert rel_err(compiled(ex)(q, k, v, g, beta), want) < 1e-5


@pytest.mark.parametrize("delta", [False, True])
@pytest.mark.parametrize("chunk", [1, 16, 64])
def test_state_in_and_out(compiled, delta, chunk):
    q, k, v, g, beta, s0 = inputs(1, 3, 97, seed=5 + chunk)
    s = spec(delta=delta, state=True, final=True, l2=delta)
    args = (q, k, v, g) + ((beta,) if delta else ()) + (s0,)
    want_o, want_s = fla_recurrence(q, k, v, g, beta if delta else None, s0, l2=delta)
    ref_o, ref_s = attnir.reference(s, *args)
    assert rel_err(ref_o, want_o) < 1e-12 and rel_err(ref_s, want_s) < 1e-12
    got_o, got_s = compiled(s, linear_chunk=chunk)(*args)
    assert got_s.dtype == np.float32 and got_s.shape == (1, 3, 64, 64)
    assert rel_err(got_o, want_o) < 1e-5 and rel_err(got_s, want_s) < 1e-5


@pytest.mark.parametrize("delta", [False, True])
def test_split_sequence_passes_the_state(compiled, delta):
    """Two calls, the second from the first's final state, equal one call
    (chunked prefill, streaming, context parallelism)."""
    q, k, v, g, beta, s0 = inputs(2, 2, 150, seed=11)
    kern = compiled(spec(delta=delta, state=True, final=True, l2=delta), linear_chunk=16)

    def run(lo, hi, state):
        args = [x[:, :, lo:hi].copy() for x in (q, k, v, g)]
        if delta:
            args.append(beta[:, :, lo:hi].copy())
        return kern(*args, state)
    whole_o, whole_s = run(0, 150, s0)
    o1, s1 = run(0, 61, s0)
    o2, s2 = run(61, 150, s1)
    assert rel_err(np.concatenate([o1, o2], axis=2), whole_o) < 1e-5
    assert rel_err(s2, whole_s) < 1e-5


def test_delta_rule_stores_v_exactly():
    """beta = 1, g = 0, one unit key: S = k v^T, so out = (q . k) v."""
    q = np.zeros((1, 1, 1, 64), np.float32)
    k = np.zeros((1, 1, 1, 64), np.float32)
    q[..., 3] = 2.0
    k[..., 3] = 1.0
    v = rand((1, 1, 1, 64), seed=2)
    g = np.zeros((1, 1, 1), np.float32)
    beta = np.ones((1, 1, 1), np.float32)
    out = attnir.compile(spec(delta=True, scale=1.0))(q, k, v, g, beta)
    np.testing.assert_allclose(out, 2.0 * v, rtol=1e-6)


def test_multiplicative_and_log_gates_agree(compiled):
    q, k, v, g, _, _ = inputs(1, 2, 70, seed=3)
    a = compiled(spec())(q, k, v, g)
    b = compiled(spec(chunk_gate="gate"))(q, k, v, np.exp(g).astype(np.float32))
    assert rel_err(a, b) < 1e-5


def test_bf16_inputs_keep_an_f32_state(compiled):
    import ml_dtypes
    q, k, v, g, beta, s0 = inputs(1, 2, 40, seed=4)
    qb, kb, vb = (x.astype(ml_dtypes.bfloat16) for x in (q, k, v))
    s = spec(delta=True, state=True, final=True, l2=True, et="bf16")
    want_o, want_s = fla_recurrence(qb.astype(np.float32), kb.astype(np.float32),
                                    vb.astype(np.float32), g, beta, s0, l2=True)
    o, st = compiled(s)(qb, kb, vb, g, beta, s0)
    assert st.dtype == np.float32
    assert rel_err(o.astype(np.float32), want_o) < 2e-2
    assert rel_err(st, want_s) < 1e-5


@pytest.mark.parametrize("bad,why", [
    ("normalize", "normalize"),
    ("state_shape", "must be [B, H, D, Dv]"),
    ("beta_shape", "must be [B, H, N]"),
])
def test_bad_uses_are_errors(native, bad, why):
    s = spec(delta=True, state=True, final=True)
    if bad == "normalize":
        s = s.replace(" scale(", " normalize scale(")
    elif bad == "state_shape":
        s = s.replace(S, "tensor<?x?x64x32xf32>")
    else:
        s = s.replace(f"%beta: {G}", "%beta: tensor<?x?xf32>").replace(
            f"{G}, {G}, {S}", f"{G}, tensor<?x?xf32>, {S}")
    with pytest.raises(attnir.CompileError, match=why.replace("[", r"\[").replace("]", r"\]")):
        attnir.compile(s, cache=False)


def gla_spec(state=False, normalize=False, fmap=None):
    t4 = T
    args = [f"%q: {T}", f"%k: {T}", f"%v: {T}", f"%g: {t4}"]
    types = [T, T, T, t4]
    ops = " log_gate(%g)"
    res, rtypes = ["%o"], [T]
    if state:
        args.append(f"%s0: {S}")
        types.append(S)
        ops += " state(%s0)"
        res.append("%s")
        rtypes.append(S)
    if fmap:
        ops += f" feature_map({fmap})"
    if normalize:
        ops += " normalize"
    rt = rtypes[0] if len(rtypes) == 1 else f"({', '.join(rtypes)})"
    return (f"func.func @f({', '.join(args)}) -> {rt} {{\n"
            f"  {', '.join(res)} = attn.linear %q, %k, %v{ops} scale(0.125)"
            f" : ({', '.join(types)}) -> {rt}\n"
            f"  return {', '.join(res)} : {', '.join(rtypes)}\n}}")


def gla_recurrence(q, k, v, g, s0=None, scale=0.125, normalize=False, phi=None):
    """fla's chunk_gla semantics, token by token: S [D, Dv],
    S = diag(e^{g_t}) S + k_t v_t^T, out = scale q_t^T S."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    if phi is not None:
        q, k = phi(q), phi(k)
    B, H, N, D = q.shape
    out = np.zeros(v.shape)
    last = np.zeros((B, H, D, v.shape[-1]))
    for b in range(B):
        for h in range(H):
            St = np.zeros((D, v.shape[-1])) if s0 is None else s0[b, h].astype(np.float64)
            z = np.zeros(D)
            for t in range(N):
                a = np.exp(g[b, h, t].astype(np.float64))
                St = a[:, None] * St + np.outer(k[b, h, t], v[b, h, t])
                z = a * z + k[b, h, t]
                o = scale * q[b, h, t] @ St
                if normalize:
                    den = q[b, h, t] @ z
                    o = o / den if den != 0 else 0 * o
                out[b, h, t] = o
            last[b, h] = St
    return out, last


@pytest.mark.parametrize("N", [1, 70, 129])
def test_gla_per_feature_gates(compiled, N):
    q, k, v, _, _, s0 = inputs(2, 2, N, seed=N + 40)
    g = np.log(np.random.default_rng(N).uniform(0.6, 1.0, (2, 2, N, 64))).astype(np.float32)
    want_o, want_s = gla_recurrence(q, k, v, g, s0)
    s = gla_spec(state=True)
    ref_o, ref_s = attnir.reference(s, q, k, v, g, s0)
    assert rel_err(ref_o, want_o) < 1e-12 and rel_err(ref_s, want_s) < 1e-12
    got_o, got_s = compiled(s)(q, k, v, g, s0)
    assert rel_err(got_o, want_o) < 1e-5 and rel_err(got_s, want_s) < 1e-5
    ex = (REPO / "examples" / "gla.mlir").read_text()
    assert rel_err(compiled(ex)(q, k, v, g), gla_recurrence(q, k, v, g)[0]) < 1e-5


def test_gla_normalised_with_a_positive_map(compiled):
    q, k, v, _, _, _ = inputs(1, 2, 60, seed=2)
    g = np.log(np.random.default_rng(0).uniform(0.6, 1.0, (1, 2, 60, 64))).astype(np.float32)
    elu1 = lambda x: np.where(x > 0, x + 1, np.exp(x))  # noqa: E731
    want, _ = gla_recurrence(q, k, v, g, normalize=True, phi=elu1)
    got = compiled(gla_spec(normalize=True, fmap="elu1"))(q, k, v, g)
    assert rel_err(got, want) < 1e-5


def test_equal_feature_gates_are_a_token_gate(compiled):
    q, k, v, g, _, _ = inputs(1, 2, 90, seed=8)
    per_feature = np.repeat(g[..., None], 64, axis=-1)
    a = compiled(gla_spec())(q, k, v, per_feature)
    b = compiled(spec())(q, k, v, g)  # chunked path, per-token log gate
    assert rel_err(a, b) < 1e-5


def test_delta_rule_with_feature_gates_is_an_error(native):
    s = spec(delta=True).replace(f"%g: {G}", f"%g: {T}").replace(f"{T}, {G}, {G}", f"{T}, {T}, {G}")
    with pytest.raises(attnir.CompileError, match="per-token gates"):
        attnir.compile(s, cache=False)
