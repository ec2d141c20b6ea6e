// CAB's causal cross attention: queries are the last N positions of a
// sequence of M keys (bottom-right aligned causal mask: query i sees keys
// j <= i + M - N), bf16 inputs with f32 accumulation, and the log-sum-exp
// of every row as a second result (for merging partial attentions).
//   attnc run examples/cab_causal_cross.mlir --shape q=1x8x512x64 --shape k=1x2x4096x64 --check --bench
func.func @cab_causal_cross(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>,
                            %v: tensor<?x?x?x64xbf16>)
    -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v mask(#attn.causal)
      : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
      -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>
}
