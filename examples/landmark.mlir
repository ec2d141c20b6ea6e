// Landmark Attention (Mohtashami and Jaggi, NeurIPS 2023): blocks of
// l = 64 tokens, each with one landmark key (`landmarks` [B, Hkv,
// ceil(N / 64), 64], the keys of the landmark tokens the model appends to
// its blocks). Query i attends to the tokens of its own block up to itself
// one by one, and to the top-k = 4 earlier blocks by their landmark logits
// q_i . landmark_b: a retrieved block enters the softmax as one unit with
// the landmark's logit, its tokens weighed by the block's own softmax
// (the grouped softmax). Without topk(4), every earlier block: the
// paper's grouped softmax itself. Returns lse (natural log) for merging.
// self-attention only
//   attnc run examples/landmark.mlir --check
func.func @landmark(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                    %v: tensor<?x?x?x64xf32>, %landmarks: tensor<?x?x?x64xf32>)
    -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) {
  %o, %lse = attn.landmark %q, %k, %v, %landmarks block(64) topk(4)
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
         tensor<?x?x?x64xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
}
