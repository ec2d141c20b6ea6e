// Force-included (-include) into every file of the sanitizer build
// (scripts/test.sh --sanitize). LLVM's headers poison and unpoison the slabs
// of BumpPtrAllocator inline when the including file is built with ASan, but
// Debian's libLLVM/libMLIR are not: memory poisoned by our inlined copy is
// then written by the library's uninstrumented copy, and ASan reports a
// use-after-poison that is not there. Making the manual poisoning a no-op
// keeps every real check (heap, stack, globals) and drops only that one.
#pragma once
#include <sanitizer/asan_interface.h>
#define __asan_poison_memory_region(p, size) ((void)(p), (void)(size))
#define __asan_unpoison_memory_region(p, size) ((void)(p), (void)(size))
