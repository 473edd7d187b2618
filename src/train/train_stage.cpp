#include "train/train_stage.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>

#include "backend/backend.h"
#include "core/errors.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/stop_request.h"
#include "core/strings.h"
#include "data/dataset_io.h"
#include "distill/memories.h"
#include "io/hdf5_file.h"
#include "io/jsonl.h"
#include "model/checkpoint.h"
#include "model/engine.h"
#include "model/lora_model.h"
#include "model/tokenizer.h"
#include "train/adapter_export.h"
#include "train/batching.h"
#include "train/per_user_selection.h"
#include "train/persona_groups.h"
#include "train/rating_tokens.h"
#include "train/sample_options.h"
#include "train/sample_exchange.h"
#include "train/stage_inputs.h"
#include "train/trainer.h"
#include "core/hash.h"
#include "core/seed_salts.h"

namespace personas {

std::string adapter_name(TrainMode mode, int adapter, std::int64_t user_id) {
  if (mode == TrainMode::global) return "global";
  if (mode == TrainMode::per_user) return fmt::format("{}{}", kPerUserAdapterPrefix, user_id);
  return fmt::format("persona-{:04d}", adapter);
}

namespace {

LoraSpec make_spec(const LoraConfig& lora, std::uint64_t seed) {
  LoraSpec s;
  s.targets.clear();
  for (const auto& t : lora.target_list()) s.targets.push_back(parse_lora_target(t, "lora.targets"));
  s.rank = lora.rank;
  s.alpha = static_cast<float>(lora.alpha);
  s.dropout = static_cast<float>(lora.dropout);
  s.seed = seed;
  s.validate("[lora]");
  return s;
}

// True when the adapter's HDF5 export exists and was made with this config.
// An adapter counts as trained only for this configuration and this base model.
bool already_exported(const fs::path& path, const std::string& config_hash, const std::string& fingerprint) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return false;
  try {
    h5::File f(path, h5::File::Mode::read);
    return f.has_attr("/", "config_hash") && f.attr_string("/", "config_hash") == config_hash &&
           f.has_attr("/", "base_fingerprint") && f.attr_string("/", "base_fingerprint") == fingerprint;
  } catch (const Error&) {  // an unreadable file; a bug (InternalError) is not "not exported yet"
    return false;
  }
}

// Resuming is only right from checkpoints of this configuration and base
// model: the adapter's checkpoint folder carries KEY (config hash and base
// fingerprint); another key means an older run's state, which is removed.
void discard_foreign_checkpoints(const fs::path& dir, const std::string& key, Comm& group) {
  if (group.rank() == 0) {
    const fs::path key_file = dir / "KEY";
    std::error_code ec;
    std::string found;
    if (fs::exists(key_file, ec)) found = std::string(trim(read_file(key_file)));
    if (found != key) {
      if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
        plog::info("train: {} holds checkpoints of another configuration or base model; starting afresh",
                   dir.string());
        fs::remove_all(dir, ec);
        PERSONAS_CHECK(!ec, io, "cannot remove {}: {}", dir.string(), ec.message());
      }
      fs::create_directories(dir, ec);
      PERSONAS_CHECK(!ec, io, "cannot create {}: {}", dir.string(), ec.message());
      write_file_atomic(key_file, key + "\n");
    }
  }
  group.barrier();
}

}  // namespace

namespace {

// What every round of adapters shares.
struct PhaseContext {
  const RunDir& run;
  Comm& world;
  const TrainStageOptions& options;
  std::uint64_t seed;
  std::int32_t pad_id;
  const Phi3Config& mc;
  const std::string& fingerprint;
  LoraModel& model;
  JsonlAppender& log;
};

// One round of adapters: sample s trains adapter adapter_of_user[s.user]
// (named by tc.mode); groups of ranks are planned, samples sent to them, and
// each group trains and exports its adapters in turn. Appends one summary
// entry per adapter this rank took part in. Returns false when some adapter
// of any rank was interrupted (the testing hook, or a graceful stop: then
// `stopped` is set on every rank), true when all are done.
bool train_adapters(const PhaseContext& ctx, const std::string& config_hash, const TrainConfig& tc,
                    const std::vector<int>& adapter_of_user,
                    std::int64_t n_adapters, const std::vector<std::int64_t>& user_ids, std::vector<Sample> samples,
                    nlohmann::json& adapters_summary, bool& stopped) {
  Comm& world = ctx.world;
  const TrainStageOptions& options = ctx.options;
  const std::uint64_t seed = ctx.seed;
  const std::int32_t pad_id = ctx.pad_id;
  const Phi3Config& mc = ctx.mc;
  const std::string& fingerprint = ctx.fingerprint;
  const fs::path& model_path = options.model_path;
  LoraModel& model = ctx.model;
  const fs::path stage = ctx.run.stage_dir(kTrainStage);
  auto name_of = [&](int a) {
    return adapter_name(tc.mode, a, tc.mode == TrainMode::per_user ? user_ids[static_cast<std::size_t>(a)] : 0);
  };
  // Users without an adapter (train.per_user_top) train nothing in this round.
  std::erase_if(samples, [&](const Sample& s) { return adapter_of_user[static_cast<std::size_t>(s.user)] < 0; });
  std::vector<std::int64_t> per_adapter(static_cast<std::size_t>(n_adapters), 0);
  std::vector<int> adapter_of_sample(samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) {
    adapter_of_sample[i] = adapter_of_user[static_cast<std::size_t>(samples[i].user)];
    if (!samples[i].validation) ++per_adapter[static_cast<std::size_t>(adapter_of_sample[i])];
  }
  world.allreduce(std::span<std::int64_t>(per_adapter), ReduceOp::sum);
  const GroupPlan plan = plan_groups(per_adapter, world.size());
  const RankGroup& my_group = plan.group_for_rank(world.rank());
  if (world.is_root())
    for (std::size_t g = 0; g < plan.groups.size(); ++g) {
      const auto& grp = plan.groups[g];
      std::vector<std::string> names;
      for (int a : grp.adapters) names.push_back(fmt::format("{} ({} samples)", name_of(a), per_adapter[static_cast<std::size_t>(a)]));
      plog::info("train: ranks {}..{} train {}", grp.first_rank, grp.first_rank + grp.n_ranks - 1,
                 fmt::join(names, ", "));
    }
  auto mine = exchange_samples(samples, adapter_of_sample, plan, world);
  samples.clear();
  samples.shrink_to_fit();
  auto group = world.split(plan.group_of_rank[static_cast<std::size_t>(world.rank())], world.rank());

  bool interrupted = false, stopped_here = false;
  const fs::path adapters_dir = stage / "adapters";
  const fs::path peft_dir = stage / "peft";
  for (std::size_t i = 0; i < my_group.adapters.size(); ++i) {
    const int a = my_group.adapters[i];
    AdapterData ad;
    ad.adapter = a;
    ad.name = name_of(a);
    for (auto& s : mine[i]) (s.validation ? ad.val : ad.train).push_back(std::move(s));
    mine[i].clear();
    const fs::path h5_path = adapters_dir / (ad.name + ".h5");
    // The group's rank 0 reads the file and the group decides from its answer:
    // every rank of the group must take the same branch (collectives follow).
    int done_before = group->rank() == 0 && already_exported(h5_path, config_hash, fingerprint) ? 1 : 0;
    group->broadcast(&done_before, sizeof done_before, 0);
    if (done_before == 1) {
      plog::info("train: {} already trained with this configuration; skipped", ad.name);
      adapters_summary.push_back({{"name", ad.name}, {"adapter", a}, {"skipped", true}});
      continue;
    }
    if (ad.train.empty()) {
      plog::warn("train: {} has no training samples; no adapter is written", ad.name);
      continue;
    }
    TrainerOptions to;
    to.train = tc;
    to.seed = hash_chain(seed, static_cast<std::uint64_t>(a), seed_salt::kAdapter);
    to.pad_id = pad_id;
    to.checkpoint_dir = stage / "checkpoints" / ad.name;
    discard_foreign_checkpoints(to.checkpoint_dir, config_hash + " " + fingerprint, *group);
    to.log = &ctx.log;
    to.base_fingerprint = fingerprint;  // train.init_from must fit this base
    to.interrupt_after = options.interrupt_after;
    auto result = train_adapter(model, 0, ad, *group, to);
    nlohmann::json entry = {{"name", ad.name},
                            {"adapter", a},
                            {"ranks", group->size()},
                            {"train_samples", ad.train.size()},
                            {"val_samples", ad.val.size()},
                            {"steps", result.steps},
                            {"total_steps", result.total_steps},
                            {"resumed_from", result.resumed_from},
                            {"initial_val_loss", result.initial_val_loss},
                            {"val_loss", result.val_loss},
                            {"kept_step", result.kept_step},
                            {"lower_not_kept", result.lower_not_kept},
                            {"final_train_loss", result.train_loss.empty() ? -1.0 : result.train_loss.back().second},
                            {"tokens_per_s_rank0", world.is_root() ? result.tokens_per_s : 0.0},
                            {"seconds", result.seconds}};
    if (!tc.init_from.empty()) entry["init_from"] = tc.init_from;
    if (result.interrupted) {
      entry["interrupted"] = true;
      adapters_summary.push_back(entry);
      interrupted = true;
      if (result.stopped) {  // the group agreed: its later adapters wait for the rerun
        stopped_here = true;
        warn_on_every_rank(fmt::format("train: rank {} stopped ({}) in {} after step {}/{}{}", world.rank(),
                                       stop_reason(), ad.name, result.steps, result.total_steps,
                                       to.checkpoint_dir.empty() ? "" : ", its checkpoint saved"));
        break;
      }
      continue;
    }
    if (group->rank() == 0) {
      auto exported = adapter_from_arena(model.adapter(0), mc.num_hidden_layers, ad.name, fingerprint);
      exported.facts = {{"config_hash", config_hash},
                        {"mode", to_string(tc.mode)},
                        {"train_samples", std::to_string(ad.train.size())},
                        {"steps", std::to_string(result.steps)},
                        {"val_loss", result.kept_step >= 0 ? fmt::format("{}", result.kept_val_loss)
                                     : result.val_loss.empty()  ? ""
                                                                : fmt::format("{}", result.val_loss.back().second)},
                        {"base_model", model_path.string()}};
      PeftExportOptions po;
      po.base_model_name = options.base_model_name.empty() ? model_path.string() : options.base_model_name;
      write_peft_adapter(peft_dir / ad.name, exported, mc, po);
      // The HDF5 file last: its presence (with the config hash) marks the adapter done.
      write_adapter_h5(h5_path, exported);
    }
    group->barrier();
    adapters_summary.push_back(entry);
  }

  std::int64_t flags[2] = {interrupted ? 1 : 0, stopped_here ? 1 : 0};
  world.allreduce(std::span<std::int64_t>(flags, 2), ReduceOp::sum);
  if (flags[1] > 0) {
    stopped = true;
    adopt_stop_request("another rank's request");
  }
  return flags[0] == 0;
}

// Which adapter each of this rank's users trains (train.mode), how many
// there are over all ranks, and per-user adapters' source user ids.
struct AdapterPlan {
  std::vector<int> adapter_of_user;
  std::int64_t n_adapters = 1;
  std::vector<std::int64_t> user_ids;  // per-user: the user id of each adapter (every rank's)
  std::string persona_source = "-";
};

AdapterPlan plan_adapters(const RunDir& run, Comm& world, const TrainConfig& tc, const Dataset& data) {
  AdapterPlan plan;
  plan.adapter_of_user.assign(data.users.size(), 0);
  if (tc.mode == TrainMode::persona) {
    auto personas = read_user_personas(run, data);
    plan.persona_source = personas.source;
    std::int64_t missing = 0, max_persona = -1;
    for (std::size_t u = 0; u < data.users.size(); ++u) {
      plan.adapter_of_user[u] = personas.persona_of_user[u];
      if (plan.adapter_of_user[u] < 0) ++missing;
      max_persona = std::max<std::int64_t>(max_persona, plan.adapter_of_user[u]);
    }
    missing = world.allreduce_sum(missing);
    PERSONAS_CHECK_HINT(missing == 0, data, "run `personas cluster` first, or use train.mode = global",
                        "train.mode = persona: {} users have no persona (source: {})", missing, personas.source);
    plan.n_adapters = static_cast<std::int64_t>(world.allreduce_max(static_cast<double>(max_persona))) + 1;
  } else if (tc.mode == TrainMode::per_user) {
    // Every rank needs every user's count (to choose) and id (to name the adapters).
    const auto n_total = static_cast<std::size_t>(data.n_users_total);
    std::vector<std::int64_t> n_train(n_total, 0), ids(n_total, 0);
    for (std::size_t u = 0; u < data.users.size(); ++u) {
      const auto g = static_cast<std::size_t>(data.first_user) + u;
      n_train[g] = data.users[u].n_train;
      ids[g] = data.users[u].id;
    }
    world.allreduce(std::span<std::int64_t>(n_train), ReduceOp::sum);
    world.allreduce(std::span<std::int64_t>(ids), ReduceOp::sum);
    // Adapter a = the a-th chosen user in selection order; the others get none (-1).
    const auto chosen = per_user_adapter_users(n_train, tc.per_user_top);
    plan.n_adapters = static_cast<std::int64_t>(chosen.size());
    std::fill(plan.adapter_of_user.begin(), plan.adapter_of_user.end(), -1);
    for (std::size_t a = 0; a < chosen.size(); ++a) {
      plan.user_ids.push_back(ids[static_cast<std::size_t>(chosen[a])]);
      const std::int64_t local = chosen[a] - data.first_user;
      if (local >= 0 && local < static_cast<std::int64_t>(data.users.size()))
        plan.adapter_of_user[static_cast<std::size_t>(local)] = static_cast<int>(a);
    }
    if (tc.per_user_top > 0 && world.is_root())
      plog::info("train: per-user adapters for the {} users with the most training ratings (train.per_user_top)",
                 chosen.size());
  }
  return plan;
}

// Every rank's summary entries, one per adapter (the ranks of a group repeat
// theirs); `interrupted` tells whether any adapter stopped before its end.
nlohmann::json gather_adapter_entries(const nlohmann::json& mine, Comm& world, bool& interrupted) {
  const std::string mine_text = mine.dump();
  auto gathered = world.allgatherv(std::as_bytes(std::span<const char>(mine_text.data(), mine_text.size())));
  nlohmann::json all = nlohmann::json::array();
  std::map<std::string, bool> seen;
  for (const auto& bytes : gathered) {
    auto list = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    for (auto& e : list) {
      if (seen[e["name"].get<std::string>()]) continue;  // one entry per adapter (group ranks repeat it)
      seen[e["name"].get<std::string>()] = true;
      interrupted = interrupted || e.value("interrupted", false);
      all.push_back(e);
    }
  }
  return all;
}

}  // namespace

nlohmann::json train_stage(const RunDir& run, Comm& world, const TrainStageOptions& options) {
  const TrainConfig& tc = options.train;
  const std::uint64_t seed = tc.seed != 0 ? static_cast<std::uint64_t>(tc.seed)
                                          : hash_chain(static_cast<std::uint64_t>(options.run_seed), seed_salt::kTrainSeed, 0);
  run.clear_done(kTrainStage);
  const fs::path stage = run.ensure_stage_dir(kTrainStage);

  // ---- inputs -------------------------------------------------------------
  const Dataset data = load_dataset(run, world);
  const auto memories = load_memories(run, world);
  const ItemVectors vectors = read_item_vectors(run, data);
  const fs::path& model_path = options.model_path;
  EngineOptions eo;
  eo.backend = options.backend;
  eo.device_index = world.local_rank();
  eo.spec = make_spec(options.lora, seed);
  eo.n_adapters = 1;
  eo.chat_template = options.chat_template;
  eo.device_dtype = options.device_dtype;
  eo.what = "train";
  Engine engine = load_engine(model_path, eo);
  const Phi3Config& mc = engine.config;
  const Tokenizer& tokenizer = *engine.tokenizer;
  ChatTemplateEncoder encoder(tokenizer);
  const int max_len = train_max_len(tc, options.default_max_len, mc);
  std::int32_t pad_id = tokenizer.pad_id() >= 0 ? tokenizer.pad_id() : tokenizer.eos_id();

  // ---- samples ------------------------------------------------------------
  const SampleOptions so = train_sample_options(tc, max_len, encoder, data);
  SampleStats stats;
  auto samples = build_training_samples(data, memories, vectors, encoder, so, &stats);
  std::int64_t counts[6] = {stats.n_train, stats.n_validation, stats.n_shortened, stats.n_dropped,
                            stats.n_users_without_memory, stats.n_tokens};
  world.allreduce(std::span<std::int64_t>(counts, 6), ReduceOp::sum);
  plog::info("train: {} training + {} validation samples ({} tokens, max {}), item vectors from {}; {} shortened "
             "to fit (profile cut first), {} dropped as too long, {} users without memories",
             counts[0], counts[1], counts[5], max_len, vectors.source, counts[2], counts[3], counts[4]);
  PERSONAS_CHECK_HINT(counts[0] > 0, data, "run `personas distill` first, or lower train.val_fraction",
                      "train: no training samples ({} users without memories, {} samples too long)", counts[4],
                      counts[3]);

  // ---- adapters -----------------------------------------------------------
  const AdapterPlan plan = plan_adapters(run, world, tc, data);
  const std::vector<int>& adapter_of_user = plan.adapter_of_user;
  const std::int64_t n_adapters = plan.n_adapters;
  const std::vector<std::int64_t>& user_ids = plan.user_ids;
  // ---- train ----------------------------------------------------------------
  LoraModel& model = *engine.model;
  const LoraSpec& spec = model.spec();
  const std::string& fingerprint = engine.fingerprint;
  JsonlAppender log(run.rank_file(kTrainStage, "log", world.rank(), "jsonl"));
  nlohmann::json adapters_summary = nlohmann::json::array();
  const PhaseContext ctx{run, world, options, seed, pad_id, mc, fingerprint, model, log};
  bool stopped = false;  // a graceful stop (core/stop_request.h), the same on every rank
  if (tc.warm_start == WarmStart::global) {
    // First one global adapter over every rank and sample; the others then start from it.
    TrainConfig global_tc = tc;
    global_tc.mode = TrainMode::global;
    const std::vector<int> everyone(data.users.size(), 0);
    const std::string& global_hash = options.global_phase_hash.empty() ? options.config_hash : options.global_phase_hash;
    if (train_adapters(ctx, global_hash, global_tc, everyone, 1, {}, samples, adapters_summary, stopped)) {
      TrainConfig warm_tc = tc;
      warm_tc.init_from = (stage / "adapters" / (adapter_name(TrainMode::global, 0) + ".h5")).string();
      if (tc.warm_lr > 0) warm_tc.lr = tc.warm_lr;
      if (tc.warm_max_steps > 0) warm_tc.max_steps = tc.warm_max_steps;
      train_adapters(ctx, options.config_hash, warm_tc, adapter_of_user, n_adapters, user_ids, std::move(samples), adapters_summary,
                     stopped);
    }
  } else {
    train_adapters(ctx, options.config_hash, tc, adapter_of_user, n_adapters, user_ids, std::move(samples),
                   adapters_summary, stopped);
  }

  // ---- summary ----------------------------------------------------------------
  bool interrupted = false;
  const nlohmann::json all = gather_adapter_entries(adapters_summary, world, interrupted);
  nlohmann::json summary = {{"mode", to_string(tc.mode)},
                            {"warm_start", choice_word(warm_start_names(), tc.warm_start)},
                            {"n_adapters", n_adapters},
                            {"n_ranks", world.size()},
                            {"persona_source", plan.persona_source},
                            {"item_vectors", vectors.source},
                            {"samples",
                             {{"train", counts[0]}, {"validation", counts[1]}, {"shortened", counts[2]},
                              {"dropped", counts[3]}, {"users_without_memory", counts[4]}, {"tokens", counts[5]}}},
                            {"lora", {{"rank", spec.rank}, {"alpha", spec.alpha}, {"dropout", spec.dropout},
                                      {"targets", options.lora.targets}}},
                            {"base_fingerprint", fingerprint},
                            {"adapters", all}};
  world.barrier();
  if (world.is_root()) {
    write_file_atomic(stage / "summary.json", summary.dump(2) + "\n");
    if (!interrupted) run.mark_done(kTrainStage, options.config_hash, {{"n_adapters", n_adapters}});
  }
  world.barrier();
  if (stopped) throw_stopped("in train");
  return summary;
}

}  // namespace personas
