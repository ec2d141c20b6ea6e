//===- Pipelines.cpp - the CPU pipeline and registrations -----------------===//
//
// The pipeline is written as named stages of textual pass lists, so that the
// same text is what docs/architecture.md shows, what `attn-opt
// --attn-pipeline-cpu` runs, and what `attnc compile --stage` stops after.
// Pass order constraints (shared/notes/cpu-jit-probe): finalize-memref-to-llvm
// before convert-scf-to-cf (OpenMP bodies are alloca_scope regions), and
// convert-ub-to-llvm after the vector passes (ub.poison).
//
//===----------------------------------------------------------------------===//

#include "attnir/Pipelines/Pipelines.h"
#include "attnir/Conversion/Passes.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Transforms/Passes.h"
#include "llvm/TargetParser/Host.h"
#include <mutex>
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace {
struct Stage {
  const char *name;
  std::string passes;
};

std::vector<Stage> cpuStages(const attn::CPUPipelineOptions &o) {
  return {
      {"tiled", llvm::formatv("attn-verify-spec,attn-lower-route{{lanes={4}},func.func(attn-lower-elementwise,attn-lower-select{{lanes={4}},attn-lower-merge,"
                              "attn-lower-linear{{chunk={2} lanes={4}},attn-lower-scan{{chunk={3}},attn-tile{{query-tile={0} "
                              "key-block={1} key-panel-bytes={9} decode-rows={5} bf16-dot={6} f32-amx={10} tile-group={7} "
                              "tile-group-bytes={8} head-task-bytes={11} lanes={4}},canonicalize,cse)",
                              o.queryTile.getValue(), o.keyBlock.getValue(),
                              o.linearChunk.getValue(), o.scanChunk.getValue(),
                              o.lanes.getValue(), o.decodeRows.getValue(),
                              o.bf16Dot.getValue(), o.tileGroup.getValue(),
                              o.tileGroupBytes.getValue(), o.keyPanelBytes.getValue(),
                              o.f32Amx.getValue() ? "true" : "false",
                              o.headTaskBytes.getValue())
                    .str()},
      {"vectorized",
       llvm::formatv("func.func(attn-vectorize-cpu{{lanes={0} rows={1} "
                     "cols={2} avx512={3} prefetch={4}},canonicalize,cse)",
                     o.lanes.getValue(), o.rows.getValue(), o.cols.getValue(),
                     o.targetHasAVX512 ? "true" : "false",
                     o.prefetch.getValue() ? "true" : "false")
           .str()},
      {"bufferized",
       "one-shot-bufferize{bufferize-function-boundaries "
       "function-boundary-type-conversion=identity-layout-map},"
       "buffer-results-to-out-params{hoist-static-allocs hoist-dynamic-allocs "
       "modify-public-functions},canonicalize,"
       "func.func(attn-free-intermediates),attn-prepare-abi"},
      {"parallel", "convert-scf-to-openmp,canonicalize"},
      {"llvm",
       "expand-strided-metadata,lower-affine,"
       "finalize-memref-to-llvm{use-generic-functions=true},"
       "convert-scf-to-cf,convert-vector-to-llvm{enable-x86vector enable-amx},"
       "convert-math-to-llvm,"
       "convert-arith-to-llvm,convert-index-to-llvm,convert-ub-to-llvm,"
       "convert-func-to-llvm,convert-cf-to-llvm,convert-openmp-to-llvm,"
       "reconcile-unrealized-casts,attn-alloc-hooks"},
  };
}
/// The passes after attn-rule-block-maps that give attn.linear its
/// workspace forms: the delta rule's WY form, then the state / output
/// split, and attn.landmark its by-blocks scratch (", attn-linear-wy{...},
/// attn-linear-split{...}, attn-landmark-split" as enabled).
std::string linearSplitPasses(const attn::CUDAPipelineOptions &o) {
  std::string opts = llvm::formatv("{{linear-chunk={0} linear-columns={1}}",
                                   o.linearChunk.getValue(), o.linearColumns.getValue())
                         .str();
  std::string out;
  if (o.linearWy.getValue())
    out += ",attn-linear-wy" + opts;
  if (o.linearSplit.getValue())
    out += ",attn-linear-split" +
           (o.linearSplit.getValue() == 2 ? opts.substr(0, opts.size() - 1) + " split-only=1}"
                                           : opts);
  if (o.landmarkSplit.getValue())
    out += o.landmarkSplit.getValue() == 2 ? ",attn-landmark-split{one-block-groups=1}"
                                           : ",attn-landmark-split";
  return out;
}

} // namespace

std::string attn::cudaWorkspacePasses(const attn::CUDAPipelineOptions &o) {
  return "func.func(attn-rule-block-maps" + linearSplitPasses(o) + ")";
}

LogicalResult attn::addCUDAWorkspacePasses(OpPassManager &pm,
                                           const attn::CUDAPipelineOptions &o) {
  attn::registerPipelinePasses();
  return parsePassPipeline(cudaWorkspacePasses(o), pm, llvm::errs());
}

namespace {

/// The device half of upstream's gpu-lower-to-nvvm-pipeline (there is no
/// host code: the runtime launches kernels through the driver API), split
/// at the points a user may stop after.
std::vector<Stage> cudaStages(const attn::CUDAPipelineOptions &o) {
  return {
      {"nvgpu",
       llvm::formatv("attn-verify-spec,{11},"
                     "attn-to-nvgpu{{warps={0} key-block={1} stages={2} "
                     "m-tiles={3} mma={4} ping-pong={5} ctas-per-sm={6} "
                     "persistent={7} linear-chunk={8} linear-columns={9} "
                     "select-radix={10} fuse-merge={12} trace-tiles={13} "
                     "fuse-gather={14} gather-tma={15}},"
                     "canonicalize,cse",
                     o.warps.getValue(), o.keyBlock.getValue(),
                     o.stages.getValue(), o.mTiles.getValue(),
                     // wgmma exists only on arch-specific Hopper chips.
                     o.mma.getValue() == "auto" && o.chip.getValue() != "sm_90a"
                         ? std::string("sync")
                         : o.mma.getValue(),
                     o.pingPong.getValue(), o.ctasPerSm.getValue(),
                     o.persistent.getValue(), o.linearChunk.getValue(),
                     o.linearColumns.getValue(), o.selectRadix.getValue(),
                     attn::cudaWorkspacePasses(o), o.fuseMerge.getValue(),
                     o.traceTiles.getValue(), o.fuseGather.getValue(),
                     o.gatherTma.getValue())
           .str()},
      {"nvvm",
       llvm::formatv(
           "convert-nvgpu-to-nvvm,convert-vector-to-scf,convert-scf-to-cf,"
           "convert-nvvm-to-llvm,expand-strided-metadata,"
           "nvvm-attach-target{{chip={0} features={1} O={2}},lower-affine,"
           "convert-arith-to-llvm,convert-index-to-llvm,canonicalize,cse,"
           "gpu.module(convert-gpu-to-nvvm,attn-tensor-map-params,"
           "canonicalize,cse,"
           "reconcile-unrealized-casts)",
           o.chip.getValue(), o.features.getValue(), o.optLevel.getValue())
           .str()},
      {"ptx", "gpu-module-to-binary{format=isa}"},
  };
}
/// Appends the stages after `startAfter` (all when empty) up to and
/// including `stopAfter`.
void appendStages(OpPassManager &pm, const std::vector<Stage> &stages,
                  StringRef stopAfter, StringRef startAfter = "") {
  // The stages are text: the passes they name must be registered.
  attn::registerPipelinePasses();
  bool started = startAfter.empty();
  for (const Stage &s : stages) {
    if (!started) {
      started = startAfter == s.name;
      continue;
    }
    if (failed(parsePassPipeline(s.passes, pm, llvm::errs())))
      llvm::report_fatal_error("attnir: invalid built-in pipeline stage");
    if (stopAfter == s.name)
      return;
  }
}

/// An integer pipeline option: its key, where it goes, its range.
struct IntRule {
  const char *name;
  detail::PassOptions::Option<int64_t> *opt;
  int64_t lo, hi, multiple;
};

/// Sets the option `item` ("key=N") names from `rules`; a one-line error
/// for a non-integer value, an unknown key (listing `known`) or a value out
/// of range.
bool applyIntOption(StringRef item, ArrayRef<IntRule> rules, StringRef known,
                    std::string &error) {
  auto [key, value] = item.split('=');
  int64_t v = 0;
  if (value.getAsInteger(10, v)) {
    error = "option '" + item.str() + "' needs an integer value (key=N)";
    return false;
  }
  const IntRule *rule = nullptr;
  for (const IntRule &r : rules)
    if (key == r.name)
      rule = &r;
  if (!rule) {
    error = "unknown option '" + key.str() + "' (" + known.str() + ")";
    return false;
  }
  if (v < rule->lo || v > rule->hi || v % rule->multiple) {
    error = "option " + key.str() + "=" + std::to_string(v) +
            " out of range: " + std::to_string(rule->lo) + ".." +
            std::to_string(rule->hi) +
            (rule->multiple > 1
                 ? ", a multiple of " + std::to_string(rule->multiple)
                 : "");
    return false;
  }
  *rule->opt = v;
  return true;
}
} // namespace

void attn::buildCUDAPipeline(OpPassManager &pm, const CUDAPipelineOptions &o,
                             StringRef stopAfter, StringRef startAfter) {
  appendStages(pm, cudaStages(o), stopAfter, startAfter);
}

bool attn::parseCUDAOptions(StringRef text, CUDAPipelineOptions &o,
                            std::string &error) {
  SmallVector<StringRef> items;
  text.split(items, ' ', -1, /*KeepEmpty=*/false);
  for (StringRef item : items) {
    auto [key, value] = item.split('=');
    if (key == "chip") {
      unsigned sm = 0;
      StringRef digits = value;
      if (!digits.consume_front("sm_") ||
          digits.take_while(llvm::isDigit).getAsInteger(10, sm) || sm < 80) {
        error = "option chip=" + value.str() +
                ": needs sm_80 or newer (mma.sync on bf16)";
        return false;
      }
      o.chip = value.str();
      continue;
    }
    if (key == "features") {
      o.features = value.str();
      continue;
    }
    if (key == "mma") {
      if (value != "sync" && value != "wgmma" && value != "auto") {
        error = "option mma=" + value.str() + ": expected sync, wgmma or auto";
        return false;
      }
      o.mma = value.str();
      continue;
    }
    IntRule rules[] = {{"warps", &o.warps, 0, 12, 1},
                       {"key-block", &o.keyBlock, 0, 128, 16},
                       {"stages", &o.stages, 0, 4, 1},
                       {"m-tiles", &o.mTiles, 0, 2, 1},
                       {"ping-pong", &o.pingPong, 0, 1, 1},
                       {"ctas-per-sm", &o.ctasPerSm, 0, 4, 1},
                       {"persistent", &o.persistent, 0, 1, 1},
                       {"trace-tiles", &o.traceTiles, 0, 1, 1},
                       {"linear-chunk", &o.linearChunk, 0, 64, 64},
                       {"linear-columns", &o.linearColumns, 0, 64, 32},
                       {"linear-wy", &o.linearWy, 0, 1, 1},
                       {"linear-split", &o.linearSplit, 0, 2, 1},
                       {"landmark-split", &o.landmarkSplit, 0, 2, 1},
                       {"select-radix", &o.selectRadix, 0, 1, 1},
                       {"fuse-merge", &o.fuseMerge, 0, 1, 1},
                       {"fuse-gather", &o.fuseGather, 0, 1, 1},
                       {"gather-tma", &o.gatherTma, 0, 1, 1},
                       {"opt-level", &o.optLevel, 0, 3, 1}};
    if (!applyIntOption(item, rules,
                        "chip, features, mma, warps, m-tiles, key-block, "
                        "stages, ping-pong, ctas-per-sm, persistent, trace-tiles, linear-chunk, "
                        "linear-columns, linear-wy, linear-split, landmark-split, select-radix, fuse-merge, "
                        "fuse-gather, gather-tma, opt-level",
                        error))
      return false;
  }
  if (o.mma == "wgmma" && !StringRef(o.chip).ends_with("a")) {
    error = "option mma=wgmma needs an arch-specific chip such as chip=sm_90a "
            "(wgmma is not part of sm_90)";
    return false;
  }
  return true;
}

void attn::buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &o,
                            StringRef stopAfter) {
  appendStages(pm, cpuStages(o), stopAfter);
}

void attn::setHostDefaults(CPUPipelineOptions &o) {
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  // AVX-512 here means F and DQ (exp's vreduceps; OnlineSoftmax.cpp).
  setTargetDefaults(o, features.lookup("avx512f") && features.lookup("avx512dq"),
                    features.lookup("avx512bf16"),
                    features.lookup("amx-tile") && features.lookup("amx-bf16"));
}

void attn::setTargetDefaults(CPUPipelineOptions &o, bool avx512,
                             bool avx512bf16, bool amx) {
  // 6 x cols accumulators + cols key vectors + 1 broadcast fit the register
  // file (16 ymm or 32 zmm); query tiles keep their scores and acc in L1:
  // 48 rows on AVX2, 32 with AVX-512's 4 x 16-lane columns (8-17 % faster
  // than 48 on a Zen 4 EPYC, dense and causal, D = 64 and 128). AVX-512
  // takes 128-key blocks (half the per-block softmax bookkeeping; +5-16 %
  // f32, +10-18 % bf16 pairs on that EPYC), AVX2 keeps 64 (128 lost 12 %
  // there). Measured in docs/benchmarks/cpu-tuning.md.
  o.lanes = avx512 ? 16 : 8;
  o.rows = 6;
  o.cols = avx512 ? 4 : 2;
  o.queryTile = avx512 ? 32 : 48;
  o.keyBlock = avx512 ? 128 : 64;
  // ... but a block's packed K panel stays within 32 KiB, so Q K^T reads it
  // from L1: f32 at D = 128 takes 64-key blocks (bf16 pairs keep 128). On
  // a Zen 5 EPYC (48 KB L1d) 64 beat 128 there by 7-22 % at N = 1024 to
  // 16384, dense and causal (docs/benchmarks/cpu-tuning.md, "Key panels").
  o.keyPanelBytes = avx512 ? 32768 : 0;
  // Software prefetch of the next phase's panel (`prefetch=1`) stays off:
  // within noise on the Zen 5 EPYC, -2.5 to +2.7 % across three A/B runs
  // (docs/benchmarks/cpu-tuning.md, "Panel prefetch"); the hardware
  // prefetchers already stream the packed panels.
  o.prefetch = 0;
  // Eight 32-row tiles share each key block's K/V reads once a head's
  // packed K and V exceed 4 MiB: long M no longer streams them from L3 or
  // memory once per tile (N = 16384, D = 128: 146 -> 193 GFLOP/s on the
  // Zen 4 EPYC; docs/benchmarks/cpu-tuning.md). Unmeasured on AVX2: 1.
  o.tileGroup = avx512 ? 8 : 1;
  // A task per KV head (it packs the head, then runs its tiles from its
  // core's L2) while a head's packed K and V take at most 1 MiB (Zen 4's
  // L2): there 3 % faster at N = 2048, D = 64 with 8 heads, within noise
  // at N = 1024, and 3-5 % slower at 2 MiB heads (N = 4096), which no L2
  // holds (docs/benchmarks/cpu-tuning.md, "Head tasks").
  o.headTaskBytes = 1 << 20;
  // Intel's AMX generation (Sapphire Rapids and later: two 512-bit FMA
  // ports, 48 KB L1d, 2 MB L2; told apart by AMX, which no AMD part has):
  // 72-row query tiles over 64-key blocks, +15 to +43 % over the Zen 4
  // shapes there (docs/benchmarks/cpu-tuning.md). rows = 6 divides 72.
  // Their tile groups start where a head's packed K and V outgrow the 2 MB
  // L2 (f32 packs as three bf16 pieces there, 1.5x the bytes of f32): on
  // an Emerald Rapids Xeon 2 MiB against 4 MiB took 11-21 % off dense's
  // time and 2-12 % off causal's at N = 4096 D = 64 and N = 2048 D = 128 f32
  // (3 MB heads), 10-15 % at bf16 N = 8192 D = 128 (cpu-tuning.md,
  // "Tile groups on the AMX Xeon"); 1 MiB moved 1.5 MB heads both ways.
  if (avx512 && amx) {
    o.queryTile = 72;
    o.keyBlock = 64;
    o.tileGroupBytes = 2 << 20;
  }
  // bf16 inputs through vdpbf16ps where the CPU has it
  // (docs/design/cpu-lowering.md, "bf16 pairs").
  o.targetHasAVX512 = avx512;
  o.targetHasBF16 = avx512 && avx512bf16;
  // On the AMX generation the pairs go to AMX tiles (bf16-dot=2): there
  // vdpbf16ps issues on one port, at the multiply-add rate of f32 FMA on
  // two, and ran at 0.63x the widened form (211 vs 336 GFLOP/s, dense
  // D = 64). AMX needs AMX-BF16 beside the tiles.
  o.targetHasAMX = avx512 && amx;
  o.bf16Dot = o.targetHasAMX ? 2 : o.targetHasBF16 ? 1 : 0;
  // f32 on the same tiles as three bf16 pieces (six products per step,
  // f32's accuracy; docs/design/cpu-lowering.md, "f32 on AMX").
  o.f32Amx = o.targetHasAMX ? 1 : 0;
}

bool attn::parseCPUOptions(StringRef text, CPUPipelineOptions &o,
                           std::string &error) {
  SmallVector<StringRef> items;
  text.split(items, ' ', -1, /*KeepEmpty=*/false);
  // A key block the caller names is the one used, unless a panel cap is
  // named too.
  bool namesKeyBlock = false, namesPanel = false, namesF32Amx = false;
  for (StringRef item : items) {
    namesKeyBlock |= item.starts_with("key-block=");
    namesPanel |= item.starts_with("key-panel-bytes=");
    namesF32Amx |= item.starts_with("f32-amx=");
  }
  if (namesKeyBlock && !namesPanel)
    o.keyPanelBytes = 0;
  for (StringRef item : items) {
    IntRule rules[] = {{"query-tile", &o.queryTile, 1, 1024, 1},
                       {"key-block", &o.keyBlock, 16, 1024, 16},
                       {"key-panel-bytes", &o.keyPanelBytes, 0, int64_t(1) << 30, 1},
                       {"lanes", &o.lanes, 8, 16, 8},
                       {"rows", &o.rows, 1, 16, 1},
                       {"cols", &o.cols, 1, 8, 1},
                       {"prefetch", &o.prefetch, 0, 1, 1},
                       {"linear-chunk", &o.linearChunk, 1, 1024, 1},
                       {"scan-chunk", &o.scanChunk, 1, 1 << 20, 1},
                       {"decode-rows", &o.decodeRows, 0, 1024, 1},
                       {"bf16-dot", &o.bf16Dot, 0, 2, 1},
                       {"f32-amx", &o.f32Amx, 0, 1, 1},
                       {"tile-group", &o.tileGroup, 1, 16, 1},
                       {"tile-group-bytes", &o.tileGroupBytes, 0, int64_t(1) << 40, 1},
                       {"head-task-bytes", &o.headTaskBytes, 0, int64_t(1) << 40, 1}};
    if (!applyIntOption(item, rules,
                        "query-tile, key-block, key-panel-bytes, lanes, rows, cols, prefetch, linear-chunk, "
                        "scan-chunk, decode-rows, bf16-dot, f32-amx, tile-group, "
                        "tile-group-bytes, head-task-bytes",
                        error))
      return false;
  }
  if (o.bf16Dot == 1 && !o.targetHasBF16) {
    error = "option bf16-dot=1 needs a CPU with AVX512-BF16 (vdpbf16ps), "
            "which the target lacks";
    return false;
  }
  // f32-amx rides on bf16-dot=2: off with another bf16-dot unless named.
  if (o.f32Amx && o.bf16Dot != 2) {
    if (namesF32Amx) {
      error = o.targetHasAMX
                  ? "option f32-amx=1 needs bf16-dot=2 (AMX tiles)"
                  : "option f32-amx=1 needs a CPU with AMX-BF16 tiles, which "
                    "the target lacks";
      return false;
    }
    o.f32Amx = 0;
  }
  if (o.bf16Dot == 2 && !o.targetHasAMX) {
    error = "option bf16-dot=2 needs a CPU with AMX-BF16 tiles, which the "
            "target lacks";
    return false;
  }
  return true;
}

