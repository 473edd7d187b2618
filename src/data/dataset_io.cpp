#include "data/dataset_io.h"

#include <algorithm>

#include "comm/sharding.h"
#include "core/errors.h"
#include "core/log.h"
#include "data/shard_writer.h"
#include "io/hdf5_file.h"

namespace personas {

namespace {

fs::path items_path(const RunDir& run) { return run.stage_dir(kPrepareStage) / "items.h5"; }
fs::path users_path(const RunDir& run, int rank) { return run.rank_file(kPrepareStage, "users", rank, "h5"); }

// Removes users-rank-*.h5 files of ranks >= n_ranks (left by an earlier run with more ranks).
void remove_stale_user_files(const RunDir& run, int n_ranks) {
  for (int r = n_ranks;; ++r) {
    auto path = users_path(run, r);
    std::error_code ec;
    if (!fs::remove(path, ec)) break;
  }
}

}  // namespace

void begin_dataset_write(const RunDir& run, Comm& comm) {
  if (comm.is_root()) {
    run.ensure_stage_dir(kPrepareStage);
    run.clear_done(kPrepareStage);
  }
  comm.barrier();
}

fs::path users_file_path(const RunDir& run, int rank) { return users_path(run, rank); }

void finish_dataset_write(const RunDir& run, Comm& comm, const Dataset& items_only, std::int64_t first_user,
                          std::int64_t n_users, std::int64_t n_interactions,
                          const std::function<void(h5::File&)>& extra) {
  // Shard table: (first_user, n_users, n_interactions) of every rank.
  std::int64_t mine[3] = {first_user, n_users, n_interactions};
  std::vector<std::int64_t> table(3 * static_cast<std::size_t>(comm.size()));
  comm.allgather(mine, sizeof mine, table.data());
  if (comm.is_root()) {
    std::int64_t expected_first = 0, total_interactions = 0;
    for (int r = 0; r < comm.size(); ++r) {
      PERSONAS_ASSERT(table[3 * r] == expected_first, "rank {} starts at user {}, expected {}", r, table[3 * r],
                      expected_first);
      expected_first += table[3 * r + 1];
      total_interactions += table[3 * r + 2];
    }
    PERSONAS_ASSERT(expected_first == items_only.n_users_total, "ranks hold {} users, n_users_total is {}",
                    expected_first, items_only.n_users_total);
    remove_stale_user_files(run, comm.size());
    ItemsFileInfo info{items_only.source, items_only.n_users_total, total_interactions, comm.size()};
    write_items_file(run.stage_dir(kPrepareStage) / "items.h5", items_only.genre_names, items_only.items, info,
                     [&](h5::File& file) {
                       std::vector<std::int64_t> first(comm.size()), users(comm.size()), rows(comm.size());
                       for (int r = 0; r < comm.size(); ++r) {
                         first[r] = table[3 * r];
                         users[r] = table[3 * r + 1];
                         rows[r] = table[3 * r + 2];
                       }
                       file.write("/shards/first_user", first);
                       file.write("/shards/n_users", users);
                       file.write("/shards/n_interactions", rows);
                       if (extra) extra(file);
                     });
  }
  comm.barrier();
}

void write_dataset(const RunDir& run, const Dataset& shard, Comm& comm) {
  begin_dataset_write(run, comm);
  UserShardWriter writer(users_path(run, comm.rank()), shard.first_user, comm.rank(), comm.size());
  writer.append(shard.users, shard.interactions);
  writer.finish();
  finish_dataset_write(run, comm, shard, shard.first_user, writer.n_users(), writer.n_interactions());
}

Dataset load_dataset_items(const RunDir& run) {
  auto path = items_path(run);
  PERSONAS_CHECK_HINT(fs::exists(path), io, "run `personas prepare` (or `personas synth`) with this --run.dir first",
                      "'{}' not found: the data set of run '{}' has not been prepared", path.string(),
                      run.root().string());
  Dataset ds;
  h5::File items(path, h5::File::Mode::read);
  PERSONAS_CHECK(items.has_attr("/", "format") && items.attr_string("/", "format") == kDatasetFormat, data,
                 "'{}' is not a prepared data set of format {}", path.string(), kDatasetFormat);
  ds.source = items.attr_string("/", "source");
  ds.n_users_total = items.attr_int("/", "n_users_total");
  ds.genre_names = items.read_strings("/genre_names");
  {
    auto id = items.read<std::int32_t>("/items/id");
    auto year = items.read<std::int32_t>("/items/year");
    auto count = items.read<std::int32_t>("/items/train_count");
    auto genres = items.read<std::uint32_t>("/items/genres");
    auto mean = items.read<double>("/items/train_mean");
    auto title = items.read_strings("/items/title");
    ds.items.resize(id.size());
    for (std::size_t i = 0; i < id.size(); ++i) {
      ds.items[i] = Item{id[i], std::move(title[i]), year[i], genres[i], mean[i], count[i]};
    }
  }
  return ds;
}

void load_dataset_users(const RunDir& run, Dataset& ds, std::int64_t begin, std::int64_t end) {
  PERSONAS_CHECK(begin >= 0 && begin <= end && end <= ds.n_users_total, data,
                 "users [{}, {}) are outside the {} users of the prepared data set", begin, end, ds.n_users_total);
  auto path = items_path(run);
  h5::File items(path, h5::File::Mode::read);
  auto shard_first = items.read<std::int64_t>("/shards/first_user");
  auto shard_users = items.read<std::int64_t>("/shards/n_users");
  ds.users.clear();
  ds.interactions.clear();
  ds.first_user = begin;
  ds.users.reserve(static_cast<std::size_t>(end - begin));
  for (std::size_t w = 0; w < shard_first.size(); ++w) {
    const std::int64_t wb = shard_first[w], we = wb + shard_users[w];
    const std::int64_t lo = std::max(begin, wb), hi = std::min(end, we);
    if (lo >= hi) continue;
    auto file_path = users_path(run, static_cast<int>(w));
    PERSONAS_CHECK_HINT(fs::exists(file_path), io, "prepare the run again", "'{}' is missing (written by rank {})",
                        file_path.string(), w);
    h5::File f(file_path, h5::File::Mode::read);
    PERSONAS_CHECK(f.attr_int("/", "first_user") == wb && f.attr_int("/", "n_users") == shard_users[w], data,
                   "'{}' does not match the shard table of '{}' (files of two different runs?)", file_path.string(),
                   path.string());
    const auto r0 = static_cast<std::uint64_t>(lo - wb), r1 = static_cast<std::uint64_t>(hi - wb);
    auto id = f.read_rows<std::int64_t>("/users/id", r0, r1);
    auto age = f.read_rows<std::int32_t>("/users/age", r0, r1);
    auto gender = f.read_rows<std::int8_t>("/users/gender", r0, r1);
    auto occupation = f.read_rows<std::int32_t>("/users/occupation", r0, r1);
    auto persona = f.read_rows<std::int32_t>("/users/true_persona", r0, r1);
    auto first = f.read_rows<std::int64_t>("/users/first", r0, r1);
    auto n_train = f.read_rows<std::int32_t>("/users/n_train", r0, r1);
    auto n_test = f.read_rows<std::int32_t>("/users/n_test", r0, r1);
    auto occupation_names = f.read_strings("/users/occupation_names");
    const std::uint64_t i0 = static_cast<std::uint64_t>(first.front());
    const std::uint64_t i1 = static_cast<std::uint64_t>(first.back() + n_train.back() + n_test.back());
    const std::int64_t base = static_cast<std::int64_t>(ds.interactions.size());
    for (std::size_t i = 0; i < id.size(); ++i) {
      User u;
      u.id = id[i];
      u.age = age[i];
      u.gender = static_cast<char>(gender[i]);
      PERSONAS_CHECK(occupation[i] >= 0 && static_cast<std::size_t>(occupation[i]) < occupation_names.size(), data,
                     "'{}': user {} has occupation index {} of {}", file_path.string(), id[i], occupation[i],
                     occupation_names.size());
      u.occupation = occupation_names[static_cast<std::size_t>(occupation[i])];
      u.true_persona = persona[i];
      u.first = base + (first[i] - first.front());
      u.n_train = n_train[i];
      u.n_test = n_test[i];
      ds.users.push_back(std::move(u));
    }
    // Interactions in slices: reading the whole block's columns first would
    // hold every interaction twice (columns + structs, 2 x 16 bytes each).
    constexpr std::uint64_t kSlice = 1 << 20;
    ds.interactions.reserve(ds.interactions.size() + static_cast<std::size_t>(i1 - i0));
    for (std::uint64_t s0 = i0; s0 < i1; s0 += kSlice) {
      const std::uint64_t s1 = std::min(i1, s0 + kSlice);
      auto item = f.read_rows<std::int32_t>("/interactions/item", s0, s1);
      auto rating = f.read_rows<float>("/interactions/rating", s0, s1);
      auto timestamp = f.read_rows<std::int64_t>("/interactions/timestamp", s0, s1);
      for (std::size_t j = 0; j < item.size(); ++j) {
        PERSONAS_CHECK(item[j] >= 0 && static_cast<std::size_t>(item[j]) < ds.items.size(), data,
                       "'{}': interaction {} names item index {} of {}", file_path.string(), s0 + j, item[j],
                       ds.items.size());
        ds.interactions.push_back(Interaction{item[j], rating[j], timestamp[j]});
      }
    }
  }
  PERSONAS_CHECK(static_cast<std::int64_t>(ds.users.size()) == end - begin, data,
                 "prepared data in '{}' holds {} of the {} users [{}, {}) (incomplete shard table?)",
                 run.stage_dir(kPrepareStage).string(), ds.users.size(), end - begin, begin, end);
}

Dataset load_dataset(const RunDir& run, Comm& comm) {
  Dataset ds = load_dataset_items(run);
  auto [begin, end] = block_range(ds.n_users_total, comm.rank(), comm.size());
  load_dataset_users(run, ds, begin, end);
  return ds;
}

void mark_prepare_done(const RunDir& run, const std::string& config_hash, Comm& comm) {
  comm.barrier();
  if (comm.is_root()) {
    h5::File items(items_path(run), h5::File::Mode::read);
    nlohmann::json extra;
    extra["source"] = items.attr_string("/", "source");
    extra["n_users"] = items.attr_int("/", "n_users_total");
    extra["n_interactions"] = items.attr_int("/", "n_interactions_total");
    extra["n_items"] = items.shape("/items/id").at(0);
    extra["n_ranks"] = comm.size();
    run.mark_done(kPrepareStage, config_hash, extra);
  }
  comm.barrier();
}

}  // namespace personas
