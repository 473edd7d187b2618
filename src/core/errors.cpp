#include "core/errors.h"

#include <filesystem>

namespace personas {

namespace {
std::string origin_of(const std::source_location& where) {
  return fmt::format("{}:{}", std::filesystem::path(where.file_name()).filename().string(), where.line());
}

std::string device_message(const std::string& call, const std::string& status, const std::string& detail) {
  return fmt::format("device fault: {} failed: {}{}{}", call, status, detail.empty() ? "" : "; ", detail);
}
}  // namespace

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::internal: return "internal error";
    case ErrorKind::usage: return "usage error";
    case ErrorKind::config: return "configuration error";
    case ErrorKind::io: return "I/O error";
    case ErrorKind::data: return "data error";
    case ErrorKind::provider: return "provider error";
    case ErrorKind::interrupted: return "interrupted";
  }
  return "error";
}

Error::Error(ErrorKind kind, std::string message, std::string hint, std::source_location where)
    : std::runtime_error(message),
      kind_(kind),
      message_(std::move(message)),
      hint_(std::move(hint)),
      origin_(origin_of(where)) {}

InternalError::InternalError(std::string message, std::string hint, std::source_location where)
    : InternalError(std::move(message), std::move(hint), origin_of(where)) {}

InternalError::InternalError(std::string message, std::string hint, std::string origin)
    : std::logic_error(message), message_(std::move(message)), hint_(std::move(hint)), origin_(std::move(origin)) {}

DeviceError::DeviceError(std::string call, std::string status, std::string detail, const char* file, int line,
                         std::string hint)
    : InternalError(device_message(call, status, detail), std::move(hint),
                    fmt::format("{}:{}", std::filesystem::path(file ? file : "?").filename().string(), line)),
      call_(std::move(call)),
      status_(std::move(status)) {}

void fail(ErrorKind kind, std::string message, std::string hint, std::source_location where) {
  if (kind == ErrorKind::internal) throw InternalError(std::move(message), std::move(hint), where);
  throw Error(kind, std::move(message), std::move(hint), where);
}

void fail_internal(std::string message, std::source_location where) {
  throw InternalError(std::move(message), {}, where);
}

}  // namespace personas
