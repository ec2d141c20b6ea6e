//===- Npy.h - NumPy .npy files <-> HostTensor ------------------*- C++ -*-===//
//
// Reads and writes the NumPy .npy format (numpy.lib.format) so that inputs
// and reference outputs can be exchanged with Python. Free of LLVM/MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_SUPPORT_NPY_H
#define ATTNIR_SUPPORT_NPY_H

#include "attnir/Support/HostTensor.h"

#include <string>

namespace attnir {

/// Reads a .npy file, format version 1.0, 2.0 or 3.0, C order only.
/// Accepted descr strings:
///   '<f4' -> F32, '<f8' -> F64, '<f2' -> F16,
///   'bfloat16' (optionally '<'/'|'-prefixed), '<V2' or '|V2' -> BF16.
/// ml_dtypes' bfloat16 arrays are saved by np.save as '<V2' (a 2-byte void),
/// which is why void-2 is taken to be bf16.
/// Bytes after the data are ignored, as numpy does.
///
/// Never crashes on malformed input. On failure returns false, leaves `out`
/// untouched and sets `error` to one line naming the file, e.g.
///   cannot open 'x.npy': No such file or directory
///   'x.npy' is not a .npy file (bad magic)
///   'x.npy': unsupported dtype '<i4' (expected float32, float16, bfloat16 or
///     float64)
///   'x.npy': truncated data (expected 1048576 bytes, found 1000)
///   'x.npy': Fortran-order arrays are not supported
bool readNpy(const std::string &path, HostTensor &out, std::string &error);

/// Writes `t` as a version 1.0 .npy file (2.0 if the header would not fit),
/// with the header padded to 64 bytes as numpy does. descr is '<f4', '<f8',
/// '<f2', and '<V2' for bf16: that is exactly what np.save writes for an
/// ml_dtypes.bfloat16 array, and numpy without ml_dtypes can still load it
/// (as raw 2-byte voids; `.view(ml_dtypes.bfloat16)` recovers the values).
/// Returns false with a one-line `error` if `t` is inconsistent (negative
/// dim, data size not matching the shape) or the file cannot be written.
bool writeNpy(const std::string &path, const HostTensor &t,
              std::string &error);

} // namespace attnir

#endif // ATTNIR_SUPPORT_NPY_H
