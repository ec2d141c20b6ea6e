// RUN: attn-opt %s --finalize-memref-to-llvm="use-generic-functions=true" \
// RUN:   --convert-func-to-llvm --reconcile-unrealized-casts --attn-alloc-hooks \
// RUN:   | FileCheck %s

// A kernel's heap allocations call the generic functions, which the pass
// defines in the module (internal): the exported table's slot if the
// runtime filled it, else libc.
// CHECK: llvm.mlir.global external @_attnir_alloc_hooks() {{.*}} : !llvm.array<3 x ptr>
// CHECK: llvm.func internal @_mlir_memref_to_llvm_free(%[[P:.*]]: !llvm.ptr)
// CHECK:   %[[T:.*]] = llvm.mlir.addressof @_attnir_alloc_hooks
// CHECK:   %[[S:.*]] = llvm.getelementptr %[[T]][0, 2]
// CHECK:   %[[F:.*]] = llvm.load %[[S]] : !llvm.ptr -> !llvm.ptr
// CHECK:   llvm.icmp "eq" %[[F]]
// CHECK:   llvm.call %[[F]](%[[P]])
// CHECK:   llvm.call @free(%[[P]])
// CHECK: llvm.func internal @_mlir_memref_to_llvm_alloc(%[[N:.*]]: i64) -> !llvm.ptr
// CHECK:   llvm.getelementptr %{{.*}}[0, 0]
// CHECK:   llvm.call %{{.*}}(%[[N]]) : !llvm.ptr, (i64) -> !llvm.ptr
// CHECK:   llvm.call @malloc(%[[N]])
// CHECK-LABEL: llvm.func @scratch
// CHECK: llvm.call @_mlir_memref_to_llvm_alloc
// CHECK: llvm.call @_mlir_memref_to_llvm_free
func.func @scratch(%n: index) {
  %a = memref.alloc(%n) : memref<?xf32>
  memref.dealloc %a : memref<?xf32>
  return
}
