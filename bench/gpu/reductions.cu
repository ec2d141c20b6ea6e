// On the GPU machine: would the landmark program gain from adding each
// unit into the output by L2 reductions instead of storing the units and
// merging them (docs/design/routing.md, "What remains" 2)? Times the two
// data movements alone, at the benchmark's shape (N = 32768, H = 8: R =
// 262144 rows, K = 4 picks, Dv = 64), entries in a random order of
// (row, slot) as the units kernel's groups by block visit them:
//
//   store  each entry's unit stored (bf16, 128 B; the units kernel's stores)
//   merge  per row: the local part and K units read, the output written
//          (bf16; the merge kernel's bytes)
//   red4   each entry's unit added into an f32 accumulator [R, Dv] by
//          16-byte red.global.add.v4.f32
//   red1   the same by 4-byte red.global.add.f32
//   init   the accumulator written (f32; what the picks kernel would write
//          for the local part instead of its bf16 output)
//   final  the accumulator read, the output written (bf16)
//
//   nvcc -O3 -arch=sm_90a bench/gpu/reductions.cu -o /tmp/reductions && /tmp/reductions
#include <algorithm>
#include <cstdio>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <random>
#include <vector>

constexpr int R = 262144, K = 4, DV = 64, E = R * K;

__global__ void storeUnits(const int *order, __nv_bfloat16 *units) {
  // 8 threads per entry (16 B each), 16 entries per pass, 64 per block.
  int e0 = blockIdx.x * 64, t = threadIdx.x;
  for (int p = 0; p < 4; ++p) {
    int e = order[e0 + p * 16 + t / 8], c = (t % 8) * 8;
    uint4 v = make_uint4(e, c, p, t);
    *reinterpret_cast<uint4 *>(units + size_t(e) * DV + c) = v;
  }
}

__global__ void merge(const __nv_bfloat16 *units, const __nv_bfloat16 *local,
                      __nv_bfloat16 *out) {
  // 8 threads per row, 16 B of each of the row's K units and local part.
  size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  size_t row = i / 8, c = (i % 8) * 8;
  if (row >= R)
    return;
  uint4 acc = *reinterpret_cast<const uint4 *>(local + row * DV + c);
  uint4 u[K];
  for (int k = 0; k < K; ++k)
    u[k] = *reinterpret_cast<const uint4 *>(units + (row * K + k) * DV + c);
  for (int k = 0; k < K; ++k)
    acc.x ^= u[k].x, acc.y ^= u[k].y, acc.z ^= u[k].z, acc.w ^= u[k].w;
  *reinterpret_cast<uint4 *>(out + row * DV + c) = acc;
}

__device__ void red4(float *a, float x, float y, float z, float w) {
  asm volatile("red.global.add.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(a), "f"(x), "f"(y),
               "f"(z), "f"(w)
               : "memory");
}

__global__ void addUnits4(const int *order, float *acc) {
  // 16 threads per entry (4 floats each), 8 entries per pass.
  int e0 = blockIdx.x * 64, t = threadIdx.x;
  for (int p = 0; p < 8; ++p) {
    int e = order[e0 + p * 8 + t / 16], c = (t % 16) * 4;
    float x = float(t) * 1e-3f;
    red4(acc + size_t(e / K) * DV + c, x, x, x, x);
  }
}

__global__ void addUnits1(const int *order, float *acc) {
  // 64 threads per entry (one float each), 2 entries per pass.
  int e0 = blockIdx.x * 64, t = threadIdx.x;
  for (int p = 0; p < 32; ++p) {
    int e = order[e0 + p * 2 + t / 64], c = t % 64;
    atomicAdd(acc + size_t(e / K) * DV + c, float(t) * 1e-3f);
  }
}

__global__ void initAcc(float *acc) {
  size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < size_t(R) * DV / 4)
    reinterpret_cast<float4 *>(acc)[i] = make_float4(1, 2, 3, float(i));
}

__global__ void finalizeAcc(const float *acc, __nv_bfloat16 *out) {
  size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; // 8 columns each
  if (i >= size_t(R) * DV / 8)
    return;
  float4 a = reinterpret_cast<const float4 *>(acc)[2 * i];
  float4 b = reinterpret_cast<const float4 *>(acc)[2 * i + 1];
  __nv_bfloat162 o[4] = {__floats2bfloat162_rn(a.x, a.y), __floats2bfloat162_rn(a.z, a.w),
                         __floats2bfloat162_rn(b.x, b.y), __floats2bfloat162_rn(b.z, b.w)};
  reinterpret_cast<uint4 *>(out)[i] = *reinterpret_cast<uint4 *>(o);
}

template <class F> float medianMs(F launch) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  launch();
  std::vector<float> ms;
  for (int i = 0; i < 21; ++i) {
    cudaEventRecord(a);
    launch();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float t;
    cudaEventElapsedTime(&t, a, b);
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

int main() {
  std::vector<int> order(E);
  for (int i = 0; i < E; ++i)
    order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(1));
  int *dOrder;
  __nv_bfloat16 *units, *local, *out;
  float *acc;
  cudaMalloc(&dOrder, sizeof(int) * E);
  cudaMalloc(&units, sizeof(__nv_bfloat16) * size_t(E) * DV);
  cudaMalloc(&local, sizeof(__nv_bfloat16) * size_t(R) * DV);
  cudaMalloc(&out, sizeof(__nv_bfloat16) * size_t(R) * DV);
  cudaMalloc(&acc, sizeof(float) * size_t(R) * DV);
  cudaMemcpy(dOrder, order.data(), sizeof(int) * E, cudaMemcpyHostToDevice);
  cudaMemset(units, 0, sizeof(__nv_bfloat16) * size_t(E) * DV);
  cudaMemset(local, 0, sizeof(__nv_bfloat16) * size_t(R) * DV);
  cudaMemset(acc, 0, sizeof(float) * size_t(R) * DV);
  int groups = E / 64;
  float tStore = medianMs([&] { storeUnits<<<groups, 128>>>(dOrder, units); });
  float tMerge = medianMs([&] { merge<<<R * 8 / 256, 256>>>(units, local, out); });
  float tRed4 = medianMs([&] { addUnits4<<<groups, 128>>>(dOrder, acc); });
  float tRed1 = medianMs([&] { addUnits1<<<groups, 128>>>(dOrder, acc); });
  float tInit = medianMs([&] { initAcc<<<R * DV / 4 / 256, 256>>>(acc); });
  float tFinal = medianMs([&] { finalizeAcc<<<R * DV / 8 / 256, 256>>>(acc, out); });
  cudaError_t err = cudaDeviceSynchronize();
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  printf("{\"device\": \"%s\", \"error\": \"%s\", \"rows\": %d, \"entries\": %d, "
         "\"store_ms\": %.4f, \"merge_ms\": %.4f, \"red4_ms\": %.4f, \"red1_ms\": %.4f, "
         "\"init_ms\": %.4f, \"final_ms\": %.4f, \"now_ms\": %.4f, \"by_reductions_ms\": %.4f}\n",
         prop.name, cudaGetErrorString(err), R, E, tStore, tMerge, tRed4, tRed1, tInit, tFinal,
         tStore + tMerge, tRed4 + tFinal);
  return err == cudaSuccess ? 0 : 1;
}
