#!/usr/bin/env python3
"""Prototype: a flash-attention forward kernel on tensor cores, written as
MLIR (gpu + nvgpu dialects) text, to validate the GPU tile body that the
attn lowering will generate (docs/design/gpu-plan.md step 2) before porting
it into the C++ pass.

FA2 structure, f16, D = Dv = 64, Hkv = Hq, optional causal (bottom-right):
grid (ceil(N/64), H, B), 4 warps, 16 query rows per warp. Q, K, V tiles go
through shared memory by cp.async (one stage), fragments by ldmatrix (V
transposed), S = Q K^T and O += P V by nvgpu.mma.sync m16n8k16 with f32
accumulators; the online softmax runs on the accumulator fragments (row max
and sum across each quad of lanes by gpu.shuffle xor), and the S fragments
become the P operand in registers.

usage: gen_flash.py [dense|causal] [D = 64|128] > flash.mlir
(D = 128 uses 32-key blocks so that the static shared memory stays < 48 KB.)
"""
import sys

CAUSAL = len(sys.argv) > 1 and sys.argv[1] == "causal"
D = int(sys.argv[2]) if len(sys.argv) > 2 else 64
assert D in (64, 128)
BQ, BK = 64, (64 if D == 64 else 32)
PAD = D + 8
LOG2E = 1.4426950408889634

lines = []
n = [0]


def emit(s):
    lines.append("      " + s)


def v(expr, prefix="v"):
    n[0] += 1
    name = f"%{prefix}{n[0]}"
    emit(f"{name} = {expr}")
    return name


def ci(x):
    return v(f"arith.constant {x} : index", "c")


def cf(x):
    return v(f"arith.constant {x} : f32", "f")


MT = f"memref<?x?x?x{D}xf16>"
SMQ = f"memref<{BQ}x{PAD}xf16, #gpu.address_space<workgroup>>"
SMK = f"memref<{BK}x{PAD}xf16, #gpu.address_space<workgroup>>"
SM = SMQ


def load_tile(src, dst, row0, nrows_total, b, h, tid, rows, smt):
    """cp.async a rows x D f16 tile (rows clamped to nrows_total - 1) into dst."""
    toks = []
    chunks = D // 8  # 16-byte chunks per row
    for t in range(rows * chunks // 128):
        c = v(f"arith.addi {tid}, {ci(128 * t)} : index")
        r = v(f"arith.divui {c}, {ci(chunks)} : index")
        cr = v(f"arith.remui {c}, {ci(chunks)} : index")
        col = v(f"arith.muli {cr}, {ci(8)} : index")
        g = v(f"arith.addi {row0}, {r} : index")
        last = v(f"arith.subi {nrows_total}, {ci(1)} : index")
        g = v(f"arith.minui {g}, {last} : index")
        toks.append(v(f"nvgpu.device_async_copy {src}[{b}, {h}, {g}, {col}], {dst}[{r}, {col}], 8 "
                      f": {MT} to {smt}"))
    grp = v(f"nvgpu.device_async_create_group {', '.join(toks)}")
    emit(f"nvgpu.device_async_wait {grp} {{numGroups = 0 : i32}}")


out = lines
print("module attributes {gpu.container_module} {")
print("  gpu.module @attn {")
for nm, t in (("sQ", SMQ), ("sK", SMK), ("sV", SMK)):
    print(f'    memref.global "private" @{nm} : {t} {{alignment = 128 : i64}}')
name = ("causal" if CAUSAL else "dense") + ("" if D == 64 else f"_d{D}")
print(f"    gpu.func @{name}(%q: {MT}, %k: {MT}, %v: {MT}, %o: {MT}) kernel "
      "attributes {known_block_size = array<i32: 128, 1, 1>} {")

tid = v("gpu.thread_id x")
tile = v("gpu.block_id x")
h = v("gpu.block_id y")
b = v("gpu.block_id z")
N = v(f"memref.dim %q, {ci(2)} : {MT}")
M = v(f"memref.dim %k, {ci(2)} : {MT}")
sQ = v(f"memref.get_global @sQ : {SM}")
sK = v(f"memref.get_global @sK : {SMK}")
sV = v(f"memref.get_global @sV : {SMK}")
warp = v(f"arith.divui {tid}, {ci(32)} : index")
lane = v(f"arith.remui {tid}, {ci(32)} : index")
i0 = v(f"arith.muli {tile}, {ci(BQ)} : index")

load_tile("%q", sQ, i0, N, b, h, tid, BQ, SMQ)
emit("gpu.barrier")
# Q fragments: rows warp*16 + lane%16, cols kt*16 + (lane/16)*8
wrow = v(f"arith.muli {warp}, {ci(16)} : index")
l16 = v(f"arith.remui {lane}, {ci(16)} : index")
lqd = v(f"arith.divui {lane}, {ci(16)} : index")
lq = v(f"arith.muli {lqd}, {ci(8)} : index")
qr = v(f"arith.addi {wrow}, {l16} : index")
qf = []
for kt in range(D // 16):
    col = v(f"arith.addi {ci(kt * 16)}, {lq} : index")
    qf.append(v(f"nvgpu.ldmatrix {sQ}[{qr}, {col}] {{numTiles = 4 : i32, transpose = false}} "
                f": {SM} -> vector<4x2xf16>"))

# rows this thread owns in the accumulators, as global positions (i64)
quad = v(f"arith.divui {lane}, {ci(4)} : index")
i0w = v(f"arith.addi {i0}, {wrow} : index")
r0 = v(f"arith.addi {i0w}, {quad} : index")
r1 = v(f"arith.addi {r0}, {ci(8)} : index")
l4 = v(f"arith.remui {lane}, {ci(4)} : index")
cq = v(f"arith.muli {l4}, {ci(2)} : index")

# key blocks: all, or up to the diagonal for causal (bottom-right)
nkb = v(f"arith.ceildivui {M}, {ci(BK)} : index")
if CAUSAL:
    i0p = v(f"arith.addi {i0}, {ci(BQ)} : index")
    i1 = v(f"arith.minui {i0p}, {N} : index")
    dmn = v(f"arith.subi {M}, {N} : index")
    vis = v(f"arith.addi {i1}, {dmn} : index")
    vis = v(f"arith.maxsi {vis}, {ci(0)} : index")
    vis = v(f"arith.minsi {vis}, {M} : index")
    nkb = v(f"arith.ceildivui {vis}, {ci(BK)} : index")

neginf = cf("0xFF800000")
zero = cf("0.0")
zacc = v("arith.constant dense<0.0> : vector<2x2xf32>")
scale = cf(f"{(D ** -0.5) * LOG2E:.10e}")
delta = v(f"arith.subi {M}, {N} : index")

NO = D // 8  # O accumulators (n-tiles of 8 columns)
iters = [(f"%oa{i}", zacc) for i in range(NO)] + [("%m0", neginf), ("%m1", neginf), ("%l0", zero), ("%l1", zero)]
res = f"%loop:{len(iters)}"
types = ", ".join(["vector<2x2xf32>"] * NO + ["f32"] * 4)
emit(f"{res} = scf.for %kb = {ci(0)} to {nkb} step {ci(1)} iter_args("
     + ", ".join(f"{a} = {b_}" for a, b_ in iters) + f") -> ({types}) {{")
j0 = v(f"arith.muli %kb, {ci(BK)} : index")
load_tile("%k", sK, j0, M, b, h, tid, BK, SMK)
load_tile("%v", sV, j0, M, b, h, tid, BK, SMK)
emit("gpu.barrier")

# S = Q K^T: 8 n-tiles of 8 keys
l8 = v(f"arith.remui {lane}, {ci(8)} : index")
l8q = v(f"arith.divui {lane}, {ci(8)} : index")
l8r = v(f"arith.remui {l8q}, {ci(2)} : index")
lk = v(f"arith.muli {l8r}, {ci(8)} : index")
S = []
for nt in range(BK // 8):
    acc = zacc
    kr = v(f"arith.addi {ci(nt * 8)}, {l8} : index")
    for kt in range(D // 16):
        kc = v(f"arith.addi {ci(kt * 16)}, {lk} : index")
        bf = v(f"nvgpu.ldmatrix {sK}[{kr}, {kc}] {{numTiles = 2 : i32, transpose = false}} "
               f": {SMK} -> vector<2x2xf16>")
        acc = v(f"nvgpu.mma.sync ({qf[kt]}, {bf}, {acc}) {{mmaShape = [16, 8, 16]}} "
                f": (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>")
    S.append(acc)

# scale (log2 units) and mask: key tail always, causal diagonal
sv = []  # sv[nt][row][c]
for nt in range(BK // 8):
    rows = []
    for rr, rowg in ((0, r0), (1, r1)):
        pair = v(f"vector.extract {S[nt]}[{rr}] : vector<2xf32> from vector<2x2xf32>")
        vals = []
        for c in range(2):
            x = v(f"vector.extract {pair}[{c}] : f32 from vector<2xf32>")
            x = v(f"arith.mulf {x}, {scale} : f32")
            cc = v(f"arith.addi {cq}, {ci(nt * 8 + c)} : index")
            col = v(f"arith.addi {j0}, {cc} : index")
            keep = v(f"arith.cmpi ult, {col}, {M} : index")
            if CAUSAL:
                lim = v(f"arith.addi {rowg}, {delta} : index")
                le = v(f"arith.cmpi sle, {col}, {lim} : index")
                keep = v(f"arith.andi {keep}, {le} : i1")
            vals.append(v(f"arith.select {keep}, {x}, {neginf} : f32"))
        rows.append(vals)
    sv.append(rows)


def shuffled(x, kind):
    for off in (1, 2):
        offc = v(f"arith.constant {off} : i32", "i")
        w = v("arith.constant 32 : i32", "i")
        n[0] += 1
        sh = f"%sh{n[0]}"
        emit(f"{sh}:2 = gpu.shuffle xor {x}, {offc}, {w} : f32")
        x = v(f"arith.{kind} {x}, {sh}#0 : f32")
    return x


mold = ["%m0", "%m1"]
lold = ["%l0", "%l1"]
mnew, alpha, lnew = [], [], []
P = [[None, None] for _ in range(BK // 8)]
for rr in range(2):
    mx = mold[rr]
    for nt in range(BK // 8):
        for c in range(2):
            mx = v(f"arith.maxnumf {mx}, {sv[nt][rr][c]} : f32")
    mx = shuffled(mx, "maxnumf")
    isinf = v(f"arith.cmpf oeq, {mx}, {neginf} : f32")
    muse = v(f"arith.select {isinf}, {zero}, {mx} : f32")
    dm = v(f"arith.subf {mold[rr]}, {muse} : f32")
    a = v(f"math.exp2 {dm} : f32")
    rs = zero
    for nt in range(BK // 8):
        ps = []
        for c in range(2):
            ds = v(f"arith.subf {sv[nt][rr][c]}, {muse} : f32")
            p = v(f"math.exp2 {ds} : f32")
            rs = v(f"arith.addf {rs}, {p} : f32")
            ps.append(p)
        pv = v(f"vector.from_elements {ps[0]}, {ps[1]} : vector<2xf32>")
        P[nt][rr] = v(f"arith.truncf {pv} : vector<2xf32> to vector<2xf16>")
    mnew.append(mx)
    alpha.append(a)
    la = v(f"arith.mulf {lold[rr]}, {a} : f32")
    lnew.append(v(f"arith.addf {la}, {rs} : f32"))

# rescale O, then O += P V
onew = []
vr = v(f"arith.remui {lane}, {ci(16)} : index")
for dt in range(NO):
    o = f"%oa{dt}"
    rows = []
    for rr in range(2):
        pair = v(f"vector.extract {o}[{rr}] : vector<2xf32> from vector<2x2xf32>")
        sa = v(f"vector.broadcast {alpha[rr]} : f32 to vector<2xf32>")
        rows.append(v(f"arith.mulf {pair}, {sa} : vector<2xf32>"))
    acc = v(f"vector.insert {rows[0]}, {zacc} [0] : vector<2xf32> into vector<2x2xf32>")
    acc = v(f"vector.insert {rows[1]}, {acc} [1] : vector<2xf32> into vector<2x2xf32>")
    for kt in range(BK // 16):
        a = v("arith.constant dense<0.0> : vector<4x2xf16>")
        for idx, (ntt, rr) in enumerate(((2 * kt, 0), (2 * kt, 1), (2 * kt + 1, 0), (2 * kt + 1, 1))):
            a = v(f"vector.insert {P[ntt][rr]}, {a} [{idx}] : vector<2xf16> into vector<4x2xf16>")
        kr = v(f"arith.addi {ci(kt * 16)}, {vr} : index")
        bf = v(f"nvgpu.ldmatrix {sV}[{kr}, {ci(dt * 8)}] {{numTiles = 2 : i32, transpose = true}} "
               f": {SMK} -> vector<2x2xf16>")
        acc = v(f"nvgpu.mma.sync ({a}, {bf}, {acc}) {{mmaShape = [16, 8, 16]}} "
                f": (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>")
    onew.append(acc)
emit("gpu.barrier")
emit("scf.yield " + ", ".join(onew + mnew + lnew) + " : " + types)
emit("}")

# epilogue: l across the quad, normalise, store rows < N
lt = [shuffled(f"%loop#{NO + 2 + rr}", "addf") for rr in range(2)]
for rr, rowg in ((0, r0), (1, r1)):
    pos = v(f"arith.cmpf ogt, {lt[rr]}, {zero} : f32")
    one = cf(1.0)
    rcp = v(f"arith.divf {one}, {lt[rr]} : f32")
    inv = v(f"arith.select {pos}, {rcp}, {zero} : f32")
    invv = v(f"vector.broadcast {inv} : f32 to vector<2xf32>")
    inb = v(f"arith.cmpi ult, {rowg}, {N} : index")
    emit(f"scf.if {inb} {{")
    for dt in range(NO):
        pair = v(f"vector.extract %loop#{dt}[{rr}] : vector<2xf32> from vector<2x2xf32>")
        sc = v(f"arith.mulf {pair}, {invv} : vector<2xf32>")
        o2 = v(f"arith.truncf {sc} : vector<2xf32> to vector<2xf16>")
        col = v(f"arith.addi {ci(dt * 8)}, {cq} : index")
        emit(f"vector.store {o2}, %o[{b}, {h}, {rowg}, {col}] {{alignment = 4}} : {MT}, vector<2xf16>")
    emit("}")
emit("gpu.return")
print("\n".join(lines))
print("    }")
print("  }")
print("}")
