//===- FuzzNpy.cpp - libFuzzer target: the .npy reader --------------------===//
//
// Any bytes as a .npy file (through an in-memory file, as attnc reads a
// path): the reader must accept it or say why, never read past it, and
// never allocate what the header merely claims (issue 15, case 5).
//
//===----------------------------------------------------------------------===//

#include "attnir/Support/Npy.h"
#include <cstdlib>
#include <sys/mman.h>
#include <unistd.h>

using namespace attnir;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int fd = memfd_create("attnir-fuzz-npy", MFD_CLOEXEC);
  static std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (fd < 0 || ftruncate(fd, 0) != 0 ||
      pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))
    std::abort();
  HostTensor t;
  std::string err;
  if (readNpy(path, t, err)) {
    // What was read is whole: the bytes its shape and dtype say.
    if (t.data.size() != static_cast<size_t>(t.numElements()) *
                             dtypeSize(t.dtype))
      std::abort();
  } else if (err.empty()) {
    std::abort(); // a refusal always says why
  }
  return 0;
}
