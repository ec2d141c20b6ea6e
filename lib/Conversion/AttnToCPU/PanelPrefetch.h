//===- PanelPrefetch.h - the next panel into L1 while this one is used -*- C++ -*-===//
//
// One key block's body reads its packed K^T panel in phase 1 and its V panel
// in phase 4, and the two panels with the scores, query tile and accumulator
// do not fit in L1 together. So each phase's multiply-add loop also issues
// one prefetch per step for the panel the next phase reads: phase 1 the V
// rows of this block, phase 4 the K^T panel of the next block. The steps
// of a phase outnumber the panel's cache lines, so a line comes every
// 2^shift steps (repeats of a line just hit L1).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_CONVERSION_ATTNTOCPU_PANELPREFETCH_H
#define ATTNIR_CONVERSION_ATTNTOCPU_PANELPREFETCH_H

#include "mlir/IR/Builders.h"

namespace mlir::attn::cpu {

/// A panel of `rows` rows of a memref, each row contiguous: rows
/// [firstRow, firstRow + rows) of the second-to-last dimension of `buf`,
/// the dimensions before it fixed by `lead`, the last one the row.
struct Panel {
  Value buf;
  SmallVector<Value> lead; ///< indices before the row dimension
  Value firstRow;
  int64_t rows = 0;
  Value lastRow; ///< clamp for the row index (the buffer's last row)
};

/// For a loop of `steps` steps per block (at most; the step index `step`
/// counts from 0), prefetches the line of `panel` that step `step` covers:
/// line step >> shift, shift the smallest with steps >> shift <= lines.
void prefetchPanelStep(OpBuilder &b, Location l, const Panel &panel,
                       Value step, int64_t steps);

} // namespace mlir::attn::cpu

#endif
