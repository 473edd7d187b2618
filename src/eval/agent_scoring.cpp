#include "eval/agent_scoring.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <unordered_map>

#include "core/errors.h"
#include "core/hash.h"
#include "core/progress.h"
#include "core/stop_request.h"

namespace personas {

int parse_rating_digit(const std::string& text) {
  for (char c : text)
    if (c >= '1' && c <= '5') return c - '0';
  return 0;
}

namespace {

// Progress interval that never comes: the caller logs its own progress.
constexpr double kNoProgressLines = 1e300;

struct Job {
  std::int32_t user = 0;
  std::int32_t item = 0;
  float truth = 0;
  int adapter = -1;
  bool shortened = false;  // fit_prompt cut the profile or memories for this item
  std::vector<std::int32_t> ids;
};

// P(1..5) from the five digit logits: expected rating and arg-max.
AgentRating expected_rating(const Job& job, const float* row) {
  float top = *std::max_element(row, row + 5);
  double sum = 0;
  std::array<double, 5> p{};
  for (int d = 0; d < 5; ++d) sum += p[d] = std::exp(static_cast<double>(row[d] - top));
  AgentRating r;
  r.user = job.user;
  r.item = job.item;
  r.truth = job.truth;
  r.adapter = job.adapter;
  r.argmax = 1;
  for (int d = 0; d < 5; ++d) {
    r.probs[d] = static_cast<float>(p[d] / sum);
    r.predicted += (d + 1) * p[d] / sum;
    if (row[d] > row[r.argmax - 1]) r.argmax = d + 1;
  }
  return r;
}

// Jobs of one user and adapter whose prompts start with the same `prefix_length`
// tokens (the system turn, persona and profile, and the user turn's opening).
struct PrefixGroup {
  std::vector<std::size_t> jobs;
  std::size_t prefix_length = 0;
};

// Splits the jobs into prefix groups and the rest (scored whole). The shared
// prefix is the longest common prefix of the group's own token ids, so the
// split needs no assumption about the tokenizer (the suffix tokens are the
// whole prompt's, never a separate encoding). Items whose prompt fit_prompt
// shortened (the profile cut, which differs per item) do not set the prefix;
// any item that does not start with it, and users with a single item, are
// scored whole.
std::vector<PrefixGroup> plan_prefix_groups(const std::vector<Job>& jobs, std::vector<std::size_t>& whole) {
  std::map<std::pair<std::int32_t, int>, std::vector<std::size_t>> by_user;
  for (std::size_t i = 0; i < jobs.size(); ++i) by_user[{jobs[i].user, jobs[i].adapter}].push_back(i);
  std::vector<PrefixGroup> groups;
  for (const auto& [key, members] : by_user) {
    const std::vector<std::int32_t>* first = nullptr;
    std::size_t common = 0;
    for (std::size_t i : members) {
      const auto& ids = jobs[i].ids;
      if (jobs[i].shortened) continue;
      if (first == nullptr) {
        first = &ids;
        common = ids.size();
        continue;
      }
      common = static_cast<std::size_t>(
          std::mismatch(first->begin(), first->begin() + static_cast<std::ptrdiff_t>(std::min(common, ids.size())),
                        ids.begin())
              .first -
          first->begin());
    }
    PrefixGroup g;
    if (first != nullptr)
      for (std::size_t i : members) {
        const auto& ids = jobs[i].ids;
        if (ids.size() > common && std::equal(first->begin(), first->begin() + static_cast<std::ptrdiff_t>(common), ids.begin()))
          g.jobs.push_back(i);
      }
    // Every member keeps at least one token of its own (the position whose logits are read).
    for (std::size_t i : g.jobs) common = std::min(common, jobs[i].ids.size() - 1);
    if (g.jobs.size() < 2 || common == 0) g.jobs.clear();
    g.prefix_length = common;
    for (std::size_t i : members)
      if (std::find(g.jobs.begin(), g.jobs.end(), i) == g.jobs.end()) whole.push_back(i);
    if (!g.jobs.empty()) groups.push_back(std::move(g));
  }
  std::sort(whole.begin(), whole.end());
  return groups;
}

// The prefix's KV once, then the items' suffixes batch_rows at a time.
void score_prefix_group(LoraModel& model, const RatingTokens& tokens, int batch_rows, const std::vector<Job>& jobs,
                        const PrefixGroup& group, std::vector<AgentRating>& out, Progress& progress) {
  const auto& first = jobs[group.jobs.front()].ids;
  const std::span<const std::int32_t> prefix(first.data(), group.prefix_length);
  const PrefixState state = model.prefill(prefix, jobs[group.jobs.front()].adapter);
  std::vector<std::vector<std::int32_t>> suffixes;
  for (std::size_t start = 0; start < group.jobs.size(); start += static_cast<std::size_t>(batch_rows)) {
    const std::size_t end = std::min(group.jobs.size(), start + static_cast<std::size_t>(batch_rows));
    suffixes.clear();
    for (std::size_t i = start; i < end; ++i) {
      const auto& ids = jobs[group.jobs[i]].ids;
      suffixes.emplace_back(ids.begin() + static_cast<std::ptrdiff_t>(group.prefix_length), ids.end());
    }
    const auto logits = model.score_suffixes(state, suffixes, tokens.digits);
    for (std::size_t i = start; i < end; ++i)
      out[group.jobs[i]] = expected_rating(jobs[group.jobs[i]], logits.data() + (i - start) * 5);
    progress.advance(static_cast<std::int64_t>(end - start));
  }
}

void score_expected(LoraModel& model, const RatingTokens& tokens, std::int32_t pad_id, int batch_rows,
                    bool prefix_sharing, bool log_progress, std::vector<Job>& jobs, std::vector<AgentRating>& out) {
  Progress progress("agents (expected)", static_cast<std::int64_t>(jobs.size()), "ratings",
                    log_progress ? 5.0 : kNoProgressLines);
  std::vector<std::size_t> order;
  if (prefix_sharing) {
    for (const auto& group : plan_prefix_groups(jobs, order)) {
      if (stop_requested()) return;  // safe point, as below
      score_prefix_group(model, tokens, batch_rows, jobs, group, out, progress);
    }
  } else {
    order.resize(jobs.size());
    std::iota(order.begin(), order.end(), 0);
  }
  // Longest first within similar lengths keeps padding small; results do not
  // depend on the order (rows are independent).
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return jobs[a].ids.size() < jobs[b].ids.size(); });
  std::vector<std::vector<std::int32_t>> sequences;
  std::vector<int> adapters;
  std::vector<ScorePosition> positions;
  for (std::size_t start = 0; start < order.size(); start += static_cast<std::size_t>(batch_rows)) {
    // Safe point: the rest is not rated; evaluate_predictors stops every rank after this predictor.
    if (stop_requested()) return;
    std::size_t end = std::min(order.size(), start + static_cast<std::size_t>(batch_rows));
    sequences.clear();
    adapters.clear();
    positions.clear();
    for (std::size_t i = start; i < end; ++i) {
      const auto& job = jobs[order[i]];
      sequences.push_back(job.ids);
      adapters.push_back(job.adapter);
      positions.push_back({static_cast<int>(i - start), static_cast<int>(job.ids.size()) - 1});
    }
    auto batch = TokenBatch::from_sequences(sequences, {}, pad_id);
    batch.adapters = adapters;
    auto logits = model.score(batch, positions, tokens.digits);
    for (std::size_t i = start; i < end; ++i)
      out[order[i]] = expected_rating(jobs[order[i]], logits.data() + (i - start) * 5);
    progress.advance(static_cast<std::int64_t>(end - start));
  }
  if (log_progress) progress.finish();
}

// Generate mode: every job's answer sampled with its own seed, in batched
// generations (continuous batching, options.batch_rows slots; a stop check
// every 4 batches' worth of answers). A user's first job keeps its KV cache,
// and that user's other jobs under the same adapter copy the common prompt
// prefix from it instead of prefilling it (GenerateRequest::reuse), so a
// user's profile and memories are read once.
// Each request's tokens are the same bits as its own generate() call on the
// CPU whatever the batch holds (row-invariant steps, tested), so the answers
// do not depend on the rank count, the chunking or the order.
void score_generate(LoraModel& model, const Tokenizer& tokenizer, const AgentScoringOptions& options,
                    const Dataset& data, std::vector<Job>& jobs, std::vector<AgentRating>& out) {
  auto request_of = [&](const Job& job) {
    GenerateRequest g;
    g.prompt = job.ids;
    g.adapter = job.adapter;
    g.max_new_tokens = options.generate_tokens;
    g.sampling.temperature = options.temperature;
    // One stream per (user, item): the same answer for any rank count or order.
    g.sampling.seed = hash_pair(hash_pair(options.seed, static_cast<std::uint64_t>(data.users[job.user].id)),
                                static_cast<std::uint64_t>(data.items[job.item].id));
    g.stop_tokens = tokenizer.stop_ids();
    return g;
  };
  auto finish = [&](std::size_t i, std::vector<std::int32_t> ids) {
    const Job& job = jobs[i];
    AgentRating r;
    r.user = job.user;
    r.item = job.item;
    r.truth = job.truth;
    r.adapter = job.adapter;
    // The embedding may be padded past the tokenizer (Phi-3: 32064 rows for
    // 32011 tokens); a sampled padding id has no text, so it is dropped.
    std::erase_if(ids, [&](std::int32_t id) { return id < 0 || id >= tokenizer.vocab_size(); });
    r.text = tokenizer.decode(ids);
    const int digit = parse_rating_digit(r.text);
    r.unrelated = digit == 0;
    r.argmax = digit;
    r.predicted = digit;
    out[i] = r;
  };
  // Wave 1: the first job of each (user, adapter), keeping its cache; wave 2: the others, reusing it.
  std::map<std::pair<std::int32_t, int>, std::size_t> first_of;
  std::vector<std::size_t> leaders, followers;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const auto [it, inserted] = first_of.try_emplace({jobs[i].user, jobs[i].adapter}, i);
    (inserted ? leaders : followers).push_back(i);
  }
  Progress progress("agents (generate)", static_cast<std::int64_t>(jobs.size()), "ratings",
                    options.log_progress ? 5.0 : kNoProgressLines);
  std::map<std::size_t, std::shared_ptr<const GenerationCache>> cache_of;  // leader job -> its cache
  // A wave goes in slices of a few batches, with a stop check between them
  // (the safe point of eval: docs/exit-codes.md).
  const int max_batch = std::max(1, options.batch_rows);
  const std::size_t slice = 4 * static_cast<std::size_t>(max_batch);
  auto run_wave = [&](const std::vector<std::size_t>& wave, bool keep, bool reuse) {
    for (std::size_t begin = 0; begin < wave.size(); begin += slice) {
      if (stop_requested()) return;  // safe point, as in score_expected
      const std::vector<std::size_t> part(wave.begin() + static_cast<std::ptrdiff_t>(begin),
                                          wave.begin() + static_cast<std::ptrdiff_t>(std::min(wave.size(), begin + slice)));
      std::vector<GenerateRequest> requests;
      requests.reserve(part.size());
      for (std::size_t i : part) {
        auto g = request_of(jobs[i]);
        g.keep_cache = keep;
        // The engine copies the common prefix's rows (none when there is none).
        if (reuse) g.reuse = cache_of.at(first_of.at({jobs[i].user, jobs[i].adapter}));
        requests.push_back(std::move(g));
      }
      BatchGenerateOptions o;
      o.max_batch = max_batch;
      o.keep_outputs = false;
      o.on_cache = [&](std::size_t r, GenerationCache&& cache) {
        cache_of[part[r]] = std::make_shared<const GenerationCache>(std::move(cache));
      };
      o.on_finish = [&](std::size_t r, const std::vector<std::int32_t>& ids, std::vector<GenerateRequest>&) {
        finish(part[r], ids);
        progress.advance();
      };
      model.generate_batch(std::move(requests), o);
    }
  };
  run_wave(leaders, /*keep=*/!followers.empty(), /*reuse=*/false);
  run_wave(followers, /*keep=*/false, /*reuse=*/true);
  if (options.log_progress) progress.finish();
}

}  // namespace

MemoryOfUser index_memories(const std::vector<UserMemory>& memories) {
  MemoryOfUser memory_of;
  for (const auto& m : memories) memory_of[m.user_id] = &m;
  return memory_of;
}

const UserMemory& memories_of_pair(const Dataset& data, const MemoryOfUser& memory_of, const UserItem& pair) {
  const auto& user = data.users[static_cast<std::size_t>(pair.user)];
  const auto it = memory_of.find(user.id);
  PERSONAS_CHECK(it != memory_of.end(), data, "user {} has no distilled memories", user.id);
  return *it->second;
}

std::vector<AgentRating> rate_items(LoraModel& model, const Tokenizer& tokenizer, const Dataset& data,
                                    const std::vector<UserMemory>& memories, const ItemVectors& vectors,
                                    const std::vector<int>& adapter_of_user, const std::vector<UserItem>& pairs,
                                    const AgentScoringOptions& options) {
  return rate_items(model, tokenizer, data, index_memories(memories), vectors, adapter_of_user, pairs, options);
}

std::vector<AgentRating> rate_items(LoraModel& model, const Tokenizer& tokenizer, const Dataset& data,
                                    const MemoryOfUser& memory_of, const ItemVectors& vectors,
                                    const std::vector<int>& adapter_of_user, const std::vector<UserItem>& pairs,
                                    const AgentScoringOptions& options) {
  PERSONAS_CHECK_OP(adapter_of_user.size(), ==, data.users.size(), internal, "adapters per user");
  ChatTemplateEncoder encoder(tokenizer);
  const auto tokens = rating_tokens(encoder);

  std::vector<Job> jobs;
  jobs.reserve(pairs.size());
  for (const auto& pair : pairs) {
    const auto& user = data.users[static_cast<std::size_t>(pair.user)];
    const auto& memories = memories_of_pair(data, memory_of, pair);
    Job job;
    job.user = pair.user;
    job.item = pair.item;
    job.truth = pair.truth;
    job.adapter = adapter_of_user[static_cast<std::size_t>(pair.user)];
    auto prompt = build_eval_prompt(data, user, memories, vectors, encoder, options.sample, job.item, &job.shortened);
    job.ids = std::move(prompt.ids);
    if (options.mode == AgentMode::expected) job.ids.insert(job.ids.end(), tokens.prefix.begin(), tokens.prefix.end());
    jobs.push_back(std::move(job));
  }
  std::vector<AgentRating> out(jobs.size());
  model.set_training(false);
  if (options.mode == AgentMode::expected) {
    const std::int32_t pad = tokenizer.pad_id() >= 0 ? tokenizer.pad_id() : tokenizer.eos_id();
    score_expected(model, tokens, pad, std::max(1, options.batch_rows), options.prefix_sharing, options.log_progress,
                   jobs, out);
  } else {
    score_generate(model, tokenizer, options, data, jobs, out);
  }
  for (auto& r : out) r.user_id = data.users[static_cast<std::size_t>(r.user)].id;
  return out;
}

std::vector<UserItem> test_item_pairs(const Dataset& data, const MemoryOfUser& memory_of,
                                      const std::vector<std::int32_t>& users, int max_items_per_user,
                                      std::int64_t* n_skipped_users) {
  std::vector<UserItem> pairs;
  std::int64_t skipped = 0;
  for (const std::int32_t u : users) {
    const auto& user = data.users[static_cast<std::size_t>(u)];
    if (!memory_of.count(user.id)) {
      ++skipped;
      continue;
    }
    auto test = data.test_of(user);
    std::size_t n = max_items_per_user > 0
                        ? std::min<std::size_t>(test.size(), static_cast<std::size_t>(max_items_per_user))
                        : test.size();
    for (std::size_t t = 0; t < n; ++t) pairs.push_back({u, test[t].item, test[t].rating});
  }
  if (n_skipped_users) *n_skipped_users = skipped;
  return pairs;
}

std::vector<AgentRating> rate_test_items(LoraModel& model, const Tokenizer& tokenizer, const Dataset& data,
                                         const std::vector<UserMemory>& memories, const ItemVectors& vectors,
                                         const std::vector<int>& adapter_of_user, const AgentScoringOptions& options,
                                         std::int64_t* n_skipped_users) {
  std::vector<std::int32_t> users(data.users.size());
  std::iota(users.begin(), users.end(), 0);
  const auto memory_of = index_memories(memories);
  const auto pairs = test_item_pairs(data, memory_of, users, options.max_items_per_user, n_skipped_users);
  return rate_items(model, tokenizer, data, memory_of, vectors, adapter_of_user, pairs, options);
}

}  // namespace personas
