//===- MmaFragments.h - mma.sync m16n8k16 fragments, shared by kernels -*- C++ -*-===//
//
// The pieces every mma.sync kernel uses: tiles staged by cp.async,
// ldmatrix into operand words, one m16n8k16 MMA with f32 accumulators, and
// two f32 packed into one f16/bf16 operand word. The attention kernels
// (FlashKernelBuilder) and the chunked linear kernel (LinearChunkKernel.cpp)
// build on them.
//
// Layouts (PTX ISA, m16n8k16): lane l's C/D fragment holds rows l / 4 and
// l / 4 + 8, columns 2 (l % 4) + {0, 1}; its A fragment words are (row
// l / 4, k 2 (l % 4) + {0, 1}), (row + 8, same k), (row, k + 8), (row + 8,
// k + 8); B fragment words (k 2 (l % 4) + {0, 1}, column l / 4), then k + 8.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_LIB_CONVERSION_ATTNTONVGPU_MMAFRAGMENTS_H
#define ATTNIR_LIB_CONVERSION_ATTNTONVGPU_MMAFRAGMENTS_H

#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::attn::cuda {

/// x reduced by OpTy over the 4 lanes of a quad (the lanes that share an
/// mma accumulator row).
template <typename OpTy> Value quadReduce(ImplicitLocOpBuilder &b, Value x) {
  for (int32_t off : {1, 2})
    x = OpTy::create(
        b, x, gpu::ShuffleOp::create(b, x, off, 32, gpu::ShuffleMode::XOR).getShuffleResult());
  return x;
}

/// Index arithmetic and shared-memory views for the tile kernels' builders
/// (LinearChunkBuilder, TiledIndexScores, GroupedListAttention derive from
/// it): index constants, unsigned index ops, and a typed view of a window.
struct KernelMath {
  ImplicitLocOpBuilder &b;

  Value c(int64_t v) { return cIdx(b, b.getLoc(), v); }
  Value cf(double v) { return cF32(b, b.getLoc(), v); }
  Value add(Value x, int64_t y) { return y ? arith::AddIOp::create(b, x, c(y)) : x; }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value sub(Value x, int64_t y) { return y ? arith::SubIOp::create(b, x, c(y)) : x; }
  Value mul(Value x, int64_t y) { return arith::MulIOp::create(b, x, c(y)); }
  Value div(Value x, int64_t y) { return arith::DivUIOp::create(b, x, c(y)); }
  Value rem(Value x, int64_t y) { return arith::RemUIOp::create(b, x, c(y)); }
  Value ult(Value x, Value y) { return arith::CmpIOp::create(b, arith::CmpIPredicate::ult, x, y); }
  /// Where lane `lane`'s m16n8k16 accumulator element e of n-tile nt sits
  /// in a 16-row tile starting at row0: row row0 + lane / 4 (+ 8 for e >=
  /// 2), column 2 (lane % 4) + 8 nt + e % 2.
  Value accumulatorRow(Value lane, Value row0, int64_t e) {
    return add(add(row0, div(lane, 4)), (e / 2) * 8);
  }
  Value accumulatorCol(Value lane, int64_t nt, int64_t e) {
    return add(mul(rem(lane, 4), 2), nt * 8 + e % 2);
  }
  /// `window` (shared i8 bytes) from byte `offset` as a `shape` memref of `elt`.
  Value sharedView(Value window, Value offset, ArrayRef<int64_t> shape, Type elt) {
    auto wg = gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
    return memref::ViewOp::create(b, MemRefType::get(shape, elt, MemRefLayoutAttrInterface(), wg),
                                  window, offset, ValueRange{});
  }
};

struct MmaFragments {
  ImplicitLocOpBuilder &b;
  /// The operand element type: f16 or bf16.
  Type elt;

  MmaFragments(ImplicitLocOpBuilder &b, Type elt) : b(b), elt(elt) {}

  /// `tiles` 8 x 8 matrices from shared memory at (row, col) of this lane
  /// (ldmatrix .x1/.x2/.x4, transposed with `trans`), one word each.
  SmallVector<Value> ldmatrix(Value smem, Value row, Value col, int64_t tiles,
                              bool trans) {
    auto ty = VectorType::get({tiles, 2}, elt);
    Value frag = nvgpu::LdMatrixOp::create(b, ty, smem, ValueRange{row, col},
                                           trans, tiles);
    SmallVector<Value> words;
    for (int64_t r = 0; r < tiles; ++r)
      words.push_back(fragWord(frag, r));
    return words;
  }

  /// acc (4 x f32) += A (4 words) B (2 words), m16n8k16. Emitted as
  /// nvvm.mma.sync: nvgpu.mma.sync rejects bf16 (shared/notes/tc-probe
  /// pitfall 1).
  SmallVector<Value> mma(ValueRange a, ValueRange bw, ValueRange acc) {
    auto ptx = elt.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
    Type f32 = b.getF32Type();
    auto resTy = LLVM::LLVMStructType::getLiteral(b.getContext(),
                                                  {f32, f32, f32, f32});
    Value d = NVVM::MmaOp::create(
        b, resTy, a, bw, acc, ArrayRef<int64_t>{16, 8, 16}, std::nullopt,
        std::nullopt, std::array<NVVM::MMATypes, 2>{ptx, ptx},
        std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                       NVVM::MMALayout::col});
    SmallVector<Value> out;
    for (int64_t e = 0; e < 4; ++e)
      out.push_back(LLVM::ExtractValueOp::create(b, d, e));
    return out;
  }

  /// Row r of an ldmatrix result as mma.sync takes it: vector<2xf16> for
  /// f16, an i32 holding two bf16 for bf16 (the op's verifier wants these).
  Value fragWord(Value frag, int64_t r) {
    Value pair = vector::ExtractOp::create(b, frag, ArrayRef<int64_t>{r});
    return asOperand(pair);
  }
  Value asOperand(Value pair) { return elt.isBF16() ? asWord(pair) : pair; }
  /// An operand word as an i32 register (inline PTX takes 32-bit words).
  Value asWord(Value x) {
    Type i32 = b.getI32Type();
    if (x.getType() == i32)
      return x;
    Value w = vector::BitCastOp::create(b, VectorType::get({1}, i32), x);
    return vector::ExtractOp::create(b, w, ArrayRef<int64_t>{0});
  }
  /// Operand word `word` (two f16/bf16) times the f32 pair `w`, rounded
  /// back to one word.
  Value scaled(Value word, Value w) {
    auto pairTy = VectorType::get({2}, elt);
    Value pair = elt.isBF16()
                     ? vector::BitCastOp::create(
                           b, pairTy,
                           vector::BroadcastOp::create(
                               b, VectorType::get({1}, b.getI32Type()), word))
                           .getResult()
                     : word;
    Value x = arith::ExtFOp::create(b, VectorType::get({2}, b.getF32Type()), pair);
    x = arith::MulFOp::create(b, x, w);
    return asOperand(arith::TruncFOp::create(b, pairTy, x));
  }
  /// Two f32 as one mma operand word of f16/bf16.
  Value pack(Value x, Value y) {
    Value v = vector::FromElementsOp::create(
        b, VectorType::get({2}, b.getF32Type()), ValueRange{x, y});
    return asOperand(
        arith::TruncFOp::create(b, VectorType::get({2}, elt), v));
  }
};

/// 2^x by ex2.approx.ftz.f32 (results below 2^-126 flush to 0): math.exp2's
/// form handles subnormals in three more instructions, which the kernels'
/// elementwise loops, issue bound, feel.
inline Value approxExp2(ImplicitLocOpBuilder &b, Value x) {
  return LLVM::InlineAsmOp::create(b, b.getF32Type(), ValueRange{x}, "ex2.approx.ftz.f32 $0, $1;",
                                   "=f,f", /*has_side_effects=*/false, /*is_align_stack=*/false,
                                   LLVM::tailcallkind::TailCallKind::None, LLVM::AsmDialectAttr(),
                                   ArrayAttr())
      .getResult(0);
}

/// dst[r, :width] = src[bi, head, min(row0 + r, limit - 1), col0 + (0 ..
/// width)] for r < rows, by 16-byte cp.async (8 elements of 16 bits or 4
/// of 32 per copy), spread over the `threads` threads of the block (`tid` this one's;
/// threads past the last copy of a round stay idle). Rows past `limit` - 1
/// re-read the last row: they are masked or never stored. `col0` null: 0.
/// `dstAt` (if given) maps (r, col) to dst's indices (swizzled tiles).
inline void copyRowsAsync(ImplicitLocOpBuilder &b, Value src, Value bi, Value head,
                          Value row0, Value col0, Value limit, Value dst, int64_t rows,
                          int64_t width, Value tid, int64_t threads,
                          bool bypassL1 = false,
                          function_ref<SmallVector<Value>(Value, Value)> dstAt = {}) {
  auto c = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, v); };
  int64_t per = 128 / cast<MemRefType>(dst.getType()).getElementTypeBitWidth();
  int64_t chunks = width / per;
  int64_t total = rows * chunks;
  Value last = arith::SubIOp::create(b, limit, c(1));
  for (int64_t t = 0; t < total; t += threads) {
    Value idx = arith::AddIOp::create(b, tid, c(t));
    OpBuilder::InsertionGuard g(b);
    if (total - t < threads) {
      Value active = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, idx, c(total));
      auto ifOp = scf::IfOp::create(b, active, /*withElse=*/false);
      b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    }
    Value r = arith::DivUIOp::create(b, idx, c(chunks));
    Value col = arith::MulIOp::create(b, arith::RemUIOp::create(b, idx, c(chunks)), c(per));
    Value row = arith::MinUIOp::create(b, arith::AddIOp::create(b, row0, r), last);
    Value srcCol = col0 ? arith::AddIOp::create(b, col0, col).getResult() : col;
    nvgpu::DeviceAsyncCopyOp::create(
        b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), dst,
        dstAt ? dstAt(r, col) : SmallVector<Value>{r, col}, src,
        ValueRange{bi, head, row, srcCol}, b.getIndexAttr(per), Value(),
        bypassL1 ? b.getUnitAttr() : UnitAttr());
  }
}

} // namespace mlir::attn::cuda

#endif // ATTNIR_LIB_CONVERSION_ATTNTONVGPU_MMAFRAGMENTS_H
