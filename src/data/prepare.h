// The `prepare` stage: ratings source -> selection -> split -> RUN/prepare/.
#pragma once

#include <cstdint>
#include <string>

#include "comm/comm.h"
#include "core/config_schema.h"
#include "core/run_dir.h"
#include "data/data_config.h"

namespace personas {


// Collective. Loads the source on every rank (or runs the synthetic generator),
// selects, splits and writes RUN/prepare/, then DONE with `config_hash`.
// Clears an earlier DONE first; per-rank files appear only complete.
void prepare_stage(const DataConfig& config, std::int64_t seed, const RunDir& run, Comm& comm,
                   const std::string& config_hash);

}  // namespace personas
