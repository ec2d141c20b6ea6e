//===- SupportTest.cpp - HostTensor and .npy tests ------------------------===//

#include "attnir/Driver/CudaCompiler.h"
#include "attnir/Support/HostTensor.h"
#include "attnir/Support/Npy.h"
#include "attnir/Runtime/EntryABI.h"
#include "attnir/Runtime/HeadViews.h"
#include "attnir/Runtime/Workspace.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <unistd.h>

using namespace attnir;

namespace {

const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

//===----------------------------------------------------------------------===//
// dtype names
//===----------------------------------------------------------------------===//

TEST(DType, NamesAndSizes) {
  for (DType d : {DType::F32, DType::BF16, DType::F16, DType::F64, DType::I32,
                  DType::I64}) {
    DType parsed = DType::F64;
    ASSERT_TRUE(parseDType(dtypeName(d), parsed));
    EXPECT_EQ(parsed, d);
  }
  EXPECT_STREQ(dtypeName(DType::BF16), "bf16");
  EXPECT_EQ(dtypeSize(DType::F32), 4u);
  EXPECT_EQ(dtypeSize(DType::BF16), 2u);
  EXPECT_EQ(dtypeSize(DType::F16), 2u);
  EXPECT_EQ(dtypeSize(DType::F64), 8u);
  EXPECT_EQ(dtypeSize(DType::I32), 4u);
  EXPECT_EQ(dtypeSize(DType::I64), 8u);
  EXPECT_TRUE(isIntegerDType(DType::I32));
  EXPECT_FALSE(isIntegerDType(DType::F32));
  DType unchanged = DType::F16;
  EXPECT_FALSE(parseDType("float32", unchanged));
  EXPECT_FALSE(parseDType("F32", unchanged));
  EXPECT_FALSE(parseDType("", unchanged));
  EXPECT_EQ(unchanged, DType::F16);
}

//===----------------------------------------------------------------------===//
// bf16 / f16 rounding
//===----------------------------------------------------------------------===//

TEST(Rounding, BF16RoundToNearestEven) {
  EXPECT_EQ(doubleToBF16Bits(1.0), 0x3f80);
  EXPECT_EQ(doubleToBF16Bits(-2.0), 0xc000);
  // bf16 spacing at 1 is 2^-7: halfway cases go to the even mantissa.
  EXPECT_EQ(doubleToBF16Bits(1.0 + 0x1p-8), 0x3f80);         // tie -> even
  EXPECT_EQ(doubleToBF16Bits(1.0 + 3 * 0x1p-8), 0x3f82);     // tie -> even
  EXPECT_EQ(doubleToBF16Bits(1.0 + 0x1p-8 + 0x1p-30), 0x3f81); // above tie
  EXPECT_EQ(doubleToBF16Bits(1.0 + 0x1p-8 - 0x1p-30), 0x3f80); // below tie
  // Just above a tie only in bits a float would drop: rounding via float
  // first would give the even value 0x3f80 (double rounding).
  EXPECT_EQ(doubleToBF16Bits(1.0 + 0x1p-8 + 0x1p-40), 0x3f81);
  // Mantissa carry into the exponent.
  EXPECT_EQ(doubleToBF16Bits(2.0 - 0x1p-9), 0x4000);
}

TEST(Rounding, BF16SpecialValues) {
  EXPECT_EQ(doubleToBF16Bits(0.0), 0x0000);
  EXPECT_EQ(doubleToBF16Bits(-0.0), 0x8000);
  EXPECT_EQ(doubleToBF16Bits(kInf), 0x7f80);
  EXPECT_EQ(doubleToBF16Bits(-kInf), 0xff80);
  EXPECT_TRUE(std::isnan(bf16BitsToDouble(doubleToBF16Bits(kNaN))));
  EXPECT_TRUE(std::isnan(bf16BitsToDouble(doubleToBF16Bits(-kNaN))));
  // Largest finite bf16 is 0x7f7f = (2 - 2^-7) * 2^127; its half-ulp tie
  // rounds to even, which is inf.
  const double maxBF16 = bf16BitsToDouble(0x7f7f);
  EXPECT_EQ(maxBF16, (2.0 - 0x1p-7) * 0x1p127);
  EXPECT_EQ(doubleToBF16Bits(maxBF16), 0x7f7f);
  EXPECT_EQ(doubleToBF16Bits(maxBF16 + 0x1p119), 0x7f80);
  EXPECT_EQ(doubleToBF16Bits(1e300), 0x7f80);
  EXPECT_EQ(doubleToBF16Bits(-1e300), 0xff80);
  // bf16 subnormals (float's): smallest is 2^-133.
  EXPECT_EQ(doubleToBF16Bits(0x1p-133), 0x0001);
  EXPECT_EQ(bf16BitsToDouble(0x0001), 0x1p-133);
  EXPECT_EQ(doubleToBF16Bits(0x1p-134), 0x0000);            // tie -> even 0
  EXPECT_EQ(doubleToBF16Bits(0x1p-134 + 0x1p-140), 0x0001); // above tie
  EXPECT_EQ(doubleToBF16Bits(1e-300), 0x0000);
  EXPECT_EQ(doubleToBF16Bits(-1e-300), 0x8000);
  EXPECT_EQ(doubleToBF16Bits(std::numeric_limits<double>::denorm_min()), 0);
}

TEST(Rounding, F16RoundToNearestEven) {
  EXPECT_EQ(doubleToF16Bits(1.0), 0x3c00);
  EXPECT_EQ(doubleToF16Bits(-1.5), 0xbe00);
  EXPECT_EQ(doubleToF16Bits(1.0 + 0x1p-11), 0x3c00);     // tie -> even
  EXPECT_EQ(doubleToF16Bits(1.0 + 3 * 0x1p-11), 0x3c02); // tie -> even
  EXPECT_EQ(doubleToF16Bits(1.0 + 0x1p-11 + 0x1p-40), 0x3c01);
  EXPECT_EQ(doubleToF16Bits(65504.0), 0x7bff);
  EXPECT_EQ(doubleToF16Bits(65519.99), 0x7bff); // below the tie
  EXPECT_EQ(doubleToF16Bits(65520.0), 0x7c00);  // tie rounds to even: inf
  EXPECT_EQ(doubleToF16Bits(-70000.0), 0xfc00);
  EXPECT_EQ(doubleToF16Bits(kInf), 0x7c00);
  EXPECT_EQ(doubleToF16Bits(-kInf), 0xfc00);
  EXPECT_TRUE(std::isnan(f16BitsToDouble(doubleToF16Bits(kNaN))));
  EXPECT_EQ(doubleToF16Bits(-0.0), 0x8000);
}

TEST(Rounding, F16Subnormals) {
  const double minSub = 0x1p-24, minNormal = 0x1p-14;
  EXPECT_EQ(doubleToF16Bits(minSub), 0x0001);
  EXPECT_EQ(doubleToF16Bits(-minSub), 0x8001);
  EXPECT_EQ(f16BitsToDouble(0x0001), minSub);
  EXPECT_EQ(f16BitsToDouble(0x03ff), minNormal - minSub);
  EXPECT_EQ(doubleToF16Bits(minNormal - minSub), 0x03ff);
  EXPECT_EQ(doubleToF16Bits(minNormal), 0x0400);
  EXPECT_EQ(doubleToF16Bits(0.5 * minSub), 0x0000);          // tie -> 0
  EXPECT_EQ(doubleToF16Bits(1.5 * minSub), 0x0002);          // tie -> even
  EXPECT_EQ(doubleToF16Bits(2.5 * minSub), 0x0002);          // tie -> even
  EXPECT_EQ(doubleToF16Bits(0.5 * minSub + 0x1p-40), 0x0001); // above tie
  // Largest subnormal plus a half ulp carries into the smallest normal.
  EXPECT_EQ(doubleToF16Bits(minNormal - 0.5 * minSub), 0x0400);
  EXPECT_EQ(doubleToF16Bits(1e-10), 0x0000);
}

TEST(Rounding, ExhaustiveWideningRoundTrips) {
  // Every finite bf16/f16 value widens exactly and rounds back to itself.
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const uint16_t bits = static_cast<uint16_t>(b);
    const double bf = bf16BitsToDouble(bits);
    if (!std::isnan(bf)) {
      ASSERT_EQ(doubleToBF16Bits(bf), bits) << std::hex << b;
      // bf16 is the top half of a float.
      const uint32_t f32bits = b << 16;
      float f;
      std::memcpy(&f, &f32bits, sizeof(f));
      ASSERT_EQ(bf, static_cast<double>(f)) << std::hex << b;
    }
    const double h = f16BitsToDouble(bits);
    if (!std::isnan(h)) {
      ASSERT_EQ(doubleToF16Bits(h), bits) << std::hex << b;
    }
  }
}

TEST(Rounding, AgreesWithFloatWhereNoDoubleRounding) {
  // For values that are exactly floats, rounding to bf16 must match the
  // classic float-bits RNE trick.
  for (uint32_t i = 0; i < 200000; ++i) {
    const uint32_t f32bits = i * 2654435761u;
    float f;
    std::memcpy(&f, &f32bits, sizeof(f));
    if (std::isnan(f))
      continue;
    const uint32_t lsb = (f32bits >> 16) & 1;
    const uint32_t expected = (f32bits + 0x7fff + lsb) >> 16;
    ASSERT_EQ(doubleToBF16Bits(f), expected) << std::hex << f32bits;
  }
}

//===----------------------------------------------------------------------===//
// HostTensor
//===----------------------------------------------------------------------===//

TEST(HostTensor, Basics) {
  HostTensor t = HostTensor::zeros(DType::BF16, {1, 8, 3, 5});
  EXPECT_EQ(t.numElements(), 120);
  EXPECT_EQ(t.data.size(), 240u);
  EXPECT_EQ(t.shapeString(), "1x8x3x5");
  EXPECT_EQ(t.get(7), 0.0);
  t.set(7, 1.0 + 0x1p-8 + 0x1p-30);
  EXPECT_EQ(t.get(7), 1.0 + 0x1p-7);
  // Stored little endian.
  EXPECT_EQ(t.data[14], 0x81);
  EXPECT_EQ(t.data[15], 0x3f);

  HostTensor s = HostTensor::zeros(DType::F64, {});
  EXPECT_EQ(s.numElements(), 1);
  EXPECT_EQ(s.shapeString(), "");
  s.set(0, 0.1);
  EXPECT_EQ(s.get(0), 0.1);

  HostTensor e = HostTensor::zeros(DType::F32, {3, 0});
  EXPECT_EQ(e.numElements(), 0);
  EXPECT_TRUE(e.data.empty());
  EXPECT_TRUE(e.toDoubles().empty());

  HostTensor f = HostTensor::zeros(DType::F32, {3});
  f.set(0, 0.1);
  f.set(1, 1e-45); // f32 subnormal
  f.set(2, 1e39);  // overflow
  EXPECT_EQ(f.toDoubles(),
            (std::vector<double>{static_cast<double>(0.1f),
                                 static_cast<double>(1e-45f), kInf}));
}

// Index operands (block lists, document ids): exact integers, and set()
// from any double is defined (saturating, NaN to 0).
TEST(HostTensor, IntegerDTypes) {
  HostTensor a = HostTensor::zeros(DType::I32, {4});
  a.setInt(0, -7);
  a.setInt(1, INT32_MAX);
  a.set(2, 1e300);
  a.set(3, std::nan(""));
  EXPECT_EQ(a.getInt(0), -7);
  EXPECT_EQ(a.getInt(1), INT32_MAX);
  EXPECT_EQ(a.getInt(2), INT32_MAX);
  EXPECT_EQ(a.getInt(3), 0);
  EXPECT_EQ(a.get(0), -7.0);
  EXPECT_EQ(findNonFinite(a), -1);
  HostTensor b = HostTensor::zeros(DType::I64, {2});
  b.setInt(0, (int64_t(1) << 60) + 1); // beyond a double's 53 bits
  b.set(1, -1e300);
  EXPECT_EQ(b.getInt(0), (int64_t(1) << 60) + 1);
  EXPECT_EQ(b.getInt(1), INT64_MIN);
}

TEST(HostTensor, FindNonFinite) {
  for (DType d : {DType::F32, DType::BF16, DType::F16, DType::F64}) {
    HostTensor t = HostTensor::zeros(d, {4, 5});
    EXPECT_EQ(findNonFinite(t), -1);
    t.set(13, -kInf);
    t.set(17, kNaN);
    EXPECT_EQ(findNonFinite(t), 13) << dtypeName(d);
    t.set(13, 1.0);
    EXPECT_EQ(findNonFinite(t), 17) << dtypeName(d);
  }
  // Overflow on conversion produces inf, which is then found.
  HostTensor h = HostTensor::zeros(DType::F16, {2});
  h.set(1, 1e6);
  EXPECT_EQ(findNonFinite(h), 1);
  EXPECT_EQ(findNonFinite(HostTensor::zeros(DType::F32, {0})), -1);
}

TEST(HostTensor, FillRandomNormalDeterministic) {
  HostTensor a = HostTensor::zeros(DType::F32, {3, 1001});
  HostTensor b = HostTensor::zeros(DType::F32, {3, 1001});
  HostTensor c = HostTensor::zeros(DType::F32, {3, 1001});
  fillRandomNormal(a, 42);
  fillRandomNormal(b, 42);
  fillRandomNormal(c, 43);
  EXPECT_EQ(a.data, b.data);
  EXPECT_NE(a.data, c.data);
  // Pin the first values so a change of algorithm is noticed (they must be
  // identical across standard libraries; NEAR leaves room for libm's
  // last-bit differences in log/cos/sin).
  HostTensor d = HostTensor::zeros(DType::F64, {3});
  fillRandomNormal(d, 0);
  EXPECT_NEAR(d.get(0), 1.9128045292843208, 1e-12);
  EXPECT_NEAR(d.get(1), -0.094479561125841355, 1e-12);
  EXPECT_NEAR(d.get(2), -2.0794079062393935, 1e-12);
  EXPECT_EQ(findNonFinite(a), -1);
}

TEST(HostTensor, FillRandomNormalStatistics) {
  for (DType dt : {DType::F32, DType::BF16, DType::F16, DType::F64}) {
    HostTensor t = HostTensor::zeros(dt, {1, 4, 128, 65}); // odd count too
    const double stddev = 0.5;
    fillRandomNormal(t, 7, stddev);
    std::vector<double> v = t.toDoubles();
    double sum = 0, sumSq = 0;
    for (double x : v) {
      sum += x;
      sumSq += x * x;
    }
    const double n = static_cast<double>(v.size());
    const double mean = sum / n;
    const double sd = std::sqrt(sumSq / n - mean * mean);
    EXPECT_NEAR(mean, 0.0, 0.02) << dtypeName(dt);
    EXPECT_NEAR(sd, stddev, 0.02) << dtypeName(dt);
    EXPECT_EQ(findNonFinite(t), -1);
    // The last (odd) element is written too.
    EXPECT_NE(v.back(), 0.0);
  }
}

//===----------------------------------------------------------------------===//
// .npy
//===----------------------------------------------------------------------===//

class NpyTest : public ::testing::Test {
protected:
  std::string path(const std::string &leaf) {
    const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string p = ::testing::TempDir() + "attnir_support_" + info->name() +
                    "_" + leaf;
    created.push_back(p);
    return p;
  }

  void TearDown() override {
    for (const std::string &p : created)
      std::remove(p.c_str());
  }

  static void writeBytes(const std::string &p, const std::string &bytes) {
    std::ofstream os(p, std::ios::binary);
    os.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  /// A .npy file with the given header text (written verbatim), version
  /// and payload.
  static std::string npyBytes(const std::string &header,
                              const std::string &payload, int major = 1) {
    std::string s("\x93NUMPY", 6);
    s += static_cast<char>(major);
    s += '\0';
    const size_t len = header.size();
    s += static_cast<char>(len & 0xff);
    s += static_cast<char>((len >> 8) & 0xff);
    if (major != 1) {
      s += static_cast<char>((len >> 16) & 0xff);
      s += static_cast<char>((len >> 24) & 0xff);
    }
    return s + header + payload;
  }

  /// Expects readNpy to fail with exactly `expected`, leaving `out` alone.
  void expectError(const std::string &p, const std::string &expected) {
    HostTensor out = HostTensor::zeros(DType::F64, {1});
    std::string error;
    EXPECT_FALSE(readNpy(p, out, error));
    EXPECT_EQ(error, expected);
    EXPECT_EQ(error.find('\n'), std::string::npos);
    EXPECT_EQ(out.dtype, DType::F64);
    EXPECT_EQ(out.shape, std::vector<int64_t>{1});
  }

  /// Expects a parse error starting with "'p': " + `prefix`.
  void expectErrorPrefix(const std::string &p, const std::string &prefix) {
    HostTensor out;
    std::string error;
    EXPECT_FALSE(readNpy(p, out, error));
    EXPECT_EQ(error.rfind("'" + p + "': " + prefix, 0), 0u) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }

  std::vector<std::string> created;
};

TEST_F(NpyTest, RoundTripEveryDType) {
  const std::vector<std::vector<int64_t>> shapes = {
      {}, {1}, {7}, {3, 5}, {2, 3, 5, 7}, {1, 1, 13, 1}, {0}, {4, 0, 2}};
  // Integers get rounded (and saturated) samples: a round trip all the same.
  for (DType dt : {DType::F32, DType::BF16, DType::F16, DType::F64, DType::I32,
                   DType::I64}) {
    for (size_t si = 0; si < shapes.size(); ++si) {
      HostTensor t = HostTensor::zeros(dt, shapes[si]);
      fillRandomNormal(t, si, 3.0);
      if (t.numElements() > 2) {
        t.set(0, kInf);
        t.set(1, -0.0);
      }
      const std::string p =
          path(std::string(dtypeName(dt)) + std::to_string(si) + ".npy");
      std::string error;
      ASSERT_TRUE(writeNpy(p, t, error)) << error;
      HostTensor back;
      ASSERT_TRUE(readNpy(p, back, error)) << error;
      EXPECT_EQ(back.dtype, dt);
      EXPECT_EQ(back.shape, t.shape);
      EXPECT_EQ(back.data, t.data);

      // Header padded so the data is 64-byte aligned, as numpy does.
      std::ifstream is(p, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(is)),
                        std::istreambuf_iterator<char>());
      EXPECT_EQ((bytes.size() - t.data.size()) % 64, 0u);
      EXPECT_EQ(bytes[bytes.size() - t.data.size() - 1], '\n');
    }
  }
}

TEST_F(NpyTest, HeaderText) {
  HostTensor t = HostTensor::zeros(DType::BF16, {5});
  const std::string p = path("h.npy");
  std::string error;
  ASSERT_TRUE(writeNpy(p, t, error)) << error;
  std::ifstream is(p, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(is)),
                    std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ(bytes.substr(10, 60),
            "{'descr': '<V2', 'fortran_order': False, 'shape': (5,), }   ");
}

TEST_F(NpyTest, ReadsNumpyVariants) {
  const std::string payload("\x00\x00\x80\x3f", 4); // f32 0, then bf16 1.0
  struct Case {
    std::string header;
    int major;
    DType dtype;
    std::vector<int64_t> shape;
  } cases[] = {
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n", 1,
       DType::F32, {1}},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n", 2,
       DType::F32, {1}},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n", 3,
       DType::F32, {1}},
      {"{\"descr\":\"<f2\",\"fortran_order\":False,\"shape\":(2,)}", 1,
       DType::F16, {2}},
      {"{'shape': (1L, 2L), 'fortran_order': False, 'descr': '|V2'}  \n", 1,
       DType::BF16, {1, 2}},
      {"{'descr': 'bfloat16', 'fortran_order': False, 'shape': [2]}", 1,
       DType::BF16, {2}},
      {"{'descr': '<f2', 'fortran_order': False, 'shape': (1, 2, ), }", 1,
       DType::F16, {1, 2}},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 1,
       DType::F32, {}},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (0, 5), }", 1,
       DType::F64, {0, 5}},
  };
  int i = 0;
  for (const Case &c : cases) {
    const std::string p = path(std::to_string(i++) + ".npy");
    writeBytes(p, npyBytes(c.header, payload + "trailing", c.major));
    HostTensor t;
    std::string error;
    ASSERT_TRUE(readNpy(p, t, error)) << error << " for " << c.header;
    EXPECT_EQ(t.dtype, c.dtype);
    EXPECT_EQ(t.shape, c.shape);
    EXPECT_EQ(t.data.size(), t.numElements() * dtypeSize(t.dtype));
  }
}

TEST_F(NpyTest, MissingFile) {
  const std::string p = path("does_not_exist.npy");
  expectError(p, "cannot open '" + p + "': No such file or directory");
}

TEST_F(NpyTest, Directory) {
  HostTensor out;
  std::string error;
  EXPECT_FALSE(readNpy(::testing::TempDir(), out, error));
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(error.find('\n'), std::string::npos);
}

TEST_F(NpyTest, BadMagic) {
  const std::string expected = " is not a .npy file (bad magic)";
  std::string p = path("empty.npy");
  writeBytes(p, "");
  expectError(p, "'" + p + "'" + expected);
  p = path("text.npy");
  writeBytes(p, "hello, this is not numpy at all\n");
  expectError(p, "'" + p + "'" + expected);
  p = path("short.npy");
  writeBytes(p, "\x93NUM");
  expectError(p, "'" + p + "'" + expected);
}

TEST_F(NpyTest, TruncatedHeader) {
  std::string p = path("noversion.npy");
  writeBytes(p, "\x93NUMPY");
  expectError(p, "'" + p + "': truncated header");
  p = path("nolen.npy");
  writeBytes(p, std::string("\x93NUMPY\x01\x00\x10", 9));
  expectError(p, "'" + p + "': truncated header");
  // Header length past EOF.
  p = path("pasteof.npy");
  std::string bytes = npyBytes(std::string(100, ' '), "");
  writeBytes(p, bytes.substr(0, 50));
  expectError(p, "'" + p + "': truncated header (expected 100 bytes, found 40)");
  // A 4 GiB header length in a v2 file must not allocate 4 GiB.
  p = path("hugelen.npy");
  writeBytes(p, std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff{", 13));
  expectError(p, "'" + p +
                     "': truncated header (expected 4294967295 bytes, found 1)");
}

TEST_F(NpyTest, UnsupportedVersion) {
  const std::string p = path("v4.npy");
  writeBytes(p, npyBytes("{}", "", 4));
  expectError(p, "'" + p + "': unsupported .npy format version 4.0");
}

TEST_F(NpyTest, UnsupportedDType) {
  for (const char *descr : {">i4", "<u4", ">f4", "|b1", "<c8", "|V4", "<f16"}) {
    const std::string p = path(std::string("d") + (descr + 1) + ".npy");
    writeBytes(p, npyBytes(std::string("{'descr': '") + descr +
                               "', 'fortran_order': False, 'shape': (1,), }",
                           std::string(16, '\0')));
    expectError(p, "'" + p + "': unsupported dtype '" + descr +
                       "' (expected float32, float16, bfloat16, float64, int32 or "
                       "int64)");
  }
  // Structured dtypes (a list descr) are not strings at all.
  const std::string p = path("struct.npy");
  writeBytes(p, npyBytes("{'descr': [('', '<V2')], 'fortran_order': False, "
                         "'shape': (1,), }",
                         "xx"));
  expectError(p, "'" + p + "': malformed header: 'descr' is not a string");
}

TEST_F(NpyTest, FortranOrder) {
  const std::string p = path("fortran.npy");
  writeBytes(p, npyBytes("{'descr': '<f4', 'fortran_order': True, "
                         "'shape': (2, 3), }",
                         std::string(24, '\0')));
  expectError(p, "'" + p + "': Fortran-order arrays are not supported");
}

TEST_F(NpyTest, TruncatedData) {
  const std::string p = path("trunc.npy");
  writeBytes(p, npyBytes("{'descr': '<f4', 'fortran_order': False, "
                         "'shape': (1, 8, 512, 64), }",
                         std::string(1000, '\0')));
  expectError(
      p, "'" + p + "': truncated data (expected 1048576 bytes, found 1000)");
  // A shape claiming ~1 EB must fail without trying to allocate it.
  const std::string q = path("huge.npy");
  writeBytes(q, npyBytes("{'descr': '<f8', 'fortran_order': False, "
                         "'shape': (1000000000, 100000000), }",
                         "abc"));
  expectError(q, "'" + q +
                     "': truncated data (expected 800000000000000000 bytes, "
                     "found 3)");
}

TEST_F(NpyTest, MalformedHeaders) {
  struct Case {
    const char *header;
    const char *error;
  } cases[] = {
      {"", "malformed header: expected '{'"},
      {"garbage", "malformed header: expected '{'"},
      {"{'descr': '<f4', 'fortran_order': False}",
       "malformed header: missing key 'shape'"},
      {"{'fortran_order': False, 'shape': (1,)}",
       "malformed header: missing key 'descr'"},
      {"{'descr': '<f4', 'shape': (1,)}",
       "malformed header: missing key 'fortran_order'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
       "malformed header: unexpected key 'x'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
       "'shape': (1,)}",
       "malformed header: duplicate key 'descr'"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}",
       "malformed header: 'fortran_order' is not True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': 5}",
       "malformed header: 'shape' is not a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}",
       "malformed header: negative dimension in 'shape'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}",
       "malformed header: malformed 'shape' tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,,)}",
       "malformed header: malformed 'shape' tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,)}",
       "malformed header: malformed 'shape' tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,",
       "malformed header: malformed 'shape' tuple"},
      {"{'descr': '<f4', 'fortran_order': False, "
       "'shape': (99999999999999999999,)}",
       "malformed header: dimension in 'shape' is too large"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}",
       "malformed header: expected ',' or '}'"},
      {"{'descr' '<f4', 'fortran_order': False, 'shape': (1,)}",
       "malformed header: expected ':' after key 'descr'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x",
       "malformed header: unexpected text after the dictionary"},
      {"{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}",
       "malformed header: expected ',' or '}'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)",
       "malformed header: expected ',' or '}'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,),",
       "malformed header: expected a quoted key"},
      {"{'descr", "malformed header: expected a quoted key"},
      {"{'descr': '<f4', 'fortran_order': False, "
       "'shape': (4294967296, 4294967296, 4294967296)}",
       "shape is too large"},
      {"{'descr': '<f8', 'fortran_order': False, "
       "'shape': (0, 3037000500, 3037000500)}",
       "shape is too large"},
      {"{'descr': '<f8', 'fortran_order': False, "
       "'shape': (2305843009213693952,)}",
       "shape is too large"},
  };
  int i = 0;
  for (const Case &c : cases) {
    const std::string p = path(std::to_string(i++) + ".npy");
    writeBytes(p, npyBytes(c.header, std::string(64, '\0')));
    expectError(p, "'" + p + "': " + c.error);
  }
}

TEST_F(NpyTest, NeverCrashesOnMutations) {
  // Flip and truncate bytes of a valid file; every outcome must be a clean
  // success or a one-line error.
  HostTensor t = HostTensor::zeros(DType::F16, {3, 4});
  fillRandomNormal(t, 1);
  const std::string good = path("good.npy");
  std::string error;
  ASSERT_TRUE(writeNpy(good, t, error)) << error;
  std::ifstream is(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(is)),
                          std::istreambuf_iterator<char>());
  const std::string p = path("mutant.npy");
  uint32_t state = 12345;
  for (int iter = 0; iter < 1000; ++iter) {
    std::string m = bytes;
    const int flips = 1 + iter % 4;
    for (int k = 0; k < flips; ++k) {
      state = state * 1664525u + 1013904223u;
      const size_t at = (state >> 8) % m.size();
      state = state * 1664525u + 1013904223u;
      m[at] = static_cast<char>(state >> 24);
    }
    if (iter % 3 == 0)
      m.resize((state >> 4) % (m.size() + 1));
    writeBytes(p, m);
    HostTensor out;
    error.clear();
    if (readNpy(p, out, error)) {
      EXPECT_EQ(out.data.size(), out.numElements() * dtypeSize(out.dtype));
    } else {
      EXPECT_FALSE(error.empty());
      EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    }
  }
}

TEST_F(NpyTest, WriteErrors) {
  std::string error;
  HostTensor bad = HostTensor::zeros(DType::F32, {2, 3});
  bad.data.pop_back();
  const std::string p = path("bad.npy");
  EXPECT_FALSE(writeNpy(p, bad, error));
  EXPECT_EQ(error, "cannot write '" + p + "': 2x3xf32 tensor holds 23 bytes "
                                          "of data");
  HostTensor neg;
  neg.shape = {-1};
  EXPECT_FALSE(writeNpy(p, neg, error));
  EXPECT_EQ(error, "cannot write '" + p + "': negative dimension in shape");

  const std::string q = ::testing::TempDir() + "no_such_dir_attnir/x.npy";
  EXPECT_FALSE(writeNpy(q, HostTensor::zeros(DType::F32, {1}), error));
  EXPECT_EQ(error, "cannot open '" + q +
                       "' for writing: No such file or directory");
}

} // namespace

// A program's workspace and kernel steps (the selection issue's GPU
// programs) read back as themselves; steps that bind missing buffers or
// launch out of range are refused, never trusted.
TEST(EntryABI, StepsRoundTripAndBadStepsRefused) {
  EntryABI abi;
  abi.name = "f";
  abi.classSize = {-1, 64};
  abi.className = {"N", "D"};
  abi.inputs.push_back({"q", DType::BF16, {0, 0, 0, 1}, "q"});
  abi.outputs.push_back({"result0", DType::BF16, {0, 0, 0, 1}, "out"});
  abi.workspace.push_back({"w0", DType::F32, {0, 0, 0}, ""});
  abi.workspace.push_back({"w1", DType::I32, {0}, "", /*persistent=*/true});
  abi.steps.push_back({"f__s0", {"i0", "w0"}, 1, 3, 128, 32});
  abi.steps.push_back({"f__s1", {"i0", "w0"}, 1, 3, 256, 256, 16, 16});
  abi.steps.back().sharedBytes = 90368; // dynamic shared memory
  abi.steps.back().smBlocksMin = 2;     // launched with >= 2 blocks per SM
  abi.steps.back().afterPrevious = true; // launched only when f__s0 was
  abi.steps.back().smBlocksPer = 2;      // ... per 2 SMs: >= 1 per SM
  abi.steps.push_back({"f", {"i0", "i0", "i0", "w0", "o0"}, -1, 0, 0, 1});
  std::string text = abi.serialize(), err;
  EntryABI back;
  ASSERT_TRUE(EntryABI::deserialize(text, back, err)) << err;
  EXPECT_EQ(back.serialize(), text);
  ASSERT_EQ(back.steps.size(), 3u);
  // A block map's memory keeps its contents between calls.
  ASSERT_EQ(back.workspace.size(), 2u);
  EXPECT_FALSE(back.workspace[0].persistent);
  EXPECT_TRUE(back.workspace[1].persistent);
  EXPECT_EQ(back.steps[0].lanes, 32);
  EXPECT_EQ(back.steps[1].tileRows, 16);
  EXPECT_EQ(back.steps[1].sharedBytes, 90368);
  EXPECT_EQ(back.steps[1].smBlocksMin, 2);
  EXPECT_EQ(back.steps[1].smBlocksMax, 0);
  EXPECT_TRUE(back.steps[1].afterPrevious);
  EXPECT_EQ(back.steps[1].smBlocksPer, 2);
  EXPECT_EQ(back.steps[0].smBlocksPer, 1);
  EXPECT_FALSE(back.steps[0].afterPrevious);
  EXPECT_EQ(back.steps[2].args[4], "o0");
  // Tiles count the last two grid dims in ceil-divided tiles.
  EXPECT_EQ(back.steps[1].items({5, 33, 17}), 256 * 5 * 3 * 2);
  EXPECT_EQ(back.steps[0].items({5, 33, 17}), 32 * 5 * 33 * 17);
  std::vector<std::vector<int64_t>> shapes;
  ASSERT_TRUE(back.resolveWorkspace({{5, 5, 5, 64}}, shapes, err)) << err;
  EXPECT_EQ(shapes, (std::vector<std::vector<int64_t>>{{5, 5, 5}, {5}}));
  EXPECT_FALSE(back.resolveWorkspace({{5, 5, 6, 64}}, shapes, err));

  auto refused = [&](const std::string &from, const std::string &to) {
    std::string bad = text;
    size_t at = bad.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    bad.replace(at, from.size(), to);
    EntryABI out;
    std::string why;
    EXPECT_FALSE(EntryABI::deserialize(bad, out, why)) << to;
    EXPECT_NE(why.find("corrupt entry description"), std::string::npos) << why;
  };
  refused("2 i0 w0", "2 i0 w7");        // a workspace buffer that is not there
  refused("2 i0 w0", "2 i0 x0");        // an unknown kind of buffer
  refused("2 i0 w0", "2 i00 w0");       // not the canonical spelling
  refused("f__s0 1 3", "f__s0 5 3");    // grid argument past the arguments
  refused("f__s0 1 3", "f__s0 1 9");    // grid over more dims than it has
  refused("128 32 2", "128 0 2");       // no lanes
  refused("128 32 2", "0 32 2");        // a grid step without threads
  refused("tile 16 16", "tile 0 16");   // an empty tile
  refused("tile 16 16", "tile 16");     // a tile without its columns
  refused("tile 16 16", "tiles 16 16"); // anything else after the arguments
  refused("shared 90368", "shared 999999");   // more than a block can have
  refused("sm-blocks 2 0", "sm-blocks 2");    // a bound missing
  refused("sm-blocks 2 0", "sm-blocks -1 0"); // a negative bound
  refused("persist w1", "persist w9");  // persistence of a buffer not there
  refused("after-previous", "after");   // a misspelt flag
  refused("per 2", "per 0");            // blocks per no SM
  refused("per 2", "per");              // a divisor missing
  refused("step f__s0 1 3 128 32 2 i0 w0", "step f__s0 1 3 128 32 2 i0 w0 after-previous");
                                        // the first step has no previous one
}

// attn.gather's rows given as input: the ABI line "rows <input> <class of
// M>" round trips, values outside [0, M) are refused naming the argument,
// and a line pointing past the inputs or at a float input is corrupt.
TEST(EntryABI, RowRangesRoundTripAndCheck) {
  EntryABI abi;
  abi.name = "f";
  abi.classSize = {-1, -1, -1, -1, 8};
  abi.className = {"B", "Hkv", "M", "H", "D"};
  abi.inputs.push_back({"x", DType::F32, {0, 1, 2, 4}, "k"});
  abi.inputs.push_back({"r", DType::I64, {0, 3, 2}, "rows"});
  abi.outputs.push_back({"result0", DType::F32, {0, 3, 2, 4}, "out"});
  abi.rowRanges.push_back({1, 2});
  std::string text = abi.serialize(), err;
  EXPECT_NE(text.find("rows 1 2\n"), std::string::npos) << text;
  EntryABI back;
  ASSERT_TRUE(EntryABI::deserialize(text, back, err)) << err;
  EXPECT_EQ(back.serialize(), text);
  std::vector<int64_t> rows = {0, 4, 4, 9};
  std::vector<float> x(40);
  std::vector<std::vector<int64_t>> shapes = {{1, 1, 10, 8}, {1, 2, 2}};
  EXPECT_TRUE(back.checkIndexOperands({x.data(), rows.data()}, shapes, err)) << err;
  rows[3] = 10;
  EXPECT_FALSE(back.checkIndexOperands({x.data(), rows.data()}, shapes, err));
  EXPECT_NE(err.find("argument 'r'[0, 1, 1] is 10, outside [0, 10)"), std::string::npos) << err;
  rows[3] = -1;
  EXPECT_FALSE(back.checkIndexOperands({x.data(), rows.data()}, shapes, err));
  for (const char *bad : {"rows 7 2", "rows 0 2", "rows 1 99", "rows 1"}) {
    std::string t = text;
    t.replace(t.find("rows 1 2"), 8, bad);
    EntryABI out;
    EXPECT_FALSE(EntryABI::deserialize(t, out, err)) << bad;
  }
}

// attn.split_heads: the heads' class must be a multiple of the parts, or
// (not exact: KV heads fewer than the parts) divide them.
TEST(EntryABI, HeadSplitsRoundTripAndCheck) {
  EntryABI abi;
  abi.name = "f";
  abi.classSize = {-1, -1, -1, -1};
  abi.className = {"B", "Hq", "Hkv", "N"};
  abi.inputs.push_back({"q", DType::F32, {0, 1, 3}, ""});
  abi.inputs.push_back({"k", DType::F32, {0, 2, 3}, ""});
  abi.outputs.push_back({"result0", DType::F32, {0, 1, 3}, "out"});
  abi.headSplits.push_back({1, 2, true});
  abi.headSplits.push_back({2, 2, false});
  std::string text = abi.serialize(), err;
  EXPECT_NE(text.find("split 1 2 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("split 2 2 0\n"), std::string::npos) << text;
  EntryABI back;
  ASSERT_TRUE(EntryABI::deserialize(text, back, err)) << err;
  EXPECT_EQ(back.serialize(), text);
  std::vector<std::vector<int64_t>> out;
  for (std::vector<int64_t> heads : {std::vector<int64_t>{4, 4}, {6, 2}, {2, 1}, {8, 4}})
    EXPECT_TRUE(back.resolve({{1, heads[0], 5}, {1, heads[1], 5}}, out, err)) << err;
  // 3 query heads: not a multiple of 2 (exact); 3 KV heads: neither.
  EXPECT_FALSE(back.resolve({{1, 3, 5}, {1, 1, 5}}, out, err));
  EXPECT_NE(err.find("argument 'q' dimension 1 has 3 heads"), std::string::npos) << err;
  EXPECT_NE(err.find("positive multiple of 2"), std::string::npos) << err;
  EXPECT_FALSE(back.resolve({{1, 6, 5}, {1, 3, 5}}, out, err));
  EXPECT_NE(err.find("argument 'k' dimension 1 has 3 heads"), std::string::npos) << err;
  // The first (exact) split refuses a divisor; the second takes one.
  EXPECT_FALSE(back.resolve({{1, 1, 5}, {1, 1, 5}}, out, err));
  for (const char *bad : {"split 9 2 1", "split 1 0 1", "split 1 2 7", "split 1 2"}) {
    std::string t = text;
    t.replace(t.find("split 1 2 1"), 11, bad);
    EntryABI o;
    EXPECT_FALSE(EntryABI::deserialize(t, o, err)) << bad;
  }
}

// Head views: a split's part and a join's part are runs of their parent's
// memory where every dimension before the heads is 1 (B = 1); the steps'
// "view" words round trip, bad ones are refused, and the plan takes a run
// only where it is contiguous, 16-byte aligned and no cycle.
TEST(EntryABI, HeadViewsRoundTripAndPlan) {
  EntryABI abi;
  abi.name = "f";
  abi.classSize = {-1, -1, -1, 64, -1};
  abi.className = {"B", "H", "N", "D", "Hp"};
  abi.inputs.push_back({"q", DType::BF16, {0, 1, 2, 3}, "q"});
  abi.outputs.push_back({"result0", DType::BF16, {0, 1, 2, 3}, "out"});
  // w0, w1: the split's parts; w2: a join part (written by "g").
  for (const char *n : {"w0", "w1", "w2"})
    abi.workspace.push_back({n, DType::BF16, {0, 4, 2, 3}, ""});
  auto copy = [&](const char *name, const char *from, const char *to, bool join, int64_t p) {
    KernelStep st{name, {from, to}, join ? 0 : 1, 3, 128, 8};
    st.view = {join, 1, p, 2};
    abi.steps.push_back(st);
  };
  copy("f_s0_c0", "i0", "w0", false, 0);
  copy("f_s0", "i0", "w1", false, 1);
  abi.steps.push_back({"g", {"w0", "w2"}, 1, 3, 128, 8});
  copy("f_s2_c0", "w2", "o0", true, 0);
  copy("f_s2", "w1", "o0", true, 1);
  std::string text = abi.serialize(), err;
  EXPECT_NE(text.find(" view split 1 1 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find(" view join 1 0 2\n"), std::string::npos) << text;
  EntryABI back;
  ASSERT_TRUE(EntryABI::deserialize(text, back, err)) << err;
  EXPECT_EQ(back.serialize(), text);
  for (const char *bad : {"view split 1 2 2", "view splat 1 1 2", "view split 1 1",
                          "view split -1 1 2", "view split 1 1 0"}) {
    std::string t = text;
    t.replace(t.find("view split 1 1 2"), 16, bad);
    EntryABI o;
    EXPECT_FALSE(EntryABI::deserialize(t, o, err)) << bad;
  }

  auto plan = [&](int64_t B, int64_t H, int64_t N, uintptr_t outAddress, int64_t D = 64) {
    auto shapeOf = [&](const Binding &b) {
      return b.kind == 'w' ? std::vector<int64_t>{B, H / 2, N, D}
                           : std::vector<int64_t>{B, H, N, D};
    };
    auto user = [&](const Binding &b) { return b.kind == 'o' ? outAddress : uintptr_t(0x1000); };
    return planHeadViews(back, shapeOf, user);
  };
  auto own = [](const Binding &b) -> uintptr_t {
    return b.kind == 'i' ? 0x1000 : b.kind == 'o' ? 0x100000 : 0x200000 + 0x10000 * b.index;
  };
  // B = 1: every copy but the second join (w1 already lies in q) is a run.
  HeadViewPlan p = plan(1, 8, 33, 0x100000);
  EXPECT_EQ(p.skip, (std::vector<bool>{true, true, false, true, false}));
  EXPECT_EQ(p.address({'w', 0}, own), 0x1000u);
  EXPECT_EQ(p.address({'w', 1}, own), 0x1000u + 4 * 33 * 64 * 2);
  EXPECT_EQ(p.address({'w', 2}, own), 0x100000u);
  EXPECT_EQ(p.address({'o', 0}, own), 0x100000u);
  // B = 2: no part is contiguous, every copy runs.
  p = plan(2, 8, 33, 0x100000);
  EXPECT_EQ(p.skip, std::vector<bool>(5, false));
  EXPECT_EQ(p.address({'w', 1}, own), 0x210000u);
  // An output only 4-byte aligned: the join's run would be misaligned.
  p = plan(1, 8, 33, 0x100004);
  EXPECT_EQ(p.skip, (std::vector<bool>{true, true, false, false, false}));
  // The second part's offset: one head of one row of 3 bf16 (6 bytes) is
  // no multiple of 16, so that part is copied; of 8 (16 bytes) it is a run.
  p = plan(1, 2, 1, 0x100000, 3);
  EXPECT_EQ(p.skip, (std::vector<bool>{true, false, false, true, false}));
  p = plan(1, 2, 1, 0x100000, 8);
  EXPECT_EQ(p.skip, (std::vector<bool>{true, true, false, true, false}));

  // A cycle is never closed: a join of w0 back into w0's own parent chain.
  EntryABI cyc = back;
  cyc.steps.clear();
  KernelStep a{"a", {"w0", "w1"}, 1, 3, 128, 8};
  a.view = {false, 1, 0, 1};
  KernelStep b2{"b", {"w0", "w1"}, 0, 3, 128, 8};
  b2.view = {true, 1, 0, 1};
  cyc.steps = {a, b2};
  auto same = [](const Binding &) { return std::vector<int64_t>{1, 4, 8, 64}; };
  p = planHeadViews(cyc, same, [](const Binding &) { return uintptr_t(0); });
  EXPECT_EQ(p.skip, (std::vector<bool>{true, false}));
  EXPECT_EQ(p.address({'w', 1}, own), 0x200000u);
}

// The CPU kernels' workspace: aligned blocks, reused by size class, so a
// repeated request takes nothing more from the system.
TEST(Workspace, AlignsAndReusesBlocks) {
  using namespace attnir;
  for (size_t align : {size_t(64), size_t(128), size_t(4096)})
    for (size_t bytes : {size_t(1), size_t(300), size_t(5000), size_t(1) << 20}) {
      void *a = workspaceAlignedAlloc(align, bytes);
      ASSERT_NE(a, nullptr);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % align, 0u);
      std::memset(a, 0x5a, bytes); // the whole block is ours
      workspaceFree(a);
      uint64_t before = workspaceStats().systemAllocations;
      void *b = workspaceAlignedAlloc(align, bytes);
      EXPECT_EQ(b, a); // the kept block
      EXPECT_EQ(workspaceStats().systemAllocations, before);
      workspaceFree(b);
    }
  // Sizes of one class (5000 and 5100: 4096 < n <= 5120) share blocks.
  void *a = workspaceAlloc(5000);
  workspaceFree(a);
  uint64_t before = workspaceStats().systemAllocations;
  void *b = workspaceAlloc(5100);
  EXPECT_EQ(b, a);
  EXPECT_EQ(workspaceStats().systemAllocations, before);
  workspaceFree(b);
  void *p = workspaceAlloc(100);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  workspaceFree(p);
  workspaceFree(nullptr);
  EXPECT_EQ(workspaceAlignedAlloc(48, 10), nullptr); // not a power of two
}

// ptxas is looked for in one place (findPtxas): ATTNIR_PTXAS, CUDA_HOME/bin,
// PATH, /usr/local/cuda/bin, then ATTNIR_PTXAS_FALLBACK, the Python
// package's pip-packaged ptxas, which a toolkit's own always beats.
TEST(CudaCompiler, FindsPtxasInOrder) {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() /
                  ("attnir-ptxas-" + std::to_string(::getpid()));
  fs::create_directories(root / "home" / "bin");
  fs::create_directories(root / "empty");
  auto tool = [&](const fs::path &p) {
    std::ofstream(p) << "#!/bin/sh\nexit 0\n";
    fs::permissions(p, fs::perms::owner_all);
    return p.string();
  };
  std::string home = tool(root / "home" / "bin" / "ptxas");
  std::string fallback = tool(root / "fallback-ptxas");
  std::string named = tool(root / "named-ptxas");
  std::map<std::string, std::optional<std::string>> saved;
  for (const char *v : {"ATTNIR_PTXAS", "CUDA_HOME", "PATH", "ATTNIR_PTXAS_FALLBACK"}) {
    const char *old = std::getenv(v);
    saved[v] = old ? std::optional<std::string>(old) : std::nullopt;
    ::unsetenv(v);
  }
  ::setenv("PATH", (root / "empty").c_str(), 1);
  std::string system = fs::exists("/usr/local/cuda/bin/ptxas") ? "/usr/local/cuda/bin/ptxas" : "";
  EXPECT_EQ(attnir::findPtxas(), system);
  ::setenv("ATTNIR_PTXAS_FALLBACK", fallback.c_str(), 1);
  EXPECT_EQ(attnir::findPtxas(), system.empty() ? fallback : system);
  ::setenv("CUDA_HOME", (root / "home").c_str(), 1);
  EXPECT_EQ(attnir::findPtxas(), home);
  ::setenv("ATTNIR_PTXAS", named.c_str(), 1);
  EXPECT_EQ(attnir::findPtxas(), named);
  ::setenv("ATTNIR_PTXAS", (root / "missing").c_str(), 1);
  EXPECT_EQ(attnir::findPtxas(), ""); // a named one that is not there: none
  for (auto &[v, old] : saved) {
    if (old)
      ::setenv(v.c_str(), old->c_str(), 1);
    else
      ::unsetenv(v.c_str());
  }
  fs::remove_all(root);
}

// A step kernel's buffers against the entry's ABI (checkStepArgs): a static
// dimension, rank or element size the kernel indexes otherwise than the
// runtime will allocate it is refused at compile time. (The ABI once came
// from a clone lowered without an option the kernels had: landmark entries
// of 2 (K + 1) pairs per row allocated as 2 K.)
TEST(CudaCompiler, StepArgumentsMatchTheABI) {
  attnir::EntryABI abi;
  abi.name = "landmark";
  abi.classSize = {-1, -1, 10, 8};
  attnir::ABIArg entries;
  entries.name = "w0";
  entries.dtype = attnir::DType::I32;
  entries.dimClass = {0, 1, 2};
  abi.workspace.push_back(entries);
  attnir::KernelStep st;
  st.kernel = "landmark__s0_c4";
  st.args = {"w0"};
  using ArgType = attnir::CudaArtifacts::ArgType;
  int64_t dyn = mlir::ShapedType::kDynamic;
  std::string error;
  EXPECT_TRUE(attnir::checkStepArgs(abi, st, {ArgType{{dyn, dyn, 10}, 32}}, error)) << error;
  EXPECT_TRUE(attnir::checkStepArgs(abi, st, {ArgType{{dyn, dyn, dyn}, 32}}, error)) << error;
  EXPECT_FALSE(attnir::checkStepArgs(abi, st, {ArgType{{dyn, dyn, 8}, 32}}, error));
  EXPECT_NE(error.find("landmark__s0_c4 indexes w0"), std::string::npos) << error;
  EXPECT_FALSE(attnir::checkStepArgs(abi, st, {ArgType{{dyn, 10}, 32}}, error));
  EXPECT_FALSE(attnir::checkStepArgs(abi, st, {ArgType{{dyn, dyn, 10}, 16}}, error));
  // A dynamic class (the runtime's size from the inputs) takes any size.
  abi.workspace[0].dimClass = {0, 1, 0};
  EXPECT_TRUE(attnir::checkStepArgs(abi, st, {ArgType{{dyn, dyn, 10}, 32}}, error)) << error;
}

// Steps go to the entry their name gives ("<entry>__s<k>[_<form>]"), in
// order; a kernel no entry launches, or one whose buffers disagree with its
// entry's ABI, is an internal error (fuzz-cuda aborts on those).
TEST(CudaCompiler, StepsArePlacedOnTheirEntries) {
  attnir::EntryABI a, b;
  a.name = "f";
  b.name = "f2";
  a.classSize = b.classSize = {-1, 8};
  attnir::ABIArg w;
  w.name = "w0";
  w.dtype = attnir::DType::F32;
  w.dimClass = {0, 1};
  a.workspace.push_back(w);
  attnir::CudaArtifacts art;
  for (const char *k : {"f__s0", "f__s1_c32", "f2__s0", "f__s2"}) {
    attnir::KernelStep st;
    st.kernel = k;
    st.args = {"w0"};
    art.steps.push_back(st);
  }
  using ArgType = attnir::CudaArtifacts::ArgType;
  int64_t dyn = mlir::ShapedType::kDynamic;
  art.stepArgTypes["f__s0"] = {ArgType{{dyn, 8}, 32}};
  std::vector<attnir::EntryABI> abis = {a, b};
  std::string error;
  ASSERT_TRUE(attnir::placeCudaSteps(abis, art, error)) << error;
  ASSERT_EQ(abis[0].steps.size(), 3u);
  EXPECT_EQ(abis[0].steps[1].kernel, "f__s1_c32");
  EXPECT_EQ(abis[0].steps[2].kernel, "f__s2");
  ASSERT_EQ(abis[1].steps.size(), 1u);
  EXPECT_EQ(abis[1].steps[0].kernel, "f2__s0");
  // "f__sx" is no step of f: nobody launches it.
  art.steps[3].kernel = "f__sx";
  abis = {a, b};
  EXPECT_FALSE(attnir::placeCudaSteps(abis, art, error));
  EXPECT_EQ(error.rfind("internal error: kernel f__sx belongs to no entry", 0), 0u) << error;
  // f's w0 is [?, 8]: a kernel indexing [?, 4] is refused.
  art.steps[3].kernel = "f__s2";
  art.stepArgTypes["f__s0"] = {ArgType{{dyn, 4}, 32}};
  abis = {a, b};
  EXPECT_FALSE(attnir::placeCudaSteps(abis, art, error));
  EXPECT_EQ(error.rfind("internal error: kernel f__s0 indexes w0", 0), 0u) << error;
}
