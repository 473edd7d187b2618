#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace personas {

const std::vector<std::pair<std::string, ScheduleKind>>& schedule_kind_names() {
  static const std::vector<std::pair<std::string, ScheduleKind>> names = {
      {"cosine", ScheduleKind::cosine}, {"linear", ScheduleKind::linear}, {"constant", ScheduleKind::constant}};
  return names;
}

double LrSchedule::at(std::int64_t step) const {
  if (step < warmup_steps) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  if (kind == ScheduleKind::constant) return peak;
  const std::int64_t decay_steps = std::max<std::int64_t>(1, total_steps - warmup_steps);
  // progress 0 at the first post-warmup step, 1 at the last step.
  const double progress =
      decay_steps <= 1 ? 1.0
                       : std::clamp(static_cast<double>(step - warmup_steps) / static_cast<double>(decay_steps - 1),
                                    0.0, 1.0);
  const double floor = peak * min_fraction;
  if (kind == ScheduleKind::linear) return floor + (peak - floor) * (1.0 - progress);
  return floor + (peak - floor) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

std::int64_t warmup_steps_for(std::int64_t total_steps, double warmup_fraction) {
  if (warmup_fraction <= 0) return 0;
  auto w = static_cast<std::int64_t>(std::llround(warmup_fraction * static_cast<double>(total_steps)));
  return std::clamp<std::int64_t>(w, 1, std::max<std::int64_t>(1, total_steps - 1));
}

}  // namespace personas
