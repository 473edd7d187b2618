#include "distill/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <mutex>
#include <vector>

#include "core/errors.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/strings.h"

namespace personas {

using Clock = std::chrono::steady_clock;

const char* post_status_name(PostStatus status) {
  switch (status) {
    case PostStatus::ok: return "ok";
    case PostStatus::http_error: return "http_error";
    case PostStatus::transport: return "transport";
    case PostStatus::bad_body: return "bad_body";
  }
  return "?";
}

std::string sanitize_utf8(std::string_view s) {
  if (is_valid_utf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 16);
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool good = len > 0 && i + len <= n;
    for (std::size_t k = 1; good && k < len; ++k) good = (p[i + k] & 0xC0) == 0x80;
    if (good && len > 1 && !is_valid_utf8(s.substr(i, len))) good = false;  // overlongs, surrogates
    if (good) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

namespace {

void global_curl_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto code = curl_global_init(CURL_GLOBAL_DEFAULT);
    PERSONAS_CHECK(code == CURLE_OK, internal, "curl_global_init failed: {}", curl_easy_strerror(code));
  });
}

// A token bucket; rate 0 = unlimited. The capacity (burst) is ten seconds'
// worth, at least one unit, so a per-minute budget is not spent in one burst.
struct Bucket {
  double rate_per_s = 0, capacity = 0, level = 0;
  Clock::time_point last = Clock::now();
  explicit Bucket(double per_min) : rate_per_s(per_min / 60.0), capacity(std::max(1.0, per_min / 6.0)), level(capacity) {}
  bool unlimited() const { return rate_per_s <= 0; }
  void refill(Clock::time_point now) {
    if (unlimited()) return;
    level = std::min(capacity, level + rate_per_s * std::chrono::duration<double>(now - last).count());
    last = now;
  }
  // Seconds until `n` units may be taken (0 = now). A request larger than the
  // burst waits for a full bucket instead of forever.
  double wait_s(double n, Clock::time_point now) {
    if (unlimited()) return 0;
    refill(now);
    double need = std::min(n, capacity);
    return level >= need ? 0.0 : (need - level) / rate_per_s;
  }
  void take(double n) {
    if (!unlimited()) level -= n;
  }
};

bool retryable_curl_error(CURLcode code) {
  switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_NOT_BUILT_IN:
    case CURLE_OUT_OF_MEMORY:
      return false;
    default:
      return true;
  }
}

bool retryable_http(long code) { return code == 429 || code == 408 || (code >= 500 && code <= 599); }

// "Retry-After: 3" or an HTTP date; seconds from now, or -1.
double parse_retry_after(std::string_view value) {
  value = trim(value);
  if (value.empty()) return -1;
  try {
    std::size_t used = 0;
    double s = std::stod(std::string(value), &used);
    if (used == value.size()) return std::max(0.0, s);
  } catch (...) {
  }
  auto when = curl_getdate(std::string(value).c_str(), nullptr);
  if (when < 0) return -1;
  return std::max(0.0, static_cast<double>(when - std::time(nullptr)));
}

}  // namespace

struct JsonHttpClient::Impl {
  struct Request {
    std::string url;
    std::string body;
    std::int64_t tokens = 0;
    Done done;
    int attempts = 0;
    Clock::time_point first_start{};
    // Per attempt:
    std::string response;
    double retry_after_s = -1;
    CURL* easy = nullptr;
  };

  JsonHttpClient& owner;
  CURLM* multi = nullptr;
  curl_slist* headers = nullptr;
  std::deque<Request*> ready;
  std::multimap<Clock::time_point, Request*> delayed;
  std::vector<CURL*> idle_handles;
  std::vector<Request*> in_flight;  // started, not yet completed
  int running = 0;  // transfers added to the multi handle
  Bucket requests_bucket, tokens_bucket;
  std::uint64_t jitter_state;  // SplitMix64: the same jitter on every standard library

  Impl(JsonHttpClient& o)
      : owner(o),
        requests_bucket(o.options_.requests_per_min),
        tokens_bucket(o.options_.tokens_per_min),
        jitter_state(o.options_.jitter_seed) {
    global_curl_init();
    multi = curl_multi_init();
    PERSONAS_CHECK(multi != nullptr, internal, "curl_multi_init failed");
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(o.options_.max_in_flight));
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    if (!o.options_.api_key.empty())
      headers = curl_slist_append(headers, ("Authorization: Bearer " + o.options_.api_key).c_str());
  }

  ~Impl() {
    for (auto& [when, r] : delayed) delete r;
    for (auto* r : ready) delete r;
    // Left in flight when a callback threw out of run(): detach and free.
    for (auto* r : in_flight) {
      curl_multi_remove_handle(multi, r->easy);
      curl_easy_cleanup(r->easy);
      delete r;
    }
    for (auto* h : idle_handles) curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    curl_multi_cleanup(multi);
  }

  static size_t on_body(char* data, size_t size, size_t n, void* user) {
    static_cast<Request*>(user)->response.append(data, size * n);
    return size * n;
  }
  static size_t on_header(char* data, size_t size, size_t n, void* user) {
    std::string_view line(data, size * n);
    constexpr std::string_view key = "retry-after:";
    if (line.size() > key.size() && to_lower(std::string(line.substr(0, key.size()))) == key)
      static_cast<Request*>(user)->retry_after_s = parse_retry_after(line.substr(key.size()));
    return size * n;
  }

  void start(Request* r) {
    const auto& o = owner.options_;
    CURL* h = nullptr;
    if (!idle_handles.empty()) {
      h = idle_handles.back();
      idle_handles.pop_back();
      curl_easy_reset(h);
    } else {
      h = curl_easy_init();
      PERSONAS_CHECK(h != nullptr, internal, "curl_easy_init failed");
    }
    r->easy = h;
    r->response.clear();
    r->retry_after_s = -1;
    if (r->attempts == 0) r->first_start = Clock::now();
    ++r->attempts;
    ++owner.stats_.attempts;
    curl_easy_setopt(h, CURLOPT_URL, r->url.c_str());
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r->body.size()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Impl::on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &Impl::on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_PRIVATE, r);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout_s * 1000));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout_s * 1000));
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "personas-distill/1");
    requests_bucket.take(1);
    tokens_bucket.take(static_cast<double>(r->tokens));
    curl_multi_add_handle(multi, h);
    in_flight.push_back(r);
    ++running;
  }

  double backoff_s(const Request& r) {
    const auto& o = owner.options_;
    if (r.retry_after_s >= 0) return std::min(r.retry_after_s, o.backoff_max_s);
    double base = std::min(o.backoff_max_s, o.backoff_initial_s * std::pow(2.0, r.attempts - 1));
    return base * (0.5 + 0.5 * unit_interval(splitmix64(jitter_state)));
  }

  void finish(Request* r, PostResult&& result) {
    result.attempts = r->attempts;
    result.seconds = std::chrono::duration<double>(Clock::now() - r->first_start).count();
    ++owner.stats_.requests;
    if (!result.ok()) ++owner.stats_.failed;
    auto done = std::move(r->done);
    delete r;
    done(std::move(result));
  }

  void completed(CURL* h, CURLcode code) {
    Request* r = nullptr;
    curl_easy_getinfo(h, CURLINFO_PRIVATE, reinterpret_cast<char**>(&r));
    curl_multi_remove_handle(multi, h);
    in_flight.erase(std::find(in_flight.begin(), in_flight.end(), r));
    --running;
    idle_handles.push_back(h);
    r->easy = nullptr;

    PostResult result;
    bool retry = false;
    if (code != CURLE_OK) {
      result.status = PostStatus::transport;
      result.error = fmt::format("{} ({})", curl_easy_strerror(code), static_cast<int>(code));
      retry = retryable_curl_error(code);
    } else {
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &result.http_code);
      std::string text = sanitize_utf8(r->response);
      auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
      bool is_json = !parsed.is_discarded();
      if (is_json) result.body = std::move(parsed);
      if (result.http_code >= 200 && result.http_code < 300) {
        if (is_json) {
          result.status = PostStatus::ok;
        } else {
          result.status = PostStatus::bad_body;
          result.error = fmt::format("HTTP {} with a body that is not JSON ({} bytes)", result.http_code, text.size());
          retry = true;
        }
      } else {
        result.status = PostStatus::http_error;
        std::string detail = is_json && result.body.contains("error") ? result.body["error"].dump() : text.substr(0, 200);
        result.error = fmt::format("HTTP {}: {}", result.http_code, detail);
        retry = retryable_http(result.http_code);
        if (result.http_code == 429) ++owner.stats_.rate_limited;
      }
    }
    if (retry && r->attempts < owner.options_.max_attempts) {
      double wait = backoff_s(*r);
      plog::debug("POST {} attempt {} failed ({}); retrying in {:.2f}s", r->url, r->attempts, result.error, wait);
      ++owner.stats_.retries;
      delayed.emplace(Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait)), r);
      return;
    }
    if (!result.ok() && retry)
      result.error = fmt::format("gave up after {} attempts: {}", r->attempts, result.error);
    finish(r, std::move(result));
  }

  // Starts what may start; returns seconds until the limiter lets the next one go.
  double start_ready() {
    auto now = Clock::now();
    while (!delayed.empty() && delayed.begin()->first <= now) {
      ready.push_back(delayed.begin()->second);
      delayed.erase(delayed.begin());
    }
    while (!ready.empty() && running < owner.options_.max_in_flight) {
      double wait = std::max(requests_bucket.wait_s(1, now), tokens_bucket.wait_s(static_cast<double>(ready.front()->tokens), now));
      if (wait > 0) return wait;
      auto* r = ready.front();
      ready.pop_front();
      start(r);
    }
    return 1.0;
  }

  void run() {
    while (running > 0 || !ready.empty() || !delayed.empty()) {
      if (owner.options_.poll) owner.options_.poll();
      double limiter_wait = start_ready();
      int still_running = 0;
      curl_multi_perform(multi, &still_running);
      bool any_done = false;
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        any_done = true;
        completed(msg->easy_handle, msg->data.result);
      }
      if (any_done) continue;  // callbacks may have queued work: start it first
      double timeout = std::min(limiter_wait, 1.0);
      if (!delayed.empty())
        timeout = std::min(timeout, std::chrono::duration<double>(delayed.begin()->first - Clock::now()).count());
      if (!ready.empty() && running < owner.options_.max_in_flight && limiter_wait <= 0) timeout = 0;
      int timeout_ms = static_cast<int>(std::ceil(std::max(0.0, timeout) * 1000));
      if (timeout_ms > 0) curl_multi_poll(multi, nullptr, 0, timeout_ms, nullptr);
    }
  }
};

JsonHttpClient::JsonHttpClient(HttpClientOptions options) : options_(std::move(options)) {
  PERSONAS_CHECK(options_.max_in_flight >= 1, config, "max_in_flight {} must be >= 1", options_.max_in_flight);
  PERSONAS_CHECK(options_.max_attempts >= 1, config, "max_attempts {} must be >= 1", options_.max_attempts);
  while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
  impl_ = std::make_unique<Impl>(*this);
}

JsonHttpClient::~JsonHttpClient() = default;

void JsonHttpClient::post(const std::string& path, const nlohmann::json& body, std::int64_t token_estimate, Done done) {
  auto* r = new Impl::Request;
  r->url = options_.base_url + (path.empty() || path.front() == '/' ? "" : "/") + path;
  r->body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r->tokens = std::max<std::int64_t>(0, token_estimate);
  r->done = std::move(done);
  impl_->ready.push_back(r);
}

void JsonHttpClient::run() { impl_->run(); }

void JsonHttpClient::charge_tokens(std::int64_t tokens) { impl_->tokens_bucket.take(static_cast<double>(tokens)); }

}  // namespace personas
