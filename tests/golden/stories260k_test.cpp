// The real pretrained stories260K (llama2.c), converted by convert_llama2c,
// must greedily generate exactly the published 200 tokens and text, and match
// the fp64 reference logits of its first four positions.
// Data: ../shared/data/stories260K (skips when absent).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "backend/cpu/cpu_backend.h"
#include "core/fs.h"
#include "model/convert.h"
#include "model/lora_model.h"
#include "model/tokenizer.h"
#include "support/test_support.h"

namespace personas {
namespace {

std::vector<std::int32_t> read_ids(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::int32_t> ids;
  for (std::int32_t id; in >> id;) ids.push_back(id);
  return ids;
}

TEST(Stories260K, GreedyGenerationReproducesThePublishedTokensAndText) {
  PERSONAS_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  const fs::path dir = bin.parent_path();
  const ConvertedModel converted = convert_llama2c(bin, dir / "tok512.model");
  CpuBackend cpu;
  LoraModel model(converted.weights, cpu, LoraSpec{}, 0);
  const auto expected = read_ids(dir / "expected_greedy_n200_ids.txt");
  ASSERT_EQ(expected.size(), 201u);
  GenerateOptions options;
  options.max_new_tokens = 200;  // llama2.c -n 200: BOS + 200 tokens, no stop
  const auto generated = model.generate(std::vector<std::int32_t>{expected[0]}, options, -1);
  std::vector<std::int32_t> all = {expected[0]};
  all.insert(all.end(), generated.begin(), generated.end());
  EXPECT_EQ(all, expected);

  Tokenizer tokenizer(converted.tokenizer);
  EXPECT_EQ(tokenizer.decode(generated), read_file(dir / "expected_greedy_n200.txt"));
}

TEST(Stories260K, FirstLogitsMatchTheFp64Reference) {
  PERSONAS_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  const fs::path dir = bin.parent_path();
  const auto reference = nlohmann::json::parse(read_file(dir / "reference_logits_first4.json"));
  const ConvertedModel converted = convert_llama2c(bin, dir / "tok512.model");
  CpuBackend cpu;
  LoraModel model(converted.weights, cpu, LoraSpec{}, 0);
  std::vector<std::int32_t> ids;
  std::vector<ScorePosition> positions;
  for (const auto& step : reference["steps"]) {
    ids.push_back(step["input_token"].get<std::int32_t>());
    positions.push_back({0, step["pos"].get<int>()});
  }
  const std::vector<std::vector<std::int32_t>> seqs = {ids};
  auto batch = TokenBatch::from_sequences(seqs, {}, 0);
  batch.adapters = {-1};
  const auto logits = model.logits(batch, positions);
  const std::size_t vocab = 512;
  for (std::size_t p = 0; p < positions.size(); ++p) {
    const auto& ref = reference["steps"][p]["logits"];
    double scale = 0.0, diff = 0.0;
    for (std::size_t j = 0; j < vocab; ++j) {
      scale = std::max(scale, std::abs(ref[j].get<double>()));
      diff = std::max(diff, std::abs(ref[j].get<double>() - logits[p * vocab + j]));
    }
    EXPECT_LT(diff / scale, 1e-5) << "position " << p;  // the reference has 7 significant digits
    EXPECT_EQ(argmax(std::span<const float>(logits).subspan(p * vocab, vocab)),
              reference["steps"][p]["argmax"].get<std::int32_t>());
  }
}

}  // namespace
}  // namespace personas
