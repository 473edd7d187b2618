// Agents' scoring speed on a finished run (issue 7): ratings per second in
// `expected` mode (one forward pass per batch, P(1..5) at the answer) against
// `generate` mode (the paper's way: sampled tokens; batched, and one pair at a
// time with the same answers), and a batch that mixes
// personas (each row with its own adapter, segment-wise LoRA) against scoring
// one adapter at a time (the same pairs grouped by persona).
//
//   bench_agent_bench RUN_DIR [--pairs 256] [--generate-pairs 64] [--threads T]
//
// RUN_DIR is a run whose train stage finished with train.mode = persona (e.g.
// runs/quickstart after scripts/quickstart.sh); its config.ini is used as is.
// Pairs: the users' test items taken round robin over users, so consecutive
// pairs belong to different personas. Prints one JSON line per measurement and
// checks that mixed and grouped batches give the same expected ratings.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "backend/cpu/host_threads.h"
#include "process_cpu.h"
#include "comm/comm.h"
#include "core/config_schema.h"
#include "core/fs.h"
#include "data/dataset_io.h"
#include "distill/memories.h"
#include "eval/agent_predictor.h"
#include "pipeline/config.h"
#include "train/stage_inputs.h"

using namespace personas;

namespace {

// Wall and CPU (user + system, all threads) seconds since a mark: on a shared
// machine the CPU figure is the steadier one.
struct Clock {
  std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
  double cpu = process_cpu_seconds();
  double wall_seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count(); }
  double cpu_seconds() const { return process_cpu_seconds() - cpu; }
};

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2 || std::string(argv[1]).rfind("--", 0) == 0) {
    std::fprintf(stderr, "usage: bench_agent_bench RUN_DIR [--pairs 256] [--generate-pairs 64] [--threads T]\n");
    return 2;
  }
  const fs::path run_dir = argv[1];
  int n_pairs = 256, n_generate = 64, threads = 0;
  for (int a = 2; a + 1 < argc; a += 2) {
    const std::string key = argv[a], value = argv[a + 1];
    if (key == "--pairs") n_pairs = std::stoi(value);
    else if (key == "--generate-pairs") n_generate = std::stoi(value);
    else if (key == "--threads") threads = std::stoi(value);
    else { std::fprintf(stderr, "unknown flag %s\n", key.c_str()); return 2; }
  }
  if (threads > 0) set_host_threads(threads);

  Config config;
  ConfigSchema schema;
  config.describe(schema);
  Problems problems;
  const auto config_path = run_dir / "config.ini";
  apply_entries(schema, parse_ini(read_file(config_path), config_path.string(), problems), problems);
  problems.throw_if_any("invalid configuration in " + config_path.string());
  config.run.dir = run_dir.string();

  auto comm = make_local_comm();
  RunDir run(run_dir);
  const Dataset data = load_dataset(run, *comm);
  const auto memories = load_memories(run, *comm);
  const ItemVectors vectors = read_item_vectors(run, data);
  const auto persona_of_user = read_user_personas(run, data).persona_of_user;
  int n_personas = 0;
  for (auto p : persona_of_user) n_personas = std::max(n_personas, static_cast<int>(p) + 1);
  std::vector<fs::path> files;
  for (int a = 0; a < n_personas; ++a) files.push_back(adapter_path(run_dir, fmt::format("persona-{:04d}", a)));

  const auto in = agent_inputs(config.run, config.model, config.train, config.eval);  // run.dir = RUN_DIR above
  auto agent = load_agent_model(in, files, 0);
  std::vector<int> adapter_of_user(persona_of_user.begin(), persona_of_user.end());

  // Test pairs round robin over users (consecutive pairs: different personas).
  std::vector<UserItem> pairs;
  for (std::size_t round = 0; static_cast<int>(pairs.size()) < n_pairs; ++round) {
    bool any = false;
    for (std::size_t u = 0; u < data.users.size() && static_cast<int>(pairs.size()) < n_pairs; ++u) {
      const auto test = data.test_of(data.users[u]);
      if (round >= test.size()) continue;
      any = true;
      pairs.push_back({static_cast<std::int32_t>(u), test[round].item, test[round].rating});
    }
    if (!any) break;
  }

  auto options = agent_scoring_options(in, "persona", agent.config, data);
  auto report = [&](const char* what, std::size_t n, const Clock& clock) {
    const double wall = clock.wall_seconds(), cpu = clock.cpu_seconds();
    std::printf("{\"measure\": \"%s\", \"ratings\": %zu, \"seconds\": %.3f, \"ratings_per_s\": %.2f, "
                "\"cpu_seconds\": %.3f, \"ratings_per_cpu_s\": %.2f, \"personas\": %d, \"threads\": %d, "
                "\"batch_rows\": %d}\n",
                what, n, wall, static_cast<double>(n) / wall, cpu, static_cast<double>(n) / cpu, n_personas,
                omp_get_max_threads(), options.batch_rows);
    std::fflush(stdout);
  };

  options.mode = AgentMode::expected;
  Clock clock;
  const auto mixed = rate_items(*agent.model, *agent.tokenizer, data, memories, vectors, adapter_of_user, pairs, options);
  report("expected, mixed-persona batches", mixed.size(), clock);

  std::map<int, std::vector<UserItem>> by_adapter;
  for (const auto& p : pairs) by_adapter[adapter_of_user[static_cast<std::size_t>(p.user)]].push_back(p);
  std::map<std::pair<std::int32_t, std::int32_t>, double> grouped_prediction;
  clock = Clock{};
  for (const auto& [adapter, group] : by_adapter)
    for (const auto& r : rate_items(*agent.model, *agent.tokenizer, data, memories, vectors, adapter_of_user, group, options))
      grouped_prediction[{r.user, r.item}] = r.predicted;
  report("expected, one adapter at a time", pairs.size(), clock);
  double max_diff = 0;
  for (const auto& r : mixed) max_diff = std::max(max_diff, std::fabs(r.predicted - grouped_prediction[{r.user, r.item}]));
  std::printf("{\"check\": \"mixed vs grouped expected ratings\", \"max_abs_difference\": %.3g}\n", max_diff);

  options.mode = AgentMode::generate;
  const std::vector<UserItem> few(pairs.begin(), pairs.begin() + std::min<std::ptrdiff_t>(n_generate, static_cast<std::ptrdiff_t>(pairs.size())));
  clock = Clock{};
  const auto generated = rate_items(*agent.model, *agent.tokenizer, data, memories, vectors, adapter_of_user, few, options);
  report("generate, batched (continuous batching, prompt prefix from each user's first answer)", generated.size(), clock);
  // The same answers one pair at a time: one sequence, its whole prompt prefilled.
  clock = Clock{};
  std::size_t differ = 0;
  for (std::size_t i = 0; i < few.size(); ++i) {
    const auto alone = rate_items(*agent.model, *agent.tokenizer, data, memories, vectors, adapter_of_user, {few[i]}, options);
    differ += alone.front().text != generated[i].text ? 1 : 0;
  }
  report("generate, one pair at a time", few.size(), clock);
  std::printf("{\"check\": \"batched vs one-at-a-time answers\", \"answers_that_differ\": %zu}\n", differ);
  return max_diff < 1e-4 && differ == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_agent_bench: %s\n", e.what());
  return 1;
}
