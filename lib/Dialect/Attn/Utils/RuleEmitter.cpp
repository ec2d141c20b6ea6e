//===- RuleEmitter.cpp - inline a rule region, scalar or vector -----------===//

#include "attnir/Dialect/Attn/Utils/RuleEmitter.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::attn;

namespace {
struct Emitter {
  OpBuilder &b;
  Location loc;
  int64_t lanes;

  Type shaped(Type scalar) const {
    return lanes ? VectorType::get({lanes}, scalar) : scalar;
  }
  /// A scalar constant of `type` as the mode's value.
  Value constant(TypedAttr attr) const {
    if (!lanes)
      return arith::ConstantOp::create(b, loc, attr);
    auto vt = VectorType::get({lanes}, attr.getType());
    return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(vt, attr));
  }
  Value index(int64_t v) const { return constant(b.getIndexAttr(v)); }
  /// `v` (a scalar or a vector of lanes) as the mode's value of element
  /// type `want` (integers cast to index when `want` is index).
  Value adapt(Value v, Type want) const {
    Type elt = getElementTypeOrSelf(v.getType());
    if (elt != want && isa<IndexType>(want))
      v = arith::IndexCastOp::create(
          b, loc, isa<VectorType>(v.getType()) ? shaped(want) : want, v);
    if (lanes && !isa<VectorType>(v.getType()))
      v = vector::BroadcastOp::create(b, loc, shaped(want), v);
    return v;
  }
  /// x clamped into [0, extent - 1] (index values of the mode).
  Value clamp(Value x, Value extent) const {
    Value hi = arith::SubIOp::create(b, loc, adapt(extent, b.getIndexType()),
                                     index(1));
    Value lo = arith::MaxSIOp::create(b, loc, x, index(0));
    return arith::MinSIOp::create(b, loc, lo, hi);
  }
  /// Integer division or remainder with the reference's guards: by 0 gives
  /// 0, signed by -1 gives -x (division) or 0 (remainder).
  Value guardedDivide(Operation &op, Value x, Value d) const {
    APInt c;
    bool isSigned = isa<arith::DivSIOp, arith::RemSIOp>(op);
    bool isDiv = isa<arith::DivSIOp, arith::DivUIOp>(op);
    if (matchPattern(d, m_ConstantInt(&c)) && !c.isZero() &&
        !(isSigned && c.isAllOnes()))
      return cloneWith(op, {x, d});
    Type t = x.getType();
    auto cst = [&](int64_t v) {
      Type elt = getElementTypeOrSelf(t);
      return constant(isa<IndexType>(elt)
                          ? TypedAttr(b.getIndexAttr(v))
                          : TypedAttr(b.getIntegerAttr(elt, v)));
    };
    Value zero = cst(0), one = cst(1), minusOne = cst(-1);
    Value isZero =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, d, zero);
    Value isMinusOne =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, d, minusOne);
    Value bad = isSigned ? arith::OrIOp::create(b, loc, isZero, isMinusOne)
                               .getResult()
                         : isZero;
    Value safe = arith::SelectOp::create(b, loc, bad, one, d);
    Value r = cloneWith(op, {x, safe});
    if (isSigned) {
      Value neg = isDiv ? arith::SubIOp::create(b, loc, zero, x).getResult()
                        : zero;
      r = arith::SelectOp::create(b, loc, isMinusOne, neg, r);
    }
    return arith::SelectOp::create(b, loc, isZero, zero, r);
  }
  /// `op` on new operands, its result in the mode's shape.
  Value cloneWith(Operation &op, ValueRange operands) const {
    OperationState st(loc, op.getName());
    st.addOperands(operands);
    st.addAttributes(op.getAttrs());
    st.addTypes(shaped(op.getResult(0).getType()));
    return b.create(st)->getResult(0);
  }
};
} // namespace

RuleOperands mlir::attn::memrefRuleOperands(SmallVector<Value> buffers) {
  RuleOperands ops;
  ops.dim = [buffers](OpBuilder &b, Location l, unsigned k,
                      unsigned d) -> Value {
    return memref::DimOp::create(b, l, buffers[k], d);
  };
  ops.load = [buffers](OpBuilder &b, Location l, unsigned k,
                       ValueRange idx) -> Value {
    return memref::LoadOp::create(b, l, buffers[k], idx);
  };
  return ops;
}

Value mlir::attn::emitRule(OpBuilder &b, Location loc, Region &rule,
                           ValueRange leading, const RuleOperands &operands,
                           int64_t lanes) {
  return emitRegion(b, loc, rule, leading, operands, lanes).front();
}

SmallVector<Value> mlir::attn::emitRegion(OpBuilder &b, Location loc,
                                          Region &rule, ValueRange leading,
                                          const RuleOperands &operands,
                                          int64_t lanes) {
  Emitter e{b, loc, lanes};
  Block &blk = rule.front();
  unsigned numLeading = leading.size();
  IRMapping map;
  for (auto [k, v] : llvm::enumerate(leading))
    map.map(blk.getArgument(k), e.adapt(v, blk.getArgument(k).getType()));
  auto operandOf = [&](Value t) {
    return cast<BlockArgument>(t).getArgNumber() - numLeading;
  };
  for (Operation &op : blk) {
    if (auto y = dyn_cast<YieldOp>(op))
      return llvm::map_to_vector(y.getValues(),
                                 [&](Value v) { return map.lookup(v); });
    Value r;
    if (auto c = dyn_cast<arith::ConstantOp>(op)) {
      r = e.constant(cast<TypedAttr>(c.getValue()));
    } else if (auto x = dyn_cast<tensor::ExtractOp>(op)) {
      unsigned k = operandOf(x.getTensor());
      SmallVector<Value> idx;
      for (auto [d, v] : llvm::enumerate(x.getIndices()))
        idx.push_back(e.clamp(map.lookup(v), operands.dim(b, loc, k, d)));
      r = operands.load(b, loc, k, idx);
    } else if (auto d = dyn_cast<tensor::DimOp>(op)) {
      APInt c;
      (void)matchPattern(d.getIndex(), m_ConstantInt(&c));
      r = e.adapt(operands.dim(b, loc, operandOf(d.getSource()),
                               c.getZExtValue()),
                  b.getIndexType());
    } else if (isa<math::AbsIOp>(op)) {
      // As compare and select: no target has to lower absi on index.
      Value x = map.lookup(op.getOperand(0));
      Type elt = getElementTypeOrSelf(x.getType());
      Value zero = e.constant(isa<IndexType>(elt)
                                  ? TypedAttr(b.getIndexAttr(0))
                                  : TypedAttr(b.getIntegerAttr(elt, 0)));
      Value neg = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, x,
                                        zero);
      r = arith::SelectOp::create(b, loc, neg,
                                  arith::SubIOp::create(b, loc, zero, x), x);
    } else if (isa<arith::DivSIOp, arith::DivUIOp, arith::RemSIOp,
                   arith::RemUIOp>(op)) {
      r = e.guardedDivide(op, map.lookup(op.getOperand(0)),
                          map.lookup(op.getOperand(1)));
    } else {
      SmallVector<Value> args;
      for (Value v : op.getOperands())
        args.push_back(map.lookup(v));
      if (operands.lower)
        r = operands.lower(b, loc, op, args);
      if (!r)
        r = e.cloneWith(op, args);
    }
    map.map(op.getResult(0), r);
  }
  llvm_unreachable("verified rule regions end in attn.yield");
}
