#include "distill/distill_stage.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <cstdlib>
#include <map>
#include <memory>
#include <regex>

#include "comm/sharding.h"
#include "comm/stop_vote.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/stop_request.h"
#include "core/strings.h"
#include "distill/llm_client.h"
#include "distill/llm_distiller.h"
#include "distill/local_chat_client.h"
#include "distill/memory_records.h"
#include "distill/offline_writer.h"
#include "distill/prompts.h"
#include "distill/record_index.h"
#include "distill/user_stats.h"
#include "io/jsonl.h"
#include "io/line_file.h"
#include "core/seed_salts.h"

namespace personas {

namespace {

constexpr const char* kStage = "distill";

// Records of users in [lo, hi) found in earlier runs' files (final files and
// parts), located without being kept. A success overrides a failure (a
// retried user); otherwise the first record wins.
RecordIndex index_existing(const fs::path& dir, std::int64_t lo, std::int64_t hi) {
  RecordIndex found(lo, hi);
  static const std::regex final_name(R"((memories|failed)-rank-\d+\.jsonl(\.zst)?)");
  static const std::regex part_name(R"(part-(\d+)-(\d+)-.*\.jsonl(\.zst)?)");
  std::vector<fs::path> files;  // in name order: the result must not depend on the directory's order
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && std::regex_match(e.path().filename().string(), final_name)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<fs::path> parts;
  if (fs::is_directory(dir / "parts"))
    for (const auto& e : fs::directory_iterator(dir / "parts")) {
      std::smatch m;
      auto name = e.path().filename().string();
      if (!e.is_regular_file() || !std::regex_match(name, m, part_name)) continue;
      if (std::stoll(m[2].str()) < lo || std::stoll(m[1].str()) >= hi) continue;  // no overlap
      parts.push_back(e.path());
    }
  std::sort(parts.begin(), parts.end());
  for (const auto& f : files) found.scan(f, /*replace=*/false);
  for (const auto& f : parts) found.scan(f, /*replace=*/false);
  return found;
}

// Appends this run's records to one part file per rank and run
// (part-FIRST-LAST-rRANK-NONCE.jsonl[.zst], FIRST/LAST bounding the users to
// do), durable every `chunk` users (the progress a resumed run finds), and
// notes each record's place in the index as it goes (nothing is read back).
class PartWriter {
 public:
  PartWriter(fs::path dir, int rank, int chunk, LineCompression compression, const std::vector<Item>& items,
             RecordIndex& index)
      : dir_(std::move(dir)), rank_(rank), chunk_(chunk), compression_(compression), items_(items), index_(index) {}
  // Creates the file for users with indices in [first, last].
  void open(std::int64_t first, std::int64_t last) {
    fs::create_directories(dir_);
    const auto nonce = fmt::format("{:x}", std::chrono::system_clock::now().time_since_epoch().count());
    const auto path = dir_ / fmt::format("part-{:010d}-{:010d}-r{:05d}-{}.jsonl{}", first, last, rank_, nonce,
                                         compression_ == LineCompression::zstd ? ".zst" : "");
    writer_ = std::make_unique<LineWriter>(path, compression_);
    fsync_dir(dir_);  // the new name survives a crash along with the data synced later
    file_id_ = index_.add_file(path);
  }
  void add(const MemoryRecord& record) {
    PERSONAS_ASSERT(writer_, "distill: PartWriter::add before open");
    const LinePlace place = writer_->append(record_to_line(record, &items_));
    index_.put(record.index, record.failed, file_id_, place);
    in_order_ = in_order_ && record.index > last_index_;
    last_index_ = record.index;
    ++written_;
    if (++pending_ >= chunk_) flush();
  }
  void flush() {
    if (!writer_ || pending_ == 0) return;
    writer_->end_chunk();
    saved_ += pending_;
    pending_ = 0;
  }
  void close() {
    if (!writer_) return;
    flush();
    writer_->close();
    index_.set_frame_bounds(file_id_, writer_->frame_bounds());
  }
  // Durable records.
  std::int64_t saved() const { return saved_; }
  // The file holds exactly the block's records, once each, in user order:
  // it can become the final file as it is.
  bool is_whole_block(std::int64_t block_size) const {
    return writer_ && in_order_ && written_ == block_size && index_.all_ok_in(file_id_);
  }
  const fs::path& path() const { return writer_->path(); }

 private:
  static void fsync_dir(const fs::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }
  fs::path dir_;
  int rank_, chunk_;
  LineCompression compression_;
  const std::vector<Item>& items_;
  RecordIndex& index_;
  std::unique_ptr<LineWriter> writer_;
  std::int32_t file_id_ = -1;
  std::int64_t saved_ = 0, written_ = 0, last_index_ = -1;
  int pending_ = 0;
  bool in_order_ = true;
};

MemoryRecord to_record(UserOutcome&& o) {
  MemoryRecord r;
  r.index = o.index;
  r.failed = !o.ok;
  r.reason = std::move(o.reason);
  r.memory = std::move(o.memory);
  r.memory.user_id = o.user_id;
  return r;
}

// This rank's block: this run's part file renamed when it holds the whole
// block in user order (a fresh offline run), else earlier records + this
// run's, copied line by line in user order. Staged first and renamed after
// a barrier: another rank may still be reading an earlier run's file of the
// same name (another rank count). Collective; returns {ok, failed} counts.
std::pair<std::int64_t, std::int64_t> write_rank_block(const RunDir& run, Comm& comm, PartWriter& parts,
                                                       const RecordIndex& records, LineCompression compression,
                                                       std::int64_t users_per_chunk, std::int64_t block_size) {
  std::int64_t n_ok = 0, n_failed = 0;
  const std::string ext = compression == LineCompression::zstd ? "jsonl.zst" : "jsonl";
  const fs::path ok_path = run.rank_file(kStage, "memories", comm.rank(), ext);
  const fs::path failed_path = run.rank_file(kStage, "failed", comm.rank(), ext);
  auto staged = [](const fs::path& path) { return fs::path(path.string() + ".staged"); };
  auto stage_copy = [&](const fs::path& path, bool failed, std::int64_t& count) {
    write_atomically(staged(path), [&](const fs::path& tmp) {
      LineWriter out(tmp, compression);
      std::int64_t in_frame = 0;
      count = records.copy_lines(
          [&](std::string_view line) {
            out.append(line);
            if (++in_frame == users_per_chunk) {  // zstd: one frame per chunk, as the part files
              out.end_chunk(/*sync=*/false);
              in_frame = 0;
            }
          },
          failed);
      out.close();
    });
  };
  if (parts.is_whole_block(block_size)) {
    std::error_code ec;
    fs::rename(parts.path(), staged(ok_path), ec);
    PERSONAS_CHECK(!ec, io, "cannot rename '{}' to '{}': {}", parts.path().string(), staged(ok_path).string(),
                   ec.message());
    n_ok = block_size;
  } else {
    stage_copy(ok_path, false, n_ok);
  }
  stage_copy(failed_path, true, n_failed);
  PERSONAS_ASSERT(n_ok + n_failed == block_size, "distill: {} records for a block of {} users", n_ok + n_failed, block_size);
  comm.barrier();
  for (const auto& path : {ok_path, failed_path}) {
    std::error_code ec;
    fs::rename(staged(path), path, ec);
    PERSONAS_CHECK(!ec, io, "cannot rename '{}' to '{}': {}", staged(path).string(), path.string(), ec.message());
  }

  return {n_ok, n_failed};
}

// Files of ranks beyond this run's count belong to an earlier, larger run.
// So do files of the other form (none/zstd) of an earlier run. (Another
// distill.compress changes the config hash, which clears the folder first;
// this keeps a folder of one form whatever happened before.)
void remove_other_rank_files(const fs::path& dir, int n_ranks, const std::string& ext) {
  static const std::regex final_name(R"((memories|failed)-rank-(\d+)\.(jsonl(\.zst)?))");
  for (const auto& e : fs::directory_iterator(dir)) {
    std::smatch m;
    auto name = e.path().filename().string();
    if (std::regex_match(name, m, final_name) && (std::stoi(m[2].str()) >= n_ranks || m[3].str() != ext))
      fs::remove(e.path());
  }
}

}  // namespace

DistillSummary run_distill(const RunDir& run, const Dataset& data, const DistillConfig& config,
                           const DistillRunOptions& options, Comm& comm) {
  const Provider provider = config.resolved_provider();
  const std::string provider_word = to_string(provider);
  PERSONAS_CHECK(data.first_user >= 0 && data.first_user + static_cast<std::int64_t>(data.users.size()) <= data.n_users_total,
                 data, "the prepared data's user block [{}, {}) lies outside the selection of {} users", data.first_user,
                 data.first_user + static_cast<std::int64_t>(data.users.size()), data.n_users_total);
  const auto dir = run.ensure_stage_dir(kStage);
  const std::int64_t lo = data.first_user, hi = lo + static_cast<std::int64_t>(data.users.size());

  // Statistics and traits (thresholds over every rank's users).
  // The offline writer needs one user's statistics at a time: they are
  // recomputed in its loop rather than kept for every user (a few hundred
  // bytes each); LLM conversations hold references to them, so they keep all.
  std::vector<UserStats> stats;
  std::vector<double> trait_values;
  trait_values.reserve(data.users.size() * 3);
  for (const auto& u : data.users) {
    UserStats s = compute_user_stats(data, u);
    append_trait_values(s, trait_values);
    if (provider != Provider::offline) stats.push_back(std::move(s));
  }
  const auto thresholds = trait_thresholds(trait_values, comm);
  trait_values = {};
  for (auto& s : stats) assign_traits(s, thresholds);

  PromptSet prompts;
  std::string prompt_version = kOfflineWriterVersion;
  if (provider != Provider::offline) {
    prompts = load_prompts(config.prompts);
    prompt_version = prompts.version;
  }
  // The model stored with every output: the endpoint's model name, or the
  // local engine's checkpoint path (its content fingerprint joins the hash).
  std::string model_name = provider == Provider::offline ? std::string("offline") : config.model;
  std::string content_key = config.content_key();
  std::string legacy_key = config.content_key(/*with_base_url=*/true);
  if (provider == Provider::local) {
    PERSONAS_CHECK_HINT(!options.local_checkpoint.empty(), config, "set model.path",
                        "distill.provider = local needs a checkpoint ([model] model.path or RUN/model/base.h5)");
    model_name = options.local_checkpoint;
    // "scaffold-v2": prompts longer than max_seq are cut in steps of a quarter
    // of it, and a scaffold note states its movie and stars (LocalChatClient):
    // both changed the answers.
    const auto engine_key = fmt::format("|{}|{}|{}|scaffold-v2", options.local_checkpoint,
                                        checkpoint_file_fingerprint(options.local_checkpoint), options.local_max_seq);
    content_key += engine_key;
    legacy_key += engine_key;
  }
  DistillSummary summary;
  summary.users_total = data.n_users_total;
  summary.config_hash = hash_hex(options.upstream_hash + "|" + content_key + "|" + prompt_version);

  // Earlier outputs made with another configuration are not resumable: start over.
  int skip = 0;
  if (comm.is_root()) {
    auto state_path = dir / "STATE.json";
    std::string previous;
    if (fs::exists(state_path)) {
      auto parsed = nlohmann::json::parse(read_file(state_path), nullptr, false);
      if (parsed.is_object()) previous = parsed.value("config_hash", "");
    }
    const auto legacy_hash = hash_hex(options.upstream_hash + "|" + legacy_key + "|" + prompt_version);
    if (!previous.empty() && previous != summary.config_hash && previous != legacy_hash) {
      plog::warn("distill: {} holds outputs of another configuration ({}); starting over", dir.string(), previous);
      for (const auto& e : fs::directory_iterator(dir)) fs::remove_all(e.path());
    }
    // `personas run` stamps DONE with its own hash; distill's stays as content_hash.
    const auto marker = run.done_marker(kStage);
    const bool done = marker && (marker->value("config_hash", "") == summary.config_hash ||
                                 marker->value("content_hash", "") == summary.config_hash);
    if (done && !options.retry_failed) skip = 1;
    nlohmann::json state = {{"config_hash", summary.config_hash}, {"provider", provider_word}, {"prompt_version", prompt_version}};
    write_file_atomic(state_path, state.dump(2) + "\n");
    if (!skip) run.clear_done(kStage);
  }
  comm.broadcast(&skip, sizeof skip, 0);
  if (skip) {
    auto marker = run.done_marker(kStage);
    summary.skipped = true;
    summary.users_ok = marker ? marker->value("users_ok", std::int64_t{0}) : 0;
    summary.users_failed = marker ? marker->value("users_failed", std::int64_t{0}) : 0;
    plog::info("distill: already done with this configuration ({}); nothing to do", dir.string());
    return summary;
  }
  comm.barrier();

  // Until the stage is DONE, a rerun redoes failed users too (after DONE
  // only --retry-failed gets here): a stage that failed is not done.
  RecordIndex records = index_existing(dir, lo, hi);
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < data.users.size(); ++i) {
    const std::int64_t g = lo + static_cast<std::int64_t>(i);
    if (!records.has(g) || records.failed(g)) todo.push_back(i);
  }
  std::int64_t resumed = static_cast<std::int64_t>(data.users.size() - todo.size());
  plog::info("distill: provider {}, model {}, prompts {}; {} users on rank {} ({} to do, {} done earlier)", provider_word,
             model_name, prompt_version, data.users.size(), comm.rank(), todo.size(), resumed);

  const LineCompression compression = config.compress;
  PartWriter parts(dir / "parts", comm.rank(), config.users_per_chunk, compression, data.items, records);
  if (!todo.empty()) parts.open(lo + static_cast<std::int64_t>(todo.front()), lo + static_cast<std::int64_t>(todo.back()));
  Progress progress("distill", static_cast<std::int64_t>(todo.size()), "users");
  auto save = [&](MemoryRecord&& r) {
    if (r.failed) plog::warn("distill: user {} failed: {}", r.memory.user_id, r.reason);
    parts.add(r);
    progress.advance();
    if (options.stop_after_users >= 0 && parts.saved() >= options.stop_after_users)
      fail(ErrorKind::interrupted, fmt::format("stopped after {} users (test hook)", parts.saved()));
  };

  LlmUsage usage;
  bool stopped = false;  // a safe point saw stop_requested(): no more users start
  if (provider == Provider::offline) {
    for (auto i : todo) {
      if ((stopped = stop_requested())) break;
      MemoryRecord r;
      r.index = lo + static_cast<std::int64_t>(i);
      UserStats user_stats = compute_user_stats(data, data.users[i]);
      assign_traits(user_stats, thresholds);
      r.memory = write_offline_memory(data, data.users[i], user_stats);
      save(std::move(r));
    }
  } else if (!todo.empty()) {
    LlmDistillSettings settings;
    settings.provider = provider_word;
    settings.batch_size = config.batch_size;
    settings.max_words = config.max_words;
    settings.reflection = config.reflection;
    settings.chat.temperature = config.temperature;
    settings.chat.max_tokens = config.max_tokens;
    settings.chat.seed = options.seed;
    // A window of users in conversation at once, one request each.
    auto converse = [&](ChatBackend& client, int window) {
      LlmDistiller distiller(client, prompts, settings);
      std::size_t next = 0;
      std::function<void()> start_next = [&] {
        if (next >= todo.size()) return;
        auto i = todo[next++];
        distiller.start(data, data.users[i], lo + static_cast<std::int64_t>(i), stats[i], [&](UserOutcome&& o) {
          save(to_record(std::move(o)));
          if (stop_requested()) throw LocalStop{};  // safe point: this user is written
          start_next();
        });
      };
      for (int k = 0; k < window; ++k) start_next();
      try {
        client.run();
      } catch (const LocalStop&) {
        stopped = true;  // chats in flight are dropped: their users have no record and are redone
      }
      usage = client.usage();
    };
    if (provider == Provider::local) {
      auto engine = load_local_engine(options.local_checkpoint, options.backend, comm.local_rank(),
                                      options.local_chat_template, options.local_device_dtype);
      LocalChatOptions local;
      local.model_name = model_name;
      local.max_seq = options.local_max_seq;
      local.format = config.local_format;
      local.note_tokens = config.local_note_tokens;
      local.profile_tokens = config.local_profile_tokens;
      local.repetition_penalty = static_cast<float>(config.local_repetition_penalty);
      local.max_batch = config.in_flight;  // one request per user in conversation: they decode side by side
      // A safe point at every token, as the HTTP client's poll: a stop does not wait for a user to finish.
      local.poll = [] {
        if (stop_requested()) throw LocalStop{};
      };
      LocalChatClient client(*engine.model, *engine.tokenizer, local);
      plog::info("distill: local engine on {} ({} chat format, {} answers, prompts cut to {} tokens)", model_name,
                 client.chat_format() == ChatFormat::templated ? chat_template_name(engine.tokenizer->data().chat_template) : "transcript", to_string(config.local_format),
                 std::min<std::int64_t>(options.local_max_seq, engine.config.max_position_embeddings));
      // distill.in_flight users in conversation, their requests decoded in one
      // batch (a KV cache per sequence and as many pooled for reuse: ~46 KB
      // per token each for SmolLM2-135M in f32).
      converse(client, config.in_flight);
      const auto u = client.usage();
      plog::info("distill: local engine generated {} tokens in {:.1f} s ({:.1f} tokens/s); {} prompt tokens, {} of "
                 "them from reused caches; {} prompts cut from the left to fit", u.completion_tokens,
                 client.generate_seconds(),
                 client.generate_seconds() > 0 ? static_cast<double>(u.completion_tokens) / client.generate_seconds() : 0.0,
                 u.prompt_tokens, client.reused_prompt_tokens(), client.truncated_prompts());
    } else {
      HttpClientOptions http;
      http.base_url = config.base_url;
      if (const char* key = std::getenv(config.api_key_env.c_str()); key && *key) http.api_key = key;
      else plog::warn("distill: ${} is not set; requests go without an API key", config.api_key_env);
      http.max_in_flight = config.in_flight;
      http.connect_timeout_s = config.connect_timeout_s;
      http.timeout_s = config.timeout_s;
      http.max_attempts = config.max_attempts;
      http.backoff_initial_s = config.backoff_initial_s;
      http.backoff_max_s = config.backoff_max_s;
      http.requests_per_min = config.requests_per_min;
      http.tokens_per_min = config.tokens_per_min;
      http.jitter_seed = static_cast<std::uint64_t>(options.seed) * seed_salt::kJitterMul + static_cast<std::uint64_t>(comm.rank());
      // Also a safe point while no answer comes (the loop wakes at least once a second).
      http.poll = [] {
        if (stop_requested()) throw LocalStop{};
      };
      LlmClient client(http, config.model, {config.price_prompt_per_mtok, config.price_completion_per_mtok});
      converse(client, config.in_flight);
    }
  }
  parts.close();
  if (!stopped) progress.finish();
  // Every rank stops here if any was asked to: its part file is durable, no final file or DONE is written.
  if (stop_agreed(comm)) {
    warn_on_every_rank(fmt::format("distill: rank {} stopped ({}) with {} of its {} users written ({} this run); "
                                   "rerun the same command to go on from there",
                                   comm.rank(), stop_reason(), resumed + parts.saved(), data.users.size(),
                                   parts.saved()));
    throw_stopped("in distill");
  }

  const std::string ext = compression == LineCompression::zstd ? "jsonl.zst" : "jsonl";
  const auto [n_ok, n_failed] = write_rank_block(run, comm, parts, records, compression, config.users_per_chunk, hi - lo);

  std::vector<double> sums = {static_cast<double>(n_ok), static_cast<double>(n_failed),
                              static_cast<double>(todo.size()), static_cast<double>(resumed),
                              static_cast<double>(usage.calls), static_cast<double>(usage.prompt_tokens),
                              static_cast<double>(usage.completion_tokens), usage.cost_usd};
  comm.allreduce(sums, ReduceOp::sum);
  summary.users_ok = static_cast<std::int64_t>(sums[0]);
  summary.users_failed = static_cast<std::int64_t>(sums[1]);
  summary.users_done_now = static_cast<std::int64_t>(sums[2]);
  summary.users_resumed = static_cast<std::int64_t>(sums[3]);
  summary.calls = static_cast<std::int64_t>(sums[4]);
  summary.prompt_tokens = static_cast<std::int64_t>(sums[5]);
  summary.completion_tokens = static_cast<std::int64_t>(sums[6]);
  summary.cost_usd = sums[7];
  // Nothing distilled at all: the endpoint (or its settings) is at fault, not
  // single users, and the stage is not done (personas distill exits 6): the
  // same command, rerun, redoes every user.
  const bool all_failed = summary.users_ok == 0 && summary.users_failed > 0;

  if (comm.is_root()) {
    remove_other_rank_files(dir, comm.size(), ext);
    fs::remove_all(dir / "parts");
    if (!all_failed)
      run.mark_done(kStage, summary.config_hash,
                    {{"content_hash", summary.config_hash},
                     {"n_ranks", comm.size()},
                     {"n_users_total", data.n_users_total},
                     {"users_ok", summary.users_ok},
                     {"users_failed", summary.users_failed},
                     {"provider", provider_word},
                     {"model", model_name},
                     {"prompt_version", prompt_version},
                     {"calls", summary.calls},
                     {"prompt_tokens", summary.prompt_tokens},
                     {"completion_tokens", summary.completion_tokens},
                     {"cost_usd", summary.cost_usd}});
  }
  comm.barrier();
  return summary;
}

}  // namespace personas
