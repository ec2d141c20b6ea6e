//===- HostTensor.cpp - dense host tensors of float dtypes ----------------===//

#include "attnir/Support/HostTensor.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

namespace attnir {

const char *dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "f32";
  case DType::BF16:
    return "bf16";
  case DType::F16:
    return "f16";
  case DType::F64:
    return "f64";
  case DType::I32:
    return "i32";
  case DType::I64:
    return "i64";
  }
  return "?";
}

size_t dtypeSize(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return 4;
  case DType::BF16:
  case DType::F16:
    return 2;
  case DType::F64:
  case DType::I64:
    return 8;
  case DType::I32:
    return 4;
  }
  return 0;
}

bool isIntegerDType(DType dtype) {
  return dtype == DType::I32 || dtype == DType::I64;
}

bool parseDType(const std::string &s, DType &out) {
  for (DType d : {DType::F32, DType::BF16, DType::F16, DType::F64,
                  DType::I32, DType::I64}) {
    if (s == dtypeName(d)) {
      out = d;
      return true;
    }
  }
  return false;
}

namespace {

/// Rounds a double to a binary format with `expBits` exponent bits and
/// `manBits` stored mantissa bits (bf16: 8/7, f16: 5/10), ties to even.
/// Works on the double's bits so the result is rounded exactly once.
uint16_t roundToSmallFloat(double v, int expBits, int manBits) {
  uint64_t in;
  std::memcpy(&in, &v, sizeof(in));
  const uint16_t sign =
      static_cast<uint16_t>((in >> 63) << (expBits + manBits));
  const int dExp = static_cast<int>((in >> 52) & 0x7ff);
  uint64_t sig = in & ((uint64_t(1) << 52) - 1);
  const uint16_t expMask = static_cast<uint16_t>((1u << expBits) - 1);
  const uint16_t infBits = static_cast<uint16_t>(expMask << manBits);

  if (dExp == 0x7ff) {
    if (sig == 0)
      return sign | infBits;
    // Canonical quiet NaN; payloads are not worth preserving here.
    return sign | infBits | static_cast<uint16_t>(1u << (manBits - 1));
  }
  if (dExp == 0 && sig == 0)
    return sign;

  // value = sig * 2^(e - 52) with sig's leading one at bit 52.
  int e;
  if (dExp == 0) {
    e = -1022;
    while (!(sig & (uint64_t(1) << 52))) {
      sig <<= 1;
      --e;
    }
  } else {
    e = dExp - 1023;
    sig |= uint64_t(1) << 52;
  }

  const int bias = (1 << (expBits - 1)) - 1;
  const int minExp = 1 - bias;
  // Bits dropped from the 53-bit significand: more once we are subnormal,
  // where the spacing stays at 2^(minExp - manBits).
  int shift = 52 - manBits;
  if (e < minExp)
    shift += minExp - e;
  uint64_t rounded;
  if (shift > 54) {
    rounded = 0; // Below half the smallest subnormal.
  } else {
    rounded = sig >> shift;
    const uint64_t rem = sig & ((uint64_t(1) << shift) - 1);
    const uint64_t half = uint64_t(1) << (shift - 1);
    if (rem > half || (rem == half && (rounded & 1)))
      ++rounded;
  }

  if (e < minExp) {
    // Counted in units of the smallest subnormal; a carry to 2^manBits lands
    // exactly on the encoding of the smallest normal.
    return sign | static_cast<uint16_t>(rounded);
  }
  if (e > bias)
    return sign | infBits;
  // A mantissa carry (rounded == 2^(manBits+1)) bumps the exponent field by
  // adding, and a carry out of the largest finite value yields inf's bits.
  const uint64_t bits = (uint64_t(e + bias) << manBits) +
                        (rounded - (uint64_t(1) << manBits));
  if (bits >= infBits)
    return sign | infBits;
  return sign | static_cast<uint16_t>(bits);
}

double smallFloatToDouble(uint16_t bits, int expBits, int manBits) {
  const bool negative = (bits >> (expBits + manBits)) & 1;
  const int expField = (bits >> manBits) & ((1 << expBits) - 1);
  const int man = bits & ((1 << manBits) - 1);
  const int bias = (1 << (expBits - 1)) - 1;
  double mag;
  if (expField == (1 << expBits) - 1)
    mag = man ? std::numeric_limits<double>::quiet_NaN()
              : std::numeric_limits<double>::infinity();
  else if (expField == 0)
    mag = std::ldexp(static_cast<double>(man), 1 - bias - manBits);
  else
    mag = std::ldexp(static_cast<double>(man | (1 << manBits)),
                     expField - bias - manBits);
  return negative ? -mag : mag;
}

// Explicit little-endian (de)serialisation keeps get/set correct on any host.
uint64_t loadLE(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i)
    v |= uint64_t(p[i]) << (8 * i);
  return v;
}

void storeLE(uint8_t *p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i)
    p[i] = static_cast<uint8_t>(v >> (8 * i));
}

} // namespace

uint16_t doubleToBF16Bits(double v) { return roundToSmallFloat(v, 8, 7); }
uint16_t doubleToF16Bits(double v) { return roundToSmallFloat(v, 5, 10); }
double bf16BitsToDouble(uint16_t bits) {
  return smallFloatToDouble(bits, 8, 7);
}
double f16BitsToDouble(uint16_t bits) {
  return smallFloatToDouble(bits, 5, 10);
}

int64_t HostTensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

HostTensor HostTensor::zeros(DType dtype, std::vector<int64_t> shape) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  for ([[maybe_unused]] int64_t d : t.shape)
    assert(d >= 0 && "negative dimension");
  t.data.assign(static_cast<size_t>(t.numElements()) * dtypeSize(dtype), 0);
  return t;
}

double HostTensor::get(int64_t flatIndex) const {
  const size_t size = dtypeSize(dtype);
  assert(flatIndex >= 0 &&
         static_cast<size_t>(flatIndex) * size + size <= data.size() &&
         "index out of range");
  const uint64_t bits = loadLE(data.data() + flatIndex * size, size);
  switch (dtype) {
  case DType::F32: {
    const uint32_t b32 = static_cast<uint32_t>(bits);
    float f;
    std::memcpy(&f, &b32, sizeof(f));
    return f;
  }
  case DType::F64: {
    double d;
    std::memcpy(&d, &bits, sizeof(d));
    return d;
  }
  case DType::BF16:
    return bf16BitsToDouble(static_cast<uint16_t>(bits));
  case DType::F16:
    return f16BitsToDouble(static_cast<uint16_t>(bits));
  case DType::I32:
  case DType::I64:
    return static_cast<double>(getInt(flatIndex));
  }
  return 0.0;
}

int64_t HostTensor::getInt(int64_t flatIndex) const {
  if (!isIntegerDType(dtype))
    return static_cast<int64_t>(get(flatIndex));
  const size_t size = dtypeSize(dtype);
  assert(flatIndex >= 0 &&
         static_cast<size_t>(flatIndex) * size + size <= data.size() &&
         "index out of range");
  const uint64_t bits = loadLE(data.data() + flatIndex * size, size);
  if (dtype == DType::I32)
    return static_cast<int32_t>(static_cast<uint32_t>(bits));
  return static_cast<int64_t>(bits);
}

void HostTensor::setInt(int64_t flatIndex, int64_t v) {
  if (!isIntegerDType(dtype))
    return set(flatIndex, static_cast<double>(v));
  const size_t size = dtypeSize(dtype);
  assert(flatIndex >= 0 &&
         static_cast<size_t>(flatIndex) * size + size <= data.size() &&
         "index out of range");
  storeLE(data.data() + flatIndex * size, static_cast<uint64_t>(v), size);
}

void HostTensor::set(int64_t flatIndex, double v) {
  const size_t size = dtypeSize(dtype);
  assert(flatIndex >= 0 &&
         static_cast<size_t>(flatIndex) * size + size <= data.size() &&
         "index out of range");
  uint64_t bits = 0;
  switch (dtype) {
  case DType::F32: {
    // The double -> float conversion rounds to nearest even (the default
    // floating-point environment) and handles inf/nan/subnormals.
    const float f = static_cast<float>(v);
    uint32_t b32;
    std::memcpy(&b32, &f, sizeof(b32));
    bits = b32;
    break;
  }
  case DType::F64:
    std::memcpy(&bits, &v, sizeof(bits));
    break;
  case DType::BF16:
    bits = doubleToBF16Bits(v);
    break;
  case DType::F16:
    bits = doubleToF16Bits(v);
    break;
  case DType::I32:
  case DType::I64: {
    // Saturating, NaN to 0: never undefined behaviour on any double.
    double r = std::nearbyint(v);
    int64_t x = std::isnan(r) ? 0
                : r >= 9.2233720368547758e18 ? INT64_MAX
                : r < -9.2233720368547758e18 ? INT64_MIN
                                             : static_cast<int64_t>(r);
    if (dtype == DType::I32)
      x = std::clamp<int64_t>(x, INT32_MIN, INT32_MAX);
    bits = static_cast<uint64_t>(x);
    break;
  }
  }
  storeLE(data.data() + flatIndex * size, bits, size);
}

std::vector<double> HostTensor::toDoubles() const {
  const int64_t n = numElements();
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    out[i] = get(i);
  return out;
}

std::string HostTensor::shapeString() const {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += 'x';
    s += std::to_string(shape[i]);
  }
  return s;
}

void fillRandomNormal(HostTensor &t, uint64_t seed, double stddev) {
  std::mt19937_64 gen(seed);
  // 53 random bits -> a double in (0, 1]; never 0, so log() is finite.
  auto uniform = [&gen]() {
    return static_cast<double>((gen() >> 11) + 1) * 0x1.0p-53;
  };
  const double twoPi = 6.283185307179586476925286766559;
  const int64_t n = t.numElements();
  for (int64_t i = 0; i < n; i += 2) {
    const double r = std::sqrt(-2.0 * std::log(uniform()));
    const double theta = twoPi * uniform();
    t.set(i, r * std::cos(theta) * stddev);
    if (i + 1 < n)
      t.set(i + 1, r * std::sin(theta) * stddev);
  }
}

int64_t findNonFinite(const HostTensor &t) {
  if (isIntegerDType(t.dtype))
    return -1;
  const int64_t n = t.numElements();
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(t.get(i)))
      return i;
  return -1;
}

} // namespace attnir
