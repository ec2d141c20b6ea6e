//===- Program.cpp - text form of a spec's op graph -----------------------===//
//
// Line based and whitespace separated. An op line is
//   KIND ROLE=%ID... -> ROLE=%ID... | i.NAME=INT... f.NAME=HEXFLOAT... m.NAME=MASK...
// The reader trusts nothing: bundles are checksummed, not signed, and the
// program text is the reference's only input besides the tensors.
//
//===----------------------------------------------------------------------===//

#include "attnir/Reference/Program.h"
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

namespace attnir {

int RefOp::operand(const std::string &role) const {
  auto it = operands.find(role);
  return it == operands.end() ? -1 : it->second;
}

std::string printMask(const RefMask &mask) {
  std::string s = mask.kind;
  if (!mask.params.empty()) {
    s += "[";
    for (size_t i = 0; i < mask.params.size(); ++i)
      s += (i ? "," : "") + std::to_string(mask.params[i]);
    s += "]";
  }
  if (!mask.children.empty()) {
    s += "(";
    for (size_t i = 0; i < mask.children.size(); ++i)
      s += (i ? "," : "") + printMask(mask.children[i]);
    s += ")";
  }
  return s;
}

namespace {
constexpr int kMaxDepth = 256;
constexpr size_t kMaxValues = 1 << 20;

bool isIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

/// Recursive descent over the mask text; `pos` advances past what it reads.
bool parseMaskAt(const std::string &t, size_t &pos, int depth, RefMask &out,
                 std::string &error) {
  if (depth > kMaxDepth) {
    error = "mask nests deeper than " + std::to_string(kMaxDepth);
    return false;
  }
  size_t start = pos;
  while (pos < t.size() && isIdentChar(t[pos]))
    ++pos;
  if (pos == start) {
    error = "expected a mask kind at offset " + std::to_string(start);
    return false;
  }
  out = RefMask{t.substr(start, pos - start), {}, {}};
  if (pos < t.size() && t[pos] == '[') {
    do {
      ++pos;
      const char *begin = t.c_str() + pos;
      char *end = nullptr;
      errno = 0;
      long long v = std::strtoll(begin, &end, 10);
      if (end == begin || errno == ERANGE) {
        error = "bad mask parameter at offset " + std::to_string(pos);
        return false;
      }
      out.params.push_back(v);
      pos += end - begin;
    } while (pos < t.size() && t[pos] == ',');
    if (pos >= t.size() || t[pos] != ']') {
      error = "expected ']' in mask";
      return false;
    }
    ++pos;
  }
  if (pos < t.size() && t[pos] == '(') {
    do {
      ++pos;
      out.children.emplace_back();
      if (!parseMaskAt(t, pos, depth + 1, out.children.back(), error))
        return false;
    } while (pos < t.size() && t[pos] == ',');
    if (pos >= t.size() || t[pos] != ')') {
      error = "expected ')' in mask";
      return false;
    }
    ++pos;
  }
  return true;
}

std::string hexFloat(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

/// "%12" -> 12; false unless the whole word is a value id below the limit.
bool parseValue(const std::string &w, int &id) {
  if (w.size() < 2 || w[0] != '%' || w.size() > 9)
    return false;
  for (size_t i = 1; i < w.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(w[i])))
      return false;
  long v = std::strtol(w.c_str() + 1, nullptr, 10);
  if (v < 0 || static_cast<size_t>(v) >= kMaxValues)
    return false;
  id = static_cast<int>(v);
  return true;
}
} // namespace

std::string printRule(const RefRule &rule) {
  std::string s = std::to_string(rule.numArgs);
  for (const RefInstr &in : rule.instrs) {
    s += ";" + in.name;
    if (!in.ints.empty()) {
      s += "[";
      for (size_t i = 0; i < in.ints.size(); ++i)
        s += (i ? "," : "") + std::to_string(in.ints[i]);
      s += "]";
    }
    if (in.value != 0 || std::signbit(in.value))
      s += "{" + hexFloat(in.value) + "}";
    s += "(";
    for (size_t i = 0; i < in.operands.size(); ++i)
      s += (i ? "," : "") + std::to_string(in.operands[i]);
    s += ")";
  }
  return s;
}

namespace {
/// A comma separated list of integers up to `close`; `pos` is past the
/// opening bracket and ends past `close`.
bool parseIntList(const std::string &t, size_t &pos, char close,
                  std::vector<int64_t> &out) {
  if (pos < t.size() && t[pos] == close) {
    ++pos;
    return true;
  }
  while (true) {
    const char *begin = t.c_str() + pos;
    char *end = nullptr;
    errno = 0;
    long long v = std::strtoll(begin, &end, 10);
    if (end == begin || errno == ERANGE)
      return false;
    out.push_back(v);
    pos += end - begin;
    if (pos >= t.size())
      return false;
    if (t[pos] == close) {
      ++pos;
      return true;
    }
    if (t[pos++] != ',')
      return false;
  }
}
} // namespace

bool parseRule(const std::string &text, RefRule &out, std::string &error) {
  out = RefRule();
  size_t pos = 0;
  std::vector<int64_t> head;
  std::string t = text + ";";
  if (!parseIntList(t, pos, ';', head) || head.size() != 1 || head[0] < 0 ||
      head[0] > 4096) {
    error = "rule without an argument count";
    return false;
  }
  out.numArgs = static_cast<int>(head[0]);
  int defined = out.numArgs;
  while (pos < text.size()) {
    RefInstr in;
    size_t start = pos;
    while (pos < t.size() && (isIdentChar(t[pos]) || t[pos] == '.'))
      ++pos;
    in.name = t.substr(start, pos - start);
    auto bad = [&](const char *why) {
      error = std::string("rule: ") + why + " at offset " +
              std::to_string(pos);
      return false;
    };
    if (in.name.empty())
      return bad("expected an op name");
    if (t[pos] == '[' && !parseIntList(t, ++pos, ']', in.ints))
      return bad("bad integer list");
    if (t[pos] == '{') {
      size_t close = t.find('}', pos);
      if (close == std::string::npos)
        return bad("unclosed float");
      std::string f = t.substr(pos + 1, close - pos - 1);
      char *end = nullptr;
      in.value = std::strtod(f.c_str(), &end);
      if (f.empty() || *end)
        return bad("bad float");
      pos = close + 1;
    }
    std::vector<int64_t> ids;
    if (t[pos] != '(' || !parseIntList(t, ++pos, ')', ids))
      return bad("bad operand list");
    for (int64_t id : ids) {
      if (id < 0 || id >= defined)
        return bad("operand used before it is defined");
      in.operands.push_back(static_cast<int>(id));
    }
    if (t[pos++] != ';')
      return bad("expected ';'");
    if (out.instrs.size() >= kMaxValues)
      return bad("too many instructions");
    ++defined;
    out.instrs.push_back(std::move(in));
  }
  if (out.instrs.empty() || out.instrs.back().name != "yield" ||
      out.instrs.back().operands.empty()) {
    error = "rule does not end in yield(ID,...)";
    return false;
  }
  return true;
}

bool parseMask(const std::string &text, RefMask &out, std::string &error) {
  size_t pos = 0;
  if (!parseMaskAt(text, pos, 0, out, error))
    return false;
  if (pos != text.size()) {
    error = "trailing text after mask at offset " + std::to_string(pos);
    return false;
  }
  return true;
}

std::string RefProgram::print() const {
  std::ostringstream os;
  os << "args " << numArgs << "\n";
  for (const RefOp &op : ops) {
    os << op.kind;
    for (auto &[role, id] : op.operands)
      os << " " << role << "=%" << id;
    os << " ->";
    for (auto &[role, id] : op.results)
      os << " " << role << "=%" << id;
    os << " |";
    for (auto &[name, v] : op.ints)
      os << " i." << name << "=" << v;
    for (auto &[name, v] : op.floats)
      os << " f." << name << "=" << hexFloat(v);
    for (auto &[name, m] : op.masks)
      os << " m." << name << "=" << printMask(m);
    for (auto &[name, r] : op.rules)
      os << " r." << name << "=" << printRule(r);
    os << "\n";
  }
  os << "return";
  for (int id : returns)
    os << " %" << id;
  os << "\n";
  return os.str();
}

namespace {

/// One `T.NAME=VALUE` attribute of an op line (T: i, f, m or r) into
/// `op`; false with `why` where it does not read.
bool parseAttribute(const std::string &name, const std::string &value, RefOp &op,
                    std::string &why) {
  if (name.size() < 3 || name[1] != '.') {
    why = "attribute '" + name + "' has no type prefix";
    return false;
  }
  std::string key = name.substr(2);
  switch (name[0]) {
  case 'i': {
    char *end = nullptr;
    errno = 0;
    long long v = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end || errno == ERANGE) {
      why = "bad integer '" + value + "'";
      return false;
    }
    op.ints[key] = v;
    return true;
  }
  case 'f': {
    char *end = nullptr;
    double v = std::strtod(value.c_str(), &end);
    if (value.empty() || *end) {
      why = "bad float '" + value + "'";
      return false;
    }
    op.floats[key] = v;
    return true;
  }
  case 'm':
    return parseMask(value, op.masks[key], why);
  case 'r':
    return parseRule(value, op.rules[key], why);
  default:
    why = "unknown attribute type in '" + name + "'";
    return false;
  }
}

/// The words of an op line after its kind: `NAME=%id`... `->` `NAME=%id`...
/// `|` attributes. Operands must be defined; results are new (added to
/// `defined` once the line has read).
bool parseOpWords(std::istringstream &is, std::set<int> &defined, RefOp &op,
                  std::string &why) {
  enum { Operands, Results, Attrs } part = Operands;
  std::vector<int> newResults;
  std::string w;
  while (is >> w) {
    if (w == "->" && part == Operands) {
      part = Results;
      continue;
    }
    if (w == "|" && part == Results) {
      part = Attrs;
      continue;
    }
    size_t eq = w.find('=');
    if (eq == std::string::npos || eq == 0) {
      why = "expected NAME=VALUE, got '" + w + "'";
      return false;
    }
    std::string name = w.substr(0, eq), value = w.substr(eq + 1);
    if (part == Attrs) {
      if (!parseAttribute(name, value, op, why))
        return false;
      continue;
    }
    int id;
    if (!parseValue(value, id)) {
      why = "bad value '" + value + "'";
      return false;
    }
    if (part == Operands && !defined.count(id)) {
      why = "use of undefined value %" + std::to_string(id);
      return false;
    }
    if (part == Results && defined.count(id)) {
      why = "value %" + std::to_string(id) + " defined twice";
      return false;
    }
    (part == Operands ? op.operands : op.results)[name] = id;
    if (part == Results)
      newResults.push_back(id);
  }
  if (part != Attrs) {
    why = "op line without '->' and '|'";
    return false;
  }
  for (int id : newResults)
    if (!defined.insert(id).second) {
      why = "value %" + std::to_string(id) + " defined twice";
      return false;
    }
  return true;
}

} // namespace

bool RefProgram::parse(const std::string &text, RefProgram &out,
                       std::string &error) {
  out = RefProgram();
  std::istringstream lines(text);
  std::string line;
  auto bad = [&](const std::string &why) {
    error = "bad program: " + why + " in '" + line.substr(0, 120) + "'";
    return false;
  };
  if (!std::getline(lines, line))
    return bad("empty");
  {
    std::istringstream is(line);
    std::string w;
    if (!(is >> w >> out.numArgs) || w != "args" || out.numArgs < 0 ||
        out.numArgs > 4096)
      return bad("no argument count");
  }
  std::set<int> defined;
  for (int i = 0; i < out.numArgs; ++i)
    defined.insert(i);
  bool returned = false;
  while (std::getline(lines, line)) {
    if (line.empty())
      continue;
    if (returned)
      return bad("text after return");
    std::istringstream is(line);
    std::string w;
    is >> w;
    if (w == "return") {
      while (is >> w) {
        int id;
        if (!parseValue(w, id) || !defined.count(id))
          return bad("return of an undefined value");
        out.returns.push_back(id);
      }
      returned = true;
      continue;
    }
    RefOp op;
    op.kind = w;
    std::string why;
    if (!parseOpWords(is, defined, op, why))
      return bad(why);
    out.ops.push_back(std::move(op));
  }
  if (!returned)
    return bad("no return");
  return true;
}

} // namespace attnir
