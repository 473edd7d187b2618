#include "eval/agent_scoring.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include "core/errors.h"
#include "core/hash.h"
#include "core/progress.h"

namespace personas {

int parse_rating_digit(const std::string& text) {
  for (char c : text)
    if (c >= '1' && c <= '5') return c - '0';
  return 0;
}

namespace {

struct Job {
  std::int32_t user = 0;
  std::int32_t item = 0;
  float truth = 0;
  int adapter = -1;
  std::vector<std::int32_t> ids;
};

void score_expected(LoraModel& model, const RatingTokens& tokens, std::int32_t pad_id, int batch_rows,
                    std::vector<Job>& jobs, std::vector<AgentRating>& out) {
  // Longest first within similar lengths keeps padding small; results do not
  // depend on the order (rows are independent).
  std::vector<std::size_t> order(jobs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return jobs[a].ids.size() < jobs[b].ids.size(); });
  Progress progress("agents (expected)", static_cast<std::int64_t>(jobs.size()), "ratings");
  std::vector<std::vector<std::int32_t>> sequences;
  std::vector<int> adapters;
  std::vector<ScorePosition> positions;
  for (std::size_t start = 0; start < order.size(); start += static_cast<std::size_t>(batch_rows)) {
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
    for (std::size_t i = start; i < end; ++i) {
      const auto& job = jobs[order[i]];
      const float* row = logits.data() + (i - start) * 5;
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
      out[order[i]] = r;
    }
    progress.advance(static_cast<std::int64_t>(end - start));
  }
  progress.finish();
}

void score_generate(LoraModel& model, const Tokenizer& tokenizer, const AgentScoringOptions& options,
                    const Dataset& data, std::vector<Job>& jobs, std::vector<AgentRating>& out) {
  Progress progress("agents (generate)", static_cast<std::int64_t>(jobs.size()), "ratings");
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const auto& job = jobs[i];
    GenerateOptions g;
    g.max_new_tokens = options.generate_tokens;
    g.sampling.temperature = options.temperature;
    // One stream per (user, item): the same answer for any rank count or order.
    g.sampling.seed = hash_pair(hash_pair(options.seed, static_cast<std::uint64_t>(data.users[job.user].id)),
                          static_cast<std::uint64_t>(data.items[job.item].id));
    g.stop_tokens = tokenizer.stop_ids();
    auto ids = model.generate(job.ids, g, job.adapter);
    AgentRating r;
    r.user = job.user;
    r.item = job.item;
    r.truth = job.truth;
    r.adapter = job.adapter;
    // The embedding may be padded past the tokenizer (Phi-3: 32064 rows for
    // 32011 tokens); a sampled padding id has no text, so it is dropped.
    std::erase_if(ids, [&](std::int32_t id) { return id < 0 || id >= tokenizer.vocab_size(); });
    r.text = tokenizer.decode(ids);
    int digit = parse_rating_digit(r.text);
    r.unrelated = digit == 0;
    r.argmax = digit;
    r.predicted = digit;
    out[i] = r;
    progress.advance();
  }
  progress.finish();
}

}  // namespace

std::vector<AgentRating> rate_items(LoraModel& model, const Tokenizer& tokenizer, const Dataset& data,
                                    const std::vector<UserMemory>& memories, const ItemVectors& vectors,
                                    const std::vector<int>& adapter_of_user, const std::vector<UserItem>& pairs,
                                    const AgentScoringOptions& options) {
  PERSONAS_CHECK(options.mode == "expected" || options.mode == "generate", config,
                 "eval.agent_mode '{}' is not expected|generate", options.mode);
  PERSONAS_CHECK_OP(adapter_of_user.size(), ==, data.users.size(), internal, "adapters per user");
  ChatTemplateEncoder encoder(tokenizer);
  const auto tokens = rating_tokens(encoder);
  std::unordered_map<std::int64_t, const UserMemory*> memory_of;
  for (const auto& m : memories) memory_of[m.user_id] = &m;

  std::vector<Job> jobs;
  jobs.reserve(pairs.size());
  for (const auto& pair : pairs) {
    const auto& user = data.users[static_cast<std::size_t>(pair.user)];
    auto it = memory_of.find(user.id);
    PERSONAS_CHECK(it != memory_of.end(), data, "user {} has no distilled memories", user.id);
    Job job;
    job.user = pair.user;
    job.item = pair.item;
    job.truth = pair.truth;
    job.adapter = adapter_of_user[static_cast<std::size_t>(pair.user)];
    auto prompt = build_eval_prompt(data, user, *it->second, vectors, encoder, options.sample, job.item);
    job.ids = std::move(prompt.ids);
    if (options.mode == "expected") job.ids.insert(job.ids.end(), tokens.prefix.begin(), tokens.prefix.end());
    jobs.push_back(std::move(job));
  }
  std::vector<AgentRating> out(jobs.size());
  model.set_training(false);
  if (options.mode == "expected") {
    const std::int32_t pad = tokenizer.pad_id() >= 0 ? tokenizer.pad_id() : tokenizer.eos_id();
    score_expected(model, tokens, pad, std::max(1, options.batch_rows), jobs, out);
  } else {
    score_generate(model, tokenizer, options, data, jobs, out);
  }
  for (auto& r : out) r.user_id = data.users[static_cast<std::size_t>(r.user)].id;
  return out;
}

std::vector<AgentRating> rate_test_items(LoraModel& model, const Tokenizer& tokenizer, const Dataset& data,
                                         const std::vector<UserMemory>& memories, const ItemVectors& vectors,
                                         const std::vector<int>& adapter_of_user, const AgentScoringOptions& options,
                                         std::int64_t* n_skipped_users) {
  std::unordered_map<std::int64_t, const UserMemory*> memory_of;
  for (const auto& m : memories) memory_of[m.user_id] = &m;
  std::vector<UserItem> pairs;
  std::int64_t skipped = 0;
  for (std::size_t u = 0; u < data.users.size(); ++u) {
    const auto& user = data.users[u];
    if (!memory_of.count(user.id)) {
      ++skipped;
      continue;
    }
    auto test = data.test_of(user);
    std::size_t n = options.max_items_per_user > 0
                        ? std::min<std::size_t>(test.size(), static_cast<std::size_t>(options.max_items_per_user))
                        : test.size();
    for (std::size_t t = 0; t < n; ++t) pairs.push_back({static_cast<std::int32_t>(u), test[t].item, test[t].rating});
  }
  if (n_skipped_users) *n_skipped_users = skipped;
  return rate_items(model, tokenizer, data, memories, vectors, adapter_of_user, pairs, options);
}

}  // namespace personas
