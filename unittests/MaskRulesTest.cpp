//===- MaskRulesTest.cpp - a mask's C++ and IR rules agree ----------------===//
//
// The reference uses a mask's C++ element rule, the lowering its IR rules.
// These tests check, for every tile of small shapes, that (1) the C++ block
// rule is exact-safe: no kept pair outside the visible range, no masked pair
// inside the full range; (2) the IR block rule, folded to constants, equals
// the C++ one; (3) the IR element rule, folded, equals the C++ one.
//
//===----------------------------------------------------------------------===//

#include "attnir/Dialect/Attn/IR/AttnOps.h"
#include "attnir/Driver/SpecLoader.h"
#include "attnir/Reference/MaskRules.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include <gtest/gtest.h>

using namespace mlir;

namespace {

/// Builds `build` in a fresh function, folds it, returns the constant ints.
template <typename Fn>
std::vector<int64_t> foldToConstants(MLIRContext *ctx, Fn build) {
  OpBuilder b(ctx);
  Location loc = b.getUnknownLoc();
  auto module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module.getBody());
  auto fn = func::FuncOp::create(b, loc, "f", b.getFunctionType({}, {}));
  b.setInsertionPointToEnd(fn.addEntryBlock());
  std::vector<Value> vals = build(b, loc);
  SmallVector<Type> types;
  for (Value v : vals)
    types.push_back(v.getType());
  func::ReturnOp::create(b, loc, ValueRange(vals));
  fn.setType(b.getFunctionType({}, types));
  RewritePatternSet patterns(ctx);
  for (auto *d : ctx->getLoadedDialects())
    d->getCanonicalizationPatterns(patterns);
  for (RegisteredOperationName op : ctx->getRegisteredOperations())
    op.getCanonicalizationPatterns(patterns, ctx);
  (void)applyPatternsGreedily(module, std::move(patterns));
  std::vector<int64_t> out;
  auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
  for (Value v : ret.getOperands()) {
    IntegerAttr attr;
    auto c = v.getDefiningOp<arith::ConstantOp>();
    EXPECT_TRUE(c) << "did not fold to a constant";
    if (c && (attr = dyn_cast<IntegerAttr>(c.getValue())))
      out.push_back(attr.getValue().getSExtValue());
    else if (c)
      out.push_back(cast<BoolAttr>(c.getValue()).getValue());
    else
      out.push_back(-999);
  }
  module->erase();
  return out;
}

std::string text(Attribute a) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << a;
  return s;
}

/// Every built-in mask, with parameters that exercise both band edges,
/// and combinations (parsed, as a user writes them).
std::vector<attn::MaskAttrInterface> allMasks(MLIRContext *ctx) {
  std::vector<attn::MaskAttrInterface> out;
  for (const char *text :
       {"#attn.causal", "#attn.window<3, 0>", "#attn.window<2, 5>",
        "#attn.window<0, 0>", "#attn.sink<0>", "#attn.sink<3>",
        "#attn.global<2>", "#attn.global<0>", "#attn.prefix<4>",
        "#attn.prefix<0>", "#attn.chunked<3>", "#attn.chunked<1>",
        "#attn.dilated<2, 2>", "#attn.dilated<3, 1>", "#attn.dilated<1, 2>",
        "#attn.compressed<4, 2>", "#attn.compressed<1, 1>",
        "#attn.compressed<3, 5>", "#attn.key_part<0, 2>",
        "#attn.key_part<1, 2>", "#attn.key_part<2, 3>",
        "#attn.balanced<1>", "#attn.balanced<3>", "#attn.balanced<8>",
        "#attn.all_of<[#attn.balanced<2>, #attn.causal]>",
        "#attn.all_of<[#attn.causal, #attn.any_of<[#attn.window<2, 0>, "
        "#attn.sink<2>]>]>",
        "#attn.all_of<[#attn.chunked<4>, #attn.causal]>",
        "#attn.any_of<[#attn.sink<2>, #attn.window<1, 1>]>",
        "#attn.not<#attn.window<1, 2>>", "#attn.not<#attn.causal>",
        "#attn.not<#attn.sink<3>>",
        "#attn.any_of<[#attn.global<1>, #attn.not<#attn.causal>]>"})
    out.push_back(cast<attn::MaskAttrInterface>(parseAttribute(text, ctx)));
  return out;
}

TEST(MaskRules, BlockRulesAreSafeAndMatchIR) {
  auto ctx = attnir::createContext();
  for (attn::MaskAttrInterface mask : allMasks(ctx.get()))
  for (int64_t n : {1, 5, 16}) {
    for (int64_t m : {1, 7, 16}) {
      for (int64_t i0 = 0; i0 < n; i0 += 3) {
        int64_t i1 = std::min(n, i0 + 4);
        attn::KeyRange r = mask.keyRange(i0, i1, n, m);
        SmallVector<attn::KeyRange> rs = mask.keyRanges(i0, i1, n, m);
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = 0; j < m; ++j) {
            bool keep = mask.keep(i, j, n, m);
            if (keep) {
              EXPECT_GE(j, r.visibleBegin) << text(mask);
              EXPECT_LT(j, r.visibleEnd) << text(mask);
              EXPECT_TRUE(llvm::any_of(rs, [&](const attn::KeyRange &x) {
                return j >= x.visibleBegin && j < x.visibleEnd;
              })) << text(mask) << " " << i << "," << j;
            }
            if (j >= r.fullBegin && j < r.fullEnd)
              EXPECT_TRUE(keep) << text(mask) << " " << i << "," << j;
            for (const attn::KeyRange &x : rs)
              if (j >= x.fullBegin && j < x.fullEnd)
                EXPECT_TRUE(keep) << text(mask) << " " << i << "," << j;
          }
        auto irs = foldToConstants(ctx.get(), [&](OpBuilder &b, Location l) {
          auto c = [&](int64_t x) -> Value {
            return arith::ConstantIndexOp::create(b, l, x);
          };
          std::vector<Value> out;
          for (attn::KeyRangeValues v :
               mask.buildKeyRanges(b, l, c(i0), c(i1), c(n), c(m)))
            out.insert(out.end(), {v.visibleBegin, v.visibleEnd, v.fullBegin,
                                   v.fullEnd});
          return out;
        });
        std::vector<int64_t> want;
        for (const attn::KeyRange &x : rs)
          want.insert(want.end(),
                      {x.visibleBegin, x.visibleEnd, x.fullBegin, x.fullEnd});
        EXPECT_EQ(irs, want) << text(mask) << " n=" << n << " m=" << m
                             << " i0=" << i0;
        auto ir = foldToConstants(ctx.get(), [&](OpBuilder &b, Location l) {
          auto c = [&](int64_t x) -> Value {
            return arith::ConstantIndexOp::create(b, l, x);
          };
          attn::KeyRangeValues v =
              mask.buildKeyRange(b, l, c(i0), c(i1), c(n), c(m));
          return std::vector<Value>{v.visibleBegin, v.visibleEnd,
                                    v.fullBegin, v.fullEnd};
        });
        EXPECT_EQ(ir, (std::vector<int64_t>{r.visibleBegin, r.visibleEnd,
                                            r.fullBegin, r.fullEnd}))
            << text(mask) << " n=" << n << " m=" << m << " i0=" << i0;
      }
    }
  }
}

TEST(MaskRules, BlockClassificationIsExact) {
  // The built-in block rules are exact: a tile is empty iff no pair is kept
  // and full iff every pair is kept (checked against the element rule).
  // Two known, safe exceptions: a dilated mask (s > 1) calls no tile full
  // (only a tile of one pair could be), and any_of cannot see a tile that
  // two children's partial ranges cover together.
  auto ctx = attnir::createContext();
  for (attn::MaskAttrInterface mask : allMasks(ctx.get()))
  if (!StringRef(text(mask)).starts_with("#attn.dilated<2") &&
      !StringRef(text(mask)).starts_with("#attn.dilated<3") &&
      !StringRef(text(mask)).contains("global<1>, #attn.not"))
  for (int64_t n : {1, 7, 20})
    for (int64_t m : {1, 9, 20})
      for (int64_t i0 = 0; i0 < n; i0 += 3)
        for (int64_t j0 = 0; j0 < m; j0 += 4) {
          int64_t i1 = std::min(n, i0 + 3), j1 = std::min(m, j0 + 4);
          int64_t kept = 0, total = 0;
          for (int64_t i = i0; i < i1; ++i)
            for (int64_t j = j0; j < j1; ++j, ++total)
              kept += mask.keep(i, j, n, m);
          attn::BlockKind want = kept == 0       ? attn::BlockKind::Empty
                                 : kept == total ? attn::BlockKind::Full
                                                 : attn::BlockKind::Partial;
          EXPECT_EQ(mask.classifyBlock(i0, i1, j0, j1, n, m), want)
              << text(mask) << " n=" << n << " m=" << m << " tile " << i0
              << "," << j0;
        }
}

TEST(MaskRules, ElementRulesMatchIR) {
  auto ctx = attnir::createContext();
  for (attn::MaskAttrInterface mask : allMasks(ctx.get()))
  for (auto nm : {std::pair<int64_t, int64_t>{4, 4}, {3, 8}, {8, 3}}) {
    int64_t n = nm.first, m = nm.second;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) {
        auto got = foldToConstants(ctx.get(), [&](OpBuilder &b, Location l) {
          auto c = [&](int64_t x) -> Value {
            return arith::ConstantIntOp::create(b, l, b.getI64Type(), x);
          };
          return std::vector<Value>{
              mask.buildKeep(b, l, c(i), c(j), c(n), c(m))};
        });
        ASSERT_EQ(got.size(), 1u);
        EXPECT_EQ(got[0] != 0, mask.keep(i, j, n, m))
            << text(mask) << " " << i << "," << j << " n=" << n << " m=" << m;
      }
  }
}

// The reference's rule, built from the mask's description after a trip
// through the program text (as from a bundle), is the attribute's rule.
TEST(MaskRules, ReferenceRuleFromDescriptionMatchesAttribute) {
  auto ctx = attnir::createContext();
  for (attn::MaskAttrInterface mask : allMasks(ctx.get())) {
    attnir::RefMask parsed;
    std::string err;
    ASSERT_TRUE(attnir::parseMask(attnir::printMask(mask.describe()), parsed,
                                  err))
        << err;
    EXPECT_EQ(parsed, mask.describe()) << text(mask);
    attnir::ElementRule rule;
    ASSERT_TRUE(attnir::makeElementRule(parsed, rule, err)) << err;
    for (auto nm : {std::pair<int64_t, int64_t>{4, 4}, {3, 8}, {8, 3}}) {
      attnir::RuleSite site{0, 0, nm.first, nm.second, nullptr};
      for (int64_t i = 0; i < nm.first; ++i)
        for (int64_t j = 0; j < nm.second; ++j)
          EXPECT_EQ(rule(site, i, j), mask.keep(i, j, nm.first, nm.second))
              << text(mask) << " " << i << "," << j;
    }
  }
  // A mask that reads operands, at a site that has them.
  auto seg = cast<attn::MaskAttrInterface>(parseAttribute(
      "#attn.all_of<[#attn.causal, #attn.segments]>", ctx.get()));
  attnir::ElementRule rule;
  std::string err;
  ASSERT_TRUE(attnir::makeElementRule(seg.describe(), rule, err)) << err;
  std::vector<int64_t> docs = {0, 0, 1, 1, 1, 2};
  attnir::RuleSite site{0, 0, 6, 6, [&](std::string_view, int64_t p) {
                          return docs[p];
                        }};
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < 6; ++j)
      EXPECT_EQ(rule(site, i, j), seg.keepAt(site, i, j)) << i << "," << j;
}

} // namespace
