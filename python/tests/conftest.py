"""Shared fixtures. Tests that need the compiled extension use the `native`
fixture (skipped, with the import error as reason, when it is missing), so the
pure-Python parts (reference, patterns, spec reader, cache keys) are testable
without a build: PYTHONPATH=python pytest python/tests. ATTNIR_REQUIRE_EXT=1
turns those skips into failures (for CI, where the package is installed)."""
import os
import re
import pathlib

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES_ALL = sorted((REPO / "examples").glob("*.mlir"))
#: the examples on (q, k, v) alone whose attention reads them as they are;
#: those with more operands (block lists, document ids) or attention over
#: pooled keys (segment_pool_cross) have tests of their own. Selection
#: programs are here: at these tests' short lengths they keep every legal
#: block, so they equal their mask (test_select.py checks real selections);
#: token-level selections (block_size(1, 1)) keep 64 of up to 200 keys even
#: there, so test_token_select.py checks them against their oracles.
EXAMPLES = [p for p in EXAMPLES_ALL
            if len(re.findall(r"%\w+: tensor<", p.read_text().split("{")[0])) == 3
            and "attn.attention %q, %k, %v" in p.read_text()
            and "block_size(1, 1)" not in p.read_text()
            and "_rule" not in p.read_text()]  # rule regions: test_rules.py


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """Every test compiles into a fresh cache of its session unless it sets
    its own (never the user's ~/.cache)."""
    old = {k: os.environ.get(k) for k in ("ATTNIR_CACHE_DIR", "ATTNIR_CACHE")}
    os.environ["ATTNIR_CACHE_DIR"] = str(tmp_path_factory.mktemp("attnir-cache"))
    os.environ.pop("ATTNIR_CACHE", None)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _native_or_reason():
    try:
        from attnir._native import ext
        return ext(), None
    except ImportError as e:
        return None, str(e)


@pytest.fixture(scope="session")
def native():
    x, reason = _native_or_reason()
    if x is None:
        if os.environ.get("ATTNIR_REQUIRE_EXT") == "1":
            pytest.fail(f"attnir extension missing (ATTNIR_REQUIRE_EXT=1): {reason}")
        pytest.skip(f"attnir extension not built: {reason}")
    return x


_KERNELS = {}


@pytest.fixture(scope="session")
def compiled(native):
    """compiled(spec, **options) -> Kernel, compiled once per session."""
    import attnir

    def get(spec, entry=None, **options):
        key = (spec, entry, tuple(sorted(options.items())))
        if key not in _KERNELS:
            _KERNELS[key] = attnir.compile(spec, entry=entry, **options)
        return _KERNELS[key]
    return get


def rand(shape, dtype=np.float32, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal(shape)).astype(dtype)


def mask_of(spec_text):
    """(causal, window) of the first attn.attention in a spec's text."""
    m = re.search(r"mask\(#attn\.(\w+)(?:<\s*(\d+)\s*,\s*(\d+)\s*>)?\)", spec_text)
    if not m:
        return False, None
    if m.group(1) == "window":
        return False, (int(m.group(2)), int(m.group(3)))
    return m.group(1) == "causal", None


def _ij(N, M):
    i = np.arange(N)[:, None]
    j = np.arange(M)[None, :]
    return i, j, M - N


def _causal(N, M):
    i, j, d = _ij(N, M)
    return j <= i + d


#: Element rules of the examples beyond causal and window, written here from
#: shared/patterns.md A2 (independent of the compiler): stem -> keep(N, M).
EXAMPLE_KEEP = {
    "sink_window": lambda N, M: _causal(N, M) & (
        (_ij(N, M)[1] >= _ij(N, M)[0] + (M - N) - 255) | (_ij(N, M)[1] < 4)),
    "prefix_lm": lambda N, M: (_ij(N, M)[1] < 100) | _causal(N, M),
    "dilated": lambda N, M: (lambda i, j, d: ((i + d - j) % 2 == 0)
                             & (np.abs(i + d - j) <= 256))(*_ij(N, M)),
    "chunked": lambda N, M: _causal(N, M) & (
        _ij(N, M)[0] // 128 == _ij(N, M)[1] // 128),
    # Two halves of the keys merged: dense attention.
    "split_kv_merge": lambda N, M: np.ones((N, M), bool),
}


def keep_bh_of(keep_nm, N, M):
    """A keep(N, M) rule as naive_attention's keep_bh."""
    if keep_nm is None:
        return None
    mat = keep_nm(N, M)
    return lambda b, h: mat


def naive_attention(q, k, v, causal=False, scale=None, window=None, keep_bh=None):
    """An independent formula: an explicit probability matrix per (b, h),
    row by row, lse from sorted terms. Shares nothing with attnir.reference.
    keep_bh(b, h) -> bool [N, M] further restricts the kept pairs."""
    q, k, v = (np.asarray(x).astype(np.float64) for x in (q, k, v))
    B, Hq, N, D = q.shape
    Hkv, M, Dv = k.shape[1], k.shape[2], v.shape[3]
    if scale is None:
        scale = D ** -0.5
    keep = np.tril(np.ones((N, M), bool), k=M - N) if causal else np.ones((N, M), bool)
    if window is not None:  # a band: tril(k = M-N+right) minus tril(k = M-N-left-1)
        left, right = window
        keep &= np.tril(np.ones((N, M), bool), k=M - N + right)
        keep &= ~np.tril(np.ones((N, M), bool), k=M - N - left - 1)
    out = np.zeros((B, Hq, N, Dv))
    lse = np.full((B, Hq, N), -np.inf)
    for b in range(B):
        for h in range(Hq):
            g = h // (Hq // Hkv)
            S = (q[b, h] @ k[b, g].T) * scale
            kh = keep if keep_bh is None else keep & keep_bh(b, h)
            for i in range(N):
                s = S[i][kh[i]]
                if s.size == 0:
                    continue
                mx = s.max()
                e = np.exp(s - mx)
                P = e / e.sum()
                out[b, h, i] = P @ v[b, g][kh[i]]
                lse[b, h, i] = mx + np.log(np.sum(np.sort(e)))
    return out, lse


TOL = {"f32": 1e-5, "f16": 2e-3, "bf16": 1e-2}


def rel_err(got, ref):
    """max |got - ref| / max |ref| over finite entries; equal infinities are
    exact, NaN or unequal infinities fail (return inf)."""
    got = np.asarray(got).astype(np.float64)
    ref = np.asarray(ref).astype(np.float64)
    if got.shape != ref.shape:
        raise AssertionError(f"shape {got.shape} != {ref.shape}")
    if np.isnan(got).any():
        return np.inf
    inf_ref, inf_got = ~np.isfinite(ref), ~np.isfinite(got)
    if (inf_ref != inf_got).any() or (got[inf_ref] != ref[inf_ref]).any():
        return np.inf
    fin = ~inf_ref
    if not fin.any():
        return 0.0
    den = np.abs(ref[fin]).max()
    return float(np.abs(got[fin] - ref[fin]).max() / (den if den > 0 else 1.0))


def tolerance(dtype, q, k, scale=None):
    """docs/numerics.md: output rounding of the dtype + 8 * 2^-23 * max|logit|."""
    q64, k64 = np.asarray(q).astype(np.float64), np.asarray(k).astype(np.float64)
    D = q64.shape[-1]
    scale = D ** -0.5 if scale is None else scale
    kh = np.repeat(k64, q64.shape[1] // k64.shape[1], axis=1)
    logits = scale * np.matmul(q64, np.swapaxes(kh, -1, -2))
    return TOL[dtype] + 8 * 2.0 ** -23 * np.abs(logits).max(initial=0.0)
