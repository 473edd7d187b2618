// Broken GGUF files: each malformation gives its own clear ErrorKind::data
// naming the file and the field; thousands of randomly corrupted copies of
// the fixtures only ever parse (and dequantize) or give personas::Error.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "gguf_test_util.h"
#include "io/gguf.h"

namespace personas {
namespace {

using gguf_test::Builder;
using gguf_test::expect_data_error;
using gguf_test::put_u32;
using gguf_test::put_u64;

// Byte offsets of the fields of gguf_test::small_valid_file().
constexpr std::size_t kVersion = 4, kTensorCount = 8, kKvCount = 16, kKeyLength = 24, kValueType = 52,
                      kValueLength = 56, kTensorW = 69, kWnDims = 78, kWne0 = 82, kWne1 = 90, kWType = 98,
                      kNName = 118, kNOffset = 135, kFileSize = 272;

TEST(GgufMalformed, TheSmallFileIsValid) {
  const std::string bytes = gguf_test::small_valid_file();
  ASSERT_EQ(bytes.size(), kFileSize);
  const auto f = gguf::File::from_bytes(bytes, "small.gguf");
  EXPECT_EQ(f.data_offset(), 160u);
  ASSERT_EQ(f.tensors().size(), 2u);
  const auto w = f.read_f32(*f.find_tensor("w"));
  ASSERT_EQ(w.size(), 64u);
  EXPECT_EQ(w[0], 0.0f);
  EXPECT_EQ(w[31], 31.0f);
  EXPECT_EQ(w[63], 31.0f);
  EXPECT_EQ(f.read_f32(*f.find_tensor("n")), (std::vector<float>{1, 2, 3, 4}));
  std::string copy = bytes;
  EXPECT_EQ(copy.substr(kTensorW + 8, 1), "w");
  EXPECT_EQ(copy.substr(kNName, 1), "n");
}

TEST(GgufMalformed, NotAGgufFile) {
  expect_data_error("", "is not a GGUF file");
  expect_data_error("GGU", "is not a GGUF file");
  std::string bytes = gguf_test::small_valid_file();
  bytes.replace(0, 4, "GGML");
  expect_data_error(bytes, "is not a GGUF file: it starts with \"GGML\"");
  expect_data_error(std::string("\x89PNG\r\n\x1a\n", 8), "not the magic \"GGUF\"");
}

TEST(GgufMalformed, Versions) {
  std::string bytes = gguf_test::small_valid_file();
  put_u32(bytes, kVersion, 1);
  expect_data_error(bytes, "GGUF version 1, which is not supported");
  put_u32(bytes, kVersion, 4);
  expect_data_error(bytes, "has version 4; only versions 2 and 3");
  put_u32(bytes, kVersion, 0x03000000);
  expect_data_error(bytes, "big-endian");
}

TEST(GgufMalformed, TruncatedHeaderAndMetadata) {
  const std::string bytes = gguf_test::small_valid_file();
  expect_data_error(bytes.substr(0, 6), "header version at byte 4 needs 4 bytes");
  expect_data_error(bytes.substr(0, 12), "header tensor_count at byte 8 needs 8 bytes");
  expect_data_error(bytes.substr(0, 24), "header kv_count 1 is absurd");  // nothing follows the header
  expect_data_error(bytes.substr(0, 60), "header tensor_count 2 is absurd");  // 36 bytes cannot hold 2 infos
  expect_data_error(bytes.substr(0, 66), "kv 0 'general.architecture' length 5 (at byte 56) exceeds the 2 bytes left");
  expect_data_error(bytes.substr(0, 100), "tensor 0 'w' ggml type at byte 98 needs 4 bytes");
  // Every cut before the end of the last tensor's data fails, with a data error.
  for (std::size_t n = 0; n < kFileSize; ++n) {
    try {
      gguf::File::from_bytes(bytes.substr(0, n), "cut.gguf");
      ADD_FAILURE() << "a file cut at " << n << " bytes parsed";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::data) << e.what();
      EXPECT_NE(e.message().find("cut.gguf"), std::string::npos) << e.message();
    }
  }
}

TEST(GgufMalformed, AbsurdCountsAndLengths) {
  const std::string good = gguf_test::small_valid_file();
  std::string bytes = good;
  put_u64(bytes, kKvCount, 1ull << 60);
  expect_data_error(bytes, "header kv_count 1152921504606846976 is absurd");
  bytes = good;
  put_u64(bytes, kTensorCount, ~0ull);
  expect_data_error(bytes, "header tensor_count 18446744073709551615 is absurd");
  bytes = good;
  put_u64(bytes, kKeyLength, 1ull << 60);
  expect_data_error(bytes, "kv 0 key length 1152921504606846976 (at byte 24) exceeds the");
  bytes = good;
  put_u64(bytes, kValueLength, 1ull << 62);
  expect_data_error(bytes, "kv 0 'general.architecture' length 4611686018427387904");
  // An array claiming 2^61 u32 elements.
  Builder b;
  b.header(0, 1).str("big").u32(9).u32(4).u64(1ull << 61).u32(7);
  expect_data_error(b.out, "kv 0 'big': array of 2305843009213693952 u32 needs at least 4 bytes each");
  Builder s;
  s.header(0, 1).str("strings").u32(9).u32(8).u64(1000).str("one");
  expect_data_error(s.out, "array of 1000 string");
}

TEST(GgufMalformed, BadValues) {
  std::string bytes = gguf_test::small_valid_file();
  put_u32(bytes, kValueType, 13);
  expect_data_error(bytes, "kv 0 'general.architecture': unknown value type 13");
  Builder arr;
  arr.header(0, 1).str("a").u32(9).u32(77).u64(1);
  expect_data_error(arr.out, "kv 0 'a': unknown array element type 77");
  Builder flag;
  flag.header(0, 1).str("flag").u32(7).u8(2);
  expect_data_error(flag.out, "kv 0 'flag': bool byte 2 is neither 0 nor 1");
  Builder dup;
  dup.header(0, 2).kv_u32("x", 1).kv_u32("x", 2);
  expect_data_error(dup.out, "kv 1 'x': duplicate key");
  Builder deep;  // arrays of arrays, 9 deep
  deep.header(0, 1).str("deep").u32(9);
  for (int i = 0; i < 9; ++i) deep.u32(9).u64(1);
  deep.u32(4).u64(1).u32(0);
  expect_data_error(deep.out, "nested deeper than 8 levels");
  Builder align;
  align.header(0, 1).kv_u32("general.alignment", 48);
  expect_data_error(align.out, "'general.alignment': 48 is not a positive power of two");
  Builder align0;
  align0.header(0, 1).kv_u32("general.alignment", 0);
  expect_data_error(align0.out, "is not a positive power of two");
  Builder align_type;
  align_type.header(0, 1).kv_string("general.alignment", "32");
  expect_data_error(align_type.out, "'general.alignment': is string, expected u32");
}

TEST(GgufMalformed, BadTensorInfos) {
  const std::string good = gguf_test::small_valid_file();
  std::string bytes = good;
  put_u32(bytes, kWnDims, 5);
  expect_data_error(bytes, "tensor 0 'w': n_dims 5 exceeds ggml's maximum of 4");
  bytes = good;
  put_u32(bytes, kWType, 99);
  expect_data_error(bytes, "tensor 0 'w': unknown or unsupported ggml type id 99");
  bytes = good;
  put_u32(bytes, kWType, 10);  // Q2_K: a real type this reader does not handle
  expect_data_error(bytes, "ggml type id 10");
  bytes = good;
  put_u64(bytes, kWne0, 33);
  expect_data_error(bytes, "tensor 0 'w': ne[0] = 33 is not a multiple of the Q8_0 block size 32");
  bytes = good;
  put_u64(bytes, kWne0, 1ull << 40);
  put_u64(bytes, kWne1, 1ull << 40);
  expect_data_error(bytes, "tensor 0 'w': the product of the dimensions [1099511627776, 1099511627776] overflows");
  bytes = good;
  put_u64(bytes, kWne0, 1ull << 63);
  expect_data_error(bytes, "does not fit a signed 64-bit integer");
  bytes = good;
  put_u64(bytes, kWne1, (1ull << 58) - 1);  // just under 2^63 values, but 34 bytes per 32 overflow
  expect_data_error(bytes, "overflow 64 bits of bytes");
  bytes = good;
  bytes[kNName] = 'w';
  expect_data_error(bytes, "tensor 1 'w': duplicate tensor name");
}

TEST(GgufMalformed, BadDataOffsets) {
  const std::string good = gguf_test::small_valid_file();
  std::string bytes = good;
  put_u64(bytes, kNOffset, 97);
  expect_data_error(bytes, "tensor 1 'n': data offset 97 is not a multiple of the alignment 32");
  bytes = good;
  put_u64(bytes, kNOffset, 128);
  expect_data_error(bytes, "tensor 'n' data [288, 304) (data section at byte 160 + offset 128, 16 bytes of F32) "
                           "lies beyond the file of 272 bytes");
  bytes = good;
  put_u64(bytes, kNOffset, 1ull << 63);
  expect_data_error(bytes, "lies beyond the file of 272 bytes");
  expect_data_error(good.substr(0, 260), "tensor 'n' data [256, 272)");
  bytes = good;
  put_u64(bytes, kNOffset, 32);
  expect_data_error(bytes, "the data of tensors 'w' [offset 0, 68) and 'n' [offset 32, 48) overlap");
  // A big tensor whose size is fine but whose data is not there.
  bytes = good;
  put_u64(bytes, kWne1, 1ull << 20);
  expect_data_error(bytes, "tensor 'w' data [160, 35651744)");
}

// ---- random corruption ------------------------------------------------------------

struct MutationStats {
  int parsed = 0;
  int errors = 0;
};

// Parses, reads every value and dequantizes every tensor. Only success or a
// personas::Error of kind data naming the file may come out.
void try_everything(const std::string& bytes, MutationStats& stats) {
  const std::string name = "mutant.gguf";
  try {
    const auto f = gguf::File::from_bytes(bytes, name);
    for (const auto& key : f.keys()) {
      const auto& v = f.get(key);
      if (v.is_array()) {
        if (v.element_type == gguf::ValueType::string) {
          (void)f.get_string_array(key);
        } else if (v.element_type != gguf::ValueType::array && v.element_type != gguf::ValueType::boolean) {
          (void)f.get_float_array(key);
        }
      } else if (v.type == gguf::ValueType::string) {
        (void)f.get_string(key);
      } else if (v.type == gguf::ValueType::boolean) {
        (void)f.get_bool(key);
      } else {
        (void)f.get_float(key);
      }
    }
    std::vector<float> buffer;
    for (const auto& t : f.tensors()) {
      buffer.resize(static_cast<std::size_t>(t.n_values()));
      f.read_f32(t, buffer);
    }
    ++stats.parsed;
  } catch (const Error& e) {
    ++stats.errors;
    EXPECT_EQ(e.kind(), ErrorKind::data) << e.what();
    EXPECT_NE(e.message().find(name), std::string::npos) << e.message();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a personas::Error: " << e.what();
  }
}

std::string mutate(const std::string& base, std::mt19937_64& rng, std::size_t focus_end) {
  std::string bytes = base;
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % std::max<std::size_t>(n, 1)); };
  // Most mutations land in the metadata and tensor infos (focus_end), where the parser works.
  auto position = [&] { return (rng() % 4 == 0) ? pick(bytes.size()) : pick(std::min(focus_end, bytes.size())); };
  switch (rng() % 6) {
    case 0: {  // flip 1 to 4 bits
      const int n = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < n && !bytes.empty(); ++i) bytes[position()] ^= static_cast<char>(1u << (rng() % 8));
      break;
    }
    case 1: {  // random bytes
      const int n = 1 + static_cast<int>(rng() % 8);
      for (int i = 0; i < n && !bytes.empty(); ++i) bytes[position()] = static_cast<char>(rng() & 0xff);
      break;
    }
    case 2:  // truncate
      bytes.resize(pick(bytes.size()));
      break;
    case 3: {  // a big or boundary u64 (counts, lengths, ne, offsets)
      const std::uint64_t choices[] = {1ull << 60, 1ull << 63, ~0ull, bytes.size(), bytes.size() / 2, 1ull << 32,
                                       (1ull << 31) - 1, rng()};
      const std::uint64_t v = choices[rng() % 8];
      if (bytes.size() >= 8) {
        const std::size_t at = std::min(position(), bytes.size() - 8);
        std::memcpy(bytes.data() + at, &v, 8);
      }
      break;
    }
    case 4: {  // a u32 type id / n_dims / version
      const std::uint32_t choices[] = {0, 1, 2, 3, 5, 8, 9, 10, 12, 13, 14, 30, 99, 0xffffffffu};
      const std::uint32_t v = choices[rng() % 14];
      if (bytes.size() >= 4) {
        const std::size_t at = std::min(position(), bytes.size() - 4);
        std::memcpy(bytes.data() + at, &v, 4);
      }
      break;
    }
    default: {  // insert or delete a few bytes (shifts every later field)
      const std::size_t at = position();
      const std::size_t n = 1 + pick(16);
      if (rng() % 2 == 0)
        bytes.insert(at, std::string(n, static_cast<char>(rng() & 0xff)));
      else
        bytes.erase(at, n);
      break;
    }
  }
  return bytes;
}

TEST(GgufMutation, CorruptedCopiesGiveSuccessOrAPersonasError) {
  struct Base {
    std::string bytes;
    int copies;
  };
  std::vector<Base> bases = {
      {gguf_test::small_valid_file(), 1500},
      {read_file(gguf_test::fixture("kv-types.gguf")), 1500},
      {read_file(gguf_test::fixture("quant-Q4_K.gguf")), 500},
      {read_file(gguf_test::fixture("quant-Q5_1.gguf")), 500},
      {read_file(gguf_test::fixture("tiny-llama.gguf")), 300},
  };
  std::mt19937_64 rng(20);
  MutationStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  int total = 0;
  for (const auto& base : bases) {
    const auto f = gguf::File::from_bytes(base.bytes, "base.gguf");
    const std::size_t focus_end = static_cast<std::size_t>(f.data_offset());
    for (int i = 0; i < base.copies; ++i, ++total) {
      try_everything(mutate(base.bytes, rng, focus_end), stats);
      if (::testing::Test::HasFailure()) {
        ADD_FAILURE() << "stopping at mutation " << i << " of a base of " << base.bytes.size() << " bytes";
        return;
      }
    }
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ gguf    ] %d mutants in %.2f s: %d parsed, %d rejected with personas::Error (data)\n", total, sec,
              stats.parsed, stats.errors);
  EXPECT_EQ(stats.parsed + stats.errors, total);
  EXPECT_GT(stats.errors, total / 3);  // the mutations do reach the checks
  EXPECT_GT(stats.parsed, 0);          // and some leave a valid file (e.g. a flipped data bit)
}

}  // namespace
}  // namespace personas
