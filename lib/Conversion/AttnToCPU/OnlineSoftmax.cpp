//===- OnlineSoftmax.cpp - phase 3 of the CPU tile body -------------------===//
//
// Per key block and query tile: (A) each row's block max, (1) for `lanes`
// rows at once the new running max m', the shift m'' that exp uses (0
// while a row has seen only masked keys, so exp(-inf - 0) = 0, never NaN)
// and alpha = exp(m - m''), (B) each row's p = exp(s - m'') and row sum,
// (2) l' = l alpha + sum, again `lanes` rows at once. The scalar form of (1)
// and (2), once per row, was a third of this phase on an Intel AVX-512 part
// (the state vectors went through the stack at every row; docs/benchmarks/
// cpu-tuning.md). The accumulator's rescale by alpha moved into phase 4,
// which loads the row anyway. The row maxima of (A) and the sums of (B)
// are reduced `lanes` rows at a time (reduceRows).
//
//===----------------------------------------------------------------------===//

#include "OnlineSoftmax.h"
#include "attnir/Dialect/Attn/Utils/BF16Pairs.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/VectorHelpers.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include <cmath>
#include <limits>

using namespace mlir;

namespace mlir::attn::cpu {
namespace {

/// The rows of a step's scratch (makeRowBuffer): per-row state, then
/// `lanes` rows of one row group's vectors before their reduction.
enum Slot { kBlockMax = 0, kShift = 1, kAlpha = 2, kRowSum = 3, kPartial = 4 };

Value splat(OpBuilder &b, Location l, Type t, float v) {
  return arith::ConstantOp::create(
      b, l, DenseElementsAttr::get(cast<ShapedType>(t), b.getF32FloatAttr(v)));
}

Value splatI32(OpBuilder &b, Location l, Type t, int32_t v) {
  auto it = VectorType::get(cast<VectorType>(t).getShape(), b.getI32Type());
  return arith::ConstantOp::create(
      b, l, DenseElementsAttr::get(it, b.getI32IntegerAttr(v)));
}

/// a > b ? a : b: exactly x86's maxps, one instruction (maxnumf's NaN rule
/// costs a compare and a blend more). A NaN score still makes its row NaN:
/// its own p is NaN whatever the max.
Value maxps(OpBuilder &b, Location l, Value a, Value x) {
  Value gt = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, a, x);
  return arith::SelectOp::create(b, l, gt, a, x);
}

/// Pairwise tree over `v` with `op` (short dependency chains).
Value tree(OpBuilder &b, Location l, SmallVector<Value> v,
           function_ref<Value(Value, Value)> op) {
  while (v.size() > 1) {
    SmallVector<Value> next;
    for (size_t i = 0; i + 1 < v.size(); i += 2)
      next.push_back(op(v[i], v[i + 1]));
    if (v.size() % 2)
      next.push_back(v.back());
    v = std::move(next);
  }
  return v[0];
}

/// max over the lanes of `v`, by halving shuffles.
Value laneMax(OpBuilder &b, Location l, Value v) {
  int64_t n = cast<VectorType>(v.getType()).getNumElements();
  for (int64_t w = n / 2; w >= 1; w /= 2) {
    SmallVector<int64_t> idx(n);
    for (int64_t i = 0; i < n; ++i)
      idx[i] = i < w ? i + w : i;
    v = maxps(b, l, v, vector::ShuffleOp::create(b, l, v, v, idx));
  }
  return vector::ExtractOp::create(b, l, v, ArrayRef<int64_t>{0});
}

/// Row `row`'s probabilities `p` (its vectors from `first` on) rounded to
/// bf16 and stored as key pairs over the front of its scores row: f32 slot
/// k holds keys 2k and 2k + 1 (phase 4 reads one slot per step). The row's
/// scores were all loaded before, so overwriting them is safe.
void storeProbabilityPairs(OpBuilder &b, Location l, ArrayRef<Value> p,
                           Value scores, Value row, int64_t lanes,
                           int64_t first) {
  auto half = VectorType::get({lanes}, b.getBF16Type());
  SmallVector<int64_t> both(2 * lanes);
  for (int64_t x = 0; x < 2 * lanes; ++x)
    both[x] = x;
  for (size_t c = 0; c + 1 < p.size(); c += 2) {
    Value lo = x86vector::CvtPackedF32ToBF16Op::create(b, l, half, p[c]);
    Value hi = x86vector::CvtPackedF32ToBF16Op::create(b, l, half, p[c + 1]);
    Value cat = vector::ShuffleOp::create(b, l, lo, hi, both);
    Value words = vector::BitCastOp::create(
        b, l, VectorType::get({lanes}, b.getF32Type()), cat);
    vector::StoreOp::create(b, l, words, scores,
                            ValueRange{row, cIdx(b, l, (first + c) * lanes / 2)});
  }
}

/// The same in three bf16 pieces per p (kv_block_update's `split`), piece
/// k's pairs from f32 slot k BK / 2 (pieceWords: upper halves, no
/// conversion instruction; truncated, so the dropped products stay below
/// 2^-20 of each, as when P was first split). Pieces 1 and 2 land on
/// scores past the front: all of the row's were loaded before.
void storeProbabilityPieces(OpBuilder &b, Location l, ArrayRef<Value> p,
                            Value scores, Value row, int64_t lanes,
                            int64_t first, int64_t keyVectors) {
  int64_t pieceSlots = keyVectors * lanes / 2;
  for (size_t i = 0; i + 1 < p.size(); i += 2) {
    int64_t c = first + static_cast<int64_t>(i);
    SmallVector<Value, 3> words =
        pieceWords(b, l, p[i], p[i + 1], /*interleaved=*/false, /*rounded=*/false);
    for (int64_t k = 0; k < 3; ++k)
      vector::StoreOp::create(
          b, l,
          vector::BitCastOp::create(
              b, l, VectorType::get({lanes}, b.getF32Type()), words[k]),
          scores, ValueRange{row, cIdx(b, l, k * pieceSlots + c * lanes / 2)});
  }
}

Value clampBelow(OpBuilder &b, Location l, Value v, float c) {
  Value k = splat(b, l, v.getType(), c);
  Value lt = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OLT, v, k);
  return arith::SelectOp::create(b, l, lt, k, v).getResult();
}

Value callAvx512(OpBuilder &b, Location l, StringRef intrinsic, Type t,
                 ValueRange operands) {
  return LLVM::CallIntrinsicOp::create(b, l, t, b.getStringAttr(intrinsic),
                                       operands)
      .getResult(0);
}

Value i32Const(OpBuilder &b, Location l, int32_t v) {
  return arith::ConstantOp::create(b, l, b.getI32IntegerAttr(v));
}

/// 2^n as bits, (n + 127) << 23, from t + 1.5 * 2^23's bits (0x4B400000 + n).
Value pow2FromShifted(OpBuilder &b, Location l, Value shifted) {
  Type vt = shifted.getType();
  auto it = VectorType::get(cast<VectorType>(vt).getShape(), b.getI32Type());
  Value bits = vector::BitCastOp::create(b, l, it, shifted);
  Value biased = arith::SubIOp::create(b, l, bits,
                                       splatI32(b, l, vt, 0x4B400000 - 127));
  return vector::BitCastOp::create(
      b, l, vt, arith::ShLIOp::create(b, l, biased, splatI32(b, l, vt, 23)));
}

/// 2^g by a degree-5 polynomial with p(0) = 1 exactly (exp(0) is alpha
/// whenever a row's max holds, and a constant term 1 ulp off scaled acc and
/// l by 1 + 1.2e-7 per key block, weighting early blocks above late ones:
/// 4e-5 relative error decoding 65536 keys in 64-key blocks). Near-minimax
/// fits of relative error, evaluated in f32 by fma: on [-1/2, 1/2]
/// (1.9e-7) or on [0, 1) (1.4e-7).
Value exp2Polynomial(OpBuilder &b, Location l, Value g, bool fromZero) {
  static const float centred[] = {1.0f, 0.6931470036506653f, 0.24022242426872253f,
                                  0.05550733581185341f, 0.009671512991189957f,
                                  0.001326472731307149f};
  static const float upward[] = {1.0f, 0.6931512951850891f, 0.24016445875167847f,
                                 0.05579989403486252f, 0.009017054922878742f,
                                 0.0018671181751415133f};
  const float *c = fromZero ? upward : centred;
  Type vt = g.getType();
  Value p = splat(b, l, vt, c[5]);
  for (int i = 4; i >= 0; --i)
    p = math::FmaOp::create(b, l, p, g, splat(b, l, vt, c[i]));
  return p;
}

/// 2^t on 16 lanes: g = t - floor(t) in [0, 1) by vreduceps (AVX512DQ;
/// imm 9: round down, precision exception suppressed; exact, and no
/// float-to-int conversion, so NaN stays NaN), then p(g) 2^floor(t) by
/// vscalefps, which floors its exponent operand itself: one operation
/// fewer than rounding, g by fma and scaling by n.
Value exp2Scalef(OpBuilder &b, Location l, Value t) {
  Type vt = t.getType();
  // Lanes below -126 (masked keys' -inf among them) are 0 by the
  // instructions' zero-masking, never computed: 2^t there would be
  // subnormal or underflow to 0, and on Intel cores every such result
  // takes a microcode assist (without FTZ) that cost a fifth of causal
  // attention's time at N = 1024, all of it in masked blocks. Exact
  // results below 2^-126 against a row sum of at least 1 change nothing.
  // NaN compares unordered, so it is computed and stays NaN.
  Value live = arith::CmpFOp::create(b, l, arith::CmpFPredicate::UGE, t,
                                     splat(b, l, vt, -126.0f));
  Value mask = LLVM::BitcastOp::create(b, l, b.getI16Type(), live);
  Value zero = splat(b, l, vt, 0.0f);
  Value current = i32Const(b, l, 4);
  Value g = callAvx512(b, l, "llvm.x86.avx512.mask.reduce.ps.512", vt,
                       ValueRange{t, i32Const(b, l, 9), zero, mask, current});
  Value p = exp2Polynomial(b, l, g, /*fromZero=*/true);
  // The LLVM intrinsic, not x86vector.avx512.mask.scalef, which passes its
  // operands as (src, a, b) where the intrinsic takes (a, b, src) (MLIR 22).
  return callAvx512(b, l, "llvm.x86.avx512.mask.scalef.ps.512", vt,
                    ValueRange{p, t, zero, mask, current});
}

} // namespace

Value fastExp(OpBuilder &b, Location l, Value x, bool scalef) {
  Type vt = x.getType();
  Value log2e = splat(b, l, vt, static_cast<float>(M_LOG2E));
  if (scalef && cast<VectorType>(vt).getNumElements() == 16)
    return exp2Scalef(b, l, arith::MulFOp::create(b, l, x, log2e));
  // Below -127 ln 2 the bit form's 2^n has a zero exponent field, so the
  // result is 0. The clamps keep g finite (exp(-inf) = 0 exactly) and
  // pass NaN (select's false arm).
  x = clampBelow(b, l, x, -88.0296919f);
  Value hi = splat(b, l, vt, 88.0f);
  Value gt = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, x, hi);
  x = arith::SelectOp::create(b, l, gt, hi, x);
  Value t = arith::MulFOp::create(b, l, x, log2e);
  Value magic = splat(b, l, vt, 12582912.0f);
  Value shifted = arith::AddFOp::create(b, l, t, magic);
  Value n = arith::SubFOp::create(b, l, shifted, magic);
  // g = x log2 e - n with one rounding.
  Value g = math::FmaOp::create(b, l, x, log2e,
                                arith::NegFOp::create(b, l, n));
  Value p = exp2Polynomial(b, l, g, /*fromZero=*/false);
  return arith::MulFOp::create(b, l, p, pow2FromShifted(b, l, shifted));
}

Value makeRowBuffer(OpBuilder &b, Location l, Value scores, int64_t rows) {
  OpBuilder::InsertionGuard guard(b);
  if (Operation *def = scores.getDefiningOp())
    b.setInsertionPointAfter(def);
  else
    b.setInsertionPointToStart(cast<BlockArgument>(scores).getOwner());
  return memref::AllocaOp::create(
      b, l,
      MemRefType::get({kPartial + 16, static_cast<int64_t>(llvm::alignTo(rows, 16))},
                      b.getF32Type()));
}

Value rowRescale(OpBuilder &b, Location l, Value rowBuf, Value row,
                 int64_t lanes) {
  Value a = memref::LoadOp::create(b, l, rowBuf,
                                   ValueRange{cIdx(b, l, kAlpha), row});
  return vector::BroadcastOp::create(
      b, l, VectorType::get({lanes}, b.getF32Type()), a);
}

namespace {

/// The phases of one online-softmax step (the file comment's (A), (1), (B),
/// (2)) over the step's scores and row scratch.
struct OnlineSoftmaxEmitter {
  OpBuilder &b;
  Location l;
  const SoftmaxStep &s;
  VectorType vt;

  /// `lanes` rows at once: rows [g0, g0 + width) as one vector, with the
  /// lanes of rows past `s.rows` masked off (`live`).
  struct RowGroup {
    int64_t g0;
    VectorType type;
    Value live;
  };
  SmallVector<RowGroup> groups;

  OnlineSoftmaxEmitter(OpBuilder &b, Location l, const SoftmaxStep &s)
      : b(b), l(l), s(s), vt(VectorType::get({s.lanes}, b.getF32Type())) {}

  /// The row groups (their live masks emitted here, after phase (A)).
  void makeGroups() {
    int64_t bq = cast<VectorType>(s.mIn.getType()).getNumElements();
    for (int64_t g0 = 0; g0 < bq; g0 += s.lanes) {
      int64_t w = std::min(s.lanes, bq - g0);
      groups.push_back(
          {g0, VectorType::get({w}, b.getF32Type()), lanesBelow(b, l, g0, w, s.rows)});
    }
  }

  /// The row's live vectors (s.liveVectors), or null: all of them.
  Value liveOf(OpBuilder &ob, Location ol, Value row) {
    return s.liveVectors ? s.liveVectors(ob, ol, row) : Value();
  }

  /// Vector c of a row: f's value where the row may keep keys there
  /// (c < live, always where live is null), else `skipped` (nothing read
  /// or written).
  Value guarded(OpBuilder &ob, Location ol, Value live, int64_t c, Value skipped,
                function_ref<Value(OpBuilder &, Location)> f) {
    if (!live)
      return f(ob, ol);
    Value in = arith::CmpIOp::create(ob, ol, arith::CmpIPredicate::ult, cIdx(ob, ol, c),
                                     live);
    auto branch = scf::IfOp::create(
        ob, ol, in,
        [&](OpBuilder &tb, Location tl) { scf::YieldOp::create(tb, tl, f(tb, tl)); },
        [&](OpBuilder &eb, Location el) { scf::YieldOp::create(eb, el, skipped); });
    return branch.getResult(0);
  }
  Value loadAt(OpBuilder &ob, Location ol, Value row, int64_t c) {
    return vector::LoadOp::create(ob, ol, vt, s.scores, ValueRange{row, cIdx(ob, ol, c * s.lanes)});
  }
  Value slice(Value state, const RowGroup &g) {
    return vector::ExtractStridedSliceOp::create(b, l, state, ArrayRef<int64_t>{g.g0},
                                                 ArrayRef<int64_t>{g.type.getNumElements()},
                                                 ArrayRef<int64_t>{1});
  }
  Value merge(Value part, Value state, const RowGroup &g) {
    return vector::InsertStridedSliceOp::create(b, l, part, state, ArrayRef<int64_t>{g.g0},
                                                ArrayRef<int64_t>{1});
  }
  SmallVector<Value> at(Slot slot, const RowGroup &g) {
    return SmallVector<Value>{cIdx(b, l, slot), cIdx(b, l, g.g0)};
  }
  Value load(Slot slot, const RowGroup &g) {
    return vector::LoadOp::create(b, l, g.type, s.rowBuf, at(slot, g));
  }

  /// Each row's vector rowVector(row), reduced over its lanes (max or
  /// sum) into `slot` of the row scratch, the maxima times the scale.
  /// Whole groups of `lanes` rows store their vectors in kPartial and
  /// reduce them together (reduceAcross: 3 (lanes - 1) instructions for
  /// the group, where one reduction per row was a chain of shuffles and
  /// adds, the hottest vector code of the softmax on the AMX Xeon); the
  /// rows past the last whole group one by one.
  void reduceRows(Slot slot, bool isMax,
                  function_ref<Value(OpBuilder &, Location, Value)> rowVector) {
    int64_t n = s.lanes;
    auto scaled = [&](OpBuilder &ob, Location ol, Value m) -> Value {
      if (!isMax || s.scale == 1.0f)
        return m;
      Value k = isa<VectorType>(m.getType())
                    ? splat(ob, ol, m.getType(), s.scale)
                    : arith::ConstantOp::create(ob, ol, ob.getF32FloatAttr(s.scale)).getResult();
      return arith::MulFOp::create(ob, ol, m, k);
    };
    Value cN = cIdx(b, l, n);
    Value whole = arith::MulIOp::create(b, l, arith::DivUIOp::create(b, l, s.rows, cN), cN);
    forEach(
        b, l, cIdx(b, l, 0), whole,
        [&](OpBuilder &ob, Location ol, Value g0) {
          forEach(ob, ol, cIdx(ob, ol, 0), cIdx(ob, ol, n), [&](OpBuilder &rb, Location rl, Value t) {
            Value v = rowVector(rb, rl, arith::AddIOp::create(rb, rl, g0, t));
            vector::StoreOp::create(rb, rl, v, s.rowBuf,
                                    ValueRange{plusIdx(rb, rl, t, kPartial), cIdx(rb, rl, 0)});
          });
          SmallVector<Value> vs;
          for (int64_t t = 0; t < n; ++t)
            vs.push_back(vector::LoadOp::create(ob, ol, vt, s.rowBuf,
                                                ValueRange{cIdx(ob, ol, kPartial + t), cIdx(ob, ol, 0)}));
          Value r = reduceAcross(ob, ol, vs, [&](Value x, Value y) -> Value {
            return isMax ? maxps(ob, ol, x, y) : arith::AddFOp::create(ob, ol, x, y).getResult();
          });
          vector::StoreOp::create(ob, ol, scaled(ob, ol, r), s.rowBuf,
                                  ValueRange{cIdx(ob, ol, slot), g0});
        },
        n);
    forEach(b, l, whole, s.rows, [&](OpBuilder &ob, Location ol, Value row) {
      Value v = rowVector(ob, ol, row);
      // reassoc: a tree across lanes, not dependent scalar adds.
      Value r = isMax ? laneMax(ob, ol, v)
                      : vector::ReductionOp::create(ob, ol, vector::CombiningKind::ADD, v,
                                                    Value(), arith::FastMathFlags::reassoc)
                            .getResult();
      memref::StoreOp::create(ob, ol, scaled(ob, ol, r), s.rowBuf,
                              ValueRange{cIdx(ob, ol, slot), row});
    });
  }

  /// (A) the block max of each row (scaled), into kBlockMax.
  void blockMax() {
    reduceRows(kBlockMax, /*isMax=*/true, [&](OpBuilder &ob, Location ol, Value row) {
      Value negInf = splat(ob, ol, vt, -std::numeric_limits<float>::infinity());
      Value live = liveOf(ob, ol, row);
      SmallVector<Value> xs;
      for (int64_t c = 0; c < s.keyVectors; ++c)
        xs.push_back(guarded(ob, ol, live, c, negInf, [&](OpBuilder &gb, Location gl) {
          return loadAt(gb, gl, row, c);
        }));
      return tree(ob, ol, xs, [&](Value x, Value y) { return maxps(ob, ol, x, y); });
    });
  }

  /// (1) m', the exp shift and alpha per row group; returns m'.
  Value shifts() {
    Value mOut = s.mIn;
    for (const RowGroup &g : groups) {
      Value negInf = splat(b, l, g.type, -std::numeric_limits<float>::infinity());
      Value mOld = slice(s.mIn, g);
      Value mNew = arith::SelectOp::create(
          b, l, g.live, arith::MaximumFOp::create(b, l, mOld, load(kBlockMax, g)), mOld);
      Value empty = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, mNew, negInf);
      Value shift = arith::SelectOp::create(b, l, empty, splat(b, l, g.type, 0.0f), mNew);
      Value alpha = fastExp(b, l, arith::SubFOp::create(b, l, mOld, shift), s.scalef);
      vector::StoreOp::create(b, l, shift, s.rowBuf, at(kShift, g));
      vector::StoreOp::create(b, l, alpha, s.rowBuf, at(kAlpha, g));
      mOut = merge(mNew, mOut, g);
    }
    return mOut;
  }

  /// (B) p = exp(s - shift) in place of the scores, and each row's sum.
  void probabilities() {
    reduceRows(kRowSum, /*isMax=*/false, [&](OpBuilder &ob, Location ol, Value row) {
      Value shift = vector::BroadcastOp::create(
          ob, ol, vt,
          memref::LoadOp::create(ob, ol, s.rowBuf, ValueRange{cIdx(ob, ol, kShift), row}));
      // s scale - shift as one fma where the sums are still unscaled. The
      // difference comes first, then log2 e (in fastExp): x - m is exact
      // near the max, where x log2 e - m log2 e would carry m's rounding
      // (logits of 1e37 made it 1e30 and p infinite).
      Value scale = s.scale != 1.0f ? splat(ob, ol, vt, s.scale) : Value();
      Value negShift = scale ? arith::NegFOp::create(ob, ol, shift).getResult() : Value();
      // The row's scores, all loaded before any p is stored (the pairs
      // and pieces of p overwrite scores further on).
      SmallVector<Value> xs;
      for (int64_t c = 0; c < s.keyVectors; ++c)
        xs.push_back(loadAt(ob, ol, row, c));
      // p of vectors [c, c + unit) and their sum: stored in place, or as
      // bf16 pairs (unit 2) of the same two vectors. Past the row's live
      // vectors (whole pairs) nothing is computed or stored: phase 4
      // reads none of those slots.
      int64_t unit = s.pairs ? 2 : 1;
      Value zeros = splat(ob, ol, vt, 0.0f);
      Value live = liveOf(ob, ol, row);
      SmallVector<Value> sums;
      for (int64_t c = 0; c < s.keyVectors; c += unit)
        sums.push_back(guarded(ob, ol, live, c, zeros, [&](OpBuilder &gb, Location gl) {
          SmallVector<Value> p;
          for (int64_t k = c; k < c + unit; ++k) {
            Value arg = scale ? math::FmaOp::create(gb, gl, xs[k], scale, negShift).getResult()
                              : arith::SubFOp::create(gb, gl, xs[k], shift).getResult();
            Value e = fastExp(gb, gl, arg, s.scalef);
            if (!s.pairs)
              vector::StoreOp::create(gb, gl, e, s.scores,
                                      ValueRange{row, cIdx(gb, gl, k * s.lanes)});
            p.push_back(e);
          }
          if (s.pairs && s.pieces == 3)
            storeProbabilityPieces(gb, gl, p, s.scores, row, s.lanes, c, s.keyVectors);
          else if (s.pairs)
            storeProbabilityPairs(gb, gl, p, s.scores, row, s.lanes, c);
          return tree(gb, gl, p, [&](Value x, Value y) -> Value {
            return arith::AddFOp::create(gb, gl, x, y);
          });
        }));
      return tree(ob, ol, sums, [&](Value x, Value y) -> Value {
        return arith::AddFOp::create(ob, ol, x, y);
      });
    });
  }

  /// (2) l' = l alpha + sum per row group.
  Value sums() {
    Value lOut = s.lIn;
    for (const RowGroup &g : groups) {
      Value lOld = slice(s.lIn, g);
      Value lNew = arith::SelectOp::create(
          b, l, g.live, math::FmaOp::create(b, l, lOld, load(kAlpha, g), load(kRowSum, g)), lOld);
      lOut = merge(lNew, lOut, g);
    }
    return lOut;
  }
};

} // namespace

std::pair<Value, Value> emitOnlineSoftmax(OpBuilder &b, Location l, const SoftmaxStep &s) {
  OnlineSoftmaxEmitter e(b, l, s);
  e.blockMax();
  e.makeGroups();
  Value mOut = e.shifts();
  e.probabilities();
  Value lOut = e.sums();
  return {mOut, lOut};
}

} // namespace mlir::attn::cpu
