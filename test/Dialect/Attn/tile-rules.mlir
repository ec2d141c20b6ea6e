// RUN: attn-opt %s -pass-pipeline='builtin.module(func.func(attn-tile,canonicalize,cse))' | FileCheck %s

// A mask_rule's own block rule (RuleBlocks.cpp): per key block, the rule on
// intervals. The document test reads the ids of the tile's rows and of the
// block's keys as ranges (min and max), so a block of another document is
// skipped and a block of the tile's own document runs without the element
// rule; the rule itself travels with each step.

// CHECK-LABEL: func.func @documents
// CHECK: scf.for %[[T:[a-z0-9_]+]] = %{{.*}} iter_args({{.*}}) -> (vector<64xf32>, vector<64xf32>)
// The ids of the rows [i0, i1) and of the keys [j0, j1): their ranges.
// CHECK:   scf.for {{.*}} iter_args({{.*}}) -> (i32, i32)
// CHECK:     arith.minsi {{.*}} : i32
// CHECK:     arith.maxsi {{.*}} : i32
// Can be kept: the ranges overlap; must be: both are one and the same id.
// CHECK:   %[[LO:[a-z0-9_]+]] = arith.cmpi sle, %{{.*}}#0, %{{.*}}#1 : i32
// CHECK:   %[[HI:[a-z0-9_]+]] = arith.cmpi sle, %{{.*}}#0, %{{.*}}#1 : i32
// CHECK:   %[[KEEP:[a-z0-9_]+]] = arith.andi %[[LO]], %[[HI]] : i1
// CHECK:   arith.cmpi eq, %{{.*}}#0, %{{.*}}#1 : i32
// CHECK:   scf.if %[[KEEP]] -> (vector<64xf32>, vector<64xf32>)
// CHECK:     attn.kv_block_update {{.*}} mask(#attn.rule) mask_rule {
func.func @documents(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                     %v: tensor<?x?x?x64xf32>, %qd: tensor<?x?xi32>,
                     %kd: tensor<?x?xi32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v rules(%qd, %kd) mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index,
       %a: tensor<?x?xi32>, %c: tensor<?x?xi32>):
    %x = tensor.extract %a[%b, %i] : tensor<?x?xi32>
    %y = tensor.extract %c[%b, %j] : tensor<?x?xi32>
    %e = arith.cmpi eq, %x, %y : i32
    attn.yield %e : i1
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
       tensor<?x?xi32>, tensor<?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// What intervals cannot bound (a remainder) leaves every block partial: no
// skip, the element rule everywhere.
// CHECK-LABEL: func.func @remainder
// CHECK: scf.for {{.*}} -> (vector<64xf32>, vector<64xf32>)
// CHECK-NOT: scf.if
// CHECK:   attn.kv_block_update {{.*}} masked(%true)
func.func @remainder(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                     %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c3 = arith.constant 3 : index
    %c0 = arith.constant 0 : index
    %r = arith.remui %j, %c3 : index
    %e = arith.cmpi eq, %r, %c0 : index
    attn.yield %e : i1
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
