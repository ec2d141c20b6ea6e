//===- Release.h - the release string of attnir_version() -----------------===//
#ifndef ATTNIR_CAPI_RELEASE_H
#define ATTNIR_CAPI_RELEASE_H

#include <string>

namespace attnir::capi {
/// "attnir <release>[+<source id>]" (Release.cpp): attnir_version() without
/// its build suffix; the Python disk cache keys on it.
std::string release();
} // namespace attnir::capi

#endif
