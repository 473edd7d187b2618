// The [run] and [log] sections: what every stage needs.
#pragma once

#include <cstdint>
#include <string>

#include "core/backend_kind.h"
#include "core/config_schema.h"
#include "core/log.h"

namespace personas {

struct RunConfig {
  std::string dir = "runs/default";  // run directory (outputs of every stage)
  std::int64_t seed = 1234;          // master seed; each stage derives its own
  BackendKind backend = BackendKind::automatic;  // run.backend: auto|cpu|cuda
  int threads = 0;                   // OpenMP/BLAS threads per rank; 0 = cores / local ranks
  std::string from_stage;            // `personas run`: first stage to (re)do
  std::string until_stage;           // `personas run`: last stage to do

  void describe(ConfigSchema& schema);
};

struct LogConfig {
  LogOptions options;
  void describe(ConfigSchema& schema);
};

}  // namespace personas
