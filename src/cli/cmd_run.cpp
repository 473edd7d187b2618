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

#include "cli/commands.h"
#include "core/errors.h"
#include "core/log.h"
#include "comm/stop_vote.h"
#include "core/progress.h"
#include "core/stop_request.h"
#include "pipeline/stages.h"

namespace personas {
namespace {

struct StageOutcome {
  std::string name;
  std::string status;  // "done", "skipped", "not run"
  double seconds = 0;
};

const Command& find_command(const std::vector<Command>& commands, const std::string& name) {
  for (const auto& c : commands)
    if (c.name == name) return c;
  fail(ErrorKind::internal, fmt::format("stage '{}' has no command", name));
}

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
    } catch (const std::exception& e) {
      table += fmt::format("\n  (metrics.json unreadable: {})\n", e.what());
    }
  }
  plog::info("summary of {}:{}", run.root().string(), table);
  auto report = run.stage_dir("report") / "index.html";
  if (fs::exists(report)) plog::info("report: {}", fs::absolute(report).string());
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
  auto commands = all_commands();
  RunDir run = ctx.run_dir();
  std::vector<StageOutcome> outcomes;
  plog::info("run: {} on {} rank(s), stages {}..{}", run.root().string(), comm.size(), stages[first].name,
             stages[last].name);

  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto& stage = stages[i];
    if (i > last) {
      outcomes.push_back({stage.name, "not run", 0});
      continue;
    }
    // A signal during a stage without safe points of its own (prepare, model,
    // embed, cluster, report) stops the run here, once that stage is DONE.
    if (stop_agreed(comm)) throw_stopped(fmt::format("before stage {}", stage.name));
    // Rank 0 reads the marker and every rank decides from its copy: a rank
    // reading the file itself could see it vanish when rank 0, ahead,
    // clears it for the redo (seen with --from) and take another branch.
    std::string marker_text;
    if (comm.is_root()) {
      const auto on_disk = run.done_marker(stage.name);
      marker_text = on_disk ? on_disk->dump() : std::string();
    }
    comm.broadcast_string(marker_text, 0);
    const std::optional<nlohmann::json> marker =
        marker_text.empty() ? std::nullopt : std::optional<nlohmann::json>(nlohmann::json::parse(marker_text));
    const bool done_here = marker && marker->value("config_hash", "") == hashes[i];
    const bool forced = !from.empty() && i >= first;
    if (i < first || (!forced && !stage.always_redo && done_here)) {
      if (!done_here && i < first) {
        PERSONAS_CHECK_HINT(marker.has_value(), config, "drop --from, or run the earlier stages first",
                            "stage '{}' comes before run.from '{}' but has not finished in {}", stage.name,
                            from, run.root().string());
        plog::warn("{}: finished with another configuration (hash {} vs {}), kept because of run.from",
                   stage.name, marker->value("config_hash", "?"), hashes[i]);
      } else {
        plog::info("{}: done already with this configuration, skipped", stage.name);
      }
      outcomes.push_back({stage.name, "skipped", marker ? marker->value("seconds", 0.0) : 0.0});
      continue;
    }
    if (forced) plog::info("{}: redone (run.from = {})", stage.name, from);
    else if (marker) plog::info("{}: stale (config hash {} -> {}), redoing", stage.name,
                                marker->value("config_hash", "?"), hashes[i]);
    else plog::info("{}: starting", stage.name);

    if (comm.is_root()) run.clear_done(stage.name);
    comm.barrier();
    auto t0 = std::chrono::steady_clock::now();
    int code = find_command(commands, stage.name).run(ctx);
    PERSONAS_CHECK(code == 0, internal, "stage '{}' returned exit code {}", stage.name, code);
    comm.barrier();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (comm.is_root()) {
      // Keep what the stage wrote into its own marker (counts, costs), then stamp our hash.
      auto extra = run.done_marker(stage.name).value_or(nlohmann::json::object());
      extra["seconds"] = seconds;
      extra["n_ranks"] = comm.size();
      run.mark_done(stage.name, hashes[i], extra);
    }
    comm.barrier();
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
