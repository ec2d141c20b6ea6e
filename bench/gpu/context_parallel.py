#!/usr/bin/env python3
"""On a machine with several H200s (device kinds nvidia-h200-x2 .. -x8), one
process per GPU through torchrun and NCCL: checks attnir.distributed's ring
and head schedules against the single-GPU kernel on the same inputs, then
times causal attention (B = 1, bf16, D = 128) at long N:

- single: AttnIR's causal kernel on one GPU over the whole sequence;
- ring: ring_attention, zigzag layout, transfers overlapped with the kernels;
- compute: the same ring with the transfers left out (each rank's kernels
  only; per-rank times give the causal balance);
- comm: the ring's transfers alone;
- hidden = (compute + comm - ring) / comm;
- heads: head_attention (all-to-all over heads, then the causal kernel);
- torch CP: torch's context-parallel SDPA (torch.distributed.tensor.
  experimental.context_parallel) where it runs.

Bundles: python3 bench/gpu/build_context_parallel.py here, carry
bench/gpu/bundles. NVLink multicast stays off (NCCL_NVLS_ENABLE=0).
    NCCL_NVLS_ENABLE=0 torchrun --nproc_per_node=2 bench/gpu/context_parallel.py --out DIR
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist

import attnir
import attnir.distributed as ad
from attnir.distributed._comm import Exchange, TorchComm

HERE = os.path.dirname(os.path.abspath(__file__))


class NoTransfer(TorchComm):
    """The ring's compute alone: exchange() hands back buffers of the right
    shapes without moving anything."""

    def exchange(self, tensors, dest, source, like):
        bufs = [torch.empty(s, dtype=d, device=tensors[0].device) for s, d in like]
        return Exchange(lambda: bufs)


def rel(a, b):
    a, b = a.float(), b.float()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def timed(fn, reps):
    """Median wall time over `reps` after one warm-up; every rank starts
    together and the slowest rank's time counts (max over ranks)."""
    fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        dist.barrier()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t0)
    mine = statistics.median(ts)
    t = torch.tensor([mine], device="cuda", dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t), mine


def rand(shape, seed):
    g = torch.Generator(device="cuda").manual_seed(seed)
    return torch.randn(shape, generator=g, device="cuda", dtype=torch.bfloat16)


def checks(ring, causal_k, rank, world):
    """(name, max rel err over ranks) of each schedule against the kernel."""
    out = []
    B, H, Hkv, D = 1, 8, 4, 128
    for N, layout, is_causal, blocks in [(8192 + 77, "zigzag", True, False),
                                         (6000, "contiguous", True, False),
                                         (5000 + 3, "zigzag", False, False),
                                         (128 * 37 + 5, "zigzag", False, True),
                                         (128 * 41, "contiguous", True, True)]:
        q, k, v = rand((B, H, N, D), 1), rand((B, Hkv, N, D), 2), rand((B, Hkv, N, D), 3)
        granule, bl, bs = 1, None, None
        args = (q, k, v)
        entry = "causal" if is_causal else "dense"
        if blocks:
            granule, bs = 128, (128, 128)
            nb = -(-N // 128)
            g = torch.Generator(device="cuda").manual_seed(4)
            keep = torch.rand((B, H, nb, nb), generator=g, device="cuda") < 0.3
            idx = torch.argsort((~keep).to(torch.int32), dim=-1, stable=True).to(torch.int32)
            cnt = keep.sum(-1).to(torch.int32)
            bl = (idx.contiguous(), cnt.contiguous())
            args = args + bl
            entry = "causal_blocks" if is_causal else "blocks"
        want_o, want_l = ring[entry](*args)
        sh = [ad.shard(x, rank, world, layout, granule) for x in (q, k, v)]
        got_o, got_l = ad.ring_attention(*sh, None, seq_len=N, causal=is_causal, blocks=bl,
                                         block_size=bs, layout=layout, lse=True, kernels=ring)
        e = max(rel(got_o, ad.shard(want_o, rank, world, layout, granule)),
                rel(got_l, ad.shard(want_l, rank, world, layout, granule)))
        t = torch.tensor([e], device="cuda", dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        out.append((f"ring {entry} {layout} N={N}", float(t)))
    out += linear_checks(rank, world)
    N = 8192 + 33
    q, k, v = rand((B, H, N, D), 5), rand((B, Hkv, N, D), 6), rand((B, Hkv, N, D), 7)
    want = causal_k(q, k, v)
    sh = [ad.shard(x, rank, world, "contiguous") for x in (q, k, v)]
    got = ad.head_attention(*sh, None, causal_k, seq_len=N, layout="contiguous")
    t = torch.tensor([rel(got, ad.shard(want, rank, world, "contiguous"))],
                     device="cuda", dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    out.append((f"heads causal contiguous N={N}", float(t)))
    return out


def linear_checks(rank, world):
    """attn.linear with its state passed down the ranks over NCCL (the
    gated delta rule in sequence, GLA's per-feature gates by the scan)
    against the single-GPU kernel: outputs on every rank, the final state
    on the last."""
    out = []
    B, H, D, N = 1, 4, 128, 3000 + 7
    g = torch.Generator(device="cuda").manual_seed(9)
    for name, gla in (("linear_gdr_bf16_d128", False), ("linear_gla_bf16_d128", True)):
        kern = attnir.load(os.path.join(HERE, "bundles", name + ".bundle"))
        q, k, v = (0.5 * rand((B, H, N, D), 50 + s) for s in range(3))
        lg = torch.log(0.6 + 0.4 * torch.rand((B, H, N) + ((D,) if gla else ()),
                                              generator=g, device="cuda"))
        beta = 0.1 + 0.8 * torch.rand((B, H, N), generator=g, device="cuda")
        s0 = 0.2 * torch.randn((B, H, D, D), generator=g, device="cuda")
        full = (q, k, v, lg) + (() if gla else (beta,)) + (s0,)
        want_o, want_s = kern(*full)
        sh = [ad.shard(x, rank, world, "contiguous") for x in (q, k, v)]
        got_o, got_s = ad.linear_attention(
            *sh, None, seq_len=N, log_gate=ad.shard(lg, rank, world, "contiguous"),
            beta=None if gla else ad.shard(beta, rank, world, "contiguous"),
            initial_state=s0, l2norm=not gla, scale=128 ** -0.5, kernels=kern,
            schedule="scan" if gla else "sequential")
        e = rel(got_o, ad.shard(want_o, rank, world, "contiguous"))
        if rank == world - 1:
            e = max(e, rel(got_s, want_s))
        t = torch.tensor([e], device="cuda", dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        out.append((f"linear {name} {'scan' if gla else 'sequential'} N={N}", float(t)))
    return out


def torch_cp(N, H, D, world, reps):
    """torch's context-parallel SDPA on the same problem, or why not."""
    try:
        import torch.nn.functional as F
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.tensor.experimental import context_parallel
        mesh = init_device_mesh("cuda", (world,))
        q, k, v = (rand((1, H, N, D), s) for s in (11, 12, 13))
        with context_parallel(mesh, buffers=[q, k, v], buffer_seq_dims=[2, 2, 2]):
            t, _ = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), reps)
        return t, None
    except Exception as e:  # noqa: BLE001 - reported in the table
        return None, f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundles", default=os.path.join(HERE, "bundles"))
    ap.add_argument("--out", default=".")
    ap.add_argument("--sizes", default="131072,262144,524288,1048576")
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--checks-only", action="store_true")
    args = ap.parse_args()
    assert os.environ.get("NCCL_NVLS_ENABLE") == "0", "NVLink multicast must stay off"
    local = int(os.environ.get("LOCAL_RANK", 0))
    torch.cuda.set_device(local)
    dist.init_process_group("nccl", device_id=torch.device("cuda", local))
    rank, world = dist.get_rank(), dist.get_world_size()
    ring = attnir.load(os.path.join(args.bundles, "cp_ring_bf16_d128.bundle"))
    causal_k = attnir.load(os.path.join(args.bundles, "cp_causal_bf16_d128.bundle"))

    results = {"world": world, "gpu": torch.cuda.get_device_name(), "checks": [], "rows": []}
    for name, err in checks(ring, causal_k, rank, world):
        ok = err <= 2e-2
        results["checks"].append({"case": name, "max_rel_err": err, "ok": ok})
        if rank == 0:
            print(f"{'ok  ' if ok else 'FAIL'} {name}: max rel err vs single GPU {err:.2e}",
                  flush=True)

    if args.checks_only:
        dist.destroy_process_group()
        sys.exit(1 if any(not c["ok"] for c in results["checks"]) else 0)
    H, D = args.heads, 128
    quiet = NoTransfer(None)
    comm = TorchComm(None)
    for N in (int(s) for s in args.sizes.split(",")):
        flops = 4.0 * H * D * N * (N + 1) / 2
        sh = [rand((1, H, ad.local_length(N, rank, world), D), 20 + s) for s in range(3)]
        t_ring, _ = timed(lambda: ad.ring_attention(*sh, comm, seq_len=N, causal=True,
                                                    kernels=ring), args.reps)
        t_comp, mine = timed(lambda: ad.ring_attention(*sh, quiet, seq_len=N, causal=True,
                                                       kernels=ring), args.reps)
        per_rank = [torch.zeros(1, dtype=torch.float64, device="cuda") for _ in range(world)]
        dist.all_gather(per_rank, torch.tensor([mine], dtype=torch.float64, device="cuda"))
        per_rank = [float(x) for x in per_rank]

        def comm_only():
            kv = [x.contiguous() for x in sh[1:]]
            for s in range(world - 1):
                kv = comm.exchange(kv, (rank + 1) % world, (rank - 1) % world,
                                   [(x.shape, x.dtype) for x in kv]).wait()
        t_comm, _ = timed(comm_only, args.reps)
        shc = [ad.shard(rand((1, H, N, D), 30 + s), rank, world, "contiguous") for s in range(3)]
        t_heads, _ = timed(lambda: ad.head_attention(*shc, comm, causal_k, seq_len=N,
                                                     layout="contiguous"), args.reps)
        del shc
        if rank == 0:  # the single-GPU anchor on the whole sequence
            full = [rand((1, H, N, D), 40 + s) for s in range(3)]
            causal_k(*full)
            torch.cuda.synchronize()
            ts = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                causal_k(*full)
                torch.cuda.synchronize()
                ts.append(time.perf_counter() - t0)
            t_single = statistics.median(ts)
            del full
        else:
            t_single = 0.0
        t = torch.tensor([t_single], dtype=torch.float64, device="cuda")
        dist.broadcast(t, 0)
        t_single = float(t)
        torch.cuda.empty_cache()
        t_torch, why = torch_cp(N, H, D, world, args.reps)
        hidden = max(0.0, min(1.0, (t_comp + t_comm - t_ring) / t_comm)) if t_comm > 0 else 1.0
        row = {"N": N, "H": H, "D": D, "single_s": t_single, "ring_s": t_ring,
               "compute_s": t_comp, "comm_s": t_comm, "heads_s": t_heads,
               "torch_cp_s": t_torch, "torch_cp_error": why,
               "single_tflops": flops / t_single / 1e12,
               "ring_tflops_per_gpu": flops / t_ring / world / 1e12,
               "heads_tflops_per_gpu": flops / t_heads / world / 1e12,
               "ring_vs_single": t_single / (t_ring * world),
               "hidden": hidden, "per_rank_compute_s": per_rank,
               "balance": max(per_rank) / min(per_rank)}
        results["rows"].append(row)
        if rank == 0:
            print(json.dumps(row), flush=True)
        del sh
        torch.cuda.empty_cache()
    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, f"context-parallel-{world}gpu.json"), "w") as f:
            json.dump(results, f, indent=1)
    dist.destroy_process_group()
    bad = [c for c in results["checks"] if not c["ok"]]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
