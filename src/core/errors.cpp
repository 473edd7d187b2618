#include "core/errors.h"

#include <filesystem>

namespace personas {

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
      origin_(fmt::format("{}:{}", std::filesystem::path(where.file_name()).filename().string(),
                          where.line())) {}

void fail(ErrorKind kind, std::string message, std::string hint, std::source_location where) {
  throw Error(kind, std::move(message), std::move(hint), where);
}

}  // namespace personas
