//===- AmxPermission.h - let this process use AMX tiles --------*- C++ -*-===//
//
// Linux gives a process AMX's tile state only on request
// (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)); the first tile
// instruction without it raises SIGILL. Kernels compiled with bf16-dot=2 use
// the tiles, so the runtime asks before it loads or JIT-compiles a kernel.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_RUNTIME_AMXPERMISSION_H
#define ATTNIR_RUNTIME_AMXPERMISSION_H

namespace attnir {

/// Requests AMX tile state for this process, once; true when granted
/// (false on kernels or CPUs without AMX, where no kernel uses it).
bool requestAmxTiles();

} // namespace attnir

#endif
