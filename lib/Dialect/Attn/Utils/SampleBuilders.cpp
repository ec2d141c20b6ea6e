//===- SampleBuilders.cpp - attn.sample and attn.gather, one item ---------===//

#include "attnir/Dialect/Attn/Utils/SampleBuilders.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;

namespace {
Value i32c(OpBuilder &b, Location loc, uint32_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), static_cast<int32_t>(v));
}
Value asI32(OpBuilder &b, Location loc, Value idx) {
  return arith::IndexCastUIOp::create(b, loc, b.getI32Type(), idx);
}
} // namespace

Value mlir::attn::buildPhiloxWord0(OpBuilder &b, Location loc, uint64_t key, Value c0,
                                   Value c1, Value c2, Value c3) {
  // The rounds of attnir::philox4x32Word0 (RouteReference.cpp); the keys
  // are constants, so each round's key words fold.
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  Value m0 = i32c(b, loc, 0xD2511F53u), m1 = i32c(b, loc, 0xCD9E8D57u);
  for (int round = 0; round < 10; ++round) {
    auto p0 = arith::MulUIExtendedOp::create(b, loc, m0, c0);
    auto p1 = arith::MulUIExtendedOp::create(b, loc, m1, c2);
    Value n0 = arith::XOrIOp::create(
        b, loc, arith::XOrIOp::create(b, loc, p1.getHigh(), c1), i32c(b, loc, k0));
    Value n2 = arith::XOrIOp::create(
        b, loc, arith::XOrIOp::create(b, loc, p0.getHigh(), c3), i32c(b, loc, k1));
    c1 = p1.getLow();
    c3 = p0.getLow();
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c0;
}

Value mlir::attn::buildSampleStream(OpBuilder &b, Location loc, Value offset) {
  if (!offset)
    return i32c(b, loc, 1);
  Value o = memref::LoadOp::create(b, loc, offset, ValueRange{cIdx(b, loc, 0)});
  if (o.getType() != b.getI32Type())
    o = arith::TruncIOp::create(b, loc, b.getI32Type(), o);
  Value twice = arith::ShLIOp::create(b, loc, o, i32c(b, loc, 1));
  return arith::OrIOp::create(b, loc, twice, i32c(b, loc, 1));
}

Value mlir::attn::buildSampleAt(OpBuilder &b, Location loc, uint64_t seed, Value stream, Value m,
                                Value bi, Value h, Value s) {
  Value w = buildPhiloxWord0(b, loc, seed, asI32(b, loc, s), asI32(b, loc, h),
                             asI32(b, loc, bi), stream);
  Type i64 = b.getI64Type();
  Value prod = arith::MulIOp::create(b, loc, arith::ExtUIOp::create(b, loc, i64, w),
                                     arith::IndexCastUIOp::create(b, loc, i64, m));
  Value hi = arith::ShRUIOp::create(b, loc, prod,
                                    arith::ConstantIntOp::create(b, loc, i64, 32));
  return arith::TruncIOp::create(b, loc, b.getI32Type(), hi);
}

namespace {
/// Where out[bi, h, s] comes from: x's row p of head hx, when `in`.
struct GatherSource {
  Value p, hx, in;
};
GatherSource gatherSource(OpBuilder &b, Location loc, Value x, Value rows, Value bi, Value h,
                          Value s) {
  Value p = arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                       memref::LoadOp::create(b, loc, rows, ValueRange{bi, h, s}));
  // x's head for rows' head h: h Hx / H (Hx divides H).
  Value hx = arith::DivUIOp::create(
      b, loc, arith::MulIOp::create(b, loc, h, dimOf(b, loc, x, 1)), dimOf(b, loc, rows, 1));
  // A negative position is a large unsigned index: one compare.
  Value in = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, p, dimOf(b, loc, x, 2));
  return {p, hx, in};
}
Value zeroOf(OpBuilder &b, Location loc, Type t) {
  return arith::ConstantOp::create(b, loc, cast<TypedAttr>(b.getZeroAttr(t)));
}
} // namespace

void mlir::attn::buildGatherAt(OpBuilder &b, Location loc, Value x, Value rows, Value out,
                               ArrayRef<Value> at, int64_t width) {
  GatherSource src = gatherSource(b, loc, x, rows, at[0], at[1], at[2]);
  SmallVector<Value> from(at);
  from[1] = src.hx;
  from[2] = src.p;
  Type elt = cast<MemRefType>(x.getType()).getElementType();
  Type t = width == 1 ? elt : Type(VectorType::get({width}, elt));
  auto ifIn = scf::IfOp::create(b, loc, TypeRange{t}, src.in, /*withElse=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&ifIn.getThenRegion().front());
    Value v = width == 1 ? memref::LoadOp::create(b, loc, x, from).getResult()
                         : vector::LoadOp::create(b, loc, cast<VectorType>(t), x, from, false,
                                                  llvm::MaybeAlign(16))
                               .getResult();
    scf::YieldOp::create(b, loc, v);
    b.setInsertionPointToStart(&ifIn.getElseRegion().front());
    scf::YieldOp::create(b, loc, zeroOf(b, loc, t));
  }
  if (width == 1)
    memref::StoreOp::create(b, loc, ifIn.getResult(0), out, at);
  else
    vector::StoreOp::create(b, loc, ifIn.getResult(0), out, at, false, llvm::MaybeAlign(16));
}

void mlir::attn::buildGatherRow(OpBuilder &b, Location loc, Value x, Value rows, Value out,
                                Value bi, Value h, Value s) {
  GatherSource src = gatherSource(b, loc, x, rows, bi, h, s);
  Type elt = cast<MemRefType>(x.getType()).getElementType();
  bool lse = cast<MemRefType>(x.getType()).getRank() == 3;
  // One branch per row: copy its features, or zeros.
  auto copy = [&](OpBuilder &fb, Location l, bool in) {
    auto one = [&](OpBuilder &eb, Location el, ArrayRef<Value> d) {
      SmallVector<Value> to{bi, h, s}, from{bi, src.hx, src.p};
      to.append(d.begin(), d.end());
      from.append(d.begin(), d.end());
      Value v = in ? memref::LoadOp::create(eb, el, x, from).getResult() : zeroOf(eb, el, elt);
      memref::StoreOp::create(eb, el, v, out, to);
    };
    if (lse)
      one(fb, l, {});
    else
      forEach(fb, l, cIdx(fb, l, 0), dimOf(fb, l, x, 3),
              [&](OpBuilder &eb, Location el, Value d) { one(eb, el, {d}); });
  };
  auto ifIn = scf::IfOp::create(b, loc, src.in, /*withElse=*/true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&ifIn.getThenRegion().front());
  copy(b, loc, true);
  b.setInsertionPointToStart(&ifIn.getElseRegion().front());
  copy(b, loc, false);
}
