//===- Signature.cpp - entry signatures and shape resolution --------------===//

#include "attnir/Driver/Signature.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/EquivalenceClasses.h"

using namespace mlir;

namespace attnir {
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
                "bf16, f16 or f64";
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
enum class Role { None, B, Hq, N, Hkv, M, Head };

/// (value, dimension) as a pair of plain keys, hashable by DenseMap.
using DimKey = std::pair<const void *, unsigned>;
DimKey key(Value v, unsigned d) { return {v.getAsOpaquePointer(), d}; }
Value valueOf(const DimKey &k) {
  return Value::getFromOpaquePointer(k.first);
}
} // namespace

bool resolveShapes(func::FuncOp fn, const EntrySignature &sig,
                   const std::map<unsigned, std::vector<int64_t>> &given,
                   std::vector<std::vector<int64_t>> &inputShapes,
                   std::vector<std::vector<int64_t>> &outputShapes,
                   std::string &error) {
  llvm::EquivalenceClasses<DimKey> classes;
  std::map<DimKey, Role> roles;
  auto dimsOf = [](Value v) {
    return static_cast<unsigned>(cast<RankedTensorType>(v.getType()).getRank());
  };
  auto addValue = [&](Value v) {
    for (unsigned d = 0; d < dimsOf(v); ++d)
      classes.insert(key(v, d));
  };
  for (Value a : fn.getArguments())
    addValue(a);
  fn.walk([&](attn::AttentionOp op) {
    SmallVector<Value> vals = {op.getQ(), op.getK(), op.getV(), op.getOut()};
    if (op.getLse())
      vals.push_back(op.getLse());
    for (Value v : vals)
      addValue(v);
    for (const attn::DimEquality &e : attn::AttentionOp::getDimEqualities())
      if (e.lhs < vals.size() && e.rhs < vals.size())
        classes.unionSets(key(vals[e.lhs], e.lhsDim),
                          key(vals[e.rhs], e.rhsDim));
    const Role qRoles[] = {Role::B, Role::Hq, Role::N, Role::Head};
    const Role kRoles[] = {Role::B, Role::Hkv, Role::M, Role::Head};
    for (unsigned d = 0; d < 4; ++d) {
      roles[key(op.getQ(), d)] = qRoles[d];
      roles[key(op.getK(), d)] = kRoles[d];
      roles[key(op.getV(), d)] = kRoles[d];
    }
  });

  // Fix each class from static types and given shapes, reporting conflicts.
  std::map<DimKey, std::pair<int64_t, std::string>> fixed; // leader -> value
  auto leader = [&](Value v, unsigned d) {
    return classes.getLeaderValue(key(v, d));
  };
  auto fix = [&](Value v, unsigned d, int64_t x, const std::string &why) {
    DimKey l = leader(v, d);
    auto it = fixed.find(l);
    if (it == fixed.end()) {
      fixed[l] = {x, why};
      return true;
    }
    if (it->second.first == x)
      return true;
    error = why + " is " + std::to_string(x) + " but " + it->second.second +
            " is " + std::to_string(it->second.first);
    return false;
  };
  auto argLabel = [&](unsigned i, unsigned d) {
    return "argument '" + sig.inputs[i].name + "' dimension " +
           std::to_string(d);
  };
  for (auto [i, a] : llvm::enumerate(fn.getArguments())) {
    auto rt = cast<RankedTensorType>(a.getType());
    auto g = given.find(i);
    if (g != given.end() &&
        static_cast<int64_t>(g->second.size()) != rt.getRank()) {
      error = "argument '" + sig.inputs[i].name + "' has rank " +
              std::to_string(g->second.size()) + " but the spec declares " +
              std::to_string(rt.getRank()) + " (" +
              std::to_string(rt.getRank()) + " dims expected)";
      return false;
    }
    for (unsigned d = 0; d < rt.getRank(); ++d) {
      if (!rt.isDynamicDim(d) &&
          !fix(a, d, rt.getDimSize(d), "the spec's " + argLabel(i, d)))
        return false;
      if (g != given.end()) {
        if (g->second[d] < 0) {
          error = argLabel(i, d) + " must not be negative";
          return false;
        }
        if (!fix(a, d, g->second[d], "given " + argLabel(i, d)))
          return false;
      }
    }
  }
  for (auto &[k, role] : roles)
    if (auto rt = cast<RankedTensorType>(valueOf(k).getType());
        !rt.isDynamicDim(k.second) &&
        !fix(valueOf(k), k.second, rt.getDimSize(k.second),
             "the spec's static dimension " + std::to_string(k.second)))
      return false;

  // Defaults by role, in dependency order: Hkv follows Hq and M follows N.
  std::map<Role, int64_t> roleValue;
  for (Role r : {Role::B, Role::Hq, Role::N, Role::Hkv, Role::M}) {
    for (auto &[k, role] : roles) {
      if (role != r)
        continue;
      DimKey l = leader(valueOf(k), k.second);
      if (!fixed.count(l)) {
        int64_t dflt = r == Role::B    ? 1
                       : r == Role::Hq ? 8
                       : r == Role::N  ? 1000
                       : r == Role::Hkv ? roleValue[Role::Hq]
                                        : roleValue[Role::N];
        fixed[l] = {dflt, "default"};
      }
      roleValue[r] = fixed[l].first;
    }
  }

  auto shapeOf = [&](Value v, std::vector<int64_t> &out) {
    out.clear();
    for (unsigned d = 0; d < dimsOf(v); ++d) {
      auto it = fixed.find(leader(v, d));
      if (it == fixed.end())
        return false;
      out.push_back(it->second.first);
    }
    return true;
  };
  inputShapes.assign(fn.getNumArguments(), {});
  for (auto [i, a] : llvm::enumerate(fn.getArguments()))
    if (!shapeOf(a, inputShapes[i])) {
      error = "cannot infer the shape of argument '" + sig.inputs[i].name +
              "': give it with --shape or --input";
      return false;
    }
  // Attention relations that are not equalities.
  bool ok = true;
  fn.walk([&](attn::AttentionOp op) {
    std::vector<int64_t> q, k;
    if (!ok || !shapeOf(op.getQ(), q) || !shapeOf(op.getK(), k))
      return;
    if (k[1] == 0 || q[1] % k[1] != 0) {
      error = "q has " + std::to_string(q[1]) +
              " heads, not a multiple of the " + std::to_string(k[1]) +
              " heads of k and v";
      ok = false;
    }
  });
  if (!ok)
    return false;
  auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
  outputShapes.assign(ret.getNumOperands(), {});
  for (auto [i, r] : llvm::enumerate(ret.getOperands()))
    if (!shapeOf(r, outputShapes[i])) {
      error = "cannot infer the shape of result #" + std::to_string(i);
      return false;
    }
  return true;
}

double usefulFlops(func::FuncOp fn,
                   const std::vector<std::vector<int64_t>> &inputShapes) {
  llvm::DenseMap<Value, unsigned> argIndex;
  for (auto [i, a] : llvm::enumerate(fn.getArguments()))
    argIndex[a] = i;
  double flops = 0;
  fn.walk([&](attn::AttentionOp op) {
    if (!argIndex.count(op.getQ()) || !argIndex.count(op.getK()))
      return;
    const auto &q = inputShapes[argIndex[op.getQ()]];
    const auto &k = inputShapes[argIndex[op.getK()]];
    int64_t n = q[2], m = k[2];
    int64_t d = q[3], dv = cast<RankedTensorType>(op.getV().getType())
                               .getDimSize(3);
    double pairs = 0;
    attn::MaskAttrInterface mask = op.getMaskAttr();
    for (int64_t i = 0; i < n; ++i) {
      if (!mask) {
        pairs += m;
        continue;
      }
      attn::KeyRange r = mask.keyRange(i, i + 1, n, m);
      int64_t full = std::max<int64_t>(0, r.fullEnd - r.fullBegin);
      pairs += full;
      for (int64_t j = r.visibleBegin; j < r.visibleEnd; ++j)
        if ((j < r.fullBegin || j >= r.fullEnd) && mask.keep(i, j, n, m))
          pairs += 1;
    }
    flops += pairs * 2.0 * (d + dv) * q[0] * q[1];
  });
  return flops;
}

} // namespace attnir
