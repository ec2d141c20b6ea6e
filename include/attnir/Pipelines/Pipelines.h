//===- Pipelines.h - whole pipelines and registration ---------------------===//

#ifndef ATTNIR_PIPELINES_PIPELINES_H
#define ATTNIR_PIPELINES_PIPELINES_H

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::attn {

struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  Option<int64_t> queryTile{*this, "query-tile",
                            llvm::cl::desc("query rows per tile"),
                            llvm::cl::init(64)};
  Option<int64_t> keyBlock{*this, "key-block",
                           llvm::cl::desc("keys per block (multiple of 16)"),
                           llvm::cl::init(64)};
  Option<int64_t> keyPanelBytes{
      *this, "key-panel-bytes",
      llvm::cl::desc("halve the key block (down to 64) while a block's packed "
                     "K panel exceeds this many bytes (0: never)"),
      llvm::cl::init(0)};
  Option<int64_t> lanes{*this, "lanes",
                        llvm::cl::desc("f32 lanes per vector: 16 or 8"),
                        llvm::cl::init(16)};
  Option<int64_t> cols{*this, "cols",
                       llvm::cl::desc("vectors per register-tile row"),
                       llvm::cl::init(4)};
  Option<int64_t> rows{*this, "rows",
                       llvm::cl::desc("query rows per register tile"),
                       llvm::cl::init(4)};
  Option<int64_t> prefetch{
      *this, "prefetch",
      llvm::cl::desc("1: each phase's multiply-adds prefetch the next "
                     "phase's packed panel (V, then the next block's K^T)"),
      llvm::cl::init(0)};
  Option<int64_t> linearChunk{*this, "linear-chunk",
                              llvm::cl::desc("tokens per chunk of attn.linear"),
                              llvm::cl::init(64)};
  Option<int64_t> scanChunk{*this, "scan-chunk",
                            llvm::cl::desc("tokens per chunk of attn.scan"),
                            llvm::cl::init(256)};
  Option<int64_t> decodeRows{
      *this, "decode-rows",
      llvm::cl::desc("query rows per head up to which K and V are read in "
                     "place, not packed (0: always pack)"),
      llvm::cl::init(16)};
  Option<int64_t> tileGroup{
      *this, "tile-group",
      llvm::cl::desc("query tiles per task that share each key block's "
                     "K and V reads (1..16)"),
      llvm::cl::init(1)};
  Option<int64_t> tileGroupBytes{
      *this, "tile-group-bytes",
      llvm::cl::desc("group tiles only when a head's packed K and V exceed "
                     "this many bytes (0: always)"),
      llvm::cl::init(4 << 20)};
  Option<int64_t> headTaskBytes{
      *this, "head-task-bytes",
      llvm::cl::desc("a task per KV head (its pack, then its tiles) while a "
                     "head's packed K and V take at most this many bytes "
                     "and the heads divide evenly among the threads (0: "
                     "never)"),
      llvm::cl::init(0)};
  Option<int64_t> bf16Dot{
      *this, "bf16-dot",
      llvm::cl::desc("1: bf16 inputs stay bf16 and are reduced in pairs by "
                     "AVX512-BF16's vdpbf16ps (the default where the target "
                     "has it); 2: by AMX tiles (the default with AMX); 0: "
                     "converted to f32"),
      llvm::cl::init(0)};
  Option<int64_t> f32Amx{
      *this, "f32-amx",
      llvm::cl::desc("1: with bf16-dot=2, f32 inputs on AMX tiles too, each "
                     "value as three bf16 pieces (f32's accuracy; the "
                     "default with AMX); 0: f32 by AVX-512 FMA"),
      llvm::cl::init(0)};
  /// Whether the target CPU has AVX512-BF16 (set by setTargetDefaults;
  /// parseCPUOptions refuses bf16-dot=1 without it).
  bool targetHasBF16 = false;
  /// Whether the target CPU has AVX-512 (set by setTargetDefaults).
  bool targetHasAVX512 = false;
  /// Whether it has AMX tiles with bf16 (bf16-dot=2).
  bool targetHasAMX = false;
};

/// Options of `--attn-pipeline-cuda` (docs/design/gpu-lowering.md).
struct CUDAPipelineOptions : public PassPipelineOptions<CUDAPipelineOptions> {
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("GPU architecture (sm_80, sm_90, "
                                          "sm_90a: the H100's own)"),
                           llvm::cl::init("sm_90a")};
  Option<std::string> features{*this, "features",
                               llvm::cl::desc("PTX ISA feature"),
                               llvm::cl::init("+ptx80")};
  Option<int64_t> warps{*this, "warps",
                        llvm::cl::desc("(consumer) warps per block, 16 query "
                                       "rows each; 0: auto"),
                        llvm::cl::init(0)};
  Option<int64_t> keyBlock{*this, "key-block",
                           llvm::cl::desc("keys per block; 0: auto"),
                           llvm::cl::init(0)};
  Option<std::string> mma{*this, "mma",
                          llvm::cl::desc("sync (mma.sync), wgmma (sm_90a) or "
                                         "auto (wgmma on sm_90a where the "
                                         "head dims allow)"),
                          llvm::cl::init("auto")};
  Option<int64_t> mTiles{*this, "m-tiles",
                         llvm::cl::desc("16-row query tiles per warp; 0: auto"),
                         llvm::cl::init(0)};
  Option<int64_t> stages{*this, "stages",
                         llvm::cl::desc("copy stages in flight: 1, 2 (1..4 "
                                        "with wgmma); 0: auto"),
                         llvm::cl::init(0)};
  Option<int64_t> pingPong{*this, "ping-pong",
                           llvm::cl::desc("wgmma: the two consumer warpgroups "
                                          "take turns issuing (1) or not (0)"),
                           llvm::cl::init(1)};
  Option<int64_t> ctasPerSm{*this, "ctas-per-sm",
                            llvm::cl::desc("wgmma: blocks resident per SM "
                                           "(1 to 4); 0: auto"),
                            llvm::cl::init(0)};
  Option<int64_t> persistent{*this, "persistent",
                             llvm::cl::desc("wgmma: one block per SM looping "
                                            "over the tiles (1) or a block "
                                            "per tile (0)"),
                             llvm::cl::init(0)};
  Option<int64_t> traceTiles{*this, "trace-tiles",
                             llvm::cl::desc("wgmma: print each tile's phase "
                                            "stamps (a measuring build)"),
                             llvm::cl::init(0)};
  Option<int64_t> linearChunk{*this, "linear-chunk",
                              llvm::cl::desc("attn.linear: tokens per chunk "
                                             "of the tensor-core kernel (64), "
                                             "or 0: the token recurrence"),
                              llvm::cl::init(64)};
  Option<int64_t> linearColumns{*this, "linear-columns",
                                llvm::cl::desc("attn.linear's chunked kernel: "
                                               "value columns per block (32 or "
                                               "64); 0: both, the runtime "
                                               "picks by the grid"),
                                llvm::cl::init(0)};
  Option<int64_t> linearWy{*this, "linear-wy",
                           llvm::cl::desc("the delta rule on the chunked "
                                          "kernel: 1 splits it (W and U for "
                                          "all chunks, then the state pass: "
                                          "attn-linear-wy), 0 solves each "
                                          "chunk inside the state pass"),
                           llvm::cl::init(1)};
  Option<int64_t> linearSplit{*this, "linear-split",
                              llvm::cl::desc("attn.linear's chunked kernel: "
                                             "1 adds a state pass and an "
                                             "output pass parallel over "
                                             "chunks (attn-linear-split), "
                                             "launched when the fused "
                                             "kernel's grid is under two "
                                             "blocks per SM; 2: the two "
                                             "passes alone; 0: the fused "
                                             "kernel alone"),
                              llvm::cl::init(1)};
  Option<int64_t> landmarkSplit{*this, "landmark-split",
                                llvm::cl::desc("attn.landmark with topk on the "
                                               "tile kernel: 1 retrieves by "
                                               "blocks (attn-landmark-split: "
                                               "each picked block staged once "
                                               "for all its rows), 2 the same "
                                               "with each block's entries "
                                               "padded to whole units groups, "
                                               "0 by query tiles"),
                                llvm::cl::init(1)};
  Option<int64_t> selectRadix{*this, "select-radix",
                              llvm::cl::desc("attn.select topk(k > 16): the "
                                             "warp radix select (1) or k "
                                             "arg-max passes (0)"),
                              llvm::cl::init(1)};
  Option<int64_t> fuseMerge{*this, "fuse-merge",
                            llvm::cl::desc("attn.merge of two parts, one an "
                                           "attention's only use: merged in "
                                           "that attention's epilogue (1) or "
                                           "a step of its own (0)"),
                            llvm::cl::init(1)};
  Option<int64_t> fuseGather{*this, "fuse-gather",
                             llvm::cl::desc("routing: the permutes of q, k, v "
                                            "and of the result done by the "
                                            "Hopper attention kernel (1) or "
                                            "steps of their own (0)"),
                             llvm::cl::init(1)};
  Option<int64_t> gatherTma{*this, "gather-tma",
                            llvm::cl::desc("routing: gathered rows by one-row "
                                           "TMA boxes (1) or cp.async (0)"),
                            llvm::cl::init(0)};
  Option<int64_t> optLevel{*this, "opt-level",
                           llvm::cl::desc("LLVM and ptxas optimisation level"),
                           llvm::cl::init(3)};
};

/// Stages of the CUDA pipeline: "nvgpu" (the kernels in gpu + nvgpu +
/// nvvm ops), "nvvm" (the gpu.module in the LLVM/NVVM dialects), "ptx"
/// (a gpu.binary holding the PTX text).
/// `startAfter` skips the stages up to and including that one.
void buildCUDAPipeline(OpPassManager &pm, const CUDAPipelineOptions &options,
                       llvm::StringRef stopAfter = "ptx",
                       llvm::StringRef startAfter = "");

/// The passes that give the entries their workspace forms, as the CUDA
/// pipeline's first stage runs them: "func.func(attn-rule-block-maps,
/// attn-linear-wy{...}, attn-linear-split{...}, attn-landmark-split{...})"
/// as enabled. The bundle's ABI is read from a clone after exactly these,
/// so its workspace shapes are the kernels' (one string for both).
std::string cudaWorkspacePasses(const CUDAPipelineOptions &options);
/// Appends those passes to `pm` (registering them first).
LogicalResult addCUDAWorkspacePasses(OpPassManager &pm,
                                     const CUDAPipelineOptions &options);

/// Parses "key=value ..." (chip, features, warps, m-tiles, key-block, stages,
/// opt-level) over `options`; one-line error on failure.
bool parseCUDAOptions(llvm::StringRef text, CUDAPipelineOptions &options,
                      std::string &error);

/// Options tuned for the machine this runs on: AVX-512 (32 registers of 16
/// lanes) or AVX2 (16 registers of 8 lanes).
void setHostDefaults(CPUPipelineOptions &options);
/// The same for a target that has (or lacks) AVX-512 and AVX512-BF16.
void setTargetDefaults(CPUPipelineOptions &options, bool avx512,
                       bool avx512bf16 = false, bool amx = false);

/// Parses "key=value key=value" (keys: query-tile key-block lanes rows cols)
/// over `options` and checks every value; one-line error on failure.
bool parseCPUOptions(llvm::StringRef text, CPUPipelineOptions &options,
                     std::string &error);

/// Stage names a user can stop after (`attnc compile --emit mlir --stage`,
/// docs/architecture.md): "tiled", "vectorized", "bufferized", "parallel",
/// "llvm" (the whole pipeline).
void buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options,
                      llvm::StringRef stopAfter = "llvm");

/// Registers the dialects, interfaces and LLVM IR translations a spec and
/// its lowering use (lib/Pipelines/Registry.cpp), and nothing else.
void registerCompilerDialects(DialectRegistry &registry);

/// Registers the passes the built-in pipelines name, ours and upstream's.
void registerPipelinePasses();

/// Registers the compiler's dialects and every upstream dialect and
/// extension (attn-opt, for pipelines written by hand).
void registerAllAttnDialects(DialectRegistry &registry);

/// Registers every pass and `--attn-pipeline-cpu`/`-cuda` with the global
/// pass registry (for attn-opt).
void registerAttnPassesAndPipelines();

} // namespace mlir::attn

#endif // ATTNIR_PIPELINES_PIPELINES_H
