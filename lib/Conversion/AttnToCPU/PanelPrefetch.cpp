//===- PanelPrefetch.cpp - the next panel into L1 while this one is used --===//

#include "PanelPrefetch.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;

namespace mlir::attn::cpu {

void prefetchPanelStep(OpBuilder &b, Location l, const Panel &panel,
                       Value step, int64_t steps) {
  auto type = cast<MemRefType>(panel.buf.getType());
  int64_t rowElems = type.getShape().back();
  int64_t eltBytes = type.getElementTypeBitWidth() / 8;
  if (ShapedType::isDynamic(rowElems) || eltBytes == 0 || panel.rows <= 0)
    return;
  int64_t rowBytes = rowElems * eltBytes;
  int64_t linesPerRow = std::max<int64_t>(1, rowBytes / 64);
  int64_t elemsPerLine = std::max<int64_t>(1, 64 / eltBytes);
  int64_t lines = panel.rows * linesPerRow;
  int64_t shift = 0;
  while ((steps >> shift) > lines)
    ++shift;
  Value line = shift ? arith::ShRUIOp::create(b, l, step, cIdx(b, l, shift))
                           .getResult()
                     : step;
  Value row = arith::DivUIOp::create(b, l, line, cIdx(b, l, linesPerRow));
  Value col = arith::MulIOp::create(
      b, l,
      arith::RemUIOp::create(b, l, line, cIdx(b, l, linesPerRow)),
      cIdx(b, l, elemsPerLine));
  row = arith::MinUIOp::create(
      b, l, arith::AddIOp::create(b, l, panel.firstRow, row), panel.lastRow);
  SmallVector<Value> idx(panel.lead.begin(), panel.lead.end());
  idx.push_back(row);
  idx.push_back(col);
  memref::PrefetchOp::create(b, l, panel.buf, idx, /*isWrite=*/false,
                             /*localityHint=*/3, /*isDataCache=*/true);
}

} // namespace mlir::attn::cpu
