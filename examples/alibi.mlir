// ALiBi (Press et al. 2022): causal attention with a linear distance
// penalty per head, s - slope_h (i + M - N - j), slope_h = 2^(-8 (h + 1) / H)
// for H query heads (shared/patterns.md A3), as a score_rule region. The
// region reads H, N and M as dimensions of q and k, passed as rule operands.
//   attnc run examples/alibi.mlir --shape q=1x8x4096x64 --check --bench
func.func @alibi(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                 %v: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v rules(%q, %k) mask(#attn.causal) score_rule {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index,
       %qs: tensor<?x?x?x64xf32>, %ks: tensor<?x?x?x64xf32>):
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %m8 = arith.constant -8.0 : f32
    %nh = tensor.dim %qs, %c1 : tensor<?x?x?x64xf32>
    %n = tensor.dim %qs, %c2 : tensor<?x?x?x64xf32>
    %m = tensor.dim %ks, %c2 : tensor<?x?x?x64xf32>
    %h1 = arith.addi %h, %c1 : index
    %h1i = arith.index_cast %h1 : index to i64
    %nhi = arith.index_cast %nh : index to i64
    %h1f = arith.sitofp %h1i : i64 to f32
    %nhf = arith.sitofp %nhi : i64 to f32
    %e0 = arith.mulf %h1f, %m8 : f32
    %e = arith.divf %e0, %nhf : f32
    %slope = math.exp2 %e : f32
    %im = arith.addi %i, %m : index
    %in = arith.subi %im, %n : index
    %dist = arith.subi %in, %j : index
    %di = arith.index_cast %dist : index to i64
    %df = arith.sitofp %di : i64 to f32
    %pen = arith.mulf %slope, %df : f32
    %r = arith.subf %s, %pen : f32
    attn.yield %r : f32
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
       tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
