#include "core/run_config.h"

namespace personas {

void RunConfig::describe(ConfigSchema& s) {
  s.add("run.dir", &dir, "run directory: every stage reads and writes here");
  s.add("run.seed", &seed, "master random seed; every stage derives its seeds from it");
  s.add_choice("run.backend", &backend, backend_kind_names(),
               "compute backend; auto = CUDA when built in and a GPU answers, else CPU");
  s.add("run.threads", &threads, "threads per rank (OpenMP and BLAS); 0 = cores / ranks on the node");
  s.add("run.from", &from_stage, "personas run: first stage to redo (empty = first stale stage)");
  s.add("run.until", &until_stage, "personas run: last stage to run (empty = report)");
  s.add_check([this](Problems& p) {
    if (dir.empty()) p.add("run.dir: must not be empty");
    if (threads < 0) p.add("run.threads: {} must be >= 0", threads);
  });
}

void LogConfig::describe(ConfigSchema& s) {
  s.add_choice("log.level", &options.level, log_level_names(), "log level");
  s.add("log.all_ranks", &options.all_ranks, "every rank logs (default: rank 0 only; errors always)");
}

}  // namespace personas
