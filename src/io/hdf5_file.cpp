#include "io/hdf5_file.h"

#include <algorithm>
#include <cstring>

#include "core/errors.h"

namespace personas::h5 {

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    if (id_ >= 0 && close_) close_(id_);
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = -1;
  }
  return *this;
}

Handle::~Handle() {
  if (id_ >= 0 && close_) close_(id_);
}

template <> hid_t native_type<float>() { return H5T_NATIVE_FLOAT; }
template <> hid_t native_type<double>() { return H5T_NATIVE_DOUBLE; }
template <> hid_t native_type<std::int8_t>() { return H5T_NATIVE_INT8; }
template <> hid_t native_type<std::uint8_t>() { return H5T_NATIVE_UINT8; }
template <> hid_t native_type<std::int16_t>() { return H5T_NATIVE_INT16; }
template <> hid_t native_type<std::uint16_t>() { return H5T_NATIVE_UINT16; }
template <> hid_t native_type<std::int32_t>() { return H5T_NATIVE_INT32; }
template <> hid_t native_type<std::uint32_t>() { return H5T_NATIVE_UINT32; }
template <> hid_t native_type<std::int64_t>() { return H5T_NATIVE_INT64; }
template <> hid_t native_type<std::uint64_t>() { return H5T_NATIVE_UINT64; }

hid_t bf16_type() {
  static hid_t type = [] {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 7, 8, 0, 7);
    H5Tset_offset(t, 0);
    H5Tset_precision(t, 16);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 127);
    return t;
  }();
  return type;
}

void quiet_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

File::File(const fs::path& path, Mode mode) : path_(path) {
  quiet_errors();
  hid_t id = -1;
  switch (mode) {
    case Mode::read:
      PERSONAS_CHECK(fs::exists(path), io, "HDF5 file '{}' does not exist", path.string());
      id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
      break;
    case Mode::read_write:
      id = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
      break;
    case Mode::create:
      id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
      break;
  }
  PERSONAS_CHECK(id >= 0, io, "cannot open HDF5 file '{}' (not HDF5, damaged, or not writable)", path.string());
  file_ = Handle(id, H5Fclose);
}

bool File::exists(const std::string& object_path) const {
  // Walk the path so a missing intermediate group is "no", not an error.
  if (object_path.empty() || object_path == "/") return true;
  std::string partial;
  std::size_t start = object_path[0] == '/' ? 1 : 0;
  while (start <= object_path.size()) {
    auto end = object_path.find('/', start);
    if (end == std::string::npos) end = object_path.size();
    partial.push_back('/');
    partial.append(object_path, start, end - start);
    if (H5Lexists(id(), partial.c_str(), H5P_DEFAULT) <= 0) return false;
    start = end + 1;
  }
  return true;
}

std::vector<std::string> File::list(const std::string& group_path) const {
  std::vector<std::string> names;
  if (!exists(group_path) && group_path != "/") return names;
  Handle group(H5Gopen2(id(), group_path.c_str(), H5P_DEFAULT), H5Gclose);
  PERSONAS_CHECK(group.valid(), io, "{}: '{}' is not a group", path_.string(), group_path);
#if H5_VERSION_GE(1, 12, 0)
  using LinkInfo = H5L_info2_t;
#else
  using LinkInfo = H5L_info_t;
#endif
  H5Literate(
      group.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const LinkInfo*, void* out) -> herr_t {
        static_cast<std::vector<std::string>*>(out)->push_back(name);
        return 0;
      },
      &names);
  std::sort(names.begin(), names.end());
  return names;
}

Handle File::open_object(const std::string& object_path) const {
  PERSONAS_CHECK(object_path == "/" || exists(object_path), io, "{}: '{}' is missing", path_.string(),
                 object_path);
  hid_t obj = H5Oopen(id(), object_path.c_str(), H5P_DEFAULT);
  PERSONAS_CHECK(obj >= 0, io, "{}: cannot open '{}'", path_.string(), object_path);
  return Handle(obj, H5Oclose);
}

std::vector<std::uint64_t> File::shape(const std::string& dataset_path) const {
  auto dataset = open_object(dataset_path);
  Handle space(H5Dget_space(dataset.get()), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  PERSONAS_CHECK(rank >= 0, io, "{}: '{}' is not a dataset", path_.string(), dataset_path);
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return {dims.begin(), dims.end()};
}

namespace {

Handle link_create_plist() {
  Handle plist(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(plist.get(), 1);
  return plist;
}

}  // namespace

void File::create_group(const std::string& group_path) {
  if (exists(group_path)) return;
  auto lcpl = link_create_plist();
  Handle g(H5Gcreate2(id(), group_path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  PERSONAS_CHECK(g.valid(), io, "{}: cannot create group '{}'", path_.string(), group_path);
}

void File::write_raw(const std::string& dataset_path, hid_t file_type, hid_t mem_type, const void* data,
                     const std::vector<std::uint64_t>& dims) {
  std::vector<hsize_t> hdims(dims.begin(), dims.end());
  Handle space(H5Screate_simple(static_cast<int>(hdims.size()), hdims.data(), nullptr), H5Sclose);
  auto lcpl = link_create_plist();
  if (exists(dataset_path)) H5Ldelete(id(), dataset_path.c_str(), H5P_DEFAULT);
  Handle dataset(H5Dcreate2(id(), dataset_path.c_str(), file_type, space.get(), lcpl.get(), H5P_DEFAULT,
                            H5P_DEFAULT),
                 H5Dclose);
  PERSONAS_CHECK(dataset.valid(), io, "{}: cannot create dataset '{}'", path_.string(), dataset_path);
  std::uint64_t n = 1;
  for (auto d : dims) n *= d;
  if (n > 0) {
    PERSONAS_CHECK(H5Dwrite(dataset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0, io,
                   "{}: cannot write dataset '{}' (disk full?)", path_.string(), dataset_path);
  }
}

void File::read_raw(const std::string& dataset_path, hid_t mem_type, void* data) const {
  auto dataset = open_object(dataset_path);
  PERSONAS_CHECK(H5Dread(dataset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0, io,
                 "{}: cannot read dataset '{}' as the requested type", path_.string(), dataset_path);
}

std::pair<H5T_class_t, std::size_t> File::stored_type(const std::string& dataset_path) const {
  auto dataset = open_object(dataset_path);
  Handle type(H5Dget_type(dataset.get()), H5Tclose);
  return {H5Tget_class(type.get()), H5Tget_size(type.get())};
}

template <class T>
void File::write(const std::string& dataset_path, std::span<const T> data, const std::vector<std::uint64_t>& dims) {
  std::uint64_t n = 1;
  for (auto d : dims) n *= d;
  PERSONAS_ASSERT(n == data.size(), "{}: {} values for dims of {} elements", dataset_path, data.size(), n);
  write_raw(dataset_path, native_type<T>(), native_type<T>(), data.data(), dims);
}

template <class T>
std::vector<T> File::read(const std::string& dataset_path) const {
  auto dims = shape(dataset_path);
  std::uint64_t n = 1;
  for (auto d : dims) n *= d;
  std::vector<T> out(n);
  if (n) read_raw(dataset_path, native_type<T>(), out.data());
  return out;
}

template <class T>
std::vector<T> File::read_rows(const std::string& dataset_path, std::uint64_t row_begin, std::uint64_t row_end) const {
  auto dims = shape(dataset_path);
  PERSONAS_CHECK(!dims.empty() && row_begin <= row_end && row_end <= dims[0], io,
                 "{}: rows [{}, {}) outside '{}' of {} rows", path_.string(), row_begin, row_end, dataset_path,
                 dims.empty() ? 0 : dims[0]);
  std::uint64_t row_size = 1;
  for (std::size_t i = 1; i < dims.size(); ++i) row_size *= dims[i];
  std::vector<T> out((row_end - row_begin) * row_size);
  if (out.empty()) return out;
  auto dataset = open_object(dataset_path);
  Handle space(H5Dget_space(dataset.get()), H5Sclose);
  std::vector<hsize_t> start(dims.size(), 0), count(dims.begin(), dims.end());
  start[0] = row_begin;
  count[0] = row_end - row_begin;
  H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  Handle memspace(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), H5Sclose);
  PERSONAS_CHECK(H5Dread(dataset.get(), native_type<T>(), memspace.get(), space.get(), H5P_DEFAULT, out.data()) >= 0,
                 io, "{}: cannot read rows of '{}'", path_.string(), dataset_path);
  return out;
}

#define PERSONAS_H5_INSTANTIATE(T)                                                                        \
  template void File::write<T>(const std::string&, std::span<const T>, const std::vector<std::uint64_t>&); \
  template std::vector<T> File::read<T>(const std::string&) const;                                         \
  template std::vector<T> File::read_rows<T>(const std::string&, std::uint64_t, std::uint64_t) const;
PERSONAS_H5_INSTANTIATE(float)
PERSONAS_H5_INSTANTIATE(double)
PERSONAS_H5_INSTANTIATE(std::int8_t)
PERSONAS_H5_INSTANTIATE(std::uint8_t)
PERSONAS_H5_INSTANTIATE(std::int16_t)
PERSONAS_H5_INSTANTIATE(std::uint16_t)
PERSONAS_H5_INSTANTIATE(std::int32_t)
PERSONAS_H5_INSTANTIATE(std::uint32_t)
PERSONAS_H5_INSTANTIATE(std::int64_t)
PERSONAS_H5_INSTANTIATE(std::uint64_t)
#undef PERSONAS_H5_INSTANTIATE

void File::write_strings(const std::string& dataset_path, const std::vector<std::string>& values) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  std::vector<const char*> pointers;
  pointers.reserve(values.size());
  for (const auto& v : values) pointers.push_back(v.c_str());
  write_raw(dataset_path, type.get(), type.get(), pointers.data(), {values.size()});
}

std::vector<std::string> File::read_strings(const std::string& dataset_path) const {
  auto dims = shape(dataset_path);
  PERSONAS_CHECK(dims.size() == 1, io, "{}: '{}' is not a 1-D string dataset", path_.string(), dataset_path);
  auto dataset = open_object(dataset_path);
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  std::vector<char*> pointers(dims[0], nullptr);
  if (!pointers.empty()) {
    PERSONAS_CHECK(H5Dread(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()) >= 0, io,
                   "{}: cannot read strings '{}'", path_.string(), dataset_path);
  }
  std::vector<std::string> out;
  out.reserve(pointers.size());
  for (char* p : pointers) out.emplace_back(p ? p : "");
  if (!pointers.empty()) {
    Handle space(H5Dget_space(dataset.get()), H5Sclose);
    H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, pointers.data());
  }
  return out;
}

namespace {

void write_attr(hid_t obj, const std::string& name, hid_t type, const void* value, const std::string& where) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(obj, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  PERSONAS_CHECK(attr.valid() && H5Awrite(attr.get(), type, value) >= 0, io, "{}: cannot write attribute '{}'",
                 where, name);
}

}  // namespace

void File::set_attr(const std::string& object_path, const std::string& name, const std::string& value) {
  auto obj = open_object(object_path);
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  const char* p = value.c_str();
  write_attr(obj.get(), name, type.get(), &p, path_.string() + ":" + object_path);
}

void File::set_attr(const std::string& object_path, const std::string& name, std::int64_t value) {
  auto obj = open_object(object_path);
  write_attr(obj.get(), name, H5T_NATIVE_INT64, &value, path_.string() + ":" + object_path);
}

void File::set_attr(const std::string& object_path, const std::string& name, double value) {
  auto obj = open_object(object_path);
  write_attr(obj.get(), name, H5T_NATIVE_DOUBLE, &value, path_.string() + ":" + object_path);
}

bool File::has_attr(const std::string& object_path, const std::string& name) const {
  if (object_path != "/" && !exists(object_path)) return false;
  auto obj = open_object(object_path);
  return H5Aexists(obj.get(), name.c_str()) > 0;
}

namespace {

Handle open_attr(hid_t obj, const std::string& name, const std::string& where) {
  PERSONAS_CHECK(H5Aexists(obj, name.c_str()) > 0, io, "{}: attribute '{}' is missing", where, name);
  return Handle(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
}

}  // namespace

std::string File::attr_string(const std::string& object_path, const std::string& name) const {
  auto obj = open_object(object_path);
  auto where = path_.string() + ":" + object_path;
  auto attr = open_attr(obj.get(), name, where);
  Handle stored(H5Aget_type(attr.get()), H5Tclose);
  PERSONAS_CHECK(H5Tget_class(stored.get()) == H5T_STRING, io, "{}: attribute '{}' is not a string", where, name);
  if (H5Tis_variable_str(stored.get()) > 0) {
    Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), H5T_VARIABLE);
    H5Tset_cset(type.get(), H5Tget_cset(stored.get()));
    char* p = nullptr;
    PERSONAS_CHECK(H5Aread(attr.get(), type.get(), &p) >= 0, io, "{}: cannot read attribute '{}'", where, name);
    std::string out = p ? p : "";
    H5free_memory(p);
    return out;
  }
  std::size_t size = H5Tget_size(stored.get());
  std::string out(size, '\0');
  PERSONAS_CHECK(H5Aread(attr.get(), stored.get(), out.data()) >= 0, io, "{}: cannot read attribute '{}'", where,
                 name);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::int64_t File::attr_int(const std::string& object_path, const std::string& name) const {
  auto obj = open_object(object_path);
  auto where = path_.string() + ":" + object_path;
  auto attr = open_attr(obj.get(), name, where);
  std::int64_t value = 0;
  PERSONAS_CHECK(H5Aread(attr.get(), H5T_NATIVE_INT64, &value) >= 0, io, "{}: attribute '{}' is not an integer",
                 where, name);
  return value;
}

double File::attr_double(const std::string& object_path, const std::string& name) const {
  auto obj = open_object(object_path);
  auto where = path_.string() + ":" + object_path;
  auto attr = open_attr(obj.get(), name, where);
  double value = 0;
  PERSONAS_CHECK(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &value) >= 0, io, "{}: attribute '{}' is not a number",
                 where, name);
  return value;
}

}  // namespace personas::h5
