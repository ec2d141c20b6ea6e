"""attnir.torch on the CPU (issue 20): a compiled kernel as a torch custom
op with a fake implementation, traced by torch.compile(fullgraph=True) with
static and dynamic shapes, and a FlexAttention BlockMask passed to a
block-list kernel through attnir.from_block_mask. torch is not a test
dependency: the module is skipped where it is missing (CI). The GPU half
(CUDA graphs, inductor, Flex side by side) is bench/gpu/torch_op.py."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

CAUSAL = """
func.func @causal_{tag}(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                  %v: tensor<?x?x?x64xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) {{
  %o, %lse = attn.attention %q, %k, %v mask(#attn.causal)
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
}}
"""

# Causal on a list of 32 x 32 blocks: the number of query blocks of the list
# is a derived dimension (ceil(N / 32)), which the fake must compute too.
LISTED = """
func.func @listed_{tag}(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                  %v: tensor<?x?x?x64xf32>, %kv_indices: tensor<?x?x?x?xi32>,
                  %kv_counts: tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32> {{
  %o = attn.attention %q, %k, %v blocks(%kv_indices, %kv_counts)
         block_size(32, 32) mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x?xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}}
"""


def rand(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g)


@pytest.fixture(scope="module")
def causal_op():
    import attnir
    import attnir.torch
    k = attnir.compile(CAUSAL.format(tag="op"), cache=False)
    return k, attnir.torch.custom_op(k)


def test_eager_matches_kernel_and_reference(causal_op):
    kernel, op = causal_op
    q, k, v = rand(2, 4, 37, 64, seed=1), rand(2, 2, 53, 64, seed=2), \
        rand(2, 2, 53, 64, seed=3)
    o, lse = op(q, k, v)
    assert isinstance(o, torch.Tensor) and o.shape == (2, 4, 37, 64)
    assert lse.shape == (2, 4, 37) and lse.dtype == torch.float32
    ref_o, ref_lse = kernel.reference(q.numpy(), k.numpy(), v.numpy())
    np.testing.assert_allclose(o.numpy(), ref_o, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lse.numpy(), ref_lse, rtol=1e-5, atol=1e-5)


def test_fake_gives_shapes_without_running(causal_op):
    from torch._subclasses.fake_tensor import FakeTensorMode
    _, op = causal_op
    with FakeTensorMode():
        q, k = torch.empty(3, 6, 11, 64), torch.empty(3, 2, 29, 64)
        o, lse = op(q, k, k)
    assert tuple(o.shape) == (3, 6, 11, 64) and tuple(lse.shape) == (3, 6, 11)


@pytest.mark.parametrize("dynamic", [False, True])
def test_torch_compile_fullgraph(causal_op, dynamic):
    _, op = causal_op
    torch._dynamo.reset()

    def f(q, k, v):
        o, lse = op(q * 0.5, k, v)
        return o + 1.0, lse

    compiled = torch.compile(f, fullgraph=True, backend="aot_eager",
                             dynamic=dynamic)
    for n, m in ((37, 53), (64, 64), (5, 130)):
        q, k, v = rand(1, 4, n, 64, seed=n), rand(1, 4, m, 64, seed=m), \
            rand(1, 4, m, 64, seed=m + 1)
        got, want = compiled(q, k, v), f(q, k, v)
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_registration_rules(causal_op):
    import attnir
    import attnir.torch
    kernel, op = causal_op
    assert attnir.torch.custom_op(kernel) is op
    other = attnir.compile(CAUSAL.format(tag="op"), cache=False)
    with pytest.raises(ValueError, match="registered for another kernel"):
        attnir.torch.custom_op(other)
    with pytest.raises(ValueError, match="not an identifier"):
        attnir.torch.custom_op(other, name="bad-name")
    assert attnir.torch.custom_op(other, name="causal_op_2") is \
        torch.ops.attnir.causal_op_2


def test_fake_derived_dimension():
    """A block-list spec with an output sized by a derived class is not
    needed here; the derived class sits on an input (kv_counts' query
    blocks): the op must still trace with dynamic N."""
    import attnir
    import attnir.torch
    kernel = attnir.compile(LISTED.format(tag="fake"), cache=False)
    op = attnir.torch.custom_op(kernel)
    torch._dynamo.reset()
    compiled = torch.compile(op, fullgraph=True, backend="aot_eager",
                             dynamic=True)
    for n in (40, 96):
        nb = -(-n // 32)
        q = rand(1, 2, n, 64, seed=n)
        idx = torch.arange(nb, dtype=torch.int32).expand(1, 2, nb, nb).contiguous()
        cnt = torch.full((1, 2, nb), nb, dtype=torch.int32)
        got = compiled(q, q, q, idx, cnt)
        torch.testing.assert_close(got, op(q, q, q, idx, cnt))


flex = pytest.importorskip("torch.nn.attention.flex_attention")


@pytest.mark.parametrize("n", [96, 100])
def test_from_block_mask_causal_is_causal(causal_op, n):
    """A causal BlockMask (full blocks below the diagonal, partial on it)
    merged by from_block_mask, fed to the causal block-list kernel, gives the
    causal kernel's output: every block the mask needs is listed once."""
    import attnir
    import attnir.torch
    bm = flex.create_block_mask(lambda b, h, qi, kv: qi >= kv, 1, 2, n, n,
                                device="cpu", BLOCK_SIZE=32)
    assert bm.full_kv_num_blocks is not None
    idx, cnt = attnir.from_block_mask(bm)
    assert idx.dtype == torch.int32 and cnt.dtype == torch.int32
    nb = -(-n // 32)
    assert tuple(cnt.shape) == (1, 2, nb)
    assert cnt.tolist() == [[list(range(1, nb + 1))] * 2]
    for r in range(nb):
        assert sorted(idx[0, 0, r, :cnt[0, 0, r]].tolist()) == list(range(r + 1))
    listed = attnir.compile(LISTED.format(tag="flex"), cache=False)
    q, k, v = (rand(1, 2, n, 64, seed=s) for s in (5, 6, 7))
    got = listed(q, k, v, idx, cnt)
    want, _ = causal_op[1](q, k, v)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_from_block_mask_without_full_blocks():
    import attnir
    bm = flex.create_block_mask(lambda b, h, qi, kv: qi >= kv, 1, 1, 64, 64,
                                device="cpu", BLOCK_SIZE=32)
    bm_partial = flex.BlockMask.from_kv_blocks(bm.kv_num_blocks, bm.kv_indices,
                                               BLOCK_SIZE=32)
    idx, cnt = attnir.from_block_mask(bm_partial)
    assert idx is bm_partial.kv_indices and cnt is bm_partial.kv_num_blocks
