//===- MmaFragments.h - mma.sync m16n8k16 fragments, shared by kernels -*- C++ -*-===//
//
// The register-level pieces every mma.sync kernel uses: ldmatrix into
// operand words, one m16n8k16 MMA with f32 accumulators, and two f32 packed
// into one f16/bf16 operand word. The attention kernels
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

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::attn::cuda {

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

} // namespace mlir::attn::cuda

#endif // ATTNIR_LIB_CONVERSION_ATTNTONVGPU_MMAFRAGMENTS_H
