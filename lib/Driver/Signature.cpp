//===- Signature.cpp - entry signatures and shape resolution --------------===//

#include "attnir/Driver/Signature.h"
#include "attnir/Driver/ProgramOf.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Dialect/Attn/Utils/EntryBindings.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/EquivalenceClasses.h"

using namespace mlir;

namespace attnir {
namespace {
/// The roles of q, k and v's dimensions, which shape defaults key on.
bool isOperandRole(StringRef role) {
  return llvm::is_contained(
      ArrayRef<StringRef>{"B", "Hq", "N", "Hkv", "M", "D", "Dv"}, role);
}
} // namespace

namespace {

bool toDType(Type t, DType &out) {
  if (t.isF32())
    out = DType::F32;
  else if (t.isBF16())
    out = DType::BF16;
  else if (t.isF16())
    out = DType::F16;
  else if (t.isF64())
    out = DType::F64;
  else if (t.isSignlessInteger(32))
    out = DType::I32;
  else if (t.isSignlessInteger(64))
    out = DType::I64;
  else
    return false;
  return true;
}

} // namespace

bool getEntrySignature(func::FuncOp fn, EntrySignature &sig,
                       std::string &error) {
  sig = EntrySignature();
  sig.name = fn.getName().str();
  auto fill = [&](TypeRange types, std::vector<ArgInfo> &out,
                  const char *what) {
    for (auto [i, t] : llvm::enumerate(types)) {
      auto rt = dyn_cast<RankedTensorType>(t);
      ArgInfo info;
      info.name = std::string(what) + std::to_string(i);
      if (!rt || !toDType(rt.getElementType(), info.dtype)) {
        error = "@" + sig.name + ": " + what + " #" + std::to_string(i) +
                " has unsupported type; expected a ranked tensor of f32, "
                "bf16, f16, f64, i32 or i64";
        return false;
      }
      for (int64_t d : rt.getShape())
        info.shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
      out.push_back(std::move(info));
    }
    return true;
  };
  if (!fill(fn.getArgumentTypes(), sig.inputs, "arg") ||
      !fill(fn.getResultTypes(), sig.outputs, "result"))
    return false;
  if (auto names = fn->getAttrOfType<ArrayAttr>("attn.arg_names"))
    for (auto [i, n] : llvm::enumerate(names))
      if (i < sig.inputs.size())
        if (auto s = dyn_cast<StringAttr>(n))
          sig.inputs[i].name = s.getValue().str();
  return true;
}

namespace {
/// (value, dimension) as a pair of plain keys, hashable by DenseMap.
using DimKey = std::pair<const void *, unsigned>;
DimKey key(Value v, unsigned d) { return {v.getAsOpaquePointer(), d}; }

unsigned rankOf(Value v) {
  return static_cast<unsigned>(cast<RankedTensorType>(v.getType()).getRank());
}

/// An attention's runtime block list, as EntryRoles::blockList gives it.
struct ListUse {
  Value indices, counts, q, k;
  int64_t blockQ, blockK;
};

/// The entry's dimension classes and roles as its ops describe them
/// (EntryRolesOpInterface, ShapeRelationsOpInterface), then the launch
/// contract built from them, one step per method.
class EntryABIBuilder : public attn::EntryRoles {
public:
  EntryABIBuilder(func::FuncOp fn, const EntrySignature &sig, EntryABI &abi,
                  std::string &error)
      : fn(fn), sig(sig), abi(abi), error(error) {}

  bool build();

  // EntryRoles.
  void role(Value v, const char *r) override { valueRoles.try_emplace(v, r); }
  void dims(Value v) override {
    for (unsigned d = 0; d < rankOf(v); ++d)
      classes.insert(key(v, d));
  }
  void dimNames(Value v, ArrayRef<const char *> names) override {
    dims(v);
    for (auto [d, n] : llvm::enumerate(names))
      if (n)
        roles.try_emplace(key(v, d), n);
  }
  void sameDim(Value x, unsigned a, Value y, unsigned b) override {
    classes.unionSets(key(x, a), key(y, b));
  }
  void multipleOf(Value x, unsigned a, Value y, unsigned b) override {
    multiples.push_back({key(x, a), key(y, b)});
  }
  void relation(const attn::ShapeRelation &r) override {
    listRels.push_back(r);
  }
  void blockList(Value indices, Value counts, Value q, Value k, int64_t blockQ,
                 int64_t blockK) override {
    lists.push_back({indices, counts, q, k, blockQ, blockK});
  }
  void rowsOf(Value rows, Value x) override { rowUses.push_back({rows, x}); }
  void splitHeads(Value x, unsigned dim, int64_t parts) override {
    splits.push_back({key(x, dim), parts, false});
  }
  void joinHeads(Value out, Value part, unsigned dim, int64_t parts) override {
    joins.push_back({key(out, dim), key(part, dim), parts});
  }

private:
  void describeOps();
  bool resolveJoins();
  int32_t classId(Value v, unsigned d);
  bool addArgs(ValueRange values, const std::vector<ArgInfo> &infos,
               std::vector<ABIArg> &out);
  bool numberNamedDims();
  bool checkReturns(func::ReturnOp ret);
  bool addDerived();
  bool addWorkspace();
  void nameRoles(func::ReturnOp ret);

  func::FuncOp fn;
  const EntrySignature &sig;
  EntryABI &abi;
  std::string &error;
  llvm::EquivalenceClasses<DimKey> classes;
  llvm::DenseMap<DimKey, const char *> roles;     ///< dimension names
  llvm::DenseMap<Value, const char *> valueRoles; ///< value roles
  SmallVector<std::pair<DimKey, DimKey>> multiples; // (Hq, Hkv)
  SmallVector<ListUse> lists;
  SmallVector<std::pair<Value, Value>> rowUses; // (rows, x) of attn.gather
  struct HeadSplitUse {
    DimKey heads;
    int64_t parts;
    bool exact;
  };
  struct HeadJoinUse {
    DimKey out, part;
    int64_t parts;
  };
  SmallVector<HeadSplitUse> splits;
  SmallVector<HeadJoinUse> joins;
  SmallVector<attn::ShapeRelation> listRels, derivedRels;
  llvm::DenseMap<DimKey, int32_t> classOf;
};

/// The ops' roles and relations; relations with a divisor become derived
/// sizes (in program order, so that a chain resolves in one pass).
void EntryABIBuilder::describeOps() {
  for (Value a : fn.getArguments())
    dims(a);
  fn.walk([&](attn::EntryRolesOpInterface op) { op.describeEntryRoles(*this); });
  auto relate = [&](ArrayRef<attn::ShapeRelation> rels) {
    for (const attn::ShapeRelation &r : rels) {
      dims(r.lhs);
      dims(r.rhs);
      if (r.divisor == 1)
        classes.unionSets(key(r.lhs, r.lhsDim), key(r.rhs, r.rhsDim));
      else
        derivedRels.push_back(r);
    }
  };
  relate(listRels);
  fn.walk([&](attn::ShapeRelationsOpInterface op) {
    SmallVector<attn::ShapeRelation> rels;
    op.shapeRelations(rels);
    relate(rels);
  });
}

/// attn.join_heads: the result's heads are the heads that a split cut into
/// as many parts (found through the classes of the part's heads, as far as
/// chains of joins and splits go), which must then be a multiple of them.
bool EntryABIBuilder::resolveJoins() {
  SmallVector<HeadJoinUse> open(joins.begin(), joins.end());
  for (bool progress = true; progress && !open.empty();) {
    progress = false;
    for (auto it = open.begin(); it != open.end();) {
      // Every split whose groups have the part's heads: the join undoes
      // each of them, so their tensors' heads are one class (q's and the
      // centroids' in routing_kmeans.mlir), each an exact multiple of P.
      SmallVector<DimKey> sources;
      for (const attn::ShapeRelation &r : derivedRels)
        if (r.divisor == it->parts && classes.contains(it->part) &&
            classes.isEquivalent(it->part, key(r.lhs, r.lhsDim)))
          sources.push_back(key(r.rhs, r.rhsDim));
      if (sources.empty()) {
        ++it;
        continue;
      }
      for (DimKey src : sources) {
        classes.unionSets(it->out, src);
        splits.push_back({src, it->parts, true});
      }
      it = open.erase(it);
      progress = true;
    }
  }
  if (open.empty())
    return true;
  error = "@" + sig.name + ": attn.join_heads of " + std::to_string(open.front().parts) +
          " parts whose heads are not a split of some tensor's heads into as many parts "
          "(attn.split_heads): the number of heads of its result is unknown";
  return false;
}

/// Dimension d of v's class, numbered in order of first appearance; -1 (and
/// `error`) where two static sizes of the class differ.
int32_t EntryABIBuilder::classId(Value v, unsigned d) {
  DimKey leader = classes.getLeaderValue(key(v, d));
  auto [it, inserted] = classOf.try_emplace(leader, abi.classSize.size());
  if (inserted) {
    abi.classSize.push_back(-1);
    abi.className.push_back("");
  }
  int32_t c = it->second;
  // A class joined by several roles (a selection's list heads are the query
  // heads) is named by the attention operand's role, which the shape
  // defaults key on.
  if (const char *r = roles.lookup(key(v, d)))
    if (abi.className[c].empty() ||
        (!isOperandRole(abi.className[c]) && isOperandRole(r)) ||
        // One tensor as queries and keys (shared QK): the query's names,
        // which the defaults of the keys' follow.
        (abi.className[c] == "M" && StringRef(r) == "N") ||
        (abi.className[c] == "Hkv" && StringRef(r) == "Hq"))
      abi.className[c] = r;
  int64_t s = cast<RankedTensorType>(v.getType()).getDimSize(d);
  if (!ShapedType::isDynamic(s)) {
    if (abi.classSize[c] >= 0 && abi.classSize[c] != s) {
      error = "@" + sig.name + ": static dimensions " +
              std::to_string(abi.classSize[c]) + " and " + std::to_string(s) +
              " must be equal";
      return -1;
    }
    abi.classSize[c] = s;
  }
  return c;
}

bool EntryABIBuilder::addArgs(ValueRange values,
                              const std::vector<ArgInfo> &infos,
                              std::vector<ABIArg> &out) {
  for (auto [v, info] : llvm::zip(values, infos)) {
    ABIArg a{info.name, info.dtype, {}, {}};
    for (unsigned d = 0; d < rankOf(v); ++d) {
      int32_t c = classId(v, d);
      if (c < 0)
        return false;
      a.dimClass.push_back(c);
    }
    out.push_back(std::move(a));
  }
  return true;
}

/// Every named dim of every attn operand gets a class, even if no argument
/// carries it directly. In program order, not the map's: class ids must not
/// follow pointer values, or one spec would give bundles that differ from
/// run to run.
bool EntryABIBuilder::numberNamedDims() {
  llvm::DenseMap<const void *, unsigned> position;
  auto place = [&](Value v) {
    position.try_emplace(v.getAsOpaquePointer(), position.size());
  };
  llvm::for_each(fn.getArguments(), place);
  fn.walk([&](Operation *op) {
    llvm::for_each(op->getOperands(), place);
    llvm::for_each(op->getResults(), place);
  });
  SmallVector<DimKey> named;
  for (auto &entry : roles)
    named.push_back(entry.first);
  llvm::sort(named, [&](const DimKey &a, const DimKey &b) {
    return std::make_pair(position.lookup(a.first), a.second) <
           std::make_pair(position.lookup(b.first), b.second);
  });
  for (const DimKey &k : named)
    if (classId(Value::getFromOpaquePointer(k.first), k.second) < 0)
      return false;
  return true;
}

bool EntryABIBuilder::checkReturns(func::ReturnOp ret) {
  // A value returned twice (issue 15, case 3) would need one buffer for two
  // outputs.
  for (auto [i, r] : llvm::enumerate(ret.getOperands()))
    for (unsigned j = 0; j < i; ++j)
      if (ret.getOperand(j) == r) {
        error = "@" + sig.name + " returns the same value as results #" +
                std::to_string(j) + " and #" + std::to_string(i) +
                "; return it once";
        return false;
      }
  // Every returned value must be an argument or an attn result: anything
  // else has no dimension classes (issue 15, case 1: it crashed here).
  for (Value r : ret.getOperands())
    if (!classes.contains(key(r, 0)) &&
        cast<RankedTensorType>(r.getType()).getRank() > 0) {
      Operation *def = r.getDefiningOp();
      error = "@" + sig.name + ": unsupported op '" +
              (def ? def->getName().getStringRef().str() : std::string("?")) +
              "' (its result is returned; AttnIR compiles attn ops on the "
              "entry's arguments)";
      return false;
    }
  return true;
}

/// Multiples, derived sizes and the block lists the entry takes.
bool EntryABIBuilder::addDerived() {
  // Pairs of numbered classes only: a permute's x may be an intermediate
  // (its kernels index heads so that no shape reads out of range).
  for (auto [hq, hkv] : multiples) {
    auto a = classOf.find(classes.getLeaderValue(hq));
    auto b = classOf.find(classes.getLeaderValue(hkv));
    if (a != classOf.end() && b != classOf.end())
      abi.multipleOf.push_back({a->second, b->second});
  }
  auto classAt = [&](Value v, unsigned d) {
    return classOf[classes.getLeaderValue(key(v, d))];
  };
  auto argIndex = [&](Value v) -> int32_t {
    auto ba = dyn_cast<BlockArgument>(v);
    return ba && ba.getOwner() == &fn.getBody().front()
               ? static_cast<int32_t>(ba.getArgNumber())
               : -1;
  };
  for (const attn::ShapeRelation &r : derivedRels) {
    int32_t cls = classId(r.lhs, r.lhsDim), src = classId(r.rhs, r.rhsDim);
    if (cls < 0 || src < 0)
      return false;
    abi.derived.push_back({cls, src, r.divisor});
  }
  for (const ListUse &u : lists) {
    abi.derived.push_back({classAt(u.indices, 2), classAt(u.q, 2), u.blockQ});
    attnir::BlockListABI bl;
    bl.indices = argIndex(u.indices);
    bl.counts = argIndex(u.counts);
    bl.blockQ = u.blockQ;
    bl.blockK = u.blockK;
    bl.mClass = classAt(u.k, 2);
    bl.hqClass = classAt(u.q, 1);
    bl.hkvClass = classAt(u.k, 1);
    bl.headsClass = classAt(u.indices, 1);
    // Lists computed inside the program are checked where they are made.
    if (bl.indices >= 0 && bl.counts >= 0)
      abi.blockLists.push_back(bl);
  }
  // Rows computed inside the program (attn.sample) lie in range by
  // construction.
  for (auto [rows, x] : rowUses)
    if (int32_t input = argIndex(rows); input >= 0)
      abi.rowRanges.push_back({input, classAt(x, 2)});
  for (const HeadSplitUse &u : splits) {
    int32_t cls = classId(Value::getFromOpaquePointer(u.heads.first), u.heads.second);
    if (cls < 0)
      return false;
    abi.headSplits.push_back({cls, u.parts, u.exact});
  }
  return true;
}

/// Intermediates: buffers the runtime owns for a call (the GPU's programs
/// pass them between kernels); those their op says persist live from one
/// call to the next.
bool EntryABIBuilder::addWorkspace() {
  SmallVector<Value> work = attn::workspaceValues(fn);
  std::vector<ArgInfo> workInfo;
  for (auto [i, w] : llvm::enumerate(work)) {
    ArgInfo info;
    info.name = "w" + std::to_string(i);
    auto wt = cast<RankedTensorType>(w.getType());
    bool known = toDType(wt.getElementType(), info.dtype);
    for (unsigned d = 0; d < rankOf(w); ++d) {
      // A static dimension is known by itself (a block map's counter).
      if (!wt.isDynamicDim(d))
        classes.insert(key(w, d));
      known = known && classes.contains(key(w, d));
    }
    if (!known) {
      error = "@" + sig.name + ": an intermediate value has no shape the "
              "entry's inputs determine";
      return false;
    }
    workInfo.push_back(std::move(info));
  }
  if (!addArgs(work, workInfo, abi.workspace))
    return false;
  for (auto [i, w] : llvm::enumerate(work)) {
    auto r = dyn_cast<OpResult>(w);
    auto p = r ? dyn_cast<attn::PersistentScratchOpInterface>(r.getOwner())
               : nullptr;
    abi.workspace[i].persistent = p && p.keepsBetweenCalls(r.getResultNumber());
  }
  return true;
}

void EntryABIBuilder::nameRoles(func::ReturnOp ret) {
  for (auto [i, a] : llvm::enumerate(fn.getArguments()))
    if (const char *r = valueRoles.lookup(a))
      abi.inputs[i].role = r;
  for (auto [i, v] : llvm::enumerate(ret.getOperands()))
    if (const char *r = valueRoles.lookup(v))
      abi.outputs[i].role = r;
  for (size_t c = 0; c < abi.className.size(); ++c)
    if (abi.className[c].empty())
      abi.className[c] = "d" + std::to_string(c);
}

bool EntryABIBuilder::build() {
  abi = EntryABI();
  abi.name = sig.name;
  describeOps();
  auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
  if (!resolveJoins() || !numberNamedDims() || !checkReturns(ret) ||
      !addArgs(fn.getArguments(), sig.inputs, abi.inputs) ||
      !addArgs(ret.getOperands(), sig.outputs, abi.outputs) || !addDerived() ||
      !addWorkspace())
    return false;
  nameRoles(ret);
  // The op graph, so that the reference runs from a bundle with no MLIR.
  RefProgram program;
  if (!programOf(fn, program, error))
    return false;
  abi.program = program.print();
  return true;
}
} // namespace

bool computeEntryABI(func::FuncOp fn, const EntrySignature &sig, EntryABI &abi,
                     std::string &error) {
  return EntryABIBuilder(fn, sig, abi, error).build();
}

bool collectEntries(ModuleOp spec, StringRef onlyEntry,
                    std::vector<SpecEntry> &entries, std::string &error) {
  entries.clear();
  for (auto fn : spec.getOps<func::FuncOp>()) {
    if (fn.isExternal() || !fn.isPublic() ||
        (!onlyEntry.empty() && fn.getName() != onlyEntry))
      continue;
    SpecEntry e{fn, {}, {}};
    if (!getEntrySignature(fn, e.sig, error) ||
        !computeEntryABI(fn, e.sig, e.abi, error))
      return false;
    entries.push_back(std::move(e));
  }
  if (entries.empty()) {
    error = onlyEntry.empty() ? "the spec defines no public func.func"
                              : "the spec has no entry @" + onlyEntry.str();
    return false;
  }
  return true;
}

namespace {
/// The default size of class `c` (keys M) when its keys are pooled from
/// sequences of unknown length: as many raw keys as `keys`, so M is `keys`
/// over the largest pooling block (at least 1). Defaulting M itself made
/// the raw length M times the block: pool block(4096) asked for 4 million
/// keys, gigabytes of random input, when no shape was given.
int64_t pooledDefault(const EntryABI &abi, const std::vector<int64_t> &value,
                      size_t c, int64_t keys) {
  int64_t block = 1;
  for (const DerivedClass &dc : abi.derived)
    if (static_cast<size_t>(dc.cls) == c && value[dc.src] < 0)
      block = std::max(block, dc.divisor);
  return std::max<int64_t>(1, (keys + block - 1) / block);
}
} // namespace

bool resolveShapes(const EntryABI &abi,
                   const std::map<unsigned, std::vector<int64_t>> &given,
                   std::vector<std::vector<int64_t>> &inputShapes,
                   std::vector<std::vector<int64_t>> &outputShapes,
                   std::string &error) {
  // Class values from the given shapes; conflicts are reported by
  // abi.resolve below, with the argument names.
  std::vector<int64_t> value = abi.classSize;
  for (auto &[i, shape] : given) {
    const ABIArg &a = abi.inputs[i];
    if (shape.size() != a.dimClass.size()) {
      error = "argument '" + a.name + "' has rank " +
              std::to_string(shape.size()) + " but the spec declares " +
              std::to_string(a.dimClass.size());
      return false;
    }
    for (size_t d = 0; d < shape.size(); ++d)
      if (value[a.dimClass[d]] < 0)
        value[a.dimClass[d]] = shape[d];
  }
  // What the given shapes determine comes before any default (a split's
  // parts have the heads of the tensor given, not the default count).
  auto deriveForward = [&] {
    for (bool changed = true; changed;) {
      changed = false;
      for (const DerivedClass &dc : abi.derived)
        if (value[dc.cls] < 0 && value[dc.src] >= 0) {
          value[dc.cls] = (value[dc.src] + dc.divisor - 1) / dc.divisor;
          changed = true;
        }
    }
  };
  deriveForward();
  // Defaults by role, in dependency order: Hkv follows Hq and M follows N.
  auto valueOfRole = [&](const std::string &role) -> int64_t {
    for (size_t c = 0; c < value.size(); ++c)
      if (abi.className[c] == role && value[c] >= 0)
        return value[c];
    return -1;
  };
  // Block lists default to one list per query head holding room for every
  // key block.
  for (const char *role : {"B", "Hq", "N", "Hkv", "M", "list_heads"}) {
    std::string r = role;
    int64_t dflt = r == "B"     ? 1
                   : r == "Hq"  ? 8
                   : r == "N"   ? 1000
                   // Keys without queries (a scan's sequences): as if
                   // they were the queries'.
                   : r == "Hkv" ? (valueOfRole("Hq") >= 0 ? valueOfRole("Hq") : 8)
                   : r == "M"   ? (valueOfRole("N") >= 0 ? valueOfRole("N") : 1000)
                                : valueOfRole("Hq");
    for (size_t c = 0; c < value.size(); ++c)
      if (abi.className[c] == r && value[c] < 0)
        value[c] = r == "M" ? pooledDefault(abi, value, c, dflt) : dflt;
  }
  for (const BlockListABI &bl : abi.blockLists) {
    int32_t len = abi.inputs[bl.indices].dimClass[3];
    if (value[len] < 0 && value[bl.mClass] >= 0)
      value[len] = (value[bl.mClass] + bl.blockK - 1) / bl.blockK;
  }
  deriveForward();
  // And back: attention over pooled keys (M = the pooled length) defaults
  // the raw length to whole blocks.
  for (const DerivedClass &dc : abi.derived)
    if (value[dc.src] < 0 && value[dc.cls] >= 0)
      value[dc.src] = value[dc.cls] * dc.divisor;
  inputShapes.assign(abi.inputs.size(), {});
  for (size_t i = 0; i < abi.inputs.size(); ++i) {
    auto g = given.find(i);
    if (g != given.end()) {
      inputShapes[i] = g->second;
      continue;
    }
    for (int32_t c : abi.inputs[i].dimClass) {
      if (value[c] < 0) {
        error = "cannot infer the shape of argument '" + abi.inputs[i].name +
                "': give it with --shape or --input";
        return false;
      }
      inputShapes[i].push_back(value[c]);
    }
  }
  return abi.resolve(inputShapes, outputShapes, error);
}

namespace {
/// Kept pairs of query row i among the keys [j0, j1), by the block rule
/// where it decides and the element rule elsewhere.
int64_t keptPairs(attn::MaskAttrInterface mask, const attn::MaskSite &site,
                  int64_t i, int64_t j0, int64_t j1) {
  if (!mask)
    return std::max<int64_t>(0, j1 - j0);
  // Full parts count whole; the rest of the visible keys one by one, each
  // key once however many ranges hold it.
  SmallVector<attn::KeyRange> rs = mask.keyRangesAt(site, i, i + 1);
  auto merged = [&](bool full) {
    std::vector<std::pair<int64_t, int64_t>> iv;
    for (const attn::KeyRange &r : rs) {
      int64_t b = std::max(j0, full ? r.fullBegin : r.visibleBegin);
      int64_t e = std::min(j1, full ? r.fullEnd : r.visibleEnd);
      if (b < e)
        iv.push_back({b, e});
    }
    std::sort(iv.begin(), iv.end());
    std::vector<std::pair<int64_t, int64_t>> out;
    for (auto x : iv)
      if (!out.empty() && x.first <= out.back().second)
        out.back().second = std::max(out.back().second, x.second);
      else
        out.push_back(x);
    return out;
  };
  auto fulls = merged(true);
  int64_t pairs = 0;
  for (auto [b, e] : fulls)
    pairs += e - b;
  for (auto [b, e] : merged(false))
    for (int64_t j = b; j < e; ++j) {
      bool inFull = llvm::any_of(fulls, [&](auto f) {
        return j >= f.first && j < f.second;
      });
      if (!inFull && mask.keepAt(site, i, j))
        ++pairs;
    }
  return pairs;
}

/// The mask site of batch b of `op` for flop counting: document ids from
/// `inputs` where the op reads them and they are entry arguments.
attn::MaskSite siteOf(attn::AttentionOp op, int64_t b, int64_t n, int64_t m,
                      const std::vector<HostTensor> *inputs,
                      const llvm::DenseMap<Value, unsigned> &argIndex) {
  attn::MaskSite site{b, 0, n, m, nullptr, nullptr};
  if (op.getQDoc() && inputs && argIndex.count(op.getQDoc()) &&
      argIndex.count(op.getKDoc())) {
    const HostTensor *qd = &(*inputs)[argIndex.lookup(op.getQDoc())];
    const HostTensor *kd = &(*inputs)[argIndex.lookup(op.getKDoc())];
    site.operand = [=](StringRef role, int64_t pos) {
      return role == "q_doc" ? qd->getInt(b * n + pos)
                             : kd->getInt(b * m + pos);
    };
  }
  return site;
}

/// Kept pairs of one (batch, list head) of a block list: every query row
/// against the distinct key blocks its query block lists.
double listedPairs(attn::AttentionOp op, const HostTensor &idx,
                   const HostTensor &cnt, const attn::MaskSite &site,
                   int64_t b, int64_t lh, int64_t n, int64_t m) {
  int64_t bq = op.listBlockQ(), bk = op.listBlockK();
  int64_t hl = idx.shape[1], nqb = idx.shape[2], k = idx.shape[3];
  int64_t nkb = (m + bk - 1) / bk;
  double pairs = 0;
  std::vector<char> seen(nkb);
  for (int64_t qb = 0; qb < nqb; ++qb) {
    int64_t row = (b * hl + lh) * nqb + qb;
    std::fill(seen.begin(), seen.end(), 0);
    for (int64_t t = 0, c = cnt.getInt(row); t < c && t < k; ++t) {
      int64_t kb = idx.getInt(row * k + t);
      if (kb < 0 || kb >= nkb || seen[kb])
        continue;
      seen[kb] = 1;
      for (int64_t i = qb * bq; i < std::min(n, (qb + 1) * bq); ++i)
        pairs += keptPairs(op.getMaskAttr(), site, i, kb * bk,
                           std::min(m, (kb + 1) * bk));
    }
  }
  return pairs;
}
} // namespace

double usefulFlops(func::FuncOp fn,
                   const std::vector<std::vector<int64_t>> &inputShapes,
                   const std::vector<HostTensor> *inputs) {
  llvm::DenseMap<Value, unsigned> argIndex;
  for (auto [i, a] : llvm::enumerate(fn.getArguments()))
    argIndex[a] = i;
  double flops = 0;
  fn.walk([&](attn::AttentionOp op) {
    if (!argIndex.count(op.getQ()) || !argIndex.count(op.getK()))
      return;
    const auto &q = inputShapes[argIndex[op.getQ()]];
    const auto &k = inputShapes[argIndex[op.getK()]];
    int64_t n = q[2], m = k[2], hq = q[1], hkv = k[1];
    int64_t d = q[3], dv = cast<RankedTensorType>(op.getV().getType())
                               .getDimSize(3);
    double perPair = 2.0 * (d + dv);
    if (op.hasBlockList() && (!argIndex.count(op.getKvIndices()) ||
                              !argIndex.count(op.getKvCounts()))) {
      // A list the program selects is known only once it ran.
      flops = NAN;
      return;
    }
    if (op.hasBlockList() && inputs && argIndex.count(op.getKvIndices()) &&
        argIndex.count(op.getKvCounts())) {
      const HostTensor &idx = (*inputs)[argIndex[op.getKvIndices()]];
      const HostTensor &cnt = (*inputs)[argIndex[op.getKvCounts()]];
      int64_t hl = idx.shape[1];
      // A list shared by several query heads counts once per head.
      int64_t heads = hl == hq ? 1 : hl == 1 ? hq : hq / std::max<int64_t>(hkv, 1);
      for (int64_t b = 0; b < q[0]; ++b)
        for (int64_t lh = 0; lh < hl; ++lh)
          flops += perPair * heads *
                   listedPairs(op, idx, cnt,
                               siteOf(op, b, n, m, inputs, argIndex), b, lh,
                               n, m);
      return;
    }
    // Masks that read operands differ per batch; the others do not.
    bool perBatch = op.getMaskAttr() && op.getMaskAttr().readsOperands();
    for (int64_t b = 0; b < (perBatch ? q[0] : 1); ++b) {
      attn::MaskSite site = siteOf(op, b, n, m, inputs, argIndex);
      double pairs = 0;
      for (int64_t i = 0; i < n; ++i)
        pairs += keptPairs(op.getMaskAttr(), site, i, 0, m);
      flops += pairs * perPair * (perBatch ? 1 : q[0]) * q[1];
    }
  });
  return flops;
}

} // namespace attnir
