//===- AttnDialect.td - the attn dialect ---------------------*- tablegen -*-===//
//
// The `attn` dialect: attention patterns written declaratively on tensors.
// Ops are split by family (AttnCoreOps.td now; sparsity and recurrence
// families join as separate files), masks are attributes implementing
// MaskAttrInterface (AttnInterfaces.td, AttnAttrs.td).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_IR_ATTNDIALECT_TD
#define ATTNIR_DIALECT_ATTN_IR_ATTNDIALECT_TD

include "mlir/IR/OpBase.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let cppNamespace = "::mlir::attn";
  let summary = "Declarative attention patterns compiled to fused kernels";
  let description = [{
    The `attn` dialect describes attention computations on tensors: what is
    computed (scores, masks, softmax, weighted sums), never how (tiles,
    threads, vector widths). Lowering passes turn each op into a tiled,
    fused kernel for the CPU or GPU. Masks are attributes implementing
    `MaskAttrInterface`, so a new mask plugs into every lowering without
    touching the passes.
  }];
  let useDefaultAttributePrinterParser = 1;
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::tensor::TensorDialect"
  ];
}

class Attn_Op<string mnemonic, list<Trait> traits = []>
    : Op<Attn_Dialect, mnemonic, traits>;

#endif // ATTNIR_DIALECT_ATTN_IR_ATTNDIALECT_TD
