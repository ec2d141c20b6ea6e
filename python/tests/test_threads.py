"""Kernel.threads (issue 19): the caller picks a CPU kernel's thread count.

The count reaches the kernels' OpenMP runtime: in a fresh process a kernel
with threads=1 runs without starting a worker thread (the process keeps its
one thread), and the same kernel at the default (every core) starts them.
Results do not depend on the count (each task writes its own rows)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import REPO

DENSE = (REPO / "examples" / "dense.mlir").read_text()


def test_threads_validated_and_shared_by_entries(native, tmp_path):
    import attnir
    k = attnir.compile(DENSE, threads=1)
    assert k.threads == 1
    assert k["dense"].threads == 1  # one setting per kernel
    k.threads = 0
    assert k.threads == 0
    for bad, err in ((-1, ValueError), (5000, ValueError), (1.5, TypeError),
                     (True, TypeError)):
        with pytest.raises(err):
            k.threads = bad
    path = tmp_path / "dense.attnir"
    k.save(path)
    assert attnir.load(path, threads=2).threads == 2
    assert attnir.load(path).threads == 0


def test_results_do_not_depend_on_threads(native):
    import attnir
    k = attnir.compile(DENSE)
    rng = np.random.default_rng(3)
    q, kk, v = (rng.standard_normal((2, 3, 131, 64), dtype=np.float32) for _ in range(3))
    outs = []
    for n in (1, 2, 3, 0):
        k.threads = n
        outs.append(k(q, kk, v))
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores")
def test_threads_reach_openmp(native):
    """Counted in /proc/self/task of a fresh process (OpenBLAS held to one
    thread so that numpy starts none)."""
    script = textwrap.dedent(f"""
        import os, numpy as np, attnir
        def threads():
            return len(os.listdir("/proc/self/task"))
        k = attnir.compile(open({str(REPO / 'examples' / 'dense.mlir')!r}).read(),
                           threads=1)
        q = np.random.default_rng(0).standard_normal((1, 4, 256, 64), dtype=np.float32)
        before = threads()
        k(q, q, q)
        one = threads()
        k.threads = 0
        k(q, q, q)
        print(before, one, threads())
    """)
    env = {key: v for key, v in os.environ.items() if key != "OMP_NUM_THREADS"}
    env["OPENBLAS_NUM_THREADS"] = "1"
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    before, one, every = map(int, r.stdout.split())
    assert one == before, r.stdout  # threads=1: no OpenMP worker started
    assert every > one, r.stdout    # default: the workers of every core
