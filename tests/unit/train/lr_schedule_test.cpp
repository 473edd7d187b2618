#include "train/lr_schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

using namespace personas;

TEST(LrSchedule, WarmupThenCosineToFloor) {
  LrSchedule s{.peak = 1.0, .total_steps = 11, .warmup_steps = 1, .kind = ScheduleKind::cosine, .min_fraction = 0.1};
  EXPECT_DOUBLE_EQ(s.at(0), 1.0);          // the one warmup step reaches the peak
  EXPECT_NEAR(s.at(1), 1.0, 1e-12);        // decay starts at the peak
  EXPECT_NEAR(s.at(10), 0.1, 1e-12);       // and ends at the floor
  EXPECT_NEAR(s.at(5), 0.1 + 0.45 * (1 + std::cos(std::numbers::pi * 4.0 / 9.0)), 1e-12);
  for (int i = 2; i < 11; ++i) EXPECT_LT(s.at(i), s.at(i - 1));
}

TEST(LrSchedule, LinearWarmupAndDecay) {
  LrSchedule s{.peak = 2.0, .total_steps = 14, .warmup_steps = 4, .kind = ScheduleKind::linear, .min_fraction = 0.0};
  EXPECT_DOUBLE_EQ(s.at(0), 0.5);
  EXPECT_DOUBLE_EQ(s.at(3), 2.0);
  EXPECT_DOUBLE_EQ(s.at(4), 2.0);
  EXPECT_NEAR(s.at(13), 0.0, 1e-12);
  EXPECT_NEAR(s.at(9) - s.at(10), s.at(10) - s.at(11), 1e-12);
}

TEST(LrSchedule, ConstantAfterWarmup) {
  LrSchedule s{.peak = 3e-4, .total_steps = 100, .warmup_steps = 0, .kind = ScheduleKind::constant, .min_fraction = 0.0};
  EXPECT_DOUBLE_EQ(s.at(0), 3e-4);
  EXPECT_DOUBLE_EQ(s.at(99), 3e-4);
}

TEST(LrSchedule, WarmupSteps) {
  EXPECT_EQ(warmup_steps_for(1000, 0.03), 30);
  EXPECT_EQ(warmup_steps_for(10, 0.01), 1);
  EXPECT_EQ(warmup_steps_for(10, 0.0), 0);
  EXPECT_EQ(warmup_steps_for(1, 0.5), 1);
}
