// A progress line with rate and ETA for long loops, logged at most every
// `interval_s` seconds (and once at the end).
#pragma once

#include <cstdint>
#include <string>

namespace personas {

class Progress {
 public:
  Progress(std::string what, std::int64_t total, std::string unit = "items", double interval_s = 5.0);
  // Adds `n` done units; logs when the interval has passed.
  void advance(std::int64_t n = 1);
  void finish();
  std::int64_t done() const { return done_; }

 private:
  void report(bool final_line);
  std::string what_;
  std::string unit_;
  std::int64_t total_;
  std::int64_t done_ = 0;
  double start_;
  double last_;
  double interval_;
  bool finished_ = false;
};

// "1h02m", "3m05s", "12.3s"
std::string format_duration(double seconds);

}  // namespace personas
