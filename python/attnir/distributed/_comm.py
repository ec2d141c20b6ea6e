"""The transports: an existing engine's point-to-point and all-to-all, seen
through one small interface. Never a home-made transport.

- mpi4py communicators (CPU processes, numpy arrays): Isend/Irecv and
  Alltoallv on the arrays' bytes.
- torch.distributed process groups (NCCL between GPUs, gloo between CPU
  processes; torch tensors): batch_isend_irecv and all_to_all_single. The
  calls queue on the group's streams and order with torch's current stream,
  so a kernel queued meanwhile overlaps the transfer and no host waits.
"""
import sys


class Exchange:
    """A transfer in flight; wait() returns the received arrays."""

    def __init__(self, wait):
        self._wait = wait
        self._done = None

    def wait(self):
        if self._done is None:
            self._done = self._wait()
        return self._done


class MPIComm:
    """mpi4py communicator, numpy arrays."""

    def __init__(self, comm):
        from mpi4py import MPI
        self._MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.device = "cpu"

    @staticmethod
    def _bytes(a):
        import numpy as np
        if not a.flags.c_contiguous:
            a = np.ascontiguousarray(a)
        return a, a.reshape(-1).view(np.uint8)

    def exchange(self, arrays, dest, source, like):
        """Sends `arrays` to `dest`, receives arrays shaped like `like`
        (shape, dtype pairs) from `source`."""
        import numpy as np
        MPI = self._MPI
        recv = [np.empty(shape, dtype) for shape, dtype in like]
        reqs, keep = [], []
        for i, a in enumerate(arrays):
            a, b = self._bytes(a)
            keep.append(a)
            reqs.append(self.comm.Isend([b, MPI.BYTE], dest=dest, tag=100 + i))
        for i, r in enumerate(recv):
            reqs.append(self.comm.Irecv([r.reshape(-1).view(np.uint8), MPI.BYTE],
                                        source=source, tag=100 + i))

        def wait():
            MPI.Request.Waitall(reqs)
            keep.clear()
            return recv
        return Exchange(wait)

    def send(self, arrays, dest):
        MPI = self._MPI
        for i, a in enumerate(arrays):
            self.comm.Send([self._bytes(a)[1], MPI.BYTE], dest=dest, tag=200 + i)

    def recv(self, like, source):
        import numpy as np
        MPI = self._MPI
        out = [np.empty(shape, dtype) for shape, dtype in like]
        for i, r in enumerate(out):
            self.comm.Recv([r.reshape(-1).view(np.uint8), MPI.BYTE], source=source,
                           tag=200 + i)
        return out

    def all_to_all(self, sends, like):
        """sends[r] goes to rank r; returns the arrays from every rank, shaped
        like like[r] (shape, dtype)."""
        import numpy as np
        MPI = self._MPI
        sb = [self._bytes(s)[1] for s in sends]
        recv = [np.empty(shape, dtype) for shape, dtype in like]
        rb = [r.reshape(-1).view(np.uint8) for r in recv]
        scount = [b.size for b in sb]
        rcount = [b.size for b in rb]
        sdisp = [sum(scount[:i]) for i in range(self.size)]
        rdisp = [sum(rcount[:i]) for i in range(self.size)]
        sbuf = np.concatenate(sb) if sb else np.empty(0, np.uint8)
        rbuf = np.empty(sum(rcount), np.uint8)
        self.comm.Alltoallv([sbuf, scount, sdisp, MPI.BYTE],
                            [rbuf, rcount, rdisp, MPI.BYTE])
        for b, d, c in zip(rb, rdisp, rcount):
            b[:] = rbuf[d:d + c]
        return recv

    def barrier(self):
        self.comm.Barrier()


class TorchComm:
    """torch.distributed process group (None: the default group), tensors."""

    def __init__(self, group=None):
        import torch.distributed as dist
        self._dist = dist
        if not dist.is_initialized():
            raise RuntimeError("torch.distributed is not initialised: call "
                               "torch.distributed.init_process_group first")
        self.group = group
        self.rank = dist.get_rank(group)
        self.size = dist.get_world_size(group)
        self.device = None

    def _global(self, r):
        if self.group is None:
            return r
        return self._dist.get_global_rank(self.group, r)

    def exchange(self, tensors, dest, source, like):
        import torch
        dist = self._dist
        recv = [torch.empty(shape, dtype=dtype, device=tensors[0].device)
                for shape, dtype in like]
        ops = [dist.P2POp(dist.isend, t.contiguous(), self._global(dest), self.group)
               for t in tensors]
        ops += [dist.P2POp(dist.irecv, r, self._global(source), self.group)
                for r in recv]
        reqs = dist.batch_isend_irecv(ops)

        def wait():
            for q in reqs:
                q.wait()
            return recv
        return Exchange(wait)

    def send(self, tensors, dest):
        for t in tensors:
            self._dist.send(t.contiguous(), self._global(dest), group=self.group)

    def recv(self, like, source, device=None):
        import torch
        out = [torch.empty(shape, dtype=dtype, device=device or self._device())
               for shape, dtype in like]
        for r in out:
            self._dist.recv(r, self._global(source), group=self.group)
        return out

    def _device(self):
        import torch
        if self._dist.get_backend(self.group) == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def all_to_all(self, sends, like):
        import torch
        device = sends[0].device
        flat_in = torch.cat([s.contiguous().reshape(-1) for s in sends])
        sizes_out = [int(torch.Size(shape).numel()) for shape, _ in like]
        flat_out = torch.empty(sum(sizes_out), dtype=flat_in.dtype, device=device)
        self._dist.all_to_all_single(flat_out, flat_in, sizes_out,
                                     [s.numel() for s in sends], group=self.group)
        out, at = [], 0
        for (shape, _), n in zip(like, sizes_out):
            out.append(flat_out[at:at + n].view(shape))
            at += n
        return out

    def barrier(self):
        self._dist.barrier(group=self.group)


def wrap(comm):
    """The transport for `comm`: an mpi4py communicator, a torch process
    group, None (torch's default group), or one of ours."""
    if isinstance(comm, (MPIComm, TorchComm)):
        return comm
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and isinstance(comm, mpi.Comm):
        return MPIComm(comm)
    dist = sys.modules.get("torch.distributed")
    if comm is None and dist is not None:
        return TorchComm(None)
    if dist is not None and isinstance(comm, dist.ProcessGroup):
        return TorchComm(comm)
    raise TypeError(f"comm must be an mpi4py communicator or a torch.distributed "
                    f"process group (None: the default group), got {type(comm).__name__}")
