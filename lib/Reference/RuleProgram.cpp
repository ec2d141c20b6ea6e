//===- RuleProgram.cpp - float64 semantics of rule regions ----------------===//

#include "attnir/Reference/RuleProgram.h"
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

namespace attnir {
namespace {

enum Code {
  Constant, Yield, Extract, Dim, Select, CmpI, CmpF,
  // integer binary
  AddI, SubI, MulI, DivSI, DivUI, RemSI, RemUI, MaxSI, MinSI, MaxUI, MinUI,
  AndI, OrI, XOrI,
  // float binary
  AddF, SubF, MulF, DivF, RemF, MaximumF, MinimumF, MaxNumF, MinNumF, PowF,
  CopySign,
  // float unary
  NegF, Tanh, Exp, Exp2, Log, Log2, Log1p, Sqrt, Rsqrt, AbsF, Floor, Ceil,
  Sin, Cos, Erf, Round, Trunc,
  Fma,
  // integer unary
  AbsI,
  // conversions
  IntToInt, UIntToInt, SIToFP, UIToFP, FPToSI, FPToUI, FloatToFloat,
};

/// Operand kinds: 'f' float, 'i' integer, 'c' i1 then two of one kind,
/// 't' a tensor argument then integer indices.
struct OpInfo {
  Code code;
  int arity; // -1: any
  char operands;
  bool floatResult;
};

const std::map<std::string_view, OpInfo> &opTable() {
  static const std::map<std::string_view, OpInfo> table = {
      {"arith.constant", {Constant, 0, 'i', false}},
      {"tensor.extract", {Extract, -1, 't', false}},
      {"tensor.dim", {Dim, 2, 't', false}},
      {"arith.select", {Select, 3, 'c', false}},
      {"arith.cmpi", {CmpI, 2, 'i', false}},
      {"arith.cmpf", {CmpF, 2, 'f', false}},
      {"arith.addi", {AddI, 2, 'i', false}},
      {"arith.subi", {SubI, 2, 'i', false}},
      {"arith.muli", {MulI, 2, 'i', false}},
      {"arith.divsi", {DivSI, 2, 'i', false}},
      {"arith.divui", {DivUI, 2, 'i', false}},
      {"arith.remsi", {RemSI, 2, 'i', false}},
      {"arith.remui", {RemUI, 2, 'i', false}},
      {"arith.maxsi", {MaxSI, 2, 'i', false}},
      {"arith.minsi", {MinSI, 2, 'i', false}},
      {"arith.maxui", {MaxUI, 2, 'i', false}},
      {"arith.minui", {MinUI, 2, 'i', false}},
      {"arith.andi", {AndI, 2, 'i', false}},
      {"arith.ori", {OrI, 2, 'i', false}},
      {"arith.xori", {XOrI, 2, 'i', false}},
      {"arith.addf", {AddF, 2, 'f', true}},
      {"arith.subf", {SubF, 2, 'f', true}},
      {"arith.mulf", {MulF, 2, 'f', true}},
      {"arith.divf", {DivF, 2, 'f', true}},
      {"arith.remf", {RemF, 2, 'f', true}},
      {"arith.maximumf", {MaximumF, 2, 'f', true}},
      {"arith.minimumf", {MinimumF, 2, 'f', true}},
      {"arith.maxnumf", {MaxNumF, 2, 'f', true}},
      {"arith.minnumf", {MinNumF, 2, 'f', true}},
      {"math.powf", {PowF, 2, 'f', true}},
      {"math.copysign", {CopySign, 2, 'f', true}},
      {"arith.negf", {NegF, 1, 'f', true}},
      {"math.tanh", {Tanh, 1, 'f', true}},
      {"math.exp", {Exp, 1, 'f', true}},
      {"math.exp2", {Exp2, 1, 'f', true}},
      {"math.log", {Log, 1, 'f', true}},
      {"math.log2", {Log2, 1, 'f', true}},
      {"math.log1p", {Log1p, 1, 'f', true}},
      {"math.sqrt", {Sqrt, 1, 'f', true}},
      {"math.rsqrt", {Rsqrt, 1, 'f', true}},
      {"math.absf", {AbsF, 1, 'f', true}},
      {"math.floor", {Floor, 1, 'f', true}},
      {"math.ceil", {Ceil, 1, 'f', true}},
      {"math.sin", {Sin, 1, 'f', true}},
      {"math.cos", {Cos, 1, 'f', true}},
      {"math.erf", {Erf, 1, 'f', true}},
      {"math.round", {Round, 1, 'f', true}},
      {"math.trunc", {Trunc, 1, 'f', true}},
      {"math.fma", {Fma, 3, 'f', true}},
      {"math.absi", {AbsI, 1, 'i', false}},
      {"arith.index_cast", {IntToInt, 1, 'i', false}},
      {"arith.extsi", {IntToInt, 1, 'i', false}},
      {"arith.trunci", {IntToInt, 1, 'i', false}},
      {"arith.index_castui", {UIntToInt, 1, 'i', false}},
      {"arith.extui", {UIntToInt, 1, 'i', false}},
      {"arith.sitofp", {SIToFP, 1, 'i', true}},
      {"arith.uitofp", {UIToFP, 1, 'i', true}},
      {"arith.fptosi", {FPToSI, 1, 'f', false}},
      {"arith.fptoui", {FPToUI, 1, 'f', false}},
      {"arith.extf", {FloatToFloat, 1, 'f', true}},
      {"arith.truncf", {FloatToFloat, 1, 'f', true}},
  };
  return table;
}

/// Float kinds (RefInstr::ints[0]): 0 for f32 (evaluated exactly, in
/// double), kF16 and kBF16 for the narrow types, whose results round.
constexpr int kF16 = 116, kBF16 = 117;
bool isFloatKind(int k) { return k == 0 || k == kF16 || k == kBF16; }
bool isIntKind(int k) { return k >= 1 && k <= 64; }

/// `v` wrapped to a signed integer of `width` bits (1: 0 or 1).
int64_t wrap(uint64_t v, int width) {
  if (width == 1)
    return static_cast<int64_t>(v & 1);
  if (width >= 64)
    return static_cast<int64_t>(v);
  uint64_t m = (uint64_t(1) << width) - 1, sign = uint64_t(1) << (width - 1);
  v &= m;
  return static_cast<int64_t>((v ^ sign) - sign);
}

/// `v` as an unsigned value of `width` bits.
uint64_t unsignedOf(int64_t v, int width) {
  if (width == 1)
    return static_cast<uint64_t>(v) & 1;
  return width >= 64 ? static_cast<uint64_t>(v)
                     : static_cast<uint64_t>(v) & ((uint64_t(1) << width) - 1);
}

bool compareInt(int64_t pred, int64_t a, int64_t b, int width) {
  uint64_t ua = unsignedOf(a, width), ub = unsignedOf(b, width);
  switch (pred) {
  case 0: return a == b;
  case 1: return a != b;
  case 2: return a < b;
  case 3: return a <= b;
  case 4: return a > b;
  case 5: return a >= b;
  case 6: return ua < ub;
  case 7: return ua <= ub;
  case 8: return ua > ub;
  default: return ua >= ub;
  }
}

/// arith::CmpFPredicate: false, oeq, ogt, oge, olt, ole, one, ord, ueq,
/// ugt, uge, ult, ule, une, uno, true.
bool compareFloat(int64_t pred, double a, double b) {
  bool unordered = std::isnan(a) || std::isnan(b);
  switch (pred) {
  case 0: return false;
  case 1: return !unordered && a == b;
  case 2: return !unordered && a > b;
  case 3: return !unordered && a >= b;
  case 4: return !unordered && a < b;
  case 5: return !unordered && a <= b;
  case 6: return !unordered && a != b;
  case 7: return !unordered;
  case 8: return unordered || a == b;
  case 9: return unordered || a > b;
  case 10: return unordered || a >= b;
  case 11: return unordered || a < b;
  case 12: return unordered || a <= b;
  case 13: return unordered || a != b;
  case 14: return unordered;
  default: return true;
  }
}
/// Integer arithmetic of width w on a and b: the result, or false when
/// `code` is no such op.
bool integerBinary(int code, int w, int64_t a, int64_t b, int64_t &r) {
  switch (code) {
    case AddI: r = wrap(uint64_t(a) + uint64_t(b), w); return true;
    case SubI: r = wrap(uint64_t(a) - uint64_t(b), w); return true;
    case MulI: r = wrap(uint64_t(a) * uint64_t(b), w); return true;
    case DivSI:
    case RemSI: {
      int64_t d = b;
      bool div = code == DivSI;
      r = d == 0    ? 0
            : d == -1 ? (div ? wrap(0 - uint64_t(a), w) : 0)
                      : (div ? a / d : a % d);
      return true;
    }
    case DivUI:
    case RemUI: {
      uint64_t ua = unsignedOf(a, w), d = unsignedOf(b, w);
      r = d == 0 ? 0 : wrap(code == DivUI ? ua / d : ua % d, w);
      return true;
    }
    case MaxSI: r = std::max(a, b); return true;
    case MinSI: r = std::min(a, b); return true;
    case MaxUI:
      r = unsignedOf(a, w) >= unsignedOf(b, w) ? a : b;
      return true;
    case MinUI:
      r = unsignedOf(a, w) <= unsignedOf(b, w) ? a : b;
      return true;
    case AndI: r = a & b; return true;
    case OrI: r = wrap(uint64_t(a | b), w); return true;
    case XOrI: r = wrap(uint64_t(a ^ b), w); return true;
  default:
    return false;
  }
}

/// Float math on x, y, z (as many as the op takes): the result, or false
/// when `code` is no such op.
bool floatMath(int code, double x, double y, double z, double &r) {
  switch (code) {
    case AddF: r = x + y; return true;
    case SubF: r = x - y; return true;
    case MulF: r = x * y; return true;
    case DivF: r = x / y; return true;
    case RemF: r = std::fmod(x, y); return true;
    case MaximumF:
      r = std::isnan(x) || std::isnan(y) ? NAN : std::max(x, y);
      return true;
    case MinimumF:
      r = std::isnan(x) || std::isnan(y) ? NAN : std::min(x, y);
      return true;
    case MaxNumF: r = std::fmax(x, y); return true;
    case MinNumF: r = std::fmin(x, y); return true;
    case PowF: r = std::pow(x, y); return true;
    case CopySign: r = std::copysign(x, y); return true;
    case NegF: r = -x; return true;
    case Tanh: r = std::tanh(x); return true;
    case Exp: r = std::exp(x); return true;
    case Exp2: r = std::exp2(x); return true;
    case Log: r = std::log(x); return true;
    case Log2: r = std::log2(x); return true;
    case Log1p: r = std::log1p(x); return true;
    case Sqrt: r = std::sqrt(x); return true;
    case Rsqrt: r = 1.0 / std::sqrt(x); return true;
    case AbsF: r = std::fabs(x); return true;
    case Floor: r = std::floor(x); return true;
    case Ceil: r = std::ceil(x); return true;
    case Sin: r = std::sin(x); return true;
    case Cos: r = std::cos(x); return true;
    case Erf: r = std::erf(x); return true;
    case Round: r = std::round(x); return true;
    case Trunc: r = std::trunc(x); return true;
    case Fma: r = x * y + z; return true;
  default:
    return false;
  }
}

} // namespace

bool isRuleOp(std::string_view name) { return opTable().count(name) > 0; }

/// The evaluator of `code`: asked once per instruction when the program is
/// made, so that running it dispatches once.
RuleProgram::Instr::Family RuleProgram::familyOf(int code) {
  int64_t i;
  double f;
  if (integerBinary(code, 64, 1, 1, i))
    return Instr::kIntegerBinary;
  if (floatMath(code, 1.0, 1.0, 1.0, f))
    return Instr::kFloatMath;
  return Instr::kOther;
}

bool RuleProgram::make(const RefRule &rule, std::vector<int> leadingKinds,
                       std::vector<const HostTensor *> operands,
                       RuleProgram &out, std::string &error) {
  out = RuleProgram();
  int leading = static_cast<int>(leadingKinds.size());
  if (rule.numArgs != leading + static_cast<int>(operands.size())) {
    error = "rule has " + std::to_string(rule.numArgs) + " arguments, want " +
            std::to_string(leading + operands.size());
    return false;
  }
  out.numLeading = leading;
  out.tensors = std::move(operands);
  out.kinds = std::move(leadingKinds);
  out.kinds.insert(out.kinds.end(), out.tensors.size(), -1); // tensors
  for (size_t n = 0; n < rule.instrs.size(); ++n) {
    const RefInstr &in = rule.instrs[n];
    auto bad = [&](const std::string &why) {
      error = "rule instruction " + std::to_string(n) + " (" + in.name +
              "): " + why;
      return false;
    };
    if (in.name == "yield") {
      bool scalars = !in.operands.empty();
      for (int id : in.operands)
        scalars = scalars && id >= 0 && id < static_cast<int>(out.kinds.size()) &&
                  out.kinds[id] >= 0;
      if (n + 1 != rule.instrs.size() || !scalars)
        return bad("yield must come last with scalars");
      out.instrs.push_back({Yield, in.operands, 0, 0, 0});
      break;
    }
    auto it = opTable().find(in.name);
    if (it == opTable().end())
      return bad("not an op a rule may use");
    const OpInfo &info = it->second;
    if (in.ints.empty() ||
        !(isFloatKind(static_cast<int>(in.ints[0])) ||
          isIntKind(static_cast<int>(in.ints[0]))))
      return bad("no result kind");
    int width = static_cast<int>(in.ints[0]);
    bool anyKind = info.code == Extract || info.code == Select ||
                   info.code == Constant;
    if (!anyKind && isFloatKind(width) != info.floatResult)
      return bad("result kind does not fit the op");
    if (info.arity >= 0 && in.operands.size() != size_t(info.arity))
      return bad("wrong operand count");
    for (int id : in.operands)
      if (id < 0 || id >= static_cast<int>(out.kinds.size()))
        return bad("operand out of range");
    auto kindOf = [&](size_t k) { return out.kinds[in.operands[k]]; };
    for (size_t k = 0; k < in.operands.size(); ++k) {
      int kind = kindOf(k);
      bool ok = true;
      switch (info.operands) {
      case 'f': ok = isFloatKind(kind); break;
      case 'i': ok = isIntKind(kind); break;
      case 'c': ok = k == 0 ? kind == 1 : kind >= 0 && kind == kindOf(1); break;
      case 't': ok = k == 0 ? kind < 0 : isIntKind(kind); break;
      }
      if (!ok)
        return bad("operand " + std::to_string(k) + " has the wrong kind");
    }
    int64_t param = in.ints.size() > 1 ? in.ints[1] : 0;
    if (info.code == Extract) {
      const HostTensor *t = out.tensors[in.operands[0] - leading];
      if (in.operands.size() != t->shape.size() + 1)
        return bad("wrong number of indices");
      if (isFloatKind(width) != !isIntegerDType(t->dtype))
        return bad("result kind does not fit the tensor's element type");
    }
    if (info.code == Select && width != kindOf(1))
      return bad("result kind differs from the operands'");
    if ((info.code == CmpI || info.code == CmpF) &&
        (width != 1 || param < 0 || param > 15))
      return bad("bad comparison");
    Instr ins{info.code, in.operands, param, in.value, width, familyOf(info.code)};
    if (info.code == IntToInt || info.code == UIntToInt)
      ins.param = kindOf(0); // the source width
    out.instrs.push_back(std::move(ins));
    out.kinds.push_back(width);
  }
  if (out.instrs.empty() || out.instrs.back().code != Yield) {
    error = "rule does not end in yield";
    return false;
  }
  return true;
}

RuleValue RuleProgram::run(const RuleValue *leading) const {
  RuleValue first;
  runAll(leading, &first, 1);
  return first;
}

size_t RuleProgram::numYields() const { return instrs.back().operands.size(); }

void RuleProgram::runAll(const RuleValue *leading, RuleValue *out,
                         size_t count) const {
  thread_local std::vector<RuleValue> vals;
  vals.assign(kinds.size(), RuleValue());
  std::copy(leading, leading + numLeading, vals.begin());
  size_t next = numLeading + tensors.size();
  for (const Instr &in : instrs) {
    auto f = [&](int k) { return vals[in.operands[k]].f; };
    auto i = [&](int k) { return vals[in.operands[k]].i; };
    RuleValue r;
    int w = in.width;
    size_t n = in.operands.size();
    auto arg = [&](size_t k) { return k < n ? vals[in.operands[k]] : RuleValue(); };
    if (in.family == Instr::kIntegerBinary) {
      integerBinary(in.code, w, i(0), i(1), r.i);
    } else if (in.family == Instr::kFloatMath) {
      floatMath(in.code, arg(0).f, arg(1).f, arg(2).f, r.f);
    } else switch (in.code) {
    case Yield:
      for (size_t k = 0; k < count && k < in.operands.size(); ++k)
        out[k] = vals[in.operands[k]];
      return;
    case Constant:
      if (isFloatKind(w))
        r.f = in.value;
      else
        r.i = wrap(static_cast<uint64_t>(in.param), w);
      break;
    case Extract: {
      const HostTensor &t = *tensors[in.operands[0] - numLeading];
      int64_t flat = 0;
      for (size_t d = 0; d < t.shape.size(); ++d) {
        int64_t x = i(d + 1), extent = t.shape[d];
        if (x < 0 || x >= extent) {
          outOfBounds->store(true);
          x = std::clamp<int64_t>(x, 0, std::max<int64_t>(extent - 1, 0));
        }
        flat = flat * extent + x;
      }
      if (t.numElements() == 0)
        break;
      if (isFloatKind(w))
        r.f = t.get(flat);
      else
        r.i = wrap(static_cast<uint64_t>(t.getInt(flat)), w);
      break;
    }
    case Dim: {
      const HostTensor &t = *tensors[in.operands[0] - numLeading];
      int64_t d = i(1);
      if (d >= 0 && d < static_cast<int64_t>(t.shape.size()))
        r.i = t.shape[d];
      else
        outOfBounds->store(true);
      break;
    }
    case Select:
      r = i(0) ? vals[in.operands[1]] : vals[in.operands[2]];
      break;
    case CmpI:
      r.i = compareInt(in.param, i(0), i(1), kinds[in.operands[0]]);
      break;
    case CmpF:
      r.i = compareFloat(in.param, f(0), f(1));
      break;
    case AbsI: r.i = wrap(i(0) < 0 ? 0 - uint64_t(i(0)) : uint64_t(i(0)), w); break;
    case IntToInt: r.i = wrap(uint64_t(i(0)), w); break;
    case UIntToInt:
      r.i = wrap(unsignedOf(i(0), static_cast<int>(in.param)), w);
      break;
    case SIToFP: r.f = static_cast<double>(i(0)); break;
    case UIToFP:
      r.f = static_cast<double>(unsignedOf(i(0), kinds[in.operands[0]]));
      break;
    case FPToSI:
    case FPToUI: {
      double x = std::trunc(f(0));
      // Out of range or NaN: 0 (LLVM leaves it undefined; never trap).
      r.i = std::isfinite(x) && std::fabs(x) < 9.2e18
                ? wrap(uint64_t(static_cast<int64_t>(x)), w)
                : 0;
      break;
    }
    case FloatToFloat: r.f = f(0); break;
    }
    // Narrow float results round as the kernel rounds them.
    if (w == kF16)
      r.f = f16BitsToDouble(doubleToF16Bits(r.f));
    else if (w == kBF16)
      r.f = bf16BitsToDouble(doubleToBF16Bits(r.f));
    vals[next++] = r;
  }
}

} // namespace attnir
