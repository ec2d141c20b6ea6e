//===- Passes.td - attn conversion passes --------------------*- tablegen -*-===//

#ifndef ATTNIR_CONVERSION_PASSES_TD
#define ATTNIR_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertAttnToCPUVector : Pass<"attn-vectorize-cpu", "func::FuncOp"> {
  let summary = "Lower attn.kv_block_update to register-blocked vector code";
  let description = [{
    Expands each `attn.kv_block_update` into loops of `vector.fma` on
    `vector<LANESxf32>` (one register): S = Q K^T in register tiles of
    `rows` x (key-block / 16) vectors, the element rule of the mask on
    partial blocks, the online softmax update of each row with
    `math.exp` (polynomial approximation), and O += P V in register tiles of
    `rows` x up to 4 vectors.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect"
  ];
  let options = [
    Option<"lanes", "lanes", "int64_t", /*default=*/"16",
           "f32 lanes per vector register: 16 (AVX-512) or 8 (AVX2)">,
    Option<"rows", "rows", "int64_t", /*default=*/"4",
           "query rows per register tile">,
    Option<"cols", "cols", "int64_t", /*default=*/"4",
           "vectors per row of a register tile">,
  ];
}

def ConvertAttnToNVGPU : Pass<"attn-to-nvgpu", "ModuleOp"> {
  let summary = "Lower attn.attention entries to tensor-core GPU kernels";
  let description = [{
    Replaces every entry function whose body is one `attn.attention` on its
    arguments with a `gpu.func` kernel of the same name in
    `gpu.module @attn_kernels` (FlashAttention-2 structure): grid
    (ceil(N / (16 m-tiles warps)), Hq, B); Q, K and V tiles staged in shared memory by
    cp.async (`nvgpu.device_async_copy`) and read by `nvgpu.ldmatrix`;
    S = Q K^T and O += P V by `nvvm.mma.sync` m16n8k16 (f16 or bf16 inputs,
    f32 accumulators); the online softmax on the accumulator fragments; the
    key-block loop driven by the mask's block rule (empty blocks never
    visited, the element rule only on partial blocks). Kernel arguments are
    q, k, v, out[, lse] as memrefs; the kernel carries `attn.block_q` and
    `attn.threads` for the launcher.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::NVVM::NVVMDialect",
    "::mlir::nvgpu::NVGPUDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect"
  ];
  let options = [
    Option<"warps", "warps", "int64_t", /*default=*/"4",
           "warps per block (16 query rows each)">,
    Option<"mma", "mma", "std::string", /*default=*/"\"sync\"",
           "sync: mma.sync (sm_80+); wgmma: S = Q K^T by warpgroup MMA from "
           "shared memory (sm_90a), P V by mma.sync">,
    Option<"mTiles", "m-tiles", "int64_t", /*default=*/"0",
           "16-row query tiles per warp: 1, 2, or 0 (2 when D, Dv <= 64)">,
    Option<"keyBlock", "key-block", "int64_t", /*default=*/"0",
           "keys per block (multiple of 16); 0 picks the largest <= 64 "
           "whose tiles fit 48 KB of shared memory">,
    Option<"stages", "stages", "int64_t", /*default=*/"0",
           "1: copy K and V, then compute; 2: the V copy overlaps "
           "S = Q K^T and the next K copy overlaps P V; 0: 1 when Q stays "
           "in registers, else 2">,
  ];
}

#endif // ATTNIR_CONVERSION_PASSES_TD
