// RUN: attn-opt %s --attn-pipeline-cpu \
// RUN:   | FileCheck %s --implicit-check-not='{{ (arith|scf|memref|vector|math|cf|func|attn|bufferization|tensor|builtin)\.}}'
// RUN: attn-opt %s --attn-pipeline-cpu="lanes=8 rows=4 cols=2" \
// RUN:   | FileCheck %s --check-prefix=AVX2 --implicit-check-not='{{ (arith|scf|memref|vector|math|cf|func|attn|bufferization|tensor|builtin)\.}}'
// RUN: attn-opt %s --attn-pipeline-cpu="bf16-dot=1" \
// RUN:   | FileCheck %s --check-prefix=PAIR --implicit-check-not='{{ (arith|scf|memref|vector|math|cf|func|attn|bufferization|tensor|builtin|x86vector)\.}}'
// RUN: attn-opt %s --attn-pipeline-cpu="bf16-dot=2" \
// RUN:   | FileCheck %s --check-prefix=AMX --implicit-check-not='{{ (arith|scf|memref|vector|math|cf|func|attn|bufferization|tensor|builtin|x86vector|amx)\.}}'

// The whole CPU pipeline leaves only the LLVM dialect and OpenMP ops on LLVM
// types (omp.parallel is outlined into __kmpc_fork_call only when translated
// to LLVM IR). The result is returned through an out-parameter, and the C
// wrapper takes one memref descriptor pointer per input and output.

// CHECK-LABEL: llvm.func @dense(
// CHECK-SAME: attributes {llvm.emit_c_interface}
// Pack K and V: one parallel loop over (b, hkv, j).
// Scratch through the runtime's workspace hooks (attn-alloc-hooks).
// CHECK: llvm.call @_mlir_memref_to_llvm_alloc
// CHECK: omp.parallel {
// CHECK:   omp.wsloop {
// CHECK:     omp.loop_nest ({{.*}}) : i64 = ({{.*}}) to ({{.*}}) step ({{.*}}) collapse(3) {
// Main loop nest over (b, h, query tile), vectorized on 16 lanes.
// CHECK: omp.parallel {
// CHECK:   omp.wsloop {
// CHECK:     omp.loop_nest ({{.*}}) : i64 = ({{.*}}) to ({{.*}}) step ({{.*}}) collapse(3) {
// S = Q K^T, then the softmax (row maxima as maxps: compare and select;
// exp as a polynomial), then O += P V.
// CHECK:       llvm.intr.fmuladd({{.*}}) : (vector<16xf32>, vector<16xf32>, vector<16xf32>) -> vector<16xf32>
// CHECK:       llvm.fcmp "ogt" {{.*}} : vector<16xf32>
// CHECK:       llvm.intr.fma({{.*}}) : (vector<16xf32>, vector<16xf32>, vector<16xf32>) -> vector<16xf32>
// CHECK:       llvm.intr.vector.reduce.fadd{{.*}} : (f32, vector<16xf32>) -> f32
// CHECK:       llvm.intr.fmuladd({{.*}}) : (vector<16xf32>, vector<16xf32>, vector<16xf32>) -> vector<16xf32>
// CHECK: llvm.call @_mlir_memref_to_llvm_free
// CHECK: llvm.return
// CHECK-LABEL: llvm.func @_mlir_ciface_dense(
// CHECK-SAME: %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK: llvm.call @dense(

// AVX2-LABEL: llvm.func @dense(
// AVX2: omp.parallel
// AVX2: omp.parallel
// AVX2-NOT: -> vector<16xf32>
// AVX2: llvm.intr.fmuladd({{.*}}) : (vector<8xf32>, vector<8xf32>, vector<8xf32>) -> vector<8xf32>
// AVX2-NOT: -> vector<16xf32>
// AVX2: llvm.fcmp "ogt" {{.*}} : vector<8xf32>
// AVX2-NOT: -> vector<16xf32>
// AVX2: llvm.intr.fmuladd({{.*}}) : (vector<8xf32>, vector<8xf32>, vector<8xf32>) -> vector<8xf32>
// AVX2-NOT: -> vector<16xf32>
// AVX2-LABEL: llvm.func @_mlir_ciface_dense(
func.func @dense(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                 %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// bf16-dot=1: the x86vector ops of the bf16 pair form become AVX512-BF16
// intrinsic calls (convert-vector-to-llvm{enable-x86vector}).
// AMX tiles lower to LLVM's shaped tile intrinsics (LLVM configures them).
// AMX-LABEL: llvm.func @dense_bf16(
// AMX: llvm.call_intrinsic "llvm.x86.tilezero.internal"
// AMX: llvm.call_intrinsic "llvm.x86.tileloadd64.internal"
// AMX: llvm.call_intrinsic "llvm.x86.tdpbf16ps.internal"
// AMX: llvm.call_intrinsic "llvm.x86.tilestored64.internal"
// AMX: llvm.call_intrinsic "llvm.x86.avx512bf16.cvtneps2bf16.512"
// AMX: llvm.call_intrinsic "llvm.x86.tdpbf16ps.internal"

// PAIR-LABEL: llvm.func @dense_bf16(
// PAIR: llvm.call_intrinsic "llvm.x86.avx512bf16.dpbf16ps.512"
// PAIR: llvm.call_intrinsic "llvm.x86.avx512bf16.cvtneps2bf16.512"
// PAIR: llvm.call_intrinsic "llvm.x86.avx512bf16.dpbf16ps.512"
func.func @dense_bf16(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
                      %v: tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16> {
  %o = attn.attention %q, %k, %v
       : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
       -> tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}
