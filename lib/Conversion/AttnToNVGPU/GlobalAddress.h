//===- GlobalAddress.h - 32-bit offsets from per-plane global pointers -*- C++ -*-===//
//
// The gather-heavy kernels (the Hopper producer's gathered rows, the
// landmark units kernel) address global memory as a per-(b, h) base
// pointer plus a 32-bit row offset widened once: the memref forms were
// 64-bit index arithmetic, IMAD.WIDE chains among those kernels' top stall
// sites. These are the pieces both build on.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_LIB_CONVERSION_ATTNTONVGPU_GLOBALADDRESS_H
#define ATTNIR_LIB_CONVERSION_ATTNTONVGPU_GLOBALADDRESS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::attn::cuda {

/// x (an index or an integer of at most 64 bits, never negative) as i64.
inline Value zext64(ImplicitLocOpBuilder &b, Value x) {
  if (x.getType().isIndex())
    return arith::IndexCastUIOp::create(b, b.getI64Type(), x);
  return arith::ExtUIOp::create(b, b.getI64Type(), x);
}

/// A global pointer to byte `offset` (i64) of memref `m`'s buffer.
inline Value globalBytes(ImplicitLocOpBuilder &b, Value m, Value offset) {
  auto ptr1 = LLVM::LLVMPointerType::get(b.getContext(), 1);
  Value base = zext64(b, memref::ExtractAlignedPointerAsIndexOp::create(b, m));
  Value at = arith::AddIOp::create(b, base, offset);
  return LLVM::IntToPtrOp::create(b, ptr1, at);
}

/// `base` (a global pointer) advanced by row32 * rowBytes + colBytes bytes,
/// the row (and column, if given) 32-bit and widened once each.
inline Value rowBytesPtr(ImplicitLocOpBuilder &b, Value base, Value row32,
                         int64_t rowBytes, Value colBytes = Value()) {
  Value off = arith::MulIOp::create(b, zext64(b, row32),
                                    arith::ConstantIntOp::create(b, b.getI64Type(), rowBytes));
  if (colBytes)
    off = arith::AddIOp::create(b, off, zext64(b, colBytes));
  return LLVM::GEPOp::create(b, base.getType(), b.getI8Type(), base, ValueRange{off});
}

} // namespace mlir::attn::cuda

#endif
