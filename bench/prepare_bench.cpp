// prepare on the ML-1M fallback (1,000,209 ratings): load (gunzip + parse),
// select + split, write RUN/prepare/. Target: under 3 s on one core.
//   build-x/bench/bench_prepare_bench [ratings_user_itemidx_rating.tsv.gz] [run_dir]
#include <chrono>
#include <cstdio>

#include "comm/comm.h"
#include "core/fs.h"
#include "data/dataset_io.h"
#include "data/loaders.h"
#include "data/selection.h"

using namespace personas;

namespace {
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

int main(int argc, char** argv) {
  const fs::path input = argc > 1 ? argv[1] : "../shared/data/ml-1m/derived/ratings_user_itemidx_rating.tsv.gz";
  const fs::path run_dir = argc > 2 ? argv[2] : fs::temp_directory_path() / "personas-prepare-bench";
  if (!fs::exists(input)) {
    std::printf("prepare_bench: %s not found; nothing measured\n", input.c_str());
    return 0;
  }
  auto comm = make_local_comm();
  // Two selections: the paper's (200 users with 100..200 ratings) and every user (all 1M rows written).
  for (bool everyone : {false, true}) {
    DataConfig config;
    config.source = DataSource::ml1m_fallback;
    config.path = input.string();
    if (everyone) {
      config.n_users = 0;
      config.min_ratings = 1;
      config.max_ratings = 0;
    }
    auto t0 = std::chrono::steady_clock::now();
    BadRows bad(false);
    Ratings ratings = load_ratings(config, bad);
    const double load_s = seconds_since(t0);
    auto t1 = std::chrono::steady_clock::now();
    Dataset whole = select_and_split(ratings, config, 1234);
    const double select_s = seconds_since(t1);
    auto t2 = std::chrono::steady_clock::now();
    fs::remove_all(run_dir);
    RunDir run(run_dir);
    write_dataset(run, take_block(whole, 0, 1), *comm);
    const double write_s = seconds_since(t2);
    std::printf("prepare_bench %-28s ratings %lld users %lld interactions %zu | load %.3f s  select+split %.3f s  "
                "write %.3f s  total %.3f s\n",
                everyone ? "(every user)" : "(200 users, 100..200)", static_cast<long long>(ratings.n_ratings()),
                static_cast<long long>(whole.n_users_total), whole.interactions.size(), load_s, select_s, write_s,
                seconds_since(t0));
  }
  fs::remove_all(run_dir);
  return 0;
}
