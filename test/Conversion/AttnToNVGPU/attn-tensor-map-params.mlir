// RUN: attn-opt %s --pass-pipeline="builtin.module(gpu.module(attn-tensor-map-params))" --split-input-file --verify-diagnostics | FileCheck %s

// The last `attn.tensor_maps` arguments of a converted kernel become
// 128-byte by-value grid constants; other arguments and functions are left
// alone.
gpu.module @m {
  // CHECK-LABEL: llvm.func @k(
  // CHECK-SAME: %{{[a-z0-9]+}}: i64,
  // CHECK-SAME: %{{[a-z0-9]+}}: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant},
  // CHECK-SAME: %{{[a-z0-9]+}}: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant})
  llvm.func @k(%n: i64, %a: !llvm.ptr, %b: !llvm.ptr) attributes {attn.tensor_maps = 2 : i64, nvvm.kernel} {
    llvm.return
  }
  // CHECK-LABEL: llvm.func @plain(
  // CHECK-SAME: %{{[a-z0-9]+}}: !llvm.ptr)
  llvm.func @plain(%a: !llvm.ptr) attributes {nvvm.kernel} {
    llvm.return
  }
}

// -----

gpu.module @m {
  // expected-error @+1 {{attn.tensor_maps: argument 0 is not a pointer}}
  llvm.func @bad(%n: i64) attributes {attn.tensor_maps = 1 : i64, nvvm.kernel} {
    llvm.return
  }
}
