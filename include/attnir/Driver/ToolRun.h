//===- ToolRun.h - run an external tool on temporary files -------*- C++ -*-===//
//
// ptxas (CUDA cubins) and lld (CPU bundles) are run the same way: write the
// input to a temporary file, run the tool on it with an output path, read
// the output back, remove both. This is that one way.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DRIVER_TOOLRUN_H
#define ATTNIR_DRIVER_TOOLRUN_H

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"
#include <string>
#include <vector>

namespace attnir {

struct ToolRun {
  int exitCode = -1;
  std::string output;  ///< the output file's bytes (exit code 0 only)
  std::string log;     ///< the tool's stdout and stderr
  std::string message; ///< why it could not run, from the OS
};

/// A tool called inside the process instead of as a program: the argument
/// list (argv[0] first); returns the exit code and appends what the tool
/// printed to `log`.
using InProcessTool = int (*)(const std::vector<std::string> &args,
                              std::string &log);

/// Writes the tool's input; false with a message on failure.
using InputWriter =
    llvm::function_ref<bool(llvm::raw_pwrite_stream &, std::string &)>;
/// The tool's argument list (argv[0] first) for its input and output paths.
using ArgsMaker = llvm::function_ref<std::vector<std::string>(
    llvm::StringRef in, llvm::StringRef out)>;

/// Runs `tool` with the arguments `makeArgs(input path, output path)` on a
/// temporary input file (suffix `inExt`) that `writeInput` fills, and reads
/// back the temporary output (suffix `outExt`). False with `error` when the
/// temporaries cannot be made or the output cannot be read after exit code
/// 0; a non-zero exit code is returned in `run` for the caller to explain.
/// With `inProcess`, that function runs on the arguments instead of the
/// program `tool`.
bool runTool(llvm::StringRef tool, llvm::StringRef inExt,
             llvm::StringRef outExt, InputWriter writeInput, ArgsMaker makeArgs,
             ToolRun &run, std::string &error,
             InProcessTool inProcess = nullptr);

} // namespace attnir

#endif // ATTNIR_DRIVER_TOOLRUN_H
