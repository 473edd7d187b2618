// Evaluation throughput of the classical baselines: synthetic users made in
// memory (the generator of `personas synth`, nothing written), then for each
// baseline: fit on the training period, predict every test-period rating,
// compute the metrics (with the bootstrap over users). Prints one line per
// baseline and one JSON line per baseline: seconds per phase and ratings/s
// (training ratings/s for the fit, test ratings/s for predict and metrics).
//
//   bench_eval_bench [--users 200000] [--min-ratings 20] [--baselines global_mean,user_mean,item_mean,bias,mf_sgd,mf_als]
//                    [--bootstrap 200]
//   mpiexec -n 2 bench_eval_bench ...   (users in blocks over the ranks, as in `personas eval`)
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "comm/comm.h"
#include "comm/sharding.h"
#include "core/strings.h"
#include "data/synthetic.h"
#include "eval/baselines.h"
#include "eval/metrics.h"

using namespace personas;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

int main(int argc, char** argv) {
  auto comm = make_world_comm(&argc, &argv);
  int n_users = 200000, min_ratings = 20, bootstrap = 200;
  std::string baselines = "global_mean,user_mean,item_mean,bias,mf_sgd,mf_als";
  for (int a = 1; a + 1 < argc; a += 2) {
    const std::string key = argv[a], value = argv[a + 1];
    if (key == "--users") n_users = std::stoi(value);
    else if (key == "--min-ratings") min_ratings = std::stoi(value);
    else if (key == "--baselines") baselines = value;
    else if (key == "--bootstrap") bootstrap = std::stoi(value);
    else {
      std::fprintf(stderr, "unknown flag %s\n", key.c_str());
      return 2;
    }
  }

  // The data of configs/scale.ini: min_ratings 20, Pareto tail up to 20x that.
  DataConfig data_config;
  data_config.source = DataSource::synthetic;
  data_config.n_users = n_users;
  data_config.min_ratings = min_ratings;
  data_config.max_ratings = 0;
  const std::uint64_t seed = 1234;
  const auto t_gen = Clock::now();
  const SynthModel model = make_synth_model(data_config, seed);
  Dataset data;
  data.source = "synthetic";
  data.genre_names = model.genre_names;
  data.items = model.items;
  data.n_users_total = n_users;
  const auto [begin, end] = block_range(n_users, comm->rank(), comm->size());
  data.first_user = begin;
  SynthGenerator(model, data_config, seed).generate(begin, end, data.users, data.interactions);
  std::int64_t local_train = 0, local_test = 0;
  for (const auto& u : data.users) {
    local_train += u.n_train;
    local_test += u.n_test;
  }
  const std::int64_t n_train = comm->allreduce_sum(local_train), n_test = comm->allreduce_sum(local_test);
  const double gen_s = comm->allreduce_max(seconds_since(t_gen));
  if (comm->is_root())
    std::printf("eval_bench: %d users, %lld training + %lld test ratings on %d rank(s) (generated in %.1f s)\n",
                n_users, static_cast<long long>(n_train), static_cast<long long>(n_test), comm->size(), gen_s);

  EvalConfig eval_config;
  MetricsOptions options;
  options.bootstrap_samples = bootstrap;
  for (const auto& name : split(baselines, ",")) {
    const std::string baseline_name(trim(name));
    if (baseline_name.empty()) continue;
    auto baseline = make_baseline(baseline_name, eval_config, seed);
    comm->barrier();
    auto t0 = Clock::now();
    baseline->fit(data, *comm);
    const double fit_s = comm->allreduce_max(seconds_since(t0));
    t0 = Clock::now();
    const auto records = predict_test_period(*baseline, data, {});
    const double predict_s = comm->allreduce_max(seconds_since(t0));
    t0 = Clock::now();
    const auto metrics = compute_metrics(baseline_name, "baseline", records, *comm, options);
    const double metrics_s = comm->allreduce_max(seconds_since(t0));
    if (comm->is_root()) {
      const double total = fit_s + predict_s + metrics_s;
      std::printf("eval_bench %-12s fit %7.3f s (%6.2f M train ratings/s)  predict %6.3f s (%6.2f M/s)  "
                  "metrics %6.3f s (%6.2f M/s)  end to end %6.2f M test ratings/s  RMSE %.4f\n",
                  baseline_name.c_str(), fit_s, 1e-6 * n_train / fit_s, predict_s, 1e-6 * n_test / predict_s,
                  metrics_s, 1e-6 * n_test / metrics_s, 1e-6 * n_test / total, metrics.overall.sums.rmse());
      nlohmann::json line = {{"baseline", baseline_name},
                             {"ranks", comm->size()},
                             {"users", n_users},
                             {"train_ratings", n_train},
                             {"test_ratings", n_test},
                             {"fit_seconds", fit_s},
                             {"predict_seconds", predict_s},
                             {"metrics_seconds", metrics_s},
                             {"test_ratings_per_second", n_test / total},
                             {"rmse", metrics.overall.sums.rmse()}};
      std::printf("%s\n", line.dump().c_str());
    }
  }
  return 0;
}
