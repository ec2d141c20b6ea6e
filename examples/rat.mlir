// RAT (Wei et al., 2025: RNN-attention hybrid over chunks), chunk L = 16:
// inside a chunk a gated recurrence of the keys and values,
//   k~_t = f_t k~_{t-1} + (1 - f_t) k_t   (the same for v~),  f = sigmoid(g),
// restarting at each chunk's first token (k~ = k there); query t attends
// by softmax over the final states of all previous chunks (the k~, v~ of
// their last tokens) and its own chunk's state at t (k~_t, v~_t).
// A segmented attn.scan of (a, b_k, b_v) with (a1, b1) (+) (a2, b2) =
// (a1 a2, a2 b1 + b2), then attention with a mask_rule (the causal
// attribute skips the blocks above the diagonal). With L = 1 the states
// are the keys and values and the rule is causal: RAT is then causal
// attention (identity 7; python/tests/test_scan.py). g [B, H, N, 64] are
// the gate logits (RAT's W_f x); one sequence, one head count.
//   attnc run examples/rat.mlir --shape q=1x8x4096x64 --check
func.func @rat(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
               %v: tensor<?x?x?x64xf32>, %g: tensor<?x?x?x64xf32>)
    -> tensor<?x?x?x64xf32> {
  %kt, %vt = attn.scan %g, %k, %v segment(16)
    leaf {
    ^bb0(%gt: f32, %kk: f32, %vv: f32, %pos: index):
      %zero = arith.constant 0.0 : f32
      %one = arith.constant 1.0 : f32
      %ng = arith.subf %zero, %gt : f32
      %e = math.exp %ng : f32
      %den = arith.addf %one, %e : f32
      %f = arith.divf %one, %den : f32
      %omf = arith.subf %one, %f : f32
      %bk = arith.mulf %omf, %kk : f32
      %bv = arith.mulf %omf, %vv : f32
      %c0 = arith.constant 0 : index
      %first = arith.cmpi eq, %pos, %c0 : index
      %bk0 = arith.select %first, %kk, %bk : f32
      %bv0 = arith.select %first, %vv, %bv : f32
      attn.yield %f, %bk0, %bv0 : f32, f32, f32
    } combine {
    ^bb0(%a1: f32, %k1: f32, %v1: f32, %a2: f32, %k2: f32, %v2: f32):
      %a = arith.mulf %a1, %a2 : f32
      %kn = math.fma %a2, %k1, %k2 : f32
      %vn = math.fma %a2, %v1, %v2 : f32
      attn.yield %a, %kn, %vn : f32, f32, f32
    } result {
    ^bb0(%a: f32, %ks: f32, %vs: f32):
      attn.yield %ks, %vs : f32, f32
    } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
  %o = attn.attention %q, %kt, %vt mask(#attn.causal) mask_rule {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c1 = arith.constant 1 : index
    %cL = arith.constant 16 : index
    %own = arith.cmpi eq, %i, %j : index
    %jr = arith.remui %j, %cL : index
    %last = arith.subi %cL, %c1 : index
    %isEnd = arith.cmpi eq, %jr, %last : index
    %ir = arith.remui %i, %cL : index
    %start = arith.subi %i, %ir : index
    %before = arith.cmpi ult, %j, %start : index
    %prev = arith.andi %isEnd, %before : i1
    %keep = arith.ori %own, %prev : i1
    attn.yield %keep : i1
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
    -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
