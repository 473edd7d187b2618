// Mutation fuzzing of the loaders: random byte flips, insertions, deletions
// and truncations of small valid files must end in success or a
// personas::Error, never a crash or another exception. Inputs that once broke
// a loader live in tests/unit/data/cases/ and are replayed on every run.
#include <gtest/gtest.h>

#include "core/errors.h"
#include "data/loaders.h"
#include "data/rng.h"
#include "data/selection.h"
#include "support/test_support.h"
#include "unit/data/data_fixtures.h"

namespace personas {
namespace {

std::string mutate(std::string bytes, Rng& rng) {
  const int edits = 1 + static_cast<int>(rng.below(4));
  static const char interesting[] = {'\t', '\n', '|', ':', ',', '"', '-', '0', '9', '.', 'e', '\0', '\r',
                                     static_cast<char>(0xe9), static_cast<char>(0xff), static_cast<char>(0x80)};
  for (int e = 0; e < edits && !bytes.empty(); ++e) {
    const auto at = static_cast<std::size_t>(rng.below(bytes.size()));
    switch (rng.below(5)) {
      case 0: bytes[at] = static_cast<char>(bytes[at] ^ (1 << rng.below(8))); break;
      case 1: bytes.insert(at, 1, interesting[rng.below(sizeof interesting)]); break;
      case 2: bytes.erase(at, 1 + rng.below(8)); break;
      case 3: bytes.resize(at); break;
      default: bytes.insert(at, bytes.substr(at / 2, 1 + rng.below(30))); break;  // duplicate a slice
    }
  }
  return bytes;
}

// Runs a loader plus the selection; returns "" when it ended well (success or
// personas::Error), else what went wrong.
template <class Load>
std::string survive(Load load) {
  try {
    auto config = testing::small_config(".");
    config.min_ratings = 1;
    Ratings r = load();
    select_and_split(r, config, 1);
  } catch (const Error&) {
  } catch (const std::exception& e) {
    return std::string("std::exception: ") + e.what();
  } catch (...) {
    return "unknown exception";
  }
  return "";
}

std::string load_ml100k_file(const std::string& file, const std::string& content, bool skip) {
  testing::TempDir tmp;
  testing::write_small_ml100k(tmp.path());
  testing::write_text(tmp / file, content);
  BadRows bad(skip);
  return survive([&] { return load_ml100k(tmp.path(), testing::small_config(tmp.path()), bad); });
}

std::string load_csv_file(const std::string& content, bool skip) {
  testing::TempDir tmp;
  testing::write_text(tmp / "r.csv", content);
  BadRows bad(skip);
  auto c = testing::small_config(tmp / "r.csv", DataSource::csv);
  return survive([&] { return load_csv(tmp / "r.csv", c, bad); });
}

std::string load_gzip_bytes(const std::string& content, bool skip) {
  testing::TempDir tmp;
  testing::write_text(tmp / "r.tsv.gz", content);
  BadRows bad(skip);
  return survive([&] { return load_ml1m_fallback(tmp / "r.tsv.gz", DataConfig{}, bad); });
}

const std::string kCsv =
    "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,\"4.5\",964981247\n2,6,4.0,964982224\n"
    "2,47,5.0,964983815\n3,50,0.5,964982931\n";

// Keeps a failing input under the build tree's cases folder for a human to move into the repo.
void keep_case(const std::string& name, const std::string& bytes) {
  auto dir = fs::temp_directory_path() / "personas-fuzz-found";
  fs::create_directories(dir);
  testing::write_text(dir / name, bytes);
  ADD_FAILURE() << "crash case kept as " << (dir / name).string();
}

TEST(Mutation, LoadersNeverCrash) {
  testing::TempDir fixture;
  testing::write_small_ml100k(fixture.path());
  const std::vector<std::string> ml_files = {"u.data", "u.item", "u.user", "u.genre"};
  std::string gz_bytes;
  {
    testing::write_gzip(fixture / "x.gz", "1\t1\t5\n2\t1\t3\n1\t2\t4\n3\t2\t1\n");
    gz_bytes = read_file(fixture / "x.gz");
  }
  Rng rng(derive_seed(2024, "mutation"));
  const int rounds = 600;
  for (int round = 0; round < rounds; ++round) {
    const bool skip = round % 2;
    const auto& file = ml_files[static_cast<std::size_t>(round) % ml_files.size()];
    auto m1 = mutate(read_file(fixture / file), rng);
    if (auto why = load_ml100k_file(file, m1, skip); !why.empty()) keep_case(fmt::format("{}-{}", round, file), m1);
    auto m2 = mutate(kCsv, rng);
    if (auto why = load_csv_file(m2, skip); !why.empty()) keep_case(fmt::format("{}.csv", round), m2);
    auto m3 = mutate(gz_bytes, rng);
    if (auto why = load_gzip_bytes(m3, skip); !why.empty()) keep_case(fmt::format("{}.tsv.gz", round), m3);
  }
}

// Replays tests/unit/data/cases/: NAME.u.data|u.item|u.user|u.genre replace that
// ML-100K file, NAME.csv is a ratings CSV, NAME.tsv.gz a fallback file.
TEST(Mutation, RegressionCases) {
  auto dir = testing::source_dir() / "tests" / "unit" / "data" / "cases";
  ASSERT_TRUE(fs::exists(dir)) << dir;
  int replayed = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const std::string bytes = read_file(entry.path());
    for (bool skip : {false, true}) {
      std::string why;
      if (name.ends_with(".csv")) why = load_csv_file(bytes, skip);
      else if (name.ends_with(".tsv.gz")) why = load_gzip_bytes(bytes, skip);
      else {
        for (std::string f : {"u.data", "u.item", "u.user", "u.genre"})
          if (name.ends_with("." + f)) why = load_ml100k_file(f, bytes, skip);
      }
      EXPECT_EQ(why, "") << name;
    }
    ++replayed;
  }
  EXPECT_GT(replayed, 0);
}

}  // namespace
}  // namespace personas
