// `personas cluster` (stage 2b): reads RUN/embed/profiles-rank-*.h5 (any
// number of files, resharded to this job's ranks), runs k-means with the
// choice of k, and writes RUN/cluster/ (docs/clustering.md):
//   centroids.h5                  /centroids f32 [k, dim], /sizes int64 [k]; attributes
//   assignments-rank-0000r.jsonl  {"user", "persona", "distance"} per user of rank r
//   assignments.jsonl             {"user", "persona"} for every user (rank 0)
//   curves.json                   k, inertia, silhouette, iterations per k; chosen k and why
//   personas.json                 size, distinctive genres and words, summary per persona
//   DONE
#pragma once

#include <string>

#include "cluster/cluster_config.h"
#include "comm/comm.h"
#include "core/run_config.h"
#include "core/run_dir.h"

namespace personas {

// `run` gives the seed and the backend; the cluster room reads no other section.
void cluster_stage(const ClusterConfig& cluster, const RunConfig& run_config, const RunDir& run, Comm& comm,
                   const std::string& config_hash);

}  // namespace personas
