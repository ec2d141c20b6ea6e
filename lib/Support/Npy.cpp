//===- Npy.cpp - NumPy .npy files <-> HostTensor --------------------------===//
//
// Format reference: numpy.lib.format. A file is the magic "\x93NUMPY", a
// major/minor version byte pair, a little-endian header length (2 bytes in
// 1.0, 4 bytes in 2.0/3.0), a Python dict literal with keys 'descr',
// 'fortran_order' and 'shape', then the raw array bytes.
//
//===----------------------------------------------------------------------===//

#include "attnir/Support/Npy.h"
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

namespace attnir {

namespace {

const char kMagic[] = "\x93NUMPY";
const size_t kMagicLen = 6;

std::string quoted(const std::string &s) { return "'" + s + "'"; }

/// Makes header text safe to echo in a one-line message.
std::string printable(const std::string &s) {
  std::string out;
  for (char c : s.substr(0, 64)) {
    const unsigned char u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  if (s.size() > 64)
    out += "...";
  return out;
}

struct FileCloser {
  void operator()(std::FILE *f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

/// Reads up to `n` bytes, growing `buf` as data actually arrives so that a
/// header claiming a huge size cannot make us allocate more than the file
/// holds (plus one chunk). Returns the number of bytes read.
size_t readUpTo(std::FILE *f, size_t n, std::vector<uint8_t> &buf) {
  buf.clear();
  size_t have = 0;
  while (have < n) {
    const size_t chunk =
        std::min(n - have, std::max<size_t>(have, size_t(1) << 16));
    buf.resize(have + chunk);
    const size_t got = std::fread(buf.data() + have, 1, chunk, f);
    have += got;
    if (got < chunk)
      break;
  }
  buf.resize(have);
  return have;
}

/// Parses the header dict. numpy writes it with Python's repr, so we accept
/// that grammar: single- or double-quoted strings, True/False, and a tuple
/// (or list) of non-negative integers, with optional trailing commas and
/// Python 2 'L' suffixes.
class HeaderParser {
public:
  explicit HeaderParser(const std::string &text) : s(text) {}

  bool parse() {
    skipSpace();
    if (!consume('{'))
      return fail("expected '{'");
    bool haveDescr = false, haveOrder = false, haveShape = false;
    while (true) {
      skipSpace();
      if (consume('}'))
        break;
      std::string key;
      if (!parseString(key))
        return fail("expected a quoted key");
      skipSpace();
      if (!consume(':'))
        return fail("expected ':' after key " + quoted(printable(key)));
      skipSpace();
      bool *seen;
      bool ok;
      if (key == "descr") {
        seen = &haveDescr;
        ok = parseString(descr) || fail("'descr' is not a string");
      } else if (key == "fortran_order") {
        seen = &haveOrder;
        ok = parseBool(fortranOrder) ||
             fail("'fortran_order' is not True or False");
      } else if (key == "shape") {
        seen = &haveShape;
        ok = parseShape();
      } else {
        return fail("unexpected key " + quoted(printable(key)));
      }
      if (!ok)
        return false;
      if (*seen)
        return fail("duplicate key " + quoted(key));
      *seen = true;
      skipSpace();
      if (consume(','))
        continue;
      if (consume('}'))
        break;
      return fail("expected ',' or '}'");
    }
    skipSpace();
    if (pos != s.size())
      return fail("unexpected text after the dictionary");
    if (!haveDescr)
      return fail("missing key 'descr'");
    if (!haveOrder)
      return fail("missing key 'fortran_order'");
    if (!haveShape)
      return fail("missing key 'shape'");
    return true;
  }

  std::string descr;
  bool fortranOrder = false;
  std::vector<int64_t> shape;
  std::string error;

private:
  bool fail(const std::string &msg) {
    if (error.empty())
      error = msg;
    return false;
  }

  // NUL padding is tolerated alongside whitespace.
  void skipSpace() {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t' ||
                              s[pos] == '\n' || s[pos] == '\r' ||
                              s[pos] == '\0'))
      ++pos;
  }

  bool consume(char c) {
    if (pos < s.size() && s[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }

  bool consumeWord(const char *w) {
    const size_t n = std::strlen(w);
    if (s.compare(pos, n, w) != 0)
      return false;
    pos += n;
    return true;
  }

  bool parseString(std::string &out) {
    if (pos >= s.size() || (s[pos] != '\'' && s[pos] != '"'))
      return false;
    const char q = s[pos++];
    out.clear();
    while (pos < s.size() && s[pos] != q) {
      if (s[pos] == '\\' && pos + 1 < s.size())
        ++pos;
      out += s[pos++];
    }
    return consume(q);
  }

  bool parseBool(bool &out) {
    if (consumeWord("True"))
      out = true;
    else if (consumeWord("False"))
      out = false;
    else
      return false;
    return true;
  }

  bool parseShape() {
    char close;
    if (consume('('))
      close = ')';
    else if (consume('['))
      close = ']';
    else
      return fail("'shape' is not a tuple");
    shape.clear();
    while (true) {
      skipSpace();
      if (consume(close))
        return true;
      int64_t dim;
      if (!parseDim(dim))
        return false;
      shape.push_back(dim);
      skipSpace();
      if (consume(','))
        continue;
      if (consume(close))
        return true;
      return fail("malformed 'shape' tuple");
    }
  }

  bool parseDim(int64_t &out) {
    if (pos < s.size() && s[pos] == '-')
      return fail("negative dimension in 'shape'");
    if (pos >= s.size() || s[pos] < '0' || s[pos] > '9')
      return fail("malformed 'shape' tuple");
    int64_t v = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      const int digit = s[pos++] - '0';
      if (v > (std::numeric_limits<int64_t>::max() - digit) / 10)
        return fail("dimension in 'shape' is too large");
      v = v * 10 + digit;
    }
    if (pos < s.size() && (s[pos] == 'L' || s[pos] == 'l'))
      ++pos;
    out = v;
    return true;
  }

  const std::string &s;
  size_t pos = 0;
};

bool descrToDType(const std::string &descr, DType &out) {
  if (descr == "<f4")
    out = DType::F32;
  else if (descr == "<f8")
    out = DType::F64;
  else if (descr == "<f2")
    out = DType::F16;
  else if (descr == "<i4")
    out = DType::I32;
  else if (descr == "<i8")
    out = DType::I64;
  else if (descr == "<V2" || descr == "|V2" || descr == "bfloat16" ||
           descr == "<bfloat16" || descr == "|bfloat16")
    out = DType::BF16;
  else
    return false;
  return true;
}

const char *dtypeToDescr(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "<f4";
  case DType::F64:
    return "<f8";
  case DType::F16:
    return "<f2";
  case DType::BF16:
    return "<V2";
  case DType::I32:
    return "<i4";
  case DType::I64:
    return "<i8";
  }
  return "";
}

/// Element count and byte size of `shape`, or false if either overflows.
/// Zero-size dims are skipped in the overflow check of the product, but a
/// shape like (0, 2^62, 2^62) is still rejected: numpy cannot create it.
bool byteSize(const std::vector<int64_t> &shape, size_t elemSize,
              int64_t &numElements, size_t &bytes) {
  const int64_t max = std::numeric_limits<int64_t>::max();
  int64_t nonZero = 1;
  bool anyZero = false;
  for (int64_t d : shape) {
    if (d == 0) {
      anyZero = true;
      continue;
    }
    if (nonZero > max / d)
      return false;
    nonZero *= d;
  }
  if (nonZero > max / static_cast<int64_t>(elemSize) ||
      static_cast<uint64_t>(nonZero) * elemSize >
          std::numeric_limits<size_t>::max())
    return false;
  numElements = anyZero ? 0 : nonZero;
  bytes = static_cast<size_t>(numElements) * elemSize;
  return true;
}

std::string errnoText(int err) {
  return err ? std::strerror(err) : "unknown error";
}

/// One .npy file being read: its name for messages and the stream.
struct NpyReader {
  std::FILE *f;
  std::string name;
  std::string &error;

  /// A short read is either EOF (a truncated or foreign file) or an I/O
  /// error such as EISDIR; report the latter as such.
  bool readFailed() {
    if (!std::ferror(f))
      return false;
    error = name + ": read error: " + errnoText(errno);
    return true;
  }

  /// The magic, the version, the header length and the header's text.
  bool readHeaderText(std::string &text) {
    std::vector<uint8_t> buf;
    errno = 0;
    const size_t prefix = readUpTo(f, kMagicLen + 2, buf);
    if (prefix < kMagicLen + 2 && readFailed())
      return false;
    if (prefix < kMagicLen || std::memcmp(buf.data(), kMagic, kMagicLen) != 0) {
      error = name + " is not a .npy file (bad magic)";
      return false;
    }
    if (prefix < kMagicLen + 2) {
      error = name + ": truncated header";
      return false;
    }
    const int major = buf[kMagicLen], minor = buf[kMagicLen + 1];
    size_t lenBytes;
    if (major == 1 && minor == 0)
      lenBytes = 2;
    else if ((major == 2 || major == 3) && minor == 0)
      lenBytes = 4;
    else {
      error = name + ": unsupported .npy format version " + std::to_string(major) + "." +
              std::to_string(minor);
      return false;
    }
    if (readUpTo(f, lenBytes, buf) < lenBytes) {
      if (!readFailed())
        error = name + ": truncated header";
      return false;
    }
    size_t headerLen = 0;
    for (size_t i = 0; i < lenBytes; ++i)
      headerLen |= size_t(buf[i]) << (8 * i);
    const size_t gotHeader = readUpTo(f, headerLen, buf);
    if (gotHeader < headerLen) {
      if (!readFailed())
        error = name + ": truncated header (expected " + std::to_string(headerLen) +
                " bytes, found " + std::to_string(gotHeader) + ")";
      return false;
    }
    text.assign(buf.begin(), buf.end());
    return true;
  }

  /// The header's dtype and shape into `t`, and the data's size in bytes.
  bool parseHeader(const std::string &text, HostTensor &t, size_t &bytes) {
    HeaderParser header(text);
    if (!header.parse()) {
      error = name + ": malformed header: " + header.error;
      return false;
    }
    if (!descrToDType(header.descr, t.dtype)) {
      error = name + ": unsupported dtype " + quoted(printable(header.descr)) +
              " (expected float32, float16, bfloat16, float64, int32 or int64)";
      return false;
    }
    if (header.fortranOrder) {
      error = name + ": Fortran-order arrays are not supported";
      return false;
    }
    int64_t numElements;
    if (!byteSize(header.shape, dtypeSize(t.dtype), numElements, bytes)) {
      error = name + ": shape is too large";
      return false;
    }
    t.shape = std::move(header.shape);
    return true;
  }

  /// A regular file shorter than its header says is truncated: say so
  /// without reading. Issue 15, case 5: a header declaring more than the
  /// machine holds (of a file that really is that large, or sparse) is
  /// refused before reading, instead of growing the buffer until the
  /// allocator gives up.
  bool dataCanFit(size_t bytes) {
    struct stat st;
    long at = std::ftell(f);
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && at >= 0 &&
        static_cast<uint64_t>(st.st_size - at) < bytes) {
      error = name + ": truncated data (expected " + std::to_string(bytes) + " bytes, found " +
              std::to_string(st.st_size - at) + ")";
      return false;
    }
    const double memory = static_cast<double>(sysconf(_SC_PHYS_PAGES)) *
                          static_cast<double>(sysconf(_SC_PAGE_SIZE));
    if (static_cast<double>(bytes) > 0.8 * memory) {
      error = name + ": the header declares " + std::to_string(bytes >> 20) +
              " MiB of data, more than this machine's memory (" +
              std::to_string(static_cast<long long>(memory) >> 20) + " MiB)";
      return false;
    }
    return true;
  }
};

} // namespace

bool readNpy(const std::string &path, HostTensor &out, std::string &error) {
  const std::string name = quoted(path);
  errno = 0;
  FilePtr file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    error = "cannot open " + name + ": " + errnoText(errno);
    return false;
  }
  NpyReader r{file.get(), name, error};
  std::string headerText;
  HostTensor t;
  size_t bytes;
  if (!r.readHeaderText(headerText) || !r.parseHeader(headerText, t, bytes) ||
      !r.dataCanFit(bytes))
    return false;
  const size_t gotData = readUpTo(r.f, bytes, t.data);
  if (gotData < bytes) {
    if (!r.readFailed())
      error = name + ": truncated data (expected " + std::to_string(bytes) + " bytes, found " +
              std::to_string(gotData) + ")";
    return false;
  }
  out = std::move(t);
  return true;
}

bool writeNpy(const std::string &path, const HostTensor &t,
              std::string &error) {
  const std::string name = quoted(path);
  for (int64_t d : t.shape) {
    if (d < 0) {
      error = "cannot write " + name + ": negative dimension in shape";
      return false;
    }
  }
  int64_t numElements;
  size_t bytes;
  if (!byteSize(t.shape, dtypeSize(t.dtype), numElements, bytes) ||
      bytes != t.data.size()) {
    error = "cannot write " + name + ": " + t.shapeString() +
            (t.shape.empty() ? "" : "x") + dtypeName(t.dtype) + " tensor holds " +
            std::to_string(t.data.size()) + " bytes of data";
    return false;
  }

  // Same text as numpy: repr() of the shape tuple, so 1-d gets "(n,)".
  std::string dict = "{'descr': '";
  dict += dtypeToDescr(t.dtype);
  dict += "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < t.shape.size(); ++i)
    dict += (i ? ", " : "") + std::to_string(t.shape[i]);
  dict += t.shape.size() == 1 ? ",), }" : "), }";

  // Pad with spaces and a final '\n' so the data starts 64-byte aligned.
  // Version 1.0 stores the length in 2 bytes; fall back to 2.0 beyond that.
  std::string prefix(kMagic, kMagicLen);
  size_t lenBytes = 2;
  size_t total = kMagicLen + 2 + lenBytes + dict.size() + 1;
  size_t headerLen = ((total + 63) / 64) * 64 - (kMagicLen + 2 + lenBytes);
  if (headerLen > 0xffff) {
    lenBytes = 4;
    total = kMagicLen + 2 + lenBytes + dict.size() + 1;
    headerLen = ((total + 63) / 64) * 64 - (kMagicLen + 2 + lenBytes);
  }
  prefix += static_cast<char>(lenBytes == 2 ? 1 : 2);
  prefix += '\0';
  for (size_t i = 0; i < lenBytes; ++i)
    prefix += static_cast<char>((headerLen >> (8 * i)) & 0xff);
  dict.resize(headerLen - 1, ' ');
  dict += '\n';

  errno = 0;
  FilePtr file(std::fopen(path.c_str(), "wb"));
  if (!file) {
    error = "cannot open " + name + " for writing: " + errnoText(errno);
    return false;
  }
  bool ok = std::fwrite(prefix.data(), 1, prefix.size(), file.get()) ==
                prefix.size() &&
            std::fwrite(dict.data(), 1, dict.size(), file.get()) ==
                dict.size() &&
            (bytes == 0 ||
             std::fwrite(t.data.data(), 1, bytes, file.get()) == bytes);
  // fclose flushes, so its failure (e.g. ENOSPC) is a write failure too.
  ok = (std::fclose(file.release()) == 0) && ok;
  if (!ok) {
    error = "cannot write " + name + ": " + errnoText(errno);
    return false;
  }
  return true;
}

} // namespace attnir
