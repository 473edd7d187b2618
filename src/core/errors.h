// Errors in two tiers (see docs/exit-codes.md):
//  * personas::Error for what a user can fix (usage, config, I/O, bad data, LLM
//    provider): thrown with PERSONAS_CHECK / PERSONAS_FAIL, carries file:line
//    of the check, a message naming the file/line/field at fault, a hint and
//    an exit code.
//  * personas::InternalError for a bug (PERSONAS_ASSERT, or a check of kind
//    internal) and its DeviceError for a device fault: a std::logic_error, not
//    a personas::Error, so no `catch (const Error&)` swallows it; the CLI logs
//    it with its origin and aborts every rank through Comm::abort (exit 1).
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

 private:
  ErrorKind kind_;
  std::string message_;
  std::string hint_;
  std::string origin_;
};

// A bug: an internal invariant failed (PERSONAS_ASSERT, PERSONAS_CHECK(...,
// internal, ...)). Deliberately not a personas::Error: catch sites that turn an
// Error into one user's or item's failure, or into another kind, let it
// through, and main logs it with its origin and aborts every rank (exit 1).
class InternalError : public std::logic_error {
 public:
  explicit InternalError(std::string message, std::string hint = {},
                         std::source_location where = std::source_location::current());
  static constexpr ErrorKind kind() { return ErrorKind::internal; }
  static constexpr int exit_code() { return static_cast<int>(ErrorKind::internal); }
  const std::string& hint() const { return hint_; }
  const std::string& message() const { return message_; }
  // "file.cpp:123": where the check that threw lives (for bug reports).
  const std::string& origin() const { return origin_; }

 protected:
  // The origin given as text ("file.cu:123"), for faults checked in a .cu file.
  InternalError(std::string message, std::string hint, std::string origin);

 private:
  std::string message_;
  std::string hint_;
  std::string origin_;
};

// A fault of the device or its runtime (a CUDA, cuBLAS or NCCL call that
// failed, device memory exhausted, a kernel that faulted), named by the call,
// its file:line and the library's error string. An InternalError (exit 1):
// never one item's failure, so a device fault stops every rank.
class DeviceError : public InternalError {
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

// Throws personas::Error of `kind`; InternalError when kind is internal.
[[noreturn]] void fail(ErrorKind kind, std::string message, std::string hint = {},
                       std::source_location where = std::source_location::current());
// Throws InternalError.
[[noreturn]] void fail_internal(std::string message, std::source_location where = std::source_location::current());

}  // namespace personas

// PERSONAS_CHECK(cond, kind, "format {}", args...): throws personas::Error of
// ErrorKind::kind with the formatted message when cond is false (kind
// internal: InternalError, a bug).
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

// Internal invariant: a failure is a bug, thrown as personas::InternalError.
#define PERSONAS_ASSERT(cond, ...)                                                \
  do {                                                                            \
    if (!(cond))                                                                  \
      ::personas::fail_internal(fmt::format("internal invariant failed: {}: {}", #cond, \
                                            fmt::format(__VA_ARGS__)));           \
  } while (0)
