#include "fake_openai_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace personas::testing {

std::string chat_completion_body(const std::string& content, int prompt_tokens, int completion_tokens,
                                 const std::string& finish_reason) {
  nlohmann::json body = {
      {"id", "chatcmpl-fake"},
      {"object", "chat.completion"},
      {"model", "fake"},
      {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", content}}}, {"finish_reason", finish_reason}}}},
      {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens}, {"total_tokens", prompt_tokens + completion_tokens}}}};
  // error_handler replace would hide bytes a test wants to send: dump raw.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::ignore);
}

FakeOpenAiServer::FakeOpenAiServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket() failed");
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // a free port chosen by the kernel
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("bind failed");
  if (::listen(listen_fd_, 256) != 0) throw std::runtime_error("listen failed");
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

FakeOpenAiServer::~FakeOpenAiServer() { stop(); }

void FakeOpenAiServer::stop() {
  {
    std::lock_guard lock(stop_mutex_);
    if (stopping_.exchange(true)) return;
  }
  stop_cv_.notify_all();
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mutex_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
}

int FakeOpenAiServer::settled_requests(std::chrono::milliseconds quiet, std::chrono::milliseconds limit) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int last = count_.load();
  auto last_change = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const int now = count_.load();
    if (now != last) {
      last = now;
      last_change = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_change >= quiet) {
      break;
    }
  }
  return last;
}

std::vector<FakeRequest> FakeOpenAiServer::seen() const {
  std::lock_guard lock(mutex_);
  return seen_;
}

void FakeOpenAiServer::accept_loop() {
  while (!stopping_) {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      if (stopping_) return;
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    open_fds_.push_back(fd);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

namespace {

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

}  // namespace

void FakeOpenAiServer::serve(int fd) {
  std::string buffer;
  char chunk[16384];
  auto close_fd = [&] {
    std::lock_guard lock(mutex_);
    open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
    ::close(fd);
  };
  while (!stopping_) {
    // Read one request: headers, then Content-Length bytes of body.
    std::size_t header_end;
    while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      auto n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return close_fd();
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
    FakeRequest request;
    std::size_t content_length = 0;
    {
      std::string head = buffer.substr(0, header_end);
      auto line_end = head.find("\r\n");
      std::string first = head.substr(0, line_end);
      auto sp1 = first.find(' '), sp2 = first.rfind(' ');
      request.method = first.substr(0, sp1);
      request.path = first.substr(sp1 + 1, sp2 - sp1 - 1);
      std::size_t pos = line_end + 2;
      while (pos < head.size()) {
        auto end = head.find("\r\n", pos);
        if (end == std::string::npos) end = head.size();
        std::string line = head.substr(pos, end - pos);
        auto colon = line.find(':');
        if (colon != std::string::npos) {
          std::string key = lower(line.substr(0, colon));
          std::string value = line.substr(colon + 1);
          while (!value.empty() && value.front() == ' ') value.erase(0, 1);
          if (key == "content-length") content_length = std::stoul(value);
          if (key == "authorization") request.authorization = value;
        }
        pos = end + 2;
      }
    }
    buffer.erase(0, header_end + 4);
    while (buffer.size() < content_length) {
      auto n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return close_fd();
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
    request.body = buffer.substr(0, content_length);
    buffer.erase(0, content_length);
    request.index = count_.fetch_add(1);
    {
      std::lock_guard lock(mutex_);
      seen_.push_back(request);
    }
    FakeResponse response = handler_(request);
    if (response.delay_s > 0) {
      // A precise wait that stop() can cut short.
      auto until = std::chrono::steady_clock::now() +
                   std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(response.delay_s));
      std::unique_lock lock(stop_mutex_);
      stop_cv_.wait_until(lock, until, [this] { return stopping_.load(); });
    }
    if (response.fault == FakeResponse::Fault::drop_connection) return close_fd();
    std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " + reason_phrase(response.status) + "\r\n";
    out += "Content-Type: application/json\r\n";
    out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
    for (const auto& [k, v] : response.headers) out += k + ": " + v + "\r\n";
    out += "\r\n";
    if (response.fault == FakeResponse::Fault::truncate_body) {
      out += response.body.substr(0, response.body.size() / 2);
      send_all(fd, out);
      return close_fd();
    }
    out += response.body;
    if (!send_all(fd, out)) return close_fd();
  }
  close_fd();
}

}  // namespace personas::testing
