//===- AttnDialect.h - the attn dialect -----------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_IR_ATTNDIALECT_H
#define ATTNIR_DIALECT_ATTN_IR_ATTNDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dialect.h"

#include "attnir/Dialect/Attn/IR/AttnDialect.h.inc"

#endif // ATTNIR_DIALECT_ATTN_IR_ATTNDIALECT_H
