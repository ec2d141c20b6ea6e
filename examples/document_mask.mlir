// Document masking (sequence packing): several documents packed into one
// sequence attend causally within their own document only. q_doc [B, N] and
// k_doc [B, M] hold each position's document id (i32, non-decreasing);
// query i sees key j when j <= i + M - N and q_doc[b, i] = k_doc[b, j].
// The block rule finds each query tile's documents among the keys by binary
// search, so key blocks of other documents are never visited. Without
// --input, attnc draws 1 to 6 documents per batch row.
//   attnc run examples/document_mask.mlir --shape q=1x8x4096x64 --check --bench
func.func @document_mask(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                         %v: tensor<?x?x?x64xf32>, %q_doc: tensor<?x?xi32>,
                         %k_doc: tensor<?x?xi32>) -> tensor<?x?x?x64xf32> {
  %o = attn.attention %q, %k, %v segments(%q_doc, %k_doc)
         mask(#attn.all_of<[#attn.causal, #attn.segments]>)
       : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
          tensor<?x?xi32>, tensor<?x?xi32>) -> tensor<?x?x?x64xf32>
  return %o : tensor<?x?x?x64xf32>
}
