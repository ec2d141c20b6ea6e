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
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "mlir/IR/Builders.h"
#include <optional>
#include <tuple>

namespace mlir::attn {

/// Whether `kind` sums its block (mean, sum, mean_sqrt): those accumulate
/// in f64 and round once on both targets; max and min are exact in f32.
inline bool poolKindSums(PoolKind kind) {
  return kind == PoolKind::Mean || kind == PoolKind::Sum || kind == PoolKind::MeanSqrt;
}

/// out[b, h, blk, :] = the `kind` summary of x[b, h, blk c .. min(L, (blk +
/// 1) c), :] (f32 arithmetic, stored in out's element type). `scratch` is a
/// [D] f32 or f64 buffer the body accumulates in (f64: sums rounded once).
void buildPoolBlock(OpBuilder &b, Location loc, PoolKind kind, int64_t c,
                    int64_t stride, Value x, Value out, Value scratch, Value bi,
                    Value h, Value blk);

/// One position of attn.project: inputs [B, H, L, D_i] and the weight
/// [Din, Dout] or [H, Din, Dout] as buffers, the position (b, h, l).
struct ProjectSite {
  SmallVector<Value> inputs;
  Value weight;
  Value b, h, l;
  std::optional<FeatureMap> map; // phi on each input feature
};
/// Output feature `o` of the position (f32): one thread per output element
/// on the GPU (weight reads coalesced across o).
Value buildProjectAt(OpBuilder &b, Location loc, const ProjectSite &site,
                     Value o);
/// out[b, h, l, :] of the position through the [Dout] f32 `scratch`
/// (input-feature-major: the inner loop runs along a weight row, so it
/// vectorizes on the CPU).
void buildProjectRow(OpBuilder &b, Location loc, const ProjectSite &site,
                     Value out, Value scratch);

/// A row of scores: buffer[prefix..., j] for j along the buffer's last
/// dimension (a row of the score matrix, or a [Nk] scratch row).
struct RowRef {
  Value buffer;
  SmallVector<Value> prefix;
  SmallVector<Value> at(Value j) const;
  Value length(OpBuilder &b, Location loc) const;
};

/// out[b, h, blk, e .. e + width) alone: `width` features of one block,
/// accumulated in registers (the GPU runs one thread per 16 bytes of
/// features, so a warp reads whole rows of each position; width > 1 needs
/// rows and `e` aligned to width elements).
void buildPoolFeature(OpBuilder &b, Location loc, PoolKind kind, int64_t c,
                      int64_t stride, Value x, Value out, Value bi, Value h,
                      Value blk, Value e, int64_t width = 1);

/// phi(x) of f32 x (a scalar or a vector): elu + 1, relu, exp or x itself
/// (block_scores' and attn.linear's feature maps).
Value featureMap(OpBuilder &b, Location l, std::optional<FeatureMap> map,
                 Value x);

/// One row of block scores: query block `i` of output head `hOut` against
/// every pooled key block.
struct ScoreRow {
  Value qp, kp;        // [B, Hq, Nq, D], [B, Hkv, Nk, D] buffers
  Value b, hOut, i;    // the row (index values)
  double scale = 1.0;
  std::optional<ShareKind> share; // rows per KV head, over the group
  std::optional<FeatureMap> map;  // phi on each feature of qp and kp
  /// Causal legality: the unpooled lengths N and M (index values) and the
  /// block sizes; no causal legality when `n` is null.
  Value n, m;
  int64_t blockQ = 0, blockK = 0;
  /// Features per step of the dot products (vector loads; D % lanes == 0).
  int64_t lanes = 1;
  /// Rows staged in shared memory by the tiled GPU kernel: q row i of the
  /// head being scored is staged.q[i - i0], k row j of its KV head
  /// staged.k[j - j0] ([rows, D + pad] buffers). Null: read qp and kp.
  struct Staged {
    Value q, k, i0, j0;
  } staged = {};

  /// The site of `op` (the row left unset), its tensors read through
  /// `buffer` (a read-only view on the CPU, a kernel argument on the GPU).
  static ScoreRow of(OpBuilder &b, Location loc, BlockScoresOp op,
                     function_ref<Value(Value)> buffer);
};

/// The score of key block `j` for the row (-inf where illegal).
Value buildScoreAt(OpBuilder &b, Location loc, const ScoreRow &site, Value j);

/// The pieces buildScoreAt combines, for kernels that stage rows per head:
/// whether key block j is legal for the row (causal bound; true without),
/// the query heads the row sums or maxes over ([h0, h0 + count), their KV
/// head), and one head's unscaled dot product q_h . k_j.
Value buildScoreLegal(OpBuilder &b, Location loc, const ScoreRow &site,
                      Value j);
struct ScoreHeads {
  Value h0, count, kvHead;
};
ScoreHeads scoreHeads(OpBuilder &b, Location loc, const ScoreRow &site);
Value buildScoreDot(OpBuilder &b, Location loc, const ScoreRow &site, Value h,
                    Value kvHead, Value j);

/// row[j] = the score of key block j for the row (-inf where illegal), for
/// j in [0, Nk).
void buildScoreRow(OpBuilder &b, Location loc, const ScoreRow &site,
                   const RowRef &row);

/// One row of index scores (attn.index_scores, DSA's lightning indexer):
/// query token `t` of batch `b` against every key.
struct IndexRow {
  Value qi, ki, w; // [B, HI, N, DI], [B, M, DI], [B, N, HI] buffers
  Value b, t;      // the row (index values)
  bool causal = false;
};

/// row[s] = sum_j w[b, t, j] relu(qi[b, j, t] . ki[b, s]) for s in [0, M)
/// (-inf past the causal bound t + M - N).
/// One element of that row: key `j` (a GPU thread per score).
Value buildIndexScoreAt(OpBuilder &b, Location loc, const IndexRow &site,
                        Value j);
void buildIndexScoreRow(OpBuilder &b, Location loc, const IndexRow &site,
                        const RowRef &row);

/// The keys a causal index row t may keep: [0, end) with end = t + M - N
/// + 1 clamped into [0, M] (qi [B, HI, N, DI], ki [B, M, DI]).
Value indexRowEnd(OpBuilder &b, Location loc, Value qi, Value ki, Value t);
/// The same from the lengths: N queries, M keys (bottom-right causal).
Value causalRowEnd(OpBuilder &b, Location loc, Value n, Value m, Value t);

/// The index keys packed for vector rows (the CPU): kT [B, 1, ceil(M / L),
/// DI, L] f32 is ki transposed in blocks of L = `lanes` keys (0 past M), so
/// feature e of L consecutive keys is one vector load. One parallel task
/// per (batch, key block); DI must be static. The caller frees kT.
Value packIndexKeys(OpBuilder &b, Location loc, Value ki, int64_t lanes);

/// buildIndexScoreRow on vectors of `lanes` keys read from packIndexKeys'
/// kT: register tiles of up to 4 heads x C key vectors, reduced over DI by
/// broadcasting a head's query feature against C packed key vectors, each
/// head's relu(dot) then weighted into the row's total. A causal row
/// computes only the keys up to its bound and stores -inf past it. Needs
/// HI and DI static.
void buildIndexScoreVectorRow(OpBuilder &b, Location loc, const IndexRow &site,
                              Value kT, const RowRef &row, int64_t lanes);

/// One row of attention probabilities (attn.probs): query `i` of head `h`.
struct ProbsRow {
  Value q, k;       // [B, Hq, N, D], [B, Hkv, M, D] buffers
  Value b, h, i;    // the row (index values)
  double scale = 1.0;
  MaskAttrInterface mask; // may be null
  // onto(l) pooled(c, s): the row is summed onto blocks of l positions;
  // ontoBlock = 0: it is not. With share, `h` is the KV head and the row
  // sums the probabilities of its query heads.
  int64_t ontoBlock = 0, pooledBlock = 0, pooledStride = 0;
  bool causal = false, share = false;
  /// The op's parameters on buffers q and k (the row left unset).
  static ProbsRow of(ProbsOp op, Value q, Value k);
};

/// row[j] = softmax_j(scale q_i . k_j) over the keys the mask keeps, 0 for
/// the others (all 0 when none is kept), j in [0, M); with ontoBlock, the
/// probabilities summed onto blocks (attn.probs onto). Needs no scratch, so
/// a GPU thread runs it as is.
void buildProbsRow(OpBuilder &b, Location loc, const ProbsRow &site,
                   const RowRef &row);

/// The selection policy of one attn.select.
struct SelectPolicy {
  std::optional<int64_t> topk;
  std::optional<double> threshold;
  int64_t first = 0, local = 0, last = 0;
  static SelectPolicy of(SelectOp op);
};

/// What every pass of a selection over a row needs to know about position
/// j; shared by the row-per-thread body (buildSelectRow) and the GPU's
/// warp-per-row select.
struct RowFacts {
  const SelectPolicy &policy;
  RowRef row;
  Value nk, localStart;
  /// Scores at and past `scan` are known illegal (the producer's causal
  /// bound): the passes stop there. Null: nk.
  Value scan = Value();

  Value end() const { return scan ? scan : nk; }
  /// Bounds the passes by `scanEnd` (null: the whole row).
  void stopAt(OpBuilder &b, Location l, Value scanEnd) {
    if (scanEnd)
      scan = arith::MinUIOp::create(b, l, scanEnd, nk);
  }

  Value score(OpBuilder &b, Location l, Value j) const {
    return memref::LoadOp::create(b, l, row.buffer, row.at(j));
  }
  /// Finite scores are legal (NaN and +-inf are not): s - s is 0 exactly
  /// for finite s and NaN otherwise (no fabs, which GPUs would take from
  /// libdevice).
  Value legal(OpBuilder &b, Location l, Value s) const {
    return arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ,
                                 arith::SubFOp::create(b, l, s, s),
                                 cF32(b, l, 0.0));
  }
  /// A legal block the policy keeps whatever its score.
  Value forced(OpBuilder &b, Location l, Value j, Value isLegal) const {
    Value any = arith::ConstantIntOp::create(b, l, 0, 1);
    auto orWith = [&](arith::CmpIPredicate pred, Value lhs, Value rhs) {
      any = arith::OrIOp::create(b, l, any,
                                 arith::CmpIOp::create(b, l, pred, lhs, rhs));
    };
    if (policy.first > 0)
      orWith(arith::CmpIPredicate::ult, j, cIdx(b, l, policy.first));
    if (policy.last > 0)
      orWith(arith::CmpIPredicate::uge,
             arith::AddIOp::create(b, l, j, cIdx(b, l, policy.last)), nk);
    if (policy.local > 0)
      orWith(arith::CmpIPredicate::uge, j, localStart);
    return arith::AndIOp::create(b, l, isLegal, any);
  }
  /// A legal block that is not forced: ranked by score.
  Value candidate(OpBuilder &b, Location l, Value j, Value s) const {
    Value isLegal = legal(b, l, s);
    Value notForced = arith::XOrIOp::create(
        b, l, forced(b, l, j, isLegal), arith::ConstantIntOp::create(b, l, 1, 1));
    return arith::AndIOp::create(b, l, isLegal, notForced);
  }
};


/// e^x as 2^(x log2 e): exp2 lowers to a hardware instruction on GPUs.
Value expOf(OpBuilder &b, Location l, Value x);
/// (s, j) ranks after the cut (sc, ic): a lower score, or the same score
/// and a higher id.
Value ranksAfter(OpBuilder &b, Location l, Value s, Value j, Value sc,
                 Value ic);
/// The smallest id of the row's last `local` legal blocks (Nk when none).
Value buildLocalStart(OpBuilder &b, Location loc, const RowFacts &f);
/// For threshold: the row's max legal score, its softmax normaliser and
/// the forced blocks' unnormalised mass.
struct RowMass {
  Value max, z, forced;
};
RowMass buildRowMass(OpBuilder &b, Location loc, const RowFacts &f);

/// The cut of a selection, (score, id) of the last candidate kept: steps
/// of `next(cutScore, cutId)` -> (score, id, found) of the best candidate
/// ranked after the cut, until topk's count or threshold's mass (from
/// `mass`, unused with topk) is reached or no candidate is left. Ids are
/// of `idType` (index; i32 for GPU shuffles), -1 before the first pick.
std::pair<Value, Value> buildCut(
    OpBuilder &b, Location loc, const SelectPolicy &policy, RowMass mass,
    Type idType,
    function_ref<std::tuple<Value, Value, Value>(OpBuilder &, Location, Value,
                                                 Value)>
        next);

/// The cut of topk(k) by radix select: 4 passes of 8-bit digit counts
/// over the row's order-preserving score keys find the k-th highest score,
/// one more pass the id of its last kept tie. O(Nk) per row whatever k, for
/// token-level rows (Nk = M, k in the thousands), where buildCut's k
/// arg-max passes would cost O(k Nk). Same cut as buildCut.
std::pair<Value, Value> buildRadixCut(OpBuilder &b, Location loc,
                                      const RowFacts &f, int64_t k);
/// An order-preserving i32 key of a score: unsigned order of keys is the
/// order of scores (-0 and +0 alike).
Value radixKey(OpBuilder &b, Location l, Value s);
/// topk above this k selects by radix (buildRadixCut).
constexpr int64_t kRadixAbove = 16;

/// Selects from `row` (f32 scores, non-finite = illegal) and writes
/// indices[b, h, i, 0 .. K) (ascending ids, -1 past the count) and
/// counts[b, h, i]; `rowIndex` is (b, h, i). `scanEnd` (optional): every
/// score at and past it is illegal, so no pass reads them.
void buildSelectRow(OpBuilder &b, Location loc, const SelectPolicy &policy,
                    const RowRef &row, Value indices, Value counts,
                    ValueRange rowIndex, Value scanEnd = Value());

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_UTILS_SELECTIONBUILDERS_H
