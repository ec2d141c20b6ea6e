//===- AttnDialect.cpp - attn dialect registration ------------------------===//

#include "attnir/Dialect/Attn/IR/AttnDialect.h"
#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::attn;

#include "attnir/Dialect/Attn/IR/AttnDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "attnir/Dialect/Attn/IR/AttnAttrs.cpp.inc"

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
