//===- GatherKeys.cpp - the keys of a token-level list, gathered ----------===//
//
// A block list whose key blocks are smaller than the kernel's (block_k = 1:
// DSA's top-2048 keys per query, SEA, Recycled Attention) cannot be visited
// block by block: the CPU body wants whole packed blocks of 16 lanes. So
// each query tile gathers the keys its list row names into packed buffers
// of its own (K^T block-major and V, in f32, as attn-tile packs the whole
// sequence) and runs the usual key loop over them; the element rule reads
// the gathered positions. Gathering costs O(listed keys x D), the same
// order as attending to them.
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/KeySchedule.h"
#include "attnir/Dialect/Attn/Utils/PanelPack.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The packed buffers of one tile. The list walk fills `keys` and V's rows
/// slot by slot (vector copies); K^T is packed afterwards block by block
/// from `keys`, as attn-tile packs the whole sequence: lanes x lanes squares
/// transposed in registers (a store per element into K^T's block-major
/// layout became AVX-512 scatters).
struct Packed {
  Value kT, v, keys; // kT and v null: positions only (keys in place)
  int64_t d, dv, dvPad, bk, lanes;

  /// Slot `s` holds position `j` of (b, hkv): the position and its V row.
  /// A padding slot holds M: it fails j < M, so it is masked, its K column
  /// packs as zeros and its V row is zero (the softmax weight of a masked
  /// key is 0, and 0 x NaN from an uninitialised V row would still be NaN).
  void store(OpBuilder &b, Location loc, Value s, Value j, Value vIn, Value bi,
             Value hkv, Value M) const {
    Value c0 = cIdx(b, loc, 0);
    if (v)
      packValueRow(b, loc, vIn, ValueRange{bi, hkv}, keyRowOf(b, loc, j, M), v,
                   ValueRange{c0, c0, s}, dv, dvPad, lanes);
    memref::StoreOp::create(
        b, loc, arith::IndexCastOp::create(b, loc, b.getI64Type(), j), keys,
        ValueRange{s});
  }

  /// K^T of the first numBlocks blocks of slots, from the positions in
  /// `keys` (M in padding slots: zeros).
  void packKeys(OpBuilder &b, Location loc, Value k, Value bi, Value hkv,
                Value M, Value numBlocks) const {
    Value c0 = cIdx(b, loc, 0);
    forEach(b, loc, c0, numBlocks, [&](OpBuilder &bb, Location bl, Value blk) {
      Value base = arith::MulIOp::create(bb, bl, blk, cIdx(bb, bl, bk));
      scf::ForOp::create(
          bb, bl, c0, cIdx(bb, bl, bk), cIdx(bb, bl, lanes), ValueRange{},
          [&](OpBuilder &fb, Location fl, Value jj0, ValueRange) {
            SmallVector<KeyRow> rows;
            for (int64_t t = 0; t < lanes; ++t) {
              Value s = arith::AddIOp::create(fb, fl, base, plusIdx(fb, fl, jj0, t));
              Value j = arith::IndexCastOp::create(
                  fb, fl, fb.getIndexType(),
                  memref::LoadOp::create(fb, fl, keys, ValueRange{s}));
              rows.push_back(keyRowOf(fb, fl, j, M));
            }
            packKeySquare(fb, fl, k, ValueRange{bi, hkv}, rows, kT,
                          ValueRange{c0, c0, blk}, jj0, d);
            scf::YieldOp::create(fb, fl);
          });
    });
  }
};

} // namespace

/// Whether list entry t (block `id`) is gathered: in range and not a
/// repeat. `largest` is the largest id taken so far (-1 at first): an id
/// above it cannot repeat one, so sorted lists (everything attn.select
/// writes) never scan back; others scan their earlier entries.
static Value
takesListEntry(OpBuilder &b, Location loc,
               function_ref<Value(OpBuilder &, Location, Value)> idAt, Value t,
               Value id, Value largest, Value numListBlocks) {
  Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
  // Unsigned: a negative id is huge, so out of range too (the runtime
  // reports it before the call; the kernel only must not read it).
  Value bad = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, id,
                                    numListBlocks);
  Value fresh =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, id, largest);
  auto seenBefore = [&](OpBuilder &sb, Location sl) {
    auto scan = scf::ForOp::create(
        sb, sl, c0, t, c1,
        ValueRange{arith::ConstantIntOp::create(sb, sl, 0, 1)},
        [&](OpBuilder &fb, Location fl, Value u, ValueRange any) {
          Value same = arith::CmpIOp::create(fb, fl, arith::CmpIPredicate::eq,
                                             idAt(fb, fl, u), id);
          scf::YieldOp::create(
              fb, fl, ValueRange{arith::OrIOp::create(fb, fl, any[0], same)});
        });
    scf::YieldOp::create(sb, sl, scan.getResults());
  };
  auto dupIf = scf::IfOp::create(
      b, loc, arith::OrIOp::create(b, loc, bad, fresh),
      [&](OpBuilder &tb, Location tl) {
        scf::YieldOp::create(
            tb, tl, ValueRange{arith::ConstantIntOp::create(tb, tl, 0, 1)});
      },
      seenBefore);
  return arith::AndIOp::create(
      b, loc,
      arith::XOrIOp::create(b, loc, bad,
                            arith::ConstantIntOp::create(b, loc, 1, 1)),
      arith::XOrIOp::create(b, loc, dupIf.getResult(0),
                            arith::ConstantIntOp::create(b, loc, 1, 1)));
}

GatheredKeys mlir::attn::gatherListKeys(OpBuilder &b, Location loc,
                                        const BlockListOperands &list,
                                        const QueryTile &tile, Value k, Value v,
                                        int64_t d, int64_t dv, int64_t dvPad,
                                        int64_t bk, int64_t lanes,
                                        bool inPlace) {
  ListRow row = listRowOf(b, loc, list, tile);
  Value c0 = cIdx(b, loc, 0), c1 = cIdx(b, loc, 1);
  Value cBK = cIdx(b, loc, bk), cLK = cIdx(b, loc, list.blockK);
  // Room for every listed key, in whole kernel blocks (at least one, so no
  // allocation is empty).
  Value cap = arith::MaxUIOp::create(
      b, loc,
      arith::CeilDivUIOp::create(
          b, loc, arith::MulIOp::create(b, loc, row.count, cLK), cBK),
      c1);
  Value slots = arith::MulIOp::create(b, loc, cap, cBK);
  Type f32 = b.getF32Type();
  int64_t dyn = ShapedType::kDynamic;
  Packed p{Value(), Value(),
           memref::AllocOp::create(b, loc, MemRefType::get({dyn}, b.getI64Type()),
                                   ValueRange{slots}),
           d, dv, dvPad, bk, lanes};
  if (!inPlace) {
    p.kT = memref::AllocOp::create(
        b, loc, MemRefType::get({1, 1, dyn, d, bk}, f32), ValueRange{cap});
    p.v = memref::AllocOp::create(
        b, loc, MemRefType::get({1, 1, dyn, dvPad}, f32), ValueRange{slots});
  }

  Value numListBlocks = arith::CeilDivUIOp::create(b, loc, tile.m, cLK);
  auto idAt = [&](OpBuilder &ob, Location l, Value t) {
    return loadListId(ob, l, list, row, tile.b, t);
  };
  // State: (next slot, the largest valid id so far, -1 at first).
  auto loop = scf::ForOp::create(
      b, loc, c0, row.count, c1, ValueRange{c0, cIdx(b, loc, -1)},
      [&](OpBuilder &lb, Location l, Value t, ValueRange st) {
        Value id = idAt(lb, l, t);
        Value take = takesListEntry(lb, l, idAt, t, id, st[1], numListBlocks);
        auto copy = scf::IfOp::create(
            lb, l, take,
            [&](OpBuilder &tb, Location tl) {
              // The block's keys [id blockK, min(M, (id + 1) blockK)).
              Value j0 = arith::MulIOp::create(tb, tl, id, cLK);
              Value j1 = arith::MinUIOp::create(
                  tb, tl, tile.m, arith::AddIOp::create(tb, tl, j0, cLK));
              forEach(tb, tl, j0, j1, [&](OpBuilder &fb, Location fl, Value j) {
                Value s = arith::AddIOp::create(
                    fb, fl, st[0], arith::SubIOp::create(fb, fl, j, j0));
                p.store(fb, fl, s, j, v, tile.b, tile.hkv, tile.m);
              });
              Value next = arith::AddIOp::create(
                  tb, tl, st[0], arith::SubIOp::create(tb, tl, j1, j0));
              scf::YieldOp::create(
                  tb, tl, ValueRange{next, arith::MaxSIOp::create(tb, tl, st[1], id)});
            },
            [&](OpBuilder &eb, Location el) { scf::YieldOp::create(eb, el, st); });
        scf::YieldOp::create(lb, l, copy.getResults());
      });
  Value used = loop.getResult(0);
  Value numBlocks = arith::CeilDivUIOp::create(b, loc, used, cBK);
  forEach(b, loc, used, arith::MulIOp::create(b, loc, numBlocks, cBK),
           [&](OpBuilder &fb, Location l, Value s) {
             p.store(fb, l, s, tile.m, v, tile.b, tile.hkv, tile.m);
           });
  if (!inPlace)
    p.packKeys(b, loc, k, tile.b, tile.hkv, tile.m, numBlocks);
  return {p.kT, p.v, p.keys, numBlocks};
}
