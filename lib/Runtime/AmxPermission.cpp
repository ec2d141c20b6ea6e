//===- AmxPermission.cpp - let this process use AMX tiles -----------------===//

#include "attnir/Runtime/AmxPermission.h"
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace attnir {

bool requestAmxTiles() {
#if defined(__linux__) && defined(__x86_64__)
  // ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 (asm/prctl.h);
  // granted for the whole process, so asking once is enough.
  static const bool granted = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
  return granted;
#else
  return false;
#endif
}

} // namespace attnir
