"""Content routing (attn.route, attn.permute, #attn.balanced; issue 21):
the routing examples against numpy oracles written here (buckets from
float64 dots, Philox4x32-10 for the LSH hyperplanes, a stable argsort,
masked attention in the original order), permutations equal to the
reference's bit for bit, the identities of docs/design/routing.md, and
bad permutations as errors; attn.sample's rows from the generator its
description specifies, attn.gather with repeats and bad rows."""
import ml_dtypes
import numpy as np
import pytest

import attnir
from conftest import REPO, rand, rel_err

EX = REPO / "examples"


def philox_word0(key, c0, c1, c2=0, c3=0):
    """Word 0 of Philox4x32-10(key, counter = (c0, c1, c2, c3))."""
    M = 0xFFFFFFFF
    k0, k1 = key & M, (key >> 32) & M
    c = [c0, c1, c2, c3]
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k0) & M, p1 & M, ((p0 >> 32) ^ c[3] ^ k1) & M,
             p0 & M]
        k0, k1 = (k0 + 0x9E3779B9) & M, (k1 + 0xBB67AE85) & M
    return c[0]


def lsh_buckets(x, bits, seed):
    D = x.shape[-1]
    R = np.array([[1.0 if philox_word0(seed, d, k) & 1 else -1.0
                   for k in range(bits)] for d in range(D)])
    # Sums in index order, as the op's contract says (np.dot may pair
    # terms differently; +-x_d sums are exact here only in order).
    s = np.zeros(x.shape[:-1] + (bits,))
    xd = x.astype(np.float64)
    for d in range(D):
        s += xd[..., d:d + 1] * R[d]
    return ((s >= 0) * (1 << np.arange(bits))).sum(-1).astype(np.int64)


def kmeans_buckets(x, mu):
    xd, md = x.astype(np.float64), mu.astype(np.float64)
    s = np.zeros(x.shape[:-1] + (mu.shape[1],))
    for d in range(x.shape[-1]):
        s += xd[..., d:d + 1] * md[None, :, None, :, d]
    return s.argmax(-1)  # the first maximum: ties to the lower c


def order(buckets):
    return np.argsort(buckets, axis=-1, kind="stable").astype(np.int32)


def routed_attention(q, k, v, perm, keep):
    """Attention in the original order: query i sees key j when
    keep(h, si, sj, i, j) with si, sj their slots in the routed order."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    B, H, N, D = q.shape
    Hk = k.shape[1]
    out = np.zeros((B, H, N, v.shape[3]))
    for b in range(B):
        for h in range(H):
            g = h // (H // Hk)
            slot = np.empty(N, np.int64)
            slot[perm[b, h]] = np.arange(N)
            i, j = np.arange(N)[:, None], np.arange(N)[None, :]
            mask = keep(h, H, N, slot[:, None], slot[None, :], i, j)
            S = np.where(mask, q[b, h] @ k[b, g].T / np.sqrt(D), -np.inf)
            P = np.exp(S - S.max(axis=1, keepdims=True))
            out[b, h] = (P @ v[b, g]) / P.sum(axis=1, keepdims=True)
    return out


def kmeans_keep(h, H, N, si, sj, i, j):
    w = (N + 7) // 8
    local = i - j < 256
    return (j <= i) & np.where(h < H // 2, si // w == sj // w, local)


SHAPES = [(2, 4, 4, 77), (1, 6, 2, 130), (1, 2, 1, 300)]


@pytest.mark.parametrize("B,H,Hk,N", SHAPES)
def test_routing_kmeans(native, B, H, Hk, N):
    q = rand((B, H, N, 64), seed=N)
    k, v = rand((B, Hk, N, 64), seed=N + 1), rand((B, Hk, N, 64), seed=N + 2)
    mu = rand((H, 8, 64), seed=N + 3)
    out = attnir.compile(EX / "routing_kmeans.mlir")(q, k, v, mu)
    perm = order(kmeans_buckets(q, mu))
    exp = routed_attention(q, k, v, perm, kmeans_keep)
    assert rel_err(out, exp) < 1e-5
    # The routing matters: attention in chunks of the original order differs.
    plain = routed_attention(q, k, v, np.tile(np.arange(N, dtype=np.int32), (B, H, 1)),
                             kmeans_keep)
    assert rel_err(plain, exp) > 1e-2


@pytest.mark.parametrize("B,H,Hk,N", SHAPES)
def test_reformer_lsh(native, B, H, Hk, N):
    qk = rand((B, H, N, 64), seed=N)
    v = rand((B, Hk, N, 64), seed=N + 1)
    out = attnir.compile(EX / "reformer_lsh.mlir")(qk, v)
    perm = order(lsh_buckets(qk, 4, 42))
    # Shared QK: the keys are the queries (v of a GQA group per head).
    exp = routed_attention(qk, qk, np.repeat(v, H // Hk, axis=1), perm,
                           lambda h, H, N, si, sj, i, j: (j <= i) & (si // 64 == sj // 64))
    assert rel_err(out, exp) < 1e-5


ROUTE = """
func.func @route(%x: tensor<?x?x?x64x{t}>{mu_arg}) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>) {{
  %p, %b = attn.route %x {how} : ({types}) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  return %p, %b : tensor<?x?x?xi32>, tensor<?x?x?xi32>
}}
"""


def route_spec(t, lsh=None, clusters=None):
    if lsh is not None:
        return ROUTE.format(t=t, mu_arg="", how=f"lsh({lsh[0]}, {lsh[1]})",
                            types=f"tensor<?x?x?x64x{t}>")
    return ROUTE.format(t=t, mu_arg=f", %mu: tensor<?x{clusters}x64x{t}>",
                        how="centroids(%mu)",
                        types=f"tensor<?x?x?x64x{t}>, tensor<?x{clusters}x64x{t}>")


@pytest.mark.parametrize("t,np_t", [("f32", np.float32), ("bf16", ml_dtypes.bfloat16),
                                    ("f16", np.float16)])
@pytest.mark.parametrize("how", [("lsh", (0, 1)), ("lsh", (5, 2**40 + 3)),
                                 ("lsh", (16, 9)), ("kmeans", 1), ("kmeans", 13)])
def test_route_matches_reference_and_numpy(native, t, np_t, how):
    kind, p = how
    spec = route_spec(t, lsh=p) if kind == "lsh" else route_spec(t, clusters=p)
    x = rand((2, 3, 333, 64), np_t, seed=7)
    args = [x]
    if kind == "kmeans":
        args.append(rand((3, p, 64), np_t, seed=8))
    kernel = attnir.compile(spec)
    perm, bucket = kernel(*args)
    ref_perm, ref_bucket = attnir.reference(spec, *args)
    assert np.array_equal(perm, ref_perm) and np.array_equal(bucket, ref_bucket)
    xf = x.astype(np.float32)
    exp = lsh_buckets(xf, *p) if kind == "lsh" else kmeans_buckets(xf, args[1].astype(np.float32))
    assert np.array_equal(bucket, exp)
    assert np.array_equal(perm, order(exp))
    if kind == "lsh" and p[0] == 0 or kind == "kmeans" and p == 1:
        assert np.array_equal(perm, np.tile(np.arange(333), (2, 3, 1)))


IDENTITY = """
func.func @f(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
             %v: tensor<?x?x?x64xf32>{mu_arg}) -> tensor<?x?x?x64xf32> {{
  %perm, %bucket = attn.route %q {how}
      : (tensor<?x?x?x64xf32>{mu_type}) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  %qs = attn.permute %q by %perm : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %ks = attn.permute %k by %perm : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %vs = attn.permute %v by %perm : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %os = attn.attention %qs, %ks, %vs rules(%perm) mask({mask}) mask_rule {{
  ^bb0(%b: index, %h: index, %i: index, %j: index, %p: tensor<?x?x?xi32>):
    %pi = tensor.extract %p[%b, %h, %i] : tensor<?x?x?xi32>
    %pj = tensor.extract %p[%b, %h, %j] : tensor<?x?x?xi32>
    %c = arith.cmpi sle, %pj, %pi : i32
    attn.yield %c : i1
  }} : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
        tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %o = attn.permute %os by %perm inverse : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}}
"""

PLAIN = """
func.func @f(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
             %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {{
  %o = attn.attention %q, %k, %v mask({mask})
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}}
"""


@pytest.mark.parametrize("N", [77, 300])
def test_one_cluster_is_causal(native, N):
    q, k, v = (rand((1, 4, N, 64), seed=N + s) for s in range(3))
    mu = rand((4, 1, 64), seed=5)
    spec = IDENTITY.format(mu_arg=", %mu: tensor<?x1x64xf32>", how="centroids(%mu)",
                           mu_type=", tensor<?x1x64xf32>", mask="#attn.balanced<1>")
    out = attnir.compile(spec)(q, k, v, mu)
    exp = attnir.compile(PLAIN.format(mask="#attn.causal"))(q, k, v)
    assert np.array_equal(out, exp) or rel_err(out, exp) < 1e-6


@pytest.mark.parametrize("N", [77, 300])
def test_zero_bits_is_chunked(native, N):
    q, k, v = (rand((2, 2, N, 64), seed=N + s) for s in range(3))
    spec = IDENTITY.format(mu_arg="", how="lsh(0, 5)", mu_type="",
                           mask="#attn.chunked<32>")
    out = attnir.compile(spec)(q, k, v)
    exp = attnir.compile(PLAIN.format(
        mask="#attn.all_of<[#attn.chunked<32>, #attn.causal]>"))(q, k, v)
    assert rel_err(out, exp) < 1e-6


PERMUTE = """
func.func @f(%x: tensor<?x?x?x8xf32>, %p: tensor<?x?x?x{t}>) -> tensor<?x?x?x8xf32> {{
  %y = attn.permute %x by %p : (tensor<?x?x?x8xf32>, tensor<?x?x?x{t}>) -> tensor<?x?x?x8xf32>
  return %y : tensor<?x?x?x8xf32>
}}
"""


@pytest.mark.parametrize("t,np_t", [("i32", np.int32), ("i64", np.int64)])
def test_permute_inputs_checked(native, t, np_t):
    kernel = attnir.compile(PERMUTE.format(t=t))
    x = rand((1, 2, 10, 8))
    p = np.tile(np.arange(10, dtype=np_t)[::-1], (1, 2, 1)).copy()
    assert np.array_equal(kernel(x, p), x[:, :, ::-1])
    for bad, what in [(10, "outside"), (-1, "outside"), (3, "already")]:
        q = p.copy()
        q[0, 1, 4] = bad
        with pytest.raises(Exception, match=what):
            kernel(x, q)


CHUNKED = """
func.func @f(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
             %v: tensor<?x?x?x64xf32>, %mu: tensor<?x{C}x64xf32>) -> tensor<?x?x?x64xf32> {{
  %perm, %bucket = attn.route %q centroids(%mu) chunks({C})
      : (tensor<?x?x?x64xf32>, tensor<?x{C}x64xf32>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  %qs = attn.permute %q by %perm : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %ks = attn.permute %k by %perm : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %vs = attn.permute %v by %perm : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  %os = attn.attention %qs, %ks, %vs mask(#attn.all_of<[#attn.balanced<{C}>, #attn.causal]>)
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  %o = attn.permute %os by %perm inverse : (tensor<?x?x?x64xf32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}}
"""


@pytest.mark.parametrize("C,N", [(16, 1000), (3, 77), (8, 301), (1, 50)])
def test_chunks_order_chunks_by_position(native, C, N):
    """route chunks(C): the (bucket, position) order cut into C balanced
    chunks, each in position order; attention over it with the built-in
    causal mask is the routed attention with the causal rule on original
    positions."""
    spec = route_spec("f32", clusters=C).replace("centroids(%mu)", f"centroids(%mu) chunks({C})")
    x, mu = rand((2, 3, N, 64), seed=N), rand((3, C, 64), seed=N + 1)
    perm, bucket = attnir.compile(spec)(x, mu)
    rank = np.argsort(order(kmeans_buckets(x, mu)), axis=-1)   # slot of each token
    w = max(1, -(-N // C))
    exp = np.argsort(rank // w, axis=-1, kind="stable")
    assert np.array_equal(perm, exp)
    assert np.array_equal(perm, attnir.reference(spec, x, mu)[0])
    q, k, v = x, rand((2, 3, N, 64), seed=N + 2), rand((2, 3, N, 64), seed=N + 3)
    out = attnir.compile(CHUNKED.format(C=C))(q, k, v, mu)
    w_keep = lambda h, H, N_, si, sj, i, j: (j <= i) & (si // w == sj // w)
    exp_out = routed_attention(q, k, v, order(kmeans_buckets(q, mu)), w_keep)
    assert rel_err(out, exp_out) < 1e-5


def sample_rows(B, H, count, M, seed, offset=0):
    """attn.sample's rows [B, H, count]: floor(w M / 2^32), w = word 0 of
    Philox4x32-10(seed, counter = (s, h, b, 2 offset + 1 mod 2^32))."""
    stream = (2 * offset + 1) & 0xFFFFFFFF
    return np.array([[[(philox_word0(seed, s, h, b, stream) * M) >> 32 for s in range(count)]
                      for h in range(H)] for b in range(B)], dtype=np.int64)


@pytest.mark.parametrize("B,H,Hk,N,M", [(1, 2, 2, 700, 700), (2, 3, 3, 300, 520),
                                        (1, 6, 2, 130, 260), (1, 2, 1, 600, 90)])
def test_hyper_lsh(native, B, H, Hk, N, M):
    """examples/hyper_lsh.mlir against numpy: LSH chunks of 256 in q's and
    k's own sorted orders, plus 256 columns of the sorted keys drawn with
    replacement (Philox, seed 7, per query head) with weight M / 256, those
    in the query's own chunk left out; one softmax over both (a repeated
    column counts each time it is drawn)."""
    q = rand((B, H, N, 64), seed=N)
    k, v = rand((B, Hk, M, 64), seed=M + 1), rand((B, Hk, M, 64), seed=M + 2)
    out = attnir.compile(EX / "hyper_lsh.mlir")(q, k, v)
    pq, pk = order(lsh_buckets(q, 8, 1)), order(lsh_buckets(k, 8, 1))
    cols = sample_rows(B, H, 256, M, 7)
    assert cols.min() >= 0 and cols.max() < M
    exp = np.zeros((B, H, N, 64))
    for b in range(B):
        for h in range(H):
            g = h // (H // Hk)
            qs = q[b, h][pq[b, h]].astype(np.float64)       # sorted queries
            ks, vs = (x[b, g][pk[b, g]].astype(np.float64) for x in (k, v))
            S = qs @ ks.T / 8
            i = np.arange(N)[:, None]
            same = (i // 256) == (np.arange(M)[None, :] // 256)
            c = cols[b, h]
            sampled = np.where((i // 256) != (c[None, :] // 256),
                               S[:, c] + np.log(M / 256), -np.inf)
            logits = np.concatenate([np.where(same, S, -np.inf), sampled], 1)
            vals = np.concatenate([vs, vs[c]])
            mx = logits.max(1, keepdims=True)
            P = np.exp(logits - np.where(np.isfinite(mx), mx, 0))
            Z = P.sum(1, keepdims=True)
            o = np.where(Z > 0, P @ vals / np.where(Z > 0, Z, 1), 0)
            exp[b, h][pq[b, h]] = o                        # back to the original order
    assert rel_err(out, exp) < 1e-5
    assert rel_err(out, attnir.reference(EX / "hyper_lsh.mlir", q, k, v)) < 1e-5


SAMPLE = """
func.func @f(%x: tensor<?x?x?x8x{t}>, %y: tensor<?x?x?x8x{t}>)
    -> (tensor<?x?x{S}xi32>, tensor<?x?x{S}x8x{t}>) {{
  %r = attn.sample %x per %y count({S}) seed({seed})
      : (tensor<?x?x?x8x{t}>, tensor<?x?x?x8x{t}>) -> tensor<?x?x{S}xi32>
  %g = attn.gather %x at %r : (tensor<?x?x?x8x{t}>, tensor<?x?x{S}xi32>) -> tensor<?x?x{S}x8x{t}>
  return %r, %g : tensor<?x?x{S}xi32>, tensor<?x?x{S}x8x{t}>
}}
"""


@pytest.mark.parametrize("t,seed,S,M", [("f32", 7, 300, 1000), ("bf16", 2**40 + 5, 17, 3),
                                        ("f16", 0, 64, 1), ("f32", 123, 5, 70000)])
def test_sample_rows_and_gather(native, t, seed, S, M):
    """attn.sample draws the rows its description specifies (bit for bit
    against Python's Philox and the reference), per head of `per`, roughly
    uniform; attn.gather copies those rows of x's head group, repeats
    included."""
    np_t = {"f32": np.float32, "bf16": ml_dtypes.bfloat16, "f16": np.float16}[t]
    B, Hx, H = 2, 2, 4
    x = rand((B, Hx, M, 8), seed=M).astype(np_t)
    y = np.zeros((B, H, 1, 8), np_t)
    spec = SAMPLE.format(t=t, S=S, seed=seed)
    rows, got = attnir.compile(spec)(x, y)
    exp = sample_rows(B, H, S, M, seed)
    assert np.array_equal(rows, exp)
    ref_rows, ref_got = attnir.reference(spec, x, y)
    assert np.array_equal(ref_rows, exp)
    gathered = np.stack([np.stack([x[b, h // (H // Hx)][exp[b, h]] for h in range(H)])
                         for b in range(B)])
    assert np.array_equal(np.asarray(got).view(np.uint8), gathered.view(np.uint8))
    assert np.array_equal(np.asarray(ref_got), gathered.astype(np.float64))  # widened
    if S * B * H >= 1000 and M >= 1000:  # uniform: every tenth of [0, M) drawn
        assert len(np.unique(exp * 10 // M)) == 10


OFFSET = """
func.func @f(%x: tensor<?x?x?x8xf32>, %o: tensor<1x{t}>) -> tensor<?x?x40xi32> {{
  %r = attn.sample %x count(40) seed(11) offset(%o)
      : (tensor<?x?x?x8xf32>, tensor<1x{t}>) -> tensor<?x?x40xi32>
  return %r : tensor<?x?x40xi32>
}}
"""


@pytest.mark.parametrize("t,np_t", [("i32", np.int32), ("i64", np.int64)])
def test_sample_offset_draws_fresh_rows(native, t, np_t):
    """offset(%o), read at run time: a step counter draws other rows each
    call from one compiled kernel; offset 0 is the op without one."""
    kernel = attnir.compile(OFFSET.format(t=t))
    x = rand((2, 3, 500, 8))
    plain = attnir.compile(SAMPLE.format(t="f32", S=40, seed=11))  # no offset
    seen = set()
    for o in (0, 1, 2, 3, 2**31 - 1) + ((2**40 + 5,) if np_t is np.int64 else ()):
        rows = kernel(x, np.array([o], np_t))
        assert np.array_equal(rows, sample_rows(2, 3, 40, 500, 11, o))
        assert np.array_equal(attnir.reference(OFFSET.format(t=t), x, np.array([o], np_t)), rows)
        seen.add(rows.tobytes())
    assert len(seen) == (6 if np_t is np.int64 else 5)
    # Offsets equal mod 2^31 share a stream (the counter word is 2 o + 1).
    assert np.array_equal(kernel(x, np.array([2**31 + 1], np_t) if np_t is np.int64
                                 else np.array([-2**31 + 1], np_t)),
                          kernel(x, np.array([1], np_t)))
    assert np.array_equal(kernel(x, np.array([0], np_t)), plain(x, x[:, :, :1])[0])  # per x's heads


GATHER = """
func.func @f(%x: tensor<?x?x?x8xf32>, %r: tensor<?x?x?x{t}>) -> tensor<?x?x?x8xf32> {{
  %g = attn.gather %x at %r : (tensor<?x?x?x8xf32>, tensor<?x?x?x{t}>) -> tensor<?x?x?x8xf32>
  return %g : tensor<?x?x?x8xf32>
}}
"""


@pytest.mark.parametrize("t,np_t", [("i32", np.int32), ("i64", np.int64)])
def test_gather_inputs_checked(native, t, np_t):
    """Rows given as input: repeats are fine, a row outside [0, M) is an
    error naming the argument and the entry (never a read out of bounds)."""
    kernel = attnir.compile(GATHER.format(t=t))
    x = rand((1, 2, 10, 8))
    r = np.array([[[3, 3, 9, 0, 3]] * 4], dtype=np_t)   # 4 heads over x's 2
    exp = np.stack([x[0, h // 2][r[0, h]] for h in range(4)])[None]
    assert np.array_equal(kernel(x, r), exp)
    for bad in (10, -1):
        q = r.copy()
        q[0, 3, 1] = bad
        with pytest.raises(Exception, match="outside"):
            kernel(x, q)


HEADS = """
func.func @f(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>, %v: tensor<?x?x?x64xf32>,
             %t: tensor<?x5xi32>)
    -> (tensor<?x?x?x64xf32>, tensor<?x5xi32>) {
  %q0, %q1, %q2 = attn.split_heads %q
      : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>
  %k0, %k1, %k2 = attn.split_heads %k
      : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>
  %v0, %v1, %v2 = attn.split_heads %v
      : tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>
  %t0, %t1, %t2 = attn.split_heads %t dim(0)
      : tensor<?x5xi32> -> tensor<?x5xi32>, tensor<?x5xi32>, tensor<?x5xi32>
  %o0 = attn.attention %q0, %k0, %v0 mask(#attn.causal)
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  %o1 = attn.attention %q1, %k1, %v1 mask(#attn.window<7, 0>)
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  %o2 = attn.attention %q2, %k2, %v2
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  %o = attn.join_heads %o2, %o0, %o1
      : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  return %o, %t1 : tensor<?x?x?x64xf32>, tensor<?x5xi32>
}
"""


@pytest.mark.parametrize("H,Hk,Ht", [(6, 6, 3), (6, 3, 6), (3, 1, 1), (12, 3, 1)])
def test_split_and_join_heads(native, H, Hk, Ht):
    """Three groups of heads, each with its own mask, joined in another
    order: against numpy, GQA kept per group (KV heads a multiple of the
    parts, or 1 shared by all); a split of an i32 table along dimension 0
    (fewer heads than parts: each part takes the head of its share)."""
    B, N = 2, 37
    q, k, v = rand((B, H, N, 64), seed=H), rand((B, Hk, N, 64), seed=Hk), rand((B, Hk, N, 64))
    t = np.arange(Ht * 5, dtype=np.int32).reshape(Ht, 5)
    out, t1 = attnir.compile(HEADS, cache=False)(q, k, v, t)
    i, j = np.arange(N)[:, None], np.arange(N)[None, :]
    keeps = [j <= i, (j <= i) & (i - j <= 7), np.ones((N, N), bool)]
    Hp = H // 3
    exp = np.zeros((B, H, N, 64))
    for part, slot in ((2, 0), (0, 1), (1, 2)):
        for hp in range(Hp):
            h = part * Hp + hp
            g = h // (H // Hk)
            for b in range(B):
                S = np.where(keeps[part], q[b, h].astype(np.float64) @ k[b, g].T / 8, -np.inf)
                P = np.exp(S - S.max(axis=1, keepdims=True))
                exp[b, slot * Hp + hp] = P @ v[b, g] / P.sum(axis=1, keepdims=True)
    assert rel_err(out, exp) < 1e-5
    start, count = Ht // 3, -(-Ht // 3)  # part 1: heads floor(H / 3) + [0, ceil(H / 3))
    assert np.array_equal(t1, t[start:start + count])


@pytest.mark.parametrize("H,Hk,what", [(4, 4, "'q' dimension 1 has 4 heads"),
                                       (6, 2, "'k' dimension 1 has 2 heads")])
def test_split_heads_refuses_counts(native, H, Hk, what):
    kern = attnir.compile(HEADS, cache=False)
    with pytest.raises(Exception, match=what):
        kern(rand((1, H, 9, 64)), rand((1, Hk, 9, 64)), rand((1, Hk, 9, 64)),
             np.zeros((3, 5), np.int32))


def test_join_heads_needs_a_split(native):
    spec = """
func.func @f(%a: tensor<?x?x?x8xf32>, %b: tensor<?x?x?x8xf32>) -> tensor<?x?x?x8xf32> {
  %o = attn.join_heads %a, %b : tensor<?x?x?x8xf32>, tensor<?x?x?x8xf32> -> tensor<?x?x?x8xf32>
  return %o : tensor<?x?x?x8xf32>
}"""
    with pytest.raises(Exception, match="not a split of some tensor's heads"):
        attnir.compile(spec, cache=False)


def test_routing_kmeans_centroids_follow_the_query_heads(native):
    """The join undoes the splits of q and of the centroids alike, so the
    entry ties their head counts together (centroids [H, 8, 64]) as the
    single-order form did."""
    kern = attnir.compile(EX / "routing_kmeans.mlir", cache=False)
    q = rand((1, 4, 50, 64))
    with pytest.raises(Exception, match="centroids' dimension 0"):
        kern(q, q, q, rand((2, 8, 64)))
