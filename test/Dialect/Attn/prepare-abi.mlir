// RUN: attn-opt %s -attn-prepare-abi | FileCheck %s --implicit-check-not=attn.arg_names
// RUN: attn-opt %s -attn-prepare-abi | FileCheck %s --check-prefix=DECL

// Public definitions get the C interface; the driver-only attn.arg_names
// annotation is dropped everywhere.

// CHECK-LABEL: func.func @entry(
// CHECK-SAME: memref<?xf32>) attributes {llvm.emit_c_interface} {
func.func @entry(%q: memref<?xf32>, %out: memref<?xf32>)
    attributes {attn.arg_names = ["q", "out"]} {
  return
}

// Private functions and declarations keep the plain calling convention.

// CHECK-LABEL: func.func private @helper(
// CHECK-SAME: memref<?xf32>) {
func.func private @helper(%x: memref<?xf32>)
    attributes {attn.arg_names = ["x"]} {
  return
}

// CHECK: func.func private @external(memref<?xf32>){{$}}
func.func private @external(memref<?xf32>)

// CHECK-LABEL: func.func @no_names(
// CHECK-SAME: memref<?xf32>) attributes {llvm.emit_c_interface} {
func.func @no_names(%x: memref<?xf32>) {
  return
}

// attn.cpu_threads reads OpenMP's thread count, declared once at the
// module's start however many ops read it.
// DECL: module {
// DECL-NEXT: func.func private @omp_get_max_threads() -> i32
// DECL-NOT: @omp_get_max_threads() -> i32

// CHECK-LABEL: func.func @threads(
// CHECK: %[[N:[a-z0-9_]+]] = call @omp_get_max_threads() : () -> i32
// CHECK-NEXT: %[[I:[a-z0-9_]+]] = arith.index_cast %[[N]] : i32 to index
// CHECK-NEXT: memref.store %[[I]]
// CHECK: call @omp_get_max_threads() : () -> i32
// CHECK-NOT: attn.cpu_threads
func.func @threads(%out: memref<2xindex>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = attn.cpu_threads
  memref.store %n, %out[%c0] : memref<2xindex>
  %m = attn.cpu_threads
  memref.store %m, %out[%c1] : memref<2xindex>
  return
}
