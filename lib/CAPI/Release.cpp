//===- Release.cpp - the release and source id in attnir_version() --------===//
//
// The only file that includes the generated SourceId.h (cmake/SourceId.cmake,
// rewritten when the sources change), so a new id recompiles this file alone.
// The Python disk cache keys on what this returns: a kernel cached by one
// build is never loaded by a build of other sources, while the full and
// runtime-only builds of one tree share it.
//
//===----------------------------------------------------------------------===//

#include "Release.h"
#include "SourceId.h"

namespace attnir::capi {
std::string release() {
  std::string r = "attnir 0.1.0";
  if (*ATTNIR_SOURCE_ID)
    r += std::string("+") + ATTNIR_SOURCE_ID;
  return r;
}
} // namespace attnir::capi
