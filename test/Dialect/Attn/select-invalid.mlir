// RUN: attn-opt %s -split-input-file -verify-diagnostics

func.func @pool_rank(%x: tensor<8x100x32xf32>) -> tensor<8x4x32xf32> {
  // expected-error @+1 {{'attn.pool' op takes and returns rank-4 tensors [B, H, L, D]}}
  %p = attn.pool %x block(25) kind(mean) : tensor<8x100x32xf32> -> tensor<8x4x32xf32>
  return %p : tensor<8x4x32xf32>
}

// -----

func.func @pool_blocks(%x: tensor<1x8x100x32xf32>) -> tensor<1x8x3x32xf32> {
  // expected-error @+1 {{result dimension 2 must be ceil(L / block) = 4, got 3}}
  %p = attn.pool %x block(25) kind(mean) : tensor<1x8x100x32xf32> -> tensor<1x8x3x32xf32>
  return %p : tensor<1x8x3x32xf32>
}

// -----

func.func @pool_block_zero(%x: tensor<1x8x100x32xf32>) -> tensor<1x8x4x32xf32> {
  // expected-error @+1 {{block must be in [1, 2^30], got 0}}
  %p = attn.pool %x block(0) kind(max) : tensor<1x8x100x32xf32> -> tensor<1x8x4x32xf32>
  return %p : tensor<1x8x4x32xf32>
}

// -----

func.func @pool_kind(%x: tensor<1x8x100x32xf32>) -> tensor<1x8x4x32xf32> {
  // expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'kind' [mean, max, min, sum, mean_sqrt, first, last]}}
  %p = attn.pool %x block(25) kind(median) : tensor<1x8x100x32xf32> -> tensor<1x8x4x32xf32>
  return %p : tensor<1x8x4x32xf32>
}

// -----

func.func @scores_gqa(%q: tensor<1x6x4x32xf32>, %k: tensor<1x4x4x32xf32>) -> tensor<1x6x4x4xf32> {
  // expected-error @+1 {{Hq = 6 must be a multiple of Hkv = 4}}
  %s = attn.block_scores %q, %k : (tensor<1x6x4x32xf32>, tensor<1x4x4x32xf32>) -> tensor<1x6x4x4xf32>
  return %s : tensor<1x6x4x4xf32>
}

// -----

func.func @scores_share_heads(%q: tensor<1x8x4x32xf32>, %k: tensor<1x2x4x32xf32>) -> tensor<1x8x4x4xf32> {
  // expected-error @+1 {{result 'tensor<1x8x4x4xf32>' must be [B, Hkv, Nq, Nk]}}
  %s = attn.block_scores %q, %k share(sum) : (tensor<1x8x4x32xf32>, tensor<1x2x4x32xf32>) -> tensor<1x8x4x4xf32>
  return %s : tensor<1x8x4x4xf32>
}

// -----

func.func @scores_causal_lengths(%qp: tensor<1x2x4x32xf32>, %kp: tensor<1x2x4x32xf32>,
                                 %q: tensor<1x2x300x32xf32>, %k: tensor<1x2x256x32xf32>) -> tensor<1x2x4x4xf32> {
  // expected-error @+1 {{pooled q has 4 blocks but ceil(N / block_q) is 5}}
  %s = attn.block_scores %qp, %kp causal(%q, %k) block_size(64, 64)
       : (tensor<1x2x4x32xf32>, tensor<1x2x4x32xf32>, tensor<1x2x300x32xf32>, tensor<1x2x256x32xf32>) -> tensor<1x2x4x4xf32>
  return %s : tensor<1x2x4x4xf32>
}

// -----

func.func @select_two_policies(%s: tensor<1x2x4x8xf32>) -> (tensor<1x2x4x2xi32>, tensor<1x2x4xi32>) {
  // expected-error @+1 {{needs exactly one of topk(k) and threshold(tau)}}
  %i, %n = attn.select %s topk(2) threshold(0.5) : tensor<1x2x4x8xf32> -> (tensor<1x2x4x2xi32>, tensor<1x2x4xi32>)
  return %i, %n : tensor<1x2x4x2xi32>, tensor<1x2x4xi32>
}

// -----

func.func @select_width(%s: tensor<1x2x4x8xf32>) -> (tensor<1x2x4x3xi32>, tensor<1x2x4xi32>) {
  // expected-error @+1 {{kv_indices dimension 3 must be topk + first + local + last = 4, got 3}}
  %i, %n = attn.select %s topk(2) first(1) local(1) : tensor<1x2x4x8xf32> -> (tensor<1x2x4x3xi32>, tensor<1x2x4xi32>)
  return %i, %n : tensor<1x2x4x3xi32>, tensor<1x2x4xi32>
}

// -----

func.func @select_threshold(%s: tensor<1x2x4x8xf32>) -> (tensor<1x2x4x8xi32>, tensor<1x2x4xi32>) {
  // expected-error @+1 {{threshold must be in (0, 1], got 1.5}}
  %i, %n = attn.select %s threshold(1.5) : tensor<1x2x4x8xf32> -> (tensor<1x2x4x8xi32>, tensor<1x2x4xi32>)
  return %i, %n : tensor<1x2x4x8xi32>, tensor<1x2x4xi32>
}

// -----

func.func @select_types(%s: tensor<1x2x4x8xf32>) -> (tensor<1x2x4x2xi32>, tensor<1x2x4xi64>) {
  // expected-error @+1 {{kv_indices and kv_counts must have one element type}}
  %i, %n = attn.select %s topk(2) : tensor<1x2x4x8xf32> -> (tensor<1x2x4x2xi32>, tensor<1x2x4xi64>)
  return %i, %n : tensor<1x2x4x2xi32>, tensor<1x2x4xi64>
}

// -----

func.func @index_scores_ranks(%qi: tensor<1x2x4x8xf32>, %ki: tensor<1x1x6x8xf32>,
                              %w: tensor<1x4x2xf32>) -> tensor<1x1x4x6xf32> {
  // expected-error @+1 {{takes qi [B, HI, N, DI], ki [B, M, DI] and w [B, N, HI] and returns [B, 1, N, M]}}
  %s = attn.index_scores %qi, %ki, %w : (tensor<1x2x4x8xf32>, tensor<1x1x6x8xf32>, tensor<1x4x2xf32>) -> tensor<1x1x4x6xf32>
  return %s : tensor<1x1x4x6xf32>
}

// -----

func.func @index_scores_di(%qi: tensor<1x2x4x8xf32>, %ki: tensor<1x6x16xf32>,
                           %w: tensor<1x4x2xf32>) -> tensor<1x1x4x6xf32> {
  // expected-error @+1 {{ki 'tensor<1x6x16xf32>' must have qi's DI = 8}}
  %s = attn.index_scores %qi, %ki, %w : (tensor<1x2x4x8xf32>, tensor<1x6x16xf32>, tensor<1x4x2xf32>) -> tensor<1x1x4x6xf32>
  return %s : tensor<1x1x4x6xf32>
}

// -----

func.func @index_scores_weights(%qi: tensor<1x2x4x8xf32>, %ki: tensor<1x6x8xf32>,
                                %w: tensor<1x4x3xf32>) -> tensor<1x1x4x6xf32> {
  // expected-error @+1 {{w 'tensor<1x4x3xf32>' must be [B, N, HI] of qi 'tensor<1x2x4x8xf32>'}}
  %s = attn.index_scores %qi, %ki, %w : (tensor<1x2x4x8xf32>, tensor<1x6x8xf32>, tensor<1x4x3xf32>) -> tensor<1x1x4x6xf32>
  return %s : tensor<1x1x4x6xf32>
}

// -----

func.func @index_scores_heads(%qi: tensor<1x2x4x8xf32>, %ki: tensor<1x6x8xf32>,
                              %w: tensor<1x4x2xf32>) -> tensor<1x?x4x6xf32> {
  // expected-error @+1 {{result 'tensor<1x?x4x6xf32>' must be [B, 1, N, M] (dimension 1 static)}}
  %s = attn.index_scores %qi, %ki, %w : (tensor<1x2x4x8xf32>, tensor<1x6x8xf32>, tensor<1x4x2xf32>) -> tensor<1x?x4x6xf32>
  return %s : tensor<1x?x4x6xf32>
}

// -----

func.func @index_scores_dynamic_di(%qi: tensor<1x2x4x?xf32>, %ki: tensor<1x6x8xf32>,
                                   %w: tensor<1x4x2xf32>) -> tensor<1x1x4x6xf32> {
  // expected-error @+1 {{needs a static indexer dimension DI}}
  %s = attn.index_scores %qi, %ki, %w : (tensor<1x2x4x?xf32>, tensor<1x6x8xf32>, tensor<1x4x2xf32>) -> tensor<1x1x4x6xf32>
  return %s : tensor<1x1x4x6xf32>
}

// -----

func.func @probs_shape(%q: tensor<1x4x8x64xf32>, %k: tensor<1x2x9x64xf32>) -> tensor<1x4x8x8xf32> {
  // expected-error @+1 {{result 'tensor<1x4x8x8xf32>' must be [B, Hq, N, M]}}
  %p = attn.probs %q, %k : (tensor<1x4x8x64xf32>, tensor<1x2x9x64xf32>) -> tensor<1x4x8x8xf32>
  return %p : tensor<1x4x8x8xf32>
}

// -----

func.func @probs_heads(%q: tensor<1x3x8x64xf32>, %k: tensor<1x2x9x64xf32>) -> tensor<1x3x8x9xf32> {
  // expected-error @+1 {{Hq = 3 must be a multiple of Hkv = 2}}
  %p = attn.probs %q, %k : (tensor<1x3x8x64xf32>, tensor<1x2x9x64xf32>) -> tensor<1x3x8x9xf32>
  return %p : tensor<1x3x8x9xf32>
}

// -----

func.func @probs_documents(%q: tensor<1x2x8x64xf32>, %k: tensor<1x2x9x64xf32>) -> tensor<1x2x8x9xf32> {
  // expected-error @+1 {{reads document ids, which attn.probs does not take}}
  %p = attn.probs %q, %k mask(#attn.segments) : (tensor<1x2x8x64xf32>, tensor<1x2x9x64xf32>) -> tensor<1x2x8x9xf32>
  return %p : tensor<1x2x8x9xf32>
}

// -----

func.func @project_weight(%x: tensor<1x2x8x64xf32>, %w: tensor<2x100x16xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{weight 'tensor<2x100x16xf32>' must be [H, 64, 16] (the inputs' features, the result's)}}
  %p = attn.project %x weight(%w) : (tensor<1x2x8x64xf32>, tensor<2x100x16xf32>) -> tensor<1x2x8x16xf32>
  return %p : tensor<1x2x8x16xf32>
}

// -----

func.func @project_heads(%x: tensor<1x2x8x64xf32>, %w: tensor<3x64x16xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{a per-head weight 'tensor<3x64x16xf32>' needs the inputs' H heads}}
  %p = attn.project %x weight(%w) : (tensor<1x2x8x64xf32>, tensor<3x64x16xf32>) -> tensor<1x2x8x16xf32>
  return %p : tensor<1x2x8x16xf32>
}

// -----

func.func @project_rows(%x: tensor<1x2x8x64xf32>, %y: tensor<1x2x9x64xf32>, %w: tensor<128x16xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{must share [B, H, L]}}
  %p = attn.project %x, %y weight(%w) : (tensor<1x2x8x64xf32>, tensor<1x2x9x64xf32>, tensor<128x16xf32>) -> tensor<1x2x8x16xf32>
  return %p : tensor<1x2x8x16xf32>
}

// -----

func.func @project_nothing(%w: tensor<64x16xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{needs at least one input}}
  %p = attn.project weight(%w) : (tensor<64x16xf32>) -> tensor<1x2x8x16xf32>
  return %p : tensor<1x2x8x16xf32>
}

// -----

// A negative block size read back unsigned and passed (fuzz-spec seed
// negative-score-block: the entry's shape relation then failed its round
// trip); the verifier compares signed values.
func.func @scores_negative_block(%q: tensor<?x?x?x64xf32>, %kp: tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32> {
  // expected-error @+1 {{block sizes must be in [1, 2^30], got (2, -28)}}
  %s = attn.block_scores %q, %kp causal(%q, %q) block_size(2, -28)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x?xf32>
  return %s : tensor<?x?x?x?xf32>
}

// -----

func.func @pool_stride_shape(%k: tensor<1x2x100x64xf32>) -> tensor<1x2x4x64xf32> {
  // expected-error @+1 {{result dimension 2 must be ceil(L / stride) = 7, got 4}}
  %p = attn.pool %k block(32) stride(16) kind(mean) : tensor<1x2x100x64xf32> -> tensor<1x2x4x64xf32>
  return %p : tensor<1x2x4x64xf32>
}

// -----

func.func @pool_stride_zero(%k: tensor<1x2x100x64xf32>) -> tensor<1x2x4x64xf32> {
  // expected-error @+1 {{stride must be in [1, 2^30], got 0}}
  %p = attn.pool %k block(32) stride(0) kind(mean) : tensor<1x2x100x64xf32> -> tensor<1x2x4x64xf32>
  return %p : tensor<1x2x4x64xf32>
}

// -----

func.func @probs_onto_shape(%q: tensor<1x4x100x64xf32>, %k: tensor<1x2x7x64xf32>) -> tensor<1x4x100x2xf32> {
  // expected-error @+1 {{must be [B, Hkv, N, ceil(N / onto)]}}
  %p = attn.probs %q, %k onto(64) pooled(32, 16) share(sum)
       : (tensor<1x4x100x64xf32>, tensor<1x2x7x64xf32>) -> tensor<1x4x100x2xf32>
  return %p : tensor<1x4x100x2xf32>
}

// -----

func.func @probs_causal_without_onto(%q: tensor<1x4x100x64xf32>, %k: tensor<1x2x7x64xf32>) -> tensor<1x4x100x7xf32> {
  // expected-error @+1 {{causal and share apply to rows summed onto blocks: they need onto(l) pooled(c, s)}}
  %p = attn.probs %q, %k causal
       : (tensor<1x4x100x64xf32>, tensor<1x2x7x64xf32>) -> tensor<1x4x100x7xf32>
  return %p : tensor<1x4x100x7xf32>
}

// -----

func.func @probs_share_max(%q: tensor<1x4x100x64xf32>, %k: tensor<1x2x7x64xf32>) -> tensor<1x2x100x2xf32> {
  // expected-error @+1 {{shares a GQA group's probabilities by sum only}}
  %p = attn.probs %q, %k onto(64) pooled(32, 16) share(max)
       : (tensor<1x4x100x64xf32>, tensor<1x2x7x64xf32>) -> tensor<1x2x100x2xf32>
  return %p : tensor<1x2x100x2xf32>
}

// -----

func.func @probs_onto_zero(%q: tensor<1x4x100x64xf32>, %k: tensor<1x2x7x64xf32>) -> tensor<1x4x100x2xf32> {
  // expected-error @+1 {{pooled stride must be in [1, 2^30]}}
  %p = attn.probs %q, %k onto(64) pooled(32, 0)
       : (tensor<1x4x100x64xf32>, tensor<1x2x7x64xf32>) -> tensor<1x4x100x2xf32>
  return %p : tensor<1x4x100x2xf32>
}
