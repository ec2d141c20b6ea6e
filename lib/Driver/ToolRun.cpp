//===- ToolRun.cpp - run an external tool on temporary files -------------===//

#include "attnir/Driver/ToolRun.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"

namespace attnir {

static bool readOutput(llvm::StringRef tool, llvm::StringRef out, ToolRun &run,
                       std::string &error) {
  auto bytes = llvm::MemoryBuffer::getFile(out, /*IsText=*/false);
  if (!bytes) {
    error = "cannot read the output of " + tool.str() + ": " +
            bytes.getError().message();
    return false;
  }
  run.output = (*bytes)->getBuffer().str();
  return true;
}

bool runTool(llvm::StringRef tool, llvm::StringRef inExt,
             llvm::StringRef outExt, InputWriter writeInput, ArgsMaker makeArgs,
             ToolRun &run, std::string &error, InProcessTool inProcess) {
  run = ToolRun();
  llvm::SmallString<128> in, out, log;
  if (llvm::sys::fs::createTemporaryFile("attnir-kernel", inExt, in) ||
      llvm::sys::fs::createTemporaryFile("attnir-kernel", outExt, out) ||
      llvm::sys::fs::createTemporaryFile("attnir-tool", "log", log)) {
    error = "cannot create temporary files";
    return false;
  }
  llvm::FileRemover removeIn(in), removeOut(out), removeLog(log);
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(in, ec, llvm::sys::fs::OF_None);
    if (ec) {
      error = "cannot write '" + in.str().str() + "': " + ec.message();
      return false;
    }
    if (!writeInput(os, error))
      return false;
  }
  std::vector<std::string> args = makeArgs(in, out);
  if (inProcess) {
    run.exitCode = inProcess(args, run.log);
    return run.exitCode != 0 || readOutput(tool, out, run, error);
  }
  llvm::SmallVector<llvm::StringRef> argRefs(args.begin(), args.end());
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, log.str(),
                                                log.str()};
  run.exitCode = llvm::sys::ExecuteAndWait(tool, argRefs, std::nullopt,
                                           redirects, 0, 0, &run.message);
  if (auto text = llvm::MemoryBuffer::getFile(log))
    run.log = (*text)->getBuffer().str();
  return run.exitCode != 0 || readOutput(tool, out, run, error);
}

} // namespace attnir
