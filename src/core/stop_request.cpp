#include "core/stop_request.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>

#include "core/log.h"

namespace personas {

namespace {

// Written by the handler (on whichever thread the signal lands), read by the
// main thread: lock-free atomics, which are async-signal-safe. The path is
// published as a pointer to a string that is never freed, so the handler
// never sees a half-written path.
std::atomic<int> g_signal{0};
std::atomic<const char*> g_stop_path{nullptr};
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<const char*>::is_always_lock_free);

// Main thread only.
bool g_sticky = false;
std::string g_reason;
bool g_file_written = false;
std::chrono::steady_clock::time_point g_last_poll{};
fs::path g_stop_file;

const char* signal_name(int sig) {
  switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    default: return "a signal";
  }
}

void write_stderr(const char* text) {
  // write(2) is async-signal-safe; a short write is only a shorter message.
  const ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

extern "C" void on_stop_signal(int sig) {
  const int saved_errno = errno;
  if (g_signal.load() != 0 && sig == SIGINT) {
    // Ctrl-C twice: the default action now (the process ends by SIGINT).
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
  int none = 0;
  if (g_signal.compare_exchange_strong(none, sig)) {
    if (const char* path = g_stop_path.load()) {
      const int fd = ::open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd >= 0) ::close(fd);
    }
    write_stderr(sig == SIGTERM  ? "personas: SIGTERM received: stopping at the next safe point\n"
                 : sig == SIGINT ? "personas: SIGINT received: stopping at the next safe point (Ctrl-C again: now)\n"
                                 : "personas: SIGUSR1 received: stopping at the next safe point\n");
  }
  errno = saved_errno;
}

void create_stop_file() {
  if (g_file_written || g_stop_file.empty()) return;
  g_file_written = true;
  std::error_code ec;
  if (!fs::exists(g_stop_file, ec)) {
    const int fd = ::open(g_stop_file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) ::close(fd);
  }
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // a read or write under way goes on
  for (int sig : {SIGTERM, SIGINT, SIGUSR1}) ::sigaction(sig, &action, nullptr);
}

void set_stop_file(const fs::path& path) {
  g_stop_file = path;
  g_file_written = false;
  // Leaked on purpose: a handler may be reading the previous one.
  g_stop_path.store(path.empty() ? nullptr : strdup(path.c_str()));
  if (g_signal.load() != 0) create_stop_file();  // a signal came before the path was known
}

const fs::path& stop_file() { return g_stop_file; }

bool stop_requested() {
  if (g_sticky) return true;
  if (const int sig = g_signal.load(); sig != 0) {
    g_sticky = true;
    g_reason = signal_name(sig);
    create_stop_file();  // in case the handler could not (no path yet, folder missing then)
    return true;
  }
  if (g_stop_file.empty()) return false;
  const auto now = std::chrono::steady_clock::now();
  if (now - g_last_poll < std::chrono::duration<double>(kStopFilePollSeconds)) return false;
  g_last_poll = now;
  std::error_code ec;
  if (fs::exists(g_stop_file, ec)) {
    g_sticky = true;
    g_reason = g_stop_file.filename().string();
    g_file_written = true;
  }
  return g_sticky;
}

void adopt_stop_request(const std::string& reason) {
  if (g_sticky) return;
  g_sticky = true;
  g_reason = reason;
}

std::string stop_reason() {
  if (!g_sticky) return {};
  return g_reason == kStopFileName ? std::string("RUN/") + kStopFileName + " (another rank's signal, or created by hand)"
                                   : g_reason;
}

StopError::StopError(std::string message)
    : Error(ErrorKind::interrupted, std::move(message),
            "rerun the same command to resume: finished stages are skipped, distill keeps its finished users, "
            "train resumes from the checkpoint it saved, eval keeps the users its agents rated") {}

void warn_on_every_rank(const std::string& line) {
  auto logger = spdlog::default_logger();
  const auto level = logger->level();
  if (level > spdlog::level::warn) logger->set_level(spdlog::level::warn);
  logger->warn("{}", line);
  logger->flush();
  logger->set_level(level);
}

void throw_stopped(const std::string& where) {
  throw StopError(fmt::format("stopped by {} {}", stop_reason().empty() ? "request" : stop_reason(), where));
}

void reset_stop_request() {
  g_signal.store(0);
  g_sticky = false;
  g_reason.clear();
  g_file_written = false;
  g_last_poll = {};
}

}  // namespace personas
