#include "data/dataset_io.h"

#include <gtest/gtest.h>

#include "core/errors.h"
#include "data/shard_writer.h"
#include "io/hdf5_file.h"
#include "support/test_support.h"
#include "unit/data/fake_comm.h"

namespace personas {
namespace {

// A small hand-made data set: 7 users with 1..7 interactions each.
Dataset small_dataset() {
  Dataset ds;
  ds.source = "test";
  ds.genre_names = {"Action", "Comedy"};
  for (int i = 0; i < 5; ++i)
    ds.items.push_back(Item{100 + i, "Título " + std::to_string(i), 1990 + i, static_cast<std::uint32_t>(i % 4),
                            3.5, i});
  ds.n_users_total = 7;
  for (int u = 0; u < 7; ++u) {
    User user;
    user.id = 1000 + u;
    user.age = 20 + u;
    user.gender = u % 2 ? 'F' : 'M';
    user.occupation = u % 3 ? "writer" : "";
    user.true_persona = u % 2;
    user.first = static_cast<std::int64_t>(ds.interactions.size());
    user.n_train = (u + 1) / 2 + 1 - ((u + 1) / 2 + 1 > u + 1 ? 1 : 0);
    user.n_test = (u + 1) - user.n_train;
    for (int j = 0; j <= u; ++j)
      ds.interactions.push_back(Interaction{(u + j) % 5, static_cast<float>(1 + (u + j) % 5), 1000 * u + j});
    ds.users.push_back(user);
  }
  return ds;
}

TEST(DatasetIo, RoundTripForAnyNumberOfReaders) {
  testing::TempDir tmp;
  RunDir run(tmp.path());
  auto comm = make_local_comm();
  const Dataset original = small_dataset();
  write_dataset(run, original, *comm);
  mark_prepare_done(run, "abc", *comm);
  auto marker = run.done_marker("prepare");
  ASSERT_TRUE(marker);
  EXPECT_EQ((*marker)["n_users"], 7);
  EXPECT_EQ((*marker)["n_interactions"], 28);
  EXPECT_EQ((*marker)["n_items"], 5);

  for (int readers = 1; readers <= 4; ++readers) {
    std::int64_t next_user = 0;
    for (int r = 0; r < readers; ++r) {
      testing::FakeRankComm fake(r, readers);
      Dataset part = load_dataset(run, fake);
      EXPECT_EQ(part.source, "test");
      EXPECT_EQ(part.genre_names, original.genre_names);
      ASSERT_EQ(part.items.size(), original.items.size());
      EXPECT_EQ(part.items[2].title, "Título 2");
      EXPECT_EQ(part.items[3].genres, 3u);
      EXPECT_EQ(part.n_users_total, 7);
      EXPECT_EQ(part.first_user, next_user);
      for (const User& u : part.users) {
        const User& o = original.users[static_cast<std::size_t>(next_user++)];
        EXPECT_EQ(u.id, o.id);
        EXPECT_EQ(u.age, o.age);
        EXPECT_EQ(u.gender, o.gender);
        EXPECT_EQ(u.occupation, o.occupation);
        EXPECT_EQ(u.true_persona, o.true_persona);
        ASSERT_EQ(u.n_train, o.n_train);
        ASSERT_EQ(u.n_test, o.n_test);
        auto a = part.train_of(u), b = original.train_of(o);
        for (std::size_t j = 0; j < a.size(); ++j) {
          EXPECT_EQ(a[j].item, b[j].item);
          EXPECT_EQ(a[j].rating, b[j].rating);
          EXPECT_EQ(a[j].timestamp, b[j].timestamp);
        }
        auto c = part.test_of(u), d = original.test_of(o);
        for (std::size_t j = 0; j < c.size(); ++j) EXPECT_EQ(c[j].timestamp, d[j].timestamp);
      }
    }
    EXPECT_EQ(next_user, 7) << readers << " readers";
  }
}

TEST(DatasetIo, MissingPrepareIsAnIoErrorWithHint) {
  testing::TempDir tmp;
  RunDir run(tmp.path());
  auto comm = make_local_comm();
  try {
    load_dataset(run, *comm);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io);
    EXPECT_NE(e.message().find("items.h5"), std::string::npos);
    EXPECT_NE(e.hint().find("personas prepare"), std::string::npos);
  }
}

TEST(DatasetIo, FailedWriterLeavesNoFile) {
  testing::TempDir tmp;
  auto final_path = tmp / "users-rank-00000.h5";
  {
    UserShardWriter writer(final_path, 0, 0, 1);
    User u;
    u.n_train = 1;  // claims one interaction, none given: an internal error
    EXPECT_THROW(writer.append(std::span<const User>(&u, 1), {}), InternalError);
  }
  EXPECT_FALSE(fs::exists(final_path));
  EXPECT_TRUE(fs::is_empty(tmp.path()));
}

}  // namespace
}  // namespace personas
