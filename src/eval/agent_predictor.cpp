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
#include "eval/endpoint_agent.h"
#include "core/progress.h"
#include "core/stop_request.h"
#include "model/checkpoint.h"
#include "train/adapter_export.h"
#include "train/prompt.h"
#include "train/sample_options.h"
#include "train/stage_inputs.h"
#include "train/train_stage.h"

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

// Every per-user adapter of the run, in name order: the same list on every
// rank and for any rank count (each rank loads only its own users' files).
std::vector<fs::path> per_user_adapter_files(const fs::path& run_dir) {
  std::vector<fs::path> out;
  const fs::path dir = run_dir / "train" / "adapters";
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (starts_with(name, kPerUserAdapterPrefix) && e.path().extension() == ".h5") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// One chunk of (user, item) pairs rated by an agent.
using RateChunk = std::function<std::vector<AgentRating>(const std::vector<UserItem>&)>;

// Rates this rank's users in chunks, each appended to the agent journal as it
// finishes, after taking the users an earlier, stopped run finished
// (agent_journal.h). A stop request ends it between chunks (the chunk in
// flight is not saved). `rater_key` says what the ratings depend on besides
// in.journal_key (the weights' fingerprint and adapters, or the endpoint's model).
// With `adapter_of_user`, users whose entry is < 0 are not rated (the
// per_user agent rates only users that have an adapter).
std::vector<AgentRating> rate_with_journal(const AgentPredictorInputs& in, const std::string& kind,
                                           const std::string& rater_key, const RateChunk& rate, const Dataset& data,
                                           const MemoryOfUser& memory_of, Comm& comm,
                                           std::span<const int> adapter_of_user = {}) {
  const std::string key = hash_hex(in.journal_key + "|" + rater_key + "|" + kind);
  AgentJournal journal(in.run_dir, "agent_" + kind, key, comm);
  auto finished = journal.finished(data);
  std::vector<AgentRating> ratings;
  std::vector<std::int32_t> todo;
  for (std::size_t u = 0; u < data.users.size(); ++u) {
    if (!adapter_of_user.empty() && adapter_of_user[u] < 0) continue;  // a user this agent does not rate
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
    const auto pairs = test_item_pairs(data, memory_of, chunk, in.eval.agent_max_items, &chunk_skipped);
    auto rated = rate(pairs);
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

// The endpoint agent's ratings: prompts fit with the base checkpoint's
// tokenizer and length, as the local agents' are.
std::vector<AgentRating> rate_with_endpoint(const AgentPredictorInputs& in, const Dataset& data,
                                            const MemoryOfUser& memory_of, const ItemVectors& vectors, Comm& comm) {
  const auto& e = in.eval;
  EndpointAgentOptions o;
  o.http.base_url = e.endpoint_base_url.empty() ? in.fallback_base_url : e.endpoint_base_url;
  PERSONAS_CHECK_HINT(!o.http.base_url.empty(), config, "e.g. eval.endpoint_base_url = http://localhost:8000/v1",
                      "eval.agents = endpoint needs a server: eval.endpoint_base_url (or distill.base_url)");
  if (const char* key = std::getenv(e.endpoint_api_key_env.c_str())) o.http.api_key = key;
  o.http.max_in_flight = e.endpoint_in_flight;
  o.http.timeout_s = e.endpoint_timeout_s;
  o.http.max_attempts = e.endpoint_max_attempts;
  o.model = e.endpoint_model;
  o.top_logprobs = e.endpoint_top_logprobs;
  o.max_tokens = e.endpoint_max_tokens;
  o.temperature = e.endpoint_temperature;
  o.seed = static_cast<std::int64_t>(in.seed & 0x7fffffff);
  const Tokenizer tokenizer(load_checkpoint_tokenizer(in.model_path));
  const Phi3Config model_config = load_checkpoint_config(in.model_path);
  const auto sample = prompt_sample_options(in.train, train_max_len(in.train, in.default_max_len, model_config), data);
  EndpointRater rater(o, tokenizer);
  const std::string rater_key = fmt::format("endpoint|{}|{}|{}|{}", e.endpoint_model, e.endpoint_top_logprobs,
                                            e.endpoint_max_tokens, e.endpoint_temperature);
  auto ratings = rate_with_journal(
      in, "endpoint", rater_key,
      [&](const std::vector<UserItem>& pairs) { return rater.rate(data, memory_of, vectors, pairs, sample); }, data,
      memory_of, comm);
  const auto& u = rater.usage();
  plog::info("agents 'endpoint': {} requests to {} ({} prompt + {} completion tokens on rank {})", u.calls, o.model,
             u.prompt_tokens, u.completion_tokens, comm.rank());
  return ratings;
}

// A local agent's ratings: the base with the persona or global adapters, or none (zero_shot).
std::vector<AgentRating> rate_locally(const AgentPredictorInputs& in, const std::string& kind, const Dataset& data,
                                      const MemoryOfUser& memory_of, const ItemVectors& vectors,
                                      std::span<const std::int32_t> persona_of_user, Comm& comm) {
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
    for (int a = 0; a < n; ++a) files.push_back(adapter_path(in.run_dir, adapter_name(TrainMode::persona, a)));
  } else if (kind == "global") {
    std::fill(adapter_of_user.begin(), adapter_of_user.end(), 0);
    files.push_back(adapter_path(in.run_dir, "global"));
  }
  for (const auto& f : files)
    PERSONAS_CHECK_HINT(fs::exists(f), io,
                        kind == "global" ? "train one with train.mode = global, or drop 'global' from eval.agents"
                                         : "run `personas train` with train.mode = persona first",
                        "agents '{}': adapter {} not found", kind, f.string());
  // The journal key covers every adapter the agent uses, on every rank.
  std::vector<fs::path> keyed = files;
  if (kind == "per_user") {
    // The users that have an adapter (train.per_user_top may have chosen a few): this rank loads its own.
    for (std::size_t u = 0; u < data.users.size(); ++u) {
      const auto f = adapter_path(in.run_dir, adapter_name(TrainMode::per_user, 0, data.users[u].id));
      if (!fs::exists(f)) continue;
      adapter_of_user[u] = static_cast<int>(files.size());
      files.push_back(f);
    }
    keyed = per_user_adapter_files(in.run_dir);
    PERSONAS_CHECK_HINT(!keyed.empty(), io, "run `personas train` with train.mode = per-user first",
                        "agents 'per_user': no per-user adapter (user-<id>.h5) in {}",
                        (in.run_dir / "train" / "adapters").string());
    const auto n_rated = comm.allreduce_sum(static_cast<std::int64_t>(files.size()));
    if (comm.is_root())
      plog::info("agents 'per_user': rates the {} users that have an adapter, not the others", n_rated);
  }

  auto agent = load_agent_model(in, files, comm.local_rank());
  AgentScoringOptions options = agent_scoring_options(in, kind, agent.config, data);
  options.log_progress = false;  // rate_with_journal logs users
  return rate_with_journal(
      in, kind, agent.fingerprint + "|" + adapters_content_key(keyed, agent.config),
      [&](const std::vector<UserItem>& pairs) {
        return rate_items(*agent.model, *agent.tokenizer, data, memory_of, vectors, adapter_of_user, pairs, options);
      },
      data, memory_of, comm, kind == "per_user" ? std::span<const int>(adapter_of_user) : std::span<const int>());
}

std::vector<PredictionRecord> predict_with_agents(const AgentPredictorInputs& in, const std::string& kind,
                                                  const Dataset& data, std::span<const std::int32_t> persona_of_user,
                                                  Comm& comm) {
  RunDir run(in.run_dir);
  const auto memories = load_memories(run, comm);
  const auto memory_of = index_memories(memories);
  const ItemVectors vectors = read_item_vectors(run, data);
  const auto ratings = kind == "endpoint" ? rate_with_endpoint(in, data, memory_of, vectors, comm)
                                          : rate_locally(in, kind, data, memory_of, vectors, persona_of_user, comm);

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
  for (const std::string& kind : inputs.eval.agent_list()) {
    PERSONAS_CHECK(kind == "persona" || kind == "global" || kind == "per_user" || kind == "zero_shot" ||
                       kind == "endpoint",
                   config, "eval.agents: '{}' is not persona, global, per_user, zero_shot or endpoint", kind);
    EvalPredictor p;
    p.name = "agent_" + kind;
    p.kind = "agent";
    p.description = kind == "persona"     ? "base + the user's persona LoRA + profile + retrieved memories"
                    : kind == "global"    ? "base + one global LoRA + profile + retrieved memories"
                    : kind == "per_user"  ? "base + the user's own LoRA + profile + retrieved memories (users that "
                                            "have one)"
                    : kind == "zero_shot" ? "frozen base model + profile + retrieved memories (no adapter)"
                                          : fmt::format("frozen {} behind an OpenAI-compatible endpoint + profile + "
                                                        "retrieved memories",
                                                        inputs.eval.endpoint_model);
    if (kind == "endpoint")
      p.description += inputs.eval.endpoint_top_logprobs > 0 ? " (expected digit under the top log-probabilities)"
                                                             : " (first digit of the answer)";
    else
      p.description += fmt::format(" ({} mode)", to_string(inputs.eval.agent_mode));
    p.predict = [inputs, kind](const Dataset& data, std::span<const std::int32_t> persona_of_user, Comm& comm,
                               const RecordEmitter& emit) { emit(predict_with_agents(inputs, kind, data, persona_of_user, comm)); };
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace personas
