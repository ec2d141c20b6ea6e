// RUN: attn-opt %s -split-input-file -verify-diagnostics

// attn.route: one way to bucket, shapes that fit.

func.func @both(%x: tensor<?x?x?x64xf32>, %mu: tensor<?x8x64xf32>) {
  // expected-error @+1 {{takes exactly one of centroids(...) and lsh(bits, seed)}}
  %p, %b = attn.route %x centroids(%mu) lsh(4, 1)
      : (tensor<?x?x?x64xf32>, tensor<?x8x64xf32>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  return
}

// -----

func.func @neither(%x: tensor<?x?x?x64xf32>) {
  // expected-error @+1 {{takes exactly one of centroids(...) and lsh(bits, seed)}}
  %p, %b = attn.route %x : (tensor<?x?x?x64xf32>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  return
}

// -----

func.func @too_many_bits(%x: tensor<?x?x?x64xf32>) {
  // expected-error @+1 {{lsh bits must be in [0, 16], got 17}}
  %p, %b = attn.route %x lsh(17, 1)
      : (tensor<?x?x?x64xf32>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  return
}

// -----

func.func @centroid_features(%x: tensor<?x4x?x64xf32>, %mu: tensor<4x8x32xf32>) {
  // expected-error @+1 {{do not match x}}
  %p, %b = attn.route %x centroids(%mu)
      : (tensor<?x4x?x64xf32>, tensor<4x8x32xf32>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  return
}

// -----

func.func @centroid_dtype(%x: tensor<?x?x?x64xf32>, %mu: tensor<?x8x64xbf16>) {
  // expected-error @+1 {{centroids must be [H, C, D] of x's element type}}
  %p, %b = attn.route %x centroids(%mu)
      : (tensor<?x?x?x64xf32>, tensor<?x8x64xbf16>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  return
}

// -----

func.func @result_rows(%x: tensor<2x4x100x64xf32>) {
  // expected-error @+1 {{does not match x}}
  %p, %b = attn.route %x lsh(4, 1)
      : (tensor<2x4x100x64xf32>) -> (tensor<2x4x99xi32>, tensor<2x4x100xi32>)
  return
}

// -----

func.func @lsh_dynamic_features(%x: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{lsh needs a static feature dimension D}}
  %p, %b = attn.route %x lsh(4, 1)
      : (tensor<?x?x?x?xf32>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  return
}

// -----

func.func @permute_heads(%x: tensor<1x3x10x8xf32>, %p: tensor<1x4x10xi32>) {
  // expected-error @+1 {{x has 3 heads and perm 4; x's heads must divide perm's}}
  %y = attn.permute %x by %p : (tensor<1x3x10x8xf32>, tensor<1x4x10xi32>) -> tensor<1x4x10x8xf32>
  return
}

// -----

func.func @inverse_heads(%x: tensor<1x2x10x8xf32>, %p: tensor<1x4x10xi32>) {
  // expected-error @+1 {{x has 2 heads and perm 4; inverse needs the same number}}
  %y = attn.permute %x by %p inverse : (tensor<1x2x10x8xf32>, tensor<1x4x10xi32>) -> tensor<1x4x10x8xf32>
  return
}

// -----

func.func @permute_length(%x: tensor<1x4x11x8xf32>, %p: tensor<1x4x10xi32>) {
  // expected-error @+1 {{differ in batch or sequence length}}
  %y = attn.permute %x by %p : (tensor<1x4x11x8xf32>, tensor<1x4x10xi32>) -> tensor<1x4x10x8xf32>
  return
}

// -----

func.func @permute_result(%x: tensor<1x4x10x8xf32>, %p: tensor<1x4x10xi32>) {
  // expected-error @+1 {{must have x's rank and element type}}
  %y = attn.permute %x by %p : (tensor<1x4x10x8xf32>, tensor<1x4x10xi32>) -> tensor<1x4x10x8xbf16>
  return
}

// -----

func.func @balanced_zero(%q: tensor<1x1x8x8xf32>) {
  // expected-error @+1 {{#attn.balanced}}
  %o = attn.attention %q, %q, %q mask(#attn.balanced<0>)
      : (tensor<1x1x8x8xf32>, tensor<1x1x8x8xf32>, tensor<1x1x8x8xf32>) -> tensor<1x1x8x8xf32>
  return
}

// -----

func.func @landmark_block(%q: tensor<1x2x8x16xf32>) {
  // expected-error @+1 {{block must be in [1, 2^20], got 0}}
  %o, %l = attn.landmark %q, %q, %q, %q block(0)
      : (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
      -> (tensor<1x2x8x16xf32>, tensor<1x2x8xf32>)
  return
}

// -----

func.func @landmark_cross(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x9x16xf32>, %lk: tensor<1x2x1x16xf32>) {
  // expected-error @+1 {{is self-attention: q and k need one length}}
  %o, %l = attn.landmark %q, %k, %k, %lk block(16)
      : (tensor<1x2x8x16xf32>, tensor<1x2x9x16xf32>, tensor<1x2x9x16xf32>, tensor<1x2x1x16xf32>)
      -> (tensor<1x2x8x16xf32>, tensor<1x2x8xf32>)
  return
}

// -----

func.func @landmark_heads(%q: tensor<1x3x8x16xf32>, %k: tensor<1x2x8x16xf32>, %lk: tensor<1x2x1x16xf32>) {
  // expected-error @+1 {{q's heads (3) must be a multiple of k's (2)}}
  %o, %l = attn.landmark %q, %k, %k, %lk block(16) topk(1)
      : (tensor<1x3x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x1x16xf32>)
      -> (tensor<1x3x8x16xf32>, tensor<1x3x8xf32>)
  return
}

// -----

func.func @zero_chunks(%x: tensor<?x?x?x64xf32>) {
  // expected-error @+1 {{chunks must be in [1, 2^20], got 0}}
  %p, %b = attn.route %x lsh(3, 1) chunks(0)
      : (tensor<?x?x?x64xf32>) -> (tensor<?x?x?xi32>, tensor<?x?x?xi32>)
  return
}

// -----

// The by-blocks scratch (attn-landmark-split) has one shape per result.
func.func @landmark_scratch(%q: tensor<1x2x8x16xf16>, %lk: tensor<1x2x1x16xf16>) {
  // expected-error @+1 {{scratch result #1 does not have the by-blocks shape}}
  %o, %l, %s:5 = attn.landmark %q, %q, %q, %lk block(16) topk(2)
      : (tensor<1x2x8x16xf16>, tensor<1x2x8x16xf16>, tensor<1x2x8x16xf16>, tensor<1x2x1x16xf16>)
      -> (tensor<1x2x8x16xf16>, tensor<1x2x8xf32>, tensor<1x2x8x4xi32>, tensor<1x2x8x2xf32>,
          tensor<1x2x8x2x16xf16>, tensor<1x2x1x2xi32>, tensor<1x2x8x2xi32>)
  return
}

// -----

func.func @landmark_scratch_topk(%q: tensor<1x2x8x16xf16>, %lk: tensor<1x2x1x16xf16>) {
  // expected-error @+1 {{by blocks (attn-landmark-split) needs topk(K >= 1) and 5 scratch results, got 1}}
  %o, %l, %s = attn.landmark %q, %q, %q, %lk block(16) topk(2)
      : (tensor<1x2x8x16xf16>, tensor<1x2x8x16xf16>, tensor<1x2x8x16xf16>, tensor<1x2x1x16xf16>)
      -> (tensor<1x2x8x16xf16>, tensor<1x2x8xf32>, tensor<1x2x8x4xi32>)
  return
}

// -----

// attn.sample: the result is [B, H, count], H from per when given.
func.func @sample_count(%k: tensor<2x4x100x64xf32>) {
  // expected-error @+1 {{rows must be [B, H, 8] (H: the heads of per, else of x)}}
  %r = attn.sample %k count(8) seed(1) : (tensor<2x4x100x64xf32>) -> tensor<2x4x9xi32>
  return
}

// -----

func.func @sample_per_heads(%k: tensor<2x4x100x64xf32>, %q: tensor<2x8x50x64xf32>) {
  // expected-error @+1 {{rows must be [B, H, 8]}}
  %r = attn.sample %k per %q count(8) seed(1)
      : (tensor<2x4x100x64xf32>, tensor<2x8x50x64xf32>) -> tensor<2x4x8xi32>
  return
}

// -----

func.func @sample_rank(%k: tensor<2x4xf32>) {
  // expected-error @+1 {{x must be [B, H, M, ...]}}
  %r = attn.sample %k count(8) seed(1) : (tensor<2x4xf32>) -> tensor<2x4x8xi32>
  return
}

// -----

func.func @sample_negative(%k: tensor<2x4x100xf32>) {
  // expected-error @+1 {{count must be in [0, 2^24], got -1}}
  %r = attn.sample %k count(-1) seed(1) : (tensor<2x4x100xf32>) -> tensor<2x4x?xi32>
  return
}

// -----

func.func @sample_offset(%k: tensor<2x4x100xf32>, %o: tensor<2xi32>) {
  // expected-error @+1 {{offset must be a one-element tensor<1xi32> or tensor<1xi64>, got 'tensor<2xi32>'}}
  %r = attn.sample %k count(8) seed(1) offset(%o)
      : (tensor<2x4x100xf32>, tensor<2xi32>) -> tensor<2x4x8xi32>
  return
}

// -----

func.func @sample_offset_dynamic(%k: tensor<2x4x100xf32>, %o: tensor<?xi64>) {
  // expected-error @+1 {{offset must be a one-element tensor<1xi32> or tensor<1xi64>, got 'tensor<?xi64>'}}
  %r = attn.sample %k count(8) seed(1) offset(%o)
      : (tensor<2x4x100xf32>, tensor<?xi64>) -> tensor<2x4x8xi32>
  return
}

// -----

// attn.gather: x's heads divide the rows'; the result follows rows.
func.func @gather_heads(%x: tensor<1x3x10x8xf32>, %r: tensor<1x4x5xi32>) {
  // expected-error @+1 {{x has 3 heads and rows 4; x's heads must divide rows'}}
  %g = attn.gather %x at %r : (tensor<1x3x10x8xf32>, tensor<1x4x5xi32>) -> tensor<1x4x5x8xf32>
  return
}

// -----

func.func @gather_result(%x: tensor<1x2x10x8xf32>, %r: tensor<1x4x5xi32>) {
  // expected-error @+1 {{does not match rows}}
  %g = attn.gather %x at %r : (tensor<1x2x10x8xf32>, tensor<1x4x5xi32>) -> tensor<1x4x10x8xf32>
  return
}

// -----

func.func @gather_features(%x: tensor<1x2x10x8xf32>, %r: tensor<1x4x5xi32>) {
  // expected-error @+1 {{must keep x's features}}
  %g = attn.gather %x at %r : (tensor<1x2x10x8xf32>, tensor<1x4x5xi32>) -> tensor<1x4x5x16xf32>
  return
}

// -----

// attn.split_heads / attn.join_heads: head counts that split, one type
// for all parts, the other dimensions kept.
func.func @split_count(%x: tensor<1x6x10x8xf32>) {
  // expected-error @+1 {{6 heads are neither a multiple nor a divisor of 4 parts}}
  %a:4 = attn.split_heads %x : tensor<1x6x10x8xf32> -> tensor<1x2x10x8xf32>, tensor<1x2x10x8xf32>, tensor<1x2x10x8xf32>, tensor<1x2x10x8xf32>
  return
}

// -----

func.func @split_size(%x: tensor<1x6x10x8xf32>) {
  // expected-error @+1 {{parts of 6 heads in 2 have 3 heads each, got 2}}
  %a:2 = attn.split_heads %x : tensor<1x6x10x8xf32> -> tensor<1x2x10x8xf32>, tensor<1x2x10x8xf32>
  return
}

// -----

func.func @split_other_dim(%x: tensor<1x6x10x8xf32>) {
  // expected-error @+1 {{differ in dimension 2}}
  %a:2 = attn.split_heads %x : tensor<1x6x10x8xf32> -> tensor<1x3x9x8xf32>, tensor<1x3x9x8xf32>
  return
}

// -----

func.func @split_dim(%x: tensor<6x8xf32>) {
  // expected-error @+1 {{dim 2 is outside the rank}}
  %a:2 = attn.split_heads %x dim(2) : tensor<6x8xf32> -> tensor<3x8xf32>, tensor<3x8xf32>
  return
}

// -----

func.func @split_types(%x: tensor<?x?x?x8xf32>) {
  // expected-error @+1 {{parts must have one type}}
  %a:2 = attn.split_heads %x : tensor<?x?x?x8xf32> -> tensor<?x?x?x8xf32>, tensor<?x2x?x8xf32>
  return
}

// -----

func.func @split_bool(%x: tensor<2x6xi1>) {
  // expected-error @+1 {{takes float, i32 or i64 tensors}}
  %a:2 = attn.split_heads %x : tensor<2x6xi1> -> tensor<2x3xi1>, tensor<2x3xi1>
  return
}

// -----

func.func @join_size(%a: tensor<1x1x10x8xf32>) {
  // expected-error @+1 {{4 parts of 1 heads join into 4 heads, got}}
  %o = attn.join_heads %a, %a, %a, %a : tensor<1x1x10x8xf32>, tensor<1x1x10x8xf32>, tensor<1x1x10x8xf32>, tensor<1x1x10x8xf32> -> tensor<1x2x10x8xf32>
  return
}

// -----

func.func @join_count(%a: tensor<1x3x10x8xf32>) {
  // expected-error @+1 {{parts of 8 heads in 2 have 4 heads each, got 3}}
  %o = attn.join_heads %a, %a : tensor<1x3x10x8xf32>, tensor<1x3x10x8xf32> -> tensor<1x8x10x8xf32>
  return
}
