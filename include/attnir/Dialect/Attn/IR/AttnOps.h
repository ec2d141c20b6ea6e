//===- AttnOps.h - attn attributes, interfaces and ops --------------------===//

#ifndef ATTNIR_DIALECT_ATTN_IR_ATTNOPS_H
#define ATTNIR_DIALECT_ATTN_IR_ATTNOPS_H

#include "attnir/Dialect/Attn/IR/AttnBase.h"
#include "attnir/Dialect/Attn/IR/AttnDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "attnir/Dialect/Attn/IR/AttnInterfaces.h.inc"
#include "attnir/Dialect/Attn/IR/AttnOpInterfaces.h.inc"

#include "attnir/Dialect/Attn/IR/AttnEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "attnir/Dialect/Attn/IR/AttnAttrs.h.inc"

#define GET_OP_CLASSES
#include "attnir/Dialect/Attn/IR/AttnOps.h.inc"

namespace mlir {
class DialectRegistry;
namespace attn {
/// Gives arith's float binary ops and linalg.broadcast the reference and
/// shape interfaces, so that programs may combine branches with them
/// (lib/Dialect/Attn/IR/UpstreamOps.cpp).
void registerUpstreamOpModels(DialectRegistry &registry);
/// A verified rule region (attn.attention's mask_rule or score_rule) as
/// the reference's data: one instruction per op, numbered in order.
::attnir::RefRule describeRule(Region &r);
/// Verifies a rule-like region `name` of `op` (empty: nothing to check):
/// one block of `leading` scalar arguments then one tensor per
/// `ruleOperands`, ops the reference interprets (attnir::isRuleOp), ending
/// in attn.yield of `results`.
LogicalResult verifyRule(Operation *op, ValueRange ruleOperands, Region &r,
                         StringRef name, ArrayRef<Type> leading,
                         ArrayRef<Type> results);
} // namespace attn
} // namespace mlir

#endif // ATTNIR_DIALECT_ATTN_IR_ATTNOPS_H
