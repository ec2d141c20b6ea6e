//===- SelfContained.cpp - the wheel's library brings its own toolchain ---===//
//
// Compiled only into the self-contained libAttnIRCAPI.so (ATTNIR_SELF_CONTAINED:
// LLVM, MLIR and lld linked in statically), which the wheel ships with
// libomp.so.5 and compiler-rt's builtins beside it. When the library is
// loaded it points the driver at those copies and at lld inside the process,
// so nothing of the machine's LLVM (if any) is ever used.
//
//===----------------------------------------------------------------------===//

#include "attnir/Driver/Toolchain.h"
#include "attnir/Runtime/Kernel.h"
#include "lld/Common/Driver.h"
#include "llvm/Plugins/PassPlugin.h"
#include "llvm/Support/raw_ostream.h"
#include <dlfcn.h>
#include <mutex>

LLD_HAS_DRIVER(elf)

// Debian's LLVM is configured with Polly linked into its tools, so LLVM's
// LTO code (which lld links in) names Polly's plugin entry; Polly ships only
// as a loadable plugin there. The kernels never run Polly: an empty plugin.
llvm::PassPluginLibraryInfo getPollyPluginInfo() {
  return {LLVM_PLUGIN_API_VERSION, "Polly (not built in)", "0"};
}

// lld's driver initialises every target LLVM was built with (for LTO, which
// kernels never use). Defining those initialisers here as no-ops keeps the
// backends of the targets AttnIR does not generate code for (all but X86 and
// NVPTX) out of the library: the linker takes these definitions and never
// extracts the backends' archives. About 100 MB less.
#define ATTNIR_NO_TARGET(T)                                                    \
  extern "C" void LLVMInitialize##T##TargetInfo() {}                           \
  extern "C" void LLVMInitialize##T##Target() {}                               \
  extern "C" void LLVMInitialize##T##TargetMC() {}                             \
  extern "C" void LLVMInitialize##T##AsmParser() {}                            \
  extern "C" void LLVMInitialize##T##AsmPrinter() {}                           \
  extern "C" void LLVMInitialize##T##Disassembler() {}
ATTNIR_NO_TARGET(AArch64)
ATTNIR_NO_TARGET(AMDGPU)
ATTNIR_NO_TARGET(ARM)
ATTNIR_NO_TARGET(AVR)
ATTNIR_NO_TARGET(BPF)
ATTNIR_NO_TARGET(Hexagon)
ATTNIR_NO_TARGET(Lanai)
ATTNIR_NO_TARGET(LoongArch)
ATTNIR_NO_TARGET(Mips)
ATTNIR_NO_TARGET(MSP430)
ATTNIR_NO_TARGET(PowerPC)
ATTNIR_NO_TARGET(RISCV)
ATTNIR_NO_TARGET(Sparc)
ATTNIR_NO_TARGET(SPIRV)
ATTNIR_NO_TARGET(SystemZ)
ATTNIR_NO_TARGET(VE)
ATTNIR_NO_TARGET(WebAssembly)
ATTNIR_NO_TARGET(XCore)
ATTNIR_NO_TARGET(M68k)
ATTNIR_NO_TARGET(Xtensa)
#undef ATTNIR_NO_TARGET

namespace {

/// ld.lld inside the process. lld keeps global state per link, so links run
/// one at a time; after a link that leaves lld unable to run again (lld
/// says so), later links are refused instead of risking a crash.
int linkInProcess(const std::vector<std::string> &args, std::string &log) {
  static std::mutex mutex;
  static bool broken = false;
  std::lock_guard<std::mutex> lock(mutex);
  if (broken) {
    log += "lld cannot run again in this process after an earlier failure; "
           "restart the process\n";
    return 1;
  }
  std::vector<const char *> argv;
  for (const std::string &a : args)
    argv.push_back(a.c_str());
  llvm::raw_string_ostream out(log), err(log);
  lld::Result r = lld::lldMain(argv, out, err, {{lld::Gnu, &lld::elf::link}});
  broken = !r.canRunAgain;
  return r.retCode;
}

/// The folder this library was loaded from.
std::string ownFolder() {
  Dl_info info;
  if (!dladdr(reinterpret_cast<void *>(&linkInProcess), &info) ||
      !info.dli_fname)
    return ".";
  std::string path = info.dli_fname;
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

struct InstallToolchain {
  InstallToolchain() {
    attnir::Toolchain t;
    t.libDir = ownFolder();
    t.openmp = t.libDir + "/libomp.so.5";
    t.builtins = t.libDir + "/libclang_rt.builtins.a";
    t.jitLibraries = {t.openmp};
    t.linker = "ld.lld";
    t.inProcessLinker = &linkInProcess;
    attnir::setOpenMPRuntime(t.openmp);
    attnir::setToolchain(std::move(t));
  }
} installToolchain;

} // namespace
