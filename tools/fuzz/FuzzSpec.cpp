//===- FuzzSpec.cpp - libFuzzer target: spec parser, verifier, ABI --------===//
//
// Any bytes as spec text: parse, verify (MLIR's verifier and
// attn-verify-spec), then everything the driver derives from a verified spec
// without compiling it: entry signatures and ABIs (shape classes, roles,
// block lists), the reference's op graph and its text round trip.
//
//===----------------------------------------------------------------------===//

#include "FuzzParse.h"
#include "attnir/Driver/Signature.h"
#include "attnir/Reference/Program.h"
#include <cstdlib>

using namespace attnir;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlir::OwningOpRef<mlir::ModuleOp> module = fuzz::parseQuietly(data, size);
  if (!module)
    return 0;
  std::vector<SpecEntry> entries;
  std::string err;
  if (!collectEntries(*module, "", entries, err))
    return 0;
  for (const SpecEntry &e : entries) {
    // What a bundle stores must read back as itself.
    EntryABI back;
    RefProgram program, again;
    if (!EntryABI::deserialize(e.abi.serialize(), back, err) ||
        back.serialize() != e.abi.serialize() ||
        !RefProgram::parse(e.abi.program, program, err) ||
        !RefProgram::parse(program.print(), again, err) ||
        again.print() != e.abi.program)
      std::abort();
  }
  return 0;
}
