// Learning rate per optimiser step: linear warmup from ~0 to the peak, then
// cosine or linear decay to peak * min_fraction at the last step (or constant).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace personas {

// train.schedule: the shape after warmup.
enum class ScheduleKind { cosine, linear, constant };
const std::vector<std::pair<std::string, ScheduleKind>>& schedule_kind_names();

struct LrSchedule {
  double peak = 3e-4;
  std::int64_t total_steps = 1;   // optimiser steps of the whole run of one adapter
  std::int64_t warmup_steps = 0;
  ScheduleKind kind = ScheduleKind::cosine;
  double min_fraction = 0.0;

  // step is 0-based: the rate used by the (step+1)-th optimiser update.
  double at(std::int64_t step) const;
};

// Warmup steps from a fraction of the total (at least 1 when the fraction is > 0).
std::int64_t warmup_steps_for(std::int64_t total_steps, double warmup_fraction);

}  // namespace personas
