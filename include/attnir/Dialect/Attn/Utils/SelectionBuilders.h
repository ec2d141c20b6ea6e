//===- SelectionBuilders.h - the selection ops' per-row bodies --*- C++ -*-===//
//
// The work of attn.pool, attn.block_scores and attn.select is independent per
// (batch, head, block row). These builders emit one row's body on buffers,
// as plain scf/arith/math IR, so that each target only chooses how rows are
// spread over its workers (the CPU: an scf.parallel over rows, OpenMP; a GPU
// later: threads over rows) and how the score row is held (a buffer row, or
// scratch when scoring and selection are fused and the score matrix is never
// written). Semantics: shared/patterns.md A4-A6 and the op descriptions;
// the float64 reference is lib/Reference/SelectReference.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_UTILS_SELECTIONBUILDERS_H
#define ATTNIR_DIALECT_ATTN_UTILS_SELECTIONBUILDERS_H

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/Builders.h"
#include <optional>

namespace mlir::attn {

/// out[b, h, blk, :] = the `kind` summary of x[b, h, blk c .. min(L, (blk +
/// 1) c), :] (f32 arithmetic, stored in out's element type). `scratch` is a
/// [D] f32 buffer the body may use.
void buildPoolBlock(OpBuilder &b, Location loc, PoolKind kind, int64_t c,
                    Value x, Value out, Value scratch, Value bi, Value h,
                    Value blk);

/// A row of scores: buffer[prefix..., j] for j along the buffer's last
/// dimension (a row of the score matrix, or a [Nk] scratch row).
struct RowRef {
  Value buffer;
  SmallVector<Value> prefix;
  SmallVector<Value> at(Value j) const;
  Value length(OpBuilder &b, Location loc) const;
};

/// out[b, h, blk, e] alone: one feature of one block, accumulated in a
/// register (the GPU runs one thread per feature, so a warp reads 32
/// consecutive features of each position).
void buildPoolFeature(OpBuilder &b, Location loc, PoolKind kind, int64_t c,
                      Value x, Value out, Value bi, Value h, Value blk,
                      Value e);

/// One row of block scores: query block `i` of output head `hOut` against
/// every pooled key block.
struct ScoreRow {
  Value qp, kp;        // [B, Hq, Nq, D], [B, Hkv, Nk, D] buffers
  Value b, hOut, i;    // the row (index values)
  double scale = 1.0;
  std::optional<ShareKind> share; // rows per KV head, over the group
  /// Causal legality: the unpooled lengths N and M (index values) and the
  /// block sizes; no causal legality when `n` is null.
  Value n, m;
  int64_t blockQ = 0, blockK = 0;
  /// Features per step of the dot products (vector loads; D % lanes == 0).
  int64_t lanes = 1;
};

/// The score of key block `j` for the row (-inf where illegal).
Value buildScoreAt(OpBuilder &b, Location loc, const ScoreRow &site, Value j);

/// row[j] = the score of key block j for the row (-inf where illegal), for
/// j in [0, Nk).
void buildScoreRow(OpBuilder &b, Location loc, const ScoreRow &site,
                   const RowRef &row);

/// The selection policy of one attn.select.
struct SelectPolicy {
  std::optional<int64_t> topk;
  std::optional<double> threshold;
  int64_t first = 0, local = 0, last = 0;
  static SelectPolicy of(SelectOp op);
};

/// Selects from `row` (f32 scores, non-finite = illegal) and writes
/// indices[b, h, i, 0 .. K) (ascending ids, -1 past the count) and
/// counts[b, h, i]; `rowIndex` is (b, h, i).
void buildSelectRow(OpBuilder &b, Location loc, const SelectPolicy &policy,
                    const RowRef &row, Value indices, Value counts,
                    ValueRange rowIndex);

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_UTILS_SELECTIONBUILDERS_H
