//===- Passes.td - attn conversion passes --------------------*- tablegen -*-===//

#ifndef ATTNIR_CONVERSION_PASSES_TD
#define ATTNIR_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertAttnToCPUVector : Pass<"attn-vectorize-cpu", "func::FuncOp"> {
  let summary = "Lower attn.kv_block_update to register-blocked vector code";
  let description = [{
    Expands each `attn.kv_block_update` into loops of `vector.fma` on
    `vector<LANESxf32>` (one register): S = Q K^T in register tiles of
    `rows` x (key-block / 16) vectors, the element rule of the mask on
    partial blocks, the online softmax update of each row with
    `math.exp` (polynomial approximation), and O += P V in register tiles of
    `rows` x up to 4 vectors.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect"
  ];
  let options = [
    Option<"lanes", "lanes", "int64_t", /*default=*/"16",
           "f32 lanes per vector register: 16 (AVX-512) or 8 (AVX2)">,
    Option<"rows", "rows", "int64_t", /*default=*/"4",
           "query rows per register tile">,
    Option<"cols", "cols", "int64_t", /*default=*/"4",
           "vectors per row of a register tile">,
  ];
}

#endif // ATTNIR_CONVERSION_PASSES_TD
