#include <gtest/gtest.h>

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

}  // namespace
}  // namespace personas
