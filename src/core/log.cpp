#include "core/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <chrono>

namespace personas {
namespace {

const auto g_start = std::chrono::steady_clock::now();

// %* in the pattern: elapsed wall time since start, e.g. "  12.345s".
class ElapsedFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    auto text = fmt::format("{:8.3f}s", elapsed_seconds());
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<ElapsedFlag>();
  }
};

}  // namespace

double elapsed_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
}

const std::vector<std::pair<std::string, spdlog::level::level_enum>>& log_level_names() {
  using L = spdlog::level::level_enum;
  static const std::vector<std::pair<std::string, L>> names = {{"trace", L::trace}, {"debug", L::debug},
                                                               {"info", L::info},   {"warn", L::warn},
                                                               {"error", L::err},   {"off", L::off}};
  return names;
}

void init_logging(int rank, int n_ranks, const LogOptions& options) {
  const auto level = options.level;
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("personas", sink);
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  std::string rank_tag = n_ranks > 1 ? fmt::format("r{}/{} ", rank, n_ranks) : "";
  formatter->add_flag<ElapsedFlag>('*').set_pattern("[%*] " + rank_tag + "%^%l%$ %v");
  logger->set_formatter(std::move(formatter));
  const bool speaks = options.all_ranks || rank == 0;
  // Non-speaking ranks still report errors, so a failure on rank 3 is never silent.
  logger->set_level(speaks ? level : spdlog::level::err);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace personas
