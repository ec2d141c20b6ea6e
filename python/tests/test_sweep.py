"""Property sweep (issue 15, deliverable 5): 200 random valid specs with a
fixed seed, each compiled and checked against the reference, and the
reference against an independent oracle (python/tests/sweep.py). Thousands
with fresh seeds: scripts/sweep.sh."""
import io

import sweep


def test_sweep_fixed_seed(native):
    log = io.StringIO()
    failures = sweep.run(seed=20261129, cases=200, out=log)
    assert not failures, log.getvalue()[-6000:]


def test_sweep_detects_a_wrong_rule(native, monkeypatch):
    """The sweep can fail: an oracle with window's sides swapped disagrees."""
    import numpy as np
    orig = sweep.keep_matrix

    def swapped(m, N, M, qd, kd):
        if m[0] == "window":
            m = ("window", (m[1][1], m[1][0]), [])
        return orig(m, N, M, qd, kd)
    monkeypatch.setattr(sweep, "keep_matrix", swapped)
    case = dict(dtype="f32", D=64, B=1, Hkv=1, Hq=2, N=50, M=70,
                mask=("window", (3, 9), []), docs=False)
    assert sweep.check_case(case, np.random.default_rng(0)) is not None
