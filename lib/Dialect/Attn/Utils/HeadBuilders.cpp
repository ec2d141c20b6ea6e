//===- HeadBuilders.cpp - attn.split_heads / join_heads, one item ---------===//

#include "attnir/Dialect/Attn/Utils/HeadBuilders.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;

Value mlir::attn::splitHeadStart(OpBuilder &b, Location loc, Value heads, int64_t p,
                                 int64_t parts) {
  Value scaled = arith::MulIOp::create(b, loc, heads, cIdx(b, loc, p));
  return arith::DivUIOp::create(b, loc, scaled, cIdx(b, loc, parts));
}

Value mlir::attn::splitHeadCount(OpBuilder &b, Location loc, Value heads, int64_t parts) {
  return arith::CeilDivUIOp::create(b, loc, heads, cIdx(b, loc, parts));
}

Value mlir::attn::joinHeadStart(OpBuilder &b, Location loc, Value each, int64_t p) {
  return arith::MulIOp::create(b, loc, each, cIdx(b, loc, p));
}

void mlir::attn::buildHeadCopyAt(OpBuilder &b, Location loc, Value src, Value dst,
                                 ArrayRef<Value> at, int64_t dim, Value srcHead, Value dstHead,
                                 int64_t width) {
  SmallVector<Value> from(at), to(at);
  from[dim] = srcHead;
  to[dim] = dstHead;
  if (width == 1) {
    Value v = memref::LoadOp::create(b, loc, src, from);
    memref::StoreOp::create(b, loc, v, dst, to);
    return;
  }
  auto vt = VectorType::get({width}, cast<MemRefType>(src.getType()).getElementType());
  auto align = llvm::MaybeAlign(16);
  Value v = vector::LoadOp::create(b, loc, vt, src, from, false, align);
  vector::StoreOp::create(b, loc, v, dst, to, false, align);
}
