//===- AttnOps.td - umbrella for all attn definitions --------*- tablegen -*-===//
//
// One include for the dialect; ops live in per-family files.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_IR_ATTNOPS_TD
#define ATTNIR_DIALECT_ATTN_IR_ATTNOPS_TD

include "attnir/Dialect/Attn/IR/AttnDialect.td"
include "attnir/Dialect/Attn/IR/AttnInterfaces.td"
include "attnir/Dialect/Attn/IR/AttnAttrs.td"
include "attnir/Dialect/Attn/IR/AttnCoreOps.td"
include "attnir/Dialect/Attn/IR/AttnTileOps.td"
include "attnir/Dialect/Attn/IR/AttnSelectOps.td"
include "attnir/Dialect/Attn/IR/AttnRecurrentOps.td"
include "attnir/Dialect/Attn/IR/AttnRouteOps.td"

#endif // ATTNIR_DIALECT_ATTN_IR_ATTNOPS_TD
