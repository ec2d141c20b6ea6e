// RUN: attn-opt %s -split-input-file -attn-verify-spec -verify-diagnostics

// What a spec may contain (issue 15): attn ops on ranked tensors and one
// return of arguments or attn results, each once.

func.func @ok(%q: tensor<?x?x?x64xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) {
  %o = attn.attention %q, %q, %q mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  return %o, %q : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>
}

// -----

func.func @constant() -> tensor<1x1x1x64xf32> {
  // expected-error @+1 {{'arith.constant' is not an op AttnIR compiles in a spec (attn ops, and arith's float binary ops and linalg.broadcast on tensors)}}
  %c = arith.constant dense<1.0> : tensor<1x1x1x64xf32>
  return %c : tensor<1x1x1x64xf32>
}

// -----

func.func @twice(%q: tensor<?x?x?x64xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) {
  %o = attn.attention %q, %q, %q
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  // expected-error @+1 {{result #1 returns a value already returned; return it once}}
  return %o, %o : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>
}

// -----

func.func @recursive(%q: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{calls are not supported in specs (inline the callee's attn ops)}}
  %r = func.call @recursive(%q) : (tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  return %r : tensor<?x?x?x64xf32>
}

// -----

func.func @cast(%q: tensor<?x?x?x64xf32>) -> tensor<1x1x1x64xf32> {
  // expected-error @+1 {{'tensor.cast' is not an op AttnIR compiles in a spec (attn ops, and arith's float binary ops and linalg.broadcast on tensors)}}
  %c = tensor.cast %q : tensor<?x?x?x64xf32> to tensor<1x1x1x64xf32>
  return %c : tensor<1x1x1x64xf32>
}

// -----

// expected-error @+1 {{@decl has no body; specs define their functions}}
func.func private @decl(tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>

// -----

// expected-error @+1 {{argument #0 of @scalar is 'f32'; specs take ranked tensors}}
func.func @scalar(%x: f32) -> f32 {
  return %x : f32
}

// -----

// expected-error @+1 {{'memref.global' at the top of a spec: specs hold func.func definitions only}}
memref.global "private" @g : memref<4xf32>

// -----

// Branches combined by upstream elementwise ops on tensors (NSA's gated sum).
func.func @gated(%q: tensor<?x?x?x64xf32>, %g: tensor<?x?x?xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.causal)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  %gb = linalg.broadcast ins(%g : tensor<?x?x?xf32>) outs(%o : tensor<?x?x?x64xf32>) dimensions = [3]
  %r = arith.mulf %gb, %o : tensor<?x?x?x64xf32>
  return %r : tensor<?x?x?x64xf32>
}

// -----

func.func @exp(%q: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  // expected-error @+1 {{'math.exp' is not an op AttnIR compiles in a spec}}
  %e = math.exp %q : tensor<?x?x?x64xf32>
  return %e : tensor<?x?x?x64xf32>
}

// -----

// The block maps of mask_rule regions are the CUDA pipeline's to make.
func.func @map_in_spec(%q: tensor<?x?x?x64xbf16>) -> tensor<?x1x?xi32> {
  // expected-error @+1 {{attn.rule_blocks is made by the CUDA lowering (attn-rule-block-maps), not written in a spec}}
  %idx, %cnt, %st, %ch = attn.rule_blocks %q, %q block_size(128, 128) mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %keep = arith.cmpi ule, %j, %i : index
    attn.yield %keep : i1
  } : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
      -> (tensor<?x1x?x?xi32>, tensor<?x1x?xi32>, tensor<?x1x?xi32>, tensor<1xi32>)
  return %cnt : tensor<?x1x?xi32>
}
