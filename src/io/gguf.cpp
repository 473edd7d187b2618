#include "io/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/ranges.h>

#include "core/errors.h"

namespace personas::gguf {

namespace {

constexpr std::uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr std::uint64_t kDefaultAlignment = 32;
constexpr std::uint32_t kMaxDims = 4;        // GGML_MAX_DIMS
constexpr int kMaxArrayNesting = 8;          // arrays of arrays of ...; real files use none
// Smallest encodings, used to cap counts by the bytes left before reserving:
constexpr std::uint64_t kMinKvBytes = 8 + 4 + 1;          // empty key, type, a u8
constexpr std::uint64_t kMinTensorInfoBytes = 8 + 4 + 8;  // empty name, n_dims 0, type, offset

std::size_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::u8:
    case ValueType::i8:
    case ValueType::boolean: return 1;
    case ValueType::u16:
    case ValueType::i16: return 2;
    case ValueType::u32:
    case ValueType::i32:
    case ValueType::f32: return 4;
    case ValueType::u64:
    case ValueType::i64:
    case ValueType::f64: return 8;
    case ValueType::string:
    case ValueType::array: return 0;
  }
  return 0;
}

bool known_value_type(std::uint32_t t) { return t <= static_cast<std::uint32_t>(ValueType::f64); }

bool is_integer_type(ValueType t) {
  switch (t) {
    case ValueType::u8:
    case ValueType::i8:
    case ValueType::u16:
    case ValueType::i16:
    case ValueType::u32:
    case ValueType::i32:
    case ValueType::u64:
    case ValueType::i64: return true;
    default: return false;
  }
}

// Reads the integer of type t at p; u64 values above INT64_MAX are refused.
std::int64_t load_int(ValueType t, const char* p, std::string_view what) {
  switch (t) {
    case ValueType::u8: return static_cast<unsigned char>(*p);
    case ValueType::i8: return static_cast<signed char>(*p);
    case ValueType::u16: { std::uint16_t v; std::memcpy(&v, p, 2); return v; }
    case ValueType::i16: { std::int16_t v; std::memcpy(&v, p, 2); return v; }
    case ValueType::u32: { std::uint32_t v; std::memcpy(&v, p, 4); return v; }
    case ValueType::i32: { std::int32_t v; std::memcpy(&v, p, 4); return v; }
    case ValueType::i64: { std::int64_t v; std::memcpy(&v, p, 8); return v; }
    case ValueType::u64: {
      std::uint64_t v;
      std::memcpy(&v, p, 8);
      PERSONAS_CHECK(v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()), data,
                     "{}: u64 value {} does not fit a signed 64-bit integer", what, v);
      return static_cast<std::int64_t>(v);
    }
    default: break;
  }
  PERSONAS_FAIL(data, "{}: is {}, expected an integer", what, value_type_name(t));
}

double load_float(ValueType t, const char* p, std::string_view what) {
  if (t == ValueType::f32) {
    float v;
    std::memcpy(&v, p, 4);
    return v;
  }
  if (t == ValueType::f64) {
    double v;
    std::memcpy(&v, p, 8);
    return v;
  }
  if (is_integer_type(t)) return static_cast<double>(load_int(t, p, what));
  PERSONAS_FAIL(data, "{}: is {}, expected a number", what, value_type_name(t));
}

std::string describe_type(const Value& v) {
  if (!v.is_array()) return value_type_name(v.type);
  return fmt::format("array of {} {}", v.size(), value_type_name(v.element_type));
}

// A bounds-checked little-endian cursor over the file bytes.
class Cursor {
 public:
  Cursor(std::string_view bytes, const std::string& file) : bytes_(bytes), file_(file) {}

  std::uint64_t pos() const { return pos_; }
  std::uint64_t left() const { return bytes_.size() - pos_; }
  std::uint64_t size() const { return bytes_.size(); }

  // ErrorKind::data unless n more bytes exist.
  void need(std::uint64_t n, std::string_view what) const {
    PERSONAS_CHECK(n <= left(), data,
                   "GGUF file '{}': {} at byte {} needs {} bytes, but the file of {} bytes has only {} left "
                   "(truncated or corrupt)",
                   file_, what, pos_, n, size(), left());
  }
  const char* take(std::uint64_t n, std::string_view what) {
    need(n, what);
    const char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::uint32_t u32(std::string_view what) {
    std::uint32_t v;
    std::memcpy(&v, take(4, what), 4);
    return v;
  }
  std::uint64_t u64(std::string_view what) {
    std::uint64_t v;
    std::memcpy(&v, take(8, what), 8);
    return v;
  }
  std::string string(std::string_view what) {
    const std::uint64_t at = pos_;
    const std::uint64_t n = u64(what);
    PERSONAS_CHECK(n <= left(), data,
                   "GGUF file '{}': {} length {} (at byte {}) exceeds the {} bytes left in the file of {} bytes",
                   file_, what, n, at, left(), size());
    const char* p = take(n, what);
    return std::string(p, n);
  }
  [[noreturn]] void fail_at(std::uint64_t at, std::string_view message) const {
    PERSONAS_FAIL(data, "GGUF file '{}': {} (at byte {})", file_, message, at);
  }

 private:
  std::string_view bytes_;
  const std::string& file_;
  std::uint64_t pos_ = 0;
};

void read_value(Cursor& in, ValueType type, Value& out, const std::string& what, int depth);

void read_array(Cursor& in, Value& out, const std::string& what, int depth) {
  const std::uint64_t at = in.pos();
  const std::uint32_t element = in.u32(what + " array element type");
  if (!known_value_type(element)) in.fail_at(at, fmt::format("{}: unknown array element type {}", what, element));
  const auto element_type = static_cast<ValueType>(element);
  if (element_type == ValueType::array && depth + 1 >= kMaxArrayNesting)
    in.fail_at(at, fmt::format("{}: arrays nested deeper than {} levels", what, kMaxArrayNesting));
  const std::uint64_t count_at = in.pos();
  const std::uint64_t count = in.u64(what + " array count");
  const std::uint64_t min_element = element_type == ValueType::string  ? 8
                                    : element_type == ValueType::array ? 12
                                                                       : scalar_size(element_type);
  if (count > in.left() / min_element)
    in.fail_at(count_at, fmt::format("{}: array of {} {} needs at least {} bytes each, but only {} bytes are left",
                                     what, count, value_type_name(element_type), min_element, in.left()));
  out.type = ValueType::array;
  out.element_type = element_type;
  if (element_type == ValueType::string) {
    out.strings.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i) out.strings.push_back(in.string(fmt::format("{}[{}]", what, i)));
  } else if (element_type == ValueType::array) {
    out.arrays.resize(count);
    for (std::uint64_t i = 0; i < count; ++i)
      read_array(in, out.arrays[i], fmt::format("{}[{}]", what, i), depth + 1);
  } else {
    const std::uint64_t n = count * min_element;
    out.raw.assign(in.take(n, what), n);
    if (element_type == ValueType::boolean)
      for (std::uint64_t i = 0; i < count; ++i)
        if (static_cast<unsigned char>(out.raw[i]) > 1)
          in.fail_at(count_at + 8 + i, fmt::format("{}[{}]: bool byte {} is neither 0 nor 1", what, i,
                                                   static_cast<unsigned>(static_cast<unsigned char>(out.raw[i]))));
  }
}

void read_value(Cursor& in, ValueType type, Value& out, const std::string& what, int depth) {
  out.type = type;
  if (type == ValueType::string) {
    out.raw = in.string(what);
  } else if (type == ValueType::array) {
    read_array(in, out, what, depth);
  } else {
    const std::uint64_t at = in.pos();
    const std::size_t n = scalar_size(type);
    out.raw.assign(in.take(n, what), n);
    if (type == ValueType::boolean && static_cast<unsigned char>(out.raw[0]) > 1)
      in.fail_at(at, fmt::format("{}: bool byte {} is neither 0 nor 1", what,
                                 static_cast<unsigned>(static_cast<unsigned char>(out.raw[0]))));
  }
}

// a + b + c as decimal text, without wrapping (the sum of three u64 fits 66 bits).
std::string sum_text(std::uint64_t a, std::uint64_t b, std::uint64_t c = 0) {
  __extension__ typedef unsigned __int128 u128;
  u128 v = static_cast<u128>(a) + b + c;
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  } while (v != 0);
  return digits;
}

std::uint64_t align_up(std::uint64_t x, std::uint64_t alignment) {
  const std::uint64_t r = x % alignment;
  return r == 0 ? x : x + (alignment - r);
}

}  // namespace

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::u8: return "u8";
    case ValueType::i8: return "i8";
    case ValueType::u16: return "u16";
    case ValueType::i16: return "i16";
    case ValueType::u32: return "u32";
    case ValueType::i32: return "i32";
    case ValueType::f32: return "f32";
    case ValueType::boolean: return "bool";
    case ValueType::string: return "string";
    case ValueType::array: return "array";
    case ValueType::u64: return "u64";
    case ValueType::i64: return "i64";
    case ValueType::f64: return "f64";
  }
  return "?";
}

// ---- Value ------------------------------------------------------------------

std::size_t Value::size() const {
  if (!is_array()) return 1;
  if (element_type == ValueType::string) return strings.size();
  if (element_type == ValueType::array) return arrays.size();
  return raw.size() / scalar_size(element_type);
}

bool Value::is_integer() const { return is_integer_type(type); }

std::int64_t Value::as_int(std::string_view what) const { return load_int(type, raw.data(), what); }

double Value::as_float(std::string_view what) const { return load_float(type, raw.data(), what); }

bool Value::as_bool(std::string_view what) const {
  PERSONAS_CHECK(type == ValueType::boolean, data, "{}: is {}, expected bool", what, describe_type(*this));
  return raw[0] != 0;
}

const std::string& Value::as_string(std::string_view what) const {
  PERSONAS_CHECK(type == ValueType::string, data, "{}: is {}, expected a string", what, describe_type(*this));
  return raw;
}

std::int64_t Value::int_at(std::size_t i, std::string_view what) const {
  PERSONAS_CHECK(is_array() && is_integer_type(element_type), data, "{}: is {}, expected an array of integers",
                 what, describe_type(*this));
  PERSONAS_CHECK(i < size(), data, "{}: index {} beyond the array of {}", what, i, size());
  return load_int(element_type, raw.data() + i * scalar_size(element_type), what);
}

double Value::float_at(std::size_t i, std::string_view what) const {
  PERSONAS_CHECK(is_array() && (is_integer_type(element_type) || element_type == ValueType::f32 ||
                                element_type == ValueType::f64),
                 data, "{}: is {}, expected an array of numbers", what, describe_type(*this));
  PERSONAS_CHECK(i < size(), data, "{}: index {} beyond the array of {}", what, i, size());
  return load_float(element_type, raw.data() + i * scalar_size(element_type), what);
}

std::int64_t TensorInfo::n_values() const {
  std::int64_t n = 1;
  for (auto d : ne) n *= d;  // checked against overflow when the file was parsed
  return n;
}

// ---- File -------------------------------------------------------------------

struct File::Storage {
  std::string owned;
  void* map = nullptr;
  std::size_t map_size = 0;
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (map) munmap(map, map_size);
  }
};

File File::open(const fs::path& path) {
  File f;
  f.name_ = path.string();
  auto storage = std::make_shared<Storage>();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  PERSONAS_CHECK(fd >= 0, io, "cannot open GGUF file '{}': {}", f.name_, std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    PERSONAS_FAIL(io, "cannot stat GGUF file '{}': {}", f.name_, std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    PERSONAS_FAIL(io, "GGUF file '{}' is not a regular file", f.name_);
  }
  storage->map_size = static_cast<std::size_t>(st.st_size);
  if (storage->map_size > 0) {
    void* p = mmap(nullptr, storage->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    PERSONAS_CHECK(p != MAP_FAILED, io, "cannot map GGUF file '{}': {}", f.name_, std::strerror(err));
    storage->map = p;
    f.bytes_ = std::string_view(static_cast<const char*>(p), storage->map_size);
  } else {
    ::close(fd);
  }
  f.storage_ = std::move(storage);
  f.parse();
  return f;
}

File File::from_bytes(std::string bytes, std::string name) {
  File f;
  f.name_ = std::move(name);
  auto storage = std::make_shared<Storage>();
  storage->owned = std::move(bytes);
  f.bytes_ = storage->owned;
  f.storage_ = std::move(storage);
  f.parse();
  return f;
}

void File::parse() {
  Cursor in(bytes_, name_);
  // Header.
  PERSONAS_CHECK(bytes_.size() >= 4, data, "'{}' is not a GGUF file: {} bytes, too short for the magic \"GGUF\"",
                 name_, bytes_.size());
  const std::uint32_t magic = in.u32("magic");
  if (magic != kMagic) {
    std::string shown;
    for (int i = 0; i < 4; ++i) {
      const auto c = static_cast<unsigned char>(bytes_[static_cast<std::size_t>(i)]);
      shown += (c >= 0x20 && c < 0x7f) ? std::string(1, static_cast<char>(c)) : fmt::format("\\x{:02x}", c);
    }
    PERSONAS_FAIL(data, "'{}' is not a GGUF file: it starts with \"{}\", not the magic \"GGUF\"", name_, shown);
  }
  version_ = in.u32("header version");
  if (version_ == 1)
    PERSONAS_FAIL(data, "GGUF file '{}' is GGUF version 1, which is not supported (only versions 2 and 3); "
                  "re-convert it with a current llama.cpp", name_);
  if (version_ != 2 && version_ != 3) {
    if ((version_ & 0xffffu) == 0 && version_ != 0)
      PERSONAS_FAIL(data, "GGUF file '{}' has version bytes {:#010x}: a big-endian GGUF file, not supported "
                    "(only little-endian)", name_, version_);
    PERSONAS_FAIL(data, "GGUF file '{}' has version {}; only versions 2 and 3 are supported", name_, version_);
  }
  const std::uint64_t tensor_count = in.u64("header tensor_count");
  const std::uint64_t kv_count = in.u64("header kv_count");
  // Caps before anything is reserved: each entry takes some bytes of the file.
  if (kv_count > in.left() / kMinKvBytes)
    in.fail_at(16, fmt::format("header kv_count {} is absurd: {} key-value pairs need at least {} bytes each, but "
                               "only {} bytes follow the header", kv_count, kv_count, kMinKvBytes, in.left()));
  if (tensor_count > in.left() / kMinTensorInfoBytes)
    in.fail_at(8, fmt::format("header tensor_count {} is absurd: {} tensor infos need at least {} bytes each, but "
                              "only {} bytes follow the header", tensor_count, tensor_count, kMinTensorInfoBytes,
                              in.left()));

  // Key-value pairs.
  key_order_.reserve(kv_count);
  for (std::uint64_t i = 0; i < kv_count; ++i) {
    const std::uint64_t at = in.pos();
    std::string key = in.string(fmt::format("kv {} key", i));
    const std::string what = fmt::format("kv {} '{}'", i, key);
    const std::uint64_t type_at = in.pos();
    const std::uint32_t type = in.u32(what + " value type");
    if (!known_value_type(type)) in.fail_at(type_at, fmt::format("{}: unknown value type {}", what, type));
    Value value;
    read_value(in, static_cast<ValueType>(type), value, what, 0);
    if (kv_.count(key) != 0) in.fail_at(at, fmt::format("{}: duplicate key", what));
    key_order_.push_back(key);
    kv_.emplace(std::move(key), std::move(value));
  }
  if (const Value* a = find("general.alignment")) {
    const std::string what = fmt::format("GGUF file '{}' key 'general.alignment'", name_);
    PERSONAS_CHECK(a->is_integer(), data, "{}: is {}, expected u32", what, describe_type(*a));
    const std::int64_t v = a->as_int(what);
    PERSONAS_CHECK(v > 0 && (v & (v - 1)) == 0, data, "{}: {} is not a positive power of two", what, v);
    alignment_ = static_cast<std::uint64_t>(v);
  } else {
    alignment_ = kDefaultAlignment;
  }

  // Tensor infos.
  tensors_.reserve(tensor_count);
  for (std::uint64_t i = 0; i < tensor_count; ++i) {
    const std::uint64_t at = in.pos();
    TensorInfo t;
    t.name = in.string(fmt::format("tensor {} name", i));
    const std::string what = fmt::format("tensor {} '{}'", i, t.name);
    const std::uint64_t dims_at = in.pos();
    const std::uint32_t n_dims = in.u32(what + " n_dims");
    if (n_dims > kMaxDims)
      in.fail_at(dims_at, fmt::format("{}: n_dims {} exceeds ggml's maximum of {}", what, n_dims, kMaxDims));
    std::int64_t n_values = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const std::uint64_t ne_at = in.pos();
      const std::uint64_t ne = in.u64(fmt::format("{} ne[{}]", what, d));
      if (ne > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        in.fail_at(ne_at, fmt::format("{}: ne[{}] = {} does not fit a signed 64-bit integer", what, d, ne));
      t.ne.push_back(static_cast<std::int64_t>(ne));
      if (__builtin_mul_overflow(n_values, static_cast<std::int64_t>(ne), &n_values))
        in.fail_at(ne_at, fmt::format("{}: the product of the dimensions [{}] overflows 64 bits", what,
                                      fmt::join(t.ne, ", ")));
    }
    const std::uint64_t type_at = in.pos();
    const std::uint32_t type = in.u32(what + " ggml type");
    if (!is_supported(type))
      in.fail_at(type_at, fmt::format("{}: unknown or unsupported ggml type id {} (supported: F32, F16, BF16, Q4_0, "
                                      "Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)", what, type));
    t.type = static_cast<GgmlType>(type);
    const BlockLayout layout = block_layout(t.type);
    const std::int64_t ne0 = t.ne.empty() ? 1 : t.ne[0];
    if (ne0 % layout.values != 0)
      in.fail_at(type_at, fmt::format("{}: ne[0] = {} is not a multiple of the {} block size {}", what, ne0,
                                      ggml_type_name(t.type), layout.values));
    std::int64_t n_bytes = 0;
    if (__builtin_mul_overflow(n_values / layout.values, layout.bytes, &n_bytes))
      in.fail_at(type_at, fmt::format("{}: {} values of {} overflow 64 bits of bytes", what, n_values,
                                      ggml_type_name(t.type)));
    t.n_bytes = static_cast<std::uint64_t>(n_bytes);
    const std::uint64_t offset_at = in.pos();
    t.offset = in.u64(what + " offset");
    if (t.offset % alignment_ != 0)
      in.fail_at(offset_at, fmt::format("{}: data offset {} is not a multiple of the alignment {}", what, t.offset,
                                        alignment_));
    if (tensor_index_.count(t.name) != 0) in.fail_at(at, fmt::format("{}: duplicate tensor name", what));
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // Data section: after the padding; every tensor inside the file, none overlapping.
  data_offset_ = align_up(in.pos(), alignment_);
  const std::uint64_t size = bytes_.size();
  for (const TensorInfo& t : tensors_) {
    const bool inside = data_offset_ <= size && t.offset <= size - data_offset_ &&
                        t.n_bytes <= size - data_offset_ - t.offset;
    PERSONAS_CHECK(inside, data,
                   "GGUF file '{}': tensor '{}' data [{}, {}) (data section at byte {} + offset {}, {} bytes of "
                   "{}) lies beyond the file of {} bytes (truncated?)",
                   name_, t.name, sum_text(data_offset_, t.offset), sum_text(data_offset_, t.offset, t.n_bytes),
                   data_offset_, t.offset,
                   t.n_bytes, ggml_type_name(t.type), size);
  }
  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(tensors_.size());
  for (const TensorInfo& t : tensors_)
    if (t.n_bytes > 0) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& a = *by_offset[i - 1];
    const TensorInfo& b = *by_offset[i];
    PERSONAS_CHECK(a.offset + a.n_bytes <= b.offset, data,
                   "GGUF file '{}': the data of tensors '{}' [offset {}, {}) and '{}' [offset {}, {}) overlap",
                   name_, a.name, a.offset, sum_text(a.offset, a.n_bytes), b.name, b.offset, sum_text(b.offset, b.n_bytes));
  }
}

bool File::has(std::string_view key) const { return kv_.find(key) != kv_.end(); }

const Value* File::find(std::string_view key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

const Value& File::get(std::string_view key) const {
  const Value* v = find(key);
  PERSONAS_CHECK(v != nullptr, data, "GGUF file '{}' has no key '{}'", name_, key);
  return *v;
}

namespace {
std::string key_what(const std::string& file, std::string_view key) {
  return fmt::format("GGUF file '{}' key '{}'", file, key);
}
}  // namespace

std::string File::get_string(std::string_view key) const { return get(key).as_string(key_what(name_, key)); }

std::int64_t File::get_int(std::string_view key) const {
  const Value& v = get(key);
  const std::string what = key_what(name_, key);
  PERSONAS_CHECK(v.is_integer(), data, "{}: is {}, expected an integer", what, describe_type(v));
  return v.as_int(what);
}

double File::get_float(std::string_view key) const {
  const Value& v = get(key);
  const std::string what = key_what(name_, key);
  PERSONAS_CHECK(!v.is_array() && v.type != ValueType::string && v.type != ValueType::boolean, data,
                 "{}: is {}, expected a number", what, describe_type(v));
  return v.as_float(what);
}

bool File::get_bool(std::string_view key) const { return get(key).as_bool(key_what(name_, key)); }

std::vector<std::string> File::get_string_array(std::string_view key) const {
  const Value& v = get(key);
  PERSONAS_CHECK(v.is_array() && v.element_type == ValueType::string, data, "{}: is {}, expected an array of strings",
                 key_what(name_, key), describe_type(v));
  return v.strings;
}

std::vector<std::int64_t> File::get_int_array(std::string_view key) const {
  const Value& v = get(key);
  const std::string what = key_what(name_, key);
  PERSONAS_CHECK(v.is_array() && is_integer_type(v.element_type), data, "{}: is {}, expected an array of integers",
                 what, describe_type(v));
  std::vector<std::int64_t> out(v.size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = v.int_at(i, what);
  return out;
}

std::vector<float> File::get_float_array(std::string_view key) const {
  const Value& v = get(key);
  const std::string what = key_what(name_, key);
  PERSONAS_CHECK(v.is_array() && (is_integer_type(v.element_type) || v.element_type == ValueType::f32 ||
                                  v.element_type == ValueType::f64),
                 data, "{}: is {}, expected an array of numbers", what, describe_type(v));
  std::vector<float> out(v.size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(v.float_at(i, what));
  return out;
}

std::vector<std::string> File::keys() const { return key_order_; }

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& File::tensor(std::string_view name) const {
  const TensorInfo* t = find_tensor(name);
  PERSONAS_CHECK(t != nullptr, data, "GGUF file '{}' has no tensor '{}'", name_, name);
  return *t;
}

std::span<const std::byte> File::tensor_bytes(const TensorInfo& t) const {
  // Bounds were checked by parse(); re-check for a TensorInfo that is not ours.
  const std::uint64_t size = bytes_.size();
  PERSONAS_CHECK(data_offset_ <= size && t.offset <= size - data_offset_ && t.n_bytes <= size - data_offset_ - t.offset,
                 data, "GGUF file '{}': tensor '{}' data lies beyond the file of {} bytes", name_, t.name, size);
  const auto* p = reinterpret_cast<const std::byte*>(bytes_.data() + data_offset_ + t.offset);
  return {p, static_cast<std::size_t>(t.n_bytes)};
}

std::vector<float> File::read_f32(const TensorInfo& t) const {
  std::vector<float> out(static_cast<std::size_t>(t.n_values()));
  read_f32(t, out);
  return out;
}

void File::read_f32(const TensorInfo& t, std::span<float> out) const {
  PERSONAS_CHECK(static_cast<std::int64_t>(out.size()) == t.n_values(), data,
                 "GGUF file '{}': tensor '{}' has {} values, the buffer {}", name_, t.name, t.n_values(), out.size());
  dequantize(t.type, tensor_bytes(t), out);
}

}  // namespace personas::gguf
