//===- ScanKernel.cpp - attn.scan as one CUDA kernel ----------------------===//
//
// A block per (b, h) row, a thread per (feature f, piece c): the row's N
// tokens are cut into T contiguous pieces, T = the threads left after one
// per feature (up to 256 pieces). Each thread folds its piece into a total
// in shared memory; after a barrier it combines the totals of the pieces
// before its own into its carry and folds its piece again from there,
// writing every prefix (2N combines, a chunked scan like the CPU's; the
// carries take T^2 / 2 combines of totals, small beside N). Loads of a
// token's features are coalesced across the threads of a piece.
//
//===----------------------------------------------------------------------===//

#include "SelectionKernels.h"
#include "attnir/Dialect/Attn/Utils/BuildHelpers.h"
#include "attnir/Dialect/Attn/Utils/ScanBuilders.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

using namespace mlir;
using namespace mlir::attn;

namespace {
/// Most state components a CUDA scan keeps (its totals in 48 KiB of
/// shared memory at 1024 threads: 4 bytes x 1024 x S).
constexpr unsigned kMaxState = 8;

/// One thread's piece [t0, t1) of feature f of row (bi, h), and the
/// pieces' totals in shared memory ([piece][state][feature]).
struct ScanPiece {
  ScanSite &s;
  Value totals;
  int64_t F;
  unsigned S;
  Value bi, h, f, piece, t0, t1, t0n, nonEmpty;

  ScanPiece(ScanSite &s, Value totals, int64_t F, unsigned S)
      : s(s), totals(totals), F(F), S(S) {}

  Value slot(OpBuilder &x, Location l, Value p, unsigned k) const {
    Value row = arith::AddIOp::create(x, l, arith::MulIOp::create(x, l, p, cIdx(x, l, S)),
                                      cIdx(x, l, k));
    return arith::AddIOp::create(x, l, arith::MulIOp::create(x, l, row, cIdx(x, l, F)), f)
        .getResult();
  }

  SmallVector<Value> loadTotal(OpBuilder &x, Location l, Value p) const {
    SmallVector<Value> out;
    for (unsigned k = 0; k < S; ++k)
      out.push_back(memref::LoadOp::create(x, l, totals, slot(x, l, p, k)));
    return out;
  }

  /// 1. The piece's total (a piece past N has none; every piece before a
  /// non-empty one is full), then a barrier.
  void storeTotal(ImplicitLocOpBuilder &b) {
    scf::IfOp::create(b, nonEmpty, [&](OpBuilder &x, Location l) {
      SmallVector<Value> acc = s.fold(x, l, bi, h, t0n, t1, f, s.leaf(x, l, bi, h, t0, f));
      for (unsigned k = 0; k < S; ++k)
        memref::StoreOp::create(x, l, acc[k], totals, slot(x, l, piece, k));
      scf::YieldOp::create(x, l);
    });
    gpu::BarrierOp::create(b);
  }

  /// The state before the piece's first token combined with it: the
  /// totals of the pieces before this one (none in a segmented scan).
  SmallVector<Value> carriedFirst(OpBuilder &x, Location l) {
    SmallVector<Value> first = s.leaf(x, l, bi, h, t0, f);
    Value hasCarry =
        s.segment ? arith::ConstantIntOp::create(x, l, x.getI1Type(), 0).getResult()
                  : arith::CmpIOp::create(x, l, arith::CmpIPredicate::ugt, piece, cIdx(x, l, 0))
                        .getResult();
    SmallVector<Type> types(S, x.getF32Type());
    auto start = scf::IfOp::create(x, l, types, hasCarry, /*withElseRegion=*/true);
    OpBuilder tb = start.getThenBodyBuilder();
    auto carry = scf::ForOp::create(
        tb, l, cIdx(tb, l, 1), piece, cIdx(tb, l, 1), loadTotal(tb, l, cIdx(tb, l, 0)),
        [&](OpBuilder &fb, Location fl, Value p, ValueRange cur) {
          scf::YieldOp::create(fb, fl, s.combine(fb, fl, cur, loadTotal(fb, fl, p)));
        });
    scf::YieldOp::create(tb, l, s.combine(tb, l, carry.getResults(), first));
    OpBuilder eb = start.getElseBodyBuilder();
    scf::YieldOp::create(eb, l, first);
    return start.getResults();
  }

  /// 2. The carry, then the piece again, writing every prefix.
  void scanPiece(ImplicitLocOpBuilder &b) {
    scf::IfOp::create(b, nonEmpty, [&](OpBuilder &x, Location l) {
      SmallVector<Value> from = carriedFirst(x, l);
      s.write(x, l, from, bi, h, t0, f);
      s.scanWriting(x, l, bi, h, t0n, t1, f, from);
      scf::YieldOp::create(x, l);
    });
  }
};
} // namespace

LogicalResult mlir::attn::cuda::buildScanKernel(OpBuilder &gb, func::FuncOp fn,
                                                ScanOp op, StringRef name) {
  Location loc = op.getLoc();
  int64_t F = op.getNumFeatures();
  unsigned S = op.getNumState();
  if (F > 1024 || S > kMaxState)
    return op.emitError() << "attn.scan on CUDA takes at most 1024 features "
                             "and "
                          << kMaxState << " state components, got " << F
                          << " and " << S;
  int64_t T = std::clamp<int64_t>(1024 / F, 1, 256), threads = T * F;
  SmallVector<Value> values(op->getOperands());
  llvm::append_range(values, op->getResults());
  unsigned numIn = op->getNumOperands();
  std::string totalsName = (name + "_totals").str();
  auto totalsType = MemRefType::get(
      {T * S * F}, gb.getF32Type(), MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(gb.getContext(), gpu::AddressSpace::Workgroup));
  memref::GlobalOp::create(gb, loc, totalsName, gb.getStringAttr("private"),
                           totalsType, Attribute(), /*constant=*/false,
                           gb.getI64IntegerAttr(16));
  gpu::GPUFuncOp kfn =
      createStepKernel(gb, fn, values, name, numIn, 2, threads, threads);
  OpBuilder ob(gb.getContext());
  ob.setInsertionPointToStart(&kfn.getBody().front());
  ImplicitLocOpBuilder b(loc, ob);
  auto c = [&](int64_t v) { return cIdx(b, loc, v); };
  Value totals = memref::GetGlobalOp::create(b, totalsType, totalsName);
  Value lane;
  SmallVector<Value> at =
      enterStepItem(b, kfn.getArgument(numIn), 2, threads, threads, lane);
  SmallVector<Value> xs, ys;
  for (unsigned n = 0; n < numIn; ++n)
    xs.push_back(kfn.getArgument(n));
  for (unsigned r = 0; r < op->getNumResults(); ++r)
    ys.push_back(kfn.getArgument(numIn + r));
  ScanSite s(op, /*w=*/0, xs, ys);
  ScanPiece pc(s, totals, F, S);
  pc.bi = at[0], pc.h = at[1];
  pc.f = arith::RemUIOp::create(b, lane, c(F));
  pc.piece = arith::DivUIOp::create(b, lane, c(F));
  Value N = memref::DimOp::create(b, xs[0], 2);
  Value L = arith::CeilDivUIOp::create(b, N, c(T));
  // A segmented scan's pieces are whole segments: no carries.
  if (s.segment)
    L = arith::MulIOp::create(
        b, arith::CeilDivUIOp::create(b, L, c(s.segment)), c(s.segment));
  pc.t0 = arith::MinUIOp::create(b, arith::MulIOp::create(b, pc.piece, L), N);
  pc.t1 = arith::MinUIOp::create(b, arith::AddIOp::create(b, pc.t0, L), N);
  pc.t0n = arith::AddIOp::create(b, pc.t0, c(1));
  pc.nonEmpty = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, pc.t0, pc.t1);
  if (!s.segment) // a segmented scan's pieces need no carries
    pc.storeTotal(b);
  pc.scanPiece(b);
  b.setInsertionPointToEnd(&kfn.getBody().front());
  gpu::ReturnOp::create(b);
  return success();
}
