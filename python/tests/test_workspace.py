"""The CPU kernels' workspace (issues 16 and 19): kernel scratch comes from
a runtime-owned pool, so a warm kernel takes nothing from the system per
call, whatever the pattern (attention, a selection program, a recurrence)."""
import numpy as np
import pytest

from conftest import REPO

SPECS = ["causal.mlir", "topk_blocks.mlir", "lightning_decay.mlir"]


@pytest.mark.parametrize("name", SPECS)
def test_warm_calls_take_nothing_from_the_system(native, name):
    import attnir
    k = attnir.compile((REPO / "examples" / name).read_text(), threads=1)
    rng = np.random.default_rng(1)
    args = []
    for a in k.signature.inputs:
        shape = [1 if d is None and i == 0 else 2 if d is None and i == 1 else
                 300 if d is None else d for i, d in enumerate(a.shape)]
        if a.name == "decay":  # one per head
            args.append(rng.uniform(0.5, 1.0, (2,)).astype(np.float32))
        else:
            args.append(rng.standard_normal(shape).astype(np.float32))
    first = k(*args)
    warm = attnir.workspace_stats()
    assert warm["system_allocations"] > 0 and warm["bytes_held"] > 0
    for _ in range(3):
        again = k(*args)
    assert attnir.workspace_stats()["system_allocations"] == warm["system_allocations"]
    np.testing.assert_array_equal(np.asarray(again), np.asarray(first))
