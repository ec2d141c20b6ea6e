// T5 relative position bias (Raffel et al. 2020): non-causal attention
// whose logits gain a learned bias per head and distance bucket,
// s + table[h, bucket(j - i)], with `table` f32 [H, 32] and T5's
// bidirectional bucketing written in the score_rule region: 32 buckets,
// 16 per direction (keys after the query in the upper half), distances
// below 8 exact, then logarithmic up to 128 (8 + floor(2 log2(n / 8)),
// T5's log(n / 8) / log(128 / 8) * 8, capped at 15).
//   attnc run examples/t5_bias.mlir --shape q=1x8x4096x64 --check --bench
func.func @t5_bias(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                   %v: tensor<?x?x?x64xf32>, %table: tensor<?x32xf32>)
    -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v rules(%table) score_rule {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index,
       %tab: tensor<?x32xf32>):
    %c0 = arith.constant 0 : index
    %c8 = arith.constant 8 : index
    %c15 = arith.constant 15 : index
    %c16 = arith.constant 16 : index
    %f2 = arith.constant 2.0 : f32
    %f8 = arith.constant 8.0 : f32
    %rel = arith.subi %j, %i : index
    %after = arith.cmpi sgt, %rel, %c0 : index
    %half = arith.select %after, %c16, %c0 : index
    %n = math.absi %rel : index
    %small = arith.cmpi slt, %n, %c8 : index
    %n64 = arith.index_cast %n : index to i64
    %nf = arith.sitofp %n64 : i64 to f32
    %ratio = arith.divf %nf, %f8 : f32
    %lg = math.log2 %ratio : f32
    %steps = arith.mulf %lg, %f2 : f32
    %st64 = arith.fptosi %steps : f32 to i64
    %st = arith.index_cast %st64 : i64 to index
    %big0 = arith.addi %st, %c8 : index
    %big = arith.minsi %big0, %c15 : index
    %in = arith.select %small, %n, %big : index
    %bucket = arith.addi %half, %in : index
    %bias = tensor.extract %tab[%h, %bucket] : tensor<?x32xf32>
    %r = arith.addf %s, %bias : f32
    attn.yield %r : f32
  } : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
       tensor<?x32xf32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
