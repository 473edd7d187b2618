// Sharding of the prepared data over 1, 2 and 3 ranks: what the ranks write
// together and read back is exactly the one-process selection, and the
// synthetic generator makes the same users whatever the number of ranks.
#include <gtest/gtest.h>

#include <memory>

#include "core/strings.h"
#include "data/dataset_io.h"
#include "data/loaders.h"
#include "data/prepare.h"
#include "data/selection.h"
#include "data/synthetic.h"
#include "mpi/mpi_test_env.h"
#include "support/test_support.h"
#include "unit/data/data_fixtures.h"

namespace personas {
namespace {

// A folder every rank sees (made by rank 0, removed by rank 0 at the end).
class SharedTempDir {
 public:
  explicit SharedTempDir(Comm& comm) : comm_(comm) {
    std::string path;
    if (comm.is_root()) {
      dir_ = std::make_unique<testing::TempDir>("personas-mpi-data");
      path = dir_->path().string();
    }
    comm.broadcast_string(path, 0);
    path_ = path;
  }
  ~SharedTempDir() { comm_.barrier(); }
  const fs::path& path() const { return path_; }

 private:
  Comm& comm_;
  std::unique_ptr<testing::TempDir> dir_;
  fs::path path_;
};

// One line per user: id, persona, demographics and every interaction.
std::string fingerprint(const Dataset& ds) {
  std::string out;
  for (const User& u : ds.users) {
    out += fmt::format("{} {} {} {} {} {} {}:", u.id, u.true_persona, u.age, u.gender, u.occupation, u.n_train, u.n_test);
    for (const auto& x : ds.train_of(u)) out += fmt::format(" {}/{}/{}", x.item, x.rating, x.timestamp);
    out += " |";
    for (const auto& x : ds.test_of(u)) out += fmt::format(" {}/{}/{}", x.item, x.rating, x.timestamp);
    out += "\n";
  }
  return out;
}

// Every rank's fingerprint, concatenated in rank order.
std::string gather_fingerprints(Comm& comm, const std::string& mine) {
  auto parts = comm.allgatherv(std::as_bytes(std::span(mine.data(), mine.size())));
  std::string all;
  for (auto& p : parts) all.append(reinterpret_cast<const char*>(p.data()), p.size());
  return all;
}

TEST(DataSharding, PreparedSelectionIsIdenticalForAnyRankCount) {
  Comm& comm = testing::world();
  SharedTempDir tmp(comm);
  if (comm.is_root()) testing::write_small_ml100k(tmp.path() / "ml");
  comm.barrier();
  auto config = testing::small_config(tmp.path() / "ml");
  config.min_ratings = 1;
  RunDir run(tmp.path() / "run");
  prepare_stage(config, 9, run, comm, "hash");
  Dataset mine = load_dataset(run, comm);
  EXPECT_EQ(mine.n_users_total, 4);
  BadRows bad(false);
  Dataset expected = select_and_split(load_ml100k(tmp.path() / "ml", config, bad), config, 9);
  EXPECT_EQ(gather_fingerprints(comm, fingerprint(mine)), fingerprint(expected));
  // Item statistics are global (the same on every rank, equal to the one-process ones).
  for (std::size_t i = 0; i < expected.items.size(); ++i) {
    EXPECT_EQ(mine.items[i].train_count, expected.items[i].train_count);
    EXPECT_DOUBLE_EQ(mine.items[i].train_mean, expected.items[i].train_mean);
  }
  if (comm.is_root()) {
    auto marker = run.done_marker("prepare");
    ASSERT_TRUE(marker);
    EXPECT_EQ((*marker)["n_ranks"], comm.size());
    EXPECT_EQ((*marker)["n_users"], 4);
  }
}

TEST(DataSharding, RealMl100kSelectionIsIdenticalForAnyRankCount) {
  PERSONAS_REQUIRE_DATA(udata, "ml-100k/u.data");
  Comm& comm = testing::world();
  SharedTempDir tmp(comm);
  DataConfig config;
  config.source = DataSource::ml100k;
  config.path = udata.parent_path().string();
  RunDir run(tmp.path() / "run");
  prepare_stage(config, 1234, run, comm, "hash");
  Dataset mine = load_dataset(run, comm);
  BadRows bad(false);
  Dataset expected = select_and_split(load_ml100k(udata.parent_path(), config, bad), config, 1234);
  EXPECT_EQ(hash_hex(gather_fingerprints(comm, fingerprint(mine))), hash_hex(fingerprint(expected)));
}

TEST(DataSharding, SyntheticUsersDoNotDependOnTheRankCount) {
  Comm& comm = testing::world();
  SharedTempDir tmp(comm);
  DataConfig config;
  config.source = DataSource::synthetic;
  config.n_users = 101;
  config.min_ratings = 10;
  config.max_ratings = 60;
  config.synth_items = 300;
  config.synth_chunk_users = 16;
  RunDir run(tmp.path() / "run");
  synthesize_dataset(config, 77, run, comm);
  Dataset mine = load_dataset(run, comm);
  // The one-process reference: all users generated here.
  SynthModel model = make_synth_model(config, 77);
  SynthGenerator gen(model, config, 77);
  Dataset expected;
  gen.generate(0, 101, expected.users, expected.interactions);
  EXPECT_EQ(gather_fingerprints(comm, fingerprint(mine)), fingerprint(expected));
  std::int64_t train = 0, counted = 0;
  for (const User& u : expected.users) train += u.n_train;
  for (const Item& item : mine.items) counted += item.train_count;
  EXPECT_EQ(counted, train);  // item statistics summed over every rank's users
}

}  // namespace
}  // namespace personas
