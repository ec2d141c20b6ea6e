"""attn.linear (shared/patterns.md A8), identity 4: the chunked CPU
lowering (chunk sizes 1, 16, 64) equals the token recurrence (numpy,
written here) and the quadratic masked form (Q K^T * Gamma) V, for ragged
N, every feature map, per-head decays, per-token gates and the normalised
variant; and the float64 reference equals both."""
import pathlib

import numpy as np
import pytest

import attnir
from conftest import rand, rel_err

T = "tensor<?x?x?x64xf32>"


def spec(decay=False, gate=False, fmap=None, normalize=False, scale=None):
    args = [f"%q: {T}", f"%k: {T}", f"%v: {T}"]
    ops, types = "", [T, T, T]
    if decay:
        args.append("%d: tensor<?xf32>")
        ops += " decay(%d)"
        types.append("tensor<?xf32>")
    if gate:
        args.append("%g: tensor<?x?x?xf32>")
        ops += " gate(%g)"
        types.append("tensor<?x?x?xf32>")
    if fmap:
        ops += f" feature_map({fmap})"
    if normalize:
        ops += " normalize"
    if scale:
        ops += f" scale({scale})"
    return (f"func.func @f({', '.join(args)}) -> {T} {{\n"
            f"  %o = attn.linear %q, %k, %v{ops} : ({', '.join(types)}) -> {T}\n"
            f"  return %o : {T}\n}}")


PHI = {None: lambda x: x, "elu1": lambda x: np.where(x > 0, x + 1, np.exp(x)),
       "relu": lambda x: np.maximum(x, 0), "exp": np.exp}


def gammas(B, H, N, decay, gate):
    g = np.ones((B, H, N))
    if decay is not None:
        g = g * np.asarray(decay, np.float64)[None, :, None]
    if gate is not None:
        g = g * np.asarray(gate, np.float64)
    return g


def mapped(q, k, v, fmap):
    """phi(q), phi(k), v in float64."""
    phi = PHI[fmap]
    return phi(q.astype(np.float64)), phi(k.astype(np.float64)), v.astype(np.float64)


def token_loop(q, k, v, g, fmap=None, normalize=False, scale=1.0):
    """The recurrence, token by token."""
    q, k, v = mapped(q, k, v, fmap)
    B, H, N, D = q.shape
    out = np.zeros(v.shape)
    for b in range(B):
        for h in range(H):
            S, z = np.zeros((D, v.shape[3])), np.zeros(D)
            for t in range(N):
                S = g[b, h, t] * S + np.outer(k[b, h, t], v[b, h, t])
                z = g[b, h, t] * z + k[b, h, t]
                o = q[b, h, t] @ S
                if normalize:
                    den = q[b, h, t] @ z
                    o = o / den if den != 0 else 0 * o
                out[b, h, t] = scale * o
    return out


def quadratic(q, k, v, g, fmap=None):
    """(phi(Q) phi(K)^T * Gamma) V with Gamma_ts = g_{s+1} ... g_t (s <= t)."""
    q, k, v = mapped(q, k, v, fmap)
    B, H, N, _ = q.shape
    out = np.zeros(v.shape)
    for b in range(B):
        for h in range(H):
            cum = np.concatenate([[0.0], np.cumsum(np.log(g[b, h]))])
            # Gamma_ts = exp(cum[t+1] - cum[s+1]) for s <= t.
            G = np.exp(cum[1:, None] - cum[None, 1:]) * np.tri(N)
            out[b, h] = ((q[b, h] @ k[b, h].T) * G) @ v[b, h]
    return out


def inputs(B, H, N, seed, scale=0.3):
    rng = np.random.default_rng(seed)
    q, k, v = (rand((B, H, N, 64), seed=seed + i, scale=scale) for i in range(3))
    decay = rng.uniform(0.5, 1.0, H).astype(np.float32)
    gate = rng.uniform(0.7, 1.0, (B, H, N)).astype(np.float32)
    return q, k, v, decay, gate


@pytest.mark.parametrize("chunk", [1, 16, 64])
@pytest.mark.parametrize("N", [1, 77, 130])
def test_chunked_is_the_recurrence_and_the_quadratic_form(compiled, chunk, N):
    q, k, v, decay, _ = inputs(2, 3, N, seed=N + chunk)
    g = gammas(2, 3, N, decay, None)
    want = token_loop(q, k, v, g)
    assert rel_err(quadratic(q, k, v, g), want) < 1e-12
    assert rel_err(attnir.reference(spec(decay=True), q, k, v, decay), want) < 1e-12
    kern = compiled(spec(decay=True), linear_chunk=chunk)
    assert rel_err(kern(q, k, v, decay), want) < 1e-5


@pytest.mark.parametrize("fmap", [None, "elu1", "relu", "exp"])
def test_feature_maps_gates_and_normalisation(compiled, fmap):
    q, k, v, decay, gate = inputs(1, 2, 100, seed=7)
    g = gammas(1, 2, 100, decay, gate)
    # Normalising needs a positive map: with identity phi(q) . z can be
    # near 0 and the quotient is ill-conditioned (not a kernel property).
    for normalize in (False, True) if fmap else (False,):
        s = spec(decay=True, gate=True, fmap=fmap, normalize=normalize, scale=0.5)
        want = token_loop(q, k, v, g, fmap, normalize, 0.5)
        if not normalize:
            assert rel_err(0.5 * quadratic(q, k, v, g, fmap), want) < 1e-12
        assert rel_err(attnir.reference(s, q, k, v, decay, gate), want) < 1e-12
        got = compiled(s, linear_chunk=16)(q, k, v, decay, gate)
        assert rel_err(got, want) < 1e-5


def test_zero_gates_cut_the_past(compiled):
    """A gate of 0 forgets everything before it: exact in the chunked form
    (products accumulated backwards, no logarithms)."""
    q, k, v, _, gate = inputs(1, 1, 50, seed=3)
    gate[0, 0, 20] = 0.0
    g = gammas(1, 1, 50, None, gate)
    want = token_loop(q, k, v, g)
    got = compiled(spec(gate=True), linear_chunk=16)(q, k, v, gate)
    assert np.all(np.isfinite(got))
    assert rel_err(got, want) < 1e-5


def lse_spec():
    return (f"func.func @f(%q: {T}, %k: {T}, %v: {T}) -> ({T}, tensor<?x?x?xf32>) {{\n"
            f"  %o, %l = attn.linear %q, %k, %v feature_map(elu1) normalize scale(0.5)\n"
            f"       : ({T}, {T}, {T}) -> ({T}, tensor<?x?x?xf32>)\n"
            f"  return %o, %l : {T}, tensor<?x?x?xf32>\n}}")


@pytest.mark.parametrize("chunk", [1, 16, 64])
def test_normalized_branch_returns_its_lse(compiled, chunk):
    """With normalize the second result is log phi(q_t)^T z_t."""
    q, k, v, _, _ = inputs(2, 3, 77, seed=chunk)
    g = gammas(2, 3, 77, None, None)
    want_o = token_loop(q, k, v, g, "elu1", True, 0.5)
    qf, kf = PHI["elu1"](q.astype(np.float64)), PHI["elu1"](k.astype(np.float64))
    want_l = np.log(np.einsum("bhtd,bhtd->bht", qf, np.cumsum(kf, axis=2)))
    ref_o, ref_l = attnir.reference(lse_spec(), q, k, v)
    assert rel_err(ref_o, want_o) < 1e-12 and rel_err(ref_l, want_l) < 1e-12
    got_o, got_l = compiled(lse_spec(), linear_chunk=chunk)(q, k, v)
    assert rel_err(got_o, want_o) < 1e-5 and rel_err(got_l, want_l) < 1e-5


HYBRID = (pathlib.Path(__file__).resolve().parents[2] / "examples" /
          "hybrid_window_linear.mlir").read_text()


@pytest.mark.parametrize("N", [1, 77, 300])
def test_hybrid_window_linear(compiled, N):
    """The window's softmax terms and the linear terms over the whole past,
    in one normalisation (numpy, written here)."""
    q, k, v, _, _ = inputs(2, 2, N, seed=N)
    q64, k64, v64 = (x.astype(np.float64) for x in (q, k, v))
    qf, kf = PHI["elu1"](q64), PHI["elu1"](k64)
    t, j = np.arange(N)[:, None], np.arange(N)[None, :]
    E = np.exp(np.einsum("bhtd,bhjd->bhtj", q64, k64) / 8.0) * ((j <= t) & (j >= t - 255))
    L = np.einsum("bhtd,bhjd->bhtj", qf, kf) * (j <= t)
    want = np.einsum("bhtj,bhjd->bhtd", E + L, v64) / (E + L).sum(-1)[..., None]
    assert rel_err(attnir.reference(HYBRID, q, k, v), want) < 1e-12
    assert rel_err(compiled(HYBRID, linear_chunk=16)(q, k, v), want) < 1e-5


TITANS = (pathlib.Path(__file__).resolve().parents[2] / "examples" /
          "titans_memory.mlir").read_text()


def titans_oracle(q, k, v, alpha, theta, eta):
    """Titans' memory as gradient descent with momentum on |M k - v|^2,
    M [Dv, D] (the transpose of the op's S), float64."""
    q, k, v, alpha, theta, eta = (x.astype(np.float64) for x in (q, k, v, alpha, theta, eta))
    q = q / np.sqrt((q * q).sum(-1, keepdims=True) + 1e-6)
    k = k / np.sqrt((k * k).sum(-1, keepdims=True) + 1e-6)
    B, H, N, D = q.shape
    out = np.zeros(v.shape)
    for b in range(B):
        for h in range(H):
            M, Mom = np.zeros((v.shape[3], D)), np.zeros((v.shape[3], D))
            for t in range(N):
                grad = np.outer(M @ k[b, h, t] - v[b, h, t], k[b, h, t])
                Mom = eta[b, h, t] * Mom - theta[b, h, t] * grad
                M = (1 - alpha[b, h, t]) * M + Mom
                out[b, h, t] = M @ q[b, h, t]
    return out


def titans_gates(B, H, N, seed):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0.0, 0.5, (B, H, N)).astype(np.float32),
            rng.uniform(0.1, 0.9, (B, H, N)).astype(np.float32),
            rng.uniform(0.5, 1.0, (B, H, N)).astype(np.float32))


@pytest.mark.parametrize("N", [1, 77, 200])
def test_titans_memory(compiled, N):
    q, k, v, _, _ = inputs(2, 3, N, seed=N)
    alpha, theta, eta = titans_gates(2, 3, N, seed=N)
    want = titans_oracle(q, k, v, alpha, theta, eta)
    assert rel_err(attnir.reference(TITANS, q, k, v, alpha, theta, eta), want) < 1e-12
    assert rel_err(compiled(TITANS)(q, k, v, alpha, theta, eta), want) < 1e-5


def test_titans_without_momentum_is_the_delta_rule(compiled):
    """eta = 0, alpha = 0: S = (I - theta k k^T) S + theta k v^T, the delta
    rule with beta = theta."""
    q, k, v, _, _ = inputs(1, 2, 150, seed=11)
    _, theta, _ = titans_gates(1, 2, 150, seed=11)
    zero = np.zeros_like(theta)
    delta = (f"func.func @f(%q: {T}, %k: {T}, %v: {T}, %b: tensor<?x?x?xf32>) -> {T} {{\n"
             f"  %o = attn.linear %q, %k, %v delta(%b) l2norm\n"
             f"       : ({T}, {T}, {T}, tensor<?x?x?xf32>) -> {T}\n"
             f"  return %o : {T}\n}}")
    got = compiled(TITANS)(q, k, v, zero, theta, zero)
    assert rel_err(got, compiled(delta)(q, k, v, theta)) < 1e-5


def wy_spec(chunk):
    g = "tensor<?x?x?xf32>"
    return (f"func.func @f(%q: {T}, %k: {T}, %v: {T}, %g: {g}, %b: {g})"
            f" -> ({T}, {T}, {T}) {{\n"
            f"  %o, %w, %u = attn.linear %q, %k, %v log_gate(%g) delta(%b) wy({chunk})\n"
            f"       : ({T}, {T}, {T}, {g}, {g}) -> ({T}, {T}, {T})\n"
            f"  return %o, %w, %u : {T}, {T}, {T}\n}}")


@pytest.mark.parametrize("chunk,N", [(16, 37), (64, 150), (1, 5)])
def test_wy_form_gives_the_delta_rules_values(native, chunk, N):
    """wy(C) (the CUDA kernels' workspace, filled by the reference): per
    chunk, the delta rule's corrected values u_t = beta_t (v_t - gamma_t
    S_{t-1}^T k_t) of a numpy token loop equal U - W S for the state S at
    the chunk's start; ragged last chunks included. The output is the
    plain rule's."""
    if not native.has_compiler():
        pytest.skip("the reference reads spec text in compiler builds only")
    q, k, v, _, _ = inputs(1, 2, N, seed=5)
    # |k| < 1, where the rule is a contraction (its values stay O(1)).
    k = (k / (1.1 * np.linalg.norm(k, axis=-1, keepdims=True))).astype(np.float32)
    rng = np.random.default_rng(5)
    g = np.log(rng.uniform(0.5, 1.0, (1, 2, N))).astype(np.float32)
    beta = rng.uniform(0.1, 0.9, (1, 2, N)).astype(np.float32)
    o, W, U = attnir.reference(wy_spec(chunk), q, k, v, g, beta)
    k64, v64 = k.astype(np.float64), v.astype(np.float64)
    for h in range(2):
        S = np.zeros((64, 64))
        for t in range(N):
            if t % chunk == 0:
                c = slice(t, min(t + chunk, N))
                want_start = U[0, h, c] - W[0, h, c] @ S
            gamma = np.exp(np.float64(g[0, h, t]))
            u = beta[0, h, t] * (v64[0, h, t] - gamma * S.T @ k64[0, h, t])
            assert np.abs(u - want_start[t % chunk]).max() < 1e-9 * max(1.0, np.abs(u).max())
            S = gamma * S + np.outer(k64[0, h, t], u)
    plain = wy_spec(chunk).replace(f" wy({chunk})", "").replace(
        f"-> ({T}, {T}, {T}) {{", f"-> {T} {{").replace(
        f"%o, %w, %u = ", "%o = ").replace(
        f"-> ({T}, {T}, {T})\n", f"-> {T}\n").replace(
        f"return %o, %w, %u : {T}, {T}, {T}", f"return %o : {T}")
    assert rel_err(o, attnir.reference(plain, q, k, v, g, beta)) < 1e-12


@pytest.mark.parametrize("chunk,N", [(16, 37), (64, 150)])
def test_split_normalized_gives_chunk_normalizers(native, chunk, N):
    """split(C) with normalize: beside the chunk states, z (the decayed sum
    of phi(k)) at each chunk's start, [B, H, chunks, D] f32, as a numpy
    token loop has it; out and lse are the unsplit program's."""
    if not native.has_compiler():
        pytest.skip("the reference reads spec text in compiler builds only")
    q, k, v, _, _ = inputs(1, 2, N, seed=11)
    g = np.log(np.random.default_rng(11).uniform(0.5, 1.0, (1, 2, N))).astype(np.float32)
    gt, st, zt, lt = "tensor<?x?x?xf32>", "tensor<?x?x?x64x64xf32>", "tensor<?x?x?x64xf32>", \
        "tensor<?x?x?xf32>"
    def spec(split):
        outs = [T, lt] + ([st, zt] if split else [])
        names = ["%o", "%l"] + (["%h", "%z"] if split else [])
        rule = f" split({chunk})" if split else ""
        return (f"func.func @f(%q: {T}, %k: {T}, %v: {T}, %g: {gt}) -> ({', '.join(outs)}) {{\n"
                f"  {', '.join(names)} = attn.linear %q, %k, %v log_gate(%g) feature_map(elu1)"
                f" normalize{rule}\n"
                f"       : ({T}, {T}, {T}, {gt}) -> ({', '.join(outs)})\n"
                f"  return {', '.join(names)} : {', '.join(outs)}\n}}")
    got = attnir.reference(spec(True), q, k, v, g)
    z_states = got[3]
    assert z_states.shape == (1, 2, -(-N // chunk), 64)
    kf = PHI["elu1"](k.astype(np.float64))
    for h in range(2):
        z = np.zeros(64)
        for t in range(N):
            if t % chunk == 0:
                assert np.abs(z_states[0, h, t // chunk] - z).max() <= 1e-12 * max(1.0, np.abs(z).max())
            z = np.exp(np.float64(g[0, h, t])) * z + kf[0, h, t]
    unsplit = attnir.reference(spec(False), q, k, v, g)
    assert rel_err(got[0], unsplit[0]) < 1e-12 and rel_err(got[1], unsplit[1]) < 1e-12


def split_spec(chunk, delta, split=True):
    """Log-gated linear attention (with the delta rule: in its WY form)
    returning split(chunk)'s chunk states (and corrected values); with
    split=False the same rule unsplit, its output alone."""
    g = "tensor<?x?x?xf32>"
    st = "tensor<?x?x?x64x64xf32>"
    ins = f"%q: {T}, %k: {T}, %v: {T}, %g: {g}" + (f", %b: {g}" if delta else "")
    types = f"{T}, {T}, {T}, {g}" + (f", {g}" if delta else "")
    outs, names, rule = [T], ["%o"], " delta(%b)" if delta else ""
    if split:
        outs += ([T, T] if delta else []) + [st] + ([T] if delta else [])
        names += (["%w", "%u"] if delta else []) + ["%h"] + (["%vc"] if delta else [])
        rule += (f" wy({chunk})" if delta else "") + f" split({chunk})"
    return (f"func.func @f({ins}) -> ({', '.join(outs)}) {{\n"
            f"  {', '.join(names)} = attn.linear %q, %k, %v log_gate(%g){rule}\n"
            f"       : ({types}) -> ({', '.join(outs)})\n"
            f"  return {', '.join(names)} : {', '.join(outs)}\n}}")


@pytest.mark.parametrize("delta", [False, True])
@pytest.mark.parametrize("chunk,N", [(16, 37), (64, 150), (1, 5)])
def test_split_gives_chunk_states_and_corrected_values(native, chunk, N, delta):
    """split(C) (the CUDA state pass's workspace, filled by the reference):
    the state of a numpy token loop at each chunk's start, ragged last chunk
    included, and with the delta rule its corrected values u_t; the output
    is the unsplit program's."""
    if not native.has_compiler():
        pytest.skip("the reference reads spec text in compiler builds only")
    q, k, v, _, _ = inputs(1, 2, N, seed=7)
    k = (k / (1.1 * np.linalg.norm(k, axis=-1, keepdims=True))).astype(np.float32)
    rng = np.random.default_rng(7)
    g = np.log(rng.uniform(0.5, 1.0, (1, 2, N))).astype(np.float32)
    beta = rng.uniform(0.1, 0.9, (1, 2, N)).astype(np.float32)
    args = (q, k, v, g) + ((beta,) if delta else ())
    got = attnir.reference(split_spec(chunk, delta), *args)
    states, corrected = (got[3], got[4]) if delta else (got[1], None)
    chunks = -(-N // chunk)
    assert states.shape == (1, 2, chunks, 64, 64)
    k64, v64 = k.astype(np.float64), v.astype(np.float64)
    for h in range(2):
        S = np.zeros((64, 64))
        for t in range(N):
            if t % chunk == 0:
                assert np.abs(states[0, h, t // chunk] - S).max() < 1e-12 * max(1.0, np.abs(S).max())
            gamma = np.exp(np.float64(g[0, h, t]))
            u = v64[0, h, t]
            if delta:
                u = beta[0, h, t] * (u - gamma * S.T @ k64[0, h, t])
                assert np.abs(corrected[0, h, t] - u).max() < 1e-12 * max(1.0, np.abs(u).max())
            S = gamma * S + np.outer(k64[0, h, t], u)
    unsplit = attnir.reference(split_spec(chunk, delta, split=False), *args)
    assert rel_err(got[0], unsplit[0] if isinstance(unsplit, tuple) else unsplit) < 1e-12
