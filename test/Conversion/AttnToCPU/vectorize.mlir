// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile{decode-rows=0},attn-vectorize-cpu{lanes=16 rows=4 cols=4}))' \
// RUN:   | FileCheck %s --check-prefix=V16 --implicit-check-not=attn.kv_block_update --implicit-check-not=math.exp --implicit-check-not=memref.prefetch
// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile{decode-rows=0},attn-vectorize-cpu{lanes=8 rows=4 cols=4}))' \
// RUN:   | FileCheck %s --check-prefix=V8 --implicit-check-not=attn.kv_block_update --implicit-check-not=math.exp
// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile{decode-rows=16},attn-vectorize-cpu{lanes=16 rows=4 cols=4}))' \
// RUN:   | FileCheck %s --check-prefix=DEC --implicit-check-not=attn.kv_block_update
// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile{decode-rows=0},attn-vectorize-cpu{lanes=16 avx512=true}))' \
// RUN:   | FileCheck %s --check-prefix=SCALEF
// RUN: not attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile,attn-vectorize-cpu{lanes=7}))' 2>&1 \
// RUN:   | FileCheck %s --check-prefix=ERR
// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile{decode-rows=0 bf16-dot=1},attn-vectorize-cpu{lanes=16 rows=4 cols=4}))' \
// RUN:   | FileCheck %s --check-prefix=PAIR --implicit-check-not=attn.kv_block_update
// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile{decode-rows=0 bf16-dot=2},attn-vectorize-cpu{lanes=16 rows=4 cols=4}))' \
// RUN:   | FileCheck %s --check-prefix=AMX --implicit-check-not=attn.kv_block_update --implicit-check-not=x86vector.avx512.dot
// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile{decode-rows=0 bf16-dot=2 f32-amx=true},attn-vectorize-cpu{lanes=16 rows=4 cols=4}))' \
// RUN:   | FileCheck %s --check-prefix=SPLIT --implicit-check-not=attn.kv_block_update
// RUN: not attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile{decode-rows=0 bf16-dot=1},attn-vectorize-cpu{lanes=8}))' 2>&1 \
// RUN:   | FileCheck %s --check-prefix=PAIR-ERR
// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile{decode-rows=0},attn-vectorize-cpu{lanes=16 rows=4 cols=4 prefetch=true}))' \
// RUN:   | FileCheck %s --check-prefix=PF

// ERR: error: attn-vectorize-cpu: lanes must be 8 (AVX2) or 16 (AVX-512), got 7

// attn-tile gives a key loop of 64-key blocks over 64-row query tiles; each
// attn.kv_block_update becomes four phases of vector code. With 16 lanes and
// 4x4 register tiles: S = Q K^T in 4 rows x 4 vectors (16 accumulators, one
// column step of 64 keys), masking of partial blocks under scf.if, the online
// softmax with a polynomial exp (its per-row state 16 rows at a time), and
// O += P V in 4 rows x 4 vectors.

// V16-LABEL: func.func @dense
// V16-DAG: %[[NEGINF:[a-z0-9_]+]] = arith.constant dense<0xFF800000> : vector<16xf32>
// V16: scf.for %{{.*}} iter_args(%{{.*}}, %{{.*}}) -> (vector<64xf32>, vector<64xf32>)
// V16:   %[[MASKED:[a-z0-9_]+]] = arith.ori
// Rows past N are skipped up to a whole register tile of 4 rows.
// V16:   %[[VALID:[a-z0-9_]+]] = arith.minui %{{.*}}, %c64 : index
// V16:   %[[TILES:[a-z0-9_]+]] = arith.ceildivui %[[VALID]], %c4 : index
// V16:   %[[LIVE:[a-z0-9_]+]] = arith.muli %[[TILES]], %c4 : index
// Phase 1: S = Q K^T.
// V16:   scf.for %{{.*}} = %c0 to %[[LIVE]] step %c4 {
// V16:     scf.for %{{.*}} = %c0 to %c64 step %c64 {
// V16:       scf.for %{{.*}} = %c0 to %c64 step %c1 iter_args({{.*}}) -> (vector<16xf32>,
// V16-COUNT-4: vector.load %{{.*}} : memref<?x?x?x64x64xf32>, vector<16xf32>
// V16-COUNT-16: vector.fma %{{.*}}, %{{.*}}, %{{.*}} : vector<16xf32>
// Phase 2: only the key tail j < M, under the block's `masked` flag.
// V16:   scf.if %[[MASKED]] {
// V16:     arith.cmpi slt, %{{.*}}, %{{.*}} : vector<16xi64>
// V16-NEXT: vector.load
// V16-NEXT: arith.select %{{.*}}, %{{.*}}, %[[NEGINF]] : vector<16xi1>, vector<16xf32>
// Phase 3: online softmax (OnlineSoftmax.cpp); exp is a polynomial (no
// math.exp is left). (A) each row's block max: whole groups of 16 rows
// store their rows' vectors in the scratch (rows 4-19) and reduce the 16
// together by shuffles of even and odd lanes into one vector of maxima;
// the rows past the last whole group one by one.
// V16:   %[[GROUPS:[a-z0-9_]+]] = arith.divui %[[LIVE]], %c16 : index
// V16:   %[[WHOLE:[a-z0-9_]+]] = arith.muli %[[GROUPS]], %c16 : index
// V16:   scf.for %[[G0:[a-z0-9_]+]] = %c0 to %[[WHOLE]] step %c16 {
// V16:     scf.for %{{.*}} = %c0 to %c16 step %c1 {
// V16:       vector.store %{{.*}}, %[[ROWS:[a-z0-9_]+]][%{{.*}}, %c0] : memref<20x64xf32>, vector<16xf32>
// V16:     vector.load %[[ROWS]][%c4, %c0] : memref<20x64xf32>, vector<16xf32>
// V16:     vector.load %[[ROWS]][%c19, %c0] : memref<20x64xf32>, vector<16xf32>
// V16:     vector.shuffle %{{.*}}, %{{.*}} [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]
// V16:     vector.store %{{.*}}, %[[ROWS]][%c0, %[[G0]]] : memref<20x64xf32>, vector<16xf32>
// V16:   scf.for %{{.*}} = %[[WHOLE]] to %[[LIVE]] step %c1 {
// V16:     memref.store %{{.*}}, %[[ROWS]][%c0, %{{.*}}] : memref<20x64xf32>
// (1) the new max, the exp shift and alpha for 16 rows at a time (64 rows:
// four groups).
// V16-COUNT-4: vector.extract_strided_slice %{{.*}} {offsets = [{{[0-9]+}}], sizes = [16], strides = [1]} : vector<64xf32> to vector<16xf32>
// (B) p = exp(s - shift) and each row's sum, reduced the same way.
// V16:   scf.for %[[G1:[a-z0-9_]+]] = %c0 to %{{.*}} step %c16 {
// V16:       memref.load %[[ROWS]][%c1, %{{.*}}] : memref<20x64xf32>
// V16:       vector.bitcast %{{.*}} : vector<16xi32> to vector<16xf32>
// V16:     vector.store %{{.*}}, %[[ROWS]][%c3, %[[G1]]] : memref<20x64xf32>, vector<16xf32>
// V16:   scf.for
// V16:     vector.reduction <add>, %{{.*}} : vector<16xf32> into f32
// V16:     memref.store %{{.*}}, %[[ROWS]][%c3, %{{.*}}] : memref<20x64xf32>
// (2) l' = l alpha + sum, 16 rows at a time.
// V16-COUNT-4: vector.insert_strided_slice %{{.*}} : vector<16xf32> into vector<64xf32>
// Phase 4: acc = acc alpha + P V; each acc row takes its alpha as it is
// loaded.
// V16:   scf.for %{{.*}} = %c0 to %[[LIVE]] step %c4 {
// V16:     scf.for %{{.*}} = %c0 to %c64 step %c64 {
// V16:       memref.load %[[ROWS]][%c2, %{{.*}}] : memref<20x64xf32>
// V16:       arith.mulf %{{.*}}, %{{.*}} : vector<16xf32>
// V16:       scf.for %{{.*}} = %c0 to %c64 step %c1 iter_args({{.*}}) -> (vector<16xf32>,
// V16-COUNT-4: vector.load %{{.*}} : memref<?x?x?x64xf32>, vector<16xf32>
// V16-COUNT-16: vector.fma %{{.*}}, %{{.*}}, %{{.*}} : vector<16xf32>

// prefetch=true: Q K^T's steps each prefetch a line of this block's V rows
// (1024 steps, 256 lines: every fourth step a new line), P V's a line of
// the K^T panel of the block attn-tile's `next` names.
// PF-LABEL: func.func @dense
// PF:   scf.for %[[T:[a-z0-9_]+]] = %c0 to %[[COUNT:[a-z0-9_]+]] step %c1 iter_args
// PF:     %[[TN:[a-z0-9_]+]] = arith.addi %[[T]], %c1
// PF:     %[[TNEXT:[a-z0-9_]+]] = arith.minui %[[TN]], %{{.*}}
// PF:     %[[NEXT:[a-z0-9_]+]] = arith.muli %[[TNEXT]], %c64
// PF:     %[[NEXTKB:[a-z0-9_]+]] = arith.divui %[[NEXT]], %c64
// PF:     scf.for %{{.*}} = %c0 to %c64 step %c1 iter_args({{.*}}) -> (vector<16xf32>,
// PF:       arith.shrui %{{.*}}, %c2 : index
// PF:       memref.prefetch %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}], read, locality<3>, data : memref<?x?x?x64xf32>
// PF-COUNT-16: vector.fma
// PF:     scf.for %{{.*}} = %c0 to %{{.*}} step %c1 iter_args({{.*}}) -> (vector<16xf32>,
// PF:       memref.prefetch %{{.*}}[%{{.*}}, %{{.*}}, %[[NEXTKB]], %{{.*}}, %{{.*}}], read, locality<3>, data : memref<?x?x?x64x64xf32>
// PF-COUNT-16: vector.fma

// On AVX-512 exp runs in base 2: g = t - floor(t) by vreduceps (imm 9:
// round down), the polynomial p(g), then p 2^floor(t) by vscalefps, whose
// operand order is (a, b, passthrough, mask) with a = p and b = t itself
// (vscalefps floors it; x86vector's op would pass them in another order).
// Lanes with t < -126 (unordered compares stay live: NaN passes) are
// zero-masked in both instructions: a subnormal result would take a
// microcode assist on Intel cores.
// SCALEF-LABEL: func.func @dense
// SCALEF: %[[LIVE:[a-z0-9_]+]] = arith.cmpf uge, %[[T:[a-z0-9_]+]], %{{.*}} : vector<16xf32>
// SCALEF-NEXT: %[[M:[a-z0-9_]+]] = llvm.bitcast %[[LIVE]] : vector<16xi1> to i16
// SCALEF-NEXT: %[[G:[a-z0-9_]+]] = llvm.call_intrinsic "llvm.x86.avx512.mask.reduce.ps.512"(%[[T]], %c9_i32, %[[Z:[a-z0-9_]+]], %[[M]], %c4_i32)
// SCALEF-NEXT: %[[P0:[a-z0-9_]+]] = math.fma %{{.*}}, %[[G]], %{{.*}} : vector<16xf32>
// SCALEF-COUNT-4: math.fma %{{.*}}, %[[G]], %{{.*}} : vector<16xf32>
// SCALEF-NEXT: llvm.call_intrinsic "llvm.x86.avx512.mask.scalef.ps.512"(%{{.*}}, %[[T]], %[[Z]], %[[M]], %c4_i32)

// With 8 lanes a 64-key block is 8 vectors: the register tile is 4 rows x 4
// vectors of 8 (column step 32).
// f32 on AMX (f32-amx): each value in three bf16 pieces, one after another
// along the pair dimension (K^T [.., 3 x 32 pairs, 64 keys], V pairs
// [.., 3 x 64], the query tile [128 rows (doubled at D <= 64), 3 x 32]);
// each reduction step takes six products (pieces p + q < 3, smallest
// first); P's pieces are the upper halves of p and its remainders (one
// shuffle of 16-bit halves per piece), stored past the key block in a
// [128, 2 x 64] scores buffer.
// SPLIT-LABEL: func.func @dense
// The packs' pieces 0 and 1 are rounded to nearest even on integer lanes.
// SPLIT-DAG: %[[HALF:[a-z0-9_]+]] = arith.constant dense<32767> : vector<16xi32>
// SPLIT-DAG: arith.constant dense<-65536> : vector<16xi32>
// SPLIT: memref.alloc({{.*}}) : memref<?x?x?x96x64xi32>
// SPLIT: memref.alloc({{.*}}) : memref<?x?x?x192xi32>
// The packs are whole vectors: K's pairs from transposed 16 x 16 squares,
// a piece's 16 words per store, each piece the upper halves of the values
// or of their remainders (K and V pairs interleave two vectors' lanes: one
// shifted down, or-ed with the other), K prefetched 32 keys ahead.
// SPLIT: memref.prefetch %{{.*}}, read, locality<3>, data : memref<?x?x?x64xf32>
// SPLIT: arith.shrui %{{.*}}, %{{.*}} : vector<16xi32>
// SPLIT: arith.addi %{{.*}}, %[[HALF]] : vector<16xi32>
// SPLIT: arith.andi %{{.*}}, %{{.*}} : vector<16xi32>
// SPLIT: %[[X0:[a-z0-9_]+]] = vector.bitcast %{{.*}} : vector<16xf32> to vector<16xi32>
// SPLIT: %[[LO:[a-z0-9_]+]] = arith.shrui %[[X0]], %{{.*}} : vector<16xi32>
// SPLIT: arith.ori %[[LO]], %{{.*}} : vector<16xi32>
// SPLIT: arith.subf %{{.*}}, %{{.*}} : vector<16xf32>
// SPLIT: vector.store %{{.*}}, %{{.*}} : memref<?x?x?x96x64xi32>, vector<16xi32>
// SPLIT: memref.prefetch %{{.*}}, read, locality<3>, data : memref<?x?x?x64xf32>
// SPLIT: vector.store %{{.*}}, %{{.*}} : memref<?x?x?x192xi32>, vector<16xi32>
// SPLIT: memref.alloca() : memref<128x96xi32>
// SPLIT: vector.store %{{.*}}, %{{.*}} : memref<128x96xi32>, vector<16xi32>
// SPLIT: memref.alloca() : memref<128x128xf32>
// SPLIT: %[[A0:[a-z0-9_]+]] = amx.tile_load %{{.*}}[%{{.*}}, %c0] : memref<128x96xi32>
// SPLIT: %[[B0:[a-z0-9_]+]] = amx.tile_load %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}, %c0, %c0] : memref<?x?x?x96x64xi32>
// SPLIT: %[[A1:[a-z0-9_]+]] = amx.tile_load %{{.*}}[%{{.*}}, %c32] : memref<128x96xi32>
// SPLIT: %[[B1:[a-z0-9_]+]] = amx.tile_load %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}, %c32, %c0] : memref<?x?x?x96x64xi32>
// SPLIT: %[[A2:[a-z0-9_]+]] = amx.tile_load %{{.*}}[%{{.*}}, %c64] : memref<128x96xi32>
// SPLIT: %[[B2:[a-z0-9_]+]] = amx.tile_load %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}, %c64, %c0] : memref<?x?x?x96x64xi32>
// SPLIT: %[[S1:[a-z0-9_]+]] = amx.tile_mulf %[[A2]], %[[B0]], %{{.*}}
// SPLIT: %[[S2:[a-z0-9_]+]] = amx.tile_mulf %[[A1]], %[[B1]], %[[S1]]
// SPLIT: %[[S3:[a-z0-9_]+]] = amx.tile_mulf %[[A0]], %[[B2]], %[[S2]]
// SPLIT: %[[S4:[a-z0-9_]+]] = amx.tile_mulf %[[A1]], %[[B0]], %[[S3]]
// SPLIT: %[[S5:[a-z0-9_]+]] = amx.tile_mulf %[[A0]], %[[B1]], %[[S4]]
// SPLIT: amx.tile_mulf %[[A0]], %[[B0]], %[[S5]]
// SPLIT: vector.shuffle %{{.*}}, %{{.*}} [1, 3, 5, {{.*}}, 61, 63] : vector<32xi16>, vector<32xi16>
// SPLIT: amx.tile_load %{{.*}}[%{{.*}}, %c64] : memref<128x128xf32> into !amx.tile<16x32xbf16>
// SPLIT: amx.tile_load %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}, %c128] : memref<?x?x?x192xi32> into !amx.tile<16x32xbf16>

// A causal diagonal block: each 16-row group's score chunks past its
// visible keys are skipped (phase 2 masks them), as straight-line code per
// count of live chunks; so are its P V steps (none: acc untouched), and
// the masking and softmax stop at the group's last live 32-key step.
// SPLIT-LABEL: func.func @causal
// SPLIT: %[[KEYS:[a-z0-9_]+]] = arith.select %{{.*}}, %{{.*}}, %c64 : index
// SPLIT-NEXT: %[[CHUNKS:[a-z0-9_]+]] = arith.ceildivui %[[KEYS]], %c16 : index
// SPLIT-NEXT: scf.index_switch %[[CHUNKS]]
// SPLIT-NEXT: case 0 {
// SPLIT-NEXT: scf.yield
// SPLIT: case 1 {
// SPLIT-COUNT-12: amx.tile_mulf
// SPLIT-NEXT: amx.tile_store %{{.*}}[%{{.*}}, %c0], %{{.*}} : memref<128x128xf32>
// SPLIT-NEXT: scf.yield
// SPLIT: case 2 {
// SPLIT: amx.tile_store %{{.*}}[%{{.*}}, %c0], %{{.*}} : memref<128x128xf32>
// SPLIT: amx.tile_store %{{.*}}[%{{.*}}, %c16], %{{.*}} : memref<128x128xf32>
// SPLIT-NEXT: scf.yield
// SPLIT: default {
// SPLIT: amx.tile_store %{{.*}}[%{{.*}}, %c48], %{{.*}} : memref<128x128xf32>
// SPLIT: %[[STEPS:[a-z0-9_]+]] = arith.ceildivui %{{.*}}, %c32 : index
// SPLIT: %[[LIVE:[a-z0-9_]+]] = arith.muli %[[STEPS]], %c2 : index
// SPLIT: arith.cmpi ugt, %[[LIVE]], %c0 : index
// SPLIT: scf.index_switch
// SPLIT-NEXT: case 0 {
// SPLIT-NEXT: scf.yield
// SPLIT: case 1 {
// SPLIT-COUNT-6: amx.tile_mulf
// SPLIT-NEXT: amx.tile_store %{{.*}}[%{{.*}}, %c0], %{{.*}} : memref<128x64xf32>

// V8-LABEL: func.func @dense
// V8:   %[[LIVE8:[a-z0-9_]+]] = arith.muli %{{.*}}, %c4 : index
// V8:   scf.for %{{.*}} = %c0 to %[[LIVE8]] step %c4 {
// V8:     scf.for %{{.*}} = %c0 to %c64 step %c32 {
// V8:       scf.for %{{.*}} = %c0 to %c64 step %c1 iter_args({{.*}}) -> (vector<8xf32>,
// V8-COUNT-16: vector.fma %{{.*}}, %{{.*}}, %{{.*}} : vector<8xf32>
// V8:   scf.if
// V8-COUNT-8: arith.cmpi slt, %{{.*}}, %{{.*}} : vector<8xi64>
// V8:     vector.shuffle %{{.*}} : vector<8xf32>, vector<8xf32>
// V8:     vector.bitcast %{{.*}} : vector<8xi32> to vector<8xf32>
// V8:   scf.for %{{.*}} = %c0 to %c64 step %c32 {
// V8-COUNT-16: vector.fma %{{.*}}, %{{.*}}, %{{.*}} : vector<8xf32>
func.func @dense(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                 %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

// Causal: partial blocks also apply the mask's element rule j <= i + (M - N).

// V16-LABEL: func.func @causal
// On a masked block, keys past the rule's visible end for a register
// tile's rows (i0 + r0 + rows + M - N) are skipped: phase 1 runs whole
// 64-key column tiles, then 16-key ones, to the vector holding the group's
// last visible key, and neither past the tile's (the keys phases 2 and 3
// reach: a ragged tile's rows past N may see further); phase 4 runs to
// that key.
// V16: %[[MASKED:[a-z0-9_]+]] = arith.ori
// V16: %[[TILEKEYS:[a-z0-9_]+]] = arith.minsi %{{.*}}, %c64 : index
// V16: scf.for %{{.*}} = %c0 to %{{.*}} step %c4 {
// V16: %[[LIVE:[a-z0-9_]+]] = arith.minsi %{{.*}}, %c64 : index
// V16: %[[GROUP:[a-z0-9_]+]] = arith.select %[[MASKED]], %[[LIVE]], %c64 : index
// V16: %[[KEYS:[a-z0-9_]+]] = arith.minui %[[GROUP]], %[[TILEKEYS]] : index
// V16: %[[VECS:[a-z0-9_]+]] = arith.ceildivui %[[KEYS]], %c16 : index
// V16: %[[COLS:[a-z0-9_]+]] = arith.muli %[[VECS]], %c16 : index
// V16: %[[TILES:[a-z0-9_]+]] = arith.divui %[[COLS]], %c64 : index
// V16: %[[WIDE:[a-z0-9_]+]] = arith.muli %[[TILES]], %c64 : index
// V16: scf.for %{{.*}} = %c0 to %[[WIDE]] step %c64 {
// V16: scf.for %{{.*}} = %[[WIDE]] to %[[COLS]] step %c16 {
// V16: scf.if %{{.*}} {
// V16:   %[[TAIL:[a-z0-9_]+]] = arith.cmpi slt, %{{.*}}, %{{.*}} : vector<16xi64>
// V16:   %[[RULE:[a-z0-9_]+]] = arith.cmpi sle, %{{.*}}, %{{.*}} : vector<16xi64>
// V16:   %[[KEEP:[a-z0-9_]+]] = arith.andi %[[TAIL]], %[[RULE]] : vector<16xi1>
// V16:   arith.select %[[KEEP]], %{{.*}}, %{{.*}} : vector<16xi1>, vector<16xf32>
// V16: %[[GROUP4:[a-z0-9_]+]] = arith.select %[[MASKED]], %{{.*}}, %c64 : index
// V16: %[[KEYS4:[a-z0-9_]+]] = arith.minui %[[GROUP4]], %[[TILEKEYS]] : index
// V16: scf.for %{{.*}} = %c0 to %[[KEYS4]] step %c1 iter_args

// V8-LABEL: func.func @causal
// V8: scf.if %{{.*}} {
// V8:   arith.cmpi sle, %{{.*}}, %{{.*}} : vector<8xi64>
func.func @causal(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                  %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

// Decoding with bf16 K and V in place: phase 1 is one dot product per (row,
// key) over D (K rows widened to f32 as they are read), 16 keys at a time
// whose partial sums are added across lanes together (shuffles of pairs of
// vectors) and stored as one vector, the rest summed across lanes one by
// one as a tree (reassoc); keys past M are never read: the dot loops stop at
// min(64, M - j0) and the rest of the block gets -inf; phase 4 reads V rows
// in place up to the same count.

// DEC-LABEL: func.func @decode_bf16
// DEC: scf.if %{{.*}} {
// DEC:   %[[POS:[a-z0-9_]+]] = arith.maxsi %{{.*}}, %{{.*}} : index
// DEC:   %[[HERE:[a-z0-9_]+]] = arith.minsi %[[POS]], %{{.*}} : index
// DEC:   scf.for
// DEC:     %[[KEYS:[a-z0-9_]+]] = arith.select %{{.*}}, %[[HERE]], %{{.*}} : index
// DEC:     scf.for %{{.*}} = %{{.*}} to %[[FULL:[a-z0-9_]+]] step %c16
// DEC:       vector.shuffle
// DEC:       vector.store %{{.*}} : memref<64x64xf32>, vector<16xf32>
// DEC:     scf.for %{{.*}} = %[[FULL]] to %[[KEYS]]
// DEC:       %[[KV:[a-z0-9_]+]] = vector.load %{{.*}} : memref<?x?x?x64xbf16>, vector<16xbf16>
// DEC:       arith.extf %[[KV]] : vector<16xbf16> to vector<16xf32>
// DEC:       vector.reduction <add>, %{{.*}} fastmath<reassoc> : vector<16xf32> into f32
// DEC:     scf.for %{{.*}} = %[[KEYS]] to %{{.*}}
// DEC:       memref.store %{{.*}}, %{{.*}} : memref<64x64xf32>
// DEC:   scf.for %{{.*}} = %{{.*}} to %[[HERE]] step %{{.*}} iter_args(
// DEC:     vector.load %{{.*}} : memref<?x?x?x64xbf16>, vector<16xbf16>
// DEC: } else {
func.func @decode_bf16(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
                       %v: tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16> {
  %o = attn.attention %q, %k, %v
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
       -> tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}

// -----

// A token-level list with one query per list row, keys read in place by
// position: each block counts its real slots (positions below M; the
// padding comes last), phase 1 loads each slot's position and dots the
// query with that row of K, and phase 4 reads that row of V; no packed
// K^T or V exists.

// V16-LABEL: func.func @gathered_in_place
// V16:   %[[POS:[a-z0-9_]+]] = vector.load %{{.*}} : memref<?xi64>, vector<16xi64>
// V16:   arith.cmpi ult, %[[POS]], %{{.*}} : vector<16xi64>
// V16:   %[[N:[a-z0-9_]+]] = vector.reduction <add>, %{{.*}} : vector<16xi64> into i64
// V16:   %[[HERE:[a-z0-9_]+]] = arith.index_cast %[[N]] : i64 to index
// V16:   scf.for %{{.*}} = %{{.*}} to %{{.*}}
// V16:     %[[P1:[a-z0-9_]+]] = memref.load %{{.*}} : memref<?xi64>
// V16:     %[[R1:[a-z0-9_]+]] = arith.index_cast %[[P1]] : i64 to index
// V16:     vector.load %{{.*}}[%{{.*}}, %{{.*}}, %[[R1]], %{{.*}}] : memref<?x?x?x64xf32>, vector<16xf32>
// V16:   scf.for %{{.*}} = %{{.*}} to %[[HERE]] step %{{.*}} iter_args(
// V16:     %[[P4:[a-z0-9_]+]] = memref.load %{{.*}} : memref<?xi64>
// V16:     %[[R4:[a-z0-9_]+]] = arith.index_cast %[[P4]] : i64 to index
// V16:     vector.load %{{.*}}[%{{.*}}, %{{.*}}, %[[R4]], %{{.*}}] : memref<?x?x?x64xf32>, vector<16xf32>
func.func @gathered_in_place(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                             %v: tensor<?x?x?x64xf32>, %i: tensor<?x1x?x?xi32>,
                             %c: tensor<?x1x?xi32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v blocks(%i, %c) block_size(1, 1) mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x1x?x?xi32>, tensor<?x1x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

// bf16 pairs: phase 1 reduces pairs along D with vdpbf16ps (a query pair
// splat against 16 keys' pairs) and scales the sums; phase 3 rounds each
// row's probabilities to bf16 and stores them as key pairs; phase 4
// reduces pairs of keys (a probability pair splat against 16 values'
// pairs). They need 16 lanes.

// AMX tiles (bf16-dot=2): the query tile is packed row-major in pairs
// ([64 rows, 32 pairs]); S = Q K^T by tdpbf16ps on 16 x 32 bf16 tiles, 16
// keys per C tile, D = 64 in two steps; the softmax scales the sums (an
// fma in exp's argument); acc's 16-row groups are rescaled, then P V adds
// 32 keys per step into C tiles loaded from acc.
// AMX-LABEL: func.func @pairs_bf16
// AMX: memref.alloca() : memref<64x32xi32>
// AMX: %[[C:[a-z0-9_]+]] = amx.tile_zero : !amx.tile<16x16xf32>
// AMX: %[[A:[a-z0-9_]+]] = amx.tile_load %{{.*}}[%{{.*}}, %c0] : memref<64x32xi32> into !amx.tile<16x32xbf16>
// AMX: %[[B:[a-z0-9_]+]] = amx.tile_load %{{.*}} : memref<?x?x?x32x64xi32> into !amx.tile<16x32xbf16>
// AMX: amx.tile_mulf %[[A]], %[[B]], %[[C]] : !amx.tile<16x32xbf16>, !amx.tile<16x32xbf16>, !amx.tile<16x16xf32>
// AMX: amx.tile_load %{{.*}}[%{{.*}}, %c16] : memref<64x32xi32> into !amx.tile<16x32xbf16>
// AMX: amx.tile_store %{{.*}}[%{{.*}}, %c0], %{{.*}} : memref<64x64xf32>, !amx.tile<16x16xf32>
// AMX-COUNT-3: amx.tile_store %{{.*}} : memref<64x64xf32>, !amx.tile<16x16xf32>
// AMX: math.fma %{{.*}}, %cst{{.*}}, %{{.*}} : vector<16xf32>
// AMX: x86vector.avx512.cvt.packed.f32_to_bf16
// AMX: %[[ACC:[a-z0-9_]+]] = amx.tile_load %[[ACCBUF:[a-z0-9_]+]][%{{.*}}, %c0] : memref<64x64xf32> into !amx.tile<16x16xf32>
// AMX: %[[P:[a-z0-9_]+]] = amx.tile_load %{{.*}}[%{{.*}}, %c0] : memref<64x64xf32> into !amx.tile<16x32xbf16>
// AMX: %[[V:[a-z0-9_]+]] = amx.tile_load %{{.*}} : memref<?x?x?x64xi32> into !amx.tile<16x32xbf16>
// AMX: amx.tile_mulf %[[P]], %[[V]], %[[ACC]]
// AMX: amx.tile_store %[[ACCBUF]][%{{.*}}, %c0], %{{.*}} : memref<64x64xf32>, !amx.tile<16x16xf32>

// PAIR-LABEL: func.func @pairs_bf16
// PAIR: scf.for %{{.*}} = %{{.*}} to %c32 step %c1 iter_args(
// PAIR:   %[[KW:[a-z0-9_]+]] = vector.load %{{.*}} : memref<?x?x?x32x64xi32>, vector<16xi32>
// PAIR:   vector.bitcast %[[KW]] : vector<16xi32> to vector<32xbf16>
// PAIR:   %[[QW:[a-z0-9_]+]] = memref.load %{{.*}} : memref<32x64xi32>
// PAIR:   %[[QS:[a-z0-9_]+]] = vector.broadcast %[[QW]] : i32 to vector<16xi32>
// PAIR:   vector.bitcast %[[QS]] : vector<16xi32> to vector<32xbf16>
// PAIR:   x86vector.avx512.dot %{{.*}}, %{{.*}}, %{{.*}} : vector<32xbf16> -> vector<16xf32>
// PAIR: arith.mulf %{{.*}}, %{{.*}} : vector<16xf32>
// PAIR: x86vector.avx512.cvt.packed.f32_to_bf16 %{{.*}} : vector<16xf32> -> vector<16xbf16>
// PAIR: vector.shuffle %{{.*}}, %{{.*}} [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31] : vector<16xbf16>, vector<16xbf16>
// PAIR: vector.bitcast %{{.*}} : vector<32xbf16> to vector<16xf32>
// PAIR: scf.for %{{.*}} = %{{.*}} to %c32 step %c1 iter_args(
// PAIR:   vector.load %{{.*}} : memref<?x?x?x64xi32>, vector<16xi32>
// PAIR:   %[[P:[a-z0-9_]+]] = memref.load %{{.*}} : memref<64x64xf32>
// PAIR:   %[[PS:[a-z0-9_]+]] = vector.broadcast %[[P]] : f32 to vector<16xf32>
// PAIR:   vector.bitcast %[[PS]] : vector<16xf32> to vector<32xbf16>
// PAIR:   x86vector.avx512.dot
// PAIR-ERR: error: 'attn.kv_block_update' op bf16 pairs (bf16-dot=1) need lanes=16: vdpbf16ps is an AVX512-BF16 instruction
func.func @pairs_bf16(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
                      %v: tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16> {
  %o = attn.attention %q, %k, %v
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
       -> tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}
