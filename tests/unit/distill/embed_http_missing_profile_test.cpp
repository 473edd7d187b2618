// Users without a distilled profile get the zero vector from `personas embed`
// whatever the embedder (docs/clustering.md), here the HTTP embedder against
// the fake endpoint of these tests: an endpoint embeds the " " that stands for
// an empty text as a real vector, so those users used to get one (issue 18).
// Their empty texts are not sent at all.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "comm/comm.h"
#include "distill/memories.h"
#include "embed/embed_stage.h"
#include "support/fake_openai_server.h"
#include "pipeline/config.h"
#include "tiny_dataset.h"

namespace personas {
namespace {

using testing::FakeOpenAiServer;
using testing::FakeRequest;
using testing::FakeResponse;

TEST(EmbedHttp, UsersWithoutProfileGetTheZeroVector) {
  // Every input gets a non-zero vector that depends on its length (" " included).
  FakeOpenAiServer server([](const FakeRequest& request) {
    const auto body = nlohmann::json::parse(request.body);
    nlohmann::json data = nlohmann::json::array();
    int index = 0;
    for (const auto& input : body.at("input")) {
      const double length = static_cast<double>(input.get<std::string>().size());
      data.push_back({{"index", index++}, {"embedding", {1.0, length, 2.0, 0.5}}});
    }
    return FakeResponse{200, nlohmann::json{{"data", data}}.dump(), {{"Content-Type", "application/json"}}, 0,
                        FakeResponse::Fault::none};
  });
  Config config;
  config.embed.embedder = EmbedderKind::http;
  config.embed.base_url = server.base_url();
  config.embed.features = ProfileFeatures::text;
  config.embed.items = false;
  config.embed.notes = false;
  config.embed.max_attempts = 1;
  const Dataset ds = testing::tiny_dataset(6);
  std::vector<UserMemory> memories;
  for (std::size_t i = 0; i < ds.users.size(); i += 2) {  // users 0, 2, 4 have a profile
    UserMemory m;
    m.user_id = ds.users[i].id;
    m.profile = "I like films number " + std::to_string(i);
    memories.push_back(m);
  }
  auto comm = make_local_comm();
  const EmbedResult r = embed_users(embed_settings(config), ds, &memories, *comm);
  EXPECT_EQ(r.users_without_profile, 3);
  const UserVectors& v = r.profiles;
  ASSERT_EQ(v.dim, 4);
  ASSERT_EQ(v.vectors.size(), ds.users.size() * 4);
  for (std::size_t i = 0; i < ds.users.size(); ++i) {
    double norm = 0;
    for (int t = 0; t < 4; ++t) norm += std::pow(v.vectors[i * 4 + static_cast<std::size_t>(t)], 2);
    if (i % 2 == 0)
      EXPECT_NEAR(norm, 1.0, 1e-6) << "user " << i << " has a profile";
    else
      EXPECT_EQ(norm, 0.0) << "user " << i << " has no profile: the zero vector";
  }
  for (const auto& request : server.seen())
    for (const auto& input : nlohmann::json::parse(request.body).at("input"))
      EXPECT_NE(input.get<std::string>(), " ") << "an empty profile was sent to the endpoint";
}

}  // namespace
}  // namespace personas
