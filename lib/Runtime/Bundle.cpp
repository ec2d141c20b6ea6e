//===- Bundle.cpp - a compiled kernel as one file -------------------------===//

#include "attnir/Runtime/Bundle.h"
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace attnir {
namespace {

const char kMagic[] = "ATTNIR-BUNDLE 1\n";

uint64_t fnv1a(const std::string &s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

/// x86 features LLVM's host target may use that change the instructions
/// emitted, as named by /proc/cpuinfo and __builtin_cpu_supports.
const char *const kFeatures[] = {"avx",      "avx2",     "fma",
                                 "f16c",     "avx512f",  "avx512bw",
                                 "avx512dq", "avx512vl", "avx512bf16",
                                 "avx512vnni"};

bool hostHas(const std::string &f) {
#if defined(__x86_64__)
  if (f == "avx") return __builtin_cpu_supports("avx");
  if (f == "avx2") return __builtin_cpu_supports("avx2");
  if (f == "fma") return __builtin_cpu_supports("fma");
  if (f == "f16c") return __builtin_cpu_supports("f16c");
  if (f == "avx512f") return __builtin_cpu_supports("avx512f");
  if (f == "avx512bw") return __builtin_cpu_supports("avx512bw");
  if (f == "avx512dq") return __builtin_cpu_supports("avx512dq");
  if (f == "avx512vl") return __builtin_cpu_supports("avx512vl");
  if (f == "avx512bf16") return __builtin_cpu_supports("avx512bf16");
  if (f == "avx512vnni") return __builtin_cpu_supports("avx512vnni");
#endif
  return false;
}

} // namespace

std::string hostFeatures() {
  std::string out;
  for (const char *f : kFeatures)
    if (hostHas(f))
      out += (out.empty() ? "" : ",") + std::string(f);
  return out;
}

std::string missingFeature(const std::string &required) {
  std::stringstream ss(required);
  std::string f;
  while (std::getline(ss, f, ','))
    if (!f.empty() && !hostHas(f))
      return f;
  return "";
}

std::string Bundle::serialize() const {
  std::ostringstream os;
  os << kMagic << "target " << target << "\n"
     << "features " << (features.empty() ? "-" : features) << "\n"
     << "entries " << entries.size() << "\n";
  for (const EntryABI &e : entries)
    os << e.serialize();
  os << "object " << object.size() << "\n" << object << "\n";
  std::string body = os.str();
  return body + checksumLine(body);
}

std::string Bundle::checksumLine(const std::string &body) {
  char sum[32];
  std::snprintf(sum, sizeof sum, "%016llx",
                static_cast<unsigned long long>(fnv1a(body)));
  return std::string("checksum ") + sum + "\n";
}

bool Bundle::deserialize(const std::string &bytes, Bundle &out,
                         std::string &error) {
  auto bad = [&](const std::string &why) {
    error = "not a valid AttnIR bundle (" + why + ")";
    return false;
  };
  if (bytes.compare(0, sizeof(kMagic) - 1, kMagic) != 0)
    return bad("bad header");
  size_t sumPos = bytes.rfind("checksum ");
  if (sumPos == std::string::npos || bytes.size() - sumPos < 26)
    return bad("truncated: no checksum");
  // The checksum line ends the file: anything after it was added later
  // (issue 15, case 10).
  if (bytes.size() - sumPos > 26)
    return bad(std::to_string(bytes.size() - sumPos - 26) +
               " bytes after the checksum");
  if (bytes.compare(sumPos, std::string::npos,
                    checksumLine(bytes.substr(0, sumPos))) != 0)
    return bad("checksum mismatch: the file is corrupt");

  // Header: text lines up to "object <size>\n"; the object's bytes follow.
  size_t objLine = bytes.find("\nobject ", sizeof(kMagic) - 2);
  if (objLine == std::string::npos || objLine >= sumPos)
    return bad("no object");
  size_t objStart = bytes.find('\n', objLine + 1);
  if (objStart == std::string::npos || objStart >= sumPos)
    return bad("object header");
  ++objStart;
  unsigned long long size = 0;
  {
    std::string sizeText = bytes.substr(objLine + 8, objStart - 1 - (objLine + 8));
    char *end = nullptr;
    size = std::strtoull(sizeText.c_str(), &end, 10);
    if (sizeText.empty() || *end)
      return bad("object size '" + sizeText + "'");
  }
  if (objStart + size + 1 > sumPos)
    return bad("object truncated");

  Bundle b;
  std::istringstream is(bytes.substr(sizeof(kMagic) - 1,
                                     objLine + 1 - (sizeof(kMagic) - 1)));
  std::string word;
  size_t numEntries = 0;
  if (!(is >> word >> b.target) || word != "target")
    return bad("target");
  if (!(is >> word >> b.features) || word != "features")
    return bad("features");
  if (b.features == "-")
    b.features.clear();
  if (!(is >> word >> numEntries) || word != "entries" || numEntries == 0 ||
      numEntries > 1024)
    return bad("entries");
  std::string line;
  std::getline(is, line); // the rest of the "entries" line
  for (size_t i = 0; i < numEntries; ++i) {
    // Entry i is the lines up to its "end" (reading the rest of the line
    // again per entry swallowed the next entry's name: no bundle of two
    // entries loaded).
    std::string text;
    while (std::getline(is, line)) {
      if (line.empty())
        continue;
      text += line + "\n";
      if (line == "end")
        break;
    }
    EntryABI abi;
    if (!EntryABI::deserialize(text, abi, error))
      return false;
    b.entries.push_back(std::move(abi));
  }
  b.object = bytes.substr(objStart, size);
  out = std::move(b);
  return true;
}

bool Bundle::writeFile(const std::string &path, std::string &error) const {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  std::string bytes = serialize();
  if (!f || !f.write(bytes.data(), bytes.size()) || !(f.flush())) {
    error = "cannot write '" + path + "'";
    return false;
  }
  return true;
}

bool Bundle::readFile(const std::string &path, Bundle &out,
                      std::string &error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    error = "cannot open '" + path + "'";
    return false;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  if (!Bundle::deserialize(ss.str(), out, error)) {
    error = "'" + path + "': " + error;
    return false;
  }
  return true;
}

} // namespace attnir
