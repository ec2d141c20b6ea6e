//===- AttnInterfaces.td - mask attribute interface ----------*- tablegen -*-===//
//
// A mask is an attribute that answers two questions, in C++ (for the
// reference interpreter and tests) and as IR (for the lowerings):
//  - the element rule keep(i, j): is key j visible to query i?
//  - the block rule: for the query rows [i0, i1), which key range can hold a
//    kept pair, and which sub-range is kept for every row of the tile?
// Lowerings ask only this interface; they never switch on mask kinds.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_IR_ATTNINTERFACES_TD
#define ATTNIR_DIALECT_ATTN_IR_ATTNINTERFACES_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def Attn_MaskAttrInterface : AttrInterface<"MaskAttrInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    Element and block rules of an attention mask. Positions are global:
    query i in [0, n), key j in [0, m). Masks that align queries to the end
    of the keys (causal with m != n) use the offset delta = m - n.
  }];
  let methods = [
    InterfaceMethod<
      "Element rule: true when key `j` is visible to query `i`.",
      "bool", "keep",
      (ins "int64_t":$i, "int64_t":$j, "int64_t":$n, "int64_t":$m)>,
    InterfaceMethod<[{
        The mask as data: its kind, integer parameters and child masks.
        The reference builds the element rule from it (registered in
        lib/Reference/MaskRules.cpp under the same kind), so that the rule
        runs where no MLIR is linked, from the program a bundle records.
      }],
      "::attnir::RefMask", "describe", (ins)>,
    InterfaceMethod<[{
        Block rule in C++: for query rows [i0, i1) (non-empty), the key
        range [visibleBegin, visibleEnd) outside which no pair is kept, and
        the range [fullBegin, fullEnd) inside which every pair is kept. Both
        are clamped to [0, m); the full range lies inside the visible one.
      }],
      "::mlir::attn::KeyRange", "keyRange",
      (ins "int64_t":$i0, "int64_t":$i1, "int64_t":$n, "int64_t":$m)>,
    InterfaceMethod<[{
        Element rule as IR. `i` and `j` are i64 values of the same type (both
        scalars or both vectors); returns i1 of the matching shape. `n` and
        `m` are scalar i64 sequence lengths.
      }],
      "::mlir::Value", "buildKeep",
      (ins "::mlir::OpBuilder &":$b, "::mlir::Location":$loc,
           "::mlir::Value":$i, "::mlir::Value":$j,
           "::mlir::Value":$n, "::mlir::Value":$m)>,
    InterfaceMethod<[{
        Block rule as IR, on index values: the same four bounds as
        `keyRange`, for the query rows [i0, i1). For static shapes they fold
        to constants by ordinary canonicalization.
      }],
      "::mlir::attn::KeyRangeValues", "buildKeyRange",
      (ins "::mlir::OpBuilder &":$b, "::mlir::Location":$loc,
           "::mlir::Value":$i0, "::mlir::Value":$i1,
           "::mlir::Value":$n, "::mlir::Value":$m)>,
    InterfaceMethod<[{
        The exact block rule in C++, for masks whose kept keys are not one
        interval (any_of<window, sink>, not<window>): a fixed number of key
        ranges, each as in `keyRange`, whose visible parts cover every kept
        key and whose full parts are kept by every row. They may overlap.
        Default: the single `keyRange`.
      }],
      "::llvm::SmallVector<::mlir::attn::KeyRange>", "keyRanges",
      (ins "int64_t":$i0, "int64_t":$i1, "int64_t":$n, "int64_t":$m),
      /*methodBody=*/"", /*defaultImplementation=*/[{
        return {$_attr.keyRange(i0, i1, n, m)};
      }]>,
    InterfaceMethod<[{
        `keyRanges` as IR: the same ranges, in the same number and order.
      }],
      "::llvm::SmallVector<::mlir::attn::KeyRangeValues>", "buildKeyRanges",
      (ins "::mlir::OpBuilder &":$b, "::mlir::Location":$loc,
           "::mlir::Value":$i0, "::mlir::Value":$i1,
           "::mlir::Value":$n, "::mlir::Value":$m),
      /*methodBody=*/"", /*defaultImplementation=*/[{
        return {$_attr.buildKeyRange(b, loc, i0, i1, n, m)};
      }]>,
    InterfaceMethod<[{
        True when the rules read the op's operands (through a MaskSite):
        the op must then carry them (`segments(q_doc, k_doc)`).
      }],
      "bool", "readsOperands", (ins), /*methodBody=*/"",
      /*defaultImplementation=*/[{ return false; }]>,
    InterfaceMethod<[{
        The element rule at a site (batch, head, operands). Default: `keep`.
      }],
      "bool", "keepAt",
      (ins "const ::mlir::attn::MaskSite &":$site, "int64_t":$i, "int64_t":$j),
      /*methodBody=*/"", /*defaultImplementation=*/[{
        return $_attr.keep(i, j, site.n, site.m);
      }]>,
    InterfaceMethod<[{
        The block rule at a site. Default: `keyRanges`.
      }],
      "::llvm::SmallVector<::mlir::attn::KeyRange>", "keyRangesAt",
      (ins "const ::mlir::attn::MaskSite &":$site, "int64_t":$i0,
           "int64_t":$i1),
      /*methodBody=*/"", /*defaultImplementation=*/[{
        return $_attr.keyRanges(i0, i1, site.n, site.m);
      }]>,
    InterfaceMethod<[{
        `keepAt` as IR: `i`, `j` as for `buildKeep`; `n`, `m` of that shape
        (scalars or vectors of i64). Default: `buildKeep`.
      }],
      "::mlir::Value", "buildKeepAt",
      (ins "::mlir::OpBuilder &":$b, "::mlir::Location":$loc,
           "const ::mlir::attn::MaskSiteValues &":$site,
           "::mlir::Value":$i, "::mlir::Value":$j,
           "::mlir::Value":$n, "::mlir::Value":$m),
      /*methodBody=*/"", /*defaultImplementation=*/[{
        return $_attr.buildKeep(b, loc, i, j, n, m);
      }]>,
    InterfaceMethod<[{
        `keyRangesAt` as IR (index values). Default: `buildKeyRanges`.
      }],
      "::llvm::SmallVector<::mlir::attn::KeyRangeValues>", "buildKeyRangesAt",
      (ins "::mlir::OpBuilder &":$b, "::mlir::Location":$loc,
           "const ::mlir::attn::MaskSiteValues &":$site,
           "::mlir::Value":$i0, "::mlir::Value":$i1),
      /*methodBody=*/"", /*defaultImplementation=*/[{
        return $_attr.buildKeyRanges(b, loc, i0, i1, site.n, site.m);
      }]>,
  ];
  let extraClassDeclaration = [{
    /// Block classification of the tile [i0, i1) x [j0, j1), derived from
    /// the block rule: empty (no kept pair: never visited), full (every pair
    /// kept: no element rule), else partial.
    ::mlir::attn::BlockKind classifyBlock(int64_t i0, int64_t i1, int64_t j0,
                                          int64_t j1, int64_t n,
                                          int64_t m) const {
      bool visible = false;
      for (const ::mlir::attn::KeyRange &r : keyRanges(i0, i1, n, m)) {
        if (j0 >= r.fullBegin && j1 <= r.fullEnd)
          return ::mlir::attn::BlockKind::Full;
        visible |= j1 > r.visibleBegin && j0 < r.visibleEnd;
      }
      return visible ? ::mlir::attn::BlockKind::Partial
                     : ::mlir::attn::BlockKind::Empty;
    }
  }];
}

def Attn_ReferenceOpInterface : OpInterface<"ReferenceOpInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    An op the float64 reference evaluates: it describes itself as a RefOp
    (attnir/Reference/Program.h), operands and results by role, attributes
    as plain values, and lib/Reference registers the op's semantics under
    the same kind. The driver records the description in kernels and
    bundles (lib/Driver/ProgramOf.cpp).
  }];
  let methods = [
    InterfaceMethod<[{
        Fills `op` (kind, operands and results by role, attributes);
        `idOf(value)` numbers this op's operands and results.
      }],
      "void", "describe",
      (ins "::attnir::RefOp &":$op,
           "::llvm::function_ref<int(::mlir::Value)>":$idOf)>,
  ];
}

def Attn_PersistentScratchOpInterface : OpInterface<"PersistentScratchOpInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    An op some of whose results, when the entry does not return them, are
    memory that lives from one call to the next (the runtime's persistent
    workspace, per entry and stream): zeroed when first allocated, when the
    entry's input shapes change and after a failed call; the kernels keep
    whatever they need between calls (a block map kept while its rule's
    operands do not change; a table of counts the program leaves at zero,
    so that no kernel clears it first).
  }];
  let methods = [
    InterfaceMethod<"Whether result `index` persists between calls.",
      "bool", "keepsBetweenCalls", (ins "unsigned":$index)>,
  ];
}

def Attn_ShapeRelationsOpInterface : OpInterface<"ShapeRelationsOpInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    How an op's result dimensions follow from its operands' (equal, or a
    ceiling division by a block size), so that the driver can size an
    entry's outputs and check its inputs from the shapes alone, whatever
    chain of ops computes them (lib/Driver/Signature.cpp).
  }];
  let methods = [
    InterfaceMethod<"Appends the op's shape relations to `out`.",
      "void", "shapeRelations",
      (ins "::llvm::SmallVectorImpl<::mlir::attn::ShapeRelation> &":$out)>,
  ];
}

def Attn_EntryRolesOpInterface : OpInterface<"EntryRolesOpInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    What an op's operands and results are to an entry that takes or returns
    them: each value's role (the launch contract names operands by it for
    the runtime's checks, the C API and Python), its dimensions' names
    (shape defaults and messages key on B, Hq, N, Hkv, M, D, Dv, ...), and
    dimensions that must agree beyond the op's ShapeRelationsOpInterface
    (lib/Driver/Signature.cpp reads both). A new op describes itself here;
    the driver does not ask which op it is.
  }];
  let methods = [
    InterfaceMethod<"Describes the op's values to `roles`.",
      "void", "describeEntryRoles",
      (ins "::mlir::attn::EntryRoles &":$roles)>,
  ];
}

def Attn_ScoreRowsOpInterface : OpInterface<"ScoreRowsOpInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    An op whose result is a score matrix [B, H, Q, Nk] (f32, -inf where
    illegal) computed independently per row: attn.block_scores,
    attn.index_scores. attn.select fuses with such a producer on the CPU
    (each row task fills a scratch row and selects from it, so the matrix
    is never written), and the unfused lowering writes the rows in
    parallel; neither asks which op it is.
  }];
  let methods = [
    InterfaceMethod<[{
        The rows' sizes and filler; buffers it reads are made at `b`'s
        insertion point (before the loop over rows), and `release` (if set)
        frees what it made there, after the loop. `lanes`: the f32 lanes
        of the target's vectors (8 or 16) where a filler may use vector
        code of that width, 0 for scalar rows.
      }],
      "::mlir::attn::ScoreRows", "prepareScoreRows",
      (ins "::mlir::OpBuilder &":$b, "int64_t":$lanes)>,
    InterfaceMethod<[{
        Where row `row` ((b, h, i) as index values) of this op's matrix,
        of sizes `dims` ([B, H, Q, Nk] as index values), holds its legal
        scores: every score at and past the returned index is -inf (a
        causal bound), so a select need not read them. Null: the whole row
        may be legal. From the sizes alone, so that the CPU's fused select
        (ScoreRows.dims) and a GPU select kernel (its scores buffer), where
        the producer's operands are not at hand, ask the same.
      }],
      "::mlir::Value", "legalRowEnd",
      (ins "::mlir::OpBuilder &":$b, "::mlir::Location":$loc,
           "::mlir::ValueRange":$dims, "::llvm::ArrayRef<::mlir::Value>":$row),
      [{}], [{ return ::mlir::Value(); }]>,
  ];
}

#endif // ATTNIR_DIALECT_ATTN_IR_ATTNINTERFACES_TD
