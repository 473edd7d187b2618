#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/errors.h"

namespace personas::safetensors {

namespace {

// The reference implementation refuses headers above 100 MB.
constexpr std::uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;

struct DTypeName {
  DType dtype;
  const char* name;
  std::size_t size;
};
constexpr DTypeName kDTypes[] = {
    {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2}, {DType::F64, "F64", 8},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2},   {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};

bool parse_dtype(const std::string& name, DType& out) {
  for (const auto& d : kDTypes)
    if (name == d.name) {
      out = d.dtype;
      return true;
    }
  return false;
}

std::uint64_t read_le64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

float bf16_bits_to_f32(std::uint16_t x) {
  const std::uint32_t bits = static_cast<std::uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::uint16_t f32_to_bf16_bits(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if (std::isnan(x)) return static_cast<std::uint16_t>((bits >> 16) | 0x40);
  return static_cast<std::uint16_t>((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

}  // namespace

struct File::Storage {
  std::string owned;
  void* map = nullptr;
  std::size_t map_size = 0;
  ~Storage() {
    if (map) munmap(map, map_size);
  }
};

const char* dtype_name(DType d) {
  for (const auto& x : kDTypes)
    if (x.dtype == d) return x.name;
  return "?";
}

std::size_t dtype_size(DType d) {
  for (const auto& x : kDTypes)
    if (x.dtype == d) return x.size;
  return 0;
}

std::int64_t TensorInfo::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

File::File(const fs::path& path) : path_(path) {
  auto storage = std::make_shared<Storage>();
  const int fd = ::open(path.c_str(), O_RDONLY);
  PERSONAS_CHECK(fd >= 0, io, "cannot open safetensors file '{}': {}", path.string(), std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    PERSONAS_FAIL(io, "cannot stat '{}'", path.string());
  }
  storage->map_size = static_cast<std::size_t>(st.st_size);
  if (storage->map_size > 0) {
    void* p = mmap(nullptr, storage->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    PERSONAS_CHECK(p != MAP_FAILED, io, "cannot map '{}': {}", path.string(), std::strerror(errno));
    storage->map = p;
    bytes_ = std::string_view(static_cast<const char*>(p), storage->map_size);
  } else {
    ::close(fd);
  }
  storage_ = std::move(storage);
  parse();
}

File File::from_bytes(std::string bytes, const std::string& name_for_errors) {
  File f;
  f.path_ = name_for_errors;
  auto storage = std::make_shared<Storage>();
  storage->owned = std::move(bytes);
  f.bytes_ = storage->owned;
  f.storage_ = std::move(storage);
  f.parse();
  return f;
}

void File::parse() {
  const std::string where = path_.string();
  const std::uint64_t file_size = bytes_.size();
  PERSONAS_CHECK(file_size >= 8, data, "{}: {} bytes is too short for a safetensors file (8-byte header size)",
                 where, file_size);
  const std::uint64_t header_size = read_le64(bytes_.data());
  PERSONAS_CHECK(header_size <= kMaxHeaderBytes, data, "{}: header size {} exceeds the {}-byte limit", where,
                 header_size, kMaxHeaderBytes);
  PERSONAS_CHECK(header_size <= file_size - 8, data, "{}: header size {} runs past the end of the {}-byte file",
                 where, header_size, file_size);
  data_start_ = 8 + header_size;
  const std::uint64_t data_size = file_size - data_start_;

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes_.substr(8, header_size));
  } catch (const nlohmann::json::exception& e) {
    PERSONAS_FAIL(data, "{}: the header is not valid JSON: {}", where, e.what());
  }
  PERSONAS_CHECK(header.is_object(), data, "{}: the header is not a JSON object", where);

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      PERSONAS_CHECK(entry.is_object(), data, "{}: __metadata__ is not an object", where);
      for (const auto& [k, v] : entry.items()) {
        PERSONAS_CHECK(v.is_string(), data, "{}: __metadata__ value '{}' is not a string", where, k);
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string at = where + ": tensor '" + name + "'";
    PERSONAS_CHECK(entry.is_object(), data, "{}: entry is not an object", at);
    PERSONAS_CHECK(entry.contains("dtype") && entry["dtype"].is_string(), data, "{}: no dtype string", at);
    PERSONAS_CHECK(entry.contains("shape") && entry["shape"].is_array(), data, "{}: no shape array", at);
    PERSONAS_CHECK(entry.contains("data_offsets") && entry["data_offsets"].is_array() &&
                       entry["data_offsets"].size() == 2,
                   data, "{}: data_offsets is not a pair", at);
    TensorInfo info;
    info.name = name;
    const auto dtype = entry["dtype"].get<std::string>();
    PERSONAS_CHECK(parse_dtype(dtype, info.dtype), data, "{}: unknown dtype '{}'", at, dtype);
    // numel with overflow checks: the product must fit the data area anyway.
    std::uint64_t numel = 1;
    for (const auto& d : entry["shape"]) {
      PERSONAS_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<std::int64_t>() >= 0), data,
                     "{}: shape entry {} is not a non-negative integer", at, d.dump());
      const auto dim = d.get<std::uint64_t>();
      PERSONAS_CHECK(dim <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()), data,
                     "{}: shape entry {} is too large", at, dim);
      PERSONAS_CHECK(dim == 0 || numel <= data_size / dim + 1, data, "{}: shape {} is larger than the file", at,
                     entry["shape"].dump());
      numel *= dim;
      info.shape.push_back(static_cast<std::int64_t>(dim));
    }
    for (const auto& o : entry["data_offsets"])
      PERSONAS_CHECK(o.is_number_unsigned() || (o.is_number_integer() && o.get<std::int64_t>() >= 0), data,
                     "{}: data offset {} is not a non-negative integer", at, o.dump());
    info.begin = entry["data_offsets"][0].get<std::uint64_t>();
    info.end = entry["data_offsets"][1].get<std::uint64_t>();
    PERSONAS_CHECK(info.begin <= info.end && info.end <= data_size, data,
                   "{}: data_offsets [{}, {}] fall outside the {}-byte data area", at, info.begin, info.end, data_size);
    const std::uint64_t elem = dtype_size(info.dtype);
    PERSONAS_CHECK(numel <= data_size / elem + 1 && info.end - info.begin == numel * elem, data,
                   "{}: {} bytes for shape {} of {} ({} expected)", at, info.end - info.begin, entry["shape"].dump(),
                   dtype, numel * elem);
    tensors_.emplace(name, std::move(info));
  }
  // No two tensors may share bytes.
  std::vector<const TensorInfo*> by_offset;
  for (const auto& [n, t] : tensors_)
    if (t.end > t.begin) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_offset.size(); ++i)
    PERSONAS_CHECK(by_offset[i]->begin >= by_offset[i - 1]->end, data, "{}: tensors '{}' and '{}' overlap", where,
                   by_offset[i - 1]->name, by_offset[i]->name);
}

const TensorInfo& File::info(const std::string& name) const {
  auto it = tensors_.find(name);
  PERSONAS_CHECK(it != tensors_.end(), data, "{}: no tensor '{}'", path_.string(), name);
  return it->second;
}

std::string_view File::raw(const std::string& name) const {
  const auto& t = info(name);
  return bytes_.substr(data_start_ + t.begin, t.end - t.begin);
}

std::vector<float> File::read_f32(const std::string& name) const {
  const auto& t = info(name);
  const auto bytes = raw(name);
  const std::size_t n = static_cast<std::size_t>(t.numel());
  std::vector<float> out(n);
  const char* p = bytes.data();
  switch (t.dtype) {
    case DType::F32:
      std::memcpy(out.data(), p, n * 4);
      break;
    case DType::F64:
      for (std::size_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, p + 8 * i, 8);
        out[i] = static_cast<float>(v);
      }
      break;
    case DType::BF16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t v;
        std::memcpy(&v, p + 2 * i, 2);
        out[i] = bf16_bits_to_f32(v);
      }
      break;
    case DType::F16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t v;
        std::memcpy(&v, p + 2 * i, 2);
        out[i] = f16_to_f32(v);
      }
      break;
    default:
      PERSONAS_FAIL(data, "{}: tensor '{}' has dtype {}, not a float type", path_.string(), name,
                    dtype_name(t.dtype));
  }
  return out;
}

ModelFolder::ModelFolder(const fs::path& dir) : dir_(dir) {
  PERSONAS_CHECK(fs::is_directory(dir), io, "'{}' is not a folder", dir.string());
  const auto index_path = dir / "model.safetensors.index.json";
  std::vector<std::string> shard_names;
  std::map<std::string, std::string> weight_map;
  if (fs::exists(index_path)) {
    nlohmann::json index;
    try {
      index = nlohmann::json::parse(read_file(index_path));
    } catch (const nlohmann::json::exception& e) {
      PERSONAS_FAIL(data, "{}: not valid JSON: {}", index_path.string(), e.what());
    }
    PERSONAS_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(), data,
                   "{}: no weight_map object", index_path.string());
    for (const auto& [name, file] : index["weight_map"].items()) {
      PERSONAS_CHECK(file.is_string(), data, "{}: weight_map['{}'] is not a file name", index_path.string(), name);
      const auto f = file.get<std::string>();
      PERSONAS_CHECK(!f.empty() && f.find('/') == std::string::npos && f.find('\\') == std::string::npos &&
                         f != "." && f != "..",
                     data, "{}: shard name '{}' must be a plain file name inside the folder", index_path.string(), f);
      weight_map[name] = f;
      if (std::find(shard_names.begin(), shard_names.end(), f) == shard_names.end()) shard_names.push_back(f);
    }
    std::sort(shard_names.begin(), shard_names.end());
  } else {
    PERSONAS_CHECK_HINT(fs::exists(dir / "model.safetensors"), io,
                        "PyTorch .bin checkpoints are not read: save with safe_serialization=True",
                        "{}: neither model.safetensors nor model.safetensors.index.json found", dir.string());
    shard_names.push_back("model.safetensors");
  }
  for (const auto& shard : shard_names) {
    files_.emplace_back(dir / shard);
    for (const auto& [name, info] : files_.back().tensors()) {
      PERSONAS_CHECK(!owner_.count(name), data, "{}: tensor '{}' appears in two shards", dir.string(), name);
      if (!weight_map.empty()) {
        auto it = weight_map.find(name);
        PERSONAS_CHECK(it != weight_map.end() && it->second == shard, data,
                       "{}: tensor '{}' is in {} but the index says {}", dir.string(), name, shard,
                       it == weight_map.end() ? std::string("nothing") : it->second);
      }
      owner_[name] = files_.size() - 1;
    }
  }
  for (const auto& [name, shard] : weight_map)
    PERSONAS_CHECK(owner_.count(name), data, "{}: the index lists '{}' in {} but that shard does not hold it",
                   dir.string(), name, shard);
}

std::vector<std::string> ModelFolder::names() const {
  std::vector<std::string> out;
  for (const auto& [n, i] : owner_) out.push_back(n);
  return out;
}

bool ModelFolder::contains(const std::string& name) const { return owner_.count(name) != 0; }

const TensorInfo& ModelFolder::info(const std::string& name) const {
  auto it = owner_.find(name);
  PERSONAS_CHECK(it != owner_.end(), data, "{}: no tensor '{}'", dir_.string(), name);
  return files_[it->second].info(name);
}

std::vector<float> ModelFolder::read_f32(const std::string& name) const {
  auto it = owner_.find(name);
  PERSONAS_CHECK(it != owner_.end(), data, "{}: no tensor '{}'", dir_.string(), name);
  return files_[it->second].read_f32(name);
}

std::string serialize(const std::vector<WriteTensor>& tensors, const std::map<std::string, std::string>& metadata) {
  std::vector<const WriteTensor*> sorted;
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->name < b->name; });
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto* t : sorted) {
    PERSONAS_CHECK(t->dtype == DType::F32 || t->dtype == DType::BF16 || t->dtype == DType::F16, usage,
                   "safetensors writer: tensor '{}' must be F32, BF16 or F16", t->name);
    std::int64_t numel = 1;
    for (auto d : t->shape) numel *= d;
    PERSONAS_CHECK(numel == static_cast<std::int64_t>(t->data.size()), internal,
                   "safetensors writer: tensor '{}' has {} values for {} elements", t->name, t->data.size(), numel);
    PERSONAS_CHECK(t->name != "__metadata__" && !header.contains(t->name), usage,
                   "safetensors writer: duplicate or reserved tensor name '{}'", t->name);
    const std::uint64_t bytes = static_cast<std::uint64_t>(numel) * dtype_size(t->dtype);
    header[t->name] = {{"dtype", dtype_name(t->dtype)}, {"shape", t->shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string head = header.dump();
  while (head.size() % 8) head.push_back(' ');
  std::string out(8, '\0');
  std::uint64_t n = head.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += head;
  out.reserve(out.size() + offset);
  for (const auto* t : sorted) {
    if (t->dtype == DType::F32) {
      out.append(reinterpret_cast<const char*>(t->data.data()), t->data.size() * 4);
    } else {
      for (float v : t->data) {
        const std::uint16_t h = t->dtype == DType::BF16 ? f32_to_bf16_bits(v) : f32_to_f16(v);
        out.push_back(static_cast<char>(h & 0xff));
        out.push_back(static_cast<char>(h >> 8));
      }
    }
  }
  return out;
}

void write_file(const fs::path& path, const std::vector<WriteTensor>& tensors,
                const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, serialize(tensors, metadata));
}

float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = (h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1f;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while (!(mant & 0x400u));
      bits = sign | static_cast<std::uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::uint16_t f32_to_f16(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u);  // inf / nan
  if (abs >= 0x477ff000u) return sign | 0x7c00u;                                      // overflow to inf
  if (abs < 0x38800000u) {  // subnormal or zero in half
    if (abs < 0x33000000u) return sign;
    const std::uint32_t e = abs >> 23;
    const std::uint32_t m = (abs & 0x7fffffu) | 0x800000u;
    // value = m * 2^(e-150); half subnormal unit = 2^-24 => q = m * 2^(e-126)
    const std::uint32_t rshift = 126 - e;  // >= 14 here
    std::uint32_t q = m >> rshift;
    const std::uint32_t rem = m & ((1u << rshift) - 1);
    const std::uint32_t half = 1u << (rshift - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;
    return static_cast<std::uint16_t>(sign | q);
  }
  std::uint32_t r = abs + 0xc8000000u;  // rebias exponent: (127-15) << 23 subtracted
  r = r + 0xfffu + ((r >> 13) & 1u);
  return static_cast<std::uint16_t>(sign | (r >> 13));
}

}  // namespace personas::safetensors
