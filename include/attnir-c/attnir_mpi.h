/*===- attnir_mpi.h - an attnir_comm_t over an MPI communicator ----------===*
 *
 * Header only, compiled into the caller against its own MPI (libattnir
 * never links MPI):
 *
 *   attnir_mpi_ctx_t ctx;
 *   attnir_comm_t comm = attnir_mpi_comm(&ctx, MPI_COMM_WORLD);
 *   attnir_ring_attention(ring, &comm, N, 1, 1, &q, &k, &v, &out, &lse);
 *
 *===----------------------------------------------------------------------===*/

#ifndef ATTNIR_C_ATTNIR_MPI_H
#define ATTNIR_C_ATTNIR_MPI_H

#include "attnir-c/attnir.h"
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>

typedef struct {
  MPI_Comm comm;
  MPI_Request requests[2];
} attnir_mpi_ctx_t;

static inline int attnir_mpi_start(void *ctx, const void *send, size_t send_bytes,
                                   int32_t dest, void *recv, size_t recv_bytes,
                                   int32_t source, void **request) {
  attnir_mpi_ctx_t *c = (attnir_mpi_ctx_t *)ctx;
  if (send_bytes > INT_MAX || recv_bytes > INT_MAX)
    return 1; /* MPI counts are int: split larger transfers */
  if (MPI_Irecv(recv, (int)recv_bytes, MPI_BYTE, source, 97, c->comm,
                &c->requests[0]) != MPI_SUCCESS ||
      MPI_Isend(send, (int)send_bytes, MPI_BYTE, dest, 97, c->comm,
                &c->requests[1]) != MPI_SUCCESS)
    return 1;
  *request = c->requests;
  return 0;
}

static inline int attnir_mpi_wait(void *ctx, void *request) {
  (void)ctx;
  return MPI_Waitall(2, (MPI_Request *)request, MPI_STATUSES_IGNORE) != MPI_SUCCESS;
}

static inline int attnir_mpi_alltoall(void *ctx, const void *const *sends,
                                      const size_t *send_bytes, void *const *recvs,
                                      const size_t *recv_bytes) {
  attnir_mpi_ctx_t *c = (attnir_mpi_ctx_t *)ctx;
  int size = 1, i, bad = 0;
  MPI_Comm_size(c->comm, &size);
  MPI_Request *reqs = (MPI_Request *)malloc(sizeof(MPI_Request) * 2 * (size_t)size);
  if (!reqs)
    return 1;
  for (i = 0; i < size; ++i) {
    if (send_bytes[i] > INT_MAX || recv_bytes[i] > INT_MAX) {
      free(reqs);
      return 1;
    }
    bad |= MPI_Irecv(recvs[i], (int)recv_bytes[i], MPI_BYTE, i, 98, c->comm,
                     &reqs[i]) != MPI_SUCCESS;
    bad |= MPI_Isend((void *)sends[i], (int)send_bytes[i], MPI_BYTE, i, 98, c->comm,
                     &reqs[size + i]) != MPI_SUCCESS;
  }
  bad |= MPI_Waitall(2 * size, reqs, MPI_STATUSES_IGNORE) != MPI_SUCCESS;
  free(reqs);
  return bad;
}

static inline attnir_comm_t attnir_mpi_comm(attnir_mpi_ctx_t *ctx, MPI_Comm comm) {
  attnir_comm_t c;
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  ctx->comm = comm;
  c.ctx = ctx;
  c.rank = rank;
  c.size = size;
  c.start = attnir_mpi_start;
  c.wait = attnir_mpi_wait;
  c.alltoall = attnir_mpi_alltoall;
  return c;
}

#endif /* ATTNIR_C_ATTNIR_MPI_H */
