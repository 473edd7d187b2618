// Dequantizers against the python gguf package (fixtures made by
// tools/golden/make_gguf_fixtures.py), bit for bit; f16 conversion over all
// 65536 patterns against an independent computation.
#include "io/gguf_quants.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "gguf_test_util.h"

namespace personas {
namespace {

using gguf::GgmlType;

std::vector<float> read_floats(const std::filesystem::path& path) {
  const std::string bytes = read_file(path);
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

// Bitwise comparison, reporting the first few differences.
void expect_bits_equal(std::span<const float> got, std::span<const float> want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int shown = 0;
  std::size_t n_diff = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const auto g = std::bit_cast<std::uint32_t>(got[i]);
    const auto w = std::bit_cast<std::uint32_t>(want[i]);
    if (g != w) {
      ++n_diff;
      if (shown++ < 5)
        ADD_FAILURE() << what << " value " << i << ": got " << got[i] << " (0x" << std::hex << g << "), want "
                      << want[i] << " (0x" << w << ")" << std::dec;
    }
  }
  EXPECT_EQ(n_diff, 0u) << what << ": values differing in their bits";
}

TEST(GgufQuants, EveryTypeMatchesThePythonReferenceBitForBit) {
  const auto manifest = gguf_test::fixture_json("quants.json");
  const auto& types = manifest.at("types");
  ASSERT_EQ(types.size(), 11u);
  for (const auto& [type_name, entry] : types.items()) {
    SCOPED_TRACE(type_name);
    const auto file = gguf::File::open(gguf_test::fixture(entry.at("file").get<std::string>()));
    const auto expected = read_floats(gguf_test::fixture(entry.at("expected").get<std::string>()));
    EXPECT_EQ(file.get_string("fixture.ggml_type"), type_name);
    ASSERT_EQ(file.tensors().size(), entry.at("tensors").size());
    for (const auto& t : entry.at("tensors")) {
      const auto* info = file.find_tensor(t.at("name").get<std::string>());
      ASSERT_NE(info, nullptr) << t.at("name");
      EXPECT_EQ(static_cast<int>(info->type), entry.at("type_id").get<int>());
      EXPECT_EQ(gguf::ggml_type_name(info->type), type_name);
      EXPECT_EQ(info->ne, t.at("ne").get<std::vector<std::int64_t>>());
      EXPECT_EQ(info->n_bytes, t.at("n_bytes").get<std::uint64_t>());
      const auto values = file.read_f32(*info);
      const auto offset = t.at("value_offset").get<std::size_t>();
      const auto n = t.at("n_values").get<std::size_t>();
      ASSERT_LE(offset + n, expected.size());
      expect_bits_equal(values, std::span<const float>(expected).subspan(offset, n),
                        type_name + " " + info->name);
      EXPECT_EQ(fmt::format("{:016x}", gguf::values_checksum(values)), t.at("checksum").get<std::string>());
    }
  }
}

TEST(GgufQuants, BlockLayouts) {
  struct Case {
    GgmlType type;
    std::int64_t values, bytes;
  };
  const Case cases[] = {{GgmlType::f32, 1, 4},     {GgmlType::f16, 1, 2},      {GgmlType::bf16, 1, 2},
                        {GgmlType::q4_0, 32, 18},  {GgmlType::q4_1, 32, 20},   {GgmlType::q5_0, 32, 22},
                        {GgmlType::q5_1, 32, 24},  {GgmlType::q8_0, 32, 34},   {GgmlType::q4_k, 256, 144},
                        {GgmlType::q5_k, 256, 176}, {GgmlType::q6_k, 256, 210}};
  for (const auto& c : cases) {
    const auto layout = gguf::block_layout(c.type);
    EXPECT_EQ(layout.values, c.values) << gguf::ggml_type_name(c.type);
    EXPECT_EQ(layout.bytes, c.bytes) << gguf::ggml_type_name(c.type);
    EXPECT_TRUE(gguf::is_supported(static_cast<std::uint32_t>(c.type)));
  }
  EXPECT_STREQ(gguf::ggml_type_name(GgmlType::q4_1), "Q4_1");
  EXPECT_STREQ(gguf::ggml_type_name(GgmlType::q6_k), "Q6_K");
  EXPECT_FALSE(gguf::is_supported(10));  // Q2_K
  try {
    gguf::block_layout(static_cast<GgmlType>(10));
    ADD_FAILURE() << "no error for type 10";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data);
    EXPECT_NE(e.message().find("ggml type id 10"), std::string::npos) << e.message();
  }
}

TEST(GgufQuants, SizesAreChecked) {
  std::vector<std::byte> blocks(34);
  std::vector<float> out(32);
  EXPECT_NO_THROW(gguf::dequantize(GgmlType::q8_0, blocks, out));
  std::vector<float> odd(33);
  EXPECT_THROW(gguf::dequantize(GgmlType::q8_0, blocks, odd), Error);  // not whole blocks
  std::vector<std::byte> short_blocks(33);
  EXPECT_THROW(gguf::dequantize(GgmlType::q8_0, short_blocks, out), Error);
  EXPECT_THROW(gguf::dequantize(static_cast<GgmlType>(99), blocks, out), Error);
  std::vector<float> none;
  EXPECT_NO_THROW(gguf::dequantize(GgmlType::q4_k, {}, none));
}

// Hand-computed blocks, one per layout rule that is easy to get wrong.
TEST(GgufQuants, HandMadeBlocks) {
  auto f16 = [](std::vector<unsigned char>& b, std::size_t at, std::uint16_t v) {
    b[at] = static_cast<unsigned char>(v & 0xff);
    b[at + 1] = static_cast<unsigned char>(v >> 8);
  };
  auto run = [](GgmlType t, const std::vector<unsigned char>& b) {
    std::vector<float> out(static_cast<std::size_t>(gguf::block_layout(t).values));
    gguf::dequantize(t, std::as_bytes(std::span(b)), out);
    return out;
  };
  {  // Q4_1: byte j holds value j (low nibble) and j + 16 (high nibble); x = d * q + m
    std::vector<unsigned char> b(20, 0);
    f16(b, 0, 0x3800);   // d = 0.5
    f16(b, 2, 0xbc00);   // m = -1
    b[4 + 3] = 0xa5;     // value 3 = 5, value 19 = 10
    const auto y = run(GgmlType::q4_1, b);
    EXPECT_EQ(y[3], 1.5f);
    EXPECT_EQ(y[19], 4.0f);
    EXPECT_EQ(y[0], -1.0f);
  }
  {  // Q5_0: bit j of qh is bit 4 of value j; x = d * (q - 16)
    std::vector<unsigned char> b(22, 0);
    f16(b, 0, 0x4000);  // d = 2
    const std::uint32_t qh = (1u << 2) | (1u << 20);
    std::memcpy(b.data() + 2, &qh, 4);
    b[6 + 2] = 0x01;  // value 2: nibble 1 + 16 = 17; value 18: nibble 0
    b[6 + 4] = 0x30;  // value 20: nibble 3 + 16 = 19
    const auto y = run(GgmlType::q5_0, b);
    EXPECT_EQ(y[2], 2.0f);
    EXPECT_EQ(y[18], -32.0f);
    EXPECT_EQ(y[20], 6.0f);
  }
  {  // Q6_K: d comes last; value 200 is in half 1, position 72 = l + 64 with l = 8
    std::vector<unsigned char> b(210, 0);
    f16(b, 208, 0x3c00);                  // d = 1
    b[192 + 200 / 16] = 0xfe;             // scale -2 for values 192..207
    b[64 + 8] = 0x70;                     // ql high nibble of l = 8 in half 1: 7
    b[128 + 32 + 8] = 0x20;               // qh bits 4..5 of l = 8 in half 1: 2 -> + 32
    const auto y = run(GgmlType::q6_k, b);
    EXPECT_EQ(y[200], -2.0f * static_cast<float>((7 | 32) - 32));
    EXPECT_EQ(y[0], 0.0f * -32.0f);
  }
  {  // Q4_K: sub-block 5 uses scale (s[9] & 15) | (s[1] >> 6) << 4 and min (s[9] >> 4) | (s[5] >> 6) << 4
    std::vector<unsigned char> b(144, 0);
    f16(b, 0, 0x3c00);  // d = 1
    f16(b, 2, 0x3800);  // dmin = 0.5
    b[4 + 1] = 0x40;    // bit 6 of s[1] -> scale bit 4
    b[4 + 9] = 0x23;    // scale low 3, min low 2
    b[4 + 5] = 0x80;    // bit 7 of s[5] -> min bit 5
    b[16 + 64 + 7] = 0x90;  // group 2, l = 7: high nibble 9 is sub-block 5 value 7
    const auto y = run(GgmlType::q4_k, b);
    const float scale = 3 + 16, min = 2 + 32;
    EXPECT_EQ(y[5 * 32 + 7], scale * 9.0f - 0.5f * min);
  }
}

// f16 -> f32 for every bit pattern, against ldexp in double (exact here).
TEST(GgufQuants, HalfToFloatIsExactForAllPatterns) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float got = gguf::f16_to_f32(static_cast<std::uint16_t>(h));
    const bool negative = (h & 0x8000) != 0;
    const int exponent = static_cast<int>((h >> 10) & 31);
    const int mantissa = static_cast<int>(h & 1023);
    const auto bits = std::bit_cast<std::uint32_t>(got);
    if (exponent == 31) {
      // infinity, or NaN keeping its payload (as numpy converts it)
      EXPECT_EQ(bits, (negative ? 0x80000000u : 0u) | 0x7f800000u | (static_cast<std::uint32_t>(mantissa) << 13))
          << std::hex << h;
      continue;
    }
    const double magnitude = exponent == 0 ? std::ldexp(mantissa, -24) : std::ldexp(1024 + mantissa, exponent - 25);
    const double want = negative ? -magnitude : magnitude;
    EXPECT_EQ(static_cast<double>(got), want) << std::hex << h;
    EXPECT_EQ(std::signbit(got), negative) << std::hex << h;
  }
  EXPECT_EQ(gguf::bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(std::bit_cast<std::uint32_t>(gguf::bf16_to_f32(0xff81)), 0xff810000u);
}

TEST(GgufQuants, ChecksumIsOrderSensitive) {
  const std::vector<float> a = {1.0f, 2.0f, 3.0f};
  const std::vector<float> b = {2.0f, 1.0f, 3.0f};
  EXPECT_NE(gguf::values_checksum(a), gguf::values_checksum(b));
  EXPECT_EQ(gguf::values_checksum(std::vector<float>{}), 0u);
}

}  // namespace
}  // namespace personas
