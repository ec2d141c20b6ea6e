//===- WgmmaOps.h - warpgroup MMA pieces shared by the Hopper kernels -*- C++ -*-===//
//
// What the attention kernel (FlashKernelHopper.cpp) and the chunked
// linear kernels (LinearChunkWgmma.cpp) both emit for wgmma (sm_90a):
// shared-memory descriptors of tiles in the 128-byte swizzle, one MMA with
// A from registers (inline PTX: MLIR 22's wgmma op has no register-A form),
// and the operand fence that keeps LLVM from reading accumulators before
// their group retired.
//
// Tiles are stored as column boxes of 64 16-bit elements (128 B per row;
// the swizzle atom is 8 rows = 1024 B, 1024-aligned): 16-byte piece p of
// row r lands at piece p ^ (r % 8). A descriptor holds the start address
// >> 4, the leading and stride byte offsets >> 4 and the swizzle mode
// (bits 62-63 = 1). K-major operands step 32 B per k16 inside a box;
// MN-major ones (B transposed by the instruction) step 16 rows (2048 B)
// per k16, the next 64 columns one box away (the leading offset).
//
// An m64nN accumulator is four warps of mma.sync's m16n8 layout, warp w of
// the warpgroup holding rows [16 w, 16 w + 16): MmaFragments' cell
// arithmetic reads it unchanged.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_LIB_CONVERSION_ATTNTONVGPU_WGMMAOPS_H
#define ATTNIR_LIB_CONVERSION_ATTNTONVGPU_WGMMAOPS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <algorithm>
#include <string>

namespace mlir::attn::cuda::wgmma {

constexpr int64_t kBoxCols = 64; // 16-bit elements per 128-byte box row

/// The row bytes of a swizzled tile `width` 16-bit elements wide: 128 (boxes
/// of 64 columns), or 64 for a 32-wide tile (the 64-byte swizzle).
inline int64_t rowBytesOf(int64_t width) { return std::min<int64_t>(width, kBoxCols) * 2; }

/// A shared-memory descriptor of the tile at the shared address `addr`
/// (i64): 128-byte swizzle, or 64-byte with `rowBytes` 64 (mode 2).
inline Value descriptor(ImplicitLocOpBuilder &b, Value addr, int64_t lbo, int64_t sbo,
                        int64_t rowBytes = 128) {
  auto k64 = [&](int64_t v) {
    return arith::ConstantOp::create(b, b.getI64IntegerAttr(v)).getResult();
  };
  Value start = arith::ShRUIOp::create(b, arith::AndIOp::create(b, addr, k64(0x3FFFF)), k64(4));
  return arith::OrIOp::create(
             b, start, k64(((lbo >> 4) << 16) | ((sbo >> 4) << 32) |
                           (int64_t(rowBytes == 64 ? 2 : 1) << 62)))
      .getResult();
}

/// Element index of (row, col) in a swizzled tile of `rows` rows of
/// `rowBytes` (128: boxes of 64 columns; 64: one box of 32) viewed as one
/// flat array (col a multiple of 8 keeps 16-byte pieces whole). The
/// swizzle XORs address bits 4.. with bits 7..: piece p of row r lands at
/// p ^ ((r rowBytes / 128) % (rowBytes / 16)).
inline Value swizzledIndex(ImplicitLocOpBuilder &b, Value row, Value col, int64_t rows,
                           int64_t rowBytes = 128) {
  auto c = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, v); };
  int64_t boxCols = rowBytes / 2, pieces = rowBytes / 16;
  Value box = arith::DivUIOp::create(b, col, c(boxCols));
  Value inBox = arith::RemUIOp::create(b, col, c(boxCols));
  Value phase = arith::RemUIOp::create(
      b, arith::DivUIOp::create(b, row, c(128 / rowBytes)), c(pieces));
  Value piece = arith::XOrIOp::create(b, arith::DivUIOp::create(b, inBox, c(8)), phase);
  Value idx = arith::AddIOp::create(b, arith::MulIOp::create(b, box, c(rows * boxCols)),
                                    arith::MulIOp::create(b, row, c(boxCols)));
  idx = arith::AddIOp::create(b, idx, arith::MulIOp::create(b, piece, c(8)));
  return arith::AddIOp::create(b, idx, arith::RemUIOp::create(b, col, c(8)));
}

/// Registers written by an in-flight wgmma may be read only after its
/// wait_group; LLVM does not know that, so the values pass through an
/// empty side-effecting asm placed after the wait (CUTLASS's
/// warpgroup_fence_operand).
inline void fenceOperands(ImplicitLocOpBuilder &b, SmallVector<Value> &vals) {
  std::string cons;
  for (size_t e = 0; e < vals.size(); ++e)
    cons += "=f,";
  for (size_t e = 0; e < vals.size(); ++e)
    cons += std::to_string(e) + (e + 1 < vals.size() ? "," : "");
  auto ty = LLVM::LLVMStructType::getLiteral(b.getContext(),
                                             SmallVector<Type>(vals.size(), b.getF32Type()));
  auto op = LLVM::InlineAsmOp::create(b, ty, vals, "", cons, /*has_side_effects=*/true,
                                      /*is_align_stack=*/false,
                                      LLVM::tailcallkind::TailCallKind::None,
                                      LLVM::AsmDialectAttr(), ArrayAttr());
  for (size_t e = 0; e < vals.size(); ++e)
    vals[e] = LLVM::ExtractValueOp::create(b, op.getResult(0), e);
}

/// acc (m64nN f32, N = 2 acc.size()) += A B for one k16 step, A the four
/// i32 words of this thread's registers (the m16n8k16 A-fragment layout
/// per warp), B MN-major behind `descB`; `accumulate` false overwrites.
inline void mmaRegisterA(ImplicitLocOpBuilder &b, Type elt, SmallVector<Value> &acc,
                         ArrayRef<Value> words, Value descB, bool accumulate = true) {
  const int64_t n = static_cast<int64_t>(acc.size());
  const std::string eltName = elt.isBF16() ? "bf16" : "f16";
  std::string text = "{\n.reg .pred p;\nsetp.ne.b32 p, $" + std::to_string(n + 5) +
                     ", 0;\nwgmma.mma_async.sync.aligned.m64n" + std::to_string(2 * n) +
                     "k16.f32." + eltName + "." + eltName + " {";
  std::string cons;
  for (int64_t e = 0; e < n; ++e) {
    text += (e ? ", $" : "$") + std::to_string(e);
    cons += "=f,";
  }
  text += "}, {$" + std::to_string(n) + ", $" + std::to_string(n + 1) + ", $" +
          std::to_string(n + 2) + ", $" + std::to_string(n + 3) + "}, $" +
          std::to_string(n + 4) + ", p, 1, 1, 1;\n}\n";
  cons += "r,r,r,r,l,r";
  for (int64_t e = 0; e < n; ++e)
    cons += "," + std::to_string(e);
  SmallVector<Value> operands(words);
  operands.push_back(descB);
  operands.push_back(
      arith::ConstantOp::create(b, b.getI32IntegerAttr(accumulate ? 1 : 0)).getResult());
  operands.append(acc);
  auto ty = LLVM::LLVMStructType::getLiteral(b.getContext(),
                                             SmallVector<Type>(n, b.getF32Type()));
  auto op = LLVM::InlineAsmOp::create(b, ty, operands, text, cons, /*has_side_effects=*/true,
                                      /*is_align_stack=*/false,
                                      LLVM::tailcallkind::TailCallKind::None,
                                      LLVM::AsmDialectAttr(), ArrayAttr());
  for (int64_t e = 0; e < n; ++e)
    acc[e] = LLVM::ExtractValueOp::create(b, op.getResult(0), e);
}

/// acc (an LLVM struct of m64nN f32) = A B (+ acc unless `first`) for one
/// k16 step, both operands behind descriptors, K-major or, with `transA` /
/// `transB`, MN-major.
inline Value mmaShared(ImplicitLocOpBuilder &b, Type elt, Value acc, Value descA, Value descB,
                       int64_t n, bool first, bool transB, bool transA = false) {
  auto ty = elt.isBF16() ? NVVM::WGMMATypes::bf16 : NVVM::WGMMATypes::f16;
  return NVVM::WgmmaMmaAsyncOp::create(
      b, acc.getType(), acc, descA, descB, NVVM::MMAShapeAttr::get(b.getContext(), 64, n, 16),
      ty, ty, NVVM::WGMMATypes::f32, first ? NVVM::WGMMAScaleOut::zero : NVVM::WGMMAScaleOut::one,
      NVVM::WGMMAScaleIn::one, NVVM::WGMMAScaleIn::one,
      transA ? NVVM::MMALayout::col : NVVM::MMALayout::row,
      transB ? NVVM::MMALayout::row : NVVM::MMALayout::col, nullptr);
}

/// A zero m64nN f32 accumulator struct.
inline Value zeroAccumulator(ImplicitLocOpBuilder &b, int64_t n) {
  auto ty = LLVM::LLVMStructType::getLiteral(b.getContext(),
                                             SmallVector<Type>(n / 2, b.getF32Type()));
  return LLVM::ZeroOp::create(b, ty);
}

/// An accumulator struct holding `vals`.
inline Value accumulatorOf(ImplicitLocOpBuilder &b, ArrayRef<Value> vals) {
  auto ty = LLVM::LLVMStructType::getLiteral(b.getContext(),
                                             SmallVector<Type>(vals.size(), b.getF32Type()));
  Value acc = LLVM::UndefOp::create(b, ty);
  for (size_t e = 0; e < vals.size(); ++e)
    acc = LLVM::InsertValueOp::create(b, acc, vals[e], e);
  return acc;
}

/// The values of an accumulator struct, fenced (after its wait_group).
inline SmallVector<Value> accumulatorValues(ImplicitLocOpBuilder &b, Value acc, int64_t n) {
  SmallVector<Value> vals;
  for (int64_t e = 0; e < n / 2; ++e)
    vals.push_back(LLVM::ExtractValueOp::create(b, acc, e));
  fenceOperands(b, vals);
  return vals;
}

} // namespace mlir::attn::cuda::wgmma

#endif // ATTNIR_LIB_CONVERSION_ATTNTONVGPU_WGMMAOPS_H
