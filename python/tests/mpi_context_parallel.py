"""Run under mpirun (test_distributed.py does): every rank draws the same
inputs, takes its shard, runs a distributed schedule, and rank 0 checks the
gathered result against the single-process kernel on the same inputs (and
that kernel against the float64 reference). Exits non-zero on a mismatch;
any exception aborts every rank (no hang)."""
import sys
import traceback

import numpy as np
from mpi4py import MPI

import attnir
import attnir.distributed as ad

comm = MPI.COMM_WORLD
P, R = comm.size, comm.rank
failures = []


def rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def rel(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    fin = np.isfinite(b)
    if not np.array_equal(fin, np.isfinite(a)):
        return np.inf
    return float(np.max(np.abs(a[fin] - b[fin])) / max(1e-30, np.max(np.abs(b[fin]))))


def gathered(x, layout, granule=1, axis=2):
    parts = comm.gather(x, root=0)
    return ad.unshard(parts, layout, granule, axis) if R == 0 else None


def compare(name, got, want, tol=2e-5, ref=None):
    if R != 0:
        return
    err = rel(got, want)
    line = f"{name}: P={P} max_rel_err vs single-process {err:.2e}"
    ok = err <= tol
    if ref is not None:
        e2 = rel(want, ref)
        line += f", single-process vs float64 {e2:.2e}"
        ok = ok and e2 <= 1e-4
    print(("ok    " if ok else "FAIL  ") + line, flush=True)
    if not ok:
        failures.append(name)


def ring_case(name, N, H, Hkv, D, causal, layout, block=None, seed=1):
    q, k, v = rand((2, H, N, D), seed), rand((2, Hkv, N, D), seed + 1), rand((2, Hkv, N, D), seed + 2)
    granule = 1
    blocks = extra = None
    spec_blocks = None
    if block is not None:
        bq = bk = block
        granule = block
        nqb, nkb = -(-N // bq), -(-N // bk)
        rng = np.random.default_rng(seed + 3)
        K = nkb + 2
        idx = np.zeros((2, H, nqb, K), np.int32)
        cnt = np.zeros((2, H, nqb), np.int32)
        for b in range(2):
            for h in range(H):
                for r in range(nqb):
                    ids = [j for j in range(nkb) if rng.random() < 0.5] or [r % nkb]
                    ids.append(ids[0])          # a duplicate counts once
                    rng.shuffle(ids)            # any order
                    idx[b, h, r, :len(ids)] = ids
                    idx[b, h, r, len(ids):] = rng.integers(0, 10**6)  # unused slots
                    cnt[b, h, r] = len(ids)
        blocks, spec_blocks = (idx, cnt), (bq, bk)
    kern = ad.ring_kernels(comm, D, "f32", block_size=spec_blocks)
    sh = [ad.shard(x, R, P, layout, granule) for x in (q, k, v)]
    out, lse = ad.ring_attention(*sh, comm, seq_len=N, causal=causal, blocks=blocks,
                                 block_size=spec_blocks, layout=layout, lse=True,
                                 kernels=kern)
    full_out, full_lse = gathered(out, layout, granule), gathered(lse, layout, granule)
    if R == 0:
        entry = ("causal" if causal else "dense") if block is None else \
                ("causal_blocks" if causal else "blocks")
        args = (q, k, v) + (() if block is None else blocks)
        want_out, want_lse = kern[entry](*args)
        ref_out, ref_lse = kern[entry].reference(*args)
        compare(f"ring {name} out", full_out, want_out, ref=ref_out)
        compare(f"ring {name} lse", full_lse, want_lse, ref=ref_lse)


def heads_case(name, spec, N, H, Hkv, D, layout, extra=(), seed=7):
    q, k, v = rand((1, H, N, D), seed), rand((1, Hkv, N, D), seed + 1), rand((1, Hkv, N, D), seed + 2)
    if R == 0:
        kern = attnir.compile(spec)
    comm.Barrier()
    if R != 0:
        kern = attnir.compile(spec)
    sh = [ad.shard(x, R, P, layout) for x in (q, k, v)]
    got = ad.head_attention(*sh, comm, kern, *extra, seq_len=N, layout=layout)
    full = gathered(got, layout)
    if R == 0:
        compare(f"heads {name}", full, kern(q, k, v, *extra), ref=kern.reference(q, k, v, *extra))


def linear_case(name, N, H, D, schedule, delta=False, fmap=None, seed=21, gla=False):
    """attn.linear with its state passed down the ranks, against the whole
    sequence in one process (same kernel), and that against float64."""
    rng = np.random.default_rng(seed)
    q, k, v = (0.5 * rand((2, H, N, D), seed + i) for i in range(3))
    g = np.log(rng.uniform(0.6, 1.0, (2, H, N) + ((D,) if gla else ()))).astype(np.float32)
    beta = rng.uniform(0.1, 0.9, (2, H, N)).astype(np.float32) if delta else None
    decay = rng.uniform(0.8, 1.0, H).astype(np.float32)
    s0 = 0.2 * rand((2, H, D, D), seed + 5)
    spec = ad.linear_spec(D, decay=True, log_gate=True, delta=delta, l2norm=delta,
                          feature_map=fmap, scale=0.25, feature_gate=gla)
    kern = ad._ring._compile_everywhere(comm, spec, "cpu")
    sh = [ad.shard(x, R, P, "contiguous") for x in (q, k, v)]
    gs = ad.shard(g, R, P, "contiguous", axis=2)
    bs = ad.shard(beta, R, P, "contiguous", axis=2) if delta else None
    out, state = ad.linear_attention(*sh, comm, seq_len=N, decay=decay, log_gate=gs,
                                     beta=bs, initial_state=s0, l2norm=delta,
                                     feature_map=fmap, scale=0.25, schedule=schedule,
                                     kernels=kern)
    full = gathered(out, "contiguous")
    last = comm.bcast(state if R == P - 1 else None, root=P - 1)
    if R == 0:
        args = (q, k, v, decay, g) + ((beta,) if delta else ()) + (s0,)
        want_o, want_s = kern(*args)
        ref_o, ref_s = kern.reference(*args)
        compare(f"linear {name} out", full, want_o, tol=2e-5, ref=ref_o)
        compare(f"linear {name} final state", last, want_s, tol=2e-5, ref=ref_s)


def main():
    ring_case("causal zigzag ragged GQA", N=203, H=4, Hkv=2, D=32, causal=True, layout="zigzag")
    ring_case("causal contiguous", N=97, H=2, Hkv=2, D=32, causal=True, layout="contiguous")
    ring_case("dense zigzag ragged", N=150, H=2, Hkv=1, D=32, causal=False, layout="zigzag")
    ring_case("block list zigzag", N=16 * 13 + 5, H=2, Hkv=2, D=32, causal=False,
              layout="zigzag", block=16)
    ring_case("causal block list contiguous", N=16 * 11 + 9, H=2, Hkv=1, D=32, causal=True,
              layout="contiguous", block=16)
    linear_case("scan, decay and log gates, ragged", N=157, H=2, D=32, schedule="scan")
    linear_case("sequential, relu map", N=101, H=2, D=32, schedule="sequential", fmap="relu")
    linear_case("scan, GLA per-feature gates", N=131, H=2, D=32, schedule="scan", gla=True)
    linear_case("gated delta rule (sequential)", N=143, H=2, D=32, schedule="auto", delta=True)
    heads_case("sliding window", attnir.patterns.sliding_window(left=17, right=3, head_dim=32),
               N=181, H=4, Hkv=4, D=32, layout="contiguous")
    heads_case("causal GQA zigzag", attnir.patterns.causal(head_dim=32), N=190, H=8, Hkv=4,
               D=32, layout="zigzag")
    # A bad block id on any rank is an error there, as on one process.
    try:
        q = rand((1, 2, 64, 32), 3)
        idx = np.zeros((1, 1, 4, 2), np.int32)
        idx[0, 0, 3, 0] = 99
        cnt = np.ones((1, 1, 4), np.int32)
        sh = [ad.shard(q, R, P, "contiguous", 16)] * 3
        ad.ring_attention(*sh, comm, seq_len=64, blocks=(idx, cnt), block_size=(16, 16),
                          layout="contiguous",
                          kernels=ad.ring_kernels(comm, 32, "f32", block_size=(16, 16)))
        raised = False
    except ValueError as e:
        raised = "99" in str(e)
    # Every rank holds the same global list and checks it before any transfer,
    # so all raise and none waits for a peer that stopped.
    allraised = comm.allreduce(int(raised), op=MPI.MIN)
    if R == 0:
        print(("ok    " if allraised else "FAIL  ") + "ring: block id 99 of 4 raises on every rank",
              flush=True)
        if not allraised:
            failures.append("bad id")


try:
    main()
except Exception:  # noqa: BLE001
    traceback.print_exc()
    sys.stdout.flush()
    comm.Abort(2)
comm.Barrier()
if R == 0:
    print("FAILED: " + ", ".join(failures) if failures else "all passed", flush=True)
sys.exit(1 if failures else 0)
