//===- AttnInterfaces.cpp - generated interface definitions ---------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"

#include "attnir/Dialect/Attn/IR/AttnInterfaces.cpp.inc"
#include "attnir/Dialect/Attn/IR/AttnOpInterfaces.cpp.inc"
