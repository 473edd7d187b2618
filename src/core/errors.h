// Errors in two tiers (see docs/exit-codes.md):
//  * personas::Error for what a user can fix (usage, config, I/O, bad data, LLM
//    provider): thrown with PERSONAS_CHECK / PERSONAS_FAIL, carries file:line
//    of the check, a message naming the file/line/field at fault, a hint and
//    an exit code.
//  * internal invariants (PERSONAS_ASSERT): a bug; the CLI logs it and aborts
//    every rank through Comm::abort so that no rank hangs.
#pragma once

#include <fmt/format.h>

#include <source_location>
#include <stdexcept>
#include <string>

namespace personas {

// Documented process exit codes. Keep docs/exit-codes.md in step.
enum class ErrorKind : int {
  internal = 1,   // a bug: an invariant failed
  usage = 2,      // bad command line
  config = 3,     // bad configuration value or file
  io = 4,         // a file could not be read or written
  data = 5,       // malformed or inconsistent input data
  provider = 6,   // the LLM/embedding endpoint failed beyond retries
  interrupted = 7 // stopped by a signal or by another rank's failure
};

const char* error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message, std::string hint = {},
        std::source_location where = std::source_location::current());
  ErrorKind kind() const { return kind_; }
  int exit_code() const { return static_cast<int>(kind_); }
  const std::string& hint() const { return hint_; }
  const std::string& message() const { return message_; }
  // "file.cpp:123": where the check that threw lives (for bug reports).
  const std::string& origin() const { return origin_; }

 protected:
  // For errors whose origin is not a C++ call site of the thrower (a CUDA call
  // checked in a .cu file): "file.cu:123" is given as text.
  Error(ErrorKind kind, std::string message, std::string hint, std::string origin);

 private:
  ErrorKind kind_;
  std::string message_;
  std::string hint_;
  std::string origin_;
};

// A fault of the device or its runtime (a CUDA, cuBLAS or NCCL call that
// failed, device memory exhausted, a kernel that faulted): always
// ErrorKind::internal (exit 1), named by the call, its file:line and the
// library's error string. It is never one item's failure: catch sites that
// record a failure per user or item let internal errors through
// (is_internal_error), so a device fault stops every rank (main aborts them).
class DeviceError : public Error {
 public:
  // call: "cudaMalloc(&p, bytes)"; status: "cudaErrorMemoryAllocation (out of memory)";
  // detail: what was being done (may be empty); file, line: where the call is.
  DeviceError(std::string call, std::string status, std::string detail, const char* file, int line,
              std::string hint = {});
  const std::string& call() const { return call_; }
  const std::string& status() const { return status_; }

 private:
  std::string call_;
  std::string status_;
};

// True for errors that must stop the run instead of counting as one user's or
// item's failure: bugs (PERSONAS_ASSERT) and device faults.
inline bool is_internal_error(const Error& e) { return e.kind() == ErrorKind::internal; }

// A message plus a hint, so call sites read: PERSONAS_FAIL(io, Hinted{"...", "..."}).
[[noreturn]] void fail(ErrorKind kind, std::string message, std::string hint = {},
                       std::source_location where = std::source_location::current());

}  // namespace personas

// PERSONAS_CHECK(cond, kind, "format {}", args...): throws personas::Error of
// ErrorKind::kind with the formatted message when cond is false.
#define PERSONAS_CHECK(cond, kind, ...)                                           \
  do {                                                                            \
    if (!(cond)) ::personas::fail(::personas::ErrorKind::kind, fmt::format(__VA_ARGS__)); \
  } while (0)

// Same, with a hint shown on its own line: PERSONAS_CHECK_HINT(cond, io, "hint", "msg {}", x)
#define PERSONAS_CHECK_HINT(cond, kind, hint, ...)                                \
  do {                                                                            \
    if (!(cond))                                                                  \
      ::personas::fail(::personas::ErrorKind::kind, fmt::format(__VA_ARGS__), hint); \
  } while (0)

#define PERSONAS_FAIL(kind, ...) ::personas::fail(::personas::ErrorKind::kind, fmt::format(__VA_ARGS__))

// Comparisons that print both values.
#define PERSONAS_CHECK_OP(a, op, b, kind, what)                                   \
  do {                                                                            \
    const auto& personas_a_ = (a);                                                \
    const auto& personas_b_ = (b);                                                \
    if (!(personas_a_ op personas_b_))                                            \
      ::personas::fail(::personas::ErrorKind::kind,                               \
                       fmt::format("{}: expected {} {} {} ({} vs {})", what, #a, #op, #b, \
                                   personas_a_, personas_b_));                    \
  } while (0)

// Internal invariant: a failure is a bug, reported with ErrorKind::internal.
#define PERSONAS_ASSERT(cond, ...)                                                \
  do {                                                                            \
    if (!(cond))                                                                  \
      ::personas::fail(::personas::ErrorKind::internal,                           \
                       fmt::format("internal invariant failed: {}: {}", #cond,    \
                                   fmt::format(__VA_ARGS__)));                    \
  } while (0)
