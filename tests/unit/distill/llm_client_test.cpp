// LlmClient / JsonHttpClient against the loopback fake server: retries on 429
// (Retry-After honoured), 500, timeouts, dropped connections and truncated
// bodies; no retry on 400; invalid UTF-8 repaired; many requests in flight;
// the rate limiter; usage and cost sums.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>

#include "distill/llm_client.h"
#include "support/fake_openai_server.h"

namespace personas {
namespace {

using testing::FakeOpenAiServer;
using testing::FakeRequest;
using testing::FakeResponse;
using testing::chat_completion_body;

HttpClientOptions fast_options(const FakeOpenAiServer& server) {
  HttpClientOptions o;
  o.base_url = server.base_url();
  o.api_key = "sk-test-secret";
  o.max_in_flight = 8;
  o.connect_timeout_s = 2;
  o.timeout_s = 2;
  o.max_attempts = 4;
  o.backoff_initial_s = 0.01;
  o.backoff_max_s = 2;
  return o;
}

std::vector<ChatMessage> hello() { return {{"system", "be brief"}, {"user", "hello"}}; }

FakeResponse ok(const std::string& content) { return {200, chat_completion_body(content, 7, 3), {}, 0, FakeResponse::Fault::none}; }

TEST(LlmClient, SendsTheOpenAiRequestAndReadsTheAnswer) {
  FakeOpenAiServer server([](const FakeRequest&) { return ok("hi there"); });
  LlmClient client(fast_options(server), "test-model", {1.0, 2.0});
  ChatOptions opts;
  opts.temperature = 0.5;
  opts.max_tokens = 77;
  opts.seed = 42;
  auto r = client.chat(hello(), opts);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.text, "hi there");
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.prompt_tokens, 7);
  EXPECT_EQ(r.completion_tokens, 3);
  EXPECT_EQ(r.attempts, 1);
  auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].path, "/v1/chat/completions");
  EXPECT_EQ(seen[0].authorization, "Bearer sk-test-secret");
  auto body = nlohmann::json::parse(seen[0].body);
  EXPECT_EQ(body["model"], "test-model");
  EXPECT_EQ(body["max_tokens"], 77);
  EXPECT_EQ(body["seed"], 42);
  EXPECT_DOUBLE_EQ(body["temperature"].get<double>(), 0.5);
  ASSERT_EQ(body["messages"].size(), 2u);
  EXPECT_EQ(body["messages"][1]["content"], "hello");
  EXPECT_EQ(client.usage().calls, 1);
  EXPECT_NEAR(client.usage().cost_usd, (7 * 1.0 + 3 * 2.0) / 1e6, 1e-12);
}

TEST(LlmClient, RetriesA429AndHonoursRetryAfter) {
  FakeOpenAiServer server([](const FakeRequest& req) {
    if (req.index == 0) return FakeResponse{429, R"({"error":{"message":"slow down"}})", {{"Retry-After", "1"}}, 0, FakeResponse::Fault::none};
    return ok("after the wait");
  });
  LlmClient client(fast_options(server), "m");
  auto start = std::chrono::steady_clock::now();
  auto r = client.chat(hello(), {});
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.text, "after the wait");
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(server.requests(), 2);
  EXPECT_GE(waited, 0.95);  // Retry-After: 1, although the backoff alone would be 10 ms
  EXPECT_EQ(client.http_stats().rate_limited, 1);
  EXPECT_EQ(client.http_stats().retries, 1);
}

TEST(LlmClient, RetriesServerErrorsTimeoutsDropsAndTruncatedBodies) {
  // Each conversation (keyed by its user message) sees a different fault first.
  std::mutex mutex;
  std::map<std::string, int> tries;
  FakeOpenAiServer server([&](const FakeRequest& req) {
    auto body = nlohmann::json::parse(req.body);
    std::string key = body["messages"][1]["content"];
    int n;
    {
      std::lock_guard lock(mutex);
      n = tries[key]++;
    }
    FakeResponse fault;
    if (key == "500") fault = {500, "oops", {}, 0, FakeResponse::Fault::none};
    if (key == "503") fault = {503, "busy", {}, 0, FakeResponse::Fault::none};
    if (key == "slow") fault = {200, chat_completion_body("too late"), {}, 3.0, FakeResponse::Fault::none};
    if (key == "drop") fault = {200, "", {}, 0, FakeResponse::Fault::drop_connection};
    if (key == "truncated") fault = {200, chat_completion_body("cut"), {}, 0, FakeResponse::Fault::truncate_body};
    if (key == "notjson") fault = {200, "{\"choices\": [", {}, 0, FakeResponse::Fault::none};
    if (n < 2) return fault;  // two faults, then the answer
    return ok("answer to " + key);
  });
  auto options = fast_options(server);
  options.timeout_s = 0.5;
  LlmClient client(options, "m");
  std::vector<std::string> keys = {"500", "503", "slow", "drop", "truncated", "notjson"};
  std::map<std::string, ChatResult> results;
  for (const auto& k : keys)
    client.chat_async({{"system", "s"}, {"user", k}}, {}, [&results, k](ChatResult&& r) { results[k] = std::move(r); });
  client.run();
  for (const auto& k : keys) {
    ASSERT_TRUE(results.count(k)) << k;
    EXPECT_TRUE(results[k].ok()) << k << ": " << results[k].error;
    EXPECT_EQ(results[k].text, "answer to " + k);
    EXPECT_EQ(tries[k], 3) << k;
    // libcurl itself resends once when a reused keep-alive connection dies
    // before any answer, so a dropped connection may cost us one attempt less.
    if (k == "drop")
      EXPECT_GE(results[k].attempts, 2) << k;
    else
      EXPECT_EQ(results[k].attempts, 3) << k;
  }
  EXPECT_EQ(server.requests(), 3 * static_cast<int>(keys.size()));
  EXPECT_GE(client.http_stats().retries, 2 * static_cast<std::int64_t>(keys.size()) - 1);
}

TEST(LlmClient, GivesUpAfterMaxAttemptsWithAReasonAndDoesNotThrow) {
  FakeOpenAiServer server([](const FakeRequest&) { return FakeResponse{500, "down", {}, 0, FakeResponse::Fault::none}; });
  LlmClient client(fast_options(server), "m");
  auto r = client.chat(hello(), {});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.attempts, 4);
  EXPECT_EQ(server.requests(), 4);
  EXPECT_NE(r.error.find("HTTP 500"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("gave up after 4 attempts"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("sk-test-secret"), std::string::npos);
}

TEST(LlmClient, DoesNotRetryAClientError) {
  FakeOpenAiServer server([](const FakeRequest&) {
    return FakeResponse{400, R"({"error":{"message":"bad model"}})", {}, 0, FakeResponse::Fault::none};
  });
  LlmClient client(fast_options(server), "m");
  auto r = client.chat(hello(), {});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(server.requests(), 1);
  EXPECT_NE(r.error.find("bad model"), std::string::npos) << r.error;
}

TEST(LlmClient, ConnectionRefusedIsRetriedThenReported) {
  int port;
  {
    FakeOpenAiServer gone([](const FakeRequest&) { return ok("x"); });
    port = gone.port();
  }
  HttpClientOptions o;
  o.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  o.max_attempts = 3;
  o.backoff_initial_s = 0.01;
  LlmClient client(o, "m");
  auto r = client.chat(hello(), {});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.attempts, 3);
  EXPECT_NE(r.error.find("transport"), std::string::npos) << r.error;
}

TEST(LlmClient, InvalidUtf8IsReplacedNotFatal) {
  // Raw bytes in the JSON string: the fake's JSON writer would drop them.
  std::string body = R"({"choices":[{"message":{"role":"assistant","content":"caf)" "\xC3 bad \xFF end"
                     R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}})";
  FakeOpenAiServer server([body](const FakeRequest&) { return FakeResponse{200, body, {}, 0, FakeResponse::Fault::none}; });
  LlmClient client(fast_options(server), "m");
  auto r = client.chat(hello(), {});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.text, "caf\xEF\xBF\xBD bad \xEF\xBF\xBD end");
  EXPECT_EQ(r.attempts, 1);
}

TEST(LlmClient, KeepsManyRequestsInFlight) {
  FakeOpenAiServer server([](const FakeRequest&) {
    FakeResponse r = ok("slow ok");
    r.delay_s = 0.2;
    return r;
  });
  auto o = fast_options(server);
  o.max_in_flight = 16;
  LlmClient client(o, "m");
  int done = 0;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 32; ++i) client.chat_async(hello(), {}, [&done](ChatResult&& r) { done += r.ok(); });
  client.run();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(done, 32);
  EXPECT_LT(seconds, 1.2);  // 2 waves of 16 x 0.2 s, far from 32 x 0.2 s
  EXPECT_EQ(client.usage().prompt_tokens, 32 * 7);
  EXPECT_EQ(client.usage().completion_tokens, 32 * 3);
}

TEST(LlmClient, RequestsPerMinuteLimiterPacesStarts) {
  FakeOpenAiServer server([](const FakeRequest&) { return ok("x"); });
  auto o = fast_options(server);
  o.requests_per_min = 600;  // 10/s with a burst of 100
  o.max_in_flight = 64;
  LlmClient client(o, "m");
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 110; ++i) client.chat_async(hello(), {}, [](ChatResult&&) {});
  client.run();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // 100 go at once, the last 10 at 10/s.
  EXPECT_GE(seconds, 0.9);
  EXPECT_LT(seconds, 3.0);
  EXPECT_EQ(server.requests(), 110);
}

TEST(LlmClient, SanitizeUtf8KeepsValidText) {
  EXPECT_EQ(sanitize_utf8("plain é ü 日本"), "plain é ü 日本");
  EXPECT_EQ(sanitize_utf8(std::string("a\xC0\xAF" "b")), "a\xEF\xBF\xBD\xEF\xBF\xBD" "b");
}

}  // namespace
}  // namespace personas
