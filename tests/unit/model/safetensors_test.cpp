#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "core/errors.h"
#include "support/test_support.h"

namespace personas {
namespace {

namespace st = safetensors;

std::string with_header(const std::string& json, const std::string& data) {
  std::string out(8, '\0');
  std::uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  return out + json + data;
}

void expect_data_error(const std::string& bytes, const std::string& needle) {
  try {
    st::File::from_bytes(bytes, "bad.safetensors");
    ADD_FAILURE() << "no error for " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data);
    EXPECT_NE(e.message().find(needle), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("bad.safetensors"), std::string::npos) << e.message();
  }
}

TEST(Safetensors, RoundTripsF32Bf16F16) {
  std::vector<st::WriteTensor> tensors = {
      {"b.weight", st::DType::BF16, {2, 3}, {1.0f, -2.5f, 0.15625f, 3e-3f, 1e4f, -0.0f}},
      {"a.weight", st::DType::F32, {3}, {0.1f, 0.2f, -0.3f}},
      {"c", st::DType::F16, {2}, {0.5f, -65504.0f}},
  };
  auto bytes = st::serialize(tensors, {{"format", "pt"}});
  std::uint64_t header = 0;
  std::memcpy(&header, bytes.data(), 8);
  EXPECT_EQ(header % 8, 0u);
  auto f = st::File::from_bytes(bytes, "mem");
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.read_f32("a.weight"), tensors[1].data);
  EXPECT_EQ(f.info("b.weight").shape, (std::vector<std::int64_t>{2, 3}));
  auto b = f.read_f32("b.weight");
  for (std::size_t i = 0; i < b.size(); ++i) EXPECT_NEAR(b[i], tensors[0].data[i], std::abs(tensors[0].data[i]) / 128);
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(b[2], 0.15625f);
  EXPECT_EQ(f.read_f32("c"), (std::vector<float>{0.5f, -65504.0f}));
  // Offsets follow name order: a, b, c.
  EXPECT_EQ(f.info("a.weight").begin, 0u);
  EXPECT_EQ(f.info("b.weight").begin, 12u);
  EXPECT_THROW(f.info("nope"), Error);
}

TEST(Safetensors, HalfConversions) {
  EXPECT_EQ(st::f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(st::f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(st::f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(st::f16_to_f32(0x7bff), 65504.0f);
  EXPECT_TRUE(std::isinf(st::f16_to_f32(0x7c00)));
  for (std::uint32_t h = 0; h < 0x7c00; ++h) {  // every finite positive half round-trips
    ASSERT_EQ(st::f32_to_f16(st::f16_to_f32(static_cast<std::uint16_t>(h))), h) << h;
  }
  EXPECT_EQ(st::f32_to_f16(1e6f), 0x7c00);
}

TEST(Safetensors, RejectsHostileHeaders) {
  const std::string data(16, '\0');
  expect_data_error("abc", "too short");
  {
    std::string b(8, '\0');
    std::uint64_t n = 1ull << 40;
    std::memcpy(b.data(), &n, 8);
    expect_data_error(b + "{}", "header size");
  }
  {
    std::string b(8, '\0');
    std::uint64_t n = 100;
    std::memcpy(b.data(), &n, 8);
    expect_data_error(b + "{}", "past the end");
  }
  expect_data_error(with_header("{\"a\": ", data), "not valid JSON");
  expect_data_error(with_header("[1,2]", data), "not a JSON object");
  expect_data_error(with_header(R"({"a":{"dtype":"Q7","shape":[4],"data_offsets":[0,16]}})", data), "unknown dtype");
  expect_data_error(with_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,32]}})", data), "outside");
  expect_data_error(with_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[8,4]}})", data), "outside");
  expect_data_error(with_header(R"({"a":{"dtype":"F32","shape":[5],"data_offsets":[0,16]}})", data), "bytes for shape");
  expect_data_error(with_header(R"({"a":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", data),
                    "non-negative");
  expect_data_error(
      with_header(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}})", data),
      "larger than the file");
  expect_data_error(with_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0]}})", data), "pair");
  expect_data_error(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                data),
                    "overlap");
  auto ints = st::File::from_bytes(with_header(R"({"a":{"dtype":"I32","shape":[4],"data_offsets":[0,16]}})", data),
                                   "bad.safetensors");
  EXPECT_THROW(ints.read_f32("a"), Error);
}

TEST(Safetensors, CorruptedBytesGiveErrorsNeverCrashes) {
  const auto good = st::serialize({{"w", st::DType::BF16, {3, 5}, std::vector<float>(15, 1.5f)},
                                   {"b", st::DType::F32, {5}, std::vector<float>(5, -2.0f)}},
                                  {{"format", "pt"}});
  std::uint64_t state = 12345;
  auto next = [&] { return state = state * 6364136223846793005ull + 1442695040888963407ull; };
  int parsed = 0, refused = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bytes = good;
    const int n_edits = 1 + static_cast<int>(next() >> 62);
    for (int e = 0; e < n_edits; ++e) {
      // Mostly the size prefix and the JSON header, sometimes the data.
      const std::size_t limit = (next() >> 60) < 12 ? std::min<std::size_t>(bytes.size(), 8 + 120) : bytes.size();
      bytes[(next() >> 20) % limit] = static_cast<char>(next() >> 56);
    }
    if (trial % 7 == 0) bytes.resize((next() >> 20) % bytes.size());
    try {
      auto f = st::File::from_bytes(bytes, "fuzz.safetensors");
      for (const auto& [name, info] : f.tensors()) {
        try {
          auto v = f.read_f32(name);
          EXPECT_EQ(static_cast<std::int64_t>(v.size()), info.numel());
        } catch (const Error&) {
        }
      }
      ++parsed;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::data);
      ++refused;
    }
  }
  EXPECT_GT(refused, 100);
  EXPECT_GT(parsed, 0);
}

TEST(Safetensors, ShardedFolderWithIndex) {
  testing::TempDir dir;
  st::write_file(dir / "model-00001-of-00002.safetensors", {{"x", st::DType::F32, {2}, {1, 2}}});
  st::write_file(dir / "model-00002-of-00002.safetensors", {{"y", st::DType::BF16, {1}, {3}}});
  write_file_atomic(dir / "model.safetensors.index.json",
                    R"({"metadata":{},"weight_map":{"x":"model-00001-of-00002.safetensors",)"
                    R"("y":"model-00002-of-00002.safetensors"}})");
  st::ModelFolder folder(dir.path());
  EXPECT_EQ(folder.names(), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(folder.read_f32("y"), (std::vector<float>{3}));
  // A shard name that leaves the folder is refused.
  write_file_atomic(dir / "model.safetensors.index.json", R"({"weight_map":{"x":"../evil.safetensors"}})");
  EXPECT_THROW(st::ModelFolder{dir.path()}, Error);
  // The index must agree with the shards.
  write_file_atomic(dir / "model.safetensors.index.json",
                    R"({"weight_map":{"x":"model-00002-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}})");
  EXPECT_THROW(st::ModelFolder{dir.path()}, Error);
}

}  // namespace
}  // namespace personas
