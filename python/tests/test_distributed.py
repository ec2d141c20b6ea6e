"""attnir.distributed: the sequence layouts (pure Python), and the ring and
head schedules on 2 and 4 MPI processes against the single-process kernel
(mpi_context_parallel.py, under Debian's OpenMPI through mpi4py; both are
installed by scripts/setup.sh, and ATTNIR_REQUIRE_EXT=1 (CI) turns their
absence into a failure)."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, rand

import attnir.distributed as ad
from attnir.distributed import _layout


@pytest.mark.parametrize("n,world,layout,granule", [
    (203, 2, "zigzag", 1), (203, 4, "zigzag", 16), (97, 3, "contiguous", 1),
    (5, 4, "zigzag", 1), (0, 2, "contiguous", 1), (16 * 13 + 5, 4, "contiguous", 16)])
def test_chunks_cover_the_sequence_on_the_grid(n, world, layout, granule):
    bounds = _layout.chunk_bounds(n, world, layout, granule)
    assert len(bounds) == (2 * world if layout == "zigzag" else world)
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    for (s, e), (s2, _) in zip(bounds, bounds[1:]):
        assert s <= e == s2
    assert all(s % granule == 0 for s, _ in bounds)
    sizes = [-(-(e - s) // granule) for s, e in bounds]
    assert max(sizes) - min(sizes) <= 1  # balanced in whole granules
    held = sorted(c for r in range(world) for c in _layout.rank_chunks(r, world, layout))
    assert held == list(range(len(bounds)))


@pytest.mark.parametrize("layout", ["zigzag", "contiguous"])
def test_shard_unshard_round_trip(layout):
    x = rand((2, 3, 57, 4), seed=3)
    parts = [ad.shard(x, r, 3, layout, granule=4) for r in range(3)]
    assert sum(p.shape[2] for p in parts) == 57
    assert np.array_equal(ad.unshard(parts, layout, granule=4), x)
    docs = np.arange(2 * 57).reshape(2, 57)
    dparts = [ad.shard(docs, r, 3, layout, axis=1) for r in range(3)]
    assert np.array_equal(ad.unshard(dparts, layout, axis=1), docs)


def test_zigzag_balances_causal_work():
    """Each rank's causal work (pairs of its queries and earlier keys) within
    a few percent of the others'."""
    n, world = 4096, 4
    work = []
    for r in range(world):
        w = sum((s + e + 1) * (e - s) / 2 for _, s, e, _ in _layout.local_bounds(n, r, world))
        work.append(w)
    assert max(work) / min(work) < 1.01


def test_layout_errors():
    with pytest.raises(ValueError, match="layout"):
        _layout.chunk_bounds(10, 2, "ring")
    with pytest.raises(ValueError, match="world"):
        _layout.chunk_bounds(10, 0)
    with pytest.raises(ValueError, match="length"):
        ad.unshard([np.zeros((1, 1, 3, 1)), np.zeros((1, 1, 9, 1))], "contiguous")


def _mpi():
    mpirun = shutil.which("mpirun")
    try:
        import mpi4py  # noqa: F401
        have = mpirun is not None
    except ImportError:
        have = False
    if not have:
        if os.environ.get("ATTNIR_REQUIRE_EXT") == "1":
            pytest.fail("mpirun and mpi4py are needed (scripts/setup.sh installs them)")
        pytest.skip("mpirun or mpi4py missing")
    return mpirun


def test_single_rank_ring_equals_kernel(native):
    """World size 1 (MPI.COMM_SELF): the ring is the kernel itself; wrong
    shard lengths and block lists are clear errors."""
    _mpi()
    from mpi4py import MPI
    comm = MPI.COMM_SELF
    q, k, v = (rand((1, 2, 45, 32), seed=s) for s in (1, 2, 3))
    kern = ad.ring_kernels(comm, 32, "f32", block_size=(16, 16))
    out, lse = ad.ring_attention(q, k, v, comm, seq_len=45, causal=True, lse=True,
                                 kernels=kern)
    want_out, want_lse = kern["causal"](q, k, v)
    np.testing.assert_allclose(out, want_out, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(lse, want_lse, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="holds 45 positions"):
        ad.ring_attention(q, k, v, comm, seq_len=46, kernels=kern)
    idx = np.zeros((1, 1, 3, 1), np.int32)
    cnt = np.ones((1, 1, 3), np.int32)
    with pytest.raises(ValueError, match="block_size"):
        ad.ring_attention(q, k, v, comm, seq_len=45, blocks=(idx, cnt), kernels=kern)
    cnt[0, 0, 1] = 2
    with pytest.raises(ValueError, match="kv_counts"):
        ad.ring_attention(q, k, v, comm, seq_len=45, blocks=(idx, cnt),
                          block_size=(16, 16), kernels=kern)
    with pytest.raises(TypeError, match="mpi4py communicator"):
        ad.ring_attention(q, k, v, object(), seq_len=45)


@pytest.mark.parametrize("ranks", [2, 4])
def test_ranks_equal_single_process(native, ranks):
    mpirun = _mpi()
    env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")
    script = REPO / "python" / "tests" / "mpi_context_parallel.py"
    r = subprocess.run([mpirun, "--oversubscribe", "-n", str(ranks), sys.executable,
                        str(script)], env=env, capture_output=True, text=True, timeout=900)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all passed" in r.stdout
    assert r.stdout.count("ok    ") == 21
