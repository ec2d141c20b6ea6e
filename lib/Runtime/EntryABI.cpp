//===- EntryABI.cpp - argument checks and output shapes -------------------===//

#include "attnir/Runtime/EntryABI.h"
#include "attnir/Runtime/IndexChecks.h"
#include <algorithm>
#include <sstream>
#include <unistd.h>

namespace attnir {

namespace {
/// The shapes of `args` from class values; false when a class is unknown.
bool shapesOf(const std::vector<ABIArg> &args, const char *kind,
              const std::vector<int64_t> &value,
              const std::vector<std::string> &className,
              std::vector<std::vector<int64_t>> &shapes, std::string &error) {
  shapes.assign(args.size(), {});
  for (size_t i = 0; i < args.size(); ++i)
    for (int32_t c : args[i].dimClass) {
      if (value[c] < 0) {
        error = std::string(kind) + " '" + args[i].name +
                "' has a dimension (" + className[c] +
                ") no input determines";
        return false;
      }
      shapes[i].push_back(value[c]);
    }
  return true;
}
} // namespace

bool EntryABI::resolve(const std::vector<std::vector<int64_t>> &inputShapes,
                       std::vector<std::vector<int64_t>> &outputShapes,
                       std::string &error) const {
  std::vector<int64_t> value;
  return classValues(inputShapes, value, error) &&
         shapesOf(outputs, "output", value, className, outputShapes, error);
}

bool EntryABI::resolveWorkspace(
    const std::vector<std::vector<int64_t>> &inputShapes,
    std::vector<std::vector<int64_t>> &shapes, std::string &error) const {
  std::vector<int64_t> value;
  return classValues(inputShapes, value, error) &&
         shapesOf(workspace, "intermediate", value, className, shapes, error);
}

bool EntryABI::classValues(const std::vector<std::vector<int64_t>> &inputShapes,
                           std::vector<int64_t> &value,
                           std::string &error) const {
  if (inputShapes.size() != inputs.size()) {
    error = "@" + name + " takes " + std::to_string(inputs.size()) +
            " inputs, got " + std::to_string(inputShapes.size());
    return false;
  }
  value = classSize;
  // (input, dim) that fixed each class; (-1, -1): the spec's static size.
  std::vector<std::pair<int32_t, int32_t>> source(classSize.size(), {-1, -1});
  // Messages are built only on failure: this runs on every call.
  auto where = [&](size_t arg, size_t d) {
    return "argument '" + inputs[arg].name + "' dimension " +
           std::to_string(d) + " (" + className[inputs[arg].dimClass[d]] +
           ")";
  };
  // A class by the argument that fixed it (two classes may share a name).
  auto named = [&](int32_t c) {
    return source[c].first >= 0 ? where(source[c].first, source[c].second)
                                : className[c];
  };
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ABIArg &a = inputs[i];
    const std::vector<int64_t> &s = inputShapes[i];
    if (s.size() != a.dimClass.size()) {
      error = "argument '" + a.name + "' must have rank " +
              std::to_string(a.dimClass.size()) + ", got rank " +
              std::to_string(s.size());
      return false;
    }
    for (size_t d = 0; d < s.size(); ++d) {
      int32_t c = a.dimClass[d];
      if (s[d] < 0) {
        error = where(i, d) + " is negative";
        return false;
      }
      if (value[c] < 0) {
        value[c] = s[d];
        source[c] = {static_cast<int32_t>(i), static_cast<int32_t>(d)};
        continue;
      }
      if (value[c] != s[d]) {
        error = where(i, d) + " is " + std::to_string(s[d]) + " but " +
                (source[c].first < 0
                     ? std::string("the spec requires")
                     : where(source[c].first, source[c].second) + " is") +
                " " + std::to_string(value[c]);
        return false;
      }
    }
  }
  // Derived classes (query blocks of a block list) follow their source.
  for (const DerivedClass &dc : derived) {
    if (value[dc.src] < 0)
      continue;
    int64_t want = (value[dc.src] + dc.divisor - 1) / dc.divisor;
    if (value[dc.cls] < 0) {
      value[dc.cls] = want;
    } else if (value[dc.cls] != want) {
      error = (source[dc.cls].first >= 0
                   ? "argument '" + inputs[source[dc.cls].first].name +
                         "' dimension " +
                         std::to_string(source[dc.cls].second)
                   : std::string("dimension")) +
              " (" + className[dc.cls] + ") is " +
              std::to_string(value[dc.cls]) + " but ceil(" +
              className[dc.src] + " / " + std::to_string(dc.divisor) +
              ") = " + std::to_string(want);
      return false;
    }
  }
  for (const BlockListABI &bl : blockLists) {
    int64_t hl = value[bl.headsClass], hq = value[bl.hqClass],
            hkv = value[bl.hkvClass];
    if (hl >= 0 && hl != 1 && hl != hq && hl != hkv) {
      error = "argument '" + inputs[bl.indices].name +
              "' dimension 1 (list heads) is " + std::to_string(hl) +
              "; it must be 1, Hq = " + std::to_string(hq) + " or Hkv = " +
              std::to_string(hkv);
      return false;
    }
  }
  for (const HeadSplit &hs : headSplits) {
    int64_t h = value[hs.cls];
    if (h < 0 || h % hs.parts == 0 || (!hs.exact && h > 0 && hs.parts % h == 0))
      continue;
    auto [arg, dim] = source[hs.cls];
    error = (arg >= 0 ? "argument '" + inputs[arg].name + "' dimension " + std::to_string(dim)
                      : "an intermediate value's dimension (" + className[hs.cls] + ")") +
            " has " + std::to_string(h) + " heads, which attn.split_heads cuts into " +
            std::to_string(hs.parts) + " groups: it must be " +
            (hs.exact ? std::string("a positive multiple of ") + std::to_string(hs.parts) +
                            " (the groups are joined again)"
                      : "a positive multiple or divisor of " + std::to_string(hs.parts));
    return false;
  }
  for (auto [a, b] : multipleOf) {
    for (int32_t c : {a, b})
      if (value[c] == 0) {
        error = className[c] + " (number of heads) must be positive";
        return false;
      }
    if (value[a] >= 0 && value[b] >= 0 && value[a] % value[b] != 0) {
      error = named(a) + " is " + std::to_string(value[a]) +
              ", which is not a multiple of " + named(b) + " = " +
              std::to_string(value[b]);
      return false;
    }
  }
  return true;
}

bool EntryABI::check(const std::vector<DType> &dtypes,
                     const std::vector<std::vector<int64_t>> &inputShapes,
                     std::vector<std::vector<int64_t>> &outputShapes,
                     std::string &error) const {
  if (dtypes.size() != inputs.size() || inputShapes.size() != inputs.size()) {
    error = "@" + name + " takes " + std::to_string(inputs.size()) +
            " inputs, got " + std::to_string(dtypes.size());
    return false;
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    if (dtypes[i] != inputs[i].dtype) {
      error = "argument '" + inputs[i].name + "' has dtype " +
              dtypeName(dtypes[i]) + " but @" + name + " expects " +
              dtypeName(inputs[i].dtype);
      return false;
    }
  return resolve(inputShapes, outputShapes, error);
}

int64_t EntryABI::classValue(
    int32_t cls, const std::vector<std::vector<int64_t>> &shapes) const {
  for (size_t i = 0; i < inputs.size() && i < shapes.size(); ++i)
    for (size_t d = 0; d < inputs[i].dimClass.size(); ++d)
      if (inputs[i].dimClass[d] == cls && d < shapes[i].size())
        return shapes[i][d];
  return -1;
}

bool EntryABI::outputDimSource(size_t output, size_t dim,
                               DimSource &src) const {
  src = DimSource();
  if (output >= outputs.size() || dim >= outputs[output].dimClass.size())
    return false;
  int32_t cls = outputs[output].dimClass[dim];
  // A derived class (the query blocks of a list) divides its source's size.
  for (const DerivedClass &d : derived)
    if (d.cls == cls) {
      cls = d.src;
      src.divisor = d.divisor;
    }
  if (cls < 0 || static_cast<size_t>(cls) >= classSize.size())
    return false;
  if (classSize[cls] >= 0) {
    src.size = (classSize[cls] + src.divisor - 1) / src.divisor;
    src.divisor = 1;
    return true;
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    for (size_t d = 0; d < inputs[i].dimClass.size(); ++d)
      if (inputs[i].dimClass[d] == cls) {
        src.input = static_cast<int32_t>(i);
        src.inputDim = static_cast<int32_t>(d);
        return true;
      }
  return false;
}

int32_t EntryABI::inputWithRole(const std::string &role) const {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].role == role)
      return static_cast<int32_t>(i);
  return -1;
}

bool EntryABI::checkIndexOperands(
    const std::vector<const void *> &data,
    const std::vector<std::vector<int64_t>> &shapes,
    std::string &error) const {
  auto view = [&](int32_t i) {
    return IndexView{data[i], inputs[i].dtype, shapes[i], inputs[i].name};
  };
  for (size_t i = 0; i < inputs.size(); ++i)
    if ((inputs[i].role == "q_doc" || inputs[i].role == "k_doc") &&
        !checkDocumentIds(view(i), error))
      return false;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].role == "perm" && !checkPermutation(view(i), error))
      return false;
  for (auto [input, mClass] : rowRanges) {
    int64_t m = classValue(mClass, shapes);
    if (m >= 0 && !checkRowsInRange(view(input), m, error))
      return false;
  }
  for (const BlockListABI &bl : blockLists) {
    int64_t m = classValue(bl.mClass, shapes);
    if (m < 0) {
      error = "@" + name + ": no input gives M, which the block list of '" +
              inputs[bl.indices].name + "' needs";
      return false;
    }
    if (!checkBlockListValues(view(bl.indices), view(bl.counts), m, bl.blockK,
                              error))
      return false;
  }
  return true;
}

double callFootprintBytes(const std::vector<DType> &inTypes,
                          const std::vector<std::vector<int64_t>> &inShapes,
                          const std::vector<DType> &outTypes,
                          const std::vector<std::vector<int64_t>> &outShapes) {
  auto bytes = [](double perElement, const std::vector<int64_t> &shape) {
    for (int64_t d : shape)
      perElement *= static_cast<double>(d);
    return perElement;
  };
  double total = 0;
  for (size_t i = 0; i < inShapes.size(); ++i)
    total += bytes(dtypeSize(inTypes[i]) + 4, inShapes[i]);
  for (size_t i = 0; i < outShapes.size(); ++i)
    total += bytes(dtypeSize(outTypes[i]), outShapes[i]);
  return total;
}

double physicalMemoryBytes() {
  return static_cast<double>(sysconf(_SC_PHYS_PAGES)) *
         static_cast<double>(sysconf(_SC_PAGE_SIZE));
}

std::string EntryABI::serialize() const {
  std::ostringstream os;
  os << "entry " << name << "\n";
  os << "classes " << classSize.size() << "\n";
  for (size_t c = 0; c < classSize.size(); ++c)
    os << "class " << classSize[c] << " " << className[c] << "\n";
  for (auto [a, b] : multipleOf)
    os << "multiple " << a << " " << b << "\n";
  for (const DerivedClass &d : derived)
    os << "derived " << d.cls << " " << d.src << " " << d.divisor << "\n";
  for (const BlockListABI &bl : blockLists)
    os << "blocklist " << bl.indices << " " << bl.counts << " " << bl.blockQ
       << " " << bl.blockK << " " << bl.mClass << " " << bl.hqClass << " "
       << bl.hkvClass << " " << bl.headsClass << "\n";
  for (auto [input, mClass] : rowRanges)
    os << "rows " << input << " " << mClass << "\n";
  for (const HeadSplit &hs : headSplits)
    os << "split " << hs.cls << " " << hs.parts << " " << (hs.exact ? 1 : 0) << "\n";
  auto args = [&](const char *kind, const std::vector<ABIArg> &list) {
    for (const ABIArg &a : list) {
      os << kind << " " << a.name << " " << dtypeName(a.dtype) << " "
         << a.dimClass.size();
      for (int32_t c : a.dimClass)
        os << " " << c;
      os << "\n";
    }
  };
  args("input", inputs);
  args("output", outputs);
  args("workspace", workspace);
  for (const ABIArg &a : workspace)
    if (a.persistent)
      os << "persist " << a.name << "\n";
  for (const KernelStep &st : steps) {
    os << "step " << st.kernel << " " << st.gridArg << " " << st.gridDims
       << " " << st.threads << " " << st.lanes << " " << st.args.size();
    for (const std::string &a : st.args)
      os << " " << a;
    if (st.tileRows != 1 || st.tileCols != 1)
      os << " tile " << st.tileRows << " " << st.tileCols;
    if (st.sharedBytes)
      os << " shared " << st.sharedBytes;
    if (st.smBlocksMin || st.smBlocksMax)
      os << " sm-blocks " << st.smBlocksMin << " " << st.smBlocksMax;
    if ((st.smBlocksMin || st.smBlocksMax) && st.smBlocksPer != 1)
      os << " per " << st.smBlocksPer;
    if (st.afterPrevious)
      os << " after-previous";
    if (st.view.valid())
      os << " view " << (st.view.join ? "join " : "split ") << st.view.dim << " "
         << st.view.part << " " << st.view.parts;
    os << "\n";
  }
  auto roles = [&](const char *kind, const std::vector<ABIArg> &list) {
    for (size_t i = 0; i < list.size(); ++i)
      if (!list[i].role.empty())
        os << "role " << kind << " " << i << " " << list[i].role << "\n";
  };
  roles("input", inputs);
  roles("output", outputs);
  // One "prog" line per line of the program text.
  std::istringstream prog(program);
  for (std::string line; std::getline(prog, line);)
    os << "prog " << line << "\n";
  os << "end\n";
  return os.str();
}

namespace {

// The pieces of EntryABI::deserialize. Each returns false with `what` set
// to the part of the description that is corrupt.

/// The rest of a "step" line: kernel, grid, threads, lanes, arguments,
/// then the optional "tile R C", "shared BYTES", "sm-blocks MIN MAX [per
/// K]", "after-previous" and "view split|join DIM PART PARTS".
bool parseStep(std::istream &is, bool first, KernelStep &st, std::string &what) {
  size_t n;
  if (!(is >> st.kernel >> st.gridArg >> st.gridDims >> st.threads >> st.lanes >> n) ||
      n > 64 || st.lanes < 1 || st.lanes > 1024)
    return what = "step line", false;
  for (size_t i = 0; i < n; ++i) {
    std::string a;
    if (!(is >> a))
      return what = "step arguments", false;
    st.args.push_back(a);
  }
  std::string rest, word;
  std::getline(is, rest);
  std::istringstream rs(rest);
  while (rs >> word) {
    if (word == "tile") {
      if (!(rs >> st.tileRows >> st.tileCols) || st.tileRows < 1 || st.tileCols < 1 ||
          st.tileRows > 1024 || st.tileCols > 1024 || st.gridDims < 2)
        return what = "step tile", false;
    } else if (word == "sm-blocks") {
      if (!(rs >> st.smBlocksMin >> st.smBlocksMax) || st.smBlocksMin < 0 ||
          st.smBlocksMax < 0 || st.smBlocksMin > 1024 || st.smBlocksMax > 1024)
        return what = "step sm-blocks", false;
      // An optional "per K": the bounds count blocks per K SMs.
      std::streampos at = rs.tellg();
      std::string per;
      if (rs >> per && per == "per") {
        if (!(rs >> st.smBlocksPer) || st.smBlocksPer < 1 || st.smBlocksPer > 64)
          return what = "step sm-blocks per", false;
      } else {
        rs.clear();
        rs.seekg(at);
      }
    } else if (word == "after-previous") {
      if (first)
        return what = "after-previous on the first step", false;
      st.afterPrevious = true;
    } else if (word == "view") {
      std::string kind;
      HeadView &v = st.view;
      if (!(rs >> kind >> v.dim >> v.part >> v.parts) || (kind != "split" && kind != "join") ||
          v.dim < 0 || v.dim >= 16 || v.parts < 1 || v.parts > 4096 || v.part < 0 ||
          v.part >= v.parts || st.args.size() != 2)
        return what = "step view", false;
      v.join = kind == "join";
    } else if (word == "shared") {
      // 227 KB: the most any CUDA GPU gives one block.
      if (!(rs >> st.sharedBytes) || st.sharedBytes < 0 || st.sharedBytes > 232448)
        return what = "step shared memory", false;
    } else {
      return what = "step line", false;
    }
  }
  return true;
}

/// An "input", "output" or "workspace" line: name, dtype, rank, classes.
bool parseArg(const std::string &kind, std::istream &is, EntryABI &abi, std::string &what) {
  ABIArg arg;
  std::string dt;
  size_t rank;
  if (!(is >> arg.name >> dt >> rank) || !parseDType(dt, arg.dtype) || rank > 16)
    return what = kind + " line", false;
  for (size_t d = 0; d < rank; ++d) {
    int32_t c;
    if (!(is >> c))
      return what = kind + " dims", false;
    arg.dimClass.push_back(c);
  }
  (kind == "input" ? abi.inputs : kind == "output" ? abi.outputs : abi.workspace)
      .push_back(std::move(arg));
  return true;
}

/// One line of the description after its first word.
bool parseLine(const std::string &word, std::istream &is, EntryABI &abi, std::string &what) {
  auto fail = [&](const std::string &w) { return what = w, false; };
  if (word == "class") {
    int64_t size;
    std::string cname;
    if (!(is >> size >> cname))
      return fail("class line");
    abi.classSize.push_back(size);
    abi.className.push_back(cname);
  } else if (word == "multiple") {
    int32_t a, b;
    if (!(is >> a >> b))
      return fail("multiple line");
    abi.multipleOf.push_back({a, b});
  } else if (word == "derived") {
    DerivedClass d;
    if (!(is >> d.cls >> d.src >> d.divisor) || d.divisor <= 0)
      return fail("derived line");
    abi.derived.push_back(d);
  } else if (word == "blocklist") {
    BlockListABI bl;
    if (!(is >> bl.indices >> bl.counts >> bl.blockQ >> bl.blockK >> bl.mClass >> bl.hqClass >>
          bl.hkvClass >> bl.headsClass) ||
        bl.blockQ <= 0 || bl.blockK <= 0)
      return fail("blocklist line");
    abi.blockLists.push_back(bl);
  } else if (word == "split") {
    HeadSplit hs;
    int exact = 0;
    if (!(is >> hs.cls >> hs.parts >> exact) || hs.cls < 0 || hs.parts < 1 || hs.parts > 1024 ||
        (exact != 0 && exact != 1))
      return fail("split line");
    hs.exact = exact == 1;
    abi.headSplits.push_back(hs);
  } else if (word == "rows") {
    int32_t input, mClass;
    if (!(is >> input >> mClass) || input < 0 || mClass < 0)
      return fail("rows line");
    abi.rowRanges.push_back({input, mClass});
  } else if (word == "prog") {
    std::string line;
    std::getline(is, line);
    if (!line.empty() && line[0] == ' ')
      line.erase(0, 1);
    abi.program += line + "\n";
  } else if (word == "role") {
    std::string kind, role;
    size_t idx;
    if (!(is >> kind >> idx >> role) || (kind != "input" && kind != "output"))
      return fail("role line");
    auto &list = kind == "input" ? abi.inputs : abi.outputs;
    if (idx >= list.size())
      return fail("role of a missing argument");
    list[idx].role = role;
  } else if (word == "step") {
    KernelStep st;
    if (!parseStep(is, abi.steps.empty(), st, what))
      return false;
    abi.steps.push_back(std::move(st));
  } else if (word == "persist") {
    std::string name;
    if (!(is >> name))
      return fail("persist line");
    auto it = std::find_if(abi.workspace.begin(), abi.workspace.end(),
                           [&](const ABIArg &a) { return a.name == name; });
    if (it == abi.workspace.end())
      return fail("persist names no workspace buffer");
    it->persistent = true;
  } else if (word == "input" || word == "output" || word == "workspace") {
    return parseArg(word, is, abi, what);
  } else {
    return fail("unknown line '" + word + "'");
  }
  return true;
}

/// Every class id, input index and step argument in range.
bool checkReferences(const EntryABI &abi, size_t numClasses, std::string &what) {
  auto fail = [&](const std::string &w) { return what = w, false; };
  auto valid = [&](int32_t c) { return c >= 0 && static_cast<size_t>(c) < numClasses; };
  for (auto &list : {&abi.inputs, &abi.outputs, &abi.workspace})
    for (const ABIArg &a : *list)
      for (int32_t c : a.dimClass)
        if (!valid(c))
          return fail("class id out of range");
  for (auto [a, b] : abi.multipleOf)
    if (!valid(a) || !valid(b))
      return fail("class id out of range");
  for (const DerivedClass &d : abi.derived)
    if (!valid(d.cls) || !valid(d.src))
      return fail("class id out of range");
  auto validInput = [&](int32_t i, size_t rank) {
    return i >= 0 && static_cast<size_t>(i) < abi.inputs.size() &&
           abi.inputs[i].dimClass.size() == rank && isIntegerDType(abi.inputs[i].dtype);
  };
  for (const KernelStep &st : abi.steps) {
    if (st.threads < 0 || st.threads > 1024 || st.gridArg < -1 ||
        st.gridArg >= static_cast<int32_t>(st.args.size()) ||
        (st.gridArg >= 0 && (st.threads == 0 || st.gridDims < 1)))
      return fail("step launch out of range");
    for (const std::string &a : st.args)
      if (abi.bufferOf(a) == nullptr)
        return fail("step argument '" + a + "'");
    if (st.gridArg >= 0 &&
        static_cast<size_t>(st.gridDims) > abi.bufferOf(st.args[st.gridArg])->dimClass.size())
      return fail("step grid out of range");
    if (st.view.valid()) {
      const ABIArg *part = abi.bufferOf(st.args[st.view.join ? 0 : 1]);
      const ABIArg *parent = abi.bufferOf(st.args[st.view.join ? 1 : 0]);
      if (part->dtype != parent->dtype || part->dimClass.size() != parent->dimClass.size() ||
          static_cast<size_t>(st.view.dim) >= part->dimClass.size())
        return fail("step view out of range");
    }
  }
  for (const BlockListABI &bl : abi.blockLists)
    if (!validInput(bl.indices, 4) || !validInput(bl.counts, 3) || !valid(bl.mClass) ||
        !valid(bl.hqClass) || !valid(bl.hkvClass) || !valid(bl.headsClass))
      return fail("block list out of range");
  for (auto [input, mClass] : abi.rowRanges)
    if (!validInput(input, 3) || !valid(mClass))
      return fail("rows out of range");
  for (const HeadSplit &hs : abi.headSplits)
    if (!valid(hs.cls))
      return fail("split out of range");
  return true;
}

} // namespace

bool EntryABI::deserialize(const std::string &text, EntryABI &abi, std::string &error) {
  abi = EntryABI();
  std::istringstream is(text);
  std::string word, what;
  size_t numClasses = 0;
  auto bad = [&](const std::string &w) {
    error = "corrupt entry description: " + w;
    return false;
  };
  if (!(is >> word) || word != "entry" || !(is >> abi.name))
    return bad("missing entry name");
  if (!(is >> word) || word != "classes" || !(is >> numClasses) || numClasses > 4096)
    return bad("missing class count");
  while (is >> word && word != "end")
    if (!parseLine(word, is, abi, what))
      return bad(what);
  if (word != "end" || abi.classSize.size() != numClasses)
    return bad("truncated");
  if (!checkReferences(abi, numClasses, what))
    return bad(what);
  return true;
}

int64_t KernelStep::items(const std::vector<int64_t> &shape) const {
  int64_t n = lanes;
  for (int32_t d = 0; d < gridDims; ++d) {
    int64_t size = shape[d];
    if (d == gridDims - 2)
      size = (size + tileRows - 1) / tileRows;
    else if (d == gridDims - 1)
      size = (size + tileCols - 1) / tileCols;
    n *= size;
  }
  return n;
}

bool Binding::parse(const std::string &text, Binding &out) {
  if (text.size() < 2 || text.size() > 8 ||
      (text[0] != 'i' && text[0] != 'o' && text[0] != 'w'))
    return false;
  size_t idx = 0;
  for (size_t i = 1; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9')
      return false;
    idx = idx * 10 + (text[i] - '0');
  }
  if (text != text.substr(0, 1) + std::to_string(idx))
    return false; // "i01": one spelling per buffer
  out = {text[0], idx};
  return true;
}

const ABIArg *EntryABI::bufferOf(const std::string &binding) const {
  Binding bd;
  if (!Binding::parse(binding, bd))
    return nullptr;
  const std::vector<ABIArg> &list = bd.kind == 'i'   ? inputs
                                    : bd.kind == 'o' ? outputs
                                                     : workspace;
  return bd.index < list.size() ? &list[bd.index] : nullptr;
}

} // namespace attnir
