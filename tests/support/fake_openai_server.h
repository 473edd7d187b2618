// A loopback fake of an OpenAI-compatible endpoint for tests and benchmarks:
// listens on 127.0.0.1 at a free port, one thread per connection (HTTP/1.1
// keep-alive), and answers each POST with what a scripted handler returns:
// a status, a body, headers, a delay, or a fault (drop the connection, send a
// truncated body). Counts the requests it saw.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace personas::testing {

struct FakeRequest {
  std::string method;
  std::string path;
  std::string body;
  std::string authorization;  // the Authorization header as received
  int index = 0;              // 0-based order of arrival
};

struct FakeResponse {
  enum class Fault { none, drop_connection, truncate_body };
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  double delay_s = 0;
  Fault fault = Fault::none;
};

// The body of a chat completion whose message content is `content`.
std::string chat_completion_body(const std::string& content, int prompt_tokens = 10, int completion_tokens = 20,
                                 const std::string& finish_reason = "stop");

class FakeOpenAiServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;
  explicit FakeOpenAiServer(Handler handler);
  ~FakeOpenAiServer();
  FakeOpenAiServer(const FakeOpenAiServer&) = delete;
  FakeOpenAiServer& operator=(const FakeOpenAiServer&) = delete;

  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  int requests() const { return count_.load(); }
  // The request count once no new request has arrived for `quiet` (at most
  // `limit`): requests a client sent just before it dropped its connections
  // (a killed run) are still being read by the server's threads.
  int settled_requests(std::chrono::milliseconds quiet = std::chrono::milliseconds(300),
                       std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) const;
  // Every request seen so far (copies).
  std::vector<FakeRequest> seen() const;
  void stop();

 private:
  void accept_loop();
  void serve(int fd);
  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> count_{0};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  std::vector<std::thread> workers_;
  std::vector<int> open_fds_;
  std::vector<FakeRequest> seen_;
};

}  // namespace personas::testing
