// A generic "POST JSON to a path" client for OpenAI-compatible endpoints
// (chat completions here; /embeddings for the embed room): libcurl multi with
// many requests in flight on one thread, connect and total timeouts, bounded
// retries with exponential backoff and jitter on 429, 408, 5xx, timeouts and
// connection errors, Retry-After honoured, and a per-rank limiter on requests
// per minute and tokens per minute. TLS verification stays on (curl default).
//
// Use: post(...) any number of requests with a completion callback, then run()
// until all of them (and any posted from inside callbacks) have finished.
// Nothing here throws for one request's failure: the callback gets a status.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace personas {

struct HttpClientOptions {
  std::string base_url;            // ".../v1"; paths are appended ("/chat/completions")
  std::string api_key;             // sent as "Authorization: Bearer"; never logged ("" = none)
  int max_in_flight = 16;
  double connect_timeout_s = 10.0;
  double timeout_s = 120.0;
  int max_attempts = 6;
  double backoff_initial_s = 1.0;
  double backoff_max_s = 60.0;
  double requests_per_min = 0;     // 0 = no limit
  double tokens_per_min = 0;       // 0 = no limit
  std::uint64_t jitter_seed = 1;   // retry jitter only; never changes results
  // Called from run() at least once a second, also while nothing arrives;
  // it may throw to leave run() (a graceful stop: requests in flight are dropped).
  std::function<void()> poll;
};

enum class PostStatus {
  ok,           // 2xx with a JSON body
  http_error,   // a non-retryable HTTP status (400, 401, 404, ...), or retryable ones beyond max_attempts
  transport,    // timeouts / connection errors beyond max_attempts, or a TLS/URL error
  bad_body,     // 2xx whose body is not JSON, beyond max_attempts
};
const char* post_status_name(PostStatus status);

struct PostResult {
  PostStatus status = PostStatus::ok;
  long http_code = 0;          // last HTTP status (0 when none arrived)
  nlohmann::json body;         // parsed body (ok, and error bodies that are JSON)
  std::string error;           // what went wrong on the last attempt ("" when ok)
  int attempts = 0;
  double seconds = 0;          // from first attempt start to completion
  bool ok() const { return status == PostStatus::ok; }
};

struct HttpClientStats {
  std::int64_t requests = 0;   // post() calls completed
  std::int64_t attempts = 0;   // HTTP attempts made (requests + retries)
  std::int64_t retries = 0;
  std::int64_t failed = 0;     // requests that ended with a status other than ok
  std::int64_t rate_limited = 0;  // 429 answers seen
};

class JsonHttpClient {
 public:
  using Done = std::function<void(PostResult&&)>;
  explicit JsonHttpClient(HttpClientOptions options);
  ~JsonHttpClient();
  JsonHttpClient(const JsonHttpClient&) = delete;
  JsonHttpClient& operator=(const JsonHttpClient&) = delete;

  // Queues a POST of `body` to base_url + path. `token_estimate` is charged to
  // the tokens-per-minute limiter when the request starts (correct it later
  // with charge_tokens once the real usage is known).
  void post(const std::string& path, const nlohmann::json& body, std::int64_t token_estimate, Done done);
  // Drives every queued request to completion; callbacks run on this thread
  // and may post more. Returns when nothing is queued, waiting or in flight.
  void run();
  // Adds (or, negative, refunds) tokens to the limiter's account.
  void charge_tokens(std::int64_t tokens);

  const HttpClientStats& stats() const { return stats_; }
  const HttpClientOptions& options() const { return options_; }

 private:
  struct Impl;
  HttpClientOptions options_;
  HttpClientStats stats_;
  std::unique_ptr<Impl> impl_;
};

// Replaces invalid UTF-8 sequences by U+FFFD so the bytes can be parsed and
// written as JSON (endpoints occasionally send broken bytes).
std::string sanitize_utf8(std::string_view bytes);

}  // namespace personas
