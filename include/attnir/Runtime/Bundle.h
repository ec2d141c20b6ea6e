//===- Bundle.h - a compiled kernel as one file ---------------------------===//
//
// A bundle is what `attnc compile --emit bundle` and attnir_save write and
// what runtime-only builds load: the entries' ABIs, the CPU features the code
// needs, and the kernel as a shared object, closed by a checksum so that a
// truncated or corrupt file is detected, never run.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_RUNTIME_BUNDLE_H
#define ATTNIR_RUNTIME_BUNDLE_H

#include "attnir/Runtime/EntryABI.h"
#include <string>
#include <vector>

namespace attnir {

struct Bundle {
  std::string target = "cpu";
  /// CPU features the code was compiled for (comma separated, e.g.
  /// "avx2,fma,avx512f"); checked against the host before loading.
  std::string features;
  std::vector<EntryABI> entries;
  /// The kernel: an ELF shared object exporting _mlir_ciface_<entry>.
  std::string object;

  std::string serialize() const;
  /// The line that ends a bundle whose bytes before it are `body`
  /// ("checksum <16 hex digits>\n": FNV-1a, against accidents, not edits).
  static std::string checksumLine(const std::string &body);
  static bool deserialize(const std::string &bytes, Bundle &out,
                          std::string &error);
  bool writeFile(const std::string &path, std::string &error) const;
  static bool readFile(const std::string &path, Bundle &out,
                       std::string &error);
};

/// The features of this host that compiled code may depend on, in the
/// bundle's spelling.
std::string hostFeatures();

/// Empty if every feature in `required` is present on this host, else the
/// first missing one.
std::string missingFeature(const std::string &required);

} // namespace attnir

#endif // ATTNIR_RUNTIME_BUNDLE_H
