// The GGUF reader on the committed fixtures (metadata, tensor infos, values)
// and on the real SmolLM2-135M-Instruct file when it is present.
#include "io/gguf.h"

#include <gtest/gtest.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <set>

#include "gguf_test_util.h"

namespace personas {
namespace {

using gguf::GgmlType;
using gguf::ValueType;

std::string checksum_hex(std::span<const float> v) { return fmt::format("{:016x}", gguf::values_checksum(v)); }

void expect_data_error_containing(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error, expected one containing: " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data);
    EXPECT_NE(e.message().find(needle), std::string::npos) << e.message();
  }
}

TEST(GgufReader, EveryValueTypeReadsBack) {
  const auto file = gguf::File::open(gguf_test::fixture("kv-types.gguf"));
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.alignment(), 64u);
  EXPECT_EQ(file.data_offset() % 64, 0u);
  EXPECT_EQ(file.get_string("general.architecture"), "fixture");
  EXPECT_EQ(file.get_int("t.u8"), 200);
  EXPECT_EQ(file.get_int("t.i8"), -100);
  EXPECT_EQ(file.get_int("t.u16"), 60000);
  EXPECT_EQ(file.get_int("t.i16"), -30000);
  EXPECT_EQ(file.get_int("t.u32"), 4000000000LL);
  EXPECT_EQ(file.get_int("t.i32"), -2000000000);
  EXPECT_EQ(file.get_float("t.f32"), static_cast<double>(0.1f));
  EXPECT_TRUE(file.get_bool("t.bool_true"));
  EXPECT_FALSE(file.get_bool("t.bool_false"));
  EXPECT_EQ(file.get_string("t.string"), "h\xc3\xa9llo, \xe2\x98\x83 world");
  EXPECT_EQ(file.get_string("t.empty_string"), "");
  EXPECT_EQ(file.get_int("t.u64_small"), 12345);
  EXPECT_EQ(file.get_int("t.i64"), -9000000000000000000LL);
  EXPECT_EQ(file.get_float("t.f64"), 2.718281828459045);
  EXPECT_EQ(file.get_float("t.u32"), 4e9);  // integers read as numbers too
  // u64 above INT64_MAX: kept as bytes, refused as int64
  EXPECT_EQ(file.get("t.u64").type, ValueType::u64);
  expect_data_error_containing([&] { file.get_int("t.u64"); }, "does not fit");

  EXPECT_EQ(file.get_int_array("t.arr_u8"), (std::vector<std::int64_t>{1, 2, 255}));
  EXPECT_EQ(file.get_int_array("t.arr_i8"), (std::vector<std::int64_t>{-1, 0, 127}));
  EXPECT_EQ(file.get_int_array("t.arr_u16"), (std::vector<std::int64_t>{0, 65535}));
  EXPECT_EQ(file.get_int_array("t.arr_i16"), (std::vector<std::int64_t>{-32768, 32767}));
  EXPECT_EQ(file.get_int_array("t.arr_u32"), (std::vector<std::int64_t>{7, 4294967295LL}));
  EXPECT_EQ(file.get_int_array("t.arr_i32"), (std::vector<std::int64_t>{-5, 3, 1, 1}));
  EXPECT_EQ(file.get_int_array("t.arr_u64"), (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(file.get_int_array("t.arr_i64"), (std::vector<std::int64_t>{-(1LL << 62), 1LL << 62}));
  EXPECT_EQ(file.get_float_array("t.arr_f32"), (std::vector<float>{0.5f, -1.25f, 3.0e38f}));
  EXPECT_EQ(file.get_float_array("t.arr_f64"), (std::vector<float>{0.1f, -2.5f}));
  EXPECT_EQ(file.get_string_array("t.arr_string"),
            (std::vector<std::string>{"a", "", "\xc4\xa0Hello", "<|im_end|>"}));
  const auto& flags = file.get("t.arr_bool");
  EXPECT_EQ(flags.element_type, ValueType::boolean);
  ASSERT_EQ(flags.size(), 3u);
  EXPECT_EQ(flags.raw, std::string("\x01\x00\x01", 3));
  const auto& nested = file.get("t.arr_nested");
  EXPECT_EQ(nested.element_type, ValueType::array);
  ASSERT_EQ(nested.arrays.size(), 2u);
  EXPECT_EQ(nested.arrays[0].size(), 2u);
  EXPECT_EQ(nested.arrays[1].int_at(2, "nested"), 5);

  // keys in file order
  const auto keys = file.keys();
  ASSERT_GE(keys.size(), 3u);
  EXPECT_EQ(keys[0], "general.architecture");
  EXPECT_EQ(keys[1], "general.alignment");
  EXPECT_TRUE(file.has("t.arr_nested"));
  EXPECT_FALSE(file.has("t.nope"));

  // tensors
  const auto expected = gguf_test::fixture_json("quants.json").at("kv_types");
  ASSERT_EQ(file.tensors().size(), 2u);
  const auto* a = file.find_tensor("a");
  const auto* b = file.find_tensor("b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->type, GgmlType::f32);
  EXPECT_EQ(a->ne, (std::vector<std::int64_t>{64, 2}));
  EXPECT_EQ(a->n_values(), 128);
  EXPECT_EQ(b->type, GgmlType::q8_0);
  EXPECT_EQ(b->ne, (std::vector<std::int64_t>{32, 3}));
  EXPECT_EQ(b->n_bytes, 3u * 34u);
  EXPECT_EQ(b->offset % 64, 0u);
  EXPECT_EQ(checksum_hex(file.read_f32(*a)), expected.at("a_checksum").get<std::string>());
  EXPECT_EQ(checksum_hex(file.read_f32(*b)), expected.at("b_checksum").get<std::string>());
  EXPECT_EQ(file.find_tensor("c"), nullptr);
  EXPECT_EQ(&file.tensor("b"), b);
  expect_data_error_containing([&] { file.tensor("c"); }, "has no tensor 'c'");
  EXPECT_EQ(file.tensor_bytes(*b).size(), 102u);
}

TEST(GgufReader, TypedGettersNameTheFileAndKey) {
  const auto file = gguf::File::open(gguf_test::fixture("kv-types.gguf"));
  const std::string name = gguf_test::fixture("kv-types.gguf").string();
  EXPECT_EQ(file.name(), name);
  auto check = [&](const std::function<void()>& fn, const std::string& key, const std::string& needle) {
    try {
      fn();
      ADD_FAILURE() << "no error for " << key;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::data);
      EXPECT_NE(e.message().find(name), std::string::npos) << e.message();
      EXPECT_NE(e.message().find("'" + key + "'"), std::string::npos) << e.message();
      EXPECT_NE(e.message().find(needle), std::string::npos) << e.message();
    }
  };
  check([&] { file.get_string("t.u32"); }, "t.u32", "expected a string");
  check([&] { file.get_int("t.string"); }, "t.string", "expected an integer");
  check([&] { file.get_int("t.f32"); }, "t.f32", "expected an integer");
  check([&] { file.get_float("t.arr_f32"); }, "t.arr_f32", "expected a number");
  check([&] { file.get_bool("t.u8"); }, "t.u8", "expected bool");
  check([&] { file.get_string_array("t.arr_i32"); }, "t.arr_i32", "expected an array of strings");
  check([&] { file.get_int_array("t.arr_string"); }, "t.arr_string", "expected an array of integers");
  check([&] { file.get_float_array("t.arr_nested"); }, "t.arr_nested", "expected an array of numbers");
  check([&] { file.get_int("llama.block_count"); }, "llama.block_count", "has no key");
}

TEST(GgufReader, TinyLlamaMetadataAndTensors) {
  const auto expected = gguf_test::fixture_json("tiny-llama.json");
  const auto file = gguf::File::open(gguf_test::fixture("tiny-llama.gguf"));
  const auto& c = expected.at("config");
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.alignment(), 32u);
  EXPECT_EQ(file.get_string("general.architecture"), "llama");
  EXPECT_EQ(file.get_int("llama.block_count"), c.at("n_layers").get<int>());
  EXPECT_EQ(file.get_int("llama.embedding_length"), c.at("hidden").get<int>());
  EXPECT_EQ(file.get_int("llama.feed_forward_length"), c.at("ffn").get<int>());
  EXPECT_EQ(file.get_int("llama.attention.head_count"), c.at("n_heads").get<int>());
  EXPECT_EQ(file.get_int("llama.attention.head_count_kv"), c.at("n_kv_heads").get<int>());
  EXPECT_EQ(file.get_int("llama.context_length"), c.at("context").get<int>());
  EXPECT_EQ(file.get_int("llama.vocab_size"), c.at("vocab_size").get<int>());
  EXPECT_EQ(file.get_int("llama.rope.dimension_count"), c.at("head_dim").get<int>());
  EXPECT_EQ(file.get_float("llama.rope.freq_base"), 100000.0);
  EXPECT_EQ(file.get("llama.attention.layer_norm_rms_epsilon").type, ValueType::f32);
  EXPECT_EQ(static_cast<float>(file.get_float("llama.attention.layer_norm_rms_epsilon")), 1e-5f);

  const auto& tok = expected.at("tokenizer");
  EXPECT_EQ(file.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(file.get_string("tokenizer.ggml.pre"), "smollm");
  const auto tokens = file.get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), tok.at("n_tokens").get<std::size_t>());
  EXPECT_EQ(tokens[0], "<|endoftext|>");
  EXPECT_EQ(tokens[1], "<|im_start|>");
  EXPECT_EQ(tokens[2], "<|im_end|>");
  EXPECT_EQ(tokens[3], "!");                 // GPT-2 byte order: printable bytes first
  EXPECT_EQ(tokens[3 + 0x30 - 0x21], "0");
  EXPECT_EQ(tokens[3 + 188], "\xc4\x80");    // byte 0x00 -> U+0100
  EXPECT_EQ(tokens[3 + 188 + 32], "\xc4\xa0");  // space -> U+0120 'Ġ'
  const auto merges = file.get_string_array("tokenizer.ggml.merges");
  EXPECT_EQ(merges.size(), tok.at("n_merges").get<std::size_t>());
  EXPECT_EQ(merges[0], tok.at("first_merges")[0].get<std::string>());
  const auto types = file.get_int_array("tokenizer.ggml.token_type");
  ASSERT_EQ(types.size(), tokens.size());
  EXPECT_EQ(types[0], 3);
  EXPECT_EQ(types[3], 1);
  EXPECT_EQ(file.get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(file.get_int("tokenizer.ggml.eos_token_id"), 2);
  EXPECT_EQ(file.get_int("tokenizer.ggml.unknown_token_id"), 0);
  EXPECT_EQ(file.get_int("tokenizer.ggml.padding_token_id"), 2);
  EXPECT_FALSE(file.get_bool("tokenizer.ggml.add_bos_token"));
  const auto chat = file.get_string("tokenizer.chat_template");
  EXPECT_EQ(chat.size(), tok.at("chat_template_length").get<std::size_t>());
  EXPECT_NE(chat.find("<|im_start|>assistant\n"), std::string::npos);

  const auto& tensors = expected.at("tensors");
  ASSERT_EQ(file.tensors().size(), tensors.size());
  EXPECT_EQ(file.find_tensor("output.weight"), nullptr);  // tied embeddings
  std::set<std::string> seen_types;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& want = tensors[i];
    const auto& info = file.tensors()[i];
    SCOPED_TRACE(info.name);
    EXPECT_EQ(info.name, want.at("name").get<std::string>());
    EXPECT_EQ(static_cast<int>(info.type), want.at("type_id").get<int>());
    EXPECT_EQ(info.ne, want.at("ne").get<std::vector<std::int64_t>>());
    const auto values = file.read_f32(info);
    EXPECT_EQ(checksum_hex(values), want.at("checksum").get<std::string>());
    for (const auto& s : want.at("samples")) {
      const auto index = s.at("index").get<std::size_t>();
      ASSERT_LT(index, values.size());
      EXPECT_EQ(fmt::format("{:08x}", std::bit_cast<std::uint32_t>(values[index])), s.at("bits").get<std::string>());
    }
    seen_types.insert(gguf::ggml_type_name(info.type));
  }
  EXPECT_EQ(seen_types.size(), 11u);  // every supported type appears
}

TEST(GgufReader, Version2ReadsLikeVersion3) {
  std::string bytes = read_file(gguf_test::fixture("quant-Q4_1.gguf"));
  const auto v3 = gguf::File::from_bytes(bytes, "v3");
  gguf_test::put_u32(bytes, 4, 2);
  const auto v2 = gguf::File::from_bytes(bytes, "v2");
  EXPECT_EQ(v2.version(), 2u);
  ASSERT_EQ(v2.tensors().size(), v3.tensors().size());
  for (std::size_t i = 0; i < v2.tensors().size(); ++i)
    EXPECT_EQ(v2.read_f32(v2.tensors()[i]), v3.read_f32(v3.tensors()[i]));
}

TEST(GgufReader, OpenReportsAMissingFileAsIo) {
  try {
    gguf::File::open("/nonexistent/model.gguf");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io);
    EXPECT_NE(e.message().find("/nonexistent/model.gguf"), std::string::npos) << e.message();
  }
}

// ---- the real model ---------------------------------------------------------------

TEST(GgufSmolLM2, HeaderMetadataAndTensors) {
  PERSONAS_REQUIRE_SMOLLM2(path);
  const auto file = gguf::File::open(path);
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.tensors().size(), 272u);
  EXPECT_EQ(file.keys().size(), 33u);
  EXPECT_EQ(file.alignment(), 32u);
  EXPECT_EQ(file.data_offset(), 1785664u);
  EXPECT_EQ(file.file_size(), 98362432u);
  EXPECT_EQ(file.get_string("general.architecture"), "llama");
  EXPECT_EQ(file.get_int("llama.embedding_length"), 576);
  EXPECT_EQ(file.get_int("llama.block_count"), 30);
  EXPECT_EQ(file.get_int("llama.feed_forward_length"), 1536);
  EXPECT_EQ(file.get_int("llama.attention.head_count"), 9);
  EXPECT_EQ(file.get_int("llama.attention.head_count_kv"), 3);
  EXPECT_EQ(file.get_int("llama.context_length"), 8192);
  EXPECT_EQ(file.get_int("llama.vocab_size"), 49152);
  EXPECT_EQ(file.get_float("llama.rope.freq_base"), 1e5);
  EXPECT_EQ(static_cast<float>(file.get_float("llama.attention.layer_norm_rms_epsilon")), 1e-5f);
  EXPECT_EQ(file.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(file.get_string("tokenizer.ggml.pre"), "smollm");
  EXPECT_EQ(file.get_string_array("tokenizer.ggml.tokens").size(), 49152u);
  EXPECT_EQ(file.get_string_array("tokenizer.ggml.merges").size(), 48900u);
  EXPECT_EQ(file.get_string("tokenizer.chat_template").size(), 368u);
  EXPECT_EQ(file.get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(file.get_int("tokenizer.ggml.eos_token_id"), 2);
  std::map<std::string, std::int64_t> values_by_type;
  std::uint64_t total_bytes = 0;
  for (const auto& t : file.tensors()) {
    values_by_type[gguf::ggml_type_name(t.type)] += t.n_values();
    total_bytes += t.n_bytes;
  }
  EXPECT_EQ(values_by_type["Q4_1"], 106168320);
  EXPECT_EQ(values_by_type["Q8_0"], 28311552);
  EXPECT_EQ(values_by_type["F32"], 35136);
  EXPECT_EQ(total_bytes, 96576768u);
  const auto* embd = file.find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->type, GgmlType::q8_0);
  EXPECT_EQ(embd->ne, (std::vector<std::int64_t>{576, 49152}));
  EXPECT_EQ(file.find_tensor("output.weight"), nullptr);
}

TEST(GgufSmolLM2, DequantizedValuesMatchThePythonReference) {
  PERSONAS_REQUIRE_SMOLLM2(path);
  const auto expected = gguf_test::fixture_json("smollm2-expected.json");
  const auto file = gguf::File::open(path);
  EXPECT_EQ(file.data_offset(), expected.at("data_offset").get<std::uint64_t>());
  ASSERT_GE(expected.at("tensors").size(), 2u);
  std::set<std::string> types;
  for (const auto& want : expected.at("tensors")) {
    const auto name = want.at("name").get<std::string>();
    SCOPED_TRACE(name);
    const auto* info = file.find_tensor(name);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(gguf::ggml_type_name(info->type), want.at("type").get<std::string>());
    EXPECT_EQ(info->ne, want.at("ne").get<std::vector<std::int64_t>>());
    const auto values = file.read_f32(*info);
    for (const auto& s : want.at("samples")) {
      const auto index = s.at("index").get<std::size_t>();
      ASSERT_LT(index, values.size());
      EXPECT_EQ(values[index], s.at("value").get<float>()) << "index " << index;
      EXPECT_EQ(fmt::format("{:08x}", std::bit_cast<std::uint32_t>(values[index])), s.at("bits").get<std::string>());
    }
    EXPECT_EQ(checksum_hex(values), want.at("checksum").get<std::string>());
    types.insert(want.at("type").get<std::string>());
  }
  EXPECT_TRUE(types.count("Q8_0") && types.count("Q4_1"));
}

// Reads and dequantizes the whole file, single-threaded, and prints the rate
// (the figure docs/formats.md quotes). Every value must be finite.
TEST(GgufSmolLM2, WholeFileDequantizes) {
  PERSONAS_REQUIRE_SMOLLM2(path);
  // Thread CPU time as well as wall time: on a loaded machine the wall clock
  // mostly measures the other processes.
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  const double c0 = cpu_now();
  const auto file = gguf::File::open(path);
  const auto t1 = clock::now();
  const double c1 = cpu_now();
  std::int64_t n_values = 0;
  std::int64_t n_nonfinite = 0;
  std::map<std::string, std::pair<std::int64_t, double>> by_type;  // values, seconds
  std::vector<float> buffer;
  for (const auto& t : file.tensors()) {
    buffer.resize(static_cast<std::size_t>(t.n_values()));
    const double s = cpu_now();
    file.read_f32(t, buffer);
    const double sec = cpu_now() - s;
    auto& entry = by_type[gguf::ggml_type_name(t.type)];
    entry.first += t.n_values();
    entry.second += sec;
    n_values += t.n_values();
    for (float v : buffer) n_nonfinite += std::isfinite(v) ? 0 : 1;
  }
  const auto t2 = clock::now();
  const double c2 = cpu_now();
  EXPECT_EQ(n_values, 134515008);
  EXPECT_EQ(n_nonfinite, 0);
  const double wall_s = std::chrono::duration<double>(t2 - t0).count();
  std::printf("[ gguf    ] SmolLM2, one thread: open + parse %.3f s CPU (%.3f s wall); open + read + dequantize "
              "all %lld values %.3f s CPU, %.3f s wall (%.0f M values/s CPU; finiteness scan included)\n",
              c1 - c0, std::chrono::duration<double>(t1 - t0).count(), static_cast<long long>(n_values), c2 - c0,
              wall_s, static_cast<double>(n_values) / (c2 - c0) / 1e6);
  for (const auto& [type, entry] : by_type)
    std::printf("[ gguf    ]   %-5s %10lld values dequantized in %.3f s CPU: %.0f M values/s\n", type.c_str(),
                static_cast<long long>(entry.first), entry.second,
                static_cast<double>(entry.first) / entry.second / 1e6);
}

}  // namespace
}  // namespace personas
