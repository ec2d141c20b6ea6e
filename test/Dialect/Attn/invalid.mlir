// RUN: attn-opt %s -split-input-file -verify-diagnostics

func.func @q_rank(%q: tensor<2x16x64xf32>, %k: tensor<1x2x16x64xf32>,
                  %v: tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{'attn.attention' op q must have rank 4, got rank 3 ('tensor<2x16x64xf32>')}}
  %o = attn.attention %q, %k, %v
       : (tensor<2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>)
       -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @k_rank(%q: tensor<1x2x16x64xf32>, %k: tensor<1x1x2x16x64xf32>,
                  %v: tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{k must have rank 4, got rank 5 ('tensor<1x1x2x16x64xf32>')}}
  %o = attn.attention %q, %k, %v
       : (tensor<1x2x16x64xf32>, tensor<1x1x2x16x64xf32>, tensor<1x2x16x64xf32>)
       -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @v_rank(%q: tensor<1x2x16x64xf32>, %k: tensor<1x2x16x64xf32>,
                  %v: tensor<16x64xf32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{v must have rank 4, got rank 2 ('tensor<16x64xf32>')}}
  %o = attn.attention %q, %k, %v
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<16x64xf32>)
       -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @out_rank(%q: tensor<1x2x16x64xf32>, %k: tensor<1x2x16x64xf32>,
                    %v: tensor<1x2x16x64xf32>) -> tensor<2x16x64xf32> {
  // expected-error @+1 {{out must have rank 4, got rank 3 ('tensor<2x16x64xf32>')}}
  %o = attn.attention %q, %k, %v
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>)
       -> tensor<2x16x64xf32>
  return %o : tensor<2x16x64xf32>
}

// -----

func.func @lse_rank(%q: tensor<1x2x16x64xf32>, %k: tensor<1x2x16x64xf32>,
                    %v: tensor<1x2x16x64xf32>) {
  // expected-error @+1 {{lse must have rank 3 [B, Hq, N], got rank 4 ('tensor<1x2x16x1xf32>')}}
  %o, %lse = attn.attention %q, %k, %v
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>)
       -> (tensor<1x2x16x64xf32>, tensor<1x2x16x1xf32>)
  return
}

// -----

func.func @lse_element_type(%q: tensor<1x2x16x64xf16>, %k: tensor<1x2x16x64xf16>,
                            %v: tensor<1x2x16x64xf16>) {
  // expected-error @+1 {{result #1 must be ranked tensor of 32-bit float values, but got 'tensor<1x2x16xf16>'}}
  %o, %lse = attn.attention %q, %k, %v
       : (tensor<1x2x16x64xf16>, tensor<1x2x16x64xf16>, tensor<1x2x16x64xf16>)
       -> (tensor<1x2x16x64xf16>, tensor<1x2x16xf16>)
  return
}

// -----

func.func @element_type_k(%q: tensor<1x2x16x64xf32>, %k: tensor<1x2x16x64xf16>,
                          %v: tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{k has element type 'f16' but q has 'f32'; q, k, v and out must share one element type}}
  %o = attn.attention %q, %k, %v
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf16>, tensor<1x2x16x64xf32>)
       -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @element_type_out(%q: tensor<1x2x16x64xbf16>, %k: tensor<1x2x16x64xbf16>,
                            %v: tensor<1x2x16x64xbf16>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{out has element type 'f32' but q has 'bf16'}}
  %o = attn.attention %q, %k, %v
       : (tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>, tensor<1x2x16x64xbf16>)
       -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @unsupported_element_type(%q: tensor<1x2x16x64xi32>, %k: tensor<1x2x16x64xi32>,
                                    %v: tensor<1x2x16x64xi32>) -> tensor<1x2x16x64xi32> {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit float or bfloat16 type or 16-bit float values, but got 'tensor<1x2x16x64xi32>'}}
  %o = attn.attention %q, %k, %v
       : (tensor<1x2x16x64xi32>, tensor<1x2x16x64xi32>, tensor<1x2x16x64xi32>)
       -> tensor<1x2x16x64xi32>
  return %o : tensor<1x2x16x64xi32>
}

// -----

func.func @batch(%q: tensor<1x2x16x64xf32>, %k: tensor<2x2x16x64xf32>,
                 %v: tensor<2x2x16x64xf32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{k dimension 0 (B) is 2 but q dimension 0 (B) is 1}}
  %o = attn.attention %q, %k, %v
       : (tensor<1x2x16x64xf32>, tensor<2x2x16x64xf32>, tensor<2x2x16x64xf32>)
       -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @hkv(%q: tensor<1x4x16x64xf32>, %k: tensor<1x2x16x64xf32>,
               %v: tensor<1x4x16x64xf32>) -> tensor<1x4x16x64xf32> {
  // expected-error @+1 {{v dimension 1 (Hkv) is 4 but k dimension 1 (Hkv) is 2}}
  %o = attn.attention %q, %k, %v
       : (tensor<1x4x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x4x16x64xf32>)
       -> tensor<1x4x16x64xf32>
  return %o : tensor<1x4x16x64xf32>
}

// -----

func.func @keys(%q: tensor<1x2x16x64xf32>, %k: tensor<1x2x32x64xf32>,
                %v: tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{v dimension 2 (M) is 16 but k dimension 2 (M) is 32}}
  %o = attn.attention %q, %k, %v
       : (tensor<1x2x16x64xf32>, tensor<1x2x32x64xf32>, tensor<1x2x16x64xf32>)
       -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @head_dim(%q: tensor<1x2x16x64xf32>, %k: tensor<1x2x16x32xf32>,
                    %v: tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{k dimension 3 (D) is 32 but q dimension 3 (D) is 64}}
  %o = attn.attention %q, %k, %v
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x32xf32>, tensor<1x2x16x64xf32>)
       -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @out_heads(%q: tensor<1x2x16x64xf32>, %k: tensor<1x2x16x64xf32>,
                     %v: tensor<1x2x16x64xf32>) -> tensor<1x4x16x64xf32> {
  // expected-error @+1 {{out dimension 1 (Hq) is 4 but q dimension 1 (Hq) is 2}}
  %o = attn.attention %q, %k, %v
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>)
       -> tensor<1x4x16x64xf32>
  return %o : tensor<1x4x16x64xf32>
}

// -----

func.func @out_rows(%q: tensor<1x2x16x64xf32>, %k: tensor<1x2x40x64xf32>,
                    %v: tensor<1x2x40x64xf32>) -> tensor<1x2x40x64xf32> {
  // expected-error @+1 {{out dimension 2 (N) is 40 but q dimension 2 (N) is 16}}
  %o = attn.attention %q, %k, %v
       : (tensor<1x2x16x64xf32>, tensor<1x2x40x64xf32>, tensor<1x2x40x64xf32>)
       -> tensor<1x2x40x64xf32>
  return %o : tensor<1x2x40x64xf32>
}

// -----

func.func @out_value_dim(%q: tensor<1x2x16x64xf32>, %k: tensor<1x2x16x64xf32>,
                         %v: tensor<1x2x16x32xf32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{out dimension 3 (Dv) is 64 but v dimension 3 (Dv) is 32}}
  %o = attn.attention %q, %k, %v
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x32xf32>)
       -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @lse_rows(%q: tensor<1x2x16x64xf32>, %k: tensor<1x2x16x64xf32>,
                    %v: tensor<1x2x16x64xf32>) {
  // expected-error @+1 {{lse dimension 2 (N) is 8 but q dimension 2 (N) is 16}}
  %o, %lse = attn.attention %q, %k, %v
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>)
       -> (tensor<1x2x16x64xf32>, tensor<1x2x8xf32>)
  return
}

// -----

func.func @heads_not_multiple(%q: tensor<1x6x16x64xf32>, %k: tensor<1x4x16x64xf32>,
                              %v: tensor<1x4x16x64xf32>) -> tensor<1x6x16x64xf32> {
  // expected-error @+1 {{q dimension 1 (Hq) is 6, not a multiple of k dimension 1 (Hkv) 4}}
  %o = attn.attention %q, %k, %v
       : (tensor<1x6x16x64xf32>, tensor<1x4x16x64xf32>, tensor<1x4x16x64xf32>)
       -> tensor<1x6x16x64xf32>
  return %o : tensor<1x6x16x64xf32>
}

// -----

func.func @zero_kv_heads(%q: tensor<1x?x16x64xf32>, %k: tensor<1x0x16x64xf32>,
                         %v: tensor<1x0x16x64xf32>) -> tensor<1x?x16x64xf32> {
  // expected-error @+1 {{k dimension 1 (Hkv) must be positive}}
  %o = attn.attention %q, %k, %v
       : (tensor<1x?x16x64xf32>, tensor<1x0x16x64xf32>, tensor<1x0x16x64xf32>)
       -> tensor<1x?x16x64xf32>
  return %o : tensor<1x?x16x64xf32>
}

// -----

func.func @dynamic_head_dim(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>,
                            %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{q dimension 3 (D) must be static}}
  %o = attn.attention %q, %k, %v
       : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @dynamic_value_dim(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                             %v: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  // expected-error @+1 {{v dimension 3 (Dv) must be static}}
  %o = attn.attention %q, %k, %v
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x?xf32>)
       -> tensor<?x?x?x?xf32>
  return %o : tensor<?x?x?x?xf32>
}

// -----

func.func @zero_head_dim(%q: tensor<?x?x?x0xf32>, %k: tensor<?x?x?x0xf32>,
                         %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{head dimensions D and Dv must be positive}}
  %o = attn.attention %q, %k, %v
       : (tensor<?x?x?x0xf32>, tensor<?x?x?x0xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @infinite_scale(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                          %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{scale must be finite, got INF}}
  %o = attn.attention %q, %k, %v scale(0x7FF0000000000000)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @nan_scale(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                     %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{scale must be finite, got nan}}
  %o = attn.attention %q, %k, %v scale(0x7FF8000000000000)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @unknown_mask(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                        %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{unknown attribute `sliding` in dialect `attn`}}
  %o = attn.attention %q, %k, %v mask(#attn.sliding)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @mask_not_a_mask(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                           %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{invalid kind of attribute specified}}
  %o = attn.attention %q, %k, %v mask(unit)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @mask_not_a_mask_generic(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                                   %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{invalid properties {mask} for op attn.attention: Invalid attribute `mask` in property conversion: unit}}
  %o = "attn.attention"(%q, %k, %v) <{mask = unit}>
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
       -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @kv_dynamic_acc(%qT: memref<32x64xf32>, %kT: memref<?x?x?x64x64xf32>,
                          %v: memref<?x?x?x16xf32>, %acc: memref<?x16xf32>,
                          %s: memref<32x64xf32>, %i: index, %c: i1,
                          %m: vector<32xf32>, %l: vector<32xf32>) {
  // expected-error @+1 {{'attn.kv_block_update' op qT, acc and scores must have static shapes}}
  %m2, %l2 = attn.kv_block_update %qT, %kT, %v, %acc, %s at [%i, %i, %i, %i]
      lengths(%i, %i) masked(%c) state(%m, %l)
      : memref<32x64xf32>, memref<?x?x?x64x64xf32>, memref<?x?x?x16xf32>,
        memref<?x16xf32>, memref<32x64xf32>, vector<32xf32>
  return
}

// -----

func.func @kv_query_rows(%qT: memref<16x64xf32>, %kT: memref<?x?x?x64x64xf32>,
                         %v: memref<?x?x?x16xf32>, %acc: memref<32x16xf32>,
                         %s: memref<32x64xf32>, %i: index, %c: i1,
                         %m: vector<32xf32>, %l: vector<32xf32>) {
  // expected-error @+1 {{qT dimension 0 must be the tile's 32 rows, got 16}}
  %m2, %l2 = attn.kv_block_update %qT, %kT, %v, %acc, %s at [%i, %i, %i, %i]
      lengths(%i, %i) masked(%c) state(%m, %l)
      : memref<16x64xf32>, memref<?x?x?x64x64xf32>, memref<?x?x?x16xf32>,
        memref<32x16xf32>, memref<32x64xf32>, vector<32xf32>
  return
}

// -----

func.func @kv_head_dim(%qT: memref<32x32xf32>, %kT: memref<?x?x?x64x64xf32>,
                       %v: memref<?x?x?x16xf32>, %acc: memref<32x16xf32>,
                       %s: memref<32x64xf32>, %i: index, %c: i1,
                       %m: vector<32xf32>, %l: vector<32xf32>) {
  // expected-error @+1 {{qT dimension 1 (D) must match kT dimension 3}}
  %m2, %l2 = attn.kv_block_update %qT, %kT, %v, %acc, %s at [%i, %i, %i, %i]
      lengths(%i, %i) masked(%c) state(%m, %l)
      : memref<32x32xf32>, memref<?x?x?x64x64xf32>, memref<?x?x?x16xf32>,
        memref<32x16xf32>, memref<32x64xf32>, vector<32xf32>
  return
}

// -----

func.func @kv_acc_rows(%qT: memref<32x64xf32>, %kT: memref<?x?x?x64x64xf32>,
                       %v: memref<?x?x?x16xf32>, %acc: memref<16x16xf32>,
                       %s: memref<32x64xf32>, %i: index, %c: i1,
                       %m: vector<32xf32>, %l: vector<32xf32>) {
  // expected-error @+1 {{acc, scores and the state vectors must have the same number of rows (32)}}
  %m2, %l2 = attn.kv_block_update %qT, %kT, %v, %acc, %s at [%i, %i, %i, %i]
      lengths(%i, %i) masked(%c) state(%m, %l)
      : memref<32x64xf32>, memref<?x?x?x64x64xf32>, memref<?x?x?x16xf32>,
        memref<16x16xf32>, memref<32x64xf32>, vector<32xf32>
  return
}

// -----

func.func @kv_packed_key_block(%qT: memref<32x64xf32>, %kT: memref<?x?x?x64x32xf32>,
                                %v: memref<?x?x?x16xf32>, %acc: memref<32x16xf32>,
                                %s: memref<32x64xf32>, %i: index, %c: i1,
                                %m: vector<32xf32>, %l: vector<32xf32>) {
  // expected-error @+1 {{scores dimension 1 must be the key block size (kT dimension 4), got 64}}
  %m2, %l2 = attn.kv_block_update %qT, %kT, %v, %acc, %s at [%i, %i, %i, %i]
      lengths(%i, %i) masked(%c) state(%m, %l)
      : memref<32x64xf32>, memref<?x?x?x64x32xf32>, memref<?x?x?x16xf32>,
        memref<32x16xf32>, memref<32x64xf32>, vector<32xf32>
  return
}

// -----

func.func @kv_key_block(%qT: memref<32x64xf32>, %kT: memref<?x?x?x64x40xf32>,
                        %v: memref<?x?x?x16xf32>, %acc: memref<32x16xf32>,
                        %s: memref<32x40xf32>, %i: index, %c: i1,
                        %m: vector<32xf32>, %l: vector<32xf32>) {
  // expected-error @+1 {{key block (scores dimension 1) must be a multiple of 16, got 40}}
  %m2, %l2 = attn.kv_block_update %qT, %kT, %v, %acc, %s at [%i, %i, %i, %i]
      lengths(%i, %i) masked(%c) state(%m, %l)
      : memref<32x64xf32>, memref<?x?x?x64x40xf32>, memref<?x?x?x16xf32>,
        memref<32x16xf32>, memref<32x40xf32>, vector<32xf32>
  return
}

// -----

func.func @kv_padded_value_dim(%qT: memref<32x64xf32>, %kT: memref<?x?x?x64x64xf32>,
                               %v: memref<?x?x?x24xf32>, %acc: memref<32x24xf32>,
                               %s: memref<32x64xf32>, %i: index, %c: i1,
                               %m: vector<32xf32>, %l: vector<32xf32>) {
  // expected-error @+1 {{acc dimension 1 (padded Dv) must be a multiple of 16, got 24}}
  %m2, %l2 = attn.kv_block_update %qT, %kT, %v, %acc, %s at [%i, %i, %i, %i]
      lengths(%i, %i) masked(%c) state(%m, %l)
      : memref<32x64xf32>, memref<?x?x?x64x64xf32>, memref<?x?x?x24xf32>,
        memref<32x24xf32>, memref<32x64xf32>, vector<32xf32>
  return
}

// -----

func.func @kv_state_types(%qT: memref<32x64xf32>, %kT: memref<?x?x?x64x64xf32>,
                          %v: memref<?x?x?x16xf32>, %acc: memref<32x16xf32>,
                          %s: memref<32x64xf32>, %i: index, %c: i1,
                          %m: vector<32xf32>, %l: vector<16xf32>) {
  // expected-error @+1 {{failed to verify that all of {m_in, l_in, m_out, l_out} have same type}}
  %r:2 = "attn.kv_block_update"(%qT, %kT, %v, %acc, %s, %i, %i, %i, %i, %i, %i, %c, %m, %l) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0>}> ({}, {})
      : (memref<32x64xf32>, memref<?x?x?x64x64xf32>, memref<?x?x?x16xf32>,
         memref<32x16xf32>, memref<32x64xf32>, index, index, index, index,
         index, index, i1, vector<32xf32>, vector<16xf32>)
      -> (vector<32xf32>, vector<32xf32>)
  return
}

// -----

func.func @negative_window(%q: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{#attn.window sizes must be non-negative, got <-1, 0>}}
  %o = attn.attention %q, %q, %q mask(#attn.window<-1, 0>)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @kv_gathered_unmasked(%qT: memref<32x64xf32>, %kT: memref<1x1x?x64x64xf32>,
                                %v: memref<1x1x?x32xf32>, %acc: memref<32x32xf32>,
                                %s: memref<32x64xf32>, %i: index, %c: i1,
                                %m: vector<32xf32>, %l: vector<32xf32>,
                                %keys: memref<?xi64>) {
  // expected-error @+1 {{'attn.kv_block_update' op gathered keys need masked = true (padding slots are masked by position)}}
  %m2, %l2 = attn.kv_block_update %qT, %kT, %v, %acc, %s at [%i, %i, %i, %i]
      lengths(%i, %i) masked(%c) state(%m, %l) keys(%keys : memref<?xi64>)
      : memref<32x64xf32>, memref<1x1x?x64x64xf32>, memref<1x1x?x32xf32>,
        memref<32x32xf32>, memref<32x64xf32>, vector<32xf32>
  return
}

// -----

func.func @block_q_zero(%q: tensor<1x2x16x64xf32>, %k: tensor<1x2x16x64xf32>,
                        %v: tensor<1x2x16x64xf32>, %i: tensor<1x2x1x1xi32>,
                        %c: tensor<1x2x1xi32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{block sizes must be in [1, 2^20], got (0, 16)}}
  %o = attn.attention %q, %k, %v blocks(%i, %c) block_size(0, 16)
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>,
          tensor<1x2x1x1xi32>, tensor<1x2x1xi32>) -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @list_rank(%q: tensor<1x2x16x64xf32>, %k: tensor<1x2x16x64xf32>,
                     %v: tensor<1x2x16x64xf32>, %i: tensor<1x2x1xi32>,
                     %c: tensor<1x2x1xi32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{kv_indices must have rank 4 [B, H, ceil(N / block_q), K], got 'tensor<1x2x1xi32>'}}
  %o = attn.attention %q, %k, %v blocks(%i, %c) block_size(16, 16)
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>,
          tensor<1x2x1xi32>, tensor<1x2x1xi32>) -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @list_query_blocks(%q: tensor<1x2x100x64xf32>, %k: tensor<1x2x16x64xf32>,
                             %v: tensor<1x2x16x64xf32>, %i: tensor<1x2x3x1xi32>,
                             %c: tensor<1x2x3xi32>) -> tensor<1x2x100x64xf32> {
  // expected-error @+1 {{kv_indices dimension 2 must be ceil(N / block_q) = 2, got 3}}
  %o = attn.attention %q, %k, %v blocks(%i, %c) block_size(64, 16)
       : (tensor<1x2x100x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>,
          tensor<1x2x3x1xi32>, tensor<1x2x3xi32>) -> tensor<1x2x100x64xf32>
  return %o : tensor<1x2x100x64xf32>
}

// -----

func.func @list_heads(%q: tensor<1x4x16x64xf32>, %k: tensor<1x2x16x64xf32>,
                      %v: tensor<1x2x16x64xf32>, %i: tensor<1x3x1x1xi32>,
                      %c: tensor<1x3x1xi32>) -> tensor<1x4x16x64xf32> {
  // expected-error @+1 {{kv_indices dimension 1 must be 1, Hq or Hkv, got 3}}
  %o = attn.attention %q, %k, %v blocks(%i, %c) block_size(16, 16)
       : (tensor<1x4x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>,
          tensor<1x3x1x1xi32>, tensor<1x3x1xi32>) -> tensor<1x4x16x64xf32>
  return %o : tensor<1x4x16x64xf32>
}

// -----

func.func @list_float(%q: tensor<1x2x16x64xf32>, %k: tensor<1x2x16x64xf32>,
                      %v: tensor<1x2x16x64xf32>, %i: tensor<1x2x1x1xf32>,
                      %c: tensor<1x2x1xi32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{operand #3 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values}}
  %o = attn.attention %q, %k, %v blocks(%i, %c) block_size(16, 16)
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>,
          tensor<1x2x1x1xf32>, tensor<1x2x1xi32>) -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @compressed_stride_zero(%q: tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{#attn.compressed parameter s must be in [1, 2^40], got 0}}
  %o = attn.attention %q, %q, %q mask(#attn.compressed<32, 0>)
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @chunked_zero(%q: tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{#attn.chunked parameter c must be in [1, 2^40], got 0}}
  %o = attn.attention %q, %q, %q mask(#attn.chunked<0>)
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @sink_huge(%q: tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{#attn.sink parameter n must be in [0, 2^40], got 9223372036854775807}}
  %o = attn.attention %q, %q, %q mask(#attn.sink<9223372036854775807>)
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @any_of_empty(%q: tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{#attn.any_of needs at least one mask}}
  %o = attn.attention %q, %q, %q mask(#attn.any_of<[]>)
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @not_a_mask(%q: tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{expected a mask attribute, got 3 : i64}}
  %o = attn.attention %q, %q, %q mask(#attn.not<3>)
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

// Issue 15, case 2: window<0, 2^63 - 1> overflowed int64 and masked every
// key; mask parameters are now bounded by 2^40.
func.func @window_int64_max(%q: tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{#attn.window sizes must be at most 2^40, got <0, 9223372036854775807>}}
  %o = attn.attention %q, %q, %q mask(#attn.window<0, 9223372036854775807>)
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @segments_without_ids(%q: tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{mask #attn.all_of<[#attn.causal, #attn.segments]> reads document ids: add segments(%q_doc, %k_doc)}}
  %o = attn.attention %q, %q, %q mask(#attn.all_of<[#attn.causal, #attn.segments]>)
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>) -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @ids_without_segments(%q: tensor<1x2x16x64xf32>, %d: tensor<1x16xi32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{segments(...) given but no mask reads them (use #attn.segments)}}
  %o = attn.attention %q, %q, %q segments(%d, %d) mask(#attn.causal)
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x16xi32>, tensor<1x16xi32>) -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

func.func @doc_shape(%q: tensor<1x2x16x64xf32>, %d: tensor<1x15xi32>) -> tensor<1x2x16x64xf32> {
  // expected-error @+1 {{q_doc 'tensor<1x15xi32>' does not match q 'tensor<1x2x16x64xf32>'}}
  %o = attn.attention %q, %q, %q segments(%d, %d) mask(#attn.segments)
       : (tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x15xi32>, tensor<1x15xi32>) -> tensor<1x2x16x64xf32>
  return %o : tensor<1x2x16x64xf32>
}

// -----

// s and w each within 2^40 but their product past int64 (fuzz-spec seed
// dilated-reach-overflow: UBSan caught s * w overflowing in the verifier).
func.func @dilated_reach_overflow(%q: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{#attn.dilated reach s * w must be at most 2^40, got 5116777622 * 995116777628}}
  %o = attn.attention %q, %q, %q mask(#attn.dilated<5116777622, 995116777628>)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

// bf16 pairs: qT, packed kT and v all of i32.
func.func @kv_pairs_mixed(%qT: memref<32x32xi32>, %kT: memref<?x?x?x32x64xf32>,
                          %v: memref<?x?x?x16xi32>, %acc: memref<32x16xf32>,
                          %s: memref<32x64xf32>, %i: index, %c: i1,
                          %m: vector<32xf32>, %l: vector<32xf32>) {
  // expected-error @+1 {{'attn.kv_block_update' op bf16 pairs need qT, packed kT and v all of i32}}
  %m2, %l2 = attn.kv_block_update %qT, %kT, %v, %acc, %s at [%i, %i, %i, %i]
      lengths(%i, %i) masked(%c) state(%m, %l) {scale = 0.125 : f32}
      : memref<32x32xi32>, memref<?x?x?x32x64xf32>, memref<?x?x?x16xi32>,
        memref<32x16xf32>, memref<32x64xf32>, vector<32xf32>
  return
}

// -----

func.func @kv_pairs_no_scale(%qT: memref<32x32xi32>, %kT: memref<?x?x?x32x64xi32>,
                             %v: memref<?x?x?x16xi32>, %acc: memref<32x16xf32>,
                             %s: memref<32x64xf32>, %i: index, %c: i1,
                             %m: vector<32xf32>, %l: vector<32xf32>) {
  // expected-error @+1 {{'attn.kv_block_update' op bf16 pairs need a scale, a key block that is a multiple of 32}}
  %m2, %l2 = attn.kv_block_update %qT, %kT, %v, %acc, %s at [%i, %i, %i, %i]
      lengths(%i, %i) masked(%c) state(%m, %l)
      : memref<32x32xi32>, memref<?x?x?x32x64xi32>, memref<?x?x?x16xi32>,
        memref<32x16xf32>, memref<32x64xf32>, vector<32xf32>
  return
}

// -----

func.func @kv_amx_without_pairs(%qT: memref<32x64xf32>, %kT: memref<?x?x?x64x64xf32>,
                                %v: memref<?x?x?x16xf32>, %acc: memref<32x16xf32>,
                                %s: memref<32x64xf32>, %i: index, %c: i1,
                                %m: vector<32xf32>, %l: vector<32xf32>) {
  // expected-error @+1 {{'attn.kv_block_update' op amx needs bf16 pairs}}
  %m2, %l2 = attn.kv_block_update %qT, %kT, %v, %acc, %s at [%i, %i, %i, %i]
      lengths(%i, %i) masked(%c) state(%m, %l) {amx, scale = 0.125 : f32}
      : memref<32x64xf32>, memref<?x?x?x64x64xf32>, memref<?x?x?x16xf32>,
        memref<32x16xf32>, memref<32x64xf32>, vector<32xf32>
  return
}

// -----

func.func @kv_split_without_amx(%qT: memref<32x32xi32>, %kT: memref<?x?x?x32x64xi32>,
                                %v: memref<?x?x?x48xi32>, %acc: memref<32x16xf32>,
                                %s: memref<32x64xf32>, %i: index, %c: i1,
                                %m: vector<32xf32>, %l: vector<32xf32>) {
  // expected-error @+1 {{'attn.kv_block_update' op split needs amx}}
  %m2, %l2 = attn.kv_block_update %qT, %kT, %v, %acc, %s at [%i, %i, %i, %i]
      lengths(%i, %i) masked(%c) state(%m, %l) {split, scale = 0.125 : f32}
      : memref<32x32xi32>, memref<?x?x?x32x64xi32>, memref<?x?x?x48xi32>,
        memref<32x16xf32>, memref<32x64xf32>, vector<32xf32>
  return
}
