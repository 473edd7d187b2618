// GGUF v2/v3 reader (the llama.cpp model container; spec:
// https://github.com/ggml-org/ggml/blob/master/docs/gguf.md, summary in
// docs/formats.md "GGUF input"). Little-endian:
//   "GGUF", u32 version, u64 tensor_count, u64 kv_count,
//   kv_count x (string key, u32 value type, value),
//   tensor_count x (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset),
//   padding to general.alignment (default 32), the data section.
// Every count, length, offset and size is checked against the file size before
// anything is allocated or read, so a truncated or hostile file gives a
// personas::Error (ErrorKind::data) naming the file, the field and the byte
// offset: never a crash, never a huge allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/fs.h"
#include "io/gguf_quants.h"

namespace personas::gguf {

enum class ValueType : std::uint32_t {
  u8 = 0,
  i8 = 1,
  u16 = 2,
  i16 = 3,
  u32 = 4,
  i32 = 5,
  f32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  u64 = 10,
  i64 = 11,
  f64 = 12,
};
const char* value_type_name(ValueType t);  // "u8", ..., "string", "array"

// A typed metadata value. Scalars keep their little-endian bytes in `raw`;
// arrays of scalars keep the packed elements in `raw` (so a huge u8 array costs
// its size, not 50x); arrays of strings use `strings`, arrays of arrays `arrays`.
struct Value {
  ValueType type = ValueType::u8;
  ValueType element_type = ValueType::u8;  // when type == array
  std::string raw;                         // scalar / packed scalar array bytes; string text
  std::vector<std::string> strings;        // array of strings
  std::vector<Value> arrays;               // array of arrays

  bool is_array() const { return type == ValueType::array; }
  std::size_t size() const;  // array length (1 for a scalar)
  // Scalars (ErrorKind::data when the type does not fit; `what` names the value in messages):
  bool is_integer() const;  // u8..i64 scalar
  std::int64_t as_int(std::string_view what) const;  // any integer type (u64 above INT64_MAX refused)
  double as_float(std::string_view what) const;      // f32/f64 and integers
  bool as_bool(std::string_view what) const;
  const std::string& as_string(std::string_view what) const;
  // Element i of an array of scalars (integer / float / bool element types).
  std::int64_t int_at(std::size_t i, std::string_view what) const;
  double float_at(std::size_t i, std::string_view what) const;
};

struct TensorInfo {
  std::string name;
  std::vector<std::int64_t> ne;  // ne[0] contiguous (the GGUF order)
  GgmlType type = GgmlType::f32;
  std::uint64_t offset = 0;   // relative to the data section
  std::uint64_t n_bytes = 0;  // blocks * bytes per block
  std::int64_t n_values() const;
};

class File {
 public:
  // Memory-maps the file (read-only). ErrorKind::io when it cannot be opened.
  static File open(const fs::path& path);
  // Parses bytes held in memory (tests, mutation tests).
  static File from_bytes(std::string bytes, std::string name = "<memory>");

  std::uint32_t version() const { return version_; }
  std::uint64_t alignment() const { return alignment_; }        // general.alignment or 32
  std::uint64_t data_offset() const { return data_offset_; }    // absolute start of the data section
  std::uint64_t file_size() const { return bytes_.size(); }

  bool has(std::string_view key) const;
  // The value of `key`; ErrorKind::data naming the file and key when missing.
  const Value& get(std::string_view key) const;
  const Value* find(std::string_view key) const;  // nullptr when absent
  // Typed getters: ErrorKind::data naming file + key when missing or of another type.
  std::string get_string(std::string_view key) const;
  std::int64_t get_int(std::string_view key) const;  // any integer type
  double get_float(std::string_view key) const;      // f32/f64 (and integers)
  bool get_bool(std::string_view key) const;
  std::vector<std::string> get_string_array(std::string_view key) const;
  std::vector<std::int64_t> get_int_array(std::string_view key) const;  // any integer element type
  std::vector<float> get_float_array(std::string_view key) const;       // f32/f64 (and integer) elements
  std::vector<std::string> keys() const;  // in file order

  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // in file order
  const TensorInfo* find_tensor(std::string_view name) const;          // nullptr when absent
  const TensorInfo& tensor(std::string_view name) const;  // ErrorKind::data naming file + tensor when absent
  // The raw blocks of a tensor (inside the mapped file).
  std::span<const std::byte> tensor_bytes(const TensorInfo& t) const;
  // Dequantized to fp32, row-major [ne1][ne0] (ne0 fastest), i.e. the stored order.
  std::vector<float> read_f32(const TensorInfo& t) const;
  // Same into a caller buffer of exactly t.n_values() floats.
  void read_f32(const TensorInfo& t, std::span<float> out) const;

  const std::string& name() const { return name_; }  // path, for messages

 private:
  struct Storage;
  File() = default;
  void parse();

  std::string name_;
  std::shared_ptr<const Storage> storage_;
  std::string_view bytes_;
  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = 32;
  std::uint64_t data_offset_ = 0;
  std::vector<std::string> key_order_;
  std::map<std::string, Value, std::less<>> kv_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t, std::less<>> tensor_index_;
};

}  // namespace personas::gguf
