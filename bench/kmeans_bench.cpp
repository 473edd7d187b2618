// k-means Lloyd iterations on synthetic data: time per iteration.
//
//   bench_kmeans [--n 1000000] [--d 256] [--k 16] [--iters 20] [--threads T] [--write FILE]
//   mpiexec -n 2 bench_kmeans ...          (each rank makes and clusters its block)
//
// Data: k planted Gaussian blobs; row i is a pure function of i (hashed normal
// draws), so any number of ranks sees the same rows. Initial centroids: rows
// chosen by hash (the same for every rank count). tol = 0, so exactly --iters
// Lloyd iterations (assign + update) run. --write FILE (one rank) saves the
// rows and initial centroids as float32 for bench/kmeans_sklearn.py, which runs
// scikit-learn on the same data from the same centroids. Prints one JSON line;
// fit_cpu_seconds (user + system time of every rank's threads during the fit)
// is the figure to compare on a shared, loaded machine, where wall time is not.
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "process_cpu.h"
#include "cluster/kmeans.h"
#include "cluster/kmeans_init.h"
#include "comm/comm.h"
#include "comm/sharding.h"

using namespace personas;

namespace {

double normal(std::uint64_t i, std::uint64_t t) {
  const double u1 = hash_uniform(11, i, t), u2 = hash_uniform(12, i, t);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace

int main(int argc, char** argv) {
  auto comm = make_world_comm(&argc, &argv);
  std::int64_t n = 1000000;
  int d = 256, k = 16, iters = 20, threads = 0;
  std::string write;
  for (int a = 1; a + 1 < argc; a += 2) {
    const std::string key = argv[a], value = argv[a + 1];
    if (key == "--n") n = std::stoll(value);
    else if (key == "--d") d = std::stoi(value);
    else if (key == "--k") k = std::stoi(value);
    else if (key == "--iters") iters = std::stoi(value);
    else if (key == "--threads") threads = std::stoi(value);
    else if (key == "--write") write = value;
    else { std::fprintf(stderr, "unknown flag %s\n", key.c_str()); return 2; }
  }
  if (threads > 0) omp_set_num_threads(threads);
  const auto [begin, end] = block_range(n, comm->rank(), comm->size());
  const std::int64_t rows = end - begin;
  const auto t_gen = std::chrono::steady_clock::now();
  std::vector<float> x(static_cast<std::size_t>(rows) * d);
  const int planted = 64;  // more blobs than k and overlapping: Lloyd keeps moving for all iterations
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::uint64_t g = static_cast<std::uint64_t>(begin + r);
    const std::uint64_t blob = hash_chain(7, 1, g) % planted;
    for (int t = 0; t < d; ++t)
      x[static_cast<std::size_t>(r) * d + t] =
          static_cast<float>(1.0 * (hash_uniform(5, blob, static_cast<std::uint64_t>(t)) - 0.5) + normal(g, static_cast<std::uint64_t>(t)));
  }
  const ShardedPoints points{x.data(), rows, n, begin, d};
  const std::vector<float> init = fetch_rows(*comm, points, sample_rows(*comm, points, k, 99, 1));
  const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_gen).count();

  if (!write.empty() && comm->size() == 1) {
    std::ofstream out(write, std::ios::binary);
    const std::int64_t header[3] = {n, d, k};
    out.write(reinterpret_cast<const char*>(header), sizeof header);
    out.write(reinterpret_cast<const char*>(init.data()), static_cast<std::streamsize>(init.size() * sizeof(float)));
    out.write(reinterpret_cast<const char*>(x.data()), static_cast<std::streamsize>(x.size() * sizeof(float)));
  }
  KMeansOptions o;
  o.k = k;
  o.max_iter = iters;
  o.tol = 0;
  o.initial_centroids = init;
  comm->barrier();
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = process_cpu_seconds();
  const KMeansResult r = kmeans_fit(*comm, x.data(), rows, d, begin, o, cpu_assign_fn());
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = comm->allreduce_sum(process_cpu_seconds() - cpu0);  // every rank's threads
  double iter_sum = 0;
  for (const auto& h : r.history) iter_sum += h.seconds;
  if (comm->is_root())
    std::printf("{\"ranks\": %d, \"threads_per_rank\": %d, \"n\": %lld, \"d\": %d, \"k\": %d, \"iterations\": %zu, "
                "\"seconds_per_iteration\": %.4f, \"fit_seconds\": %.3f, \"fit_cpu_seconds\": %.3f, \"inertia\": %.10g, "
                "\"data_seconds\": %.2f}\n",
                comm->size(), omp_get_max_threads(), static_cast<long long>(n), d, k, r.history.size(),
                iter_sum / static_cast<double>(std::max<std::size_t>(r.history.size(), 1)), total, cpu, r.inertia, gen_s);
  return 0;
}
