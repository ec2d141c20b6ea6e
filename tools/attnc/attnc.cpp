//===- attnc.cpp - the AttnIR command line compiler -----------------------===//
//
//   attnc run SPEC [--entry NAME] [--target cpu] [--shape ARG=AxBxCxD ...]
//             [--input ARG=FILE.npy ...] [--output FILE.npy] [--seed N]
//             [--check] [--bench] [--json]
//   attnc compile SPEC [--target cpu] --emit mlir|llvm|asm|obj|header|bundle
//             [--stage tiled|vectorized|bufferized|parallel|llvm] [-o OUT]
//   attnc compile SPEC --target cuda --emit mlir|ptx|cubin|bundle
//             [--stage nvgpu|nvvm] [--cuda-options "chip=sm_90 ..."] [-o OUT]
//   (run takes --target cuda and --cuda-options too)
//
// Every user error is one line on stderr (with file:line:col when it comes
// from the spec) and exit code 1; a failed --check exits with 2.
//
//===----------------------------------------------------------------------===//

#include "attnir/Driver/BundleCompiler.h"
#include "attnir/Driver/Compiler.h"
#include "attnir/Driver/CudaCompiler.h"
#include "attnir/Runtime/CudaRunner.h"
#include "attnir/Driver/Signature.h"
#include "attnir/Driver/SpecLoader.h"
#include "attnir/Reference/Compare.h"
#include "attnir/Runtime/RandomInputs.h"
#include "attnir/Driver/ProgramOf.h"
#include "attnir/Support/Npy.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/TargetParser/X86TargetParser.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Support/FileUtilities.h"
#include <algorithm>
#include <chrono>
#include <functional>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <unistd.h>

using namespace mlir;
using namespace attnir;

namespace {

[[noreturn]] void fail(const std::string &msg) {
  llvm::errs() << "attnc: error: " << msg << "\n";
  std::exit(1);
}

struct Options {
  std::string command, spec, entry, target = "cpu", output, emit, stage = "llvm",
                                    outFile = "-";
  std::vector<std::string> shapes, inputs;
  std::string saveInputs; // a directory: the run's inputs as <arg>.npy
  std::string cpuOptions; // e.g. "query-tile=64 key-block=64 rows=4"
  std::string mcpu;       // compile for this x86 CPU instead of the host
  std::string cudaOptions; // e.g. "chip=sm_90 warps=4 stages=2"
  bool stageGiven = false;
  uint64_t seed = 0;
  int threads = 0; // 0: every core (OpenMP's default)
  bool check = false, bench = false, json = false;
};

const char *kUsage =
    "usage: attnc run SPEC [--entry NAME] [--target cpu] [--shape "
    "ARG=AxBxCxD]... [--input ARG=FILE.npy]... [--output FILE.npy] [--seed "
    "N] [--check] [--bench] [--json] [--threads N] [--save-inputs DIR] "
    "[--cpu-options \"rows=4 ...\"]\n"
    "       attnc compile SPEC [--target cpu] --emit "
    "mlir|llvm|asm|obj|header|bundle [--stage "
    "tiled|vectorized|bufferized|parallel|llvm] [--mcpu CPU] [-o OUT]\n"
    "       attnc compile SPEC --target cuda --emit mlir|ptx|cubin|bundle "
    "[--stage nvgpu|nvvm] [--cuda-options \"chip=sm_90 warps=4 ...\"] [-o "
    "OUT]\n"
    "       (run also takes --target cuda [--cuda-options ...])\n";

Options parseArgs(int argc, char **argv) {
  Options o;
  if (argc < 2 || std::string(argv[1]) == "--help" ||
      std::string(argv[1]) == "-h") {
    llvm::outs() << kUsage;
    std::exit(argc < 2 ? 1 : 0);
  }
  o.command = argv[1];
  if (o.command != "run" && o.command != "compile")
    fail("unknown command '" + o.command + "' (expected run or compile)\n" +
         kUsage);
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      size_t eq = a.find('=');
      if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
        std::string v = a.substr(eq + 1);
        a = a.substr(0, eq);
        return v;
      }
      if (i + 1 >= argc)
        fail("option " + a + " needs a value");
      return argv[++i];
    };
    std::string flag = a.substr(0, a.find('='));
    if (flag == "--check")
      o.check = true;
    else if (flag == "--bench")
      o.bench = true;
    else if (flag == "--json")
      o.json = true;
    else if (flag == "--entry")
      o.entry = value();
    else if (flag == "--target")
      o.target = value();
    else if (flag == "--shape")
      o.shapes.push_back(value());
    else if (flag == "--input")
      o.inputs.push_back(value());
    else if (flag == "--output")
      o.output = value();
    else if (flag == "--save-inputs")
      o.saveInputs = value();
    else if (flag == "--emit")
      o.emit = value();
    else if (flag == "--stage") {
      o.stage = value();
      o.stageGiven = true;
    } else if (flag == "--cuda-options")
      o.cudaOptions = value();
    else if (flag == "--mcpu")
      o.mcpu = value();
    else if (flag == "--cpu-options")
      o.cpuOptions = value();
    else if (flag == "-o")
      o.outFile = value();
    else if (flag == "--seed") {
      std::string v = value();
      char *end = nullptr;
      o.seed = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end)
        fail("--seed expects a non-negative integer, got '" + v + "'");
    } else if (flag == "--threads") {
      std::string v = value();
      char *end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 1 || n > 4096)
        fail("--threads expects a thread count in 1..4096, got '" + v + "'");
      o.threads = static_cast<int>(n);
    } else if (!a.empty() && a[0] == '-')
      fail("unknown option '" + a + "'\n" + kUsage);
    else if (o.spec.empty())
      o.spec = a;
    else
      fail("unexpected argument '" + a + "'");
  }
  if (o.spec.empty())
    fail("no spec file given\n" + std::string(kUsage));
  if (!o.mcpu.empty() &&
      llvm::X86::parseArchX86(o.mcpu, /*Only64Bit=*/true) == llvm::X86::CK_None)
    fail("unknown --mcpu '" + o.mcpu +
         "' (an x86-64 CPU such as znver4, skylake-avx512, x86-64-v3)");
  if (o.target != "cpu" && o.target != "cuda")
    fail("unknown target '" + o.target + "' (expected cpu or cuda)");
  if (o.target == "cuda" && (!o.mcpu.empty() || !o.cpuOptions.empty()))
    fail("--mcpu and --cpu-options apply to --target cpu");
  if (o.target == "cpu" && !o.cudaOptions.empty())
    fail("--cuda-options applies to --target cuda");
  return o;
}

/// Host defaults, overridden by --cpu-options.
const attn::CPUPipelineOptions &pipelineOptions(const Options &o) {
  static attn::CPUPipelineOptions opts;
  if (o.mcpu.empty())
    attn::setHostDefaults(opts);
  else
    attn::setTargetDefaults(opts, targetHasAVX512(o.mcpu),
                            targetHasFeature(o.mcpu, "avx512bf16"),
                            targetHasFeature(o.mcpu, "amx-tile") &&
                                targetHasFeature(o.mcpu, "amx-bf16"));
  std::string err;
  if (!attn::parseCPUOptions(o.cpuOptions, opts, err))
    fail("--cpu-options: " + err);
  return opts;
}

/// Defaults (chip sm_90, 4 warps, 2 stages), overridden by --cuda-options.
const attn::CUDAPipelineOptions &cudaOptions(const Options &o) {
  static attn::CUDAPipelineOptions opts;
  std::string err;
  if (!attn::parseCUDAOptions(o.cudaOptions, opts, err))
    fail("--cuda-options: " + err);
  return opts;
}

/// Prints a compile error: diagnostics already say "file:line:col: error:".
[[noreturn]] void failCompile(const Options &o, const std::string &err) {
  if (!StringRef(err).starts_with(o.spec + ":"))
    fail(err);
  llvm::errs() << err << (StringRef(err).ends_with("\n") ? "" : "\n");
  std::exit(1);
}

/// "ARG" of ARG=...: a 0-based position or a name from the spec.
unsigned argIndex(const EntrySignature &sig, const std::string &key,
                  const std::string &flag) {
  for (unsigned i = 0; i < sig.inputs.size(); ++i)
    if (sig.inputs[i].name == key)
      return i;
  char *end = nullptr;
  unsigned long idx = std::strtoul(key.c_str(), &end, 10);
  if (!key.empty() && !*end && idx < sig.inputs.size())
    return static_cast<unsigned>(idx);
  std::string names;
  for (auto &in : sig.inputs)
    names += (names.empty() ? "" : ", ") + in.name;
  fail(flag + " " + key + ": @" + sig.name + " has no argument '" + key +
       "' (arguments: " + names + ", or their positions 0.." +
       std::to_string(sig.inputs.size() - 1) + ")");
}

std::vector<int64_t> parseDims(const std::string &text,
                               const std::string &flag) {
  std::vector<int64_t> dims;
  size_t pos = 0;
  while (true) {
    size_t x = text.find('x', pos);
    std::string part = text.substr(pos, x == std::string::npos ? x : x - pos);
    char *end = nullptr;
    long long v = std::strtoll(part.c_str(), &end, 10);
    if (part.empty() || *end || v < 0 || v > (1ll << 40))
      fail(flag + ": bad shape '" + text +
           "' (expected dims like 1x8x4096x64)");
    dims.push_back(v);
    if (x == std::string::npos)
      break;
    pos = x + 1;
  }
  return dims;
}

std::pair<std::string, std::string> splitKV(const std::string &s,
                                            const std::string &flag) {
  size_t eq = s.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == s.size())
    fail(flag + " expects ARG=VALUE, got '" + s + "'");
  return {s.substr(0, eq), s.substr(eq + 1)};
}

std::string joinShape(const std::vector<int64_t> &s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i)
    r += (i ? "x" : "") + std::to_string(s[i]);
  return r;
}

/// The entry `entryName` alone as a CUDA bundle, loaded, through the same
/// path as Python and C users; `fn` is the entry in `module`.
std::unique_ptr<Kernel> loadCudaEntry(const Options &o, ModuleOp module, StringRef entryName,
                                      EntrySignature &sig, func::FuncOp &fn) {
  std::string err;
  OwningOpRef<ModuleOp> one = cast<ModuleOp>(module->clone());
  for (auto f : llvm::make_early_inc_range(one->getOps<func::FuncOp>()))
    if (!f.isExternal() && f.getName() != entryName)
      f.erase();
  std::vector<SpecEntry> entries;
  Bundle bundle;
  if (!collectEntries(*one, entryName, entries, err) ||
      !compileToCudaBundle(*one, cudaOptions(o), bundle, err))
    failCompile(o, err);
  sig = entries[0].sig;
  std::unique_ptr<Kernel> kernel = Kernel::load(std::move(bundle), err);
  if (!kernel)
    fail(err);
  for (auto f : module.getOps<func::FuncOp>())
    if (f.getName() == entryName)
      fn = f;
  return kernel;
}

/// The shapes --shape gives and the arrays --input loads, by argument.
void readGivenInputs(const Options &o, const EntrySignature &sig,
                     std::map<unsigned, std::vector<int64_t>> &given,
                     std::map<unsigned, HostTensor> &loaded) {
  std::string err;
  for (const std::string &s : o.shapes) {
    auto [key, dims] = splitKV(s, "--shape");
    given[argIndex(sig, key, "--shape")] = parseDims(dims, "--shape");
  }
  for (const std::string &s : o.inputs) {
    auto [key, path] = splitKV(s, "--input");
    unsigned idx = argIndex(sig, key, "--input");
    HostTensor t;
    if (!readNpy(path, t, err))
      fail(err);
    if (t.dtype != sig.inputs[idx].dtype)
      fail("--input " + key + ": '" + path + "' holds " + dtypeName(t.dtype) +
           " but argument '" + sig.inputs[idx].name + "' of @" + sig.name +
           " is " + dtypeName(sig.inputs[idx].dtype));
    // One policy everywhere (docs/numerics.md): kernels take non-finite
    // values as they come; only a check against the reference needs finite
    // inputs, since NaN compares with nothing.
    int64_t bad = findNonFinite(t);
    if (bad >= 0) {
      std::string what = "--input " + key + ": '" + path +
                         "' contains NaN or Inf (first at flat index " +
                         std::to_string(bad) + ")";
      if (o.check)
        fail(what + "; --check needs finite inputs (docs/numerics.md)");
      std::fprintf(stderr,
                   "attnc: warning: %s; rows that read it may be NaN\n",
                   what.c_str());
    }
    auto g = given.find(idx);
    if (g != given.end() && g->second != t.shape)
      fail("--input " + key + ": '" + path + "' has shape " +
           joinShape(t.shape) + " but --shape gives " + joinShape(g->second));
    given[idx] = t.shape;
    loaded[idx] = std::move(t);
  }
}

/// Refuses shapes whose tensors cannot fit in memory, before allocating;
/// with `check`, counting the float64 reference's copy of every input and
/// output too (a call that fit without them was killed for memory).
void refuseOversizedCall(const EntrySignature &sig,
                         const std::vector<std::vector<int64_t>> &inShapes,
                         const std::vector<std::vector<int64_t>> &outShapes,
                         bool check) {
  std::vector<DType> inTypes, outTypes;
  for (const ArgInfo &a : sig.inputs)
    inTypes.push_back(a.dtype);
  for (const ArgInfo &a : sig.outputs)
    outTypes.push_back(a.dtype);
  double bytes = callFootprintBytes(inTypes, inShapes, outTypes, outShapes);
  if (check) {
    std::vector<DType> f64In(inTypes.size(), DType::F64), f64Out(outTypes.size(), DType::F64);
    bytes += callFootprintBytes(f64In, inShapes, f64Out, outShapes);
  }
  double memory = physicalMemoryBytes();
  // Saturated: shapes near the int64 range give sizes past any integer
  // (issue 15, case 9: the cast overflowed).
  auto mib = [](double b) {
    return b >= 9.0e18 ? std::string("more than 8 EiB")
                       : std::to_string(static_cast<long long>(b / (1 << 20))) +
                             " MiB";
  };
  if (!(bytes <= 0.8 * memory))
    fail("@" + sig.name + ": these shapes need " + mib(bytes) +
         (check ? " of tensors with the float64 reference's copies"
                 : " of tensors") +
         ", more than this machine's memory (" +
         std::to_string(static_cast<long long>(memory / (1 << 20))) + " MiB)");
}

/// The median time of `call` in ms: at least 5 runs, up to 200 or 1 s.
double medianCpuMs(const std::function<void()> &call) {
  std::vector<double> times;
  double total = 0;
  while (times.size() < 5 || (total < 1000.0 && times.size() < 200)) {
    auto t0 = std::chrono::steady_clock::now();
    call();
    auto t1 = std::chrono::steady_clock::now();
    times.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    total += times.back();
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

/// What `attnc run` prints for one entry: a line, or one JSON object.
struct RunResult {
  double maxRelErr = NAN, ms = NAN, gflops = NAN;
  bool ok = true;
};
void printRunResult(const Options &o, const EntrySignature &sig,
                    const std::vector<HostTensor> &inputs, const RunResult &r) {
  bool cuda = o.target == "cuda";
  std::string shapes;
  for (unsigned i = 0; i < inputs.size(); ++i)
    shapes += (i ? " " : "") + sig.inputs[i].name + "=" +
              joinShape(inputs[i].shape);
  char line[512];
  if (o.json) {
    std::string shapeJson;
    for (unsigned i = 0; i < inputs.size(); ++i)
      shapeJson += std::string(i ? ", " : "") + "\"" + sig.inputs[i].name +
                   "\": \"" + joinShape(inputs[i].shape) + "\"";
    auto num = [](double x) {
      if (std::isnan(x))
        return std::string("null");
      char b[64];
      std::snprintf(b, sizeof b, "%.6g", x);
      return std::string(b);
    };
    llvm::outs() << "{\"entry\": \"" << sig.name
                 << "\", \"target\": \"" << o.target
                 << "\", \"shapes\": {" << shapeJson
                 << "}, \"max_rel_err\": " << num(r.maxRelErr)
                 << ", \"ok\": " << (r.ok ? "true" : "false")
                 << ", \"ms\": " << num(r.ms) << ", \"gflops\": " << num(r.gflops)
                 << "}\n";
  } else {
    std::string s = sig.name + "  " + o.target + "  " + shapes;
    if (o.check) {
      std::snprintf(line, sizeof line, "  max_rel_err=%.1e  %s", r.maxRelErr,
                    r.ok ? "ok" : "FAILED");
      s += line;
    }
    if (o.bench) {
      if (cuda)
        std::snprintf(line, sizeof line, "  %.3f ms  %.1f TFLOP/s (useful)",
                      r.ms, r.gflops / 1e3);
      else if (std::isnan(r.gflops) || r.gflops == 0) // selected lists; no attention
        std::snprintf(line, sizeof line, "  %.2f ms", r.ms);
      else
        std::snprintf(line, sizeof line, "  %.2f ms  %.1f GFLOP/s (useful)",
                      r.ms, r.gflops);
      s += line;
    }
    llvm::outs() << s << "\n";
  }
  llvm::outs().flush();
}

/// --save-inputs DIR: the inputs this run uses (random by role, or given)
/// as DIR/<argument>.npy, e.g. for attnir-run on a machine without the
/// compiler (bench/gpu/build_sanitize.py's attribute variants).
void saveInputs(const Options &o, const EntrySignature &sig,
                const std::vector<HostTensor> &inputs) {
  if (o.saveInputs.empty())
    return;
  if (std::error_code ec = llvm::sys::fs::create_directories(o.saveInputs))
    fail("--save-inputs " + o.saveInputs + ": " + ec.message());
  std::string err;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!writeNpy(o.saveInputs + "/" + sig.inputs[i].name + ".npy", inputs[i], err))
      fail("--save-inputs: " + err);
}

/// Runs one entry: on the CPU from `cs`, the spec compiled once for every
/// entry run (identical entries are then compiled once, not once each);
/// on CUDA from a bundle of the entry alone.
int runEntry(const Options &o, ModuleOp module, CompiledSpec *cs,
             StringRef entryName) {
  std::string err;
  bool cuda = o.target == "cuda";
  std::unique_ptr<Kernel> cudaKernel;
  EntrySignature cudaSig;
  func::FuncOp fn;
  if (!cuda)
    fn = cs->function(entryName);
  else
    cudaKernel = loadCudaEntry(o, module, entryName, cudaSig, fn);
  const EntrySignature &sig = cuda ? cudaSig : *cs->signature(entryName);

  std::map<unsigned, std::vector<int64_t>> given;
  std::map<unsigned, HostTensor> loaded;
  readGivenInputs(o, sig, given, loaded);
  EntryABI abi;
  std::vector<std::vector<int64_t>> inShapes, outShapes;
  if (!computeEntryABI(fn, sig, abi, err) ||
      !resolveShapes(abi, given, inShapes, outShapes, err))
    fail("@" + sig.name + ": " + err);
  refuseOversizedCall(sig, inShapes, outShapes, o.check);

  std::vector<HostTensor> inputs = makeRandomInputs(abi, inShapes, o.seed);
  for (auto &[i, t] : loaded)
    inputs[i] = std::move(t);
  saveInputs(o, sig, inputs);
  std::vector<HostTensor> outputs;
  CompiledSpec::BoundCall call;
  CudaRunner gpu;
  RunResult r;
  if (cuda) {
    std::vector<DType> outTypes;
    for (const ArgInfo &a : sig.outputs)
      outTypes.push_back(a.dtype);
    if (!gpu.prepare(std::move(cudaKernel), 0, inputs, outTypes, outShapes,
                     err) ||
        !gpu.run(err) || (o.bench && !gpu.time(50, r.ms, err)) ||
        !gpu.download(outputs, err))
      fail("@" + sig.name + ": " + err);
  } else {
    if (!cs->bind(entryName, inputs, outputs, call, err))
      fail("@" + sig.name + ": " + err);
    call();
    if (o.bench)
      r.ms = medianCpuMs([&] { call(); });
  }

  if (o.check) {
    std::vector<HostTensor> ref;
    ReferenceStats stats;
    if (!evaluateReference(fn, inputs, ref, err, &stats))
      fail("@" + sig.name + ": " + err);
    r.maxRelErr = 0;
    for (size_t i = 0; i < outputs.size(); ++i)
      r.maxRelErr = std::max(r.maxRelErr, maxRelError(outputs[i], ref[i]));
    r.ok = r.maxRelErr <= checkTolerance(sig.inputs.empty() ? DType::F32
                                                             : sig.inputs[0].dtype,
                                         stats.maxAbsLogit);
  }
  if (!o.output.empty() && !outputs.empty() &&
      !writeNpy(o.output, outputs[0], err))
    fail(err);
  if (o.bench)
    r.gflops = usefulFlops(fn, inShapes, &inputs) / (r.ms * 1e6);
  printRunResult(o, sig, inputs, r);
  return r.ok ? 0 : 2;
}

int compileCuda(const Options &o, ModuleOp module) {
  if (o.emit != "mlir" && o.emit != "ptx" && o.emit != "cubin" &&
      o.emit != "bundle")
    fail(o.emit.empty() ? "compile --target cuda needs --emit "
                          "mlir|ptx|cubin|bundle"
                        : "unknown --emit '" + o.emit +
                              "' for --target cuda (expected mlir, ptx, "
                              "cubin or bundle)");
  std::string stage = o.stageGiven ? o.stage : "nvvm";
  if (o.emit == "mlir" && stage != "nvgpu" && stage != "nvvm")
    fail("unknown --stage '" + stage +
         "' for --target cuda (expected nvgpu or nvvm)");
  if (o.emit != "mlir" && o.stageGiven)
    fail("--stage applies to --emit mlir");
  std::string err;
  CudaArtifacts a;
  Bundle bundle;
  bool ok = o.emit == "bundle"
                ? compileToCudaBundle(module, cudaOptions(o), bundle, err, &a)
                : compileForCUDA(module, cudaOptions(o), a, err,
                                 o.emit == "mlir" ? stage : "");
  if (!ok)
    failCompile(o, err);
  if (o.emit == "bundle") {
    if (o.outFile == "-")
      fail("--emit bundle needs -o FILE");
    if (!bundle.writeFile(o.outFile, err))
      fail(err);
    return 0;
  }
  if (o.emit == "cubin" && a.cubin.empty())
    fail("--emit cubin needs ptxas (CUDA toolkit; set CUDA_HOME or "
         "ATTNIR_PTXAS); --emit ptx works without it");
  auto out = openOutputFile(o.outFile, &err);
  if (!out)
    fail("cannot write '" + o.outFile + "': " + err);
  out->os() << (o.emit == "mlir"  ? a.stageIR
                : o.emit == "ptx" ? a.ptx
                                  : a.cubin);
  out->keep();
  return 0;
}

int compileSpec(const Options &o, ModuleOp module) {
  if (o.target == "cuda")
    return compileCuda(o, module);
  static const char *kStages[] = {"tiled", "vectorized", "bufferized",
                                  "parallel", "llvm"};
  if (std::find(std::begin(kStages), std::end(kStages), o.stage) ==
      std::end(kStages))
    fail("unknown --stage '" + o.stage +
         "' (expected tiled, vectorized, bufferized, parallel or llvm)");
  bool header = o.emit == "header";
  if (o.emit != "mlir" && o.emit != "llvm" && o.emit != "asm" &&
      o.emit != "obj" && o.emit != "bundle" && !header)
    fail(o.emit.empty()
             ? "compile needs --emit mlir|llvm|asm|obj|header|bundle"
             : "unknown --emit '" + o.emit +
                   "' (expected mlir, llvm, asm, obj, header or bundle)");
  if (o.emit == "bundle" && !o.mcpu.empty())
    fail("--mcpu applies to --emit llvm|asm|obj: a bundle is compiled for "
         "the machine that runs it");
  if (o.emit == "bundle") {
    // Entries' ABIs + a shared object: what attnir.load and runtime-only
    // builds run.
    std::string err;
    Bundle bundle;
    if (!compileToBundle(module, pipelineOptions(o), bundle, err))
      fail(err);
    if (o.outFile == "-")
      fail("--emit bundle needs -o FILE");
    if (!bundle.writeFile(o.outFile, err))
      fail(err);
    return 0;
  }
  std::string err;
  std::vector<SpecEntry> entries;
  if (!collectEntries(module, "", entries, err))
    fail(err);
  std::vector<EntrySignature> sigs;
  for (SpecEntry &e : entries)
    sigs.push_back(std::move(e.sig));
  auto out = openOutputFile(o.outFile, &err);
  if (!out)
    fail("cannot write '" + o.outFile + "': " + err);
  if (header) {
    // The C ABI of attn-prepare-abi: one memref descriptor per input, then
    // per output.
    auto &os = out->os();
    os << "/* Generated by attnc from " << o.spec
       << ". Link with the object from `attnc compile --emit obj` and "
          "libomp. */\n#pragma once\n#include <stdint.h>\n\n";
    std::set<size_t> ranks;
    for (auto &s : sigs) {
      for (auto &a : s.inputs)
        ranks.insert(a.shape.size());
      for (auto &a : s.outputs)
        ranks.insert(a.shape.size());
    }
    for (size_t r : ranks)
      os << "typedef struct { void *allocated; void *aligned; int64_t offset; "
            "int64_t sizes["
         << r << "]; int64_t strides[" << r << "]; } attn_memref" << r
         << "_t;\n";
    os << "\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n";
    for (auto &s : sigs) {
      os << "/* " << s.name << ": outputs are written in place */\nvoid _mlir_ciface_"
         << s.name << "(";
      bool first = true;
      auto param = [&](const ArgInfo &a) {
        os << (first ? "" : ", ") << "attn_memref" << a.shape.size() << "_t *"
           << a.name << " /* " << dtypeName(a.dtype) << " */";
        first = false;
      };
      for (auto &a : s.inputs)
        param(a);
      for (auto &a : s.outputs)
        param(a);
      os << ");\n";
    }
    os << "#ifdef __cplusplus\n}\n#endif\n";
    out->keep();
    return 0;
  }
  if (!lowerForCPU(module, pipelineOptions(o),
                   o.emit == "mlir" ? o.stage : "llvm"))
    fail("lowering failed (see the diagnostics above)");
  if (o.emit == "mlir") {
    module->print(out->os());
    out->keep();
    return 0;
  }
  EmitKind kind = o.emit == "llvm"  ? EmitKind::LLVMIR
                  : o.emit == "asm" ? EmitKind::Assembly
                                    : EmitKind::Object;
  if (!emitLLVM(module, kind, out->os(), err, o.mcpu))
    fail(err);
  out->keep();
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  Options o = parseArgs(argc, argv);
  // The kernels' OpenMP runtime reads it when it starts (the JIT loads it
  // later, with the first kernel).
  if (o.threads > 0) {
    if (o.command != "run")
      fail("--threads applies to attnc run");
    setenv("OMP_NUM_THREADS", std::to_string(o.threads).c_str(), 1);
  }

  auto ctx = createContext();
  llvm::SourceMgr sourceMgr;
  auto file = llvm::MemoryBuffer::getFile(o.spec, /*IsText=*/true);
  if (!file)
    fail("cannot open '" + o.spec + "': " + file.getError().message());
  sourceMgr.AddNewSourceBuffer(std::move(*file), llvm::SMLoc());
  SourceMgrDiagnosticHandler diag(sourceMgr, ctx.get(), llvm::errs());
  StringRef specText =
      sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID())->getBuffer();
  OwningOpRef<ModuleOp> module = parseSpec(sourceMgr, ctx.get());
  if (!module)
    return 1;

  if (o.command == "compile")
    return compileSpec(o, *module);

  std::vector<std::string> entries;
  for (auto fn : module->getOps<func::FuncOp>())
    if (!fn.isExternal() && fn.isPublic() &&
        (o.entry.empty() || fn.getName() == o.entry))
      entries.push_back(fn.getName().str());
  if (entries.empty())
    fail(o.entry.empty() ? "'" + o.spec + "' defines no public func.func"
                         : "'" + o.spec + "' has no entry @" + o.entry);
  if (!o.output.empty() && entries.size() > 1)
    fail("--output needs a single entry: add --entry NAME");
  std::unique_ptr<CompiledSpec> cs;
  if (o.target != "cuda") {
    std::string err;
    cs = CompiledSpec::compile(specText, err, &pipelineOptions(o), o.spec,
                               o.entry);
    if (!cs)
      failCompile(o, err);
  }
  int rc = 0;
  for (const std::string &name : entries)
    rc = std::max(rc, runEntry(o, *module, cs.get(), name));
  return rc;
}
