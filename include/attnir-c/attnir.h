/*===- attnir.h - the stable C API of AttnIR ------------------------------===*
 *
 * Compile an attention spec, inspect its entries, run them on tensors, save
 * and load compiled kernels. Every function that can fail returns NULL or a
 * non-zero status and leaves a one-line message in attnir_last_error()
 * (thread-local). Nothing here aborts on bad input.
 *
 * ABI stability: opaque handles, plain C types, no struct is ever passed by
 * value; new fields only ever go at the end of attnir_tensor_t behind a
 * version bump of ATTNIR_C_API_VERSION.
 *
 *===----------------------------------------------------------------------===*/

#ifndef ATTNIR_C_ATTNIR_H
#define ATTNIR_C_ATTNIR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTNIR_C_API_VERSION 1

typedef enum {
  ATTNIR_F32 = 0,
  ATTNIR_BF16 = 1,
  ATTNIR_F16 = 2,
  ATTNIR_F64 = 3,
  ATTNIR_I32 = 4, /* index operands: block lists, document ids */
  ATTNIR_I64 = 5
} attnir_dtype_t;

/* A tensor on the host: `strides` in elements (NULL: row-major contiguous).
 * Inputs with other strides are copied to a contiguous buffer before the
 * call; outputs must be contiguous. */
typedef struct {
  void *data;
  attnir_dtype_t dtype;
  int32_t rank;
  const int64_t *shape;
  const int64_t *strides;
} attnir_tensor_t;

typedef struct attnir_kernel attnir_kernel_t;

/* The last error of this thread ("" if none). Valid until the next call. */
const char *attnir_last_error(void);
/* "attnir <version> (LLVM <version>)" or "... (runtime only)". */
const char *attnir_version(void);
/* 1 if this build can compile specs (links LLVM/MLIR), 0 if runtime only. */
int attnir_has_compiler(void);

/* Compiles `spec` (MLIR text, `len` bytes) for `target` ("cpu" or
 * "cuda"). `options` is a pass-option string such as "query-tile=48
 * key-block=64" (cpu) or "chip=sm_90 warps=4 stages=2" (cuda), or NULL. Diagnostics (with line:column) go to attnir_last_error(). */
attnir_kernel_t *attnir_compile(const char *spec, size_t len,
                                const char *target, const char *options);
/* Loads a kernel saved by attnir_save or `attnc compile --emit bundle`. */
attnir_kernel_t *attnir_load(const char *path);
int attnir_save(const attnir_kernel_t *kernel, const char *path);
void attnir_kernel_free(attnir_kernel_t *kernel);

/* Entries, and the arguments of each. `is_output` selects the list.
 * Static dims are reported as their size, dynamic ones as -1. */
int32_t attnir_num_entries(const attnir_kernel_t *kernel);
const char *attnir_entry_name(const attnir_kernel_t *kernel, int32_t entry);
int32_t attnir_entry_index(const attnir_kernel_t *kernel, const char *name);
int32_t attnir_num_args(const attnir_kernel_t *kernel, int32_t entry,
                        int is_output);
int attnir_arg_info(const attnir_kernel_t *kernel, int32_t entry,
                    int is_output, int32_t index, const char **name,
                    attnir_dtype_t *dtype, int32_t *rank,
                    const int64_t **static_shape);

/* Where output `output`'s dimension `dim` gets its size, for frameworks
 * that infer shapes symbolically (attnir.torch's fake implementations):
 * *size >= 0 when the spec fixes it; otherwise it is ceil(input *input's
 * dimension *input_dim / *divisor). Non-zero when no input determines it. */
int attnir_output_dim_source(const attnir_kernel_t *kernel, int32_t entry,
                             int32_t output, int32_t dim, int64_t *size,
                             int32_t *input, int32_t *input_dim,
                             int64_t *divisor);

/* Output shapes for these inputs, written row by row into `shapes`
 * (capacity `capacity` int64s, outputs in order, each of its rank). */
int attnir_output_shapes(const attnir_kernel_t *kernel, int32_t entry,
                         const attnir_tensor_t *inputs, int32_t num_inputs,
                         int64_t *shapes, int32_t capacity);

/* Runs `entry`. Every argument is checked first: count, dtype, rank,
 * static dims, the spec's relations (GQA heads, equal M, ...), null data,
 * output strides, outputs aliasing inputs. Returns 0 on success. */
int attnir_run(const attnir_kernel_t *kernel, int32_t entry,
               const attnir_tensor_t *inputs, int32_t num_inputs,
               const attnir_tensor_t *outputs, int32_t num_outputs);

/* The target a kernel runs on: "cpu" or "cuda". */
const char *attnir_kernel_target(const attnir_kernel_t *kernel);

/* Threads of a CPU kernel's later calls: `threads` > 0 runs each call's
 * parallel loops on that many threads (an OpenMP setting of the calling
 * thread, restored after the call; other threads' calls are unaffected);
 * 0 restores the default: every core (or OMP_NUM_THREADS). At most 4096.
 * A CUDA kernel takes only 0. Returns 0 on success.
 * attnir_get_threads returns the setting (-1 for a null kernel). */
int attnir_set_threads(attnir_kernel_t *kernel, int32_t threads);
int32_t attnir_get_threads(const attnir_kernel_t *kernel);

/* The CPU kernels' workspace, shared by every kernel of the process: their
 * scratch comes from it and goes back to it after each call, so a warm
 * kernel takes nothing from the system per call. `system_allocations`:
 * blocks taken from the system so far; `bytes_held`: what the workspace
 * holds (in use or kept). Either pointer may be NULL. */
void attnir_workspace_stats(uint64_t *system_allocations,
                            uint64_t *bytes_held);

/* attnir_run for either target, with a stream for CUDA kernels: there every
 * tensor's `data` is a device pointer (contiguous; checked with the driver),
 * and the kernel is queued on `stream` (a CUstream; NULL: the default
 * stream) and runs asynchronously, like any CUDA kernel. CPU kernels ignore
 * `stream`. attnir_run(...) is attnir_run_on_stream(..., NULL). The CUDA
 * driver (libcuda.so.1) is opened on first use: without one, CUDA kernels
 * fail with a message and CPU kernels are unaffected. */
int attnir_run_on_stream(const attnir_kernel_t *kernel, int32_t entry,
                         const attnir_tensor_t *inputs, int32_t num_inputs,
                         const attnir_tensor_t *outputs, int32_t num_outputs,
                         void *stream);

/* The IR of a compiled spec after a pipeline stage ("spec", "tiled",
 * "vectorized", "bufferized", "parallel", "llvm"; for CUDA kernels "spec",
 * "nvgpu", "nvvm", "ptx"); NULL for loaded kernels
 * and runtime-only builds. Owned by the kernel. */
const char *attnir_ir(attnir_kernel_t *kernel, const char *stage);

/* The float64 reference (lib/Reference: the one written from
 * shared/patterns.md) of `entry` (NULL: the spec's first entry) of `spec` on
 * host `inputs` of any dtype; the same reference `attnc run --check` uses.
 * Compiler builds only (a runtime-only build returns NULL with an error;
 * use attnir_kernel_reference there).
 * The results are read with the accessors below and freed with
 * attnir_results_free. */
typedef struct attnir_results attnir_results_t;
attnir_results_t *attnir_reference(const char *spec, size_t len,
                                   const char *entry,
                                   const attnir_tensor_t *inputs,
                                   int32_t num_inputs);
int32_t attnir_results_count(const attnir_results_t *results);
/* Result i: row-major float64 data, its rank and shape (NULL / -1 when i is
 * out of range). */
const double *attnir_results_data(const attnir_results_t *results, int32_t i);
int32_t attnir_results_rank(const attnir_results_t *results, int32_t i);
const int64_t *attnir_results_shape(const attnir_results_t *results,
                                    int32_t i);
void attnir_results_free(attnir_results_t *results);

/* The same float64 reference for `entry` of a compiled or loaded kernel, on
 * host `inputs` of any dtype: it interprets the op graph the kernel records
 * (bundles carry it), so it works in runtime-only builds too. */
attnir_results_t *attnir_kernel_reference(const attnir_kernel_t *kernel,
                                          int32_t entry,
                                          const attnir_tensor_t *inputs,
                                          int32_t num_inputs);

/* Context parallelism from C (docs/design/context-parallel.md): the
 * caller's own engine moves the bytes (MPI, NCCL, ...), handed in as two
 * callbacks; include/attnir-c/attnir_mpi.h makes them from an MPI_Comm.
 * start() posts a send of `send_bytes` at `send` to rank `dest` and a
 * receive of `recv_bytes` into `recv` from rank `source`, and sets
 * *request; wait() completes it. Both return 0 on success. At most one
 * exchange is in flight. */
typedef struct {
  void *ctx;
  int32_t rank, size;
  int (*start)(void *ctx, const void *send, size_t send_bytes, int32_t dest,
               void *recv, size_t recv_bytes, int32_t source, void **request);
  int (*wait)(void *ctx, void *request);
  /* All-to-all (attnir_head_attention; NULL where only the ring runs):
   * sends[r] (send_bytes[r] bytes) go to rank r, recvs[r] (recv_bytes[r])
   * come from rank r; returns when all are done. */
  int (*alltoall)(void *ctx, const void *const *sends, const size_t *send_bytes,
                  void *const *recvs, const size_t *recv_bytes);
} attnir_comm_t;

/* Ring attention of this rank's queries over a sequence of `seq_len`
 * positions split across comm->size ranks (self-attention): q [B, H, n, D],
 * k and v [B, Hkv, n, D / Dv] are this rank's part, contiguous, laid out
 * zigzag (`zigzag` = 1: rank r holds chunks r and 2P-1-r of 2P) or
 * contiguous (0), as attnir.distributed.shard cuts them; out [B, H, n, Dv]
 * and lse [B, H, n] f32 (lse.data may be NULL) receive this rank's rows.
 * `ring` is a CPU kernel of attnir.distributed.ring_spec (entries dense,
 * causal, merge). The K/V chunks travel the ring, the next step's transfer
 * posted before this step's kernels; partial results merge by attn.merge.
 * Returns 0 on success; on an error of one rank the others may wait. */
int attnir_ring_attention(const attnir_kernel_t *ring, const attnir_comm_t *comm,
                          int64_t seq_len, int32_t causal, int32_t zigzag,
                          const attnir_tensor_t *q, const attnir_tensor_t *k,
                          const attnir_tensor_t *v, const attnir_tensor_t *out,
                          const attnir_tensor_t *lse);

/* The all-to-all head schedule (DeepSpeed-Ulysses) of any entry whose
 * first three inputs are q, k, v [B, H, N, D] and whose outputs are
 * [B, H, N, ...]: inputs[0..2] are this rank's sequence shards (layout as
 * above), turned into the whole sequence of H / P heads by comm->alltoall;
 * the entry runs there (any mask or program that treats heads
 * independently; further inputs are passed as given, so a block list with
 * a head axis is given as this rank's heads); the results return as this
 * rank's shards into `outputs` (contiguous). H and Hkv must be multiples
 * of the world size. Host (CPU) kernels. Returns 0 on success. */
int attnir_head_attention(const attnir_kernel_t *kernel, int32_t entry,
                          const attnir_comm_t *comm, int64_t seq_len, int32_t zigzag,
                          const attnir_tensor_t *inputs, int32_t num_inputs,
                          const attnir_tensor_t *outputs, int32_t num_outputs);

#ifdef __cplusplus
}
#endif

#endif /* ATTNIR_C_ATTNIR_H */
