//===- CombinatorMasks.cpp - all_of, any_of, not --------------------------===//
//
// Element rules combine the children's by and / or / not. Block rules:
//  - all_of intersects the children's ranges (pairwise, so a child with two
//    ranges gives two);
//  - any_of lists every child's ranges (the key schedule visits a block that
//    lies in several only once), so the blocks between a sink and a window
//    band are never visited;
//  - not turns the child's range into two: the keys before and after its
//    full range, fully kept outside its visible range.
// `keyRange` (one interval) is the safe hull, used where one range is
// enough (flop counts).
//
//===----------------------------------------------------------------------===//

#include "MaskIR.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/DialectImplementation.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// At most this many ranges per mask; past it, a combinator falls back to
/// its hull (still exact-safe, just coarser).
constexpr size_t kMaxRanges = 8;

KeyRange intersect(const KeyRange &x, const KeyRange &y) {
  return {std::max(x.visibleBegin, y.visibleBegin),
          std::min(x.visibleEnd, y.visibleEnd),
          std::max(x.fullBegin, y.fullBegin), std::min(x.fullEnd, y.fullEnd)};
}

KeyRangeValues intersect(const maskir::Arith &a, const KeyRangeValues &x,
                         const KeyRangeValues &y) {
  return {a.max(x.visibleBegin, y.visibleBegin),
          a.min(x.visibleEnd, y.visibleEnd), a.max(x.fullBegin, y.fullBegin),
          a.min(x.fullEnd, y.fullEnd)};
}

/// The number of ranges all_of would produce, or 0 past kMaxRanges.
size_t allOfCount(ArrayRef<MaskAttrInterface> masks) {
  size_t n = 1;
  for (MaskAttrInterface m : masks) {
    n *= m.keyRanges(0, 1, 1, 1).size();
    if (n > kMaxRanges)
      return 0;
  }
  return n;
}

void printMaskList(AsmPrinter &p, ArrayRef<MaskAttrInterface> masks) {
  p << "<[";
  llvm::interleaveComma(masks, p, [&](MaskAttrInterface m) {
    p.printAttribute(m);
  });
  p << "]>";
}

/// The children's element rules joined by `OpTy` (and / or).
template <typename OpTy>
Value combineKeeps(ArrayRef<MaskAttrInterface> masks, OpBuilder &b,
                   Location loc, const MaskSiteValues &site, Value i, Value j,
                   Value n, Value m) {
  Value acc;
  for (MaskAttrInterface x : masks) {
    Value k = x.buildKeepAt(b, loc, site, i, j, n, m);
    acc = acc ? OpTy::create(b, loc, acc, k).getResult() : k;
  }
  return acc;
}

/// A site with no operands: the plain rules delegate to the site ones.
MaskSite plainSite(int64_t n, int64_t m) { return {0, 0, n, m, nullptr}; }
MaskSiteValues plainSite(Value n, Value m) { return {{}, {}, n, m, nullptr}; }

std::vector<attnir::RefMask> describeAll(ArrayRef<MaskAttrInterface> masks) {
  std::vector<attnir::RefMask> out;
  for (MaskAttrInterface x : masks)
    out.push_back(x.describe());
  return out;
}

bool anyReadsOperands(ArrayRef<MaskAttrInterface> masks) {
  return llvm::any_of(masks,
                      [](MaskAttrInterface x) { return x.readsOperands(); });
}

LogicalResult verifyList(function_ref<InFlightDiagnostic()> emitError,
                         StringRef name, ArrayRef<MaskAttrInterface> masks) {
  if (masks.empty())
    return emitError() << "#attn." << name << " needs at least one mask";
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// all_of
//===----------------------------------------------------------------------===//

void AllOfAttr::print(AsmPrinter &p) const { printMaskList(p, getMasks()); }
LogicalResult AllOfAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                ArrayRef<MaskAttrInterface> masks) {
  return verifyList(emitError, "all_of", masks);
}

bool AllOfAttr::readsOperands() const { return anyReadsOperands(getMasks()); }

attnir::RefMask AllOfAttr::describe() const {
  return {"all_of", {}, describeAll(getMasks())};
}

bool AllOfAttr::keep(int64_t i, int64_t j, int64_t n, int64_t m) const {
  return keepAt(plainSite(n, m), i, j);
}

bool AllOfAttr::keepAt(const MaskSite &site, int64_t i, int64_t j) const {
  return llvm::all_of(getMasks(), [&](MaskAttrInterface x) {
    return x.keepAt(site, i, j);
  });
}

KeyRange AllOfAttr::keyRange(int64_t i0, int64_t i1, int64_t n,
                             int64_t m) const {
  KeyRange r{0, m, 0, m};
  for (MaskAttrInterface x : getMasks())
    r = intersect(r, x.keyRange(i0, i1, n, m));
  return r;
}

SmallVector<KeyRange> AllOfAttr::keyRanges(int64_t i0, int64_t i1, int64_t n,
                                           int64_t m) const {
  return keyRangesAt(plainSite(n, m), i0, i1);
}

SmallVector<KeyRange> AllOfAttr::keyRangesAt(const MaskSite &site, int64_t i0,
                                             int64_t i1) const {
  if (!allOfCount(getMasks()))
    return {keyRange(i0, i1, site.n, site.m)};
  SmallVector<KeyRange> acc = {{0, site.m, 0, site.m}};
  for (MaskAttrInterface x : getMasks()) {
    SmallVector<KeyRange> next;
    for (const KeyRange &r : acc)
      for (const KeyRange &y : x.keyRangesAt(site, i0, i1))
        next.push_back(intersect(r, y));
    acc = std::move(next);
  }
  return acc;
}

Value AllOfAttr::buildKeep(OpBuilder &b, Location loc, Value i, Value j,
                           Value n, Value m) const {
  return buildKeepAt(b, loc, plainSite(n, m), i, j, n, m);
}

Value AllOfAttr::buildKeepAt(OpBuilder &b, Location loc,
                             const MaskSiteValues &site, Value i, Value j,
                             Value n, Value m) const {
  return combineKeeps<arith::AndIOp>(getMasks(), b, loc, site, i, j, n, m);
}

KeyRangeValues AllOfAttr::buildKeyRange(OpBuilder &b, Location loc, Value i0,
                                        Value i1, Value n, Value m) const {
  maskir::Arith a{b, loc, m.getType()};
  KeyRangeValues r{a.c(0), m, a.c(0), m};
  for (MaskAttrInterface x : getMasks())
    r = intersect(a, r, x.buildKeyRange(b, loc, i0, i1, n, m));
  return r;
}

SmallVector<KeyRangeValues> AllOfAttr::buildKeyRanges(OpBuilder &b,
                                                      Location loc, Value i0,
                                                      Value i1, Value n,
                                                      Value m) const {
  return buildKeyRangesAt(b, loc, plainSite(n, m), i0, i1);
}

SmallVector<KeyRangeValues>
AllOfAttr::buildKeyRangesAt(OpBuilder &b, Location loc,
                            const MaskSiteValues &site, Value i0,
                            Value i1) const {
  Value m = site.m;
  if (!allOfCount(getMasks()))
    return {buildKeyRange(b, loc, i0, i1, site.n, m)};
  maskir::Arith a{b, loc, m.getType()};
  SmallVector<KeyRangeValues> acc = {{a.c(0), m, a.c(0), m}};
  for (MaskAttrInterface x : getMasks()) {
    SmallVector<KeyRangeValues> next;
    SmallVector<KeyRangeValues> ys = x.buildKeyRangesAt(b, loc, site, i0, i1);
    for (const KeyRangeValues &r : acc)
      for (const KeyRangeValues &y : ys)
        next.push_back(intersect(a, r, y));
    acc = std::move(next);
  }
  return acc;
}

//===----------------------------------------------------------------------===//
// any_of
//===----------------------------------------------------------------------===//

void AnyOfAttr::print(AsmPrinter &p) const { printMaskList(p, getMasks()); }
LogicalResult AnyOfAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                ArrayRef<MaskAttrInterface> masks) {
  if (failed(verifyList(emitError, "any_of", masks)))
    return failure();
  size_t n = 0;
  for (MaskAttrInterface x : masks)
    n += x.keyRanges(0, 1, 1, 1).size();
  if (n > kMaxRanges)
    return emitError() << "#attn.any_of has " << n
                       << " key ranges; at most " << kMaxRanges
                       << " are supported";
  return success();
}

bool AnyOfAttr::readsOperands() const { return anyReadsOperands(getMasks()); }

attnir::RefMask AnyOfAttr::describe() const {
  return {"any_of", {}, describeAll(getMasks())};
}

bool AnyOfAttr::keep(int64_t i, int64_t j, int64_t n, int64_t m) const {
  return keepAt(plainSite(n, m), i, j);
}

bool AnyOfAttr::keepAt(const MaskSite &site, int64_t i, int64_t j) const {
  return llvm::any_of(getMasks(), [&](MaskAttrInterface x) {
    return x.keepAt(site, i, j);
  });
}

KeyRange AnyOfAttr::keyRange(int64_t i0, int64_t i1, int64_t n,
                             int64_t m) const {
  // The hull of the visible ranges; the widest full range (each child's is
  // kept by every row).
  KeyRange r{m, 0, 0, 0};
  for (MaskAttrInterface x : getMasks()) {
    KeyRange y = x.keyRange(i0, i1, n, m);
    r.visibleBegin = std::min(r.visibleBegin, y.visibleBegin);
    r.visibleEnd = std::max(r.visibleEnd, y.visibleEnd);
    if (y.fullEnd - y.fullBegin > r.fullEnd - r.fullBegin) {
      r.fullBegin = y.fullBegin;
      r.fullEnd = y.fullEnd;
    }
  }
  return r;
}

SmallVector<KeyRange> AnyOfAttr::keyRanges(int64_t i0, int64_t i1, int64_t n,
                                           int64_t m) const {
  return keyRangesAt(plainSite(n, m), i0, i1);
}

SmallVector<KeyRange> AnyOfAttr::keyRangesAt(const MaskSite &site, int64_t i0,
                                             int64_t i1) const {
  SmallVector<KeyRange> out;
  for (MaskAttrInterface x : getMasks())
    llvm::append_range(out, x.keyRangesAt(site, i0, i1));
  return out;
}

Value AnyOfAttr::buildKeep(OpBuilder &b, Location loc, Value i, Value j,
                           Value n, Value m) const {
  return buildKeepAt(b, loc, plainSite(n, m), i, j, n, m);
}

Value AnyOfAttr::buildKeepAt(OpBuilder &b, Location loc,
                             const MaskSiteValues &site, Value i, Value j,
                             Value n, Value m) const {
  return combineKeeps<arith::OrIOp>(getMasks(), b, loc, site, i, j, n, m);
}

KeyRangeValues AnyOfAttr::buildKeyRange(OpBuilder &b, Location loc, Value i0,
                                        Value i1, Value n, Value m) const {
  maskir::Arith a{b, loc, m.getType()};
  KeyRangeValues r{m, a.c(0), a.c(0), a.c(0)};
  for (MaskAttrInterface x : getMasks()) {
    KeyRangeValues y = x.buildKeyRange(b, loc, i0, i1, n, m);
    r.visibleBegin = a.min(r.visibleBegin, y.visibleBegin);
    r.visibleEnd = a.max(r.visibleEnd, y.visibleEnd);
    Value wider = a.lt(a.sub(r.fullEnd, r.fullBegin),
                       a.sub(y.fullEnd, y.fullBegin));
    r.fullBegin = a.select(wider, y.fullBegin, r.fullBegin);
    r.fullEnd = a.select(wider, y.fullEnd, r.fullEnd);
  }
  return r;
}

SmallVector<KeyRangeValues> AnyOfAttr::buildKeyRanges(OpBuilder &b,
                                                      Location loc, Value i0,
                                                      Value i1, Value n,
                                                      Value m) const {
  return buildKeyRangesAt(b, loc, plainSite(n, m), i0, i1);
}

SmallVector<KeyRangeValues>
AnyOfAttr::buildKeyRangesAt(OpBuilder &b, Location loc,
                            const MaskSiteValues &site, Value i0,
                            Value i1) const {
  SmallVector<KeyRangeValues> out;
  for (MaskAttrInterface x : getMasks())
    llvm::append_range(out, x.buildKeyRangesAt(b, loc, site, i0, i1));
  return out;
}

//===----------------------------------------------------------------------===//
// not
//===----------------------------------------------------------------------===//

void NotAttr::print(AsmPrinter &p) const {
  p << "<";
  p.printAttribute(getMask());
  p << ">";
}

bool NotAttr::readsOperands() const { return getMask().readsOperands(); }

attnir::RefMask NotAttr::describe() const {
  return {"not", {}, {getMask().describe()}};
}

bool NotAttr::keep(int64_t i, int64_t j, int64_t n, int64_t m) const {
  return !getMask().keep(i, j, n, m);
}

bool NotAttr::keepAt(const MaskSite &site, int64_t i, int64_t j) const {
  return !getMask().keepAt(site, i, j);
}

namespace {
/// The child's ranges as one: itself, or the safe hull (visible [0, m),
/// nothing known full) when it has several.
KeyRange single(ArrayRef<KeyRange> rs, int64_t m) {
  return rs.size() == 1 ? rs[0] : KeyRange{0, m, 0, 0};
}
KeyRange complementA(const KeyRange &r, int64_t m) {
  bool hasFull = r.fullBegin < r.fullEnd;
  int64_t fb = hasFull ? r.fullBegin : m;
  return {0, fb, 0, std::min(r.visibleBegin, fb)};
}
KeyRange complementB(const KeyRange &r, int64_t m) {
  bool hasFull = r.fullBegin < r.fullEnd;
  int64_t fe = hasFull ? r.fullEnd : r.visibleEnd;
  return {fe, m, std::max(r.visibleEnd, fe), m};
}
} // namespace

SmallVector<KeyRange> NotAttr::keyRangesAt(const MaskSite &site, int64_t i0,
                                           int64_t i1) const {
  KeyRange r = single(getMask().keyRangesAt(site, i0, i1), site.m);
  return {complementA(r, site.m), complementB(r, site.m)};
}

// From the child's (hull) range r: keys outside r's full range may be kept,
// keys outside its visible range are kept by every row. Range A is
// [0, full begin), range B [full end, m); with an empty full range, A is
// everything and B the keys past the visible range.
SmallVector<KeyRange> NotAttr::keyRanges(int64_t i0, int64_t i1, int64_t n,
                                         int64_t m) const {
  KeyRange r = getMask().keyRange(i0, i1, n, m);
  return {complementA(r, m), complementB(r, m)};
}

KeyRange NotAttr::keyRange(int64_t i0, int64_t i1, int64_t n,
                           int64_t m) const {
  KeyRange a = keyRanges(i0, i1, n, m)[0];
  return {0, m, a.fullBegin, a.fullEnd};
}

SmallVector<KeyRangeValues> NotAttr::buildKeyRanges(OpBuilder &b, Location loc,
                                                    Value i0, Value i1,
                                                    Value n, Value m) const {
  return complementValues(b, loc,
                          getMask().buildKeyRange(b, loc, i0, i1, n, m), m);
}

SmallVector<KeyRangeValues>
NotAttr::buildKeyRangesAt(OpBuilder &b, Location loc,
                          const MaskSiteValues &site, Value i0,
                          Value i1) const {
  SmallVector<KeyRangeValues> rs =
      getMask().buildKeyRangesAt(b, loc, site, i0, i1);
  maskir::Arith a{b, loc, site.m.getType()};
  KeyRangeValues r =
      rs.size() == 1 ? rs[0] : KeyRangeValues{a.c(0), site.m, a.c(0), a.c(0)};
  return complementValues(b, loc, r, site.m);
}

SmallVector<KeyRangeValues> NotAttr::complementValues(OpBuilder &b,
                                                      Location loc,
                                                      KeyRangeValues r,
                                                      Value m) {
  maskir::Arith a{b, loc, m.getType()};
  Value hasFull = a.lt(r.fullBegin, r.fullEnd);
  Value fb = a.select(hasFull, r.fullBegin, m);
  Value fe = a.select(hasFull, r.fullEnd, r.visibleEnd);
  return {{a.c(0), fb, a.c(0), a.min(r.visibleBegin, fb)},
          {fe, m, a.max(r.visibleEnd, fe), m}};
}

KeyRangeValues NotAttr::buildKeyRange(OpBuilder &b, Location loc, Value i0,
                                      Value i1, Value n, Value m) const {
  KeyRangeValues a = buildKeyRanges(b, loc, i0, i1, n, m)[0];
  return {a.visibleBegin, m, a.fullBegin, a.fullEnd};
}

Value NotAttr::buildKeep(OpBuilder &b, Location loc, Value i, Value j, Value n,
                         Value m) const {
  return buildKeepAt(b, loc, plainSite(n, m), i, j, n, m);
}

Value NotAttr::buildKeepAt(OpBuilder &b, Location loc,
                           const MaskSiteValues &site, Value i, Value j,
                           Value n, Value m) const {
  Value k = getMask().buildKeepAt(b, loc, site, i, j, n, m);
  TypedAttr one =
      isa<VectorType>(k.getType())
          ? TypedAttr(
                DenseElementsAttr::get(cast<ShapedType>(k.getType()), true))
          : TypedAttr(b.getBoolAttr(true));
  Value ones = arith::ConstantOp::create(b, loc, k.getType(), one);
  return arith::XOrIOp::create(b, loc, k, ones);
}
