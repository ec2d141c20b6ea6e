// RUN: attn-opt %s -split-input-file -verify-diagnostics

// attn.scan: shapes, state sizes and region contents.

func.func @odd_combine(%x: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  // expected-error @+1 {{combine takes a's state then b's: an even, non-zero number of arguments, got 3}}
  %y = attn.scan %x combine {
    ^bb0(%a: f32, %b: f32, %c: f32):
      attn.yield %a : f32
    } : (tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return %y : tensor<?x?x?xf32>
}

// -----

func.func @state_mismatch(%x: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  // expected-error @+1 {{without a leaf region the 1 inputs are the state, but combine's state has 2 components}}
  %y = attn.scan %x combine {
    ^bb0(%a: f32, %b: f32, %c: f32, %d: f32):
      attn.yield %a, %b : f32, f32
    } result {
    ^bb0(%a: f32, %b: f32):
      attn.yield %a : f32
    } : (tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return %y : tensor<?x?x?xf32>
}

// -----

func.func @features(%x: tensor<?x?x?x64xf32>, %y: tensor<?x?x?x32xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{input #1 'tensor<?x?x?x32xf32>' must be [B, H, N] or [B, H, N, 1 or F] with the B, H, N of input #0 and a static F (F = 64)}}
  %o = attn.scan %x, %y combine {
    ^bb0(%a: f32, %b: f32, %c: f32, %d: f32):
      attn.yield %a, %b : f32, f32
    } result {
    ^bb0(%a: f32, %b: f32):
      attn.yield %a : f32
    } : (tensor<?x?x?x64xf32>, tensor<?x?x?x32xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}

// -----

func.func @narrow_result(%x: tensor<?x?x?x64xf32>) -> tensor<?x?x?xf32> {
  // expected-error @+1 {{result #0 'tensor<?x?x?xf32>' must be [B, H, N, F]}}
  %o = attn.scan %x combine {
    ^bb0(%a: f32, %b: f32):
      attn.yield %a : f32
    } : (tensor<?x?x?x64xf32>) -> tensor<?x?x?xf32>
  return %o : tensor<?x?x?xf32>
}

// -----

func.func @wrong_yield(%x: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  %y = attn.scan %x combine {
    ^bb0(%a: f32, %b: f32):
      // expected-error @+1 {{of combine must yield 'f32', got 'f32', 'f32'}}
      attn.yield %a, %b : f32, f32
    } : (tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return %y : tensor<?x?x?xf32>
}

// -----

func.func @not_a_rule_op(%x: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  %y = attn.scan %x combine {
    ^bb0(%a: f32, %b: f32):
      // expected-error @+1 {{may not appear in combine}}
      %t = tensor.from_elements %a : tensor<1xf32>
      attn.yield %a : f32
    } : (tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return %y : tensor<?x?x?xf32>
}

// -----

func.func @leaf_args(%x: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  // expected-error @+1 {{leaf takes 1 arguments ('f32'), got 2}}
  %y = attn.scan %x leaf {
    ^bb0(%a: f32, %b: f32):
      attn.yield %a : f32
    } combine {
    ^bb0(%a: f32, %b: f32):
      attn.yield %a : f32
    } : (tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return %y : tensor<?x?x?xf32>
}

// -----

func.func @segment_zero(%x: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  // expected-error @+1 {{segment(L) needs L >= 1, got 0}}
  %y = attn.scan %x segment(0) combine {
    ^bb0(%a: f32, %b: f32):
      attn.yield %a : f32
    } : (tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return %y : tensor<?x?x?xf32>
}

// -----

func.func @segment_leaf_without_position(%x: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  // expected-error @+1 {{leaf takes 2 arguments ('f32', 'index'), got 1}}
  %y = attn.scan %x segment(4) leaf {
    ^bb0(%a: f32):
      attn.yield %a : f32
    } combine {
    ^bb0(%a: f32, %b: f32):
      attn.yield %a : f32
    } : (tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return %y : tensor<?x?x?xf32>
}
