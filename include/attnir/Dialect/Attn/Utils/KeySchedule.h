//===- KeySchedule.h - which key blocks a query tile visits -----*- C++ -*-===//
//
// The one place that decides, for a query tile [i0, i1) of one (batch,
// head), how many key blocks it visits, which block at step t, whether that
// block needs the element rule, and whether the step contributes nothing
// (a duplicate or out-of-range entry of a block list, or a listed block the
// mask empties). The CPU tiling (attn-tile) and both CUDA kernels consume
// it as IR; none of them re-derives the key loop.
//
// Sources:
//  - the mask's block rule (or no mask): the visible blocks in ascending
//    order, the full ones without the element rule;
//  - a mask_rule region whose site classifies blocks (ruleBlock): the
//    blocks of the other sources, those the rule empties skipped, those it
//    fills whole without the element rule;
//  - a runtime block list (FlexAttention's kv_indices / kv_counts layout,
//    shared/patterns.md A1): the listed blocks in list order, each list
//    block expanded into the kernel's smaller key blocks, intersected with
//    the mask;
//  - later attn.select, which writes a block list.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_DIALECT_ATTN_UTILS_KEYSCHEDULE_H
#define ATTNIR_DIALECT_ATTN_UTILS_KEYSCHEDULE_H

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/Builders.h"
#include <functional>

namespace mlir::attn {

/// Where a query tile sits: its rows [i0, i1), its batch, query head and KV
/// head, and the sequence lengths (all `index` values).
struct QueryTile {
  Value i0, i1, b, h, hkv, n, m;
  /// The operands masks read (document ids); null `load` when none.
  MaskSiteValues site = {};
};

/// The site of batch `b` whose document ids are the [B, N] / [B, M] i32 or
/// i64 buffers `qDoc` and `kDoc`: `load` reads them at an index, an i64 or a
/// vector of i64 positions (clamped into the row, so lanes past the keys
/// read in bounds), as i64. Null buffers (an op without ids): a site with a
/// null `load`.
MaskSiteValues documentSite(Value b, Value h, Value n, Value m, Value qDoc,
                            Value kDoc);

/// A runtime block list as buffers: `indices` [B, Hl, NQB, K] and `counts`
/// [B, Hl, NQB] of i32 or i64, Hl = 1 (shared by all heads), Hq (per query
/// head) or Hkv (per KV head; `hq` and `hkvCount` tell which at run time).
/// List blocks are `blockQ` x `blockK`; the kernel's query tile must lie in
/// one list row (blockQ a multiple of the tile, tiles aligned) and its key
/// block must divide blockK.
struct BlockListOperands {
  Value indices, counts;
  Value hq, hkvCount;
  int64_t blockQ = 0, blockK = 0;
  /// A block map of attn.rule_blocks (`full_marked`): ascending in-range
  /// ids, the mask already applied, full blocks as ~id. Its steps are
  /// never skipped (but for kernel blocks past M inside the last list
  /// block) and a full entry runs without the element rule.
  bool marked = false;
};

/// The list row a query tile reads: its head (0, h or hkv by Hl), its row
/// (i0 / blockQ) and its count clamped into [0, K].
struct ListRow {
  Value head, row, count;
};
ListRow listRowOf(OpBuilder &b, Location loc, const BlockListOperands &list,
                  const QueryTile &tile);
/// The raw id at `slot` of list row `row` of batch `bi`, as an index.
Value loadListId(OpBuilder &b, Location loc, const BlockListOperands &list,
                 const ListRow &row, Value bi, Value slot);

/// The keys of a token-level list (block_k not a multiple of the kernel's
/// key block: block_k = 1 for DSA, SEA, Recycled Attention), gathered for
/// one query tile on the CPU: every listed block's keys in list order,
/// out-of-range ids and duplicates skipped (a duplicate counts once), keys
/// past M dropped. `kT` [1, 1, numBlocks, D, bk] and `v` [1, 1, numBlocks
/// bk, Dvpad] are f32 (the K^T / V packing of attn-tile, for these keys
/// only), `keys` [numBlocks bk] i64 their positions (M in padding slots,
/// whose V rows are zero). `lanes` (8 or 16, dividing bk) is the vector
/// width of the copies. With `inPlace` only `keys` is built (kT and v are
/// null): the tile reads K's and V's rows where they are, through the
/// positions (a tile of one or two query rows would copy each key for a
/// single use). The buffers are the caller's to free.
struct GatheredKeys {
  Value kT, v, keys, numBlocks;
};
GatheredKeys gatherListKeys(OpBuilder &b, Location loc,
                            const BlockListOperands &list,
                            const QueryTile &tile, Value k, Value v, int64_t d,
                            int64_t dv, int64_t dvPad, int64_t bk,
                            int64_t lanes, bool inPlace = false);

/// How the duplicate test of skipped() is shared among the lanes of a warp:
/// lane `lane` of `lanes` compares every lanes-th earlier entry, and
/// `anyLane` ORs an i1 across the lanes (all lanes must call it).
struct LaneSplit {
  Value lane;
  int64_t lanes = 1;
  std::function<Value(OpBuilder &, Location, Value)> anyLane;
};

/// i1: keys [j0, j1) meet the visible part of some range / lie inside the
/// full part of some range.
Value keysInSomeVisible(OpBuilder &b, Location loc,
                        ArrayRef<KeyRangeValues> ranges, Value j0, Value j1);
Value keysInSomeFull(OpBuilder &b, Location loc,
                     ArrayRef<KeyRangeValues> ranges, Value j0, Value j1);

class KeySchedule {
public:
  /// The visible key blocks of the mask's block rule (all blocks of [0, m)
  /// without a mask), `bk` keys per kernel block.
  static KeySchedule fromMask(OpBuilder &b, Location loc,
                              MaskAttrInterface mask, const QueryTile &tile,
                              int64_t bk);
  /// The blocks of a runtime block list, intersected with `mask` (may be
  /// null).
  static KeySchedule fromBlockList(OpBuilder &b, Location loc,
                                   const BlockListOperands &list,
                                   MaskAttrInterface mask,
                                   const QueryTile &tile, int64_t bk);

  /// Number of steps (index).
  Value count() const { return numSteps; }
  /// The kernel key block visited at step t (index, always a valid block
  /// of [0, ceil(m / bk)) when m > 0, so loads stay in bounds even on a
  /// skipped step).
  Value block(OpBuilder &b, Location loc, Value t) const;
  /// i1: step t needs the element rule (and the key tail j < m).
  Value masked(OpBuilder &b, Location loc, Value t) const;
  /// i1: step t contributes nothing and must not change the softmax state;
  /// null when no step is ever skipped (mask sources). With `split`, the
  /// duplicate test is spread over the lanes of a warp.
  Value skipped(OpBuilder &b, Location loc, Value t,
                const LaneSplit *split = nullptr) const;
  bool canSkip() const {
    if (list.indices && list.marked)
      return list.blockK > bk;
    return static_cast<bool>(list.indices) || spans.size() > 1 ||
           static_cast<bool>(tile.site.ruleBlock);
  }

private:
  int64_t bk = 0;
  Value numSteps;
  /// Mask source: one span per key range of the mask's block rule, visited
  /// one after the other; within a span the blocks [visB, visE) in
  /// ascending order, those outside the full ones [fullB, fullE) with the
  /// element rule. Ascending, so that masks that keep the same pairs give
  /// the same bits whatever blocks their rules prove full or empty (a block
  /// visited in vain adds exact zeros). A block that an earlier span visits
  /// is skipped.
  struct Span {
    Value start, count, visB, fullB, fullE, visE;
  };
  SmallVector<Span> spans;
  // Block-list source.
  BlockListOperands list;
  QueryTile tile;
  SmallVector<KeyRangeValues> ranges;
  Value listHead, listRow, ratio;

  /// The ranges' and the list's parts of masked() and skipped().
  Value maskedByRanges(OpBuilder &b, Location loc, Value t) const;
  Value skippedByList(OpBuilder &b, Location loc, Value t,
                      const LaneSplit *split) const;
  /// (can keep, must keep) of the site's rule on the block of step t, or
  /// nulls without one (MaskSiteValues::ruleBlock).
  std::pair<Value, Value> ruleOn(OpBuilder &b, Location loc, Value t) const;
  mutable struct {
    Value step;
    Block *block = nullptr;
    std::pair<Value, Value> result;
  } ruleMemo;

  /// Block at step `local` of span `s`, and whether it is partial.
  Value spanBlock(OpBuilder &b, Location loc, const Span &s, Value local) const;
  /// The value of `perSpan(s, t - s.start)` for the span holding step t.
  Value bySpan(OpBuilder &b, Location loc, Value t,
               function_ref<Value(const Span &, Value)> perSpan) const;
  /// (j0, j1) of the keys of a block visible to some range / inside the
  /// full part of some range.
  Value inSomeVisible(OpBuilder &b, Location loc, Value j0, Value j1) const;
  Value inSomeFull(OpBuilder &b, Location loc, Value j0, Value j1) const;

  /// The list entry at `slot`: the raw id (decoded from ~id in a marked
  /// list), the id clamped into [0, ceil(m / blockK)), whether it was out
  /// of range, and (marked lists) whether it is marked full.
  struct ListEntry {
    Value raw, clamped, bad, full;
  };
  ListEntry listEntry(OpBuilder &b, Location loc, Value slot) const;
  /// The kernel block of list step t, before block()'s clamp into range.
  Value listKernelBlock(OpBuilder &b, Location loc, Value t) const;
  Value loadIndex(OpBuilder &b, Location loc, Value slot) const;
};

} // namespace mlir::attn

#endif // ATTNIR_DIALECT_ATTN_UTILS_KEYSCHEDULE_H
