#include "eval/agent_predictor.h"

#include <algorithm>

#include "backend/backend.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/strings.h"
#include "data/dataset.h"
#include "distill/memories.h"
#include "eval/agent_journal.h"
#include "eval/agent_scoring.h"
#include "core/progress.h"
#include "core/stop_request.h"
#include "model/checkpoint.h"
#include "train/adapter_export.h"
#include "train/prompt.h"
#include "train/sample_options.h"
#include "train/stage_inputs.h"

namespace personas {

// Users rated between two journal writes (a stopped run loses at most these).
constexpr std::size_t kJournalChunkUsers = 4;

AgentPredictorInputs agent_inputs(const RunConfig& run, const ModelConfig& model, const TrainConfig& train,
                                  const EvalConfig& eval) {
  AgentPredictorInputs in;
  in.run_dir = run.dir;
  in.model_path = model.checkpoint(run.dir);
  in.default_max_len = model.max_seq;
  in.train = train;
  in.eval = eval;
  in.backend = run.backend;
  in.chat_template = model.chat_template;
  in.device_dtype = model.device_dtype;
  in.seed = static_cast<std::uint64_t>(run.seed);
  return in;
}

fs::path adapter_path(const fs::path& run_dir, const std::string& name) {
  return run_dir / "train" / "adapters" / (name + ".h5");
}

AgentModel load_agent_model(const AgentPredictorInputs& in, const std::vector<fs::path>& adapter_files,
                            int device_index) {
  EngineOptions o;
  o.backend = in.backend;
  o.device_index = device_index;
  o.chat_template = in.chat_template;
  o.device_dtype = in.device_dtype;
  o.what = "eval agents";
  // zero-shot: no adapter is ever used, any spec will do
  if (!adapter_files.empty()) o.spec = read_adapter_h5(adapter_files.front(), load_checkpoint_config(in.model_path)).spec;
  o.n_adapters = std::max<int>(1, static_cast<int>(adapter_files.size()));
  AgentModel m = load_engine(in.model_path, o);
  for (std::size_t a = 0; a < adapter_files.size(); ++a)
    load_adapter_into(adapter_files[a], m.model->adapter(static_cast<int>(a)), m.config, m.fingerprint);
  return m;
}

AgentScoringOptions agent_scoring_options(const AgentPredictorInputs& in, const std::string& kind,
                                          const Phi3Config& mc, const Dataset& data) {
  AgentScoringOptions options;
  options.mode = in.eval.agent_mode;
  options.batch_rows = in.eval.agent_batch;
  options.generate_tokens = in.eval.generate_tokens;
  options.temperature = static_cast<float>(in.eval.generate_temperature);
  options.seed = in.seed;
  options.max_items_per_user = in.eval.agent_max_items;
  // The prompts exactly as training rendered them; a zero-shot agent may see the profile only.
  options.sample = prompt_sample_options(in.train, train_max_len(in.train, in.default_max_len, mc), data);
  if (kind == "zero_shot" && in.eval.zero_shot_profile_only) options.sample.retrieve_k = 0;
  return options;
}

namespace {

// What the agent's adapters hold: a hash of their parameters (not of the
// files, whose HDF5 bytes change with every write), so a journal stays valid
// while they are the same numbers and is dropped once they were retrained.
std::string adapters_content_key(const std::vector<fs::path>& adapter_files, const Phi3Config& config) {
  std::uint64_t h = fnv1a64("adapters");
  for (const auto& f : adapter_files) {
    const auto adapter = read_adapter_h5(f, config);
    h = fnv1a64(std::string_view(reinterpret_cast<const char*>(adapter.params.data()),
                                 adapter.params.size() * sizeof(float)),
                h);
  }
  return fmt::format("{:016x}", h);
}

// Rates this rank's users in chunks, each appended to the agent journal as it
// finishes, after taking the users an earlier, stopped run finished
// (agent_journal.h). A stop request ends it between chunks (the chunk in
// flight is not saved).
std::vector<AgentRating> rate_with_journal(const AgentPredictorInputs& in, const std::string& kind, AgentModel& agent,
                                           const AgentScoringOptions& options, const Dataset& data,
                                           const std::vector<UserMemory>& memories, const ItemVectors& vectors,
                                           const std::vector<int>& adapter_of_user, const std::string& adapters_key,
                                           Comm& comm) {
  const std::string key = hash_hex(in.journal_key + "|" + agent.fingerprint + "|" + adapters_key + "|" + kind);
  AgentJournal journal(in.run_dir, "agent_" + kind, key, comm);
  auto finished = journal.finished(data);
  const auto memory_of = index_memories(memories);
  AgentScoringOptions chunk_options = options;
  chunk_options.log_progress = false;  // one progress line for users, below
  std::vector<AgentRating> ratings;
  std::vector<std::int32_t> todo;
  for (std::size_t u = 0; u < data.users.size(); ++u) {
    auto it = finished.find(data.users[u].id);
    if (it == finished.end()) {
      todo.push_back(static_cast<std::int32_t>(u));
      continue;
    }
    ratings.insert(ratings.end(), it->second.begin(), it->second.end());
  }
  const auto resumed = comm.allreduce_sum(static_cast<std::int64_t>(finished.size()));
  if (resumed > 0) plog::info("agents '{}': {} users rated by an earlier run are kept ({})", kind, resumed, journal.path().parent_path().string());

  std::int64_t skipped = 0;
  Progress progress(fmt::format("agents '{}'", kind), static_cast<std::int64_t>(todo.size()), "users", 30.0);
  for (std::size_t begin = 0; begin < todo.size(); begin += kJournalChunkUsers) {
    const std::vector<std::int32_t> chunk(todo.begin() + static_cast<std::ptrdiff_t>(begin),
                                          todo.begin() + static_cast<std::ptrdiff_t>(std::min(todo.size(), begin + kJournalChunkUsers)));
    std::int64_t chunk_skipped = 0;
    const auto pairs = test_item_pairs(data, memory_of, chunk, options.max_items_per_user, &chunk_skipped);
    auto rated = rate_items(*agent.model, *agent.tokenizer, data, memory_of, vectors, adapter_of_user, pairs, chunk_options);
    if (stop_requested()) break;  // safe point: evaluate_predictors stops every rank
    journal.append(rated, data);
    skipped += chunk_skipped;
    ratings.insert(ratings.end(), std::make_move_iterator(rated.begin()), std::make_move_iterator(rated.end()));
    progress.advance(static_cast<std::int64_t>(chunk.size()));
  }
  progress.finish();
  skipped = comm.allreduce_sum(skipped);
  if (skipped > 0) plog::warn("agents '{}': {} users have no memories and were not rated", kind, skipped);
  // Users in data order, each user's items in test order (journal and new alike).
  std::stable_sort(ratings.begin(), ratings.end(),
                   [](const AgentRating& a, const AgentRating& b) { return a.user < b.user; });
  return ratings;
}

std::vector<PredictionRecord> predict_with_agents(const AgentPredictorInputs& in, const std::string& kind,
                                                  const Dataset& data, std::span<const std::int32_t> persona_of_user,
                                                  Comm& comm) {
  RunDir run(in.run_dir);
  const auto memories = load_memories(run, comm);
  const ItemVectors vectors = read_item_vectors(run, data);

  // Which adapter each user's rows use, and the adapter files to load.
  std::vector<int> adapter_of_user(data.users.size(), -1);
  std::vector<fs::path> files;
  if (kind == "persona") {
    std::int64_t max_persona = -1, missing = 0;
    for (std::size_t u = 0; u < data.users.size(); ++u) {
      adapter_of_user[u] = persona_of_user[u];
      if (persona_of_user[u] < 0) ++missing;
      max_persona = std::max<std::int64_t>(max_persona, persona_of_user[u]);
    }
    missing = comm.allreduce_sum(missing);
    PERSONAS_CHECK_HINT(missing == 0, data, "run `personas cluster` first", "agents: {} users have no persona",
                        missing);
    const auto n = static_cast<int>(comm.allreduce_max(static_cast<double>(max_persona))) + 1;
    for (int a = 0; a < n; ++a) files.push_back(adapter_path(in.run_dir, fmt::format("persona-{:04d}", a)));
  } else if (kind == "global") {
    std::fill(adapter_of_user.begin(), adapter_of_user.end(), 0);
    files.push_back(adapter_path(in.run_dir, "global"));
  }
  for (const auto& f : files)
    PERSONAS_CHECK_HINT(fs::exists(f), io,
                        kind == "global" ? "train one with train.mode = global, or drop 'global' from eval.agents"
                                         : "run `personas train` with train.mode = persona first",
                        "agents '{}': adapter {} not found", kind, f.string());

  auto agent = load_agent_model(in, files, comm.local_rank());
  const auto options = agent_scoring_options(in, kind, agent.config, data);
  const auto ratings = rate_with_journal(in, kind, agent, options, data, memories, vectors, adapter_of_user,
                                         adapters_content_key(files, agent.config), comm);

  std::vector<PredictionRecord> records;
  records.reserve(ratings.size());
  for (const auto& r : ratings) {
    PredictionRecord p;
    p.user_index = data.first_user + r.user;
    p.user_id = r.user_id;
    p.item_id = data.items[static_cast<std::size_t>(r.item)].id;
    p.truth = r.truth;
    p.predicted = static_cast<float>(r.predicted);
    p.unrelated = r.unrelated;
    p.persona = persona_of_user[static_cast<std::size_t>(r.user)];
    records.push_back(p);
  }
  return records;
}

}  // namespace

std::vector<EvalPredictor> agent_predictors(const AgentPredictorInputs& inputs) {
  std::vector<EvalPredictor> out;
  for (const auto& raw : split(inputs.eval.agents, ",")) {
    std::string kind(trim(raw));
    if (kind.empty()) continue;
    PERSONAS_CHECK(kind == "persona" || kind == "global" || kind == "zero_shot", config,
                   "eval.agents: '{}' is not persona, global or zero_shot", kind);
    EvalPredictor p;
    p.name = "agent_" + kind;
    p.kind = "agent";
    p.description = kind == "persona"  ? "base + the user's persona LoRA + profile + retrieved memories"
                    : kind == "global" ? "base + one global LoRA + profile + retrieved memories"
                                       : "frozen base model + profile + retrieved memories (no adapter)";
    p.description += fmt::format(" ({} mode)", to_string(inputs.eval.agent_mode));
    p.predict = [inputs, kind](const Dataset& data, std::span<const std::int32_t> persona_of_user, Comm& comm,
                               const RecordEmitter& emit) { emit(predict_with_agents(inputs, kind, data, persona_of_user, comm)); };
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace personas
