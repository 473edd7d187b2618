// k-means quality and the cost of the choice of k, on planted data
// (cluster/planted_blobs.h) or on the profile vectors of a run directory.
//
//   bench_kmeans_quality [data] [what] [settings]
//   data:     --data-seed S [--n 2000] [--d 64] [--separation 1.0]   planted blobs (default)
//             --run-dir DIR                                        RUN/embed/profiles-rank-*.h5
//   what:     --mode fit   (default) k-means at --k for run seeds --seeds A..B (default 0..29):
//                          one JSON line per seed
//             --mode auto  cluster.k = auto over --k-min..--k-max for each run seed: the
//                          inertia curve, the chosen k, wall and CPU seconds of the choice
//             --write FILE the rows as k-means sees them (unit rows when spherical) as
//                          int64 n, int64 d, float32 [n, d]; one rank (for scikit-learn)
//   settings: [--k 5] [--k-min 2] [--k-max 12] [--n-redo R] [--spherical 0|1] [--init I]
//             [--threads T]   (defaults: [cluster] defaults; threads as `personas`: cores / ranks)
//
// The k-means seed of run seed s is the cluster stage's: hash_chain(s, "clus", 0).
// `sse` is the partition's within-cluster sum of squares about its means (the
// Euclidean k-means objective of the labels, what scikit-learn's inertia is),
// on the rows as written by --write; with --spherical 0 it equals the inertia
// up to float rounding of the centroids. bench/kmeans_quality_sklearn.py runs
// this binary and scikit-learn side by side.
#include <fmt/format.h>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "backend/cpu/host_threads.h"
#include "cluster/choose_k.h"
#include "cluster/cluster_config.h"
#include "cluster/cluster_metrics.h"
#include "cluster/kmeans.h"
#include "cluster/kmeans_init.h"
#include "cluster/planted_blobs.h"
#include "comm/comm.h"
#include "comm/sharding.h"
#include "core/run_dir.h"
#include "embed/embedding_store.h"
#include "process_cpu.h"
#include "core/hash.h"
#include "core/seed_salts.h"

using namespace personas;

namespace {

std::pair<int, int> parse_range(const std::string& text) {
  const auto dots = text.find("..");
  if (dots == std::string::npos) return {std::stoi(text), std::stoi(text)};
  return {std::stoi(text.substr(0, dots)), std::stoi(text.substr(dots + 2))};
}

}  // namespace

int main(int argc, char** argv) {
  auto comm = make_world_comm(&argc, &argv);
  PlantedBlobs spec;
  std::string run_dir, write, mode = "fit";
  ClusterConfig cc;
  int k = 5, threads = 0;
  std::pair<int, int> seeds{0, 29};
  for (int a = 1; a + 1 < argc; a += 2) {
    const std::string key = argv[a], value = argv[a + 1];
    if (key == "--data-seed") spec.seed = std::stoull(value);
    else if (key == "--n") spec.n = std::stoll(value);
    else if (key == "--d") spec.d = std::stoi(value);
    else if (key == "--separation") spec.separation = std::stod(value);
    else if (key == "--run-dir") run_dir = value;
    else if (key == "--write") write = value;
    else if (key == "--mode") mode = value;
    else if (key == "--k") k = std::stoi(value);
    else if (key == "--k-min") cc.k_min = std::stoi(value);
    else if (key == "--k-max") cc.k_max = std::stoi(value);
    else if (key == "--n-redo") cc.n_redo = std::stoi(value);
    else if (key == "--spherical") cc.spherical = value == "1";
    else if (key == "--init") {
      const auto init = choice_value(kmeans_init_names(), value);
      if (!init) { std::fprintf(stderr, "--init: '%s' is not kmeans||, kmeans++ or random\n", value.c_str()); return 2; }
      cc.init = *init;
    }
    else if (key == "--threads") threads = std::stoi(value);
    else if (key == "--seeds") seeds = parse_range(value);
    else { std::fprintf(stderr, "unknown flag %s\n", key.c_str()); return 2; }
  }
  set_host_threads(threads > 0 ? threads : std::max(1, omp_get_num_procs() / std::max(1, comm->local_size())));

  std::vector<float> x;
  std::int64_t n = 0, first = 0;
  int d = 0;
  if (!run_dir.empty()) {
    UserVectors v = load_profile_vectors(RunDir(run_dir), *comm);
    x = std::move(v.vectors);
    n = v.n_users_total, first = v.first_user, d = v.dim;
  } else {
    n = spec.n, d = spec.d;
    const auto [begin, end] = block_range(n, comm->rank(), comm->size());
    first = begin;
    x = planted_blob_rows(spec, begin, end - begin);
  }
  const std::int64_t rows = static_cast<std::int64_t>(x.size()) / d;
  if (cc.spherical) normalize_rows(x.data(), rows, d);  // what k-means clusters (and the SSE's geometry)

  if (!write.empty()) {
    if (comm->size() != 1) { std::fprintf(stderr, "--write needs one rank\n"); return 2; }
    std::ofstream out(write, std::ios::binary);
    const std::int64_t header[2] = {n, d};
    out.write(reinterpret_cast<const char*>(header), sizeof header);
    out.write(reinterpret_cast<const char*>(x.data()), static_cast<std::streamsize>(x.size() * sizeof(float)));
    return 0;
  }
  for (int s = seeds.first; s <= seeds.second; ++s) {
    const std::uint64_t seed = hash_chain(static_cast<std::uint64_t>(s), seed_salt::kCluster, 0);  // as cluster_stage
    comm->barrier();
    const auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = process_cpu_seconds();
    if (mode == "fit") {
      const KMeansResult r = kmeans_fit(*comm, x.data(), rows, d, first, kmeans_options(cc, k, seed), cpu_assign_fn());
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double cpu = comm->allreduce_sum(process_cpu_seconds() - cpu0);
      const double sse = within_cluster_sse(*comm, x, d, r.labels, k);
      if (comm->is_root())
        std::printf("{\"seed\": %d, \"k\": %d, \"inertia\": %.10g, \"sse\": %.10g, \"redo\": %d, \"iterations\": %d, "
                    "\"seconds\": %.4f, \"cpu_seconds\": %.4f}\n", s, k, r.inertia, sse, r.redo, r.iterations, wall, cpu);
    } else if (mode == "auto") {
      ClusterConfig auto_cc = cc;
      auto_cc.k = "auto";
      const ClusterChoice choice = cluster_with_k_choice(*comm, x.data(), rows, d, first, auto_cc, seed, cpu_assign_fn());
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double cpu = comm->allreduce_sum(process_cpu_seconds() - cpu0);
      std::string curve;
      for (const auto& p : choice.curve) curve += fmt::format("{}{:.10g}", curve.empty() ? "" : ", ", p.inertia);
      const double chosen_sse = within_cluster_sse(*comm, x, d, choice.result.labels, choice.chosen_k);
      if (comm->is_root())
        std::printf("{\"seed\": %d, \"ranks\": %d, \"threads_per_rank\": %d, \"k_min\": %d, \"chosen_k\": %d, "
                    "\"chosen_sse\": %.10g, \"inertia\": [%s], \"seconds\": %.3f, \"cpu_seconds\": %.3f}\n",
                    s, comm->size(), omp_get_max_threads(), auto_cc.k_min, choice.chosen_k, chosen_sse, curve.c_str(),
                    wall, cpu);
    } else {
      std::fprintf(stderr, "--mode fit | auto\n");
      return 2;
    }
    std::fflush(stdout);
  }
  return 0;
}
