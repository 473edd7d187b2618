// The k-means assignment step on the configured backend (run.backend):
// Backend::kmeans_assign. On the CPU it calls the same kernel as CpuBackend
// (cpu_kmeans_assign) directly on chunks inside the Lloyd loop's threads, so
// the sums are taken while the rows are in cache; on a device backend the
// whole shard goes through Backend::kmeans_assign in one call per iteration.
#pragma once

#include <memory>
#include <string>

#include "backend/backend.h"
#include "cluster/kmeans.h"

namespace personas {

struct KMeansAssignStep {
  std::unique_ptr<Backend> backend;  // kept alive for device assigners
  KMeansAssignFn assign;
  bool in_threads = true;            // KMeansOptions::assign_in_threads
  std::string name;
};

KMeansAssignStep make_kmeans_assign_step(BackendKind backend_kind, int device_index);

}  // namespace personas
