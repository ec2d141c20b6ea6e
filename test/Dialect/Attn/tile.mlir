// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile{decode-rows=0}))' | FileCheck %s
// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile{query-tile=32 key-block=16 decode-rows=0}))' | FileCheck %s --check-prefix=OPT
// RUN: not attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile{key-block=40}))' 2>&1 | FileCheck %s --check-prefix=ERR
// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile{decode-rows=8}))' | FileCheck %s --check-prefix=DEC
// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile{decode-rows=0 bf16-dot=1}))' | FileCheck %s --check-prefix=PAIR
// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile{decode-rows=0 tile-group=2 tile-group-bytes=1000}))' | FileCheck %s --check-prefix=GRP
// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile{decode-rows=0 key-block=128 key-panel-bytes=32768 bf16-dot=1}))' | FileCheck %s --check-prefix=PANEL
// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-tile{decode-rows=0 head-task-bytes=65536}))' | FileCheck %s --check-prefix=HEAD

// ERR: error: attn-tile: key-block must be a positive multiple of 16, query-tile positive, tile-group in 1..16 and lanes 8 or 16 (got key-block=40, query-tile=64, tile-group=1, lanes=16)

// Dense: the key loop visits every block of [0, M) and the update has no mask.

// A task per KV head (head-task-bytes): where a head's packs fit and the
// heads divide among the threads, the main loop runs one part per (b, hkv)
// that packs its head and loops over its units; otherwise every head is
// packed first and each part is one unit. The units' scratch is allocated
// before their loop.
// HEAD-LABEL: func.func @dense(
// HEAD: %[[FITS:[a-z0-9_]+]] = arith.cmpi ule, %{{.*}}, %c65536
// HEAD: %[[THREADS:[a-z0-9_]+]] = attn.cpu_threads
// HEAD: %[[T1:[a-z0-9_]+]] = arith.maxui %[[THREADS]], %c1
// HEAD: %[[REM:[a-z0-9_]+]] = arith.remui %{{.*}}, %[[T1]]
// HEAD: %[[EVEN:[a-z0-9_]+]] = arith.cmpi eq, %[[REM]], %c0
// HEAD: %[[BYHEAD:[a-z0-9_]+]] = arith.andi %[[FITS]], %[[EVEN]]
// HEAD: %[[ALL:[a-z0-9_]+]] = arith.xori %[[BYHEAD]], %true
// HEAD: scf.if %[[ALL]] {
// HEAD-NEXT: scf.parallel
// HEAD: %[[PARTS:[a-z0-9_]+]] = arith.select %[[BYHEAD]], %c1, %{{.*}}
// HEAD: scf.parallel (%{{.*}}, %{{.*}}, %[[PART:[a-z0-9_]+]]) = {{.*}} to (%{{.*}}, %{{.*}}, %[[PARTS]])
// HEAD-NEXT: scf.if %[[BYHEAD]] {
// HEAD: scf.for %{{.*}} = %c0 to %{{.*}} step %c1 {
// HEAD: memref.alloca() : memref<64x64xf32>
// HEAD: scf.for %[[U:[a-z0-9_]+]] = %[[PART]] to %{{.*}} step %[[PARTS]] {
// HEAD-NOT: memref.alloca
// HEAD: attn.kv_block_update
// HEAD: return

// CHECK-LABEL: func.func @dense(
// CHECK-SAME: %[[Q:[a-z0-9_]+]]: tensor<?x?x?x64xf32>, %[[K:[a-z0-9_]+]]: tensor<?x?x?x64xf32>, %[[V:[a-z0-9_]+]]: tensor<?x?x?x64xf32>
// CHECK-DAG: %[[C0:[a-z0-9_]+]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:[a-z0-9_]+]] = arith.constant 1 : index
// CHECK-DAG: %[[C2:[a-z0-9_]+]] = arith.constant 2 : index
// CHECK-DAG: %[[C64:[a-z0-9_]+]] = arith.constant 64 : index
// CHECK-DAG: %[[NEGINF:[a-z0-9_]+]] = arith.constant dense<0xFF800000> : vector<64xf32>
// CHECK-DAG: %[[ZERO:[a-z0-9_]+]] = arith.constant dense<0.000000e+00> : vector<64xf32>
// CHECK: %[[QB:[a-z0-9_]+]] = bufferization.to_buffer %[[Q]] read_only
// CHECK: %[[KB:[a-z0-9_]+]] = bufferization.to_buffer %[[K]] read_only
// CHECK: %[[VB:[a-z0-9_]+]] = bufferization.to_buffer %[[V]] read_only
// CHECK: %[[B:[a-z0-9_]+]] = memref.dim %[[QB]], %[[C0]]
// CHECK: %[[HQ:[a-z0-9_]+]] = memref.dim %[[QB]], %[[C1]]
// CHECK: %[[N:[a-z0-9_]+]] = memref.dim %[[QB]], %[[C2]]
// CHECK: %[[HKV:[a-z0-9_]+]] = memref.dim %[[KB]], %[[C1]]
// CHECK: %[[M:[a-z0-9_]+]] = memref.dim %[[KB]], %[[C2]]
//
// Packing: K^T block-major [B, Hkv, Mpad/64, D, 64], V as [B, Hkv, Mpad, Dv].
// CHECK: %[[NB:[a-z0-9_]+]] = arith.divui %{{.*}}, %[[C64]]
// CHECK: %[[KT:[a-z0-9_]+]] = memref.alloc(%[[B]], %[[HKV]], %[[NB]]) : memref<?x?x?x64x64xf32>
// CHECK: %[[VP:[a-z0-9_]+]] = memref.alloc(%[[B]], %[[HKV]], %{{.*}}) : memref<?x?x?x64xf32>
// One task per (batch, KV head, key block): K^T in 16 x 16 squares (16 key
// rows read along D, zero past M, transposed by shuffles, stored along the
// keys), then V row by row in whole vectors.
// CHECK: scf.parallel (%[[PB:[a-z0-9_]+]], %[[PH:[a-z0-9_]+]], %[[PK:[a-z0-9_]+]]) = (%[[C0]], %[[C0]], %[[C0]]) to (%[[B]], %[[HKV]], %[[NB]])
// CHECK:   %[[JB:[a-z0-9_]+]] = arith.muli %[[PK]], %[[C64]]
// CHECK:   scf.for %[[JR:[a-z0-9_]+]] = %[[C0]] to %[[C64]] step %[[C16:[a-z0-9_]+]]
// CHECK:     %[[PJ:[a-z0-9_]+]] = arith.addi %[[JB]], %[[JR]]
// CHECK:     %[[INB:[a-z0-9_]+]] = arith.cmpi ult, %[[PJ]], %[[M]]
// CHECK:     %[[ROW:[a-z0-9_]+]] = arith.minui %[[PJ]]
// CHECK:     scf.for %[[E:[a-z0-9_]+]] = %[[C0]] to %[[C64]] step %[[C16]]
// CHECK:       %[[KROW:[a-z0-9_]+]] = vector.load %[[KB]][%[[PB]], %[[PH]], %[[ROW]], %[[E]]] : memref<?x?x?x64xf32>, vector<16xf32>
// CHECK:       arith.select %[[INB]], %[[KROW]], %{{.*}} : vector<16xf32>
// CHECK-COUNT-64: vector.shuffle
// CHECK:       vector.store %{{.*}}, %[[KT]][%[[PB]], %[[PH]], %[[PK]], %[[E]], %[[JR]]] : memref<?x?x?x64x64xf32>, vector<16xf32>
// CHECK:   scf.for %[[VJ:[a-z0-9_]+]] = %[[C0]] to %[[C64]] step %[[C1]]
// CHECK:     %[[PJ2:[a-z0-9_]+]] = arith.addi %[[JB]], %[[VJ]]
// CHECK:     scf.for %[[E2:[a-z0-9_]+]] = %[[C0]] to %[[C64]] step %[[C16]]
// CHECK:       vector.load %[[VB]][%[[PB]], %[[PH]], %{{.*}}, %[[E2]]] : memref<?x?x?x64xf32>, vector<16xf32>
// CHECK:       vector.store %{{.*}}, %[[VP]][%[[PB]], %[[PH]], %[[PJ2]], %[[E2]]] : memref<?x?x?x64xf32>, vector<16xf32>
// CHECK:   scf.reduce
//
// Main nest: (batch, query head, query tile); query head h reads KV head
// h / (Hq / Hkv).
// CHECK: %[[OUT:[a-z0-9_]+]] = memref.alloc(%[[B]], %[[HQ]], %[[N]]) : memref<?x?x?x64xf32>
// CHECK: %[[GROUP:[a-z0-9_]+]] = arith.divui %[[HQ]], %[[HKV]]
// CHECK: %[[TILES:[a-z0-9_]+]] = arith.ceildivui %[[N]], %[[C64]]
// CHECK: scf.parallel (%[[IB:[a-z0-9_]+]], %[[IH:[a-z0-9_]+]], %[[IT:[a-z0-9_]+]]) = (%[[C0]], %[[C0]], %[[C0]]) to (%[[B]], %[[HQ]], %[[TILES]])
// Tasks are folded (0, T - 1, 1, T - 2, ...) so that a thread's contiguous
// range pairs short causal rows with long ones.
// CHECK:   %[[HALF:[a-z0-9_]+]] = arith.shrui %[[IT]], %[[C1:[a-z0-9_]+]]
// CHECK:   %[[ODD:[a-z0-9_]+]] = arith.andi %[[IT]], %[[C1]]
// CHECK:   %[[ISODD:[a-z0-9_]+]] = arith.cmpi ne, %[[ODD]], %[[C0]]
// CHECK:   %[[LAST:[a-z0-9_]+]] = arith.subi %[[TILES]], %[[C1]]
// CHECK:   %[[FROMEND:[a-z0-9_]+]] = arith.subi %[[LAST]], %[[HALF]]
// CHECK:   %[[TASK:[a-z0-9_]+]] = arith.select %[[ISODD]], %[[FROMEND]], %[[HALF]]
// CHECK:   %[[I0:[a-z0-9_]+]] = arith.muli %[[TASK]], %[[C64]]
// CHECK:   %[[IHKV:[a-z0-9_]+]] = arith.divui %[[IH]], %[[GROUP]]
// CHECK:   %[[QT:[a-z0-9_]+]] = memref.alloca() : memref<64x64xf32>
// CHECK:   %[[ACC:[a-z0-9_]+]] = memref.alloca() : memref<64x64xf32>
// CHECK:   %[[S:[a-z0-9_]+]] = memref.alloca() : memref<64x64xf32>
// CHECK-NOT: arith.minsi
// CHECK:   %[[KBEND:[a-z0-9_]+]] = arith.ceildivui %[[M]], %[[C64]]
// CHECK:   %[[KB1:[a-z0-9_]+]] = arith.maxui %[[KBEND]], %{{.*}}
// The key schedule (KeySchedule.h): step t visits the visible blocks in
// ascending order, those outside the full range with the element rule;
// without a mask every block is full.
// CHECK:   %[[COUNT:[a-z0-9_]+]] = arith.subi %[[KB1]], %{{.*}}
// The last step, for the next step's block (a hint for prefetching).
// CHECK:   %[[TL:[a-z0-9_]+]] = arith.subi %[[COUNT]], %[[C1]]
// CHECK:   %[[ST:[a-z0-9_]+]]:2 = scf.for %[[T:[a-z0-9_]+]] = %[[C0]] to %[[COUNT]] step %[[C1]] iter_args(%[[MS:[a-z0-9_]+]] = %[[NEGINF]], %[[LS:[a-z0-9_]+]] = %[[ZERO]]) -> (vector<64xf32>, vector<64xf32>)
// CHECK:     %[[KBI:[a-z0-9_]+]] = arith.addi %{{.*}}, %[[T]]
// CHECK:     %[[J0:[a-z0-9_]+]] = arith.muli %[[KBI]], %[[C64]]
// The next step's block (the last step's own).
// CHECK:     %[[TN:[a-z0-9_]+]] = arith.addi %[[T]], %[[C1]]
// CHECK:     %[[TNEXT:[a-z0-9_]+]] = arith.minui %[[TN]], %[[TL]]
// CHECK:     %[[KBN:[a-z0-9_]+]] = arith.addi %{{.*}}, %[[TNEXT]]
// CHECK:     %[[NEXT:[a-z0-9_]+]] = arith.muli %[[KBN]], %[[C64]]
// CHECK:     arith.cmpi ult
// CHECK:     arith.cmpi uge
// CHECK:     %[[MASKED:[a-z0-9_]+]] = arith.ori
// CHECK:     %[[MO:[a-z0-9_]+]], %[[LO:[a-z0-9_]+]] = attn.kv_block_update %[[QT]], %[[KT]], %[[VP]], %[[ACC]], %[[S]] at{{ ?}}[%[[IB]], %[[IHKV]], %[[I0]], %[[J0]]] lengths(%[[N]], %[[M]]) masked(%[[MASKED]]) state(%[[MS]], %[[LS]]) next(%[[NEXT]]) : memref<64x64xf32>, memref<?x?x?x64x64xf32>, memref<?x?x?x64xf32>, memref<64x64xf32>, memref<64x64xf32>, vector<64xf32>
// CHECK:     scf.yield %[[MO]], %[[LO]] : vector<64xf32>, vector<64xf32>
// Finalize: out = acc / l.
// CHECK:   vector.extract %[[ST]]#1
// CHECK:   memref.store %{{.*}}, %[[OUT]][%[[IB]], %[[IH]], %{{.*}}, %{{.*}}] : memref<?x?x?x64xf32>
// CHECK:   scf.reduce
// CHECK: memref.dealloc %[[KT]]
// CHECK: memref.dealloc %[[VP]]
// CHECK: %[[RES:[a-z0-9_]+]] = bufferization.to_tensor %[[OUT]]
// CHECK: return %[[RES]]

// OPT-LABEL: func.func @dense(
// OPT: memref.alloc({{.*}}) : memref<?x?x?x64x16xf32>
// OPT: arith.ceildivui %{{.*}}, %c32
// OPT: memref.alloca() : memref<32x64xf32>
// OPT: memref.alloca() : memref<32x64xf32>
// OPT: memref.alloca() : memref<32x16xf32>
// OPT: scf.for {{.*}} iter_args({{.*}}) -> (vector<32xf32>, vector<32xf32>)
// OPT: attn.kv_block_update {{.*}} : memref<32x64xf32>, memref<?x?x?x64x16xf32>, memref<?x?x?x64xf32>, memref<32x64xf32>, memref<32x16xf32>, vector<32xf32>
// Decoding (decode-rows): with N <= 8 the tile reads K and V in place (the
// in-place kv_block_update: the query tile row-major, K and V themselves);
// otherwise it packs as above.
// DEC-LABEL: func.func @dense(
// DEC: bufferization.to_buffer %{{.*}} read_only
// DEC: %[[KB:[a-z0-9_]+]] = bufferization.to_buffer %{{.*}} read_only
// DEC: %[[VB:[a-z0-9_]+]] = bufferization.to_buffer %{{.*}} read_only
// DEC: %[[N:[a-z0-9_]+]] = memref.dim %{{.*}}, %c2 : memref<?x?x?x64xf32>
// DEC: %[[OUT:[a-z0-9_]+]] = memref.alloc({{.*}}) : memref<?x?x?x64xf32>
// DEC: %[[DEC:[a-z0-9_]+]] = arith.cmpi ule, %[[N]], %c8 : index
// DEC: scf.if %[[DEC]] {
// DEC-NOT: memref.alloc(
// With GQA (Hq / Hkv > 1) a task takes up to 8 query heads of a KV head,
// one key loop over K and V in place for all of them.
// DEC:   %[[GQA:[a-z0-9_]+]] = arith.cmpi ugt, %{{.*}}, %c1 : index
// DEC:   scf.if %[[GQA]] {
// DEC:     %[[CH:[a-z0-9_]+]] = arith.ceildivui %{{.*}}, %c8 : index
// DEC:     scf.parallel ({{.*}}) = ({{.*}}) to (%{{.*}}, %{{.*}}, %[[CH]])
// DEC:       memref.alloca() : memref<8x64x64xf32>
// DEC:       attn.kv_block_update %{{.*}}, %[[KB]], %[[VB]], {{.*}} : memref<64x64xf32, strided<[64, 1], offset: ?>>, memref<?x?x?x64xf32>, memref<?x?x?x64xf32>
// DEC:   } else {
// DEC-NOT: memref.alloc(
// DEC:   attn.kv_block_update %{{.*}}, %[[KB]], %[[VB]], {{.*}} : memref<64x64xf32>, memref<?x?x?x64xf32>, memref<?x?x?x64xf32>, memref<64x64xf32>, memref<64x64xf32>, vector<64xf32>
// DEC: } else {
// DEC:   memref.alloc({{.*}}) : memref<?x?x?x64x64xf32>
// DEC:   attn.kv_block_update {{.*}} : memref<64x64xf32>, memref<?x?x?x64x64xf32>, memref<?x?x?x64xf32>
// DEC:   memref.dealloc
// tile-group=2: once a head's packed K and V (M x (64 + 64) x 4 bytes)
// exceed tile-group-bytes, a task takes two query tiles (the last task
// maybe one): the live ones are packed into [2, ...] buffers, and one loop
// over them runs each step of the group's schedule, their (m, l) states
// in memory between steps (the code does not grow with the group).
// GRP-LABEL: func.func @dense(
// GRP: %[[BYTES:[a-z0-9_]+]] = arith.muli %[[M:[a-z0-9_]+]], %c512 : index
// GRP: %[[BIG:[a-z0-9_]+]] = arith.cmpi ugt, %[[BYTES]], %c1000 : index
// GRP: %[[PER:[a-z0-9_]+]] = arith.select %[[BIG]], %c2, %c1 : index
// GRP: %[[TASKS:[a-z0-9_]+]] = arith.ceildivui %{{.*}}, %[[PER]] : index
// GRP: scf.parallel ({{.*}}) = ({{.*}}) to (%{{.*}}, %{{.*}}, %[[TASKS]])
// GRP:   %[[LIVE:[a-z0-9_]+]] = arith.minui %[[PER]], %{{.*}} : index
// GRP:   %[[Q:[a-z0-9_]+]] = memref.alloca() : memref<2x64x64xf32>
// GRP:   %[[ACC:[a-z0-9_]+]] = memref.alloca() : memref<2x64x64xf32>
// GRP:   %[[MS:[a-z0-9_]+]] = memref.alloca() : memref<2x64xf32>
// GRP:   %[[LS:[a-z0-9_]+]] = memref.alloca() : memref<2x64xf32>
// GRP:   scf.for %{{.*}} = %c0 to %[[LIVE]] step %c1 {
// GRP:   scf.for
// GRP:     scf.for %[[G:[a-z0-9_]+]] = %c0 to %[[LIVE]] step %c1 {
// GRP:       %[[QG:[a-z0-9_]+]] = memref.subview %[[Q]][%[[G]], 0, 0] [1, 64, 64] [1, 1, 1]
// GRP:       %[[AG:[a-z0-9_]+]] = memref.subview %[[ACC]][%[[G]], 0, 0] [1, 64, 64] [1, 1, 1]
// GRP:       %[[M0:[a-z0-9_]+]] = vector.load %[[MS]][%[[G]], %c0]
// GRP:       %[[L0:[a-z0-9_]+]] = vector.load %[[LS]][%[[G]], %c0]
// GRP:       %[[MO:[a-z0-9_]+]], %[[LO:[a-z0-9_]+]] = attn.kv_block_update %[[QG]], %{{.*}}, %{{.*}}, %[[AG]], {{.*}} state(%[[M0]], %[[L0]])
// GRP:       vector.store %[[MO]], %[[MS]][%[[G]], %c0]
// GRP:       vector.store %[[LO]], %[[LS]][%[[G]], %c0]
// GRP:   scf.for %{{.*}} = %c0 to %[[LIVE]] step %c1 {
func.func @dense(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                 %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

// Causal: the key range comes from the mask's block rule, clamped to [0, M)
// with signed min/max: visible end = i1 + (M - N), full end = i0 + (M - N) + 1.
// The optional lse result is stored per row.

// CHECK-LABEL: func.func @causal_lse(
// CHECK-DAG: %[[C0:[a-z0-9_]+]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:[a-z0-9_]+]] = arith.constant 1 : index
// CHECK-DAG: %[[C64:[a-z0-9_]+]] = arith.constant 64 : index
// CHECK-DAG: %[[NEGINF:[a-z0-9_]+]] = arith.constant 0xFF800000 : f32
// CHECK: %[[N:[a-z0-9_]+]] = memref.dim %{{.*}}, %c2 : memref<?x?x?x64xf32>
// CHECK: %[[M:[a-z0-9_]+]] = memref.dim %{{.*}}, %c2 : memref<?x?x?x64xf32>
// CHECK: scf.reduce
// CHECK: %[[OUT:[a-z0-9_]+]] = memref.alloc({{.*}}) : memref<?x?x?x64xf32>
// CHECK: %[[LSE:[a-z0-9_]+]] = memref.alloc({{.*}}) : memref<?x?x?xf32>
// CHECK: scf.parallel (%[[IB:[a-z0-9_]+]], %[[IH:[a-z0-9_]+]], %{{.*}}) =
// CHECK:   %[[I0:[a-z0-9_]+]] = arith.muli %{{.*}}, %[[C64]]
// CHECK:   %[[I0P:[a-z0-9_]+]] = arith.addi %[[I0]], %[[C64]]
// CHECK:   %[[I1:[a-z0-9_]+]] = arith.minui %[[I0P]], %[[N]]
// CHECK:   %[[DELTA:[a-z0-9_]+]] = arith.subi %[[M]], %[[N]]
// CHECK:   %[[VE:[a-z0-9_]+]] = arith.addi %[[I1]], %[[DELTA]]
// CHECK:   %[[VE0:[a-z0-9_]+]] = arith.maxsi %[[VE]], %[[C0]]
// CHECK:   %[[VEND:[a-z0-9_]+]] = arith.minsi %[[VE0]], %[[M]]
// CHECK:   %[[FE:[a-z0-9_]+]] = arith.addi %[[I0]], %[[DELTA]]
// CHECK:   %[[FE1:[a-z0-9_]+]] = arith.addi %[[FE]], %[[C1]]
// CHECK:   %[[FE0:[a-z0-9_]+]] = arith.maxsi %[[FE1]], %[[C0]]
// CHECK:   %[[FEND:[a-z0-9_]+]] = arith.minsi %[[FE0]], %[[M]]
// CHECK:   %[[KBEND:[a-z0-9_]+]] = arith.ceildivui %[[VEND]], %[[C64]]
// CHECK:   %[[KB1:[a-z0-9_]+]] = arith.maxui %[[KBEND]], %{{.*}}
// CHECK:   arith.divui %[[FEND]], %[[C64]]
// CHECK:   %[[ST:[a-z0-9_]+]]:2 = scf.for %[[T:[a-z0-9_]+]] = %[[C0]] to %{{.*}} step %[[C1]] iter_args({{.*}}) -> (vector<64xf32>, vector<64xf32>)
// CHECK:     %[[KBI:[a-z0-9_]+]] = arith.addi %{{.*}}, %[[T]]
// CHECK:     arith.muli %[[KBI]], %[[C64]]
// CHECK:     arith.ori
// CHECK:     attn.kv_block_update {{.*}} lengths(%[[N]], %[[M]]) masked(%{{.*}}) state(%{{.*}}, %{{.*}}) mask(#attn.causal) :
// CHECK:   %[[L:[a-z0-9_]+]] = vector.extract %[[ST]]#1
// CHECK:   %[[MX:[a-z0-9_]+]] = vector.extract %[[ST]]#0
// CHECK:   %[[ANY:[a-z0-9_]+]] = arith.cmpf ogt, %[[L]]
// CHECK:   memref.store %{{.*}}, %[[OUT]]
// CHECK:   %[[LOGL:[a-z0-9_]+]] = math.log %[[L]] : f32
// CHECK:   %[[LSEV:[a-z0-9_]+]] = arith.addf %[[MX]], %[[LOGL]] : f32
// CHECK:   %[[SEL:[a-z0-9_]+]] = arith.select %[[ANY]], %[[LSEV]], %[[NEGINF]] : f32
// CHECK:   memref.store %[[SEL]], %[[LSE]][%[[IB]], %[[IH]], %{{.*}}] : memref<?x?x?xf32>
// CHECK: %[[RO:[a-z0-9_]+]] = bufferization.to_tensor %[[OUT]]
// CHECK: %[[RL:[a-z0-9_]+]] = bufferization.to_tensor %[[LSE]]
// CHECK: return %[[RO]], %[[RL]] : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
func.func @causal_lse(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                      %v: tensor<?x?x?x64xf32>)
    -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
}

// -----

// bf16 inputs are widened to f32 when packed and narrowed when stored; Dv = 40
// is zero-padded to 48 in the packed V and the accumulator; scale(0.5) is
// applied when the query tile is packed.

// CHECK-LABEL: func.func @cross_bf16_dv40(
// CHECK-DAG: %[[C40:[a-z0-9_]+]] = arith.constant 40 : index
// CHECK-DAG: %[[C48:[a-z0-9_]+]] = arith.constant 48 : index
// CHECK-DAG: %[[HALF:[a-z0-9_]+]] = arith.constant 5.000000e-01 : f32
// CHECK-DAG: %[[FZERO:[a-z0-9_]+]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[VP:[a-z0-9_]+]] = memref.alloc({{.*}}) : memref<?x?x?x48xf32>
// CHECK: scf.parallel
// CHECK:   arith.extf %{{.*}} : vector<16xbf16> to vector<16xf32>
// CHECK:   arith.extf %{{.*}} : bf16 to f32
// CHECK:   scf.for %[[E:[a-z0-9_]+]] = %[[C40]] to %[[C48]]
// CHECK:     memref.store %[[FZERO]], %[[VP]][%{{.*}}, %{{.*}}, %{{.*}}, %[[E]]] : memref<?x?x?x48xf32>
// CHECK: %[[OUT:[a-z0-9_]+]] = memref.alloc() : memref<1x2x100x40xbf16>
// CHECK: scf.parallel
// CHECK:   %[[QX:[a-z0-9_]+]] = arith.extf %{{.*}} : bf16 to f32
// CHECK:   arith.mulf %[[QX]], %[[HALF]] : f32
// CHECK:   memref.alloca() : memref<64x48xf32>
// CHECK:   attn.kv_block_update {{.*}} : memref<64x64xf32>, memref<?x?x?x64x64xf32>, memref<?x?x?x48xf32>, memref<64x48xf32>, memref<64x64xf32>, vector<64xf32>
// CHECK:   scf.for %{{.*}} = %{{.*}} to %[[C40]]
// CHECK:     %[[T:[a-z0-9_]+]] = arith.truncf %{{.*}} : f32 to bf16
// CHECK:     memref.store %[[T]], %[[OUT]]{{.*}} : memref<1x2x100x40xbf16>
// Dv = 40 is not whole vectors: always packed.
// DEC-LABEL: func.func @cross_bf16_dv40(
// DEC-NOT: scf.if %{{.*}} {
// DEC: memref.alloc({{.*}}) : memref<?x?x?x48xf32>
func.func @cross_bf16_dv40(%q: tensor<1x2x100x64xbf16>, %k: tensor<1x2x130x64xbf16>,
                           %v: tensor<1x2x130x40xbf16>) -> tensor<1x2x100x40xbf16> {
  %o = attn.attention %q, %k, %v scale(0.5)
       : (tensor<1x2x100x64xbf16>, tensor<1x2x130x64xbf16>, tensor<1x2x130x40xbf16>)
       -> tensor<1x2x100x40xbf16>
  return %o : tensor<1x2x100x40xbf16>
}

// -----

// A token-level list (block_k = 1) with 8-row list rows: nothing is
// packed for the whole sequence; each query tile gathers its listed keys
// into buffers of its own (K^T block-major, V, positions), skipping
// out-of-range ids and duplicates (an id above the largest so far needs no
// scan back), pads with position M and zero V, and runs the key loop over
// the gathered blocks with the element rule reading the positions.

// CHECK-LABEL: func.func @token_list_rows(
// CHECK-NOT: memref.alloc({{.*}}) : memref<?x?x?x64x64xf32>
// CHECK: scf.parallel
// CHECK:   %[[KEYS:[a-z0-9_]+]] = memref.alloc({{.*}}) : memref<?xi64>
// CHECK:   %[[KT:[a-z0-9_]+]] = memref.alloc({{.*}}) : memref<1x1x?x64x64xf32>
// CHECK:   %[[V:[a-z0-9_]+]] = memref.alloc({{.*}}) : memref<1x1x?x64xf32>
// CHECK:   scf.for
// CHECK:     arith.cmpi uge
// CHECK:     arith.cmpi sgt
// CHECK:     scf.if
// CHECK:       scf.for
// CHECK:   scf.for
// CHECK:     attn.kv_block_update %{{.*}}, %[[KT]], %[[V]], {{.*}} masked(%true) {{.*}} keys(%[[KEYS]] : memref<?xi64>) mask(#attn.causal)
// CHECK:   memref.dealloc %[[KT]]
// CHECK:   memref.dealloc %[[V]]
// CHECK:   memref.dealloc %[[KEYS]]
func.func @token_list_rows(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                           %v: tensor<?x?x?x64xf32>, %i: tensor<?x1x?x?xi32>,
                           %c: tensor<?x1x?xi32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v blocks(%i, %c) block_size(8, 1) mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x1x?x?xi32>, tensor<?x1x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

// One query row per list row (DSA's block_size(1, 1)): the tile gathers
// only the positions and reads K's and V's rows in place through them (a
// copy of each key would serve a single row). The query heads of a KV head
// share a task when they share its list row (Hl != Hq): the task walks the
// list once, then runs each of those heads (their KV head's rows, hot in
// cache) with buffers made before the loop over heads.

// CHECK-LABEL: func.func @token_list(
// CHECK-NOT: memref.alloc({{.*}}) : memref<1x1x
// CHECK: %[[GROUP:[a-z0-9_]+]] = arith.divui %[[HQ:[a-z0-9_]+]], %{{.*}} : index
// CHECK: %[[PERQ:[a-z0-9_]+]] = arith.cmpi eq, %{{.*}}, %[[HQ]] : index
// CHECK: %[[SHARE:[a-z0-9_]+]] = arith.select %[[PERQ]], %{{.*}}, %[[GROUP]] : index
// CHECK: %[[HT:[a-z0-9_]+]] = arith.divui %[[HQ]], %[[SHARE]] : index
// CHECK: scf.parallel ({{.*}}) = ({{.*}}) to (%{{.*}}, %[[HT]], %{{.*}})
// CHECK:   %[[KEYS:[a-z0-9_]+]] = memref.alloc({{.*}}) : memref<?xi64>
// CHECK-NOT: memref.alloc
// CHECK:   scf.for
// CHECK:     arith.cmpi uge
// CHECK:   memref.alloca() : memref<1x64xf32>
// CHECK:   scf.for %[[H:[a-z0-9_]+]] =
// CHECK:     arith.divui %[[H]], %[[GROUP]]
// CHECK-NOT: memref.alloca
// CHECK:     scf.for
// CHECK:       attn.kv_block_update {{.*}} : memref<1x64xf32>, memref<?x?x?x64xf32>, memref<?x?x?x64xf32>
// CHECK:   memref.dealloc %[[KEYS]]
func.func @token_list(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                      %v: tensor<?x?x?x64xf32>, %i: tensor<?x1x?x?xi32>,
                      %c: tensor<?x1x?xi32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v blocks(%i, %c) block_size(1, 1) mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x1x?x?xi32>, tensor<?x1x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

// bf16-dot=1: bf16 K, V and query tiles stay bf16, packed as pairs along
// their reduction in i32 words (D = 63 gives 32 pairs, the last one's high
// half zero; V pairs keys, Dv = 40 padded to 48); the query is not scaled
// (the step multiplies the scores by `scale`). f32 inputs keep f32 packing.

// PAIR-LABEL: func.func @pairs_bf16(
// PAIR: %[[KT:[a-z0-9_]+]] = memref.alloc({{.*}}) : memref<?x?x?x32x64xi32>
// PAIR: %[[VP:[a-z0-9_]+]] = memref.alloc({{.*}}) : memref<?x?x?x48xi32>
// PAIR: scf.parallel
// PAIR:   arith.bitcast %{{.*}} : bf16 to i16
// PAIR:   arith.shli %{{.*}}, %{{.*}} : i32
// PAIR:   arith.ori
// PAIR:   memref.store %{{.*}}, %[[KT]]
// PAIR:   memref.store %{{.*}}, %[[VP]]
// PAIR: scf.parallel
// PAIR:   %[[Q:[a-z0-9_]+]] = memref.alloca() : memref<32x64xi32>
// PAIR-NOT: arith.mulf
// PAIR:   attn.kv_block_update %[[Q]], %[[KT]], %[[VP]], {{.*}} {scale = 1.250000e-01 : f32} : memref<32x64xi32>, memref<?x?x?x32x64xi32>, memref<?x?x?x48xi32>, memref<64x48xf32>, memref<64x64xf32>, vector<64xf32>
// PAIR-LABEL: func.func @pairs_f32(
// PAIR: memref.alloc({{.*}}) : memref<?x?x?x63x64xf32>
// PAIR-NOT: i32
// PAIR: return
func.func @pairs_bf16(%q: tensor<?x?x?x63xbf16>, %k: tensor<?x?x?x63xbf16>,
                      %v: tensor<?x?x?x40xbf16>) -> tensor<?x?x?x40xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.causal) scale(0.125)
       : (tensor<?x?x?x63xbf16>, tensor<?x?x?x63xbf16>, tensor<?x?x?x40xbf16>)
       -> tensor<?x?x?x40xbf16>
  return %o : tensor<?x?x?x40xbf16>
}
func.func @pairs_f32(%q: tensor<?x?x?x63xf32>, %k: tensor<?x?x?x63xf32>,
                     %v: tensor<?x?x?x40xf32>) -> tensor<?x?x?x40xf32> {
  %o = attn.attention %q, %k, %v scale(0.125)
       : (tensor<?x?x?x63xf32>, tensor<?x?x?x63xf32>, tensor<?x?x?x40xf32>)
       -> tensor<?x?x?x40xf32>
  return %o : tensor<?x?x?x40xf32>
}

// -----

// key-panel-bytes: a 128-key block of f32 K at D = 128 is a 64 KiB panel,
// so the block halves to 64 keys (32 KiB); bf16 pairs at D = 128 and f32 at
// D = 64 fit in 32 KiB and keep 128.

// PANEL-LABEL: func.func @panel_f32_d128(
// PANEL: memref.alloc({{.*}}) : memref<?x?x?x128x64xf32>
// PANEL: attn.kv_block_update {{.*}} : memref<64x128xf32>, memref<?x?x?x128x64xf32>, memref<?x?x?x128xf32>, memref<64x128xf32>, memref<64x64xf32>
// PANEL-LABEL: func.func @panel_bf16_d128(
// PANEL: memref.alloc({{.*}}) : memref<?x?x?x64x128xi32>
// PANEL-LABEL: func.func @panel_f32_d64(
// PANEL: memref.alloc({{.*}}) : memref<?x?x?x64x128xf32>
func.func @panel_f32_d128(%q: tensor<?x?x?x128xf32>, %k: tensor<?x?x?x128xf32>,
                          %v: tensor<?x?x?x128xf32>) -> tensor<?x?x?x128xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal)
       : (tensor<?x?x?x128xf32>, tensor<?x?x?x128xf32>, tensor<?x?x?x128xf32>)
       -> tensor<?x?x?x128xf32>
  return %o : tensor<?x?x?x128xf32>
}
func.func @panel_bf16_d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>,
                           %v: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %o = attn.attention %q, %k, %v
       : (tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>)
       -> tensor<?x?x?x128xbf16>
  return %o : tensor<?x?x?x128xbf16>
}
func.func @panel_f32_d64(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                         %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
