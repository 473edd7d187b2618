// safetensors files (https://huggingface.co/docs/safetensors): an 8-byte
// little-endian header size N, N bytes of JSON {name: {dtype, shape,
// data_offsets: [begin, end]}, "__metadata__": {...}}, then the data.
// The reader checks every header field against the file: header size within
// the file, JSON well-formed, dtype known, shape non-negative with a product
// that matches the byte range, offsets inside the data area, no overlap;
// a corrupt or hostile file gives ErrorKind::data naming the file and tensor.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/fs.h"

namespace personas::safetensors {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };
const char* dtype_name(DType d);
std::size_t dtype_size(DType d);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // byte offsets inside the data area
  std::uint64_t end = 0;
  std::int64_t numel() const;
};

// One .safetensors file, memory-mapped (read-only).
class File {
 public:
  explicit File(const fs::path& path);
  static File from_bytes(std::string bytes, const std::string& name_for_errors);

  const fs::path& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // ErrorKind::data when absent
  // Converts F32/F16/BF16 (and F64) to fp32; ErrorKind::data for other dtypes.
  std::vector<float> read_f32(const std::string& name) const;
  // The raw bytes of a tensor.
  std::string_view raw(const std::string& name) const;

 private:
  struct Storage;
  File() = default;
  void parse();
  fs::path path_;
  std::shared_ptr<const Storage> storage_;
  std::string_view bytes_;
  std::uint64_t data_start_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A model folder: model.safetensors, or shards listed in
// model.safetensors.index.json ({"weight_map": {name: "file"}}); every shard
// file name is checked to stay inside the folder.
class ModelFolder {
 public:
  explicit ModelFolder(const fs::path& dir);
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;
  std::vector<float> read_f32(const std::string& name) const;

 private:
  fs::path dir_;
  std::vector<File> files_;
  std::map<std::string, std::size_t> owner_;  // tensor -> index in files_
};

// Writer: tensors are written in name order, 8-byte aligned header (padded with
// spaces, as the reference implementation does); atomically.
struct WriteTensor {
  std::string name;
  DType dtype = DType::F32;           // F32 or BF16 or F16 from fp32 data
  std::vector<std::int64_t> shape;
  std::vector<float> data;
};
void write_file(const fs::path& path, const std::vector<WriteTensor>& tensors,
                const std::map<std::string, std::string>& metadata = {});
// Serialized bytes (for tests and in-memory use).
std::string serialize(const std::vector<WriteTensor>& tensors, const std::map<std::string, std::string>& metadata = {});

// fp16 <-> fp32 (IEEE half).
float f16_to_f32(std::uint16_t h);
std::uint16_t f32_to_f16(float f);

}  // namespace personas::safetensors
