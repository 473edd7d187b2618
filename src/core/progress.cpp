#include "core/progress.h"

#include "core/log.h"

namespace personas {

std::string format_duration(double s) {
  if (s < 0) s = 0;
  if (s < 60) return fmt::format("{:.1f}s", s);
  auto total = static_cast<long long>(s + 0.5);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60);
}

Progress::Progress(std::string what, std::int64_t total, std::string unit, double interval_s)
    : what_(std::move(what)), unit_(std::move(unit)), total_(total), start_(elapsed_seconds()),
      last_(start_), interval_(interval_s) {}

void Progress::advance(std::int64_t n) {
  done_ += n;
  double now = elapsed_seconds();
  if (now - last_ >= interval_) {
    last_ = now;
    report(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  report(true);
}

void Progress::report(bool final_line) {
  double took = elapsed_seconds() - start_;
  double rate = took > 0 ? done_ / took : 0.0;
  if (final_line) {
    plog::info("{}: {} {} in {} ({:.1f} {}/s)", what_, done_, unit_, format_duration(took), rate, unit_);
  } else if (total_ > 0) {
    double eta = rate > 0 ? (total_ - done_) / rate : 0.0;
    plog::info("{}: {}/{} {} ({:.1f}%), {:.1f} {}/s, ETA {}", what_, done_, total_, unit_,
               100.0 * done_ / total_, rate, unit_, format_duration(eta));
  } else {
    plog::info("{}: {} {}, {:.1f} {}/s", what_, done_, unit_, rate, unit_);
  }
}

}  // namespace personas
