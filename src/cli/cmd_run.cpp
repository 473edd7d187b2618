// `personas run`: prepare -> distill -> model -> embed -> cluster -> train ->
// eval -> report in one MPI job. A stage whose DONE marker holds the current
// config hash is skipped; a stale one is redone with the reason logged;
// run.from / run.until (or --from / --until) bound the stages. Ends with a
// summary table and the report's path. A signal (core/stop_request.h) stops
// it inside distill, train or eval at their safe points, or here before the
// next stage: exit 7, and the same command resumes.
#include <fmt/format.h>

#include <chrono>
#include <optional>
#include <fstream>

#include "cli/stage_command.h"
#include "core/errors.h"
#include "core/log.h"
#include "comm/stop_vote.h"
#include "core/progress.h"
#include "core/stop_request.h"
#include "pipeline/stage_gate.h"
#include "pipeline/stages.h"

namespace personas {
namespace {

struct StageOutcome {
  std::string name;
  std::string status;  // "done", "skipped", "not run"
  double seconds = 0;
};

void print_summary(const RunDir& run, const std::vector<StageOutcome>& outcomes) {
  std::string table = "\n  stage      status     seconds\n  ---------  ---------  -------\n";
  double total = 0;
  for (const auto& o : outcomes) {
    table += fmt::format("  {:<9}  {:<9}  {:>7.1f}\n", o.name, o.status, o.seconds);
    total += o.seconds;
  }
  table += fmt::format("  {:<9}  {:<9}  {:>7.1f}\n", "total", "", total);
  auto metrics_path = run.stage_dir("eval") / "metrics.json";
  if (fs::exists(metrics_path)) {
    try {
      auto metrics = nlohmann::json::parse(read_file(metrics_path));
      table += "\n  predictor                      RMSE     MAE\n  -----------------------------  -------  -------\n";
      auto add_row = [&](const std::string& name, const nlohmann::json& m) {
        if (!m.is_object() || !m.contains("rmse")) return;
        table += fmt::format("  {:<29}  {:>7.4f}  {:>7.4f}\n", name, m.value("rmse", 0.0), m.value("mae", 0.0));
      };
      for (const char* group : {"agents", "baselines", "predictors"}) {
        if (!metrics.contains(group)) continue;
        const auto& g = metrics[group];
        if (g.is_object()) {
          for (auto it = g.begin(); it != g.end(); ++it)
            add_row(it.key(), it.value().contains("overall") ? it.value()["overall"] : it.value());
        } else if (g.is_array()) {
          for (const auto& m : g)
            add_row(m.value("name", "?"), m.contains("overall") ? m["overall"] : m);
        }
      }
    } catch (const InternalError&) {
      throw;  // a bug is not an unreadable file
    } catch (const std::exception& e) {
      table += fmt::format("\n  (metrics.json unreadable: {})\n", e.what());
    }
  }
  plog::info("summary of {}:{}", run.root().string(), table);
  auto report = run.stage_dir("report") / "index.html";
  if (fs::exists(report)) plog::info("report: {}", fs::absolute(report).string());
}

// What this run has left, before it starts: each stage done, stale (redone),
// never finished (a stage directory with outputs resumes from them: distill's
// users, train's checkpoints, eval's agent journals) or outside from..until,
// and an ETA from the durations that earlier runs of the stages to redo took.
// The stages with safe points print their own ETA as they go.
void print_plan(const RunDir& run, Comm& comm, const std::vector<std::string>& hashes, std::size_t first,
                std::size_t last, bool forced_from) {
  const auto& stages = pipeline_stages();
  std::string table;
  double known_seconds = 0;
  std::vector<std::string> unknown;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto& stage = stages[i];
    const auto verdict = stage_verdict(run, comm, stage.name, hashes[i], forced_from && i >= first);
    std::string status;
    if (i > last) {
      status = "not run (after run.until)";
    } else if (i < first) {
      status = "kept (before run.from)";
    } else if (!verdict.run) {
      status = "done";
    } else {
      const double last_took = verdict.marker ? verdict.marker->value("seconds", -1.0) : -1.0;
      const fs::path dir = run.stage_dir(stage.name);
      status = verdict.reason;
      if (!verdict.marker && fs::exists(dir) && !fs::is_empty(dir))
        status = "resumes what an unfinished run left in " + dir.string();
      if (last_took >= 0) {
        known_seconds += last_took;
        status += fmt::format("; took {} last time", format_duration(last_took));
      } else {
        unknown.push_back(stage.name);
      }
    }
    table += fmt::format("  {:<9}  {}\n", stage.name, status);
  }
  std::string eta = unknown.empty() ? fmt::format("ETA {}", format_duration(known_seconds))
                                    : fmt::format("ETA {} plus {} (never finished here; they print their own ETA)",
                                                  format_duration(known_seconds), fmt::join(unknown, ", "));
  if (comm.is_root()) plog::info("run: what remains in {}:\n{}  {}", run.root().string(), table, eta);
}

int run_pipeline(CommandContext& ctx) {
  auto& comm = ctx.comm;
  const auto& stages = pipeline_stages();
  std::string from = ctx.args.count("from") ? ctx.args["from"].as<std::string>() : ctx.config.run.from_stage;
  std::string until = ctx.args.count("until") ? ctx.args["until"].as<std::string>() : ctx.config.run.until_stage;
  std::size_t first = from.empty() ? 0 : stage_index(from);
  std::size_t last = until.empty() ? stages.size() - 1 : stage_index(until);
  PERSONAS_CHECK(first <= last, config, "run.from '{}' comes after run.until '{}'", from, until);

  auto hashes = stage_hashes(ctx.schema);
  RunDir run = ctx.run_dir();
  std::vector<StageOutcome> outcomes;
  plog::info("run: {} on {} rank(s), stages {}..{}", run.root().string(), comm.size(), stages[first].name,
             stages[last].name);
  print_plan(run, comm, hashes, first, last, !from.empty());

  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto& stage = stages[i];
    if (i > last) {
      outcomes.push_back({stage.name, "not run", 0});
      continue;
    }
    // A signal during a stage without safe points of its own (prepare, model,
    // embed, cluster, report) stops the run here, once that stage is DONE.
    if (stop_agreed(comm)) throw_stopped(fmt::format("before stage {}", stage.name));
    const bool forced = !from.empty() && i >= first;
    const auto verdict = stage_verdict(run, comm, stage.name, hashes[i], forced);
    if (i < first) {
      // Before run.from: kept whatever configuration made it, but it must have finished.
      PERSONAS_CHECK_HINT(verdict.marker.has_value(), config, "drop --from, or run the earlier stages first",
                          "stage '{}' comes before run.from '{}' but has not finished in {}", stage.name, from,
                          run.root().string());
      if (verdict.run)
        plog::warn("{}: finished with another configuration (hash {} vs {}), kept because of run.from", stage.name,
                   verdict.marker->value("config_hash", "?"), hashes[i]);
      else
        plog::info("{}: {}", stage.name, verdict.reason);
      outcomes.push_back({stage.name, "skipped", verdict.marker->value("seconds", 0.0)});
      continue;
    }
    if (!verdict.run) {
      plog::info("{}: {}", stage.name, verdict.reason);
      outcomes.push_back({stage.name, "skipped", verdict.marker ? verdict.marker->value("seconds", 0.0) : 0.0});
      continue;
    }
    plog::info("{}: {}", stage.name, forced ? fmt::format("redone (run.from = {})", from) : verdict.reason);
    // In-process, through the same gate as the stage's own command.
    const auto done = run_stage_body(run, comm, stage.name, hashes[i], [&] { stage_body(stage.name)(ctx); });
    PERSONAS_CHECK(done.done, internal, "stage '{}' finished without writing its DONE marker", stage.name);
    const double seconds = done.seconds;
    outcomes.push_back({stage.name, "done", seconds});
    plog::info("{}: finished in {}", stage.name, format_duration(seconds));
  }
  if (comm.is_root()) print_summary(run, outcomes);
  return 0;
}

}  // namespace

Command make_run_command() {
  Command c;
  c.name = "run";
  c.summary = "every stage in one MPI job (prepare..report), skipping finished ones";
  c.add_options = [](boost::program_options::options_description& o) {
    o.add_options()("from", boost::program_options::value<std::string>(),
                    "first stage to redo (same as run.from)")(
        "until", boost::program_options::value<std::string>(), "last stage to run (same as run.until)");
  };
  c.run = run_pipeline;
  return c;
}

}  // namespace personas
