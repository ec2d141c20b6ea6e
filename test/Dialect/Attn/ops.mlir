// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s -mlir-print-op-generic | attn-opt | FileCheck %s
// RUN: attn-opt %s -mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC

// Round trip of attn.attention through the custom and the generic form.

// CHECK-LABEL: func.func @static_f32
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: {{.*}}, %[[K:[a-z0-9]+]]: {{.*}}, %[[V:[a-z0-9]+]]: {{.*}})
// CHECK: %[[O:[a-z0-9]+]] = attn.attention %[[Q]], %[[K]], %[[V]] : (tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32>
// CHECK: return %[[O]]
func.func @static_f32(%q: tensor<2x4x16x64xf32>, %k: tensor<2x4x16x64xf32>,
                      %v: tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32> {
  %o = attn.attention %q, %k, %v
       : (tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>)
       -> tensor<2x4x16x64xf32>
  return %o : tensor<2x4x16x64xf32>
}

// CHECK-LABEL: func.func @dynamic
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
func.func @dynamic(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                   %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// CHECK-LABEL: func.func @bf16
// CHECK: attn.attention {{.*}} -> tensor<1x2x8x32xbf16>
func.func @bf16(%q: tensor<1x2x8x32xbf16>, %k: tensor<1x2x8x32xbf16>,
                %v: tensor<1x2x8x32xbf16>) -> tensor<1x2x8x32xbf16> {
  %o = attn.attention %q, %k, %v
       : (tensor<1x2x8x32xbf16>, tensor<1x2x8x32xbf16>, tensor<1x2x8x32xbf16>)
       -> tensor<1x2x8x32xbf16>
  return %o : tensor<1x2x8x32xbf16>
}

// CHECK-LABEL: func.func @f16
// CHECK: attn.attention {{.*}} -> tensor<1x2x8x32xf16>
func.func @f16(%q: tensor<1x2x8x32xf16>, %k: tensor<1x2x8x32xf16>,
               %v: tensor<1x2x8x32xf16>) -> tensor<1x2x8x32xf16> {
  %o = attn.attention %q, %k, %v
       : (tensor<1x2x8x32xf16>, tensor<1x2x8x32xf16>, tensor<1x2x8x32xf16>)
       -> tensor<1x2x8x32xf16>
  return %o : tensor<1x2x8x32xf16>
}

// Grouped-query attention: 8 query heads share 2 KV heads.
// CHECK-LABEL: func.func @gqa
// CHECK: attn.attention {{.*}} : (tensor<1x8x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>) -> tensor<1x8x16x64xf32>
func.func @gqa(%q: tensor<1x8x16x64xf32>, %k: tensor<1x2x16x64xf32>,
               %v: tensor<1x2x16x64xf32>) -> tensor<1x8x16x64xf32> {
  %o = attn.attention %q, %k, %v
       : (tensor<1x8x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>)
       -> tensor<1x8x16x64xf32>
  return %o : tensor<1x8x16x64xf32>
}

// Cross attention (M != N) with Dv != D.
// CHECK-LABEL: func.func @cross_dv
// CHECK: attn.attention {{.*}} : (tensor<1x2x16x64xf32>, tensor<1x2x40x64xf32>, tensor<1x2x40x32xf32>) -> tensor<1x2x16x32xf32>
func.func @cross_dv(%q: tensor<1x2x16x64xf32>, %k: tensor<1x2x40x64xf32>,
                    %v: tensor<1x2x40x32xf32>) -> tensor<1x2x16x32xf32> {
  %o = attn.attention %q, %k, %v
       : (tensor<1x2x16x64xf32>, tensor<1x2x40x64xf32>, tensor<1x2x40x32xf32>)
       -> tensor<1x2x16x32xf32>
  return %o : tensor<1x2x16x32xf32>
}

// CHECK-LABEL: func.func @causal_scale
// GENERIC-LABEL: sym_name = "causal_scale"
// GENERIC: "attn.attention"(%{{.*}}, %{{.*}}, %{{.*}}) <{mask = #attn.causal, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>, scale = 1.250000e-01 : f64}> ({
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask(#attn.causal) scale(1.250000e-01) :
func.func @causal_scale(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                        %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal) scale(0.125)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// CHECK-LABEL: func.func @with_lse
// GENERIC-LABEL: sym_name = "with_lse"
// GENERIC: %{{.*}}:2 = "attn.attention"(%{{.*}}, %{{.*}}, %{{.*}}) <{mask = #attn.causal, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>}> ({
// CHECK: %{{.*}}, %{{.*}} = attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask(#attn.causal) : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
func.func @with_lse(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                    %v: tensor<?x?x?x64xf32>)
    -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
}

// Tile-level op produced by attn-tile.

// CHECK-LABEL: func.func @kv_block_update
// CHECK: %{{.*}}, %{{.*}} = attn.kv_block_update %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} at{{ ?}}[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] lengths(%{{.*}}, %{{.*}}) masked(%{{.*}}) state(%{{.*}}, %{{.*}}) mask(#attn.causal) : memref<32x64xf32>, memref<?x?x?x64x64xf32>, memref<?x?x?x16xf32>, memref<32x16xf32>, memref<32x64xf32>, vector<32xf32>
func.func @kv_block_update(%qT: memref<32x64xf32>, %kT: memref<?x?x?x64x64xf32>,
                           %v: memref<?x?x?x16xf32>, %acc: memref<32x16xf32>,
                           %s: memref<32x64xf32>, %i: index, %masked: i1,
                           %m: vector<32xf32>, %l: vector<32xf32>)
    -> (vector<32xf32>, vector<32xf32>) {
  %m2, %l2 = attn.kv_block_update %qT, %kT, %v, %acc, %s at [%i, %i, %i, %i]
      lengths(%i, %i) masked(%masked) state(%m, %l) mask(#attn.causal)
      : memref<32x64xf32>, memref<?x?x?x64x64xf32>, memref<?x?x?x16xf32>,
        memref<32x16xf32>, memref<32x64xf32>, vector<32xf32>
  return %m2, %l2 : vector<32xf32>, vector<32xf32>
}

// -----

// CHECK-LABEL: func.func @window
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask(#attn.window<256, 0>)
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask(#attn.window<3, 5>)
func.func @window(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                  %v: tensor<?x?x?x64xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) {
  %a = attn.attention %q, %k, %v mask(#attn.window<256, 0>)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  %b = attn.attention %q, %k, %v mask(#attn.window<3, 5>)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  return %a, %b : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>
}

// -----

// A runtime block list: operands by role (kv_indices, kv_counts), i32 or
// i64, one list per query head, per KV head or shared.

// CHECK-LABEL: func.func @block_list
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} blocks(%{{.*}}, %{{.*}}) block_size(64, 128) mask(#attn.causal) :
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} blocks(%{{.*}}, %{{.*}}) block_size(16, 32) :
// GENERIC-LABEL: sym_name = "block_list"
// GENERIC: "attn.attention"({{.*}}) <{block_k = 128 : i64, block_q = 64 : i64, mask = #attn.causal, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0, 0>}>
func.func @block_list(%q: tensor<?x8x?x64xf32>, %k: tensor<?x2x?x64xf32>,
                      %v: tensor<?x2x?x64xf32>, %idx: tensor<?x8x?x?xi32>,
                      %cnt: tensor<?x8x?xi32>, %idx64: tensor<?x1x?x?xi64>,
                      %cnt64: tensor<?x1x?xi64>)
    -> (tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>) {
  %a = attn.attention %q, %k, %v blocks(%idx, %cnt) block_size(64, 128)
         mask(#attn.causal)
       : (tensor<?x8x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>,
          tensor<?x8x?x?xi32>, tensor<?x8x?xi32>) -> tensor<?x8x?x64xf32>
  %b = attn.attention %q, %k, %v blocks(%idx64, %cnt64) block_size(16, 32)
       : (tensor<?x8x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>,
          tensor<?x1x?x?xi64>, tensor<?x1x?xi64>) -> tensor<?x8x?x64xf32>
  return %a, %b : tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>
}

// -----

// The mask zoo round-trips.
// CHECK-LABEL: func.func @zoo
// CHECK: mask(#attn.sink<4>)
// CHECK: mask(#attn.global<16>)
// CHECK: mask(#attn.prefix<100>)
// CHECK: mask(#attn.chunked<128>)
// CHECK: mask(#attn.dilated<2, 64>)
// CHECK: mask(#attn.compressed<32, 16>)
// CHECK: mask(#attn.all_of<[#attn.causal, #attn.any_of<[#attn.window<255, 0>, #attn.sink<4>]>]>)
// CHECK: mask(#attn.not<#attn.window<3, 3>>)
func.func @zoo(%q: tensor<?x?x?x64xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
    tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
    tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) {
  %a = attn.attention %q, %q, %q mask(#attn.sink<4>) : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  %b = attn.attention %q, %q, %q mask(#attn.global<16>) : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  %c = attn.attention %q, %q, %q mask(#attn.prefix<100>) : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  %d = attn.attention %q, %q, %q mask(#attn.chunked<128>) : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  %e = attn.attention %q, %q, %q mask(#attn.dilated<2, 64>) : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  %ec = attn.attention %q, %q, %q mask(#attn.compressed<32, 16>) : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  %f = attn.attention %q, %q, %q mask(#attn.all_of<[#attn.causal, #attn.any_of<[#attn.window<255, 0>, #attn.sink<4>]>]>) : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  %g = attn.attention %q, %q, %q mask(#attn.not<#attn.window<3, 3>>) : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  return %a, %b, %c, %d, %e, %ec, %f, %g : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>
}

// -----

// Document ids by role; the segments mask reads them.
// CHECK-LABEL: func.func @documents
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} segments(%{{.*}}, %{{.*}}) mask(#attn.all_of<[#attn.causal, #attn.segments]>) :
func.func @documents(%q: tensor<?x?x?x64xf32>, %qd: tensor<?x?xi32>, %kd: tensor<?x?xi64>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %q, %q segments(%qd, %kd) mask(#attn.all_of<[#attn.causal, #attn.segments]>)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?xi32>, tensor<?x?xi64>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
