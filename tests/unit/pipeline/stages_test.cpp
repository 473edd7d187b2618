#include <gtest/gtest.h>

#include "core/strings.h"
#include "pipeline/config.h"
#include "pipeline/stages.h"

namespace personas {
namespace {

struct Hashes {
  Config config;
  ConfigSchema schema;
  Hashes() { config.describe(schema); }
  std::string of(const std::string& stage) { return stage_config_hash(schema, stage); }
};

TEST(StageHashes, ChainedSoAnUpstreamChangeRedoesEveryLaterStage) {
  Hashes a, b;
  ASSERT_EQ(b.schema.set("data.n_users", "77"), "");
  for (const auto& stage : pipeline_stages()) EXPECT_NE(a.of(stage.name), b.of(stage.name)) << stage.name;
  Hashes c;
  ASSERT_EQ(c.schema.set("cluster.k_max", "9"), "");
  EXPECT_EQ(a.of("embed"), c.of("embed"));
  EXPECT_NE(a.of("cluster"), c.of("cluster"));
}

// The local distillation provider generates with the [model] checkpoint, so
// [model] belongs to distill's hash then (and only then: a new model must not
// redo an offline or endpoint distillation).
TEST(StageHashes, DistillDependsOnTheModelOnlyWithTheLocalProvider) {
  for (const std::string provider : {"offline", "local"}) {
    Hashes a, b;
    ASSERT_EQ(a.schema.set("distill.provider", provider), "");
    ASSERT_EQ(b.schema.set("distill.provider", provider), "");
    ASSERT_EQ(b.schema.set("model.path", "/models/other.h5"), "");
    EXPECT_EQ(a.of("prepare"), b.of("prepare"));
    if (provider == "local")
      EXPECT_NE(a.of("distill"), b.of("distill"));
    else
      EXPECT_EQ(a.of("distill"), b.of("distill"));
    EXPECT_NE(a.of("model"), b.of("model")) << provider;
  }
}

// The endpoint's address, speed and limit keys do not change what distill
// writes: moving to another host or port keeps distill (and every later
// stage) done. The model name and the prompts do change it.
TEST(StageHashes, TheEndpointsAddressIsNotPartOfDistillsHash) {
  Hashes a, b;
  ASSERT_EQ(a.schema.set("distill.base_url", "http://127.0.0.1:8000/v1"), "");
  ASSERT_EQ(a.schema.set("distill.model", "phi-3"), "");
  ASSERT_EQ(b.schema.set("distill.base_url", "http://gpu-node-7.cluster:8001/v1"), "");
  ASSERT_EQ(b.schema.set("distill.model", "phi-3"), "");
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"distill.in_flight", "64"}, {"distill.timeout_s", "30"}, {"distill.max_attempts", "2"},
           {"distill.requests_per_min", "600"}, {"distill.price_prompt_per_mtok", "0.15"},
           {"distill.users_per_chunk", "100"}, {"distill.api_key_env", "VLLM_KEY"}})
    ASSERT_EQ(b.schema.set(key, value), "") << key;
  for (const auto& stage : pipeline_stages()) EXPECT_EQ(a.of(stage.name), b.of(stage.name)) << stage.name;

  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"distill.model", "llama-3-8b"}, {"distill.prompts", "configs/prompts/other"},
           {"distill.temperature", "0.7"}, {"distill.batch_size", "5"}}) {
    Hashes c;
    ASSERT_EQ(c.schema.set("distill.base_url", "http://127.0.0.1:8000/v1"), "");
    ASSERT_EQ(c.schema.set("distill.model", "phi-3"), "");
    ASSERT_EQ(c.schema.set(key, value), "") << key;
    EXPECT_NE(a.of("distill"), c.of("distill")) << key;
    EXPECT_EQ(a.of("prepare"), c.of("prepare")) << key;
  }
  // Set or not, base_url picks the provider under distill.provider = auto.
  Hashes offline;
  EXPECT_NE(offline.of("distill"), a.of("distill"));
}

// Neutral keys are hashed at their default value, so a configuration that
// leaves them alone hashes as it did before they were neutral: earlier runs'
// DONE markers stay valid.
TEST(StageHashes, NeutralKeysAtTheirDefaultsKeepTheEarlierHash) {
  Hashes h;
  const auto before = hash_hex(h.of("prepare") + "\n[stage distill]\n" + h.schema.to_ini({"distill"}, false));
  EXPECT_EQ(h.of("distill"), before);
}

// A key added to a section after runs were made (model.tokenizer_added) is
// left out of the hash while it holds its default, so those runs stay done;
// set away from it, it redoes the stage and every later one.
TEST(StageHashes, AnAddedKeyAtItsDefaultHashesAsBeforeItExisted) {
  Hashes h;
  std::string text = h.schema.to_ini({"model"}, false);
  const auto at = text.find("tokenizer_added = auto\n");
  ASSERT_NE(at, std::string::npos);
  text.erase(at, std::string("tokenizer_added = auto\n").size());
  EXPECT_EQ(h.of("model"), hash_hex(h.of("distill") + "\n[stage model]\n" + text));
  Hashes phi3;
  ASSERT_EQ(phi3.schema.set("model.tokenizer_added", "phi3"), "");
  EXPECT_EQ(h.of("distill"), phi3.of("distill"));
  for (const std::string stage : {"model", "embed", "train", "eval"}) EXPECT_NE(h.of(stage), phi3.of(stage)) << stage;
}

// Keys the caller names neutral (train's global phase: the warm-start keys;
// an agent's journal: eval.agents) keep that hash whatever they hold, while
// the stage's own hash still changes with them; an added key named neutral is
// left out even when set.
TEST(StageHashes, ExtraNeutralKeysKeepAPartOfAStageDone) {
  const std::vector<std::string> warm = {"train.warm_lr", "train.warm_max_steps"};
  Hashes a, b;
  ASSERT_EQ(b.schema.set("train.warm_max_steps", "15"), "");
  ASSERT_EQ(b.schema.set("train.warm_lr", "1e-4"), "");
  EXPECT_NE(a.of("train"), b.of("train"));
  EXPECT_EQ(stage_config_hash(a.schema, "train", warm), stage_config_hash(b.schema, "train", warm));
  EXPECT_EQ(a.of("train"), stage_config_hash(a.schema, "train", warm)) << "at their defaults nothing changes";
  Hashes c;
  ASSERT_EQ(c.schema.set("train.lr", "1e-4"), "");
  EXPECT_NE(stage_config_hash(a.schema, "train", warm), stage_config_hash(c.schema, "train", warm));
  Hashes d;
  ASSERT_EQ(d.schema.set("eval.agents", "global"), "");
  EXPECT_NE(a.of("eval"), d.of("eval"));
  EXPECT_EQ(stage_config_hash(a.schema, "eval", {"eval.agents"}), stage_config_hash(d.schema, "eval", {"eval.agents"}));
}

}  // namespace
}  // namespace personas
