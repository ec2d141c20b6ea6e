//===- FuzzCAPI.cpp - libFuzzer target: the C API's argument checks -------===//
//
// A compiled kernel (causal, D = 64, with lse) is called through the C API
// with tensors the fuzzer describes: counts, dtype codes (any int), ranks,
// shapes, strides, null data, outputs aliasing inputs. Every call must be
// refused with a message or run on buffers that really hold the shapes it
// accepted (the harness allocates what the description says, up to a cap,
// and skips larger ones).
//
//===----------------------------------------------------------------------===//

#include "attnir-c/attnir.h"
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {
const char *kSpec = R"(
func.func @f(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
             %v: tensor<?x?x?x64xf32>)
    -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) {
  %o, %l = attn.attention %q, %k, %v mask(#attn.causal)
      : (tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
  return %o, %l : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
})";

/// Reads the fuzzer's bytes in order; zeros once they run out.
struct Reader {
  const uint8_t *p;
  size_t n;
  uint8_t byte() { return n ? (--n, *p++) : 0; }
  int32_t small(int32_t mod) { return byte() % mod; }
};

struct Described {
  std::vector<attnir_tensor_t> ts;
  std::vector<std::vector<int64_t>> shapes, strides;
  std::vector<std::vector<uint8_t>> buffers;
};

/// Up to 6 tensors: dtype code, rank, dims in [0, 24) (small: a run costs
/// microseconds, so the fuzzer explores checks, not arithmetic), optional strides,
/// a buffer of the size the description implies (or null / too large: no
/// buffer, so a call that accepts it would be caught by ASan).
bool describe(Reader &r, Described &d) {
  int32_t count = r.small(7);
  d.ts.resize(count);
  d.shapes.resize(count);
  d.strides.resize(count);
  d.buffers.resize(count);
  for (int32_t i = 0; i < count; ++i) {
    attnir_tensor_t &t = d.ts[i];
    int code = static_cast<int8_t>(r.byte()) % 8; // invalid codes too
    std::memcpy(&t.dtype, &code, sizeof code);
    t.rank = r.small(6) - 1; // -1 .. 4
    int64_t elements = 1;
    for (int32_t k = 0; k < std::max(t.rank, 0); ++k) {
      int64_t dim = r.byte() == 255 ? -1 : r.small(24);
      d.shapes[i].push_back(k == 3 && r.byte() % 4 ? 64 : dim);
      elements *= std::max<int64_t>(d.shapes[i].back(), 0);
    }
    t.shape = r.byte() % 16 ? d.shapes[i].data() : nullptr;
    // Explicit strides describe memory the caller owns, so they stay inside
    // the buffer: row-major with every stride scaled by 1 or 2 (a valid,
    // possibly non-contiguous layout); the buffer covers the last element.
    int64_t span = 1;
    if (r.byte() % 4 == 0) {
      int64_t stride = 1;
      d.strides[i].assign(std::max(t.rank, 0), 0);
      for (int32_t k = std::max(t.rank, 0) - 1; k >= 0; --k) {
        stride *= 1 + r.small(2);
        d.strides[i][k] = stride;
        span += (std::max<int64_t>(d.shapes[i][k], 1) - 1) * stride;
        stride *= std::max<int64_t>(d.shapes[i][k], 1);
      }
      t.strides = d.strides[i].data();
    } else {
      t.strides = nullptr;
      span = elements;
    }
    if (elements > (1 << 20) || span > (1 << 21))
      return false;
    size_t bytes = static_cast<size_t>(std::max(span, elements)) * 8 + 64;
    d.buffers[i].assign(bytes, 0);
    t.data = r.byte() % 16 ? d.buffers[i].data() : nullptr;
  }
  return true;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static attnir_kernel_t *kernel = [] {
    attnir_kernel_t *k = attnir_compile(kSpec, std::strlen(kSpec), "cpu", "");
    if (!k)
      std::abort();
    return k;
  }();
  Reader r{data, size};
  Described in, out;
  if (!describe(r, in) || !describe(r, out))
    return 0;
  if (r.byte() % 8 == 0 && !in.ts.empty() && !out.ts.empty())
    out.ts[0].data = in.ts[0].data; // an output aliasing an input
  int32_t entry = r.small(3) - 1;
  int64_t shapes[16];
  (void)attnir_output_shapes(kernel, entry, in.ts.data(),
                             static_cast<int32_t>(in.ts.size()), shapes, 16);
  int rc = attnir_run(kernel, entry, in.ts.data(),
                      static_cast<int32_t>(in.ts.size()), out.ts.data(),
                      static_cast<int32_t>(out.ts.size()));
  if (rc != 0 && !*attnir_last_error())
    std::abort(); // a refusal always says why
  // The reference is float64 and, instrumented for coverage, slow: one call
  // in four, on small inputs only (its checks, not its arithmetic, are what
  // the fuzzer is after).
  int64_t work = 1;
  for (const std::vector<int64_t> &s : in.shapes)
    for (int64_t d : s)
      work = std::min<int64_t>(work * std::max<int64_t>(d, 1), int64_t(1) << 30);
  if (r.byte() % 4 == 0 && work <= (int64_t(1) << 24))
    attnir_results_free(attnir_kernel_reference(
        kernel, entry, in.ts.data(), static_cast<int32_t>(in.ts.size())));
  return 0;
}
