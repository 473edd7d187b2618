#include "data/shard_writer.h"

#include <hdf5.h>
#include <unistd.h>

#include "core/errors.h"
#include "io/hdf5_file.h"

namespace personas {

// One extendable, chunked 1-D dataset of a native numeric type.
struct UserShardWriter::Column {
  h5::Handle dataset;
  hid_t type;
  std::string name;
  std::int64_t size = 0;

  Column(h5::File& file, const std::string& path, hid_t native, hsize_t chunk_rows) : type(native), name(path) {
    hsize_t dims[1] = {0};
    hsize_t max_dims[1] = {H5S_UNLIMITED};
    h5::Handle space(H5Screate_simple(1, dims, max_dims), H5Sclose);
    h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    hsize_t chunk[1] = {chunk_rows};
    H5Pset_chunk(dcpl.get(), 1, chunk);
    h5::Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
    H5Pset_create_intermediate_group(lcpl.get(), 1);
    dataset = h5::Handle(H5Dcreate2(file.id(), path.c_str(), native, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT),
                         H5Dclose);
    PERSONAS_CHECK(dataset.valid(), io, "{}: cannot create dataset '{}'", file.path().string(), path);
  }

  void append(const void* data, std::size_t n, const fs::path& file_path) {
    if (n == 0) return;
    hsize_t new_size[1] = {static_cast<hsize_t>(size + static_cast<std::int64_t>(n))};
    PERSONAS_CHECK(H5Dset_extent(dataset.get(), new_size) >= 0, io, "{}: cannot extend '{}'", file_path.string(), name);
    h5::Handle space(H5Dget_space(dataset.get()), H5Sclose);
    hsize_t start[1] = {static_cast<hsize_t>(size)};
    hsize_t count[1] = {static_cast<hsize_t>(n)};
    H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
    h5::Handle memspace(H5Screate_simple(1, count, nullptr), H5Sclose);
    PERSONAS_CHECK(H5Dwrite(dataset.get(), type, memspace.get(), space.get(), H5P_DEFAULT, data) >= 0, io,
                   "{}: cannot write '{}' (disk full?)", file_path.string(), name);
    size += static_cast<std::int64_t>(n);
  }
};

namespace {
enum ColumnId { kId, kAge, kGender, kOccupation, kPersona, kFirst, kTrain, kTest, kItem, kRating, kTime, kColumns };
}

UserShardWriter::UserShardWriter(fs::path final_path, std::int64_t first_user, int rank, int n_ranks)
    : final_path_(std::move(final_path)), first_user_(first_user) {
  std::error_code ec;
  fs::create_directories(final_path_.parent_path(), ec);
  PERSONAS_CHECK(!ec, io, "cannot create folder '{}': {}", final_path_.parent_path().string(), ec.message());
  temp_path_ = final_path_.parent_path() / fmt::format(".{}.tmp-{}", final_path_.filename().string(), getpid());
  file_ = std::make_unique<h5::File>(temp_path_, h5::File::Mode::create);
  file_->set_attr("/", "format", std::string(kDatasetFormat));
  file_->set_attr("/", "rank", std::int64_t{rank});
  file_->set_attr("/", "n_ranks", std::int64_t{n_ranks});
  const hsize_t user_chunk = 16384, row_chunk = 65536;
  auto add = [&](const char* path, hid_t type, hsize_t chunk) {
    columns_.push_back(std::make_unique<Column>(*file_, path, type, chunk));
  };
  add("/users/id", H5T_NATIVE_INT64, user_chunk);
  add("/users/age", H5T_NATIVE_INT32, user_chunk);
  add("/users/gender", H5T_NATIVE_INT8, user_chunk);
  add("/users/occupation", H5T_NATIVE_INT32, user_chunk);
  add("/users/true_persona", H5T_NATIVE_INT32, user_chunk);
  add("/users/first", H5T_NATIVE_INT64, user_chunk);
  add("/users/n_train", H5T_NATIVE_INT32, user_chunk);
  add("/users/n_test", H5T_NATIVE_INT32, user_chunk);
  add("/interactions/item", H5T_NATIVE_INT32, row_chunk);
  add("/interactions/rating", H5T_NATIVE_FLOAT, row_chunk);
  add("/interactions/timestamp", H5T_NATIVE_INT64, row_chunk);
}

UserShardWriter::~UserShardWriter() {
  if (!finished_) {
    columns_.clear();
    file_.reset();
    std::error_code ignored;
    fs::remove(temp_path_, ignored);
  }
}

void UserShardWriter::append(std::span<const User> users, std::span<const Interaction> interactions) {
  PERSONAS_ASSERT(!finished_, "append after finish");
  const std::size_t n = users.size();
  std::vector<std::int64_t> id(n), first(n);
  std::vector<std::int32_t> age(n), occupation(n), persona(n), n_train(n), n_test(n);
  std::vector<std::int8_t> gender(n);
  std::int64_t offset = n_interactions_;
  for (std::size_t i = 0; i < n; ++i) {
    const User& u = users[i];
    id[i] = u.id;
    age[i] = u.age;
    gender[i] = static_cast<std::int8_t>(u.gender);
    auto [it, inserted] = occupation_index_.emplace(u.occupation, static_cast<std::int32_t>(occupations_.size()));
    if (inserted) occupations_.push_back(u.occupation);
    occupation[i] = it->second;
    persona[i] = u.true_persona;
    first[i] = offset;
    n_train[i] = u.n_train;
    n_test[i] = u.n_test;
    offset += u.n_train + u.n_test;
  }
  PERSONAS_ASSERT(offset - n_interactions_ == static_cast<std::int64_t>(interactions.size()),
                  "users claim {} interactions, got {}", offset - n_interactions_, interactions.size());
  const std::size_t m = interactions.size();
  std::vector<std::int32_t> item(m);
  std::vector<float> rating(m);
  std::vector<std::int64_t> timestamp(m);
  for (std::size_t j = 0; j < m; ++j) {
    item[j] = interactions[j].item;
    rating[j] = interactions[j].rating;
    timestamp[j] = interactions[j].timestamp;
  }
  const fs::path& p = temp_path_;
  columns_[kId]->append(id.data(), n, p);
  columns_[kAge]->append(age.data(), n, p);
  columns_[kGender]->append(gender.data(), n, p);
  columns_[kOccupation]->append(occupation.data(), n, p);
  columns_[kPersona]->append(persona.data(), n, p);
  columns_[kFirst]->append(first.data(), n, p);
  columns_[kTrain]->append(n_train.data(), n, p);
  columns_[kTest]->append(n_test.data(), n, p);
  columns_[kItem]->append(item.data(), m, p);
  columns_[kRating]->append(rating.data(), m, p);
  columns_[kTime]->append(timestamp.data(), m, p);
  n_users_ += static_cast<std::int64_t>(n);
  n_interactions_ = offset;
}

void UserShardWriter::finish() {
  file_->write_strings("/users/occupation_names", occupations_);
  file_->set_attr("/", "first_user", first_user_);
  file_->set_attr("/", "n_users", n_users_);
  file_->set_attr("/", "n_interactions", n_interactions_);
  columns_.clear();
  file_.reset();
  std::error_code ec;
  fs::rename(temp_path_, final_path_, ec);
  if (ec) {
    fs::remove(temp_path_, ec);
    PERSONAS_FAIL(io, "cannot rename into '{}': {}", final_path_.string(), ec.message());
  }
  finished_ = true;
}

void write_items_file(const fs::path& path, const std::vector<std::string>& genre_names,
                      const std::vector<Item>& items, const ItemsFileInfo& info,
                      const std::function<void(h5::File&)>& extra) {
  write_atomically(path, [&](const fs::path& temp) {
    h5::File file(temp, h5::File::Mode::create);
    file.set_attr("/", "format", std::string(kDatasetFormat));
    file.set_attr("/", "source", info.source);
    file.set_attr("/", "n_users_total", info.n_users_total);
    file.set_attr("/", "n_interactions_total", info.n_interactions_total);
    file.set_attr("/", "n_writer_ranks", std::int64_t{info.n_writer_ranks});
    file.write_strings("/genre_names", genre_names);
    const std::size_t n = items.size();
    std::vector<std::int32_t> id(n), year(n), count(n);
    std::vector<std::uint32_t> genres(n);
    std::vector<double> mean(n);
    std::vector<std::string> title(n);
    for (std::size_t i = 0; i < n; ++i) {
      id[i] = items[i].id;
      year[i] = items[i].year;
      count[i] = items[i].train_count;
      genres[i] = items[i].genres;
      mean[i] = items[i].train_mean;
      title[i] = items[i].title;
    }
    file.write("/items/id", id);
    file.write("/items/year", year);
    file.write_strings("/items/title", title);
    file.write("/items/genres", genres);
    file.write("/items/train_mean", mean);
    file.write("/items/train_count", count);
    if (extra) extra(file);
  });
}

}  // namespace personas
