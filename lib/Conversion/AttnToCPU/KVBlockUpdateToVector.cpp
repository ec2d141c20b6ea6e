//===- KVBlockUpdateToVector.cpp - CPU body of the key loop ---------------===//
//
// Lowers attn.kv_block_update to vector code of `lanes` f32 per register
// (16 for AVX-512, 8 for AVX2; the driver picks by host) in four phases over the [rows x BK] scores
// scratch:
//
//   1. S = Q K^T (Q pre-scaled): register tiles of R rows x BK/16 vectors, reduced
//      over D by broadcasting one query element against 16 packed keys
//      (R * BK/16 accumulators stay in registers for the whole D loop).
//   2. masked blocks only: s = -inf where the element rule or j < m fails.
//   3. the online softmax (OnlineSoftmax.cpp): new running max, p =
//      exp(s - m'), row sums; the per-row state for 16 rows at a time.
//   4. acc = acc * exp(m - m') + P V: register tiles of R rows x CV vectors
//      (CV <= 4), reduced over the BK keys by broadcasting p against 16
//      packed values; each acc row is rescaled as the tile loads it.
//
// Keys in place (decoding: kT is K itself, row-major): phase 1 is one dot
// product along D per (row, key), reduced across lanes, and phase 4 reads V
// rows where they are; keys past m are never read (their scores are -inf,
// phase 4 stops at m). Keys gathered from a token-level list by a tile of
// one or two rows are read in place too, row by row through their
// positions (no copy of K and V per tile).
//
// AMX (`amx`): phases 1 and 4 on tiles (AmxTiles.cpp). BlockLowering
// emits one op's phases, a method each, in this order.
//
// Exp is OnlineSoftmax.cpp's fastExp on whole vectors (a scalar libm call
// would be 16 calls per vector: 4.7x slower on softmax, measured in
// shared/notes/cpu-jit-probe).
//
//===----------------------------------------------------------------------===//

#include "AmxTiles.h"
#include "OnlineSoftmax.h"
#include "PanelPrefetch.h"
#include "attnir/Conversion/Passes.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Utils/KeySchedule.h"
#include "attnir/Dialect/Attn/Utils/VectorHelpers.h"
#include "attnir/Dialect/Attn/Utils/RuleEmitter.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include <functional>
#include <limits>

namespace mlir::attn {
#define GEN_PASS_DEF_CONVERTATTNTOCPUVECTOR
#include "attnir/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

using LoadFn = llvm::function_ref<Value(OpBuilder &, Location, Value, Value)>;
/// A splat per accumulator row (phase 4's rescale of row r).
using RowFn = llvm::function_ref<Value(OpBuilder &, Location, Value)>;
/// acc + a * b on one register: vector.fma on f32, or vdpbf16ps on bf16
/// pairs (a and b then hold 2 x lanes bf16).
using MacFn =
    llvm::function_ref<Value(OpBuilder &, Location, Value, Value, Value)>;
/// Extra work of one multiply-add step at (r0, col, e): a prefetch.
using StepFn =
    llvm::function_ref<void(OpBuilder &, Location, Value, Value, Value)>;

Value fmaMac(OpBuilder &b, Location l, Value a, Value x, Value acc) {
  return vector::FMAOp::create(b, l, a, x, acc);
}

Value pairMac(OpBuilder &b, Location l, Value a, Value x, Value acc) {
  return x86vector::DotBF16Op::create(b, l, acc.getType(), acc, a, x);
}

/// A vector of `lanes` i32 (or f32) words seen as 2 x lanes bf16 pairs.
Value asPairs(OpBuilder &b, Location l, Value words) {
  int64_t n = cast<VectorType>(words.getType()).getNumElements();
  return vector::BitCastOp::create(
      b, l, VectorType::get({2 * n}, b.getBF16Type()), words);
}

/// Per register-tile row group bounds (masked diagonal blocks): the
/// group's column end (a multiple of lanes) and its reduction extent. Null
/// members keep the whole tile's `cols` / `extent`.
struct RowGroupBounds {
  std::function<Value(OpBuilder &, Location, Value)> cols, extent;
};

/// dst[i, j] (+)= sum_e a(e, i) * b(e, j) over a [rows x cols] f32 buffer, in
/// register tiles of r rows x c vectors: the r * c accumulators live in the
/// iter_args of the loop over e, each step loads c vectors `b(e, col)` and
/// r splats `a(e, row)` (loadA returns the splat). Phase 1 (S = Q K^T) and
/// phase 4 (acc += P V) are both this shape; `scale` (if any) multiplies
/// the sums before they are stored. With `group.cols`, each row group stops
/// at its own column end: whole c-vector tiles, then one-vector tiles for
/// the rest (no prefetch steps there).
void buildRegisterTiles(OpBuilder &rw, Location loc, Value dst, Value rows,
                        Value cols, int64_t r, int64_t c, int64_t lanes,
                        Value extent, bool accumulate, LoadFn loadB,
                        LoadFn loadA, MacFn mac = fmaMac,
                        Value scale = Value(), RowFn rowScale = nullptr,
                        StepFn onStep = nullptr,
                        const RowGroupBounds &group = {}) {
  auto vt = VectorType::get({lanes}, rw.getF32Type());
  Value c0 = cIdx(rw, loc, 0), c1 = cIdx(rw, loc, 1);
  Value zero =
      arith::ConstantOp::create(rw, loc, DenseElementsAttr::get(vt, 0.0f));
  // One tile of r rows x `width` vectors at (r0, col), reduced over [0, n).
  auto emitTile = [&](OpBuilder &cb, Location cl, Value r0, Value col,
                      int64_t width, Value n, StepFn step) {
    auto at = [&](int64_t rr, int64_t cc) {
      return SmallVector<Value>{plusIdx(cb, cl, r0, rr),
                                plusIdx(cb, cl, col, cc * lanes)};
    };
    SmallVector<Value> init;
    for (int64_t rr = 0; rr < r; ++rr) {
      Value factor = accumulate && rowScale
                         ? rowScale(cb, cl, plusIdx(cb, cl, r0, rr))
                         : Value();
      for (int64_t cc = 0; cc < width; ++cc) {
        Value x = zero;
        if (accumulate)
          x = vector::LoadOp::create(cb, cl, vt, dst, at(rr, cc));
        if (factor)
          x = arith::MulFOp::create(cb, cl, x, factor);
        init.push_back(x);
      }
    }
    auto loop = scf::ForOp::create(
        cb, cl, c0, n, c1, init,
        [&](OpBuilder &ib, Location il, Value e, ValueRange accs) {
          if (step)
            step(ib, il, r0, col, e);
          SmallVector<Value> bv;
          for (int64_t cc = 0; cc < width; ++cc)
            bv.push_back(loadB(ib, il, e, plusIdx(ib, il, col, cc * lanes)));
          SmallVector<Value> next(accs.begin(), accs.end());
          for (int64_t rr = 0; rr < r; ++rr) {
            Value a = loadA(ib, il, e, plusIdx(ib, il, r0, rr));
            for (int64_t cc = 0; cc < width; ++cc)
              next[rr * width + cc] =
                  mac(ib, il, a, bv[cc], next[rr * width + cc]);
          }
          scf::YieldOp::create(ib, il, next);
        });
    for (int64_t rr = 0; rr < r; ++rr)
      for (int64_t cc = 0; cc < width; ++cc) {
        Value sum = loop.getResult(rr * width + cc);
        if (scale)
          sum = arith::MulFOp::create(cb, cl, sum, scale);
        vector::StoreOp::create(cb, cl, sum, dst, at(rr, cc));
      }
  };
  scf::ForOp::create(
      rw, loc, c0, rows, cIdx(rw, loc, r), ValueRange{},
      [&](OpBuilder &ob, Location l, Value r0, ValueRange) {
        Value n = group.extent ? group.extent(ob, l, r0) : extent;
        Value end = group.cols ? group.cols(ob, l, r0) : cols;
        Value wide = end;
        if (group.cols && c > 1) {
          Value span = cIdx(ob, l, c * lanes);
          wide = arith::MulIOp::create(
              ob, l, arith::DivUIOp::create(ob, l, end, span), span);
        }
        scf::ForOp::create(
            ob, l, c0, wide, cIdx(ob, l, c * lanes), ValueRange{},
            [&](OpBuilder &cb, Location cl, Value col, ValueRange) {
              emitTile(cb, cl, r0, col, c, n, onStep);
              scf::YieldOp::create(cb, cl);
            });
        if (wide != end)
          scf::ForOp::create(
              ob, l, wide, end, cIdx(ob, l, lanes), ValueRange{},
              [&](OpBuilder &cb, Location cl, Value col, ValueRange) {
                emitTile(cb, cl, r0, col, 1, n, StepFn());
                scf::YieldOp::create(cb, cl);
              });
        scf::YieldOp::create(ob, l);
      });
}

struct LowerKVBlockUpdate : OpRewritePattern<KVBlockUpdateOp> {
  LowerKVBlockUpdate(MLIRContext *ctx, int64_t lanes, int64_t rows,
                     int64_t cols, bool scalef, bool prefetch)
      : OpRewritePattern(ctx), kLanes(lanes), rowsPerTile(rows),
        colsPerTile(cols), useScalef(scalef), usePrefetch(prefetch) {}

  LogicalResult matchAndRewrite(KVBlockUpdateOp op,
                                PatternRewriter &rw) const override;

  /// A vector of `lanes` f32 from `buf` at `idx` (converted from bf16/f16).
  static Value loadF32(OpBuilder &b, Location l, Value buf, ValueRange idx,
                       int64_t lanes) {
    Type elt = cast<MemRefType>(buf.getType()).getElementType();
    Value x = vector::LoadOp::create(b, l, VectorType::get({lanes}, elt), buf,
                                     idx);
    if (elt.isF32())
      return x;
    return arith::ExtFOp::create(
        b, l, VectorType::get({lanes}, b.getF32Type()), x);
  }

  /// Phase 1 with K in place: scores[row, c] = qRows[row, :] . K[b, hkv,
  /// keyRow(c), :] (j0 + c, or a gathered position) for rows < `rows` and
  /// c < keysHere, -inf for the rest of
  /// the block and for rows up to `liveRows` (phases 3 and 4 run on whole
  /// register tiles: those rows then add nothing). One dot
  /// product per pair (the row's query stays in registers), summed across
  /// lanes once: decoding has a handful of rows, and reading K once is what
  /// counts.
  static void buildRowDots(
      OpBuilder &rw, Location loc, Value qRows, Value k, Value scores, Value b,
      Value hkv, function_ref<Value(OpBuilder &, Location, Value)> keyRow,
      Value rows, Value liveRows, Value keysHere, int64_t bk, int64_t d,
      int64_t lanes) {
    auto vt = VectorType::get({lanes}, rw.getF32Type());
    Value c0 = cIdx(rw, loc, 0), c1 = cIdx(rw, loc, 1);
    Value negInf = arith::ConstantOp::create(
        rw, loc, rw.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
    scf::ForOp::create(
        rw, loc, c0, liveRows, c1, ValueRange{},
        [&](OpBuilder &ob, Location l, Value row, ValueRange) {
          Value live = arith::CmpIOp::create(ob, l, arith::CmpIPredicate::ult,
                                             row, rows);
          Value keys = arith::SelectOp::create(ob, l, live, keysHere, c0);
          SmallVector<Value> qv;
          for (int64_t e = 0; e < d; e += lanes)
            qv.push_back(vector::LoadOp::create(
                ob, l, vt, qRows, ValueRange{row, cIdx(ob, l, e)}));
          // q . K[key c] as lanes partial sums.
          auto dot = [&](OpBuilder &kb, Location kl, Value c) {
            Value j = keyRow(kb, kl, c);
            Value sum;
            for (int64_t e = 0; e < d; e += lanes) {
              Value kv = loadF32(kb, kl, k,
                                 ValueRange{b, hkv, j, cIdx(kb, kl, e)}, lanes);
              sum = sum ? vector::FMAOp::create(kb, kl, qv[e / lanes], kv, sum)
                              .getResult()
                        : arith::MulFOp::create(kb, kl, qv[e / lanes], kv)
                              .getResult();
            }
            return sum;
          };
          // With 32 vector registers (AVX-512), keys go `lanes` at a time:
          // their partial sums are added across lanes together, as a
          // transpose (sumAcross), and stored as one vector; a reduction
          // per key cost more shuffles than the dot's FMAs.
          Value single = c0;
          if (lanes == 16) {
            Value cL = cIdx(ob, l, lanes);
            single = arith::MulIOp::create(
                ob, l, arith::DivUIOp::create(ob, l, keys, cL), cL);
            scf::ForOp::create(
                ob, l, c0, single, cL, ValueRange{},
                [&](OpBuilder &kb, Location kl, Value c, ValueRange) {
                  SmallVector<Value> sums;
                  for (int64_t t = 0; t < lanes; ++t)
                    sums.push_back(dot(kb, kl, plusIdx(kb, kl, c, t)));
                  vector::StoreOp::create(kb, kl, sumAcross(kb, kl, sums),
                                          scores, ValueRange{row, c});
                  scf::YieldOp::create(kb, kl);
                });
          }
          scf::ForOp::create(
              ob, l, single, keys, c1, ValueRange{},
              [&](OpBuilder &kb, Location kl, Value c, ValueRange) {
                // reassoc: a tree across lanes, not 16 dependent adds.
                Value s = vector::ReductionOp::create(
                    kb, kl, vector::CombiningKind::ADD, dot(kb, kl, c), Value(),
                    arith::FastMathFlags::reassoc);
                memref::StoreOp::create(kb, kl, s, scores, ValueRange{row, c});
                scf::YieldOp::create(kb, kl);
              });
          scf::ForOp::create(
              ob, l, keys, cIdx(ob, l, bk), c1, ValueRange{},
              [&](OpBuilder &kb, Location kl, Value c, ValueRange) {
                memref::StoreOp::create(kb, kl, negInf, scores,
                                        ValueRange{row, c});
                scf::YieldOp::create(kb, kl);
              });
          scf::YieldOp::create(ob, l);
        });
  }

  /// Lane t of the result is the sum of the lanes of sums[t].
  static Value sumAcross(OpBuilder &b, Location l, ArrayRef<Value> sums) {
    return reduceAcross(b, l, sums, [&](Value x, Value y) -> Value {
      return arith::AddFOp::create(b, l, x, y);
    });
  }

  /// The slots of the gathered block at j0 that hold keys (positions below
  /// m; the padding, at m, comes after every real slot).
  static Value gatheredKeysHere(OpBuilder &b, Location l, Value keys, Value j0,
                                Value m, int64_t bk, int64_t lanes) {
    Type i64 = b.getI64Type();
    auto ivt = VectorType::get({lanes}, i64);
    Value mv = vector::BroadcastOp::create(
        b, l, ivt, arith::IndexCastOp::create(b, l, i64, m));
    Value one = arith::ConstantOp::create(b, l, DenseElementsAttr::get(
                                                    ivt, APInt(64, 1)));
    Value zero = arith::ConstantOp::create(b, l, DenseElementsAttr::get(
                                                     ivt, APInt(64, 0)));
    Value count = zero;
    for (int64_t c = 0; c < bk; c += lanes) {
      Value pos = vector::LoadOp::create(
          b, l, ivt, keys, ValueRange{plusIdx(b, l, j0, c)});
      Value real =
          arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, pos, mv);
      count = arith::AddIOp::create(
          b, l, count, arith::SelectOp::create(b, l, real, one, zero));
    }
    Value n = vector::ReductionOp::create(b, l, vector::CombiningKind::ADD,
                                          count);
    return arith::IndexCastOp::create(b, l, b.getIndexType(), n);
  }

  /// The key positions of lanes [c * lanes, (c + 1) * lanes) of the block
  /// (i64 vector): j0 + c * lanes + iota, or the gathered keys' positions.
  static Value keyPositions(OpBuilder &ib, Location il, KVBlockUpdateOp op,
                            Value iota, int64_t c, int64_t kLanes) {
    Type i64 = ib.getI64Type();
    auto ivt = VectorType::get({kLanes}, i64);
    if (Value keys = op.getKeys()) {
      // Gathered keys: their positions (M for padding slots).
      Value slot = arith::AddIOp::create(ib, il, op.getJ0(),
                                         cIdx(ib, il, c * kLanes));
      return vector::LoadOp::create(ib, il, ivt, keys, ValueRange{slot});
    }
    Value base = arith::AddIOp::create(
        ib, il, arith::IndexCastOp::create(ib, il, i64, op.getJ0()),
        arith::ConstantIntOp::create(ib, il, i64, c * kLanes));
    return arith::AddIOp::create(
        ib, il, vector::BroadcastOp::create(ib, il, ivt, base), iota);
  }

  /// [0, 1, ..., kLanes - 1] as a vector of `bits`-bit integers (64:
  /// key positions; 32: offsets in a block).
  static Value laneIota(OpBuilder &b, Location l, int64_t kLanes,
                        unsigned bits = 64) {
    SmallVector<APInt> lanes;
    for (int64_t x = 0; x < kLanes; ++x)
      lanes.push_back(APInt(bits, x));
    return arith::ConstantOp::create(
        b, l,
        DenseElementsAttr::get(
            VectorType::get({kLanes}, b.getIntegerType(bits)), lanes));
  }

  /// The rule operands as vector reads: a gather from the buffer seen as
  /// one dimension (buffers of rule operands have the identity layout).
  static RuleOperands ruleOperands(KVBlockUpdateOp op, int64_t kLanes) {
    ValueRange bufs = op.getRuleOperands();
    RuleOperands ops = memrefRuleOperands(llvm::to_vector(bufs));
    ops.load = [bufs, kLanes](OpBuilder &b, Location l, unsigned k,
                              ValueRange idx) -> Value {
      Value buf = bufs[k];
      auto mt = cast<MemRefType>(buf.getType());
      auto vt = VectorType::get({kLanes}, mt.getElementType());
      Value c0 = cIdx(b, l, 0);
      if (idx.empty())
        return vector::BroadcastOp::create(
            b, l, vt, memref::LoadOp::create(b, l, buf, ValueRange{}));
      Value flat = idx[0];
      for (unsigned d = 1; d < idx.size(); ++d) {
        Value ext = vector::BroadcastOp::create(
            b, l, flat.getType(), memref::DimOp::create(b, l, buf, d));
        flat = arith::AddIOp::create(
            b, l, arith::MulIOp::create(b, l, flat, ext), idx[d]);
      }
      SmallVector<ReassociationIndices> all(1);
      for (int64_t d = 0; d < mt.getRank(); ++d)
        all[0].push_back(d);
      Value line = mt.getRank() == 1
                       ? buf
                       : memref::CollapseShapeOp::create(b, l, buf, all)
                             .getResult();
      auto maskT = VectorType::get({kLanes}, b.getI1Type());
      Value allLanes = arith::ConstantOp::create(
          b, l, DenseElementsAttr::get(maskT, true));
      Value pass = arith::ConstantOp::create(
          b, l, b.getZeroAttr(vt));
      return vector::GatherOp::create(b, l, vt, line, ValueRange{c0}, flat,
                                      allLanes, pass);
    };
    return ops;
  }

  /// scores[r, c] = score_rule(s, b, h, i0 + r, j) on every pair of the
  /// block (the natural logit: Q is pre-scaled); the mask comes after.
  static void buildScoreRule(OpBuilder &rw, Location loc, KVBlockUpdateOp op,
                             VectorType vt, Value rows, int64_t nk,
                             int64_t kLanes) {
    Value c0 = cIdx(rw, loc, 0), c1 = cIdx(rw, loc, 1);
    Value iota = laneIota(rw, loc, kLanes);
    RuleOperands ops = ruleOperands(op, kLanes);
    scf::ForOp::create(
        rw, loc, c0, rows, c1, ValueRange{},
        [&](OpBuilder &ib, Location il, Value row, ValueRange) {
          Value i = arith::AddIOp::create(ib, il, op.getI0(), row);
          for (int64_t c = 0; c < nk; ++c) {
            Value j = keyPositions(ib, il, op, iota, c, kLanes);
            SmallVector<Value> idx{row, cIdx(ib, il, c * kLanes)};
            Value s = vector::LoadOp::create(ib, il, vt, op.getScores(), idx);
            Value r = emitRule(ib, il, op.getScoreRule(),
                               ValueRange{s, op.getB(), op.getH(), i, j}, ops,
                               kLanes);
            vector::StoreOp::create(ib, il, r, op.getScores(), idx);
          }
          scf::YieldOp::create(ib, il);
        });
  }

  /// Where the step's mask is evaluated: its batch, lengths and documents.
  static MaskSiteValues maskSite(KVBlockUpdateOp op) {
    return documentSite(op.getB(), {}, op.getN(), op.getM(), op.getQDoc(),
                        op.getKDoc());
  }

  /// The end of the keys that rows [first, first + rows) may keep: the last end
  /// of the block rule's visible ranges (causal, windows, prefix, chunks,
  /// and unions such as sink + window); null for gathered keys and rule
  /// regions.
  static Value visibleKeyEnd(OpBuilder &rw, Location loc, KVBlockUpdateOp op,
                             Value first, Value rows) {
    MaskAttrInterface mask = op.getMaskAttr();
    if (!mask || op.getKeys() || !op.getMaskRule().empty())
      return Value();
    MaskSiteValues site = maskSite(op);
    Value i1 = arith::AddIOp::create(rw, loc, first, rows);
    SmallVector<KeyRangeValues> ranges =
        mask.buildKeyRangesAt(rw, loc, site, first, i1);
    // The visible parts cover every kept key: the last one ends them.
    Value end;
    for (const KeyRangeValues &r : ranges)
      end = end ? arith::MaxSIOp::create(rw, loc, end, r.visibleEnd).getResult()
                : r.visibleEnd;
    return end;
  }

  /// What masking one row of a masked block needs.
  struct RowMasking {
    mutable KVBlockUpdateOp op; // op accessors are not const
    VectorType vt;
    int64_t nk, lanes;
    cpu::RowVectorsFn liveVectors; ///< null: every vector of the row
    mutable MaskAttrInterface mask;
    MaskSiteValues site;
    Value negInf, iota, iota32, nV, mV; ///< vectors (i64 or i32 lanes)
  };

  /// scores[row, c] = -inf where keepOf(c) is false, for each vector c of
  /// the row (past liveVectors: not touched, never read).
  static void maskVectors(OpBuilder &b, Location l, const RowMasking &m, Value row,
                          function_ref<Value(OpBuilder &, Location, int64_t)> keepOf) {
    Value live = m.liveVectors ? m.liveVectors(b, l, row) : Value();
    for (int64_t c = 0; c < m.nk; ++c) {
      auto body = [&](OpBuilder &vb, Location vl) {
        Value keep = keepOf(vb, vl, c);
        SmallVector<Value> idx{row, cIdx(vb, vl, c * m.lanes)};
        Value s = vector::LoadOp::create(vb, vl, m.vt, m.op.getScores(), idx);
        vector::StoreOp::create(vb, vl, arith::SelectOp::create(vb, vl, keep, s, m.negInf),
                                m.op.getScores(), idx);
      };
      if (!live) {
        body(b, l);
        continue;
      }
      scf::IfOp::create(b, l,
                        arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, cIdx(b, l, c),
                                              live),
                        [&](OpBuilder &tb, Location tl) {
                          body(tb, tl);
                          scf::YieldOp::create(tb, tl);
                        });
    }
  }

  /// The element rule on i64 key positions (and j < m).
  static void maskRowByRule(OpBuilder &b, Location l, const RowMasking &m, Value row) {
    Type i64 = b.getI64Type();
    Value i = arith::IndexCastOp::create(b, l, i64,
                                         arith::AddIOp::create(b, l, m.op.getI0(), row));
    Value iV = vector::BroadcastOp::create(b, l, VectorType::get({m.lanes}, i64), i);
    maskVectors(b, l, m, row, [&](OpBuilder &vb, Location vl, int64_t c) -> Value {
      Value j = keyPositions(vb, vl, m.op, m.iota, c, m.lanes);
      Value keep = arith::CmpIOp::create(vb, vl, arith::CmpIPredicate::slt, j, m.mV);
      if (m.mask)
        keep = arith::AndIOp::create(vb, vl, keep,
                                     m.mask.buildKeepAt(vb, vl, m.site, iV, j, m.nV, m.mV));
      return keep;
    });
  }

  /// The row keeps exactly the union of its ranges' [fullBegin, fullEnd):
  /// one i32 compare pair per range on the lanes' offsets in the block.
  static void maskRowByRanges(OpBuilder &b, Location l, const RowMasking &m, Value row,
                              ArrayRef<KeyRangeValues> ranges) {
    auto i32v = cast<VectorType>(m.iota32.getType());
    Value j0 = m.op.getJ0(), bk = cIdx(b, l, m.nk * m.lanes);
    auto offset = [&](Value pos) { // clamped to [0, BK]
      Value o = arith::SubIOp::create(b, l, pos, j0);
      o = arith::MinSIOp::create(b, l, arith::MaxSIOp::create(b, l, o, cIdx(b, l, 0)), bk);
      return vector::BroadcastOp::create(
          b, l, i32v, arith::IndexCastOp::create(b, l, b.getI32Type(), o));
    };
    SmallVector<std::pair<Value, Value>> bounds;
    for (const KeyRangeValues &r : ranges)
      bounds.push_back({offset(r.fullBegin),
                        offset(arith::MinSIOp::create(b, l, r.fullEnd, m.op.getM()))});
    maskVectors(b, l, m, row, [&](OpBuilder &vb, Location vl, int64_t c) -> Value {
      Value pos = arith::AddIOp::create(
          vb, vl, m.iota32,
          vector::BroadcastOp::create(
              vb, vl, i32v, arith::ConstantIntOp::create(vb, vl, vb.getI32Type(), c * m.lanes)));
      Value keep;
      for (auto [lo, hi] : bounds) {
        Value in = arith::AndIOp::create(
            vb, vl, arith::CmpIOp::create(vb, vl, arith::CmpIPredicate::sge, pos, lo),
            arith::CmpIOp::create(vb, vl, arith::CmpIPredicate::slt, pos, hi));
        keep = keep ? arith::OrIOp::create(vb, vl, keep, in).getResult() : in;
      }
      return keep;
    });
  }

  /// One row: by its key ranges where each is exact for it (visible =
  /// full), else by the element rule.
  static void maskRow(OpBuilder &b, Location l, const RowMasking &m, Value row,
                      bool byRanges) {
    Value i = arith::AddIOp::create(b, l, m.op.getI0(), row);
    SmallVector<KeyRangeValues> ranges =
        byRanges ? m.mask.buildKeyRangesAt(b, l, m.site, i,
                                           arith::AddIOp::create(b, l, i, cIdx(b, l, 1)))
                 : SmallVector<KeyRangeValues>();
    if (ranges.empty())
      return maskRowByRule(b, l, m, row);
    auto eq = [&](Value x, Value y) {
      return arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, x, y);
    };
    Value exact;
    for (const KeyRangeValues &r : ranges) {
      Value e = arith::AndIOp::create(b, l, eq(r.visibleBegin, r.fullBegin),
                                      eq(r.visibleEnd, r.fullEnd));
      exact = exact ? arith::AndIOp::create(b, l, exact, e).getResult() : e;
    }
    scf::IfOp::create(
        b, l, exact,
        [&](OpBuilder &tb, Location tl) {
          maskRowByRanges(tb, tl, m, row, ranges);
          scf::YieldOp::create(tb, tl);
        },
        [&](OpBuilder &eb, Location el) {
          maskRowByRule(eb, el, m, row);
          scf::YieldOp::create(eb, el);
        });
  }

  /// scores[r, j - j0] = -inf unless keep(i0 + r, j) and j < m, only when the
  /// block rule could not prove the block full. On a masked block with
  /// liveVectors, only its first liveVectors vectors (the rest is never
  /// read). Rows whose kept keys are a union of intervals [lo, hi) (the
  /// row's key ranges, each with visible = full) take lane compares on i32
  /// offsets instead of the element rule on i64 positions.
  static void buildMasking(OpBuilder &rw, Location loc, KVBlockUpdateOp op,
                           VectorType vt, Value rows, int64_t nk,
                           int64_t kLanes, const cpu::RowVectorsFn &liveVectors) {
    scf::IfOp::create(rw, loc, op.getMasked(), [&](OpBuilder &tb, Location l) {
      Type i64 = tb.getI64Type();
      auto ivt = VectorType::get({kLanes}, i64);
      RowMasking m{op, vt, nk, kLanes, liveVectors, op.getMaskAttr(), maskSite(op), {}, {}, {}, {}, {}};
      m.negInf = arith::ConstantOp::create(
          tb, l, DenseElementsAttr::get(vt, -std::numeric_limits<float>::infinity()));
      m.iota = laneIota(tb, l, kLanes);
      m.iota32 = laneIota(tb, l, kLanes, 32);
      m.nV = vector::BroadcastOp::create(tb, l, ivt,
                                         arith::IndexCastOp::create(tb, l, i64, op.getN()));
      m.mV = vector::BroadcastOp::create(tb, l, ivt,
                                         arith::IndexCastOp::create(tb, l, i64, op.getM()));
      if (op.getH() && !op.getMaskRule().empty()) {
        RuleOperands ops = ruleOperands(op, kLanes);
        m.site.rule = [op, ops, kLanes](OpBuilder &b, Location l, Value i,
                                        Value j) mutable {
          return emitRule(b, l, op.getMaskRule(),
                          ValueRange{op.getB(), op.getH(), i, j}, ops, kLanes);
        };
      }
      // Per-row ranges: packed keys at j0 + lane, no rule region.
      bool byRanges = m.mask && !op.getKeys() && op.getMaskRule().empty();
      forEach(tb, l, cIdx(tb, l, 0), rows, [&](OpBuilder &ib, Location il, Value row) {
        maskRow(ib, il, m, row, byRanges);
      });
      scf::YieldOp::create(tb, l);
    });
  }

  int64_t kLanes, rowsPerTile, colsPerTile;
  bool useScalef, usePrefetch;
};

/// One kv_block_update's lowering: the values its phases share (set up in
/// the constructor and `setUp`), then the phases of the file comment, each
/// a method, emitted in order by `run`.
struct BlockLowering {
  using P = LowerKVBlockUpdate;
  const P &pattern;
  KVBlockUpdateOp op;
  PatternRewriter &rw;
  Location loc;
  int64_t kLanes;
  // Shapes: rows, keys, head dims; r rows per register tile, kc (phase 1)
  // and cv (phase 4) vectors per tile.
  int64_t bq, dvPad, pieces, bk, d, r = 1, nk = 0, nvd = 0, kc = 1, cv = 1;
  VectorType vt, wordT;
  Value c0, c1, qT, kT, v, acc, scores, j0, keys, b, hkv, kb;
  bool pairs = false, inPlace = false, amx = false, prefetch = false;
  // Rows [0, validRows) are stored; [0, liveRows) whole register tiles.
  Value validRows, liveRows, keysHere, firstPair;
  // A masked block's bounds (emitBounds): per AMX 16-row group, per row
  // for phases 2 and 3, per register tile in phases 1 and 4.
  bool amxGroups = false;
  cpu::RowVectorsFn liveVectors;
  RowGroupBounds phase1Groups, phase4Groups;
  cpu::Panel valuePanel;
  Value mOut, lOut;
  cpu::SoftmaxStep step;

  BlockLowering(const P &pattern, KVBlockUpdateOp op, PatternRewriter &rw)
      : pattern(pattern), op(op), rw(rw), loc(op.getLoc()),
        kLanes(pattern.kLanes) {
    auto accType = op.getAcc().getType();
    bq = accType.getDimSize(0);
    dvPad = accType.getDimSize(1);
    // split (f32 on AMX): three bf16 pieces per value; the scores rows
    // hold P's pieces past the key block.
    pieces = op.getSplit() ? 3 : 1;
    bk = op.getScores().getType().getDimSize(1) / (pieces == 3 ? 2 : 1);
    d = cast<MemRefType>(op.getKT().getType()).getDimSize(3);
  }

  /// The keys of this block before `end`, in [0, BK].
  Value keysBefore(OpBuilder &gb, Location gl, Value end) {
    return arith::MinSIOp::create(
        gb, gl, cIdx(gb, gl, bk),
        arith::MaxSIOp::create(gb, gl, cIdx(gb, gl, 0),
                               arith::SubIOp::create(gb, gl, end, j0)));
  }
  /// The keys of this block that rows [i0 + r0, i0 + r0 + count) may keep
  /// (a register tile's r rows, or an AMX tile's 16).
  Value groupKeys(OpBuilder &gb, Location gl, Value r0, int64_t count) {
    Value end = P::visibleKeyEnd(gb, gl, op,
                                 arith::AddIOp::create(gb, gl, op.getI0(), r0),
                                 cIdx(gb, gl, count));
    return arith::SelectOp::create(gb, gl, op.getMasked(),
                                   keysBefore(gb, gl, end), cIdx(gb, gl, bk));
  }
  /// The row of K and V that key c of this block reads in place.
  Value keyRow(OpBuilder &ib, Location il, Value c) {
    Value slot = arith::AddIOp::create(ib, il, j0, c);
    if (!keys)
      return slot;
    return arith::IndexCastOp::create(
        ib, il, ib.getIndexType(),
        memref::LoadOp::create(ib, il, keys, ValueRange{slot}));
  }
  /// emit(keys) on AMX: with each 16-row group's keys on masked blocks
  /// only, so a full block runs the same branch-free tiles as an unmasked
  /// attention.
  void onMaskedBlocks(
      function_ref<void(OpBuilder &, Location, cpu::GroupKeysFn)> emit) {
    auto keysOf = [&](OpBuilder &gb, Location gl, Value r0) {
      return groupKeys(gb, gl, r0, 16);
    };
    if (!amxGroups)
      return emit(rw, loc, nullptr);
    scf::IfOp::create(
        rw, loc, op.getMasked(),
        [&](OpBuilder &tb, Location tl) {
          emit(tb, tl, keysOf);
          scf::YieldOp::create(tb, tl);
        },
        [&](OpBuilder &eb, Location el) {
          emit(eb, el, nullptr);
          scf::YieldOp::create(eb, el);
        });
  }
  /// Index of step e of register tile (r0, col) among all the steps of a
  /// phase whose tiles are colTile columns wide: the prefetch distance.
  Value stepIndex(OpBuilder &ib, Location il, Value r0, Value col, Value e,
                  int64_t colTile, int64_t colTiles, int64_t extent) {
    Value tile = arith::AddIOp::create(
        ib, il,
        arith::MulIOp::create(
            ib, il, arith::DivUIOp::create(ib, il, r0, cIdx(ib, il, r)),
            cIdx(ib, il, colTiles)),
        arith::DivUIOp::create(ib, il, col, cIdx(ib, il, colTile)));
    return arith::AddIOp::create(
        ib, il, arith::MulIOp::create(ib, il, tile, cIdx(ib, il, extent)), e);
  }

  LogicalResult run();
  void setUp();
  void emitBounds();
  void emitScores();
  void emitMasking();
  void emitSoftmax(Value softmaxRows);
  void emitValues(Value few);
};

LogicalResult BlockLowering::run() {
  if (ShapedType::isDynamic(d))
    return rw.notifyMatchFailure(op, "packed K needs a static head dim");
  setUp();
  emitBounds();
  // Prefetches (PanelPrefetch.h): phase 1 brings this block's V rows,
  // phase 4 the K^T panel of the schedule's next block.
  firstPair =
      pairs ? arith::DivUIOp::create(rw, loc, j0, cIdx(rw, loc, 2)).getResult()
            : Value();
  prefetch = pattern.usePrefetch && !inPlace && !amx;
  // The panels' bounds are emitted only where a phase prefetches.
  if (prefetch)
    valuePanel = {v, {b, hkv}, pairs ? firstPair : j0, pairs ? bk / 2 : bk,
                  arith::SubIOp::create(
                      rw, loc, memref::DimOp::create(rw, loc, v, 2), c1)};
  emitScores();
  emitMasking();
  // Keys in place (decoding) with one live row (N = 1): phases 3 and 4
  // take that row alone (one-row tiles in phase 4), not r rows per key,
  // which bound decoding once GQA groups the heads of a KV head
  // (AttnTile.cpp, buildHeadGroups). Else as before: with 2 to r - 1 rows
  // one-row tiles measured slower (N = 3: 5.0 -> 7.5 ms, 8 heads, M 32k).
  Value few = inPlace && r > 1
                  ? arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq,
                                          validRows, c1)
                        .getResult()
                  : Value();
  emitSoftmax(few ? arith::SelectOp::create(rw, loc, few, validRows, liveRows)
                        .getResult()
                  : liveRows);
  emitValues(few);
  rw.replaceOp(op, ValueRange{mOut, lOut});
  return success();
}

void BlockLowering::setUp() {
  r = std::max<int64_t>(1, std::min(pattern.rowsPerTile, bq));
  while (bq % r)
    --r;
  nk = bk / kLanes;
  nvd = dvPad / kLanes;
  // Register tiles: r rows x kc (phase 1) or cv (phase 4) vectors.
  auto fit = [&](int64_t total) {
    int64_t c = std::max<int64_t>(1, std::min(pattern.colsPerTile, total));
    while (total % c)
      --c;
    return c;
  };
  kc = fit(nk);
  cv = fit(nvd);
  vt = VectorType::get({kLanes}, rw.getF32Type());
  wordT = VectorType::get({kLanes}, rw.getI32Type());
  c0 = cIdx(rw, loc, 0);
  c1 = cIdx(rw, loc, 1);
  qT = op.getQT();
  kT = op.getKT();
  v = op.getV();
  acc = op.getAcc();
  scores = op.getScores();
  j0 = op.getJ0();
  // bf16 pairs (attn-tile's bf16-dot): vdpbf16ps on i32 words.
  pairs = cast<MemRefType>(qT.getType()).getElementType().isInteger(32);
  // Keys in place: K and V themselves (decoding, or keys gathered by
  // position for a tile of one or two rows).
  inPlace = cast<MemRefType>(kT.getType()).getRank() == 4;
  keys = op.getKeys();
  // Gathered and packed keys live in a [1, 1, ...] buffer of the tile's
  // own.
  b = keys && !inPlace ? c0 : op.getB();
  hkv = keys && !inPlace ? c0 : op.getHkv();
  kb = arith::DivUIOp::create(rw, loc, j0, cIdx(rw, loc, bk));

  // Rows past N (a ragged last tile, or decoding with N = 1) are skipped,
  // up to a whole register tile: [0, liveRows) holds every stored row.
  validRows = arith::MinUIOp::create(
      rw, loc, cIdx(rw, loc, bq),
      arith::SubIOp::create(rw, loc, op.getN(), op.getI0()));
  liveRows = arith::MulIOp::create(
      rw, loc, arith::CeilDivUIOp::create(rw, loc, validRows, cIdx(rw, loc, r)),
      cIdx(rw, loc, r));

  // Keys in place: those of this block before m (the rest are never
  // read); gathered, the slots before the padding.
  keysHere = cIdx(rw, loc, bk);
  if (inPlace && keys)
    keysHere = P::gatheredKeysHere(rw, loc, keys, j0, op.getM(), bk, kLanes);
  else if (inPlace)
    keysHere = arith::MinSIOp::create(
        rw, loc, keysHere,
        arith::MaxSIOp::create(rw, loc, c0,
                               arith::SubIOp::create(rw, loc, op.getM(), j0)));
  amx = op.getAmx();
}

void BlockLowering::emitBounds() {
  // Packed keys: on a masked block, those past the rule's visible end for
  // a tile's rows (most of a causal tile's diagonal block) are never kept.
  Value tileEnd =
      inPlace ? Value() : P::visibleKeyEnd(rw, loc, op, op.getI0(), validRows);
  if (!tileEnd)
    return;
  if (amx) {
    // AMX: each 16-row group's tiles skip the products past its keys
    // (onMaskedBlocks), and phases 2 and 3 stop at the 32-key step
    // holding its last visible key (phase 4's steps; P's pairs past it
    // are never read): on a causal diagonal block the groups above the
    // diagonal skip the block (their max stays, alpha is 1) and the
    // others do the vectors they see.
    amxGroups = true;
    liveVectors = [this](OpBuilder &gb, Location gl, Value row) -> Value {
      Value c16 = cIdx(gb, gl, 16);
      Value r0 = arith::MulIOp::create(
          gb, gl, arith::DivUIOp::create(gb, gl, row, c16), c16);
      Value steps = arith::CeilDivUIOp::create(
          gb, gl, groupKeys(gb, gl, r0, 16), cIdx(gb, gl, 32));
      return arith::MulIOp::create(gb, gl, steps, cIdx(gb, gl, 32 / kLanes));
    };
    return;
  }
  // Register tiles: phase 1 of each row group stops at the vector holding
  // the group's last visible key (the stale rest, up to the tile's live
  // vectors, becomes -inf in phase 2, which runs on masked blocks), and
  // phase 4 at that key: on a causal diagonal block the reach grows by r
  // rows per group instead of being the whole tile's. Phases 2 and 3 skip
  // the vectors past the tile's visible keys (with bf16 pairs an even
  // count: whole pair slots); bounded per group as well they measured no
  // faster.
  Value live = keysBefore(rw, loc, tileEnd);
  int64_t unit = pairs ? 2 * kLanes : kLanes;
  Value tileVectors = arith::MulIOp::create(
      rw, loc, arith::CeilDivUIOp::create(rw, loc, live, cIdx(rw, loc, unit)),
      cIdx(rw, loc, unit / kLanes));
  liveVectors = [tileVectors](OpBuilder &, Location, Value) {
    return tileVectors;
  };
  // A group's keys stop at the tile's: a ragged last tile's group holds
  // rows past N, which may see keys the tile's real rows do not (chunked
  // masks: the next chunk's), and phases 2 and 3 never reach those, so
  // phase 4 read their stale scores as probabilities (the sweep, seed
  // 20261129: chunked<6>, N = 173, M = 199, the last row wrong).
  auto keysOf = [this, live](OpBuilder &gb, Location gl, Value r0) -> Value {
    return arith::MinUIOp::create(gb, gl, groupKeys(gb, gl, r0, r), live);
  };
  phase1Groups.cols = [this, keysOf](OpBuilder &gb, Location gl,
                                     Value r0) -> Value {
    Value lanes = cIdx(gb, gl, kLanes);
    return arith::MulIOp::create(
        gb, gl, arith::CeilDivUIOp::create(gb, gl, keysOf(gb, gl, r0), lanes),
        lanes);
  };
  phase4Groups.extent = [this, keysOf](OpBuilder &gb, Location gl,
                                       Value r0) -> Value {
    Value keys = keysOf(gb, gl, r0);
    return pairs
               ? arith::CeilDivUIOp::create(gb, gl, keys, cIdx(gb, gl, 2))
                     .getResult()
               : keys;
  };
}

/// Phase 1: scores = Q K^T (Q pre-scaled), reduced over the head dim.
void BlockLowering::emitScores() {
  if (inPlace)
    return P::buildRowDots(
        rw, loc, qT, kT, scores, b, hkv,
        [&](OpBuilder &ib, Location il, Value c) { return keyRow(ib, il, c); },
        validRows, liveRows, keysHere, bk, d, kLanes);
  if (amx)
    return onMaskedBlocks(
        [&](OpBuilder &ab, Location al, cpu::GroupKeysFn groupKeys) {
          cpu::emitAmxScores(ab, al, qT, kT, scores, b, hkv, kb, liveRows,
                             2 * d / pieces, bk, pieces, groupKeys);
        });
  auto prefetchValues = [&](OpBuilder &ib, Location il, Value r0, Value col,
                            Value e) {
    int64_t colTiles = nk / kc;
    cpu::prefetchPanelStep(
        ib, il, valuePanel,
        stepIndex(ib, il, r0, col, e, kc * kLanes, colTiles, d),
        (bq / r) * colTiles * d);
  };
  StepFn onStep = prefetch ? StepFn(prefetchValues) : StepFn();
  if (pairs)
    return buildRegisterTiles(
        rw, loc, scores, liveRows, cIdx(rw, loc, bk), r, kc, kLanes,
        cIdx(rw, loc, d),
        /*accumulate=*/false,
        [&](OpBuilder &ib, Location il, Value e, Value col) -> Value {
          return asPairs(ib, il,
                         vector::LoadOp::create(
                             ib, il, wordT, kT, ValueRange{b, hkv, kb, e, col}));
        },
        [&](OpBuilder &ib, Location il, Value e, Value row) -> Value {
          return asPairs(
              ib, il,
              vector::BroadcastOp::create(
                  ib, il, wordT,
                  memref::LoadOp::create(ib, il, qT, ValueRange{e, row})));
        },
        pairMac,
        vector::BroadcastOp::create(
            rw, loc, vt, arith::ConstantOp::create(rw, loc, op.getScaleAttr())),
        nullptr, onStep, phase1Groups);
  buildRegisterTiles(
      rw, loc, scores, liveRows, cIdx(rw, loc, bk), r, kc, kLanes,
      cIdx(rw, loc, d),
      /*accumulate=*/false,
      [&](OpBuilder &ib, Location il, Value e, Value col) -> Value {
        return vector::LoadOp::create(ib, il, vt, kT,
                                      ValueRange{b, hkv, kb, e, col});
      },
      [&](OpBuilder &ib, Location il, Value e, Value row) -> Value {
        return vector::BroadcastOp::create(
            ib, il, vt, memref::LoadOp::create(ib, il, qT, ValueRange{row, e}));
      },
      fmaMac, Value(), nullptr, onStep, phase1Groups);
}

/// Phase 2: the score rule on every pair, then the element rule and key
/// tail on partial blocks.
void BlockLowering::emitMasking() {
  if (op.getH() && !op.getScoreRule().empty())
    P::buildScoreRule(rw, loc, op, vt, liveRows, nk, kLanes);
  P::buildMasking(rw, loc, op, vt, liveRows, nk, kLanes, liveVectors);
}

/// Phase 3: online softmax (OnlineSoftmax.cpp) over rows [0, rows); acc's
/// rescale happens in phase 4 as it loads each row.
void BlockLowering::emitSoftmax(Value rows) {
  step = cpu::SoftmaxStep{scores, cpu::makeRowBuffer(rw, loc, scores, bq),
                          rows,   op.getMIn(),
                          op.getLIn(), nk,
                          kLanes, pairs,
                          pattern.useScalef};
  if (amx)
    step.scale = op.getScale()->convertToFloat();
  step.pieces = pieces;
  if (!liveVectors) {
    std::tie(mOut, lOut) = cpu::emitOnlineSoftmax(rw, loc, step);
    return;
  }
  // Masked blocks skip the vectors past the visible keys; full blocks
  // keep the unguarded form.
  auto branch = scf::IfOp::create(
      rw, loc, op.getMasked(),
      [&](OpBuilder &tb, Location tl) {
        cpu::SoftmaxStep masked = step;
        masked.liveVectors = liveVectors;
        auto [m, l] = cpu::emitOnlineSoftmax(tb, tl, masked);
        scf::YieldOp::create(tb, tl, ValueRange{m, l});
      },
      [&](OpBuilder &eb, Location el) {
        auto [m, l] = cpu::emitOnlineSoftmax(eb, el, step);
        scf::YieldOp::create(eb, el, ValueRange{m, l});
      });
  mOut = branch.getResult(0);
  lOut = branch.getResult(1);
}

/// Phase 4: acc += P V, reduced over the block's keys (bf16 pairs: over
/// pairs of keys, step jp reading V's pair row j0 / 2 + jp and the
/// probability pair in scores slot jp). `few`: one live row, taken alone.
void BlockLowering::emitValues(Value few) {
  auto rescale = [&](OpBuilder &ib, Location il, Value row) {
    return cpu::rowRescale(ib, il, step.rowBuf, row, kLanes);
  };
  if (amx)
    return onMaskedBlocks(
        [&](OpBuilder &ab, Location al, cpu::GroupKeysFn groupKeys) {
          cpu::emitAmxValues(ab, al, scores, v, acc, b, hkv, firstPair,
                             liveRows, dvPad, bk, pieces, rescale, groupKeys);
        });
  // The K^T panel [D or D / 2 pairs, BK] of the block the schedule visits
  // next (`next_j0`; none for keys gathered per tile).
  cpu::Panel keyPanel;
  if (prefetch && op.getNextJ0()) {
    int64_t panelRows = cast<MemRefType>(kT.getType()).getDimSize(3);
    keyPanel = {kT,
                {b, hkv,
                 arith::DivUIOp::create(rw, loc, op.getNextJ0(),
                                        cIdx(rw, loc, bk))},
                c0, panelRows, cIdx(rw, loc, panelRows - 1)};
  }
  int64_t valueRows = pairs ? bk / 2 : bk;
  auto prefetchKeys = [&](OpBuilder &ib, Location il, Value r0, Value col,
                          Value j) {
    int64_t colTiles = std::max<int64_t>(1, nvd / cv);
    cpu::prefetchPanelStep(
        ib, il, keyPanel,
        stepIndex(ib, il, r0, col, j, cv * kLanes, colTiles, valueRows),
        (bq / r) * colTiles * valueRows);
  };
  StepFn onStep = keyPanel.buf ? StepFn(prefetchKeys) : StepFn();
  auto tiles = [&](OpBuilder &pb, int64_t rows, Value live) {
    buildRegisterTiles(
        pb, loc, acc, live, cIdx(pb, loc, dvPad), rows, cv, kLanes,
        pairs ? arith::CeilDivUIOp::create(pb, loc, keysHere, cIdx(pb, loc, 2))
                    .getResult()
              : keysHere,
        /*accumulate=*/true,
        [&](OpBuilder &ib, Location il, Value j, Value col) -> Value {
          if (!pairs) {
            Value key = inPlace ? keyRow(ib, il, j)
                                : arith::AddIOp::create(ib, il, j0, j);
            return P::loadF32(ib, il, v, ValueRange{b, hkv, key, col}, kLanes);
          }
          Value slot = arith::AddIOp::create(ib, il, firstPair, j);
          return asPairs(ib, il,
                         vector::LoadOp::create(ib, il, wordT, v,
                                                ValueRange{b, hkv, slot, col}));
        },
        [&](OpBuilder &ib, Location il, Value j, Value row) -> Value {
          Value p = vector::BroadcastOp::create(
              ib, il, vt,
              memref::LoadOp::create(ib, il, scores, ValueRange{row, j}));
          return pairs ? asPairs(ib, il, p) : p;
        },
        pairs ? MacFn(pairMac) : MacFn(fmaMac), Value(), rescale,
        rows == r ? onStep : StepFn(),
        rows == r ? phase4Groups : RowGroupBounds());
  };
  if (!few)
    return tiles(rw, r, liveRows);
  scf::IfOp::create(
      rw, loc, few,
      [&](OpBuilder &tb, Location tl) {
        tiles(tb, 1, validRows);
        scf::YieldOp::create(tb, tl);
      },
      [&](OpBuilder &eb, Location el) {
        tiles(eb, r, liveRows);
        scf::YieldOp::create(eb, el);
      });
}

LogicalResult LowerKVBlockUpdate::matchAndRewrite(KVBlockUpdateOp op,
                                                  PatternRewriter &rw) const {
  return BlockLowering(*this, op, rw).run();
}

struct ConvertAttnToCPUVectorPass
    : public attn::impl::ConvertAttnToCPUVectorBase<
          ConvertAttnToCPUVectorPass> {
  using ConvertAttnToCPUVectorBase::ConvertAttnToCPUVectorBase;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    if (lanes != 8 && lanes != 16) {
      getOperation().emitError()
          << "attn-vectorize-cpu: lanes must be 8 (AVX2) or 16 (AVX-512), got "
          << lanes.getValue();
      return signalPassFailure();
    }
    WalkResult narrow = getOperation().walk([&](KVBlockUpdateOp op) {
      if (lanes == 16 ||
          !cast<MemRefType>(op.getQT().getType()).getElementType().isInteger(
              32))
        return WalkResult::advance();
      op.emitOpError() << "bf16 pairs (bf16-dot=1) need lanes=16: "
                          "vdpbf16ps is an AVX512-BF16 instruction";
      return WalkResult::interrupt();
    });
    if (narrow.wasInterrupted())
      return signalPassFailure();
    patterns.add<LowerKVBlockUpdate>(&getContext(), lanes, rows, cols,
                                     avx512 && lanes == 16, prefetch);
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingOps);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns),
                                     config)))
      return signalPassFailure();
    bool failedToLower = false;
    getOperation().walk([&](KVBlockUpdateOp op) {
      op.emitError("attn-vectorize-cpu could not lower this op");
      failedToLower = true;
    });
    if (failedToLower)
      return signalPassFailure();
    // Vector exp as a polynomial (AVX-512 friendly), and the
    // transcendentals rule regions use (a libm call per lane is 16 calls
    // per vector: softcap ran at a third of causal's speed).
    RewritePatternSet approx(&getContext());
    populateMathPolynomialApproximationPatterns(approx, [](StringRef name) {
      return llvm::is_contained({"math.exp", "math.tanh", "math.log",
                                 "math.log2", "math.log1p", "math.erf"},
                                name);
    });
    if (failed(applyPatternsGreedily(getOperation(), std::move(approx))))
      return signalPassFailure();
  }
};

} // namespace
