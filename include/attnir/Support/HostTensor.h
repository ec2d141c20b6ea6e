//===- HostTensor.h - dense host tensors of float dtypes --------*- C++ -*-===//
//
// A plain owning buffer for the tensors the tools feed to and read back from
// compiled kernels (Q, K, V, O). Deliberately free of LLVM/MLIR so that the
// runtime-only build can use it too.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_SUPPORT_HOSTTENSOR_H
#define ATTNIR_SUPPORT_HOSTTENSOR_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace attnir {

/// Element types the kernels take: floats for data, i32/i64 for index
/// operands (block lists, document ids). bf16/f16 are stored as raw IEEE bit
/// patterns; there is no portable C++17 type for them.
enum class DType { F32, BF16, F16, F64, I32, I64 };

/// True for I32 and I64.
bool isIntegerDType(DType dtype);

/// MLIR spelling: "f32", "bf16", "f16", "f64", "i32", "i64".
const char *dtypeName(DType dtype);
/// Bytes per element.
size_t dtypeSize(DType dtype);
/// Accepts exactly the spellings dtypeName returns. Leaves `out` unchanged
/// and returns false for anything else.
bool parseDType(const std::string &s, DType &out);

/// Rounds `v` to the nearest bf16 / f16 (ties to even) and returns its bit
/// pattern. Rounds straight from double (no detour through float, which would
/// round twice). Overflow gives inf, NaN gives a quiet NaN of the same sign,
/// f16 subnormals are produced.
uint16_t doubleToBF16Bits(double v);
uint16_t doubleToF16Bits(double v);
/// Exact widening of a bf16 / f16 bit pattern.
double bf16BitsToDouble(uint16_t bits);
double f16BitsToDouble(uint16_t bits);

/// A contiguous row-major tensor. `data` holds numElements() * dtypeSize()
/// bytes, little endian (the .npy layout; raw() hands it to kernels as is,
/// which assumes a little-endian host).
struct HostTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;

  /// Product of `shape`; 1 for a 0-d tensor.
  int64_t numElements() const;
  static HostTensor zeros(DType dtype, std::vector<int64_t> shape);

  /// Element `flatIndex` as a double (exact for every float dtype and for
  /// integers up to 2^53).
  double get(int64_t flatIndex) const;
  /// Element `flatIndex` of an integer tensor, exactly (floats: truncated).
  int64_t getInt(int64_t flatIndex) const;
  /// Stores an integer exactly (i32: wraps to 32 bits; floats: rounded).
  void setInt(int64_t flatIndex, int64_t v);
  /// Stores `v` rounded to the dtype (round to nearest even).
  void set(int64_t flatIndex, double v);
  std::vector<double> toDoubles() const;

  void *raw() { return data.data(); }
  const void *raw() const { return data.data(); }

  /// "1x8x4096x64"; the empty string for a 0-d tensor (as in MLIR's
  /// `tensor<f32>`).
  std::string shapeString() const;
};

/// Fills `t` with N(0, 1) * stddev samples rounded to its dtype. Uses
/// std::mt19937_64 (fully specified by the standard) and our own Box-Muller
/// rather than std::normal_distribution (whose algorithm differs between
/// libstdc++ and libc++), so a seed gives the same tensor everywhere.
void fillRandomNormal(HostTensor &t, uint64_t seed, double stddev = 1.0);

/// Index of the first NaN or Inf element, or -1 (always -1 for integers).
int64_t findNonFinite(const HostTensor &t);

} // namespace attnir

#endif // ATTNIR_SUPPORT_HOSTTENSOR_H
