// personas simulate --run.dir RUN --user U --items I1,I2,... [--explain] [--agent persona|global|zero_shot]
// The agent of user U (source id) rates the given items (source ids): the
// expected rating with P(1..5), and with --explain a sampled answer in the
// user's voice. For recommender developers who want to use the agents directly.
#include <iostream>

#include "cli/command.h"
#include "core/errors.h"
#include "core/strings.h"
#include "data/dataset_io.h"
#include "distill/memories.h"
#include "eval/agent_predictor.h"
#include "train/prompt.h"
#include "train/stage_inputs.h"

namespace personas {
namespace {

namespace po = boost::program_options;

int run_simulate(CommandContext& ctx) {
  const auto& args = ctx.args;
  PERSONAS_CHECK_HINT(args.count("user") && args.count("items"), usage,
                      "personas simulate --run.dir RUN --user 42 --items 1,50,181 [--explain]",
                      "simulate needs --user and --items");
  auto local = make_local_comm();  // one user: every rank would do the same work
  if (!ctx.comm.is_root()) return 0;
  RunDir run(ctx.config.run.dir);
  const Dataset data = load_dataset(run, *local);
  const auto memories = load_memories(run, *local);
  const auto user_id = args["user"].as<std::int64_t>();
  std::int32_t user = -1;
  for (std::size_t u = 0; u < data.users.size(); ++u)
    if (data.users[u].id == user_id) user = static_cast<std::int32_t>(u);
  PERSONAS_CHECK_HINT(user >= 0, usage, "users of the run are listed in RUN/prepare (personas prepare selected them)",
                      "user {} is not among the {} users of {}", user_id, data.users.size(), run.root().string());

  std::vector<UserItem> pairs;
  for (auto raw : split(args["items"].as<std::string>(), ",")) {
    auto text = std::string(trim(raw));
    const auto parsed = parse_int64(text);
    PERSONAS_CHECK(parsed.has_value(), usage, "--items: '{}' is not an item id", text);
    const std::int64_t item_id = *parsed;
    std::int32_t index = -1;
    for (std::size_t i = 0; i < data.items.size(); ++i)
      if (data.items[i].id == item_id) index = static_cast<std::int32_t>(i);
    PERSONAS_CHECK(index >= 0, usage, "--items: item {} is not in the catalogue of {}", item_id, run.root().string());
    float truth = 0;
    for (const auto& r : data.train_of(data.users[static_cast<std::size_t>(user)]))
      if (r.item == index) truth = r.rating;
    for (const auto& r : data.test_of(data.users[static_cast<std::size_t>(user)]))
      if (r.item == index) truth = r.rating;
    pairs.push_back({user, index, truth});
  }

  const std::string kind = args["agent"].as<std::string>();
  PERSONAS_CHECK(kind == "persona" || kind == "global" || kind == "zero_shot", usage,
                 "--agent '{}' is not persona, global or zero_shot", kind);
  const auto in = agent_inputs(ctx.config.run, ctx.config.model, ctx.config.train, ctx.config.eval);
  std::vector<fs::path> files;
  int persona = -1;
  if (kind == "persona") {
    persona = read_user_personas(run, data).persona_of_user[static_cast<std::size_t>(user)];
    PERSONAS_CHECK(persona >= 0, data, "user {} has no persona: run `personas cluster` first", user_id);
    files.push_back(adapter_path(in.run_dir, fmt::format("persona-{:04d}", persona)));
  } else if (kind == "global") {
    files.push_back(adapter_path(in.run_dir, "global"));
  }
  for (const auto& f : files)
    PERSONAS_CHECK(fs::exists(f), io, "adapter {} not found: run `personas train` first", f.string());
  auto agent = load_agent_model(in, files, 0);
  std::vector<int> adapter_of_user(data.users.size(), files.empty() ? -1 : 0);
  const ItemVectors vectors = read_item_vectors(run, data);

  auto options = agent_scoring_options(in, kind, agent.config, data);
  options.mode = AgentMode::expected;
  auto ratings = rate_items(*agent.model, *agent.tokenizer, data, memories, vectors, adapter_of_user, pairs, options);
  std::vector<AgentRating> explained;
  if (args.count("explain")) {
    options.mode = AgentMode::generate;
    options.generate_tokens = args["explain-tokens"].as<int>();
    explained = rate_items(*agent.model, *agent.tokenizer, data, memories, vectors, adapter_of_user, pairs, options);
  }
  std::cout << fmt::format("user {} ({} agent{})\n", user_id, kind,
                           persona >= 0 ? fmt::format(", persona {}", persona) : "");
  for (std::size_t i = 0; i < ratings.size(); ++i) {
    const auto& r = ratings[i];
    const auto& item = data.items[static_cast<std::size_t>(r.item)];
    std::cout << fmt::format("  {:>6}  {:<48}  expected {:.2f}  most likely {}  P(1..5) = {:.2f} {:.2f} {:.2f} {:.2f} {:.2f}{}\n",
                             item.id, first_words(item.title, 8), r.predicted, r.argmax, r.probs[0], r.probs[1],
                             r.probs[2], r.probs[3], r.probs[4],
                             r.truth > 0 ? fmt::format("  (the user rated it {})", r.truth) : "");
    if (!explained.empty()) std::cout << "          says: " << trim(explained[i].text) << "\n";
  }
  return 0;
}

}  // namespace

Command make_simulate_command() {
  Command c;
  c.name = "simulate";
  c.summary = "one user's agent rates given items (expected rating, P(1..5), --explain for its words)";
  c.uses_run_dir = false;
  c.add_options = [](po::options_description& o) {
    o.add_options()("user", po::value<std::int64_t>(), "user id (as in the source data)")(
        "items", po::value<std::string>(), "comma-separated item ids (as in the source data)")(
        "agent", po::value<std::string>()->default_value("persona"), "persona | global | zero_shot")(
        "explain", "also sample the agent's answer in its own words")(
        "explain-tokens", po::value<int>()->default_value(48), "tokens of the sampled answer");
  };
  c.run = run_simulate;
  return c;
}

}  // namespace personas
