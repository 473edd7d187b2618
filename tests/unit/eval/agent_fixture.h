// A tiny agent world for the eval tests: a sentencepiece tokenizer trained on
// the spot, a random 2-layer base with two LoRA adapters, 16 items and 3 users
// with memories (profiles and one note per training item) of unequal length.
#pragma once

#include <fmt/format.h>

#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "eval/agent_scoring.h"
#include "model/init_model.h"
#include "support/test_support.h"

namespace personas {

struct AgentFixture {
  testing::TempDir dir{"personas-agent-prefix"};
  std::unique_ptr<Tokenizer> tokenizer;
  CpuBackend cpu;
  std::unique_ptr<LoraModel> model;
  Dataset data;
  std::vector<UserMemory> memories;
  ItemVectors vectors;
  std::vector<int> adapter_of_user;

  AgentFixture() {
    const fs::path corpus = dir / "corpus.txt";
    {
      std::ofstream out(corpus);
      const char* lines[] = {"I rated this movie 4 stars because the story is warm and funny.",
                             "Because I love action movies from the nineties, I gave it 5 stars.",
                             "I dislike horror; dark and slow films rarely work for me, so 1 or 2 stars.",
                             "My profile: I enjoy comedy and drama, and I rate 3 stars more than most viewers.",
                             "PERSONA MEMORIES TASK MOVIE RATING genres average rating from ratings",
                             "Rate the movie below on a scale of 1 to 5. Answer with one digit."};
      for (int rep = 0; rep < 30; ++rep)
        for (auto* l : lines) out << l << " " << rep << "\n";
    }
    SentencePieceTrainOptions so;
    so.vocab_size = 320;
    tokenizer = std::make_unique<Tokenizer>(trained_tokenizer_data(train_sentencepiece(corpus, so)));
    Phi3Config c;
    c.vocab_size = (tokenizer->vocab_size() + 63) / 64 * 64;
    c.hidden_size = 32;
    c.intermediate_size = 48;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.max_position_embeddings = 1024;
    c.bos_token_id = tokenizer->bos_id();
    c.eos_token_id = tokenizer->eos_id();
    c.pad_token_id = tokenizer->pad_id() >= 0 ? tokenizer->pad_id() : 0;
    LoraSpec spec;
    spec.targets = {LoraTarget::q, LoraTarget::k, LoraTarget::v, LoraTarget::o_proj};
    spec.rank = 4;
    model = std::make_unique<LoraModel>(random_weights(c, 5, 0.3), cpu, spec, 2);
    for (int a = 0; a < 2; ++a) {
      std::mt19937_64 rng(static_cast<std::uint64_t>(70 + a));
      std::normal_distribution<float> dist(0.0f, 0.3f);
      std::vector<float> p(static_cast<std::size_t>(model->adapter(a).n_params()));
      for (auto& v : p) v = dist(rng);
      model->adapter(a).from_host(0, p);
    }

    data.source = "test";
    data.genre_names = {"Action", "Comedy", "Drama", "Horror"};
    for (int i = 0; i < 16; ++i)
      data.items.push_back({200 + i, "Movie " + std::to_string(i), 1970 + 3 * i, 1u << (i % 4), 3.0 + (i % 3) * 0.5,
                            4 + i});
    const char* profiles[] = {
        "I enjoy comedies with warm stories and I rate them high; slow dark films bore me and get low marks.",
        "Action from the nineties is my favourite, loud and fast; I rarely like romance or long dramas at all.",
        "I am hard to please."};
    for (int u = 0; u < 3; ++u) {
      User user;
      user.id = 500 + u;
      user.first = static_cast<std::int64_t>(data.interactions.size());
      user.n_train = 6;
      user.n_test = 4 + 3 * u;
      for (int k = 0; k < user.n_train + user.n_test; ++k)
        data.interactions.push_back({(u * 5 + k * 3) % 16, static_cast<float>(1 + (u + k) % 5), 1000 + k});
      data.users.push_back(user);
      UserMemory m;
      m.user_id = user.id;
      m.activity = "I watch a lot.";
      m.conformity = "I follow the crowd.";
      m.diversity = "I like few genres.";
      m.profile = profiles[u];
      for (const auto& x : data.train_of(data.users.back()))
        m.notes.push_back({x.item, x.rating,
                           fmt::format("I rated {} as {} because {}", data.items[static_cast<std::size_t>(x.item)].title,
                                       static_cast<int>(x.rating), u == 1 && x.item % 2 ? "it is loud and fast and long, the kind of film I remember for its long chases" : "it is fine")});
      memories.push_back(std::move(m));
    }
    data.n_users_total = 3;
    vectors = item_vectors_from_features(data);
    adapter_of_user = {0, 1, -1};
  }

  AgentScoringOptions options(bool sharing) const {
    AgentScoringOptions o;
    o.mode = AgentMode::expected;
    o.batch_rows = 3;  // several passes per user
    o.prefix_sharing = sharing;
    o.sample.style = PromptStyle::paper;
    o.sample.retrieve_k = 2;
    o.sample.max_len = max_len;
    return o;
  }
  int max_len = 1024;
};

}  // namespace personas
