//===- RuleBlocks.cpp - a mask rule over a block of pairs, by intervals ---===//
//
// The block rule of a mask_rule region, derived from the region itself:
// every value is evaluated as an interval over the block's pairs (i in
// [i0, i1), j in [j0, j1), b and h exact), booleans as (can be true, can
// be false). A block is empty when the rule cannot be true and full when it
// cannot be false. Reads of a rule operand over a range of indices take the
// minimum and maximum of the range (a loop over it), so data-dependent rules
// such as document ids get exact block decisions wherever the ids of a
// block are uniform. Unsigned operations (divui, remui, ult, ...) are
// bounded where their operands' lower bounds are not negative (then they
// are the signed ones), else they give the whole range, decided at run
// time: index arithmetic on dimensions (a chunk i / ceil(N / C), a head
// test h < H / 2) is written unsigned as often as signed. Anything the
// analysis cannot bound (transcendentals, float products, ...) becomes
// "unknown", which makes the block partial: sound, never wrong, only
// slower.
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/Utils/RuleEmitter.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include <limits>

using namespace mlir;
using namespace mlir::attn;

namespace {
/// An abstract value: an interval [lo, hi] (integers, index, floats) or,
/// for i1, whether it can be true and whether it can be false.
struct Abs {
  bool known = false;
  Value lo, hi;
};

struct Intervals {
  OpBuilder &b;
  Location loc;
  const RuleOperands &operands;

  Value yes() { return arith::ConstantIntOp::create(b, loc, 1, 1); }
  Value no() { return arith::ConstantIntOp::create(b, loc, 0, 1); }
  Value notB(Value x) { return arith::XOrIOp::create(b, loc, x, yes()); }
  Value andB(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value orB(Value x, Value y) { return arith::OrIOp::create(b, loc, x, y); }
  bool isFloat(Value v) { return isa<FloatType>(v.getType()); }
  /// x pred y on floats (ordered) or signed integers.
  Value cmp(Value x, Value y, arith::CmpFPredicate fp, arith::CmpIPredicate ip) {
    if (isFloat(x))
      return arith::CmpFOp::create(b, loc, fp, x, y);
    return arith::CmpIOp::create(b, loc, ip, x, y);
  }
  Value lt(Value x, Value y) {
    return cmp(x, y, arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt);
  }
  Value le(Value x, Value y) {
    return cmp(x, y, arith::CmpFPredicate::OLE, arith::CmpIPredicate::sle);
  }
  Value eq(Value x, Value y) {
    return cmp(x, y, arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq);
  }
  Value min(Value x, Value y) {
    return isFloat(x) ? arith::MinimumFOp::create(b, loc, x, y).getResult()
                      : arith::MinSIOp::create(b, loc, x, y).getResult();
  }
  Value max(Value x, Value y) {
    return isFloat(x) ? arith::MaximumFOp::create(b, loc, x, y).getResult()
                      : arith::MaxSIOp::create(b, loc, x, y).getResult();
  }
  Abs exact(Value v) { return {true, v, v}; }
  Value sel(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value intConst(Type t, const APInt &v) {
    return arith::ConstantOp::create(b, loc, IntegerAttr::get(t, v));
  }
  unsigned widthOf(Type t) {
    return t.isIndex() ? 64 : cast<IntegerType>(t).getWidth();
  }
  /// `a` where `ok` holds at run time, else the whole signed range of `t`
  /// (every bit pattern: sound for any result).
  Abs orWholeRange(Value ok, Abs a, Type t) {
    unsigned w = widthOf(t);
    return {true, sel(ok, a.lo, intConst(t, APInt::getSignedMinValue(w))),
            sel(ok, a.hi, intConst(t, APInt::getSignedMaxValue(w)))};
  }
  /// A boolean that may be anything where `ok` fails.
  Abs orEither(Value ok, Abs a) {
    return {true, orB(a.lo, notB(ok)), orB(a.hi, notB(ok))};
  }
  Value nonNegative(Value x) {
    Value zero = intConst(x.getType(), APInt(widthOf(x.getType()), 0));
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, x, zero);
  }
  Value positive(Value x) {
    Value zero = intConst(x.getType(), APInt(widthOf(x.getType()), 0));
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, x, zero);
  }
  /// min and max of f over the corners of x and y (f monotone in each
  /// argument on the box: sums, differences, products, quotients by a
  /// positive divisor).
  Abs corners(const Abs &x, const Abs &y, function_ref<Value(Value, Value)> f) {
    Value a = f(x.lo, y.lo), c = f(x.lo, y.hi), d = f(x.hi, y.lo), e = f(x.hi, y.hi);
    return {true, min(min(a, c), min(d, e)), max(max(a, c), max(d, e))};
  }
  /// x / y (truncating) for y > 0 at run time; the divisor is replaced by 1
  /// elsewhere (no trap), where the result is the whole range. Unsigned
  /// division also needs x >= 0 (then it is the signed one).
  Abs quotient(const Abs &x, const Abs &y, bool isUnsigned) {
    Type t = x.lo.getType();
    Value ok = positive(y.lo);
    if (isUnsigned)
      ok = andB(ok, nonNegative(x.lo));
    Value one = intConst(t, APInt(widthOf(t), 1));
    Abs safe{true, sel(ok, y.lo, one), sel(ok, y.hi, one)};
    Abs q = corners(x, safe, [&](Value p, Value r) {
      return arith::DivSIOp::create(b, loc, p, r).getResult();
    });
    return orWholeRange(ok, q, t);
  }
  /// x mod y for x >= 0 and y > 0 at run time: in [0, min(x, y - 1)], and
  /// exactly [x.lo mod y, x.hi mod y] when y is one value and x's interval
  /// lies in one period.
  Abs remainder(const Abs &x, const Abs &y) {
    Type t = x.lo.getType();
    Value ok = andB(positive(y.lo), nonNegative(x.lo));
    Value one = intConst(t, APInt(widthOf(t), 1));
    Value zero = intConst(t, APInt(widthOf(t), 0));
    Value ylo = sel(ok, y.lo, one);
    auto div = [&](Value p) { return arith::DivSIOp::create(b, loc, p, ylo); };
    auto rem = [&](Value p) { return arith::RemSIOp::create(b, loc, p, ylo); };
    Value onePeriod = andB(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                                 y.lo, y.hi),
                           arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                                 div(x.lo), div(x.hi)));
    Value top = min(x.hi, arith::SubIOp::create(b, loc, y.hi, one));
    Abs r{true, sel(onePeriod, rem(x.lo), zero), sel(onePeriod, rem(x.hi), top)};
    return orWholeRange(ok, r, t);
  }

  /// (can be true, can be false) of `pred(x, y)` for x in a, y in b.
  Abs compare(StringRef pred, const Abs &x, const Abs &y) {
    if (pred == "ne") {
      Abs e = compare("eq", x, y);
      return {true, e.hi, e.lo};
    }
    if (pred == "gt")
      return compare("lt", y, x);
    if (pred == "ge")
      return compare("le", y, x);
    Value t, f;
    if (pred == "eq") {
      t = andB(le(x.lo, y.hi), le(y.lo, x.hi));
      f = notB(andB(andB(eq(x.lo, x.hi), eq(y.lo, y.hi)), eq(x.lo, y.lo)));
    } else if (pred == "lt") {
      t = lt(x.lo, y.hi);
      f = notB(lt(x.hi, y.lo));
    } else if (pred == "le") {
      t = le(x.lo, y.hi);
      f = notB(le(x.hi, y.lo));
    } else {
      return Abs();
    }
    // (lo, hi) of a boolean: lo = can be false, hi = can be true.
    return {true, f, t};
  }

  /// min and max of rule operand k over the box of index intervals.
  Abs readRange(unsigned k, ArrayRef<Abs> idx, Type elt) {
    SmallVector<Value> lows, highs;
    for (auto [d, a] : llvm::enumerate(idx)) {
      Value hiDim = arith::SubIOp::create(
          b, loc, operands.dim(b, loc, k, d),
          arith::ConstantIndexOp::create(b, loc, 1));
      Value zero = arith::ConstantIndexOp::create(b, loc, 0);
      auto clampIdx = [&](Value x) -> Value {
        return arith::MinSIOp::create(b, loc,
                                      arith::MaxSIOp::create(b, loc, x, zero),
                                      hiDim);
      };
      lows.push_back(clampIdx(a.lo));
      highs.push_back(arith::AddIOp::create(
          b, loc, clampIdx(a.hi), arith::ConstantIndexOp::create(b, loc, 1)));
    }
    Value init0, init1;
    if (auto ft = dyn_cast<FloatType>(elt)) {
      init0 = arith::ConstantOp::create(
          b, loc, FloatAttr::get(ft, std::numeric_limits<double>::infinity()));
      init1 = arith::ConstantOp::create(
          b, loc, FloatAttr::get(ft, -std::numeric_limits<double>::infinity()));
    } else {
      unsigned w = cast<IntegerType>(elt).getWidth();
      init0 = arith::ConstantOp::create(
          b, loc, IntegerAttr::get(elt, APInt::getSignedMaxValue(w)));
      init1 = arith::ConstantOp::create(
          b, loc, IntegerAttr::get(elt, APInt::getSignedMinValue(w)));
    }
    // The last dimension may be spread over lanes (RuleOperands::spread).
    const auto &spread = operands.spread;
    unsigned last = idx.size() - 1;
    SmallVector<Value> ivs;
    std::function<SmallVector<Value>(unsigned, Value, Value)> nest =
        [&](unsigned d, Value mn, Value mx) -> SmallVector<Value> {
      if (d == idx.size()) {
        Value x = operands.load(b, loc, k, ivs);
        return {min(mn, x), max(mx, x)};
      }
      bool spreadHere = spread && d == last;
      Value start = spreadHere
                        ? arith::AddIOp::create(b, loc, lows[d], spread->lane)
                              .getResult()
                        : lows[d];
      auto loop = scf::ForOp::create(
          b, loc, start, highs[d],
          arith::ConstantIndexOp::create(b, loc,
                                         spreadHere ? spread->lanes : 1),
          ValueRange{mn, mx});
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(loop.getBody());
      ivs.push_back(loop.getInductionVar());
      SmallVector<Value> r = nest(d + 1, loop.getRegionIterArg(0),
                                  loop.getRegionIterArg(1));
      ivs.pop_back();
      scf::YieldOp::create(b, loc, r);
      return {loop.getResult(0), loop.getResult(1)};
    };
    SmallVector<Value> r = nest(0, init0, init1);
    if (spread)
      r = {spread->combine(b, loc, r[0], true),
           spread->combine(b, loc, r[1], false)};
    return {true, r[0], r[1]};
  }

  Abs visit(Operation &op, ArrayRef<Abs> in, unsigned numLeading) {
    for (const Abs &a : in)
      if (!a.known && !isa<tensor::ExtractOp, tensor::DimOp>(op))
        return Abs();
    // Booleans are (can be false, can be true), not intervals: only the
    // logic ops and select's condition take them.
    bool boolOp = isa<arith::AndIOp, arith::OrIOp, arith::XOrIOp>(op);
    for (auto [n, v] : llvm::enumerate(op.getOperands()))
      if (v.getType().isInteger(1) && !boolOp &&
          !(isa<arith::SelectOp>(op) && (n == 0 || op.getResult(0)
                                                        .getType()
                                                        .isInteger(1))))
        return Abs();
    Type rt = op.getNumResults() ? op.getResult(0).getType() : Type();
    if (auto c = dyn_cast<arith::ConstantOp>(op)) {
      Value v = arith::ConstantOp::create(b, loc, cast<TypedAttr>(c.getValue()));
      if (rt.isInteger(1)) // lo = can be false, hi = can be true
        return {true, notB(v), v};
      return exact(v);
    }
    if (auto x = dyn_cast<tensor::ExtractOp>(op)) {
      SmallVector<Abs> idx(in.begin() + 1, in.end());
      for (const Abs &a : idx)
        if (!a.known)
          return Abs();
      unsigned k = cast<BlockArgument>(x.getTensor()).getArgNumber() -
                   numLeading;
      return readRange(k, idx, rt);
    }
    if (auto d = dyn_cast<tensor::DimOp>(op)) {
      APInt c;
      (void)matchPattern(d.getIndex(), m_ConstantInt(&c));
      return exact(operands.dim(
          b, loc, cast<BlockArgument>(d.getSource()).getArgNumber() - numLeading,
          c.getZExtValue()));
    }
    // `op` again on the given bounds (monotone ops).
    auto again = [&](ValueRange args) {
      OperationState st(loc, op.getName());
      st.addOperands(args);
      st.addTypes(rt);
      return b.create(st)->getResult(0);
    };
    if (isa<arith::IndexCastOp, arith::ExtSIOp, arith::SIToFPOp>(op))
      return {true, again(in[0].lo), again(in[0].hi)};
    if (isa<arith::AddIOp, arith::AddFOp>(op))
      return {true, again({in[0].lo, in[1].lo}), again({in[0].hi, in[1].hi})};
    if (isa<arith::SubIOp, arith::SubFOp>(op))
      return {true, again({in[0].lo, in[1].hi}), again({in[0].hi, in[1].lo})};
    if (isa<arith::MinSIOp>(op))
      return {true, min(in[0].lo, in[1].lo), min(in[0].hi, in[1].hi)};
    if (isa<arith::MaxSIOp>(op))
      return {true, max(in[0].lo, in[1].lo), max(in[0].hi, in[1].hi)};
    if (isa<arith::MinUIOp, arith::MaxUIOp>(op)) {
      // The signed ones where both lower bounds are not negative.
      bool isMin = isa<arith::MinUIOp>(op);
      auto f = [&](Value x, Value y) { return isMin ? min(x, y) : max(x, y); };
      Value ok = andB(nonNegative(in[0].lo), nonNegative(in[1].lo));
      return orWholeRange(ok, {true, f(in[0].lo, in[1].lo), f(in[0].hi, in[1].hi)}, rt);
    }
    if (isa<arith::MulIOp>(op))
      return corners(in[0], in[1], [&](Value x, Value y) {
        return arith::MulIOp::create(b, loc, x, y).getResult();
      });
    if (isa<arith::DivSIOp, arith::DivUIOp>(op))
      return quotient(in[0], in[1], isa<arith::DivUIOp>(op));
    if (isa<arith::RemSIOp, arith::RemUIOp>(op))
      return remainder(in[0], in[1]);
    if (isa<arith::ExtUIOp, arith::IndexCastUIOp>(op)) {
      // Zero extension is the signed one on values that are not negative;
      // elsewhere anything from 0 to the source's unsigned maximum.
      unsigned w = widthOf(op.getOperand(0).getType());
      Value ok = nonNegative(in[0].lo);
      Value top = intConst(rt, APInt::getLowBitsSet(widthOf(rt), w));
      return {true, sel(ok, again(in[0].lo), intConst(rt, APInt(widthOf(rt), 0))),
              sel(ok, again(in[0].hi), top)};
    }
    if (rt && rt.isInteger(1)) {
      // Booleans: lo = can be false, hi = can be true.
      if (isa<arith::AndIOp>(op))
        return {true, orB(in[0].lo, in[1].lo), andB(in[0].hi, in[1].hi)};
      if (isa<arith::OrIOp>(op))
        return {true, andB(in[0].lo, in[1].lo), orB(in[0].hi, in[1].hi)};
      if (isa<arith::XOrIOp>(op))
        return {true,
                orB(andB(in[0].hi, in[1].hi), andB(in[0].lo, in[1].lo)),
                orB(andB(in[0].hi, in[1].lo), andB(in[0].lo, in[1].hi))};
      if (auto c = dyn_cast<arith::CmpIOp>(op)) {
        using P = arith::CmpIPredicate;
        P p = c.getPredicate();
        StringRef name = p == P::eq                 ? "eq"
                         : p == P::ne               ? "ne"
                         : p == P::slt || p == P::ult ? "lt"
                         : p == P::sle || p == P::ule ? "le"
                         : p == P::sgt || p == P::ugt ? "gt"
                         : p == P::sge || p == P::uge ? "ge"
                                                      : "";
        Abs r = compare(name, in[0], in[1]);
        if (!r.known || !(p == P::ult || p == P::ule || p == P::ugt || p == P::uge))
          return r;
        // Unsigned: the signed comparison where neither side can be
        // negative, else either answer.
        return orEither(andB(nonNegative(in[0].lo), nonNegative(in[1].lo)), r);
      }
      if (auto c = dyn_cast<arith::CmpFOp>(op)) {
        using P = arith::CmpFPredicate;
        StringRef name = c.getPredicate() == P::OEQ   ? "eq"
                         : c.getPredicate() == P::OLT ? "lt"
                         : c.getPredicate() == P::OLE ? "le"
                         : c.getPredicate() == P::OGT ? "gt"
                         : c.getPredicate() == P::OGE ? "ge"
                                                      : "";
        return compare(name, in[0], in[1]);
      }
    }
    if (isa<arith::SelectOp>(op)) {
      // The hull of the branches the condition allows.
      const Abs &c = in[0], &x = in[1], &y = in[2];
      if (rt.isInteger(1))
        return {true, orB(andB(c.hi, x.lo), andB(c.lo, y.lo)),
                orB(andB(c.hi, x.hi), andB(c.lo, y.hi))};
      Value lo = arith::SelectOp::create(
          b, loc, c.hi,
          arith::SelectOp::create(b, loc, c.lo, min(x.lo, y.lo), x.lo), y.lo);
      Value hi = arith::SelectOp::create(
          b, loc, c.hi,
          arith::SelectOp::create(b, loc, c.lo, max(x.hi, y.hi), x.hi), y.hi);
      return {true, lo, hi};
    }
    return Abs();
  }
};
} // namespace

std::pair<Value, Value> mlir::attn::emitRuleOnBlock(
    OpBuilder &b, Location loc, Region &rule, Value bIdx, Value h, Value i0,
    Value i1, Value j0, Value j1, const RuleOperands &operands) {
  Intervals iv{b, loc, operands};
  Block &blk = rule.front();
  unsigned numLeading = 4;
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  DenseMap<Value, Abs> abs;
  abs[blk.getArgument(0)] = iv.exact(bIdx);
  abs[blk.getArgument(1)] = iv.exact(h);
  abs[blk.getArgument(2)] = {true, i0, arith::SubIOp::create(b, loc, i1, one)};
  abs[blk.getArgument(3)] = {true, j0, arith::SubIOp::create(b, loc, j1, one)};
  for (BlockArgument a : blk.getArguments().drop_front(numLeading))
    abs[a] = Abs(); // tensors: read through extract only
  for (Operation &op : blk) {
    if (auto y = dyn_cast<YieldOp>(op)) {
      Abs r = abs.lookup(y.getValue());
      if (!r.known)
        return {iv.yes(), iv.no()};
      return {r.hi, iv.notB(r.lo)};
    }
    SmallVector<Abs> in;
    for (Value v : op.getOperands())
      in.push_back(abs.lookup(v));
    abs[op.getResult(0)] = iv.visit(op, in, numLeading);
  }
  return {iv.yes(), iv.no()};
}
