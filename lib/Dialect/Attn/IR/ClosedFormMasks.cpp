//===- ClosedFormMasks.cpp - sink, global, prefix, chunked, dilated, compressed
//
// Masks whose block rule is one interval with a closed form
// (shared/patterns.md A2; delta = m - n aligns queries to the end of the
// keys, as for causal). Each rule is written twice from one formula, in C++
// (reference, flop counts) and as IR (lowering); unittests/MaskRulesTest.cpp
// checks that the two agree and that the block rules are exact.
//
//===----------------------------------------------------------------------===//

#include "MaskIR.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"

using namespace mlir;
using namespace mlir::attn;
using maskir::clampTo;

namespace {
LogicalResult checkParam(function_ref<InFlightDiagnostic()> emitError,
                         StringRef mask, StringRef name, int64_t v,
                         int64_t lo) {
  if (v < lo || v > maskir::kMaxParam)
    return emitError() << "#attn." << mask << " parameter " << name
                       << " must be in [" << lo << ", 2^40], got " << v;
  return success();
}
} // namespace

//===----------------------------------------------------------------------===//
// sink<n>: j < n
//===----------------------------------------------------------------------===//

LogicalResult SinkAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               int64_t n) {
  return checkParam(emitError, "sink", "n", n, 0);
}

attnir::RefMask SinkAttr::describe() const { return {"sink", {getN()}, {}}; }

bool SinkAttr::keep(int64_t, int64_t j, int64_t, int64_t) const {
  return attnir::rules::sink(getN(), j);
}

KeyRange SinkAttr::keyRange(int64_t, int64_t, int64_t, int64_t m) const {
  int64_t e = clampTo(getN(), m);
  return {0, e, 0, e};
}

Value SinkAttr::buildKeep(OpBuilder &b, Location loc, Value, Value j, Value,
                          Value) const {
  maskir::Arith a{b, loc, j.getType()};
  return a.lt(j, a.c(getN()));
}

KeyRangeValues SinkAttr::buildKeyRange(OpBuilder &b, Location loc, Value,
                                       Value, Value, Value m) const {
  maskir::Arith a{b, loc, m.getType()};
  Value e = a.clamp(a.c(getN()), m);
  return {a.c(0), e, a.c(0), e};
}

//===----------------------------------------------------------------------===//
// global<n>: j < n or i < n
//===----------------------------------------------------------------------===//

LogicalResult GlobalAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 int64_t n) {
  return checkParam(emitError, "global", "n", n, 0);
}

attnir::RefMask GlobalAttr::describe() const {
  return {"global", {getN()}, {}};
}

bool GlobalAttr::keep(int64_t i, int64_t j, int64_t, int64_t) const {
  return attnir::rules::global(getN(), i, j);
}

KeyRange GlobalAttr::keyRange(int64_t i0, int64_t i1, int64_t,
                              int64_t m) const {
  // Rows < n see every key; every row sees the first n keys.
  int64_t g = clampTo(getN(), m);
  return {0, i0 < getN() ? m : g, 0, i1 <= getN() ? m : g};
}

Value GlobalAttr::buildKeep(OpBuilder &b, Location loc, Value i, Value j,
                            Value, Value) const {
  maskir::Arith a{b, loc, j.getType()};
  return a.either(a.lt(j, a.c(getN())), a.lt(i, a.c(getN())));
}

KeyRangeValues GlobalAttr::buildKeyRange(OpBuilder &b, Location loc, Value i0,
                                         Value i1, Value, Value m) const {
  maskir::Arith a{b, loc, m.getType()};
  Value n = a.c(getN()), g = a.clamp(n, m);
  return {a.c(0), a.select(a.lt(i0, n), m, g), a.c(0),
          a.select(a.le(i1, n), m, g)};
}

//===----------------------------------------------------------------------===//
// prefix<n>: j < n or j <= i + delta
//===----------------------------------------------------------------------===//

LogicalResult PrefixAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 int64_t n) {
  return checkParam(emitError, "prefix", "n", n, 0);
}

attnir::RefMask PrefixAttr::describe() const {
  return {"prefix", {getN()}, {}};
}

bool PrefixAttr::keep(int64_t i, int64_t j, int64_t n, int64_t m) const {
  return attnir::rules::prefix(getN(), i, j, n, m);
}

KeyRange PrefixAttr::keyRange(int64_t i0, int64_t i1, int64_t n,
                              int64_t m) const {
  int64_t delta = m - n;
  return {0, clampTo(std::max(getN(), i1 + delta), m), 0,
          clampTo(std::max(getN(), i0 + delta + 1), m)};
}

Value PrefixAttr::buildKeep(OpBuilder &b, Location loc, Value i, Value j,
                            Value n, Value m) const {
  maskir::Arith a{b, loc, j.getType()};
  Value limit = a.add(i, a.splat(a.sub(m, n)));
  return a.either(a.lt(j, a.c(getN())), a.le(j, limit));
}

KeyRangeValues PrefixAttr::buildKeyRange(OpBuilder &b, Location loc, Value i0,
                                         Value i1, Value n, Value m) const {
  maskir::Arith a{b, loc, m.getType()};
  Value delta = a.sub(m, n), p = a.c(getN());
  return {a.c(0), a.clamp(a.max(p, a.add(i1, delta)), m), a.c(0),
          a.clamp(a.max(p, a.add(a.add(i0, delta), a.c(1))), m)};
}

//===----------------------------------------------------------------------===//
// chunked<c>: floor(i / c) = floor(j / c)
//===----------------------------------------------------------------------===//

LogicalResult ChunkedAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t c) {
  return checkParam(emitError, "chunked", "c", c, 1);
}

attnir::RefMask ChunkedAttr::describe() const {
  return {"chunked", {getC()}, {}};
}

bool ChunkedAttr::keep(int64_t i, int64_t j, int64_t, int64_t) const {
  return attnir::rules::chunked(getC(), i, j);
}

/// The keys of the chunks of width c that rows [i0, i1) fall in: every
/// row sees its chunk's keys; rows of one chunk share them (chunked,
/// balanced).
static KeyRange chunkKeys(int64_t c, int64_t i0, int64_t i1, int64_t m) {
  int64_t first = i0 / c, last = (i1 - 1) / c;
  int64_t b = clampTo(first * c, m), e = clampTo((last + 1) * c, m);
  return {b, e, first == last ? b : 0, first == last ? e : 0};
}

/// chunkKeys in the arithmetic of `a` (index values).
static KeyRangeValues chunkKeysIR(const maskir::Arith &a, Value c, Value i0,
                                  Value i1, Value m) {
  Value first = a.div(i0, c), last = a.div(a.sub(i1, a.c(1)), c);
  Value begin = a.clamp(a.mul(first, c), m);
  Value end = a.clamp(a.mul(a.add(last, a.c(1)), c), m);
  Value one = a.eq(first, last);
  return {begin, end, a.select(one, begin, a.c(0)),
          a.select(one, end, a.c(0))};
}

KeyRange ChunkedAttr::keyRange(int64_t i0, int64_t i1, int64_t,
                               int64_t m) const {
  return chunkKeys(getC(), i0, i1, m);
}

Value ChunkedAttr::buildKeep(OpBuilder &b, Location loc, Value i, Value j,
                             Value, Value) const {
  maskir::Arith a{b, loc, j.getType()};
  return a.eq(a.div(i, a.c(getC())), a.div(j, a.c(getC())));
}

KeyRangeValues ChunkedAttr::buildKeyRange(OpBuilder &b, Location loc, Value i0,
                                          Value i1, Value, Value m) const {
  maskir::Arith a{b, loc, m.getType()};
  return chunkKeysIR(a, a.c(getC()), i0, i1, m);
}

//===----------------------------------------------------------------------===//
// balanced<c>: floor(i / w) = floor(j / w), w = ceil(m / c)
//===----------------------------------------------------------------------===//

LogicalResult BalancedAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   int64_t c) {
  return checkParam(emitError, "balanced", "c", c, 1);
}

attnir::RefMask BalancedAttr::describe() const {
  return {"balanced", {getC()}, {}};
}

bool BalancedAttr::keep(int64_t i, int64_t j, int64_t, int64_t m) const {
  return attnir::rules::balanced(getC(), i, j, m);
}

KeyRange BalancedAttr::keyRange(int64_t i0, int64_t i1, int64_t,
                                int64_t m) const {
  return chunkKeys(attnir::rules::balancedWidth(getC(), m), i0, i1, m);
}

/// ceil(m / c), at least 1, in the arithmetic of `a`.
static Value balancedWidthIR(const maskir::Arith &a, int64_t c, Value m) {
  return a.max(a.div(a.add(m, a.c(c - 1)), a.c(c)), a.c(1));
}

/// floor(x / w) for 0 <= x < 2^52 and w >= 1 without an integer division:
/// x times the float64 1 / w `rw`, off by at most one, then corrected. A run-time
/// divisor would make a 64-bit division per key, which the GPU backend
/// splits into a branch per key (a 32-bit fast path) that keeps the
/// element rule's loads of different keys from overlapping.
static Value chunkOf(const maskir::Arith &a, Value x, Value w, Value rw) {
  Type f64 = a.b.getF64Type();
  Type ft = isa<VectorType>(a.type)
                ? Type(VectorType::get(cast<VectorType>(a.type).getShape(), f64))
                : f64;
  Value xf = arith::SIToFPOp::create(a.b, a.loc, ft, x);
  Value qf = math::FloorOp::create(
      a.b, a.loc, arith::MulFOp::create(a.b, a.loc, xf, rw));
  Value q = arith::FPToSIOp::create(a.b, a.loc, a.type, qf);
  Value next = a.mul(a.add(q, a.c(1)), w);
  q = a.select(a.le(next, x), a.add(q, a.c(1)), q);
  return a.select(a.lt(x, a.mul(q, w)), a.sub(q, a.c(1)), q);
}

Value BalancedAttr::buildKeep(OpBuilder &b, Location loc, Value i, Value j,
                              Value, Value m) const {
  maskir::Arith a{b, loc, j.getType()};
  if (getElementTypeOrSelf(j.getType()).isIndex()) // no float casts of index
    return a.eq(a.div(i, balancedWidthIR(a, getC(), a.splat(m))),
                a.div(j, balancedWidthIR(a, getC(), a.splat(m))));
  Value w = balancedWidthIR(a, getC(), a.splat(m));
  Type f64 = b.getF64Type();
  Type ft = isa<VectorType>(a.type)
                ? Type(VectorType::get(cast<VectorType>(a.type).getShape(), f64))
                : f64;
  // 1 / w once (the per-key work is a multiply; the quotient is off by at
  // most one, which chunkOf corrects).
  Value one = arith::ConstantOp::create(b, loc, FloatAttr::get(f64, 1.0));
  if (auto vt = dyn_cast<VectorType>(ft))
    one = vector::BroadcastOp::create(b, loc, vt, one);
  Value rw = arith::DivFOp::create(b, loc, one,
                                   arith::SIToFPOp::create(b, loc, ft, w));
  return a.eq(chunkOf(a, i, w, rw), chunkOf(a, j, w, rw));
}

KeyRangeValues BalancedAttr::buildKeyRange(OpBuilder &b, Location loc, Value i0,
                                           Value i1, Value, Value m) const {
  maskir::Arith a{b, loc, m.getType()};
  return chunkKeysIR(a, balancedWidthIR(a, getC(), m), i0, i1, m);
}

//===----------------------------------------------------------------------===//
// dilated<s, w>: d = i + delta - j, d mod s = 0 and |d| <= w s
//===----------------------------------------------------------------------===//

LogicalResult DilatedAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t s, int64_t w) {
  if (failed(checkParam(emitError, "dilated", "s", s, 1)) ||
      failed(checkParam(emitError, "dilated", "w", w, 0)))
    return failure();
  // s and w are each at most 2^40, so s * w may overflow int64: compare
  // by division (fuzz-spec seed dilated-reach-overflow).
  if (w > 0 && s > maskir::kMaxParam / w)
    return emitError() << "#attn.dilated reach s * w must be at most 2^40, "
                          "got "
                       << s << " * " << w;
  return success();
}

attnir::RefMask DilatedAttr::describe() const {
  return {"dilated", {getS(), getW()}, {}};
}

bool DilatedAttr::keep(int64_t i, int64_t j, int64_t n, int64_t m) const {
  return attnir::rules::dilated(getS(), getW(), i, j, n, m);
}

KeyRange DilatedAttr::keyRange(int64_t i0, int64_t i1, int64_t n,
                               int64_t m) const {
  int64_t delta = m - n, reach = getW() * getS();
  KeyRange r{clampTo(i0 + delta - reach, m), clampTo(i1 + delta + reach, m),
             0, 0};
  // Only without dilation is a band of keys kept by every row.
  if (getS() == 1) {
    r.fullBegin = clampTo(i1 - 1 + delta - reach, m);
    r.fullEnd = clampTo(i0 + delta + reach + 1, m);
  }
  return r;
}

Value DilatedAttr::buildKeep(OpBuilder &b, Location loc, Value i, Value j,
                             Value n, Value m) const {
  maskir::Arith a{b, loc, j.getType()};
  Value d = a.sub(a.add(i, a.splat(a.sub(m, n))), j);
  Value reach = a.c(getW() * getS());
  Value onGrid = a.eq(a.rem(d, a.c(getS())), a.c(0));
  Value near = a.both(a.le(d, reach), a.le(a.sub(a.c(0), d), reach));
  return a.both(onGrid, near);
}

KeyRangeValues DilatedAttr::buildKeyRange(OpBuilder &b, Location loc, Value i0,
                                          Value i1, Value n, Value m) const {
  maskir::Arith a{b, loc, m.getType()};
  Value delta = a.sub(m, n), reach = a.c(getW() * getS());
  KeyRangeValues r{a.clamp(a.sub(a.add(i0, delta), reach), m),
                   a.clamp(a.add(a.add(i1, delta), reach), m), a.c(0), a.c(0)};
  if (getS() == 1) {
    r.fullBegin =
        a.clamp(a.sub(a.add(a.sub(i1, a.c(1)), delta), reach), m);
    r.fullEnd = a.clamp(a.add(a.add(a.add(i0, delta), reach), a.c(1)), m);
  }
  return r;
}

//===----------------------------------------------------------------------===//
// compressed<c, s>: j < max(i - c + 1 + s, 0) / s (block j ends by i)
//===----------------------------------------------------------------------===//

LogicalResult
CompressedAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                       int64_t c, int64_t s) {
  if (failed(checkParam(emitError, "compressed", "c", c, 1)) ||
      failed(checkParam(emitError, "compressed", "s", s, 1)))
    return failure();
  return success();
}

attnir::RefMask CompressedAttr::describe() const {
  return {"compressed", {getC(), getS()}, {}};
}

bool CompressedAttr::keep(int64_t i, int64_t j, int64_t, int64_t) const {
  return attnir::rules::compressed(getC(), getS(), i, j);
}

KeyRange CompressedAttr::keyRange(int64_t i0, int64_t i1, int64_t,
                                  int64_t m) const {
  // Rows see a prefix of the keys that grows with i: the last row sees the
  // most, the first row's prefix is seen by all.
  int64_t visible = clampTo(attnir::rules::compressedEnd(getC(), getS(), i1 - 1), m);
  int64_t full = clampTo(attnir::rules::compressedEnd(getC(), getS(), i0), m);
  return {0, visible, 0, full};
}

/// max(i - c + 1 + s, 0) / s in the arithmetic of `a`.
static Value compressedEndIR(const maskir::Arith &a, Value i, int64_t c,
                             int64_t s) {
  return a.div(a.max(a.add(i, a.c(s - c + 1)), a.c(0)), a.c(s));
}

Value CompressedAttr::buildKeep(OpBuilder &b, Location loc, Value i, Value j,
                                Value, Value) const {
  maskir::Arith a{b, loc, j.getType()};
  return a.lt(j, compressedEndIR(a, i, getC(), getS()));
}

KeyRangeValues CompressedAttr::buildKeyRange(OpBuilder &b, Location loc,
                                             Value i0, Value i1, Value,
                                             Value m) const {
  maskir::Arith a{b, loc, m.getType()};
  Value visible =
      a.clamp(compressedEndIR(a, a.sub(i1, a.c(1)), getC(), getS()), m);
  Value full = a.clamp(compressedEndIR(a, i0, getC(), getS()), m);
  return {a.c(0), visible, a.c(0), full};
}

//===----------------------------------------------------------------------===//
// key_part<p, P>: ceil(p m / P) <= j < ceil((p + 1) m / P)
//===----------------------------------------------------------------------===//

LogicalResult KeyPartAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t p, int64_t parts) {
  if (parts < 1 || parts > 1024 || p < 0 || p >= parts)
    return emitError() << "#attn.key_part<p, P> needs 0 <= p < P <= 1024, got <"
                       << p << ", " << parts << ">";
  return success();
}

attnir::RefMask KeyPartAttr::describe() const {
  return {"key_part", {getP(), getParts()}, {}};
}

bool KeyPartAttr::keep(int64_t, int64_t j, int64_t, int64_t m) const {
  return attnir::rules::keyPart(getP(), getParts(), j, m);
}

KeyRange KeyPartAttr::keyRange(int64_t, int64_t, int64_t, int64_t m) const {
  int64_t b = attnir::rules::keyPartBegin(getP(), getParts(), m);
  int64_t e = attnir::rules::keyPartBegin(getP() + 1, getParts(), m);
  return {b, e, b, e};
}

/// ceil(p m / P) in the arithmetic of `a`.
static Value keyPartBeginIR(const maskir::Arith &a, int64_t p, int64_t parts,
                            Value m) {
  return a.div(a.add(a.mul(a.c(p), m), a.c(parts - 1)), a.c(parts));
}

Value KeyPartAttr::buildKeep(OpBuilder &b, Location loc, Value, Value j,
                             Value, Value m) const {
  maskir::Arith a{b, loc, j.getType()};
  Value mm = a.splat(m);
  return a.both(a.le(keyPartBeginIR(a, getP(), getParts(), mm), j),
                a.lt(j, keyPartBeginIR(a, getP() + 1, getParts(), mm)));
}

KeyRangeValues KeyPartAttr::buildKeyRange(OpBuilder &b, Location loc, Value,
                                          Value, Value, Value m) const {
  maskir::Arith a{b, loc, m.getType()};
  Value begin = keyPartBeginIR(a, getP(), getParts(), m);
  Value end = keyPartBeginIR(a, getP() + 1, getParts(), m);
  return {begin, end, begin, end};
}
