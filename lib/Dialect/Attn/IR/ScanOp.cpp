//===- ScanOp.cpp - attn.scan: verifier, shapes, reference ----------------===//
//
// The scan's regions are rule-like (verifyRule: scalar arith and math ops the
// float64 reference interprets); here the op's shape contract: inputs
// [B, H, N] or [B, H, N, 1 or F], results [B, H, N, F], the state's S
// components fixed by the combiner, leaf and result regions matching them.
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Reference/Program.h"

using namespace mlir;
using namespace mlir::attn;

namespace {
/// Trailing features of a sequence operand: 1 for [B, H, N], the static
/// last dim of [B, H, N, F], -1 for a dynamic one or another rank.
int64_t featuresOf(Type t) {
  auto rt = cast<RankedTensorType>(t);
  if (rt.getRank() == 3)
    return 1;
  if (rt.getRank() != 4 || rt.isDynamicDim(3))
    return -1;
  return rt.getDimSize(3);
}
} // namespace

int64_t ScanOp::getNumFeatures() {
  int64_t f = 1;
  for (Value x : getInputs())
    f = std::max(f, featuresOf(x.getType()));
  return f;
}

LogicalResult ScanOp::verify() {
  if (getInputs().empty() || getResults().empty())
    return emitOpError() << "takes at least one input and returns at least one "
                            "result";
  int64_t F = getNumFeatures();
  auto first = cast<RankedTensorType>(getInputs()[0].getType());
  auto checkSeq = [&](Type t, StringRef what, unsigned n,
                      bool result) -> LogicalResult {
    auto rt = cast<RankedTensorType>(t);
    int64_t f = featuresOf(t);
    bool ok = f >= 0 && (result ? (f == F && (rt.getRank() == 4 || F == 1))
                                : (f == 1 || f == F));
    for (int64_t d = 0; ok && d < 3; ++d)
      ok = dimsAgree(rt.getDimSize(d), first.getDimSize(d));
    if (ok)
      return success();
    return emitOpError() << what << " #" << n << " " << t << " must be "
                         << (result ? "[B, H, N, F]" : "[B, H, N] or [B, H, N, 1 or F]")
                         << " with the B, H, N of input #0 and a static F (F = "
                         << F << ")";
  };
  for (auto [n, x] : llvm::enumerate(getInputs()))
    if (failed(checkSeq(x.getType(), "input", n, false)))
      return failure();
  for (auto [n, y] : llvm::enumerate(getResults()))
    if (failed(checkSeq(y.getType(), "result", n, true)))
      return failure();
  Block &comb = getCombine().front();
  if (comb.getNumArguments() == 0 || comb.getNumArguments() % 2)
    return emitOpError() << "combine takes a's state then b's: an even, "
                            "non-zero number of arguments, got "
                         << comb.getNumArguments();
  Type f32 = Float32Type::get(getContext());
  unsigned S = getNumState();
  SmallVector<Type> state(S, f32), pair(2 * S, f32),
      ins(getInputs().size(), f32), outs(getResults().size(), f32);
  if (getLeaf().empty() && getInputs().size() != S)
    return emitOpError() << "without a leaf region the " << getInputs().size()
                         << " inputs are the state, but combine's state has "
                         << S << " components";
  if (getFinalize().empty() && getResults().size() != S)
    return emitOpError() << "without a result region the "
                         << getResults().size()
                         << " results are the state, but combine's state has "
                         << S << " components";
  if (getSegment() && *getSegment() < 1)
    return emitOpError() << "segment(L) needs L >= 1, got " << *getSegment();
  // A segmented scan's leaf also sees the token's position in its segment.
  if (getSegment())
    ins.push_back(IndexType::get(getContext()));
  if (failed(verifyRule(*this, {}, getLeaf(), "leaf", ins, state)) ||
      failed(verifyRule(*this, {}, getCombine(), "combine", pair, state)) ||
      failed(verifyRule(*this, {}, getFinalize(), "result", state, outs)))
    return failure();
  // Regions compute on f32 scalars: no index or integer arithmetic leaks
  // into a state (verifyRule checks the yields' types).
  return success();
}

void ScanOp::shapeRelations(SmallVectorImpl<ShapeRelation> &out) {
  Value x0 = getInputs()[0];
  for (Value x : getInputs().drop_front())
    for (unsigned d = 0; d < 3; ++d)
      out.push_back({x, d, x0, d});
  for (Value y : getResults())
    for (unsigned d = 0; d < 3; ++d)
      out.push_back({y, d, x0, d});
}

void ScanOp::describe(attnir::RefOp &op, function_ref<int(Value)> idOf) {
  op.kind = "scan";
  op.ints["inputs"] = getInputs().size();
  op.ints["results"] = getResults().size();
  op.ints["state"] = getNumState();
  op.ints["features"] = getNumFeatures();
  if (getSegment())
    op.ints["segment"] = *getSegment();
  for (auto [n, x] : llvm::enumerate(getInputs()))
    op.operands["x" + std::to_string(n)] = idOf(x);
  for (auto [n, y] : llvm::enumerate(getResults()))
    op.results["y" + std::to_string(n)] = idOf(y);
  op.rules["combine"] = describeRule(getCombine());
  if (!getLeaf().empty())
    op.rules["leaf"] = describeRule(getLeaf());
  if (!getFinalize().empty())
    op.rules["result"] = describeRule(getFinalize());
}

void ScanOp::describeEntryRoles(EntryRoles &roles) {
  // Sequences [B, H, N(, F)]: named as a key's dimensions (shape defaults,
  // messages; a scan of keys and values feeding an attention, as RAT's,
  // then agrees with the attention's names).
  for (Value x : getInputs())
    roles.dimNames(x, {"B", "Hkv", "M"});
}
