// RUN: attn-opt %s -attn-prepare-abi | FileCheck %s --implicit-check-not=attn.arg_names

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
