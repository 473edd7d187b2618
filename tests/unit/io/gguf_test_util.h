// Shared by the gguf_*_test.cpp files: fixture paths, the real SmolLM2 file,
// a byte builder for hand-made (and broken) GGUF files, error expectations.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/errors.h"
#include "core/fs.h"
#include "io/gguf.h"
#include "support/test_support.h"

namespace personas::gguf_test {

inline std::filesystem::path fixture_dir() {
  return personas::testing::source_dir() / "tests" / "golden" / "fixtures" / "gguf";
}
inline std::filesystem::path fixture(const std::string& name) { return fixture_dir() / name; }
inline nlohmann::json fixture_json(const std::string& name) {
  return nlohmann::json::parse(personas::read_file(fixture(name)));
}

// The real model, where scripts/fetch-model.sh puts it.
inline std::optional<std::filesystem::path> smollm2_path() {
  return personas::testing::cached_model("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
}

#define PERSONAS_REQUIRE_SMOLLM2(var)                                                                  \
  auto var##_opt = ::personas::gguf_test::smollm2_path();                                              \
  if (!var##_opt)                                                                                      \
    GTEST_SKIP() << "SmolLM2-135M-Instruct.Q4_1.gguf not found under $PERSONAS_CACHE/models/smollm2 " \
                    "(default ~/.cache/personas); run scripts/fetch-model.sh smollm2";                 \
  const std::filesystem::path var = *var##_opt

// Little-endian GGUF bytes, field by field.
struct Builder {
  std::string out;
  Builder& u8(std::uint8_t v) { out.push_back(static_cast<char>(v)); return *this; }
  Builder& u32(std::uint32_t v) { return raw(&v, 4); }
  Builder& u64(std::uint64_t v) { return raw(&v, 8); }
  Builder& f32(float v) { return raw(&v, 4); }
  Builder& str(std::string_view s) { u64(s.size()); out.append(s); return *this; }
  Builder& raw(const void* p, std::size_t n) { out.append(static_cast<const char*>(p), n); return *this; }
  Builder& header(std::uint64_t n_tensors, std::uint64_t n_kv, std::uint32_t version = 3) {
    out.append("GGUF");
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  Builder& kv_u32(std::string_view key, std::uint32_t v) { return str(key).u32(4).u32(v); }
  Builder& kv_string(std::string_view key, std::string_view v) { return str(key).u32(8).str(v); }
  Builder& tensor(std::string_view name, const std::vector<std::uint64_t>& ne, std::uint32_t type,
                  std::uint64_t offset) {
    str(name).u32(static_cast<std::uint32_t>(ne.size()));
    for (auto d : ne) u64(d);
    return u32(type).u64(offset);
  }
  Builder& pad(std::size_t alignment = 32) {
    while (out.size() % alignment != 0) out.push_back('\0');
    return *this;
  }
  // n Q8_0 blocks with scale 1.0 (f16 0x3c00) and quants 0, 1, ..., 31.
  Builder& q8_blocks(int n) {
    for (int b = 0; b < n; ++b) {
      u8(0x00).u8(0x3c);
      for (int j = 0; j < 32; ++j) u8(static_cast<std::uint8_t>(j));
    }
    return *this;
  }
};

// Every copy of GGUF data below starts from this: one string kv, a Q8_0
// tensor "w" [32 x 2] at offset 0 and an F32 tensor "n" [4] at offset 96.
inline std::string small_valid_file() {
  Builder b;
  b.header(2, 1).kv_string("general.architecture", "llama");
  b.tensor("w", {32, 2}, 8, 0).tensor("n", {4}, 0, 96).pad();
  b.q8_blocks(2).pad();
  for (float v : {1.0f, 2.0f, 3.0f, 4.0f}) b.f32(v);
  return b.out;
}

// Expects from_bytes(bytes) to fail with ErrorKind::data, naming the file and `needle`.
inline void expect_data_error(const std::string& bytes, const std::string& needle) {
  SCOPED_TRACE(needle);
  try {
    auto f = gguf::File::from_bytes(bytes, "bad.gguf");
    ADD_FAILURE() << "no error for a file that should fail with: " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data) << e.what();
    EXPECT_NE(e.message().find(needle), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("bad.gguf"), std::string::npos) << e.message();
  }
}

inline void put_u32(std::string& bytes, std::size_t at, std::uint32_t v) { std::memcpy(bytes.data() + at, &v, 4); }
inline void put_u64(std::string& bytes, std::size_t at, std::uint64_t v) { std::memcpy(bytes.data() + at, &v, 8); }

}  // namespace personas::gguf_test
