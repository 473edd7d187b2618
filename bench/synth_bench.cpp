// Synthetic generation at scale, under mpiexec: N users x R ratings each,
// written to RUN/prepare/. Target: 1M users x 50 ratings under 60 s with 2 ranks.
//   mpiexec -np 2 build-x/bench/bench_synth_bench [n_users=1000000] [ratings=50] [run_dir]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "comm/comm.h"
#include "core/fs.h"
#include "data/synthetic.h"

using namespace personas;

int main(int argc, char** argv) {
  auto comm = make_world_comm(&argc, &argv);
  const int n_users = argc > 1 ? std::atoi(argv[1]) : 1000000;
  const int ratings = argc > 2 ? std::atoi(argv[2]) : 50;
  const fs::path run_dir = argc > 3 ? argv[3] : fs::temp_directory_path() / "personas-synth-bench";
  DataConfig config;
  config.source = DataSource::synthetic;
  config.n_users = n_users;
  config.min_ratings = ratings;
  config.max_ratings = ratings;
  if (comm->is_root()) fs::remove_all(run_dir);
  comm->barrier();
  auto t0 = std::chrono::steady_clock::now();
  synthesize_dataset(config, 1234, RunDir(run_dir), *comm);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (comm->is_root()) {
    std::uintmax_t bytes = 0;
    for (const auto& e : fs::directory_iterator(run_dir / "prepare")) bytes += e.is_regular_file() ? e.file_size() : 0;
    std::printf("synth_bench: %d users x %d ratings on %d rank(s): %.2f s (%.2f M ratings/s), %.0f MB written\n",
                n_users, ratings, comm->size(), s, 1e-6 * n_users * ratings / s, bytes / 1e6);
    fs::remove_all(run_dir);
  }
  return 0;
}
