//===- AttnDialect.cpp - attn dialect registration ------------------------===//

#include "attnir/Dialect/Attn/IR/AttnDialect.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::attn;

#include "attnir/Dialect/Attn/IR/AttnDialect.cpp.inc"
#include "attnir/Dialect/Attn/IR/AttnEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "attnir/Dialect/Attn/IR/AttnAttrs.cpp.inc"

// Parsers of the combinators (here, beside the attribute storage they
// instantiate; their rules live in CombinatorMasks.cpp).
namespace {
Attribute parseMask(AsmParser &p) {
  Attribute a;
  SMLoc loc = p.getCurrentLocation();
  if (p.parseAttribute(a))
    return {};
  if (!isa<MaskAttrInterface>(a)) {
    p.emitError(loc) << "expected a mask attribute, got " << a;
    return {};
  }
  return a;
}

ParseResult parseMaskList(AsmParser &p,
                          SmallVectorImpl<MaskAttrInterface> &masks) {
  auto one = [&]() -> ParseResult {
    Attribute a = parseMask(p);
    if (!a)
      return failure();
    masks.push_back(cast<MaskAttrInterface>(a));
    return success();
  };
  return failure(p.parseLess() ||
                 p.parseCommaSeparatedList(AsmParser::Delimiter::Square, one) ||
                 p.parseGreater());
}
} // namespace

/// `<[mask, ...]>` as a combinator of kind `AttrTy`.
template <typename AttrTy> Attribute parseCombinator(AsmParser &p) {
  SmallVector<MaskAttrInterface> masks;
  if (parseMaskList(p, masks))
    return {};
  return AttrTy::getChecked([&] { return p.emitError(p.getNameLoc()); },
                            p.getContext(), masks);
}

Attribute AllOfAttr::parse(AsmParser &p, Type) {
  return parseCombinator<AllOfAttr>(p);
}

Attribute AnyOfAttr::parse(AsmParser &p, Type) {
  return parseCombinator<AnyOfAttr>(p);
}

Attribute NotAttr::parse(AsmParser &p, Type) {
  Attribute a;
  if (p.parseLess() || !(a = parseMask(p)) || p.parseGreater())
    return {};
  return NotAttr::get(p.getContext(), cast<MaskAttrInterface>(a));
}

void AttnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "attnir/Dialect/Attn/IR/AttnOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "attnir/Dialect/Attn/IR/AttnAttrs.cpp.inc"
      >();
}
