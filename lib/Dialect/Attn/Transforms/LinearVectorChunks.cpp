//===- LinearVectorChunks.cpp - attn.linear's chunks on f32 vectors -------===//
//
// The chunked form of AttnLowerLinear.cpp with its products on whole
// vectors of W lanes. Per chunk [c0, c0 + L) of one (b, h) task:
//
//   pack   Qp[i, :] = phi(q_t), KT[:, i] = phi(k_t) (transposed: a score
//          row is then a broadcast-FMA over key lanes), Vp[i, :] = v_t,
//          gam[i] = gamma_t, P[i] = gamma_c0 ... gamma_t       (all f32)
//   token  acc = P[i] sum_d Qp[i, d] S[d, :]                     (state)
//          A   = sum_d Qp[i, d] KT[d, :]                 (the score row)
//          acc += sum_{s <= i} G(s, i) A[s] Vp[s, :]            (chunk)
//   state  S[d, :] = P[L-1] S[d, :] + sum_s G(s, L-1) KT[d, s] Vp[s, :]
//
// with G(s, i) = gam[s+1] ... gam[i] accumulated from s = i backwards, as
// in the scalar form (no division: exact for any decay in [0, 1]). acc
// and the score row stay in registers (Dv / W and C / W vectors); z and
// the normaliser only when the op normalises.
//
//===----------------------------------------------------------------------===//

#include "LinearTask.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The static sizes and scratch buffers of one task's vector walk.
struct VectorChunk {
  int64_t W, C, D, Dv, NV, NC; // lanes, chunk, dims, vectors per v / score row
  int64_t RA, RO, RS;          // rows per register tile: scores, outputs, state
  VectorType vt;
  Value Qp, KT, Vp, gam, P, A, den, wEnd; // f32 scratch; A is [C, C]
};

/// The sizes every vector walk of `k` shares: lanes, head dims, vectors
/// per value row.
VectorChunk vectorShape(OpBuilder &b, const LinearTask &k, int64_t lanes) {
  VectorChunk c;
  c.W = lanes;
  c.D = cast<MemRefType>(k.q.getType()).getDimSize(3);
  c.Dv = cast<MemRefType>(k.v.getType()).getDimSize(3);
  c.NV = c.Dv / c.W;
  c.vt = VectorType::get({c.W}, b.getF32Type());
  return c;
}

Value vload(OpBuilder &b, Location l, const VectorChunk &c, Value buf,
            ValueRange at) {
  return vector::LoadOp::create(b, l, c.vt, buf, at);
}
Value splat(OpBuilder &b, Location l, const VectorChunk &c, Value x) {
  return vector::BroadcastOp::create(b, l, c.vt, x);
}
Value fma(OpBuilder &b, Location l, Value x, Value y, Value acc) {
  return vector::FMAOp::create(b, l, x, y, acc);
}
Value load(OpBuilder &b, Location l, Value buf, ValueRange at) {
  return memref::LoadOp::create(b, l, buf, at);
}
void store(OpBuilder &b, Location l, Value x, Value buf, ValueRange at) {
  memref::StoreOp::create(b, l, x, buf, at);
}

/// A loop over [lo, hi) carrying `init`; `body` returns the next values.
SmallVector<Value>
carry(OpBuilder &b, Location l, Value lo, Value hi, ValueRange init,
      function_ref<SmallVector<Value>(OpBuilder &, Location, Value, ValueRange)>
          body) {
  auto loop = scf::ForOp::create(
      b, l, lo, hi, cIdx(b, l, 1), init,
      [&](OpBuilder &fb, Location fl, Value i, ValueRange st) {
        scf::YieldOp::create(fb, fl, body(fb, fl, i, st));
      });
  return SmallVector<Value>(loop.getResults());
}

/// Packs the chunk [c0, c0 + L): features, values, gates and P.
void pack(OpBuilder &b, Location l, const LinearTask &k, const VectorChunk &c,
          Value c0, Value L) {
  Value z = cIdx(b, l, 0);
  forEach(b, l, z, L, [&](OpBuilder &ib, Location il, Value i) {
    Value t = arith::AddIOp::create(ib, il, c0, i);
    store(ib, il, k.gamma(ib, il, t), c.gam, {i});
    forEach(ib, il, z, k.d, [&](OpBuilder &eb, Location el, Value e) {
      store(eb, el, k.feature(eb, el, true, t, e), c.Qp, {i, e});
      store(eb, el, k.feature(eb, el, false, t, e), c.KT, {e, i});
    });
    forEach(ib, il, z, k.dv, [&](OpBuilder &eb, Location el, Value e) {
      store(eb, el, toF32(eb, el, load(eb, el, k.v, {k.b, k.h, t, e})), c.Vp,
            {i, e});
    });
  });
  carry(b, l, z, L, ValueRange{cF32(b, l, 1.0)},
        [&](OpBuilder &ib, Location il, Value i, ValueRange p) {
          Value pi = arith::MulFOp::create(ib, il, p[0], load(ib, il, c.gam, {i}));
          store(ib, il, pi, c.P, {i});
          return SmallVector<Value>{pi};
        });
}

/// acc[r][v] = init[r][v] + sum_{x in [lo, hi)} a(r, x) * bv(x, v) for R
/// rows of NVEC vectors, all in registers: per x, NVEC vector loads serve
/// R x NVEC FMAs.
using ScalarAt = function_ref<Value(OpBuilder &, Location, int64_t, Value)>;
using VectorAt = function_ref<Value(OpBuilder &, Location, Value, int64_t)>;
SmallVector<Value> tileProduct(OpBuilder &b, Location l, const VectorChunk &c,
                               int64_t R, int64_t NVEC, ArrayRef<Value> init,
                               Value lo, Value hi, ScalarAt a, VectorAt bv) {
  return carry(b, l, lo, hi, init,
               [&](OpBuilder &xb, Location xl, Value x, ValueRange acc) {
                 SmallVector<Value> cols, next(acc);
                 for (int64_t v = 0; v < NVEC; ++v)
                   cols.push_back(bv(xb, xl, x, v));
                 for (int64_t r = 0; r < R; ++r) {
                   Value ar = splat(xb, xl, c, a(xb, xl, r, x));
                   for (int64_t v = 0; v < NVEC; ++v)
                     next[r * NVEC + v] = fma(xb, xl, ar, cols[v], acc[r * NVEC + v]);
                 }
                 return next;
               });
}

Value lane(OpBuilder &b, Location l, const VectorChunk &c, int64_t v) {
  return cIdx(b, l, v * c.W);
}

/// out[t] = scale acc [/ den] (0 where den is 0) and lse = log den: acc is
/// the row's Dv / W vectors, den its normaliser (null unless the op
/// normalises or returns lse).
void storeOutput(OpBuilder &b, Location l, const LinearTask &k,
                 const VectorChunk &c, Value t, ArrayRef<Value> acc,
                 Value den) {
  Value factor = cF32(b, l, k.scale);
  if (k.normalize)
    factor = divOrZero(b, l, factor, den);
  if (k.lse)
    store(b, l, math::LogOp::create(b, l, den), k.lse, {k.b, k.h, t});
  Type elt = cast<MemRefType>(k.out.getType()).getElementType();
  Value bf = splat(b, l, c, factor);
  for (int64_t v = 0; v < c.NV; ++v) {
    Value o = arith::MulFOp::create(b, l, acc[v], bf);
    if (elt != c.vt.getElementType())
      o = arith::TruncFOp::create(b, l, VectorType::get({c.W}, elt), o);
    vector::StoreOp::create(b, l, o, k.out, ValueRange{k.b, k.h, t, lane(b, l, c, v)});
  }
}

/// A[i, :] = Qp[i, :] KT for every row i of the chunk, R rows at a time.
void buildScores(OpBuilder &b, Location l, const VectorChunk &c) {
  Value zeros = splat(b, l, c, cF32(b, l, 0.0));
  scf::ForOp::create(
      b, l, cIdx(b, l, 0), cIdx(b, l, c.C), cIdx(b, l, c.RA), ValueRange{},
      [&](OpBuilder &ib, Location il, Value i0, ValueRange) {
        SmallVector<Value> acc = tileProduct(
            ib, il, c, c.RA, c.NC, SmallVector<Value>(c.RA * c.NC, zeros),
            cIdx(ib, il, 0), cIdx(ib, il, c.D),
            [&](OpBuilder &ob, Location ol, int64_t r, Value d) {
              return load(ob, ol, c.Qp, {plusIdx(ob, ol, i0, r), d});
            },
            [&](OpBuilder &ob, Location ol, Value d, int64_t v) {
              return vload(ob, ol, c, c.KT, {d, lane(ob, ol, c, v)});
            });
        for (int64_t r = 0; r < c.RA; ++r)
          for (int64_t v = 0; v < c.NC; ++v)
            vector::StoreOp::create(ib, il, acc[r * c.NC + v], c.A,
                                    ValueRange{plusIdx(ib, il, i0, r),
                                               lane(ib, il, c, v)});
        scf::YieldOp::create(ib, il);
      });
}

/// A[i, s] = G(s, i) A[i, s] for s <= i (G accumulated from s = i
/// backwards), 0 past i; den[i] = the row's sum when the op needs it.
void buildWeights(OpBuilder &b, Location l, const LinearTask &k,
                  const VectorChunk &c, Value L) {
  Value z = cIdx(b, l, 0), c1 = cIdx(b, l, 1);
  forEach(b, l, z, L, [&](OpBuilder &ib, Location il, Value i) {
    SmallVector<Value> st = carry(
        ib, il, z, arith::AddIOp::create(ib, il, i, c1),
        ValueRange{cF32(ib, il, 1.0), cF32(ib, il, 0.0)},
        [&](OpBuilder &sb, Location sl, Value r, ValueRange g) {
          Value s = arith::SubIOp::create(sb, sl, i, r);
          Value w = arith::MulFOp::create(sb, sl, g[0], load(sb, sl, c.A, {i, s}));
          store(sb, sl, w, c.A, {i, s});
          return SmallVector<Value>{
              arith::MulFOp::create(sb, sl, g[0], load(sb, sl, c.gam, {s})),
              arith::AddFOp::create(sb, sl, g[1], w)};
        });
    forEach(ib, il, arith::AddIOp::create(ib, il, i, c1), cIdx(ib, il, c.C),
            [&](OpBuilder &sb, Location sl, Value s) {
              store(sb, sl, cF32(sb, sl, 0.0), c.A, {i, s});
            });
    if (k.normalize || k.lse) {
      // The state's share: P_i q_i . z.
      Value qz = carry(ib, il, z, cIdx(ib, il, c.D), ValueRange{cF32(ib, il, 0.0)},
                       [&](OpBuilder &db, Location dl, Value d, ValueRange acc) {
                         return SmallVector<Value>{math::FmaOp::create(
                             db, dl, load(db, dl, c.Qp, {i, d}),
                             load(db, dl, k.z, {d}), acc[0])};
                       })[0];
      Value pi = load(ib, il, c.P, {i});
      store(ib, il, math::FmaOp::create(ib, il, pi, qz, st[1]), c.den, {i});
    }
  });
}

/// out[c0 + i] = scale (P_i q_i S + sum_s A[i, s] v_s) [/ den_i] for the
/// chunk's rows, R at a time (and lse).
void buildOutputs(OpBuilder &b, Location l, const LinearTask &k,
                  const VectorChunk &c, Value c0, Value L) {
  Value zeros = splat(b, l, c, cF32(b, l, 0.0));
  scf::ForOp::create(
      b, l, cIdx(b, l, 0), L, cIdx(b, l, c.RO), ValueRange{},
      [&](OpBuilder &ib, Location il, Value i0, ValueRange) {
        auto row = [&](OpBuilder &ob, Location ol, int64_t r) {
          return plusIdx(ob, ol, i0, r);
        };
        SmallVector<Value> acc = tileProduct(
            ib, il, c, c.RO, c.NV, SmallVector<Value>(c.RO * c.NV, zeros),
            cIdx(ib, il, 0), cIdx(ib, il, c.D),
            [&](OpBuilder &ob, Location ol, int64_t r, Value d) {
              return load(ob, ol, c.Qp, {row(ob, ol, r), d});
            },
            [&](OpBuilder &ob, Location ol, Value d, int64_t v) {
              return vload(ob, ol, c, k.S, {d, lane(ob, ol, c, v)});
            });
        for (int64_t r = 0; r < c.RO; ++r) {
          Value p = splat(ib, il, c, load(ib, il, c.P, {row(ib, il, r)}));
          for (int64_t v = 0; v < c.NV; ++v)
            acc[r * c.NV + v] = arith::MulFOp::create(ib, il, acc[r * c.NV + v], p);
        }
        // The chunk's keys up to the tile's last row (A is 0 past each row).
        Value end = arith::MinUIOp::create(ib, il, plusIdx(ib, il, i0, c.RO), L);
        acc = tileProduct(
            ib, il, c, c.RO, c.NV, acc, cIdx(ib, il, 0), end,
            [&](OpBuilder &ob, Location ol, int64_t r, Value s) {
              return load(ob, ol, c.A, {row(ob, ol, r), s});
            },
            [&](OpBuilder &ob, Location ol, Value s, int64_t v) {
              return vload(ob, ol, c, c.Vp, {s, lane(ob, ol, c, v)});
            });
        for (int64_t r = 0; r < c.RO; ++r) {
          Value i = row(ib, il, r);
          auto inside = scf::IfOp::create(
              ib, il, arith::CmpIOp::create(ib, il, arith::CmpIPredicate::ult, i, L),
              false);
          OpBuilder tb = OpBuilder::atBlockBegin(&inside.getThenRegion().front());
          Value den = k.normalize || k.lse ? load(tb, il, c.den, {i}) : Value();
          storeOutput(tb, il, k, c, arith::AddIOp::create(tb, il, c0, i),
                      ArrayRef<Value>(acc).slice(r * c.NV, c.NV), den);
        }
        scf::YieldOp::create(ib, il);
      });
}

/// S = P[L-1] S + sum_s G(s, L-1) KT[:, s] Vp[s, :] (and z likewise), R
/// rows of S at a time.
void buildVectorState(OpBuilder &b, Location l, const LinearTask &k,
                      const VectorChunk &c, Value L) {
  Value z = cIdx(b, l, 0), c1 = cIdx(b, l, 1);
  Value last = arith::SubIOp::create(b, l, L, c1);
  Value pEnd = load(b, l, c.P, {last});
  // wEnd[s] = G(s, L-1), from s = L-1 backwards.
  carry(b, l, z, L, ValueRange{cF32(b, l, 1.0)},
        [&](OpBuilder &sb, Location sl, Value r, ValueRange g) {
          Value s = arith::SubIOp::create(sb, sl, last, r);
          store(sb, sl, g[0], c.wEnd, {s});
          return SmallVector<Value>{
              arith::MulFOp::create(sb, sl, g[0], load(sb, sl, c.gam, {s}))};
        });
  Value bp = splat(b, l, c, pEnd);
  scf::ForOp::create(
      b, l, z, cIdx(b, l, c.D), cIdx(b, l, c.RS), ValueRange{},
      [&](OpBuilder &db, Location dl, Value d0, ValueRange) {
        auto row = [&](OpBuilder &ob, Location ol, int64_t r) {
          return plusIdx(ob, ol, d0, r);
        };
        SmallVector<Value> init;
        for (int64_t r = 0; r < c.RS; ++r)
          for (int64_t v = 0; v < c.NV; ++v)
            init.push_back(arith::MulFOp::create(
                db, dl, vload(db, dl, c, k.S, {row(db, dl, r), lane(db, dl, c, v)}),
                bp));
        SmallVector<Value> acc = tileProduct(
            db, dl, c, c.RS, c.NV, init, z, L,
            [&](OpBuilder &ob, Location ol, int64_t r, Value s) {
              return arith::MulFOp::create(ob, ol, load(ob, ol, c.wEnd, {s}),
                                           load(ob, ol, c.KT, {row(ob, ol, r), s}));
            },
            [&](OpBuilder &ob, Location ol, Value s, int64_t v) {
              return vload(ob, ol, c, c.Vp, {s, lane(ob, ol, c, v)});
            });
        for (int64_t r = 0; r < c.RS; ++r)
          for (int64_t v = 0; v < c.NV; ++v)
            vector::StoreOp::create(db, dl, acc[r * c.NV + v], k.S,
                                    ValueRange{row(db, dl, r), lane(db, dl, c, v)});
        scf::YieldOp::create(db, dl);
      });
  if (!k.normalize && !k.lse)
    return;
  forEach(b, l, z, cIdx(b, l, c.D), [&](OpBuilder &db, Location dl, Value d) {
    Value zd = carry(db, dl, z, L,
                     ValueRange{arith::MulFOp::create(db, dl, load(db, dl, k.z, {d}), pEnd)},
                     [&](OpBuilder &sb, Location sl, Value s, ValueRange acc) {
                       return SmallVector<Value>{math::FmaOp::create(
                           sb, sl, load(sb, sl, c.wEnd, {s}),
                           load(sb, sl, c.KT, {d, s}), acc[0])};
                     })[0];
    store(db, dl, zd, k.z, {d});
  });
}

} // namespace

void mlir::attn::buildVectorRecurrentToken(OpBuilder &b, Location l,
                                           const LinearTask &k, int64_t lanes,
                                           Value t) {
  VectorChunk c = vectorShape(b, k, lanes);
  Value z = cIdx(b, l, 0);
  Type velt = cast<MemRefType>(k.v.getType()).getElementType();
  Value g = k.gamma(b, l, t);
  // u = v_t, or beta (v_t - gamma S^T k_t) under the delta rule (old S).
  SmallVector<Value> u;
  for (int64_t v = 0; v < c.NV; ++v) {
    Value x = vector::LoadOp::create(b, l, VectorType::get({c.W}, velt), k.v,
                                     ValueRange{k.b, k.h, t, lane(b, l, c, v)});
    if (velt != c.vt.getElementType())
      x = arith::ExtFOp::create(b, l, c.vt, x);
    u.push_back(x);
  }
  if (k.beta) {
    Value zeros = splat(b, l, c, cF32(b, l, 0.0));
    SmallVector<Value> w = carry(
        b, l, z, cIdx(b, l, c.D), SmallVector<Value>(c.NV, zeros),
        [&](OpBuilder &db, Location dl, Value d, ValueRange acc) {
          Value kd = splat(db, dl, c, k.feature(db, dl, false, t, d));
          SmallVector<Value> next;
          for (int64_t v = 0; v < c.NV; ++v)
            next.push_back(fma(db, dl, kd, vload(db, dl, c, k.S, {d, lane(db, dl, c, v)}),
                               acc[v]));
          return next;
        });
    Value beta = splat(b, l, c, toF32(b, l, load(b, l, k.beta, {k.b, k.h, t})));
    Value bg = splat(b, l, c, g);
    for (int64_t v = 0; v < c.NV; ++v)
      u[v] = arith::MulFOp::create(
          b, l, beta,
          arith::SubFOp::create(b, l, u[v], arith::MulFOp::create(b, l, bg, w[v])));
  }
  // One pass over S: S[d, :] = g_d S[d, :] + k_d u, z likewise, and
  // out += q_d S[d, :] with the row just written (the new state).
  Value zeros = splat(b, l, c, cF32(b, l, 0.0));
  SmallVector<Value> init(c.NV, zeros);
  init.push_back(cF32(b, l, 0.0));
  SmallVector<Value> acc = carry(
      b, l, z, cIdx(b, l, c.D), init,
      [&](OpBuilder &db, Location dl, Value d, ValueRange st) {
        Value kd = k.feature(db, dl, false, t, d);
        Value gd = g;
        if (k.featureGate)
          gd = arith::MulFOp::create(
              db, dl, g,
              math::ExpOp::create(db, dl,
                                  toF32(db, dl, load(db, dl, k.featureGate,
                                                     {k.b, k.h, t, d}))));
        Value qd = k.feature(db, dl, true, t, d);
        Value bk = splat(db, dl, c, kd), bgd = splat(db, dl, c, gd),
              bq = splat(db, dl, c, qd);
        SmallVector<Value> next;
        for (int64_t v = 0; v < c.NV; ++v) {
          Value s = fma(db, dl, bk, u[v],
                        arith::MulFOp::create(
                            db, dl, bgd, vload(db, dl, c, k.S, {d, lane(db, dl, c, v)})));
          vector::StoreOp::create(db, dl, s, k.S, ValueRange{d, lane(db, dl, c, v)});
          next.push_back(fma(db, dl, bq, s, st[v]));
        }
        Value zd = math::FmaOp::create(db, dl, gd, load(db, dl, k.z, {d}), kd);
        store(db, dl, zd, k.z, {d});
        next.push_back(math::FmaOp::create(db, dl, qd, zd, st[c.NV]));
        return next;
      });
  storeOutput(b, l, k, c, t, ArrayRef<Value>(acc).take_front(c.NV), acc[c.NV]);
}

bool mlir::attn::vectorChunksApply(const LinearTask &k, int64_t lanes) {
  auto q = cast<MemRefType>(k.q.getType()), v = cast<MemRefType>(k.v.getType());
  int64_t d = q.getDimSize(3), dv = v.getDimSize(3);
  return lanes > 0 && !ShapedType::isDynamic(d) && !ShapedType::isDynamic(dv) &&
         dv % lanes == 0 && d <= 1024 && dv <= 1024;
}

void mlir::attn::buildVectorChunks(OpBuilder &b, Location l, const LinearTask &k,
                                   int64_t chunk, int64_t lanes) {
  VectorChunk c = vectorShape(b, k, lanes);
  c.C = llvm::alignTo(chunk, lanes);
  c.NC = c.C / c.W;
  // Register tiles of R rows x N vectors, R x N <= 16 accumulators (half
  // of AVX-512's registers, all of AVX2's less the operands), R dividing
  // the rows it walks.
  auto rowsFor = [](int64_t nvec, int64_t extent) {
    int64_t r = std::max<int64_t>(1, std::min<int64_t>(4, 16 / nvec));
    while (extent % r)
      --r;
    return r;
  };
  c.RA = rowsFor(c.NC, c.C);
  c.RO = rowsFor(c.NV, c.C);
  c.RS = rowsFor(c.NV, c.D);
  Type f32 = b.getF32Type();
  SmallVector<Value> bufs;
  auto alloc = [&](ArrayRef<int64_t> shape) {
    bufs.push_back(memref::AllocOp::create(b, l, MemRefType::get(shape, f32)));
    return bufs.back();
  };
  c.Qp = alloc({c.C, c.D});
  c.KT = alloc({c.D, c.C});
  c.Vp = alloc({c.C, c.Dv});
  c.A = alloc({c.C, c.C});
  c.gam = alloc({c.C});
  c.P = alloc({c.C});
  c.den = alloc({c.C});
  c.wEnd = alloc({c.C});
  // Rows and columns past a ragged chunk's end are read (whole register
  // tiles) but never kept: zero them once so that they hold numbers.
  for (Value buf : {c.Qp, c.KT, c.Vp})
    forEach(b, l, cIdx(b, l, 0), dimOf(b, l, buf, 0),
            [&](OpBuilder &ib, Location il, Value i) {
              forEach(ib, il, cIdx(ib, il, 0), dimOf(ib, il, buf, 1),
                      [&](OpBuilder &jb, Location jl, Value j) {
                        store(jb, jl, cF32(jb, jl, 0.0), buf, {i, j});
                      });
            });
  forEach(b, l, cIdx(b, l, 0), cIdx(b, l, c.C), [&](OpBuilder &ib, Location il, Value i) {
    store(ib, il, cF32(ib, il, 1.0), c.P, {i});
  });
  Value cc = cIdx(b, l, chunk);
  scf::ForOp::create(
      b, l, cIdx(b, l, 0), k.n, cc, ValueRange{},
      [&](OpBuilder &cb, Location cl, Value c0, ValueRange) {
        Value L = arith::MinUIOp::create(
            cb, cl, cc, arith::SubIOp::create(cb, cl, k.n, c0));
        pack(cb, cl, k, c, c0, L);
        buildScores(cb, cl, c);
        buildWeights(cb, cl, k, c, L);
        buildOutputs(cb, cl, k, c, c0, L);
        buildVectorState(cb, cl, k, c, L);
        scf::YieldOp::create(cb, cl);
      });
  for (Value buf : bufs)
    memref::DeallocOp::create(b, l, buf);
}
