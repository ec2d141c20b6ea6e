/* Two fp32 ceilings of this CPU, in every thread at once (OpenMP):
 *  - fma_gflops: independent chains of fused multiply-adds on the widest
 *    vectors the compiler targets (-march=native: zmm with AVX-512, ymm with
 *    AVX2/FMA), 12 chains per thread so that two FMA ports with 4-cycle
 *    latency stay busy: nothing computing with FMAs can pass it;
 *  - tile_gflops: the register tile of AttnIR's CPU body (6 rows x COLS
 *    vectors of accumulators: per step, COLS vector loads of a packed panel,
 *    6 broadcasts of a row-major tile, 6 x COLS FMAs) over D = 128 on
 *    L1-resident data: what an attention's products reach with no cache
 *    misses and no softmax.
 * Prints the best GFLOP/s (2 flops per lane per FMA) of 5 runs of each as
 * one JSON line. Built and run by bench/cpu_bench.py:
 * cc -O2 -march=native -fopenmp. */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <time.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define ISA "avx512f"
#define LOADU _mm512_loadu_ps
#define STOREU _mm512_storeu_ps
#ifndef COLS
#define COLS 4
#endif
static float hsum(vec v) { return _mm512_reduce_add_ps(v); }
#elif defined(__FMA__)
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
#define ISA "avx2-fma"
#define LOADU _mm256_loadu_ps
#define STOREU _mm256_storeu_ps
#ifndef COLS
#define COLS 2
#endif
static float hsum(vec v) {
  float f[8];
  _mm256_storeu_ps(f, v);
  return f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7];
}
#else
#error "needs FMA (x86-64 with AVX2/FMA or AVX-512)"
#endif

#ifndef ROWS /* other tiles: -DROWS=8 -DCOLS=3 (ROWS must divide 72) */
#define ROWS 6
#endif
enum { CHAINS = 12, TILE_ROWS = 72, DEPTH = 128, PANEL = COLS * LANES };

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* One register tile: s[0..ROWS, 0..PANEL) = q[0..ROWS, :] x kt[:, 0..PANEL). */
__attribute__((noinline)) static void tile(const float *q, const float *kt, float *s) {
  vec acc[ROWS][COLS];
  for (int r = 0; r < ROWS; ++r)
    for (int c = 0; c < COLS; ++c)
      acc[r][c] = SET1(0.0f);
  for (int d = 0; d < DEPTH; ++d) {
    vec k[COLS];
    for (int c = 0; c < COLS; ++c)
      k[c] = LOADU(kt + d * PANEL + c * LANES);
    for (int r = 0; r < ROWS; ++r) {
      vec x = SET1(q[r * DEPTH + d]);
      for (int c = 0; c < COLS; ++c)
        acc[r][c] = FMA(x, k[c], acc[r][c]);
    }
  }
  for (int r = 0; r < ROWS; ++r)
    for (int c = 0; c < COLS; ++c)
      STOREU(s + r * PANEL + c * LANES, acc[r][c]);
}

static double tile_gflops(void) {
  static float q[TILE_ROWS * DEPTH], kt[DEPTH * PANEL];
  for (int i = 0; i < TILE_ROWS * DEPTH; ++i)
    q[i] = 1e-3f * (i % 97);
  for (int i = 0; i < DEPTH * PANEL; ++i)
    kt[i] = 1e-3f * (i % 89);
  const long reps = 40000;
  double best = 0;
  for (int run = 0; run < 5; ++run) {
    double t0 = seconds();
#pragma omp parallel
    {
      float s[TILE_ROWS * PANEL];
      for (long it = 0; it < reps; ++it)
        for (int r = 0; r < TILE_ROWS; r += ROWS)
          tile(q + r * DEPTH, kt, s + r * PANEL);
      if (s[0] == 12345.0f) /* keeps the stores */
        printf("#\n");
    }
    double gflops = (double)omp_get_max_threads() * reps * TILE_ROWS * PANEL * DEPTH * 2 / (seconds() - t0) / 1e9;
    if (gflops > best)
      best = gflops;
  }
  return best;
}

int main(void) {
  const long steps = 20000000; /* per thread: about 0.1-0.2 s at 3 GHz */
  double best = 0;
  float sink = 0;
  for (int run = 0; run < 5; ++run) {
    double t0 = seconds();
#pragma omp parallel reduction(+ : sink)
    {
      vec acc[CHAINS], m = SET1(1.0000001f), c = SET1(1e-7f);
      for (int i = 0; i < CHAINS; ++i)
        acc[i] = SET1((float)(i + omp_get_thread_num()));
      for (long s = 0; s < steps; ++s)
        for (int i = 0; i < CHAINS; ++i)
          acc[i] = FMA(acc[i], m, c);
      vec sum = acc[0];
      for (int i = 1; i < CHAINS; ++i)
        sum = ADD(sum, acc[i]);
      sink += hsum(sum); /* keeps the chains live */
    }
    double gflops = (double)omp_get_max_threads() * steps * CHAINS * LANES * 2 / (seconds() - t0) / 1e9;
    if (gflops > best)
      best = gflops;
  }
  double tile = tile_gflops();
  printf("{\"fma_gflops\": %.1f, \"tile_gflops\": %.1f, \"tile\": \"%dx%d\", \"isa\": \"%s\", "
         "\"threads\": %d, \"sink\": %g}\n",
         best, tile, ROWS, COLS, ISA, omp_get_max_threads(), (double)sink);
  return 0;
}
