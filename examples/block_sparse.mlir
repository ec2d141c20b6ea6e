// Block-sparse attention from a runtime block list (FlexAttention's
// BlockMask layout): query block qb of 64 rows attends to the 64-key blocks
// kv_indices[b, h, qb, 0 .. kv_counts[b, h, qb]) and to nothing else. The
// list may be per query head (H = Hq), per KV head (H = Hkv) or shared
// (H = 1); a duplicate id counts once, and an id past the last key block is
// an error. Only listed blocks are visited, so the run time follows the
// list's density. Without --input, attnc draws a random list (about half of
// the blocks, in random order, with duplicates).
//   attnc run examples/block_sparse.mlir --shape q=1x8x4096x64 --check --bench
func.func @block_sparse(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                        %v: tensor<?x?x?x64xf32>,
                        %kv_indices: tensor<?x?x?x?xi32>,
                        %kv_counts: tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v blocks(%kv_indices, %kv_counts)
         block_size(64, 64)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?x?x?xi32>, tensor<?x?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
