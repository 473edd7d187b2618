// RAII over the HDF5 C API: files, datasets of numbers and strings, attributes.
// Every failure names the file and the object path. Intermediate groups are
// created on write. Datasets are contiguous unless `chunk_rows` is given.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/fs.h"

namespace personas::h5 {

// An owned hid_t closed with the right H5*close.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle();
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// Element types with an HDF5 native type.
template <class T> hid_t native_type();

// The bfloat16 type as a real HDF5 16-bit float (sign 1, exponent 8, mantissa 7,
// bias 127), which h5py reads as a float type.
hid_t bf16_type();

class File {
 public:
  enum class Mode { read, create, read_write };
  File(const fs::path& path, Mode mode);
  const fs::path& path() const { return path_; }
  hid_t id() const { return file_.get(); }

  bool exists(const std::string& object_path) const;
  std::vector<std::string> list(const std::string& group_path) const;  // child names, sorted
  // Shape of a dataset; error naming it when absent.
  std::vector<std::uint64_t> shape(const std::string& dataset_path) const;

  template <class T>
  void write(const std::string& dataset_path, std::span<const T> data, const std::vector<std::uint64_t>& dims);
  template <class T>
  void write(const std::string& dataset_path, const std::vector<T>& data) {
    write<T>(dataset_path, std::span<const T>(data), {data.size()});
  }
  // Reads the whole dataset, converting to T (HDF5 converts numeric types).
  template <class T>
  std::vector<T> read(const std::string& dataset_path) const;
  // Reads rows [row_begin, row_end) of a dataset whose first dim is rows.
  template <class T>
  std::vector<T> read_rows(const std::string& dataset_path, std::uint64_t row_begin, std::uint64_t row_end) const;

  void write_strings(const std::string& dataset_path, const std::vector<std::string>& values);
  std::vector<std::string> read_strings(const std::string& dataset_path) const;

  // Attributes on an object ("/" for the file).
  void set_attr(const std::string& object_path, const std::string& name, const std::string& value);
  void set_attr(const std::string& object_path, const std::string& name, std::int64_t value);
  void set_attr(const std::string& object_path, const std::string& name, double value);
  bool has_attr(const std::string& object_path, const std::string& name) const;
  std::string attr_string(const std::string& object_path, const std::string& name) const;
  std::int64_t attr_int(const std::string& object_path, const std::string& name) const;
  double attr_double(const std::string& object_path, const std::string& name) const;

  void create_group(const std::string& group_path);

  // Write raw data with an explicit file type (e.g. bf16_type()) from a memory buffer of mem_type.
  void write_raw(const std::string& dataset_path, hid_t file_type, hid_t mem_type, const void* data,
                 const std::vector<std::uint64_t>& dims);
  // Read a dataset into memory type mem_type (HDF5 converts); buffer must be sized.
  void read_raw(const std::string& dataset_path, hid_t mem_type, void* data) const;
  // The stored element type class and size, e.g. to tell bf16 from f32.
  std::pair<H5T_class_t, std::size_t> stored_type(const std::string& dataset_path) const;

 private:
  Handle open_object(const std::string& object_path) const;
  fs::path path_;
  Handle file_;
};

// Silences HDF5's own error stack printing (we report errors ourselves).
void quiet_errors();

}  // namespace personas::h5
