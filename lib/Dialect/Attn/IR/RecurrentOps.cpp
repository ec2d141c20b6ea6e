//===- RecurrentOps.cpp - attn.merge, attn.linear: verifiers, shapes, reference -===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Reference/Program.h"

using namespace mlir;
using namespace mlir::attn;

LogicalResult MergeOp::verify() {
  size_t n = getParts().size();
  if (n < 2 || n % 2)
    return emitOpError() << "takes (out, lse) pairs: an even number of "
                            "operands, at least 2; got "
                         << n;
  auto out = cast<RankedTensorType>(getOut().getType());
  auto lse = cast<RankedTensorType>(getLse().getType());
  if (out.getRank() != 4 || lse.getRank() != 3)
    return emitOpError() << "returns out [B, H, N, Dv] and lse [B, H, N]";
  for (unsigned r = 0; r < getNumPairs(); ++r) {
    auto o = cast<RankedTensorType>(getPartOut(r).getType());
    auto l = cast<RankedTensorType>(getPartLse(r).getType());
    if (o.getRank() != 4 || l.getRank() != 3 || !l.getElementType().isF32())
      return emitOpError() << "pair #" << r << " must be out [B, H, N, Dv] "
                              "and lse [B, H, N] f32, got "
                           << o << " and " << l;
    for (int64_t d = 0; d < 4; ++d)
      if (!dimsAgree(o.getDimSize(d), out.getDimSize(d)) ||
          (d < 3 && !dimsAgree(l.getDimSize(d), out.getDimSize(d))))
        return emitOpError() << "pair #" << r << " (" << o << ", " << l
                             << ") does not match the result " << out;
  }
  if (getTerms().size() % 2)
    return emitOpError() << "unnormalized(...) takes (num, den) pairs, got "
                         << getTerms().size() << " operands";
  for (unsigned u = 0; u < getNumTerms(); ++u) {
    auto num = cast<RankedTensorType>(getTermNum(u).getType());
    auto den = cast<RankedTensorType>(getTermDen(u).getType());
    bool fits = num.getRank() == 4 &&
                (den.getRank() == 3 ||
                 (den.getRank() == 4 && den.getDimSize(3) == 1));
    for (int64_t d = 0; fits && d < 4; ++d)
      fits = dimsAgree(num.getDimSize(d), out.getDimSize(d)) &&
             (d == 3 || dimsAgree(den.getDimSize(d), out.getDimSize(d)));
    if (!fits)
      return emitOpError() << "unnormalized term #" << u << " (" << num << ", "
                           << den << ") must be num [B, H, N, Dv] and den "
                              "[B, H, N] or [B, H, N, 1] of the result "
                           << out;
  }
  return success();
}

void MergeOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  for (unsigned r = 0; r < getNumPairs(); ++r)
    for (unsigned d = 0; d < 4; ++d) {
      out.push_back({getOut(), d, getPartOut(r), d});
      if (d < 3)
        out.push_back({getPartLse(r), d, getPartOut(r), d});
    }
  for (unsigned d = 0; d < 3; ++d)
    out.push_back({getLse(), d, getOut(), d});
  for (unsigned u = 0; u < getNumTerms(); ++u)
    for (unsigned d = 0; d < 4; ++d) {
      out.push_back({getTermNum(u), d, getOut(), d});
      if (d < 3)
        out.push_back({getTermDen(u), d, getOut(), d});
    }
}

void MergeOp::describe(attnir::RefOp &op, function_ref<int(Value)> idOf) {
  op.kind = "merge";
  op.ints["pairs"] = getNumPairs();
  for (unsigned r = 0; r < getNumPairs(); ++r) {
    op.operands["out" + std::to_string(r)] = idOf(getPartOut(r));
    op.operands["lse" + std::to_string(r)] = idOf(getPartLse(r));
  }
  if (getNumTerms())
    op.ints["terms"] = getNumTerms();
  for (unsigned u = 0; u < getNumTerms(); ++u) {
    op.operands["num" + std::to_string(u)] = idOf(getTermNum(u));
    op.operands["den" + std::to_string(u)] = idOf(getTermDen(u));
  }
  op.results["out"] = idOf(getOut());
  op.results["lse"] = idOf(getLse());
}

//===----------------------------------------------------------------------===//
// linear
//===----------------------------------------------------------------------===//

/// The results: out, the optional final state (or lse), then wy's and
/// split's.
static LogicalResult verifyLinearResultCount(LinearOp op) {
  size_t tail = op.getNumWyResults() + op.getNumSplitResults();
  if (op.getExtras().size() != tail && op.getExtras().size() != tail + 1)
    return op.emitOpError() << "returns out, optionally the final state (or the lse with "
                               "normalize)"
                            << (op.getWy() ? ", then wy's W and U" : "")
                            << (op.getSplit() ? ", then split's chunk states" : "")
                            << (op.getSplit() && op.getWy() ? " and corrected values" : "")
                            << (op.getSplit() && op.getNormalize() ? " and normalisers" : "") << "; got "
                            << op.getNumResults() << " results";
  if (Value s = op.getFinalState(); s && !cast<RankedTensorType>(s.getType()).getElementType().isF32())
    return op.emitOpError() << "the second result must be f32, got " << s.getType();
  return success();
}

/// wy(C): the delta rule's W and U.
static LogicalResult verifyLinearWy(LinearOp op) {
  auto k = cast<RankedTensorType>(op.getK().getType());
  auto v = cast<RankedTensorType>(op.getV().getType());
  if (auto c = op.getWy()) {
    if (*c < 1 || *c > 1024)
      return op.emitOpError() << "wy(" << *c << "): the chunk must be 1 to 1024 tokens";
    if (!op.getBeta() || op.getForget() || op.getNormalize())
      return op.emitOpError() << "wy(C) is the delta rule's WY form: it needs delta(%beta), "
                                 "without momentum or normalize";
    auto w = cast<RankedTensorType>(op.getWyW().getType());
    auto u = cast<RankedTensorType>(op.getWyU().getType());
    if (w.getRank() != 4 || u.getRank() != 4 || w.getElementType() != k.getElementType() ||
        u.getElementType() != v.getElementType())
      return op.emitOpError() << "wy's results are W [B, H, N, D] of k's type and U [B, H, N, Dv] "
                                 "of v's, got "
                              << w << " and " << u;
    for (int64_t d = 0; d < 4 && k.getRank() == 4 && v.getRank() == 4; ++d)
      if (!dimsAgree(w.getDimSize(d), k.getDimSize(d)) ||
          !dimsAgree(u.getDimSize(d), v.getDimSize(d)))
        return op.emitOpError() << "wy's results are W [B, H, N, D] and U [B, H, N, Dv], got "
                                << w << " and " << u;
  }
  return success();
}

/// split(C): the chunk states, corrected values and normalisers.
static LogicalResult verifyLinearSplit(LinearOp op) {
  auto q = cast<RankedTensorType>(op.getQ().getType());
  auto v = cast<RankedTensorType>(op.getV().getType());
  if (auto c = op.getSplit()) {
    if (*c < 1 || *c > 1024)
      return op.emitOpError() << "split(" << *c << "): the chunk must be 1 to 1024 tokens";
    if (op.getWy() && *op.getWy() != *c)
      return op.emitOpError() << "split(" << *c << ") and wy(" << *op.getWy()
                              << ") must share the chunk";
    if (op.getForget() || (op.getBeta() && !op.getWy()))
      return op.emitOpError() << "split(C) takes decays and gates, normalize, or the delta rule "
                                 "in its WY form; not momentum";
    auto st = cast<RankedTensorType>(op.getChunkStates().getType());
    bool ok = st.getRank() == 5 && st.getElementType() == q.getElementType() &&
              q.getRank() == 4 && v.getRank() == 4;
    for (int64_t d : {0, 1})
      ok = ok && dimsAgree(st.getDimSize(d), q.getDimSize(d));
    ok = ok && dimsAgree(st.getDimSize(3), q.getDimSize(3)) &&
         dimsAgree(st.getDimSize(4), v.getDimSize(3));
    if (ok && !ShapedType::isDynamic(q.getDimSize(2)) && !ShapedType::isDynamic(st.getDimSize(2)))
      ok = st.getDimSize(2) == (q.getDimSize(2) + int64_t(*c) - 1) / int64_t(*c);
    if (!ok)
      return op.emitOpError() << "split's chunk states are [B, H, ceil(N / C), D, Dv] of q's type, got "
                              << st;
    if (Value vc = op.getCorrectedValues(); vc && vc.getType() != op.getV().getType())
      return op.emitOpError() << "split's corrected values are [B, H, N, Dv] of v's type, got "
                              << vc.getType();
    if (Value zs = op.getChunkNormalizers()) {
      auto zt = cast<RankedTensorType>(zs.getType());
      bool zok = zt.getRank() == 4 && zt.getElementType().isF32() && q.getRank() == 4;
      for (int64_t d : {0, 1, 2})
        zok = zok && dimsAgree(zt.getDimSize(d), st.getDimSize(d));
      zok = zok && dimsAgree(zt.getDimSize(3), q.getDimSize(3));
      if (!zok)
        return op.emitOpError() << "split's normalisers are [B, H, ceil(N / C), D] f32, got " << zt;
    }
  }
  return success();
}

/// q, k, v, out, the decay and the per-token or per-feature gates.
static LogicalResult verifyLinearOperands(LinearOp op) {
  auto q = cast<RankedTensorType>(op.getQ().getType());
  auto k = cast<RankedTensorType>(op.getK().getType());
  auto v = cast<RankedTensorType>(op.getV().getType());
  auto o = cast<RankedTensorType>(op.getOut().getType());
  if (q.getRank() != 4 || k.getRank() != 4 || v.getRank() != 4 ||
      o.getRank() != 4)
    return op.emitOpError() << "takes q, k [B, H, N, D] and v [B, H, N, Dv] and "
                               "returns [B, H, N, Dv]";
  for (int64_t d = 0; d < 4; ++d)
    if (!dimsAgree(q.getDimSize(d), k.getDimSize(d)) ||
        (d < 3 && (!dimsAgree(q.getDimSize(d), v.getDimSize(d)) ||
                   !dimsAgree(q.getDimSize(d), o.getDimSize(d)))))
      return op.emitOpError() << "q " << q << ", k " << k << " and v " << v
                              << " must share B, H and N (and q, k D)";
  if (!dimsAgree(v.getDimSize(3), o.getDimSize(3)))
    return op.emitOpError() << "result " << o << " must be [B, H, N, Dv]";
  if (Value d = op.getDecay()) {
    auto t = cast<RankedTensorType>(d.getType());
    if (t.getRank() != 1 || !dimsAgree(t.getDimSize(0), q.getDimSize(1)))
      return op.emitOpError() << "decay " << t << " must be [H], one per head";
  }
  // log_gate [B, H, N, D]: a log gate per key feature (GLA).
  if (op.isPerFeatureGate()) {
    auto t = cast<RankedTensorType>(op.getLogGate().getType());
    for (int64_t d = 0; d < 4; ++d)
      if (!dimsAgree(t.getDimSize(d), q.getDimSize(d)))
        return op.emitOpError() << "log_gate " << t << " must be [B, H, N] or [B, H, N, D]";
    if (op.getBeta())
      return op.emitOpError() << "the delta rule (delta) takes per-token gates, not per-feature "
                                 "log_gate [B, H, N, D]";
  }
  for (auto [name, value] :
       {std::pair<const char *, Value>{"gate", op.getGate()},
        {"log_gate", op.isPerFeatureGate() ? Value() : op.getLogGate()},
        {"delta beta", op.getBeta()},
        {"momentum alpha", op.getForget()},
        {"momentum theta", op.getStep()},
        {"momentum eta", op.getMomentum()}}) {
    if (!value)
      continue;
    auto t = cast<RankedTensorType>(value.getType());
    if (t.getRank() != 3 || !dimsAgree(t.getDimSize(0), q.getDimSize(0)) ||
        !dimsAgree(t.getDimSize(1), q.getDimSize(1)) ||
        !dimsAgree(t.getDimSize(2), q.getDimSize(2)))
      return op.emitOpError() << name << " " << t << " must be [B, H, N]";
  }
  return success();
}

/// The lse (with normalize) and the state in and out.
static LogicalResult verifyLinearStates(LinearOp op) {
  auto q = cast<RankedTensorType>(op.getQ().getType());
  auto v = cast<RankedTensorType>(op.getV().getType());
  if (Value lse = op.getLseResult()) {
    auto t = cast<RankedTensorType>(lse.getType());
    if (t.getRank() != 3 || !t.getElementType().isF32() ||
        !dimsAgree(t.getDimSize(0), q.getDimSize(0)) ||
        !dimsAgree(t.getDimSize(1), q.getDimSize(1)) ||
        !dimsAgree(t.getDimSize(2), q.getDimSize(2)))
      return op.emitOpError() << "with normalize the second result is the lse "
                                 "[B, H, N] f32, got "
                              << t;
  }
  // The state in and out: [B, H, D, Dv] f32.
  for (auto [name, value] :
       {std::pair<const char *, Value>{"state", op.getInitialState()},
        {"the final state (second result)", op.getStateResult()}}) {
    if (!value)
      continue;
    if (op.getNormalize())
      return op.emitOpError() << name << " with normalize is not supported (its "
                                 "normaliser z is not carried)";
    auto t = cast<RankedTensorType>(value.getType());
    if (t.getRank() != 4 || !dimsAgree(t.getDimSize(0), q.getDimSize(0)) ||
        !dimsAgree(t.getDimSize(1), q.getDimSize(1)) ||
        !dimsAgree(t.getDimSize(2), q.getDimSize(3)) ||
        !dimsAgree(t.getDimSize(3), v.getDimSize(3)))
      return op.emitOpError() << name << " " << t << " must be [B, H, D, Dv] f32";
  }
  return success();
}

LogicalResult LinearOp::verify() {
  if (failed(verifyLinearResultCount(*this)) || failed(verifyLinearWy(*this)) ||
      failed(verifyLinearSplit(*this)) || failed(verifyLinearOperands(*this)) ||
      failed(verifyLinearStates(*this)))
    return failure();
  if (getBeta() && getNormalize())
    return emitOpError() << "the delta rule (delta) does not take normalize";
  if (getForget() && (getDecay() || getGate() || getLogGate() || getBeta() ||
                      getNormalize() || getInitialState() || getFinalState()))
    return emitOpError() << "momentum(alpha, theta, eta) stands alone: no "
                            "decay, gate, log_gate, delta, normalize or state "
                            "(its momentum U is not carried)";
  return success();
}

void LinearOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  for (unsigned d = 0; d < 4; ++d)
    out.push_back({getK(), d, getQ(), d});
  for (unsigned d = 0; d < 3; ++d) {
    out.push_back({getV(), d, getQ(), d});
    out.push_back({getOut(), d, getQ(), d});
  }
  out.push_back({getOut(), 3, getV(), 3});
  if (Value d = getDecay())
    out.push_back({d, 0, getQ(), 1});
  for (Value g : {getGate(), getLogGate(), getBeta(), getForget(), getStep(),
                  getMomentum()})
    if (g)
      for (unsigned d = 0; d < cast<RankedTensorType>(g.getType()).getRank(); ++d)
        out.push_back({g, d, getQ(), d});
  if (Value lse = getLseResult())
    for (unsigned d = 0; d < 3; ++d)
      out.push_back({lse, d, getQ(), d});
  if (getWy())
    for (unsigned d = 0; d < 4; ++d) {
      out.push_back({getWyW(), d, getK(), d});
      out.push_back({getWyU(), d, getV(), d});
    }
  if (auto c = getSplit()) {
    Value st = getChunkStates();
    out.push_back({st, 0, getQ(), 0});
    out.push_back({st, 1, getQ(), 1});
    out.push_back({st, 2, getQ(), 2, static_cast<int64_t>(*c)});
    out.push_back({st, 3, getQ(), 3});
    out.push_back({st, 4, getV(), 3});
    if (Value vc = getCorrectedValues())
      for (unsigned d = 0; d < 4; ++d)
        out.push_back({vc, d, getV(), d});
    if (Value zs = getChunkNormalizers()) {
      out.push_back({zs, 0, getQ(), 0});
      out.push_back({zs, 1, getQ(), 1});
      out.push_back({zs, 2, getQ(), 2, static_cast<int64_t>(*c)});
      out.push_back({zs, 3, getQ(), 3});
    }
  }
  for (Value s : {Value(getInitialState()), getStateResult()})
    if (s) {
      out.push_back({s, 0, getQ(), 0});
      out.push_back({s, 1, getQ(), 1});
      out.push_back({s, 2, getQ(), 3});
      out.push_back({s, 3, getV(), 3});
    }
}

void LinearOp::describe(attnir::RefOp &op, function_ref<int(Value)> idOf) {
  op.kind = "linear";
  op.operands["q"] = idOf(getQ());
  op.operands["k"] = idOf(getK());
  op.operands["v"] = idOf(getV());
  if (Value d = getDecay())
    op.operands["decay"] = idOf(d);
  if (Value g = getGate())
    op.operands["gate"] = idOf(g);
  if (Value g = getLogGate())
    op.operands["log_gate"] = idOf(g);
  if (Value b = getBeta())
    op.operands["beta"] = idOf(b);
  if (getForget()) {
    op.operands["forget"] = idOf(getForget());
    op.operands["step"] = idOf(getStep());
    op.operands["momentum"] = idOf(getMomentum());
  }
  if (Value s = getInitialState())
    op.operands["state"] = idOf(s);
  op.results["out"] = idOf(getOut());
  if (Value s = getStateResult())
    op.results["final_state"] = idOf(s);
  if (Value s = getLseResult())
    op.results["lse"] = idOf(s);
  if (auto c = getWy()) {
    op.results["w"] = idOf(getWyW());
    op.results["u"] = idOf(getWyU());
    op.ints["wy"] = *c;
  }
  if (auto c = getSplit()) {
    op.results["states"] = idOf(getChunkStates());
    if (Value vc = getCorrectedValues())
      op.results["corrected"] = idOf(vc);
    if (Value zs = getChunkNormalizers())
      op.results["normalizers"] = idOf(zs);
    op.ints["split"] = *c;
  }
  op.ints["feature_map"] =
      static_cast<int64_t>(getFeatureMap().value_or(FeatureMap::Identity));
  op.ints["normalize"] = getNormalize() ? 1 : 0;
  op.ints["l2norm"] = getL2norm() ? 1 : 0;
  op.floats["scale"] = getScaleValue();
}

void LinearOp::describeEntryRoles(EntryRoles &roles) {
  // q, k, v of one sequence: q's dimension names (k's and v's dims are q's
  // by the shape relations), v's Dv.
  roles.role(getQ(), "q");
  roles.role(getK(), "k");
  roles.role(getV(), "v");
  for (auto [x, r] : {std::pair<Value, const char *>{getDecay(), "decay"},
                      {getGate(), "gate"},
                      {getLogGate(), "log_gate"},
                      {getBeta(), "beta"},
                      {getForget(), "forget"},
                      {getStep(), "step"},
                      {getMomentum(), "momentum"},
                      {getInitialState(), "state"},
                      {getOut(), "out"},
                      {getStateResult(), "final_state"},
                      {getLseResult(), "lse"}})
    if (x)
      roles.role(x, r);
  roles.dimNames(getQ(), {"B", "Hq", "N", "D"});
  roles.dimNames(getV(), {nullptr, nullptr, nullptr, "Dv"});
}
