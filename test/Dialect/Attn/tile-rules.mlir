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

// What intervals cannot bound (a float product) leaves every block
// partial: no skip, the element rule everywhere.
// CHECK-LABEL: func.func @unbounded
// CHECK: scf.for {{.*}} -> (vector<64xf32>, vector<64xf32>)
// CHECK-NOT: scf.if
// CHECK:   attn.kv_block_update {{.*}} masked(%true)
func.func @unbounded(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                     %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c = arith.constant 1.0e+4 : f32
    %ji = arith.index_cast %j : index to i64
    %jf = arith.sitofp %ji : i64 to f32
    %sq = arith.mulf %jf, %jf : f32
    %e = arith.cmpf olt, %sq, %c : f32
    attn.yield %e : i1
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// Unsigned index arithmetic (the earlier routing_kmeans.mlir's chunk of
// ceil(N / 8) and its head test) is bounded like the signed one where no
// lower bound is negative: the quotients of the block's ends, guarded at
// run time (a divisor that is not positive gives the whole range, never a
// trap), then a skip test per block.
// CHECK-LABEL: func.func @unsigned_chunks
// CHECK: scf.for {{.*}} -> (vector<64xf32>, vector<64xf32>)
// CHECK:   arith.cmpi sgt, %{{.*}}, %c0 : index
// CHECK:   arith.divsi
// CHECK:   scf.if %{{.*}} -> (vector<64xf32>, vector<64xf32>)
// CHECK:     attn.kv_block_update {{.*}} mask(#attn.rule) mask_rule {
// CHECK:       arith.divui
func.func @unsigned_chunks(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                           %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c2 = arith.constant 2 : index
    %c7 = arith.constant 7 : index
    %c8 = arith.constant 8 : index
    %c4 = arith.constant 4 : index
    %n7 = arith.addi %i, %c7 : index
    %w = arith.divui %n7, %c8 : index
    %wp = arith.maxui %w, %c4 : index
    %ci = arith.divui %i, %wp : index
    %cj = arith.divui %j, %wp : index
    %same = arith.cmpi eq, %ci, %cj : index
    %even = arith.remui %h, %c2 : index
    %routed = arith.cmpi ult, %even, %c2 : index
    %keep = arith.andi %same, %routed : i1
    attn.yield %keep : i1
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
