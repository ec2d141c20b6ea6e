//===- FuzzBundle.cpp - libFuzzer target: the bundle loader ---------------===//
//
// Any bytes as a bundle, with the checksum made right by the harness (a
// checksum is not a defence: issue 15, case 6 edited bundles and recomputed
// it). Parsed headers get a known-good kernel object in place of theirs
// and go through Kernel::load, whose checks (entries against the object's
// arity symbols) must refuse every inconsistency; CUDA bundles go through
// Kernel::load as they are (launch contract, program steps); the
// reference's program of each entry must parse or be refused.
//
//===----------------------------------------------------------------------===//

#include "attnir/Reference/Program.h"
#include "attnir/Runtime/Bundle.h"
#include "attnir/Runtime/Kernel.h"
#include <cstdlib>

using namespace attnir;

namespace {
/// The object of a valid CPU bundle, read once from ATTNIR_FUZZ_BUNDLE
/// (scripts/fuzz.sh compiles examples/causal.mlir); empty when unset.
const std::string &goodObject() {
  static std::string object = [] {
    const char *path = std::getenv("ATTNIR_FUZZ_BUNDLE");
    Bundle b;
    std::string err;
    if (!path || !Bundle::readFile(path, b, err))
      return std::string();
    return b.object;
  }();
  return object;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string body(reinterpret_cast<const char *>(data), size);
  // Drop a trailing checksum line the input may carry, then add the right
  // one (the format's FNV-1a over everything before it).
  size_t at = body.rfind("checksum ");
  if (at != std::string::npos)
    body.resize(at);
  Bundle b;
  std::string err;
  if (!Bundle::deserialize(body + Bundle::checksumLine(body), b, err)) {
    if (err.empty())
      std::abort();
    return 0;
  }
  for (const EntryABI &e : b.entries) {
    RefProgram p;
    (void)RefProgram::parse(e.program, p, err);
  }
  if (b.target == "cuda") {
    // The launch contract and the program's steps are checked at load,
    // which needs no GPU (modules load on first launch).
    (void)Kernel::load(std::move(b), err);
    return 0;
  }
  if (goodObject().empty() || b.target != "cpu")
    return 0;
  b.object = goodObject();
  b.features.clear();
  (void)Kernel::load(std::move(b), err);
  return 0;
}
