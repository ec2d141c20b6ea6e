"""attnir.torch on the H200 (issue 20, deliverables 3-4), with the kernels
compiled there from the self-contained wheel (bench/gpu/build_wheel.sh):

1. torch.compile(fullgraph=True) of a module calling an AttnIR custom op:
   no graph break (dynamo's explain), inductor's result equals eager;
   mode="reduce-overhead" (CUDA graph trees) too.
2. A CUDA graph captured around the op and replayed on new inputs (copied
   into the captured buffers) equals eager on those inputs.
3. FlexAttention interop: BlockMasks from create_block_mask (causal; causal
   and a random per-head block table), passed by attnir.from_block_mask to a
   block-list spec, against flex_attention on the same mask (bf16), both
   timed in this process.

Run there: bash bench/gpu/torch_op.sh --out DIR (installs the wheel first).
Writes torch-op-gpu.json.
"""
import argparse
import json
import time

import torch
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

import attnir
import attnir.torch
from sparse import time_ms  # the bench's one CUDA-event timer

B, H, N, D = 2, 16, 4096, 128
BLOCK = 128

CAUSAL = f"""
func.func @op_causal(%q: tensor<?x?x?x{D}xbf16>, %k: tensor<?x?x?x{D}xbf16>,
                     %v: tensor<?x?x?x{D}xbf16>) -> tensor<?x?x?x{D}xbf16> {{
  %o = attn.attention %q, %k, %v mask(#attn.causal)
      : (tensor<?x?x?x{D}xbf16>, tensor<?x?x?x{D}xbf16>, tensor<?x?x?x{D}xbf16>)
      -> tensor<?x?x?x{D}xbf16>
  return %o : tensor<?x?x?x{D}xbf16>
}}
"""
LISTED = f"""
func.func @op_listed(%q: tensor<?x?x?x{D}xbf16>, %k: tensor<?x?x?x{D}xbf16>,
                     %v: tensor<?x?x?x{D}xbf16>, %kv_indices: tensor<?x?x?x?xi32>,
                     %kv_counts: tensor<?x?x?xi32>) -> tensor<?x?x?x{D}xbf16> {{
  %o = attn.attention %q, %k, %v blocks(%kv_indices, %kv_counts)
         block_size({BLOCK}, {BLOCK}) mask(#attn.causal)
       : (tensor<?x?x?x{D}xbf16>, tensor<?x?x?x{D}xbf16>, tensor<?x?x?x{D}xbf16>,
          tensor<?x?x?x?xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x{D}xbf16>
  return %o : tensor<?x?x?x{D}xbf16>
}}
"""


def rel_err(a, b):
    a, b = a.float(), b.float()
    return float((a - b).abs().max() / b.abs().max())


def inputs(seed, n=N):
    g = torch.Generator(device="cuda").manual_seed(seed)
    return [torch.randn(B, H, n, D, device="cuda", generator=g).bfloat16()
            for _ in range(3)]


class Block(torch.nn.Module):
    """A projection, the AttnIR op, and a residual: the op inside a graph."""

    def __init__(self, op):
        super().__init__()
        self.op = op
        self.proj = torch.nn.Linear(D, D, dtype=torch.bfloat16, device="cuda")

    def forward(self, q, k, v):
        return self.op(self.proj(q), k, v) + q


def check_compile(op, report):
    q, k, v = inputs(1)
    mod = Block(op)
    eager = mod(q, k, v)
    explain = torch._dynamo.explain(mod)(q, k, v)
    out = {"graph_breaks": explain.graph_break_count,
           "graphs": explain.graph_count}
    torch._dynamo.reset()
    compiled = torch.compile(mod, fullgraph=True)
    out["inductor_rel_err"] = rel_err(compiled(q, k, v), eager)
    torch._dynamo.reset()
    overhead = torch.compile(mod, fullgraph=True, mode="reduce-overhead")
    for _ in range(3):  # warm-up, record, replay
        got = overhead(q, k, v)
    out["reduce_overhead_rel_err"] = rel_err(got, eager)
    report["torch_compile"] = out
    assert out["graph_breaks"] == 0 and out["graphs"] == 1, out
    assert out["inductor_rel_err"] < 1e-2 and out["reduce_overhead_rel_err"] < 1e-2


def check_cuda_graph(op, report):
    q, k, v = inputs(2)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):
            op(q, k, v)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = op(q, k, v)
    errs = []
    for seed in (3, 4):
        nq, nk, nv = inputs(seed)
        q.copy_(nq), k.copy_(nk), v.copy_(nv)
        graph.replay()
        torch.cuda.synchronize()
        errs.append(rel_err(captured, op(nq, nk, nv)))
    t_eager = time_ms(lambda: op(q, k, v), reps=10)
    t_graph = time_ms(graph.replay, reps=10)
    report["cuda_graph"] = {"replay_vs_eager_rel_err": max(errs),
                            "eager_ms": t_eager, "replay_ms": t_graph}
    assert max(errs) == 0.0, errs


def check_flex(listed, report):
    flex = torch.compile(flex_attention)
    g = torch.Generator(device="cuda").manual_seed(7)
    nb = N // BLOCK
    table = torch.rand(H, nb, nb, device="cuda", generator=g) < 0.25
    table |= torch.eye(nb, dtype=torch.bool, device="cuda")

    def causal(b, h, qi, kv):
        return qi >= kv

    def sparse(b, h, qi, kv):
        return (qi >= kv) & table[h, qi // BLOCK, kv // BLOCK]

    rows = []
    for name, mask_mod in (("causal", causal), ("causal and a 25% block table", sparse)):
        bm = create_block_mask(mask_mod, B, H, N, N, device="cuda",
                               BLOCK_SIZE=BLOCK)
        q, k, v = inputs(8)
        idx, cnt = attnir.from_block_mask(bm)
        ours = listed(q, k, v, idx, cnt)
        theirs = flex(q, k, v, block_mask=bm)
        err = rel_err(ours, theirs)
        kept = float(bm.sparsity())  # percent of blocks skipped
        rows.append({"mask": name, "rel_err_vs_flex": err,
                     "blocks_skipped_pct": kept,
                     "attnir_ms": time_ms(lambda: listed(q, k, v, idx, cnt), reps=10),
                     "flex_ms": time_ms(lambda: flex(q, k, v, block_mask=bm), reps=10),
                     "from_block_mask_ms": time_ms(lambda: attnir.from_block_mask(bm), reps=10)})
        assert err < 2e-2, (name, err)
    report["flex_block_mask"] = rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=".")
    args = ap.parse_args()
    torch.set_grad_enabled(False)  # inference: the op has no autograd formula
    report = {"torch": torch.__version__, "attnir": attnir.version(),
              "shape": {"B": B, "H": H, "N": N, "D": D, "dtype": "bf16"}}
    t0 = time.perf_counter()
    causal = attnir.compile(CAUSAL, target="cuda", cache=False)
    listed = attnir.compile(LISTED, target="cuda", cache=False)
    report["compile_two_specs_s"] = round(time.perf_counter() - t0, 3)
    op = attnir.torch.custom_op(causal)
    listed_op = attnir.torch.custom_op(listed)
    failures = []
    for check, what in ((check_compile, op), (check_cuda_graph, op),
                        (check_flex, listed_op)):
        try:
            check(what, report)
        except Exception as e:  # report every check, fail at the end
            failures.append(f"{check.__name__}: {e!r}")
    report["failures"] = failures
    text = json.dumps(report, indent=1)
    print(text)
    with open(f"{args.out}/torch-op-gpu.json", "w") as f:
        f.write(text + "\n")
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
