#include "train/samples_stage.h"

#include <chrono>
#include <set>

#include "comm/sharding.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/progress.h"
#include "data/dataset_io.h"
#include "distill/memories.h"
#include "model/checkpoint.h"
#include "model/tokenizer.h"
#include "train/per_user_selection.h"
#include "train/sample_options.h"
#include "train/sample_summary.h"
#include "train/stage_inputs.h"

namespace personas {

namespace {

// Walks this rank's block in chunks of users, taking the memories as they
// stream past in selection order; users the stream skips have no memory.
class ChunkedSampleCounter {
 public:
  ChunkedSampleCounter(const RunDir& run, Dataset& data, const PersonaTable& personas, const ItemVectors& vectors,
                       const PromptEncoder& encoder, const SampleOptions& options, SampleSummary& summary,
                       std::int64_t begin, std::int64_t end, std::int64_t chunk_users)
      : run_(run), data_(data), personas_(personas), vectors_(vectors), encoder_(encoder), options_(options),
        summary_(summary), end_(end), chunk_users_(chunk_users), progress_("samples", end - begin, "users"),
        next_(begin) {
    load_chunk(begin);
  }

  void visit(std::int64_t index, const UserMemory& memory) {
    PERSONAS_CHECK_HINT(index >= next_, data, "remove RUN/distill and run `personas distill` again",
                        "RUN/distill: the record of selection index {} comes after index {}; the memories files "
                        "must hold their users in selection order", index, next_ - 1);
    PERSONAS_ASSERT(index < end_, "samples: a memory record beyond this rank's block");
    while (index >= chunk_end_) finish_chunk();
    skip_to(index);
    const std::size_t u = static_cast<std::size_t>(index - data_.first_user);
    const User& user = data_.users[u];
    PERSONAS_CHECK_HINT(memory.user_id == user.id, data, "redo `personas distill` for this data set",
                        "RUN/distill holds user {} at selection index {} where RUN/prepare has user {}",
                        memory.user_id, index, user.id);
    samples_.clear();
    SampleStats stats;
    append_user_samples(data_, u, memory, vectors_, encoder_, options_, samples_, stats);
    summary_.add_user(persona_of_user_[u], true, samples_, stats.n_dropped);
    ++next_;
    progress_.advance();
  }

  // The users after the last record, then the end of the block.
  void finish() {
    while (chunk_end_ < end_ || next_ < end_) finish_chunk();
    progress_.finish();
  }

  const std::set<std::string>& persona_sources() const { return sources_; }

 private:
  void load_chunk(std::int64_t first) {
    const std::int64_t last = std::min(end_, first + chunk_users_);
    load_dataset_users(run_, data_, first, last);
    auto personas = user_personas(personas_, data_);
    persona_of_user_ = std::move(personas.persona_of_user);
    if (last > first) sources_.insert(personas.source);
    chunk_end_ = last;
  }

  // Users before `index` in this chunk have no memory.
  void skip_to(std::int64_t index) {
    for (; next_ < index; ++next_) {
      summary_.add_user(persona_of_user_[static_cast<std::size_t>(next_ - data_.first_user)], false, {}, 0);
      progress_.advance();
    }
  }

  void finish_chunk() {
    skip_to(chunk_end_);
    if (chunk_end_ < end_) load_chunk(chunk_end_);
  }

  const RunDir& run_;
  Dataset& data_;
  const PersonaTable& personas_;
  const ItemVectors& vectors_;
  const PromptEncoder& encoder_;
  const SampleOptions& options_;
  SampleSummary& summary_;
  std::int64_t end_;
  std::int64_t chunk_users_;
  Progress progress_;
  std::int64_t next_;  // the first user not counted yet
  std::int64_t chunk_end_ = 0;
  std::vector<std::int32_t> persona_of_user_;
  std::vector<Sample> samples_;
  std::set<std::string> sources_;
};

}  // namespace

nlohmann::json samples_stage(const RunDir& run, Comm& world, const SamplesStageOptions& options) {
  const TrainConfig& tc = options.train;
  PERSONAS_CHECK(options.chunk_users > 0, usage, "samples: --chunk-users must be positive, got {}",
                 options.chunk_users);
  const auto t0 = std::chrono::steady_clock::now();
  if (world.is_root()) run.clear_done(kSamplesStage);
  world.barrier();

  // ---- inputs (each check names the stage to run) ----------------------------
  Dataset data = load_dataset_items(run);
  PERSONAS_CHECK_HINT(run.done_marker("distill").has_value(), io, "run `personas distill` on this run directory first",
                      "samples: '{}' has no DONE marker: distillation has not finished",
                      run.stage_dir("distill").string());
  const auto distilled = run.done_marker("distill")->value("n_users_total", std::int64_t{-1});
  PERSONAS_CHECK_HINT(distilled == data.n_users_total, data, "redo `personas distill` for this data set",
                      "samples: RUN/distill covers {} users, RUN/prepare {}", distilled, data.n_users_total);
  const fs::path& model_path = options.model_path;
  PERSONAS_CHECK_HINT(fs::exists(model_path), io,
                      "run `personas model` first, or set model.path to a checkpoint made by `personas convert`",
                      "samples: base model checkpoint {} not found (it gives the tokenizer)", model_path.string());
  const Phi3Config model_config = load_checkpoint_config(model_path);
  TokenizerData tokenizer_data = load_checkpoint_tokenizer(model_path);
  override_chat_template(tokenizer_data, options.chat_template);
  Tokenizer tokenizer(std::move(tokenizer_data));
  ChatTemplateEncoder encoder(tokenizer);
  const int max_len = train_max_len(tc, options.default_max_len, model_config);
  const SampleOptions so = train_sample_options(tc, max_len, encoder, data);
  const ItemVectors vectors = read_item_vectors(run, data);
  const PersonaTable personas = read_persona_table(run);

  // ---- count, chunk by chunk ---------------------------------------------------
  auto [begin, end] = block_range(data.n_users_total, world.rank(), world.size());
  SampleSummary summary(max_len);
  ChunkedSampleCounter counter(run, data, personas, vectors, encoder, so, summary, begin, end, options.chunk_users);
  visit_memories(run, world, {}, [&](std::int64_t index, UserMemory&& memory) { counter.visit(index, memory); });
  counter.finish();

  // Persona source: the same on every rank unless the data mixes planted and unplanted users.
  auto join = [](const std::set<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : "+") + n;
    return out;
  };
  std::string source = join(counter.persona_sources());
  {
    const auto parts = world.allgatherv(std::as_bytes(std::span<const char>(source.data(), source.size())));
    std::set<std::string> all;
    for (const auto& p : parts)
      if (!p.empty()) all.insert(std::string(reinterpret_cast<const char*>(p.data()), p.size()));
    source = join(all);
    if (source.empty()) source = "none";
  }
  summary.reduce(world);
  const PersonaSampleCounts totals = summary.totals();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::int64_t n_adapters = 1;
  if (tc.mode == TrainMode::persona) n_adapters = static_cast<std::int64_t>(summary.by_persona().size()) - 1;
  if (tc.mode == TrainMode::per_user) n_adapters = per_user_adapter_count(data.n_users_total, tc.per_user_top);
  const std::int64_t without_persona = summary.by_persona().empty() ? 0 : summary.by_persona()[0].users;
  if (tc.mode == TrainMode::persona && without_persona > 0)
    plog::warn("samples: {} users have no persona (source: {}); `personas train` with train.mode = persona would "
               "stop: run `personas cluster` first, or use train.mode = global", without_persona, source);

  nlohmann::json out = summary.to_json();
  out["format"] = "personas-samples-summary";
  out["format_version"] = 1;
  out["n_users_total"] = data.n_users_total;
  out["mode"] = to_string(tc.mode);
  out["n_adapters"] = n_adapters;
  out["persona_source"] = source;
  out["item_vectors"] = vectors.source;
  out["tokenizer_vocab"] = tokenizer.vocab_size();
  out["options"] = {{"prompt_style", to_string(tc.prompt_style)}, {"answer", choice_word(answer_format_names(), tc.answer)},     {"loss_on", choice_word(loss_on_names(), tc.loss_on)},
                    {"retrieve_k", tc.retrieve_k},     {"profile_words", tc.profile_words},
                    {"traits", tc.traits},             {"val_fraction", tc.val_fraction},
                    {"prompt_estimate", tc.prompt_estimate},
                    {"reason_words", tc.reason_words}, {"answer_tokens", so.answer_tokens}};

  const std::int64_t n_samples = totals.train_samples + totals.validation_samples;
  const std::int64_t n_tokens = totals.train_tokens + totals.validation_tokens;
  const std::int64_t with_memory = totals.users - totals.users_without_memory;
  plog::info("samples: {} users ({} without memories): {} training + {} validation samples, {} tokens ({:.1f} per "
             "sample, {:.0f} per user; longest {} of max {}), {} shortened, {} dropped as too long; personas from {}, "
             "item vectors from {}",
             totals.users, totals.users_without_memory, totals.train_samples, totals.validation_samples, n_tokens,
             n_samples > 0 ? static_cast<double>(n_tokens) / static_cast<double>(n_samples) : 0.0,
             with_memory > 0 ? static_cast<double>(n_tokens) / static_cast<double>(with_memory) : 0.0,
             summary.longest(), max_len, totals.shortened, totals.dropped, source, vectors.source);
  plog::info("samples: {:.1f} s on {} rank(s): {:.0f} samples/s, {:.0f} tokens/s, {:.0f} users/s", seconds,
             world.size(), static_cast<double>(n_samples) / seconds, static_cast<double>(n_tokens) / seconds,
             static_cast<double>(totals.users) / seconds);

  world.barrier();
  if (world.is_root()) {
    const fs::path dir = run.ensure_stage_dir(kSamplesStage);
    write_file_atomic(dir / "summary.json", out.dump(2) + "\n");
    run.mark_done(kSamplesStage, options.config_hash,
                  {{"n_ranks", world.size()}, {"seconds", seconds}, {"samples", n_samples}, {"tokens", n_tokens}});
  }
  world.barrier();
  return out;
}

}  // namespace personas
