//===- ContextParallelMPITest.cpp - the C API's schedules on MPI processes -===//
//
// Run by ctest under mpiexec (unittests/CMakeLists.txt). Every rank draws
// the same inputs, cuts its part (zigzag or contiguous, the layout written
// out again here), runs attnir_ring_attention and attnir_head_attention
// over attnir_mpi.h's transport, and compares its rows with the
// single-process kernel on the whole inputs (computed on every rank).
// Exit 1 on a mismatch or an error.
//
//===----------------------------------------------------------------------===//

#include "attnir-c/attnir.h"
#include "attnir-c/attnir_mpi.h"
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

namespace {

const char *kRingSpec = R"(// Ring attention's per-device programs (attnir.distributed): D = 32, Dv = 32, f32.
func.func @dense(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>)
    -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v
       : (tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}
func.func @causal(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>)
    -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v mask(#attn.causal)
       : (tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}
func.func @merge(%o1: tensor<?x?x?x32xf32>, %lse1: tensor<?x?x?xf32>, %o2: tensor<?x?x?x32xf32>, %lse2: tensor<?x?x?xf32>)
    -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %o, %lse = attn.merge %o1, %lse1, %o2, %lse2
       : (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}
)";

struct T {
  std::vector<float> data;
  std::vector<int64_t> shape;
  attnir_tensor_t view() {
    return {data.data(), ATTNIR_F32, static_cast<int32_t>(shape.size()), shape.data(), nullptr};
  }
};

T make(std::vector<int64_t> shape, unsigned seed) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  T t{std::vector<float>(n), shape};
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal;
  for (float &x : t.data)
    x = normal(gen);
  return t;
}

/// The rows this rank holds, in order: [(start, stop)] (the layout of
/// attnir.distributed.chunk_bounds with granule 1).
std::vector<std::pair<int64_t, int64_t>> myRows(int64_t n, int rank, int world, bool zigzag) {
  int64_t c = zigzag ? 2 * world : world;
  std::vector<std::pair<int64_t, int64_t>> all;
  for (int64_t i = 0, start = 0; i < c; ++i) {
    int64_t len = n / c + (i < n % c ? 1 : 0);
    all.push_back({start, start + len});
    start += len;
  }
  std::vector<std::pair<int64_t, int64_t>> out = {all[rank]};
  if (zigzag)
    out.push_back(all[2 * world - 1 - rank]);
  return out;
}

/// x's rows (dim 2) in `rows`, concatenated.
T take(const T &x, const std::vector<std::pair<int64_t, int64_t>> &rows) {
  int64_t B = x.shape[0], H = x.shape[1], N = x.shape[2];
  int64_t X = x.shape.size() == 4 ? x.shape[3] : 1, n = 0;
  for (auto [s, e] : rows)
    n += e - s;
  T out{{}, x.shape};
  out.shape[2] = n;
  for (int64_t bh = 0; bh < B * H; ++bh)
    for (auto [s, e] : rows)
      out.data.insert(out.data.end(), x.data.begin() + (bh * N + s) * X,
                      x.data.begin() + (bh * N + e) * X);
  return out;
}

double relErr(const T &got, const T &want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.data.size(); ++i) {
    num = std::fmax(num, std::fabs(double(got.data[i]) - want.data[i]));
    den = std::fmax(den, std::fabs(double(want.data[i])));
  }
  return got.data.size() == want.data.size() ? num / (den > 0 ? den : 1) : INFINITY;
}

} // namespace

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  attnir_mpi_ctx_t ctx;
  attnir_comm_t comm = attnir_mpi_comm(&ctx, MPI_COMM_WORLD);
  int failures = 0;
  attnir_kernel_t *ring = attnir_compile(kRingSpec, std::strlen(kRingSpec), "cpu", nullptr);
  if (!ring) {
    std::fprintf(stderr, "compile: %s\n", attnir_last_error());
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  struct Case { const char *name; int64_t n, h, hkv; int causal, zigzag; };
  for (Case c : {Case{"causal zigzag ragged GQA", 203, 4, 2, 1, 1},
                 Case{"dense contiguous ragged", 150, 2, 1, 0, 0},
                 Case{"causal contiguous", 97, 2, 2, 1, 0}}) {
    T q = make({2, c.h, c.n, 32}, 1), k = make({2, c.hkv, c.n, 32}, 2),
      v = make({2, c.hkv, c.n, 32}, 3);
    T wantO = make({2, c.h, c.n, 32}, 0), wantL = make({2, c.h, c.n}, 0);
    attnir_tensor_t in[3] = {q.view(), k.view(), v.view()}, res[2] = {wantO.view(), wantL.view()};
    int entry = attnir_entry_index(ring, c.causal ? "causal" : "dense");
    if (attnir_run(ring, entry, in, 3, res, 2) != 0) {
      std::fprintf(stderr, "single: %s\n", attnir_last_error());
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
    auto rows = myRows(c.n, comm.rank, comm.size, c.zigzag);
    T qr = take(q, rows), kr = take(k, rows), vr = take(v, rows);
    T o = take(wantO, rows), l = take(wantL, rows);
    std::fill(o.data.begin(), o.data.end(), NAN);
    std::fill(l.data.begin(), l.data.end(), NAN);
    attnir_tensor_t tq = qr.view(), tk = kr.view(), tv = vr.view(), to = o.view(), tl = l.view();
    if (attnir_ring_attention(ring, &comm, c.n, c.causal, c.zigzag, &tq, &tk, &tv, &to, &tl)) {
      std::fprintf(stderr, "rank %d: %s\n", comm.rank, attnir_last_error());
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
    double err = std::fmax(relErr(o, take(wantO, rows)), relErr(l, take(wantL, rows)));
    double worst = 0;
    MPI_Allreduce(&err, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    bool ok = worst <= 2e-6;
    failures += !ok;
    if (comm.rank == 0)
      std::printf("%s ring %s: P=%d max rel err vs single process %.2e\n", ok ? "ok  " : "FAIL",
                  c.name, comm.size, worst);
  }
  // The head schedule: a sliding window with its lse (a mask the ring does
  // not take), GQA, on both layouts.
  const char *kWindow = R"(
func.func @window(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>)
    -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v mask(#attn.window<17, 3>)
       : (tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>)
  return %o, %lse : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}
)";
  attnir_kernel_t *window = attnir_compile(kWindow, std::strlen(kWindow), "cpu", nullptr);
  if (!window) {
    std::fprintf(stderr, "compile: %s\n", attnir_last_error());
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  for (int zigzag : {0, 1}) {
    int64_t n = 181, h = 8, hkv = 4;
    T q = make({1, h, n, 32}, 5), k = make({1, hkv, n, 32}, 6), v = make({1, hkv, n, 32}, 7);
    T wantO = make({1, h, n, 32}, 0), wantL = make({1, h, n}, 0);
    attnir_tensor_t in[3] = {q.view(), k.view(), v.view()}, res[2] = {wantO.view(), wantL.view()};
    if (attnir_run(window, 0, in, 3, res, 2) != 0) {
      std::fprintf(stderr, "single: %s\n", attnir_last_error());
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
    auto rows = myRows(n, comm.rank, comm.size, zigzag);
    T qr = take(q, rows), kr = take(k, rows), vr = take(v, rows);
    T o = take(wantO, rows), l = take(wantL, rows);
    std::fill(o.data.begin(), o.data.end(), NAN);
    std::fill(l.data.begin(), l.data.end(), NAN);
    attnir_tensor_t shards[3] = {qr.view(), kr.view(), vr.view()}, outs[2] = {o.view(), l.view()};
    if (attnir_head_attention(window, 0, &comm, n, zigzag, shards, 3, outs, 2)) {
      std::fprintf(stderr, "rank %d: %s\n", comm.rank, attnir_last_error());
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
    double err = std::fmax(relErr(o, take(wantO, rows)), relErr(l, take(wantL, rows)));
    double worst = 0;
    MPI_Allreduce(&err, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    bool ok = worst == 0; // the same kernel on the same heads: identical
    failures += !ok;
    if (comm.rank == 0)
      std::printf("%s heads window GQA %s: P=%d max rel err vs single process %.2e\n",
                  ok ? "ok  " : "FAIL", zigzag ? "zigzag" : "contiguous", comm.size, worst);
  }
  attnir_kernel_free(window);

  // Misuse is an error on the rank, not a crash: a shard of the wrong length.
  if (comm.size > 1) {
    T q = make({1, 1, 5, 32}, 4), o = make({1, 1, 5, 32}, 4);
    attnir_tensor_t t = q.view(), to = o.view();
    int rc = attnir_ring_attention(ring, &comm, 1000, 1, 1, &t, &t, &t, &to, nullptr);
    bool ok = rc != 0 && std::strstr(attnir_last_error(), "positions") != nullptr;
    failures += !ok;
    if (comm.rank == 0)
      std::printf("%s a shard of the wrong length is an error: %s\n", ok ? "ok  " : "FAIL",
                  attnir_last_error());
  }
  attnir_kernel_free(ring);
  MPI_Finalize();
  return failures ? 1 : 0;
}
