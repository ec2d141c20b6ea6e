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
