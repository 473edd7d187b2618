// The two error tiers (core/errors.h): a bug (InternalError) or a device fault
// (DeviceError) is not a personas::Error, so catch sites that take user errors
// let it through to main, which aborts every rank with exit 1.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <type_traits>

#include "core/errors.h"

namespace personas {
namespace {

static_assert(std::is_base_of_v<std::logic_error, InternalError>);
static_assert(!std::is_base_of_v<Error, InternalError>);
static_assert(std::is_base_of_v<InternalError, DeviceError>);
static_assert(!std::is_base_of_v<Error, DeviceError>);

// What a user-level catch site does: Error is "this item failed", the rest propagates.
template <class F>
std::string user_level(F f) {
  try {
    f();
  } catch (const Error& e) {
    return "caught as a user error: " + e.message();
  }
  return "no error";
}

TEST(InternalError, AssertThrowsItWithMessageAndOrigin) {
  const int rows = 3;
  try {
    PERSONAS_ASSERT(rows == 4, "rows {}", rows);
    FAIL() << "no error";
  } catch (const InternalError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::internal);
    EXPECT_EQ(e.exit_code(), 1);
    EXPECT_NE(e.message().find("internal invariant failed: rows == 4: rows 3"), std::string::npos) << e.message();
    EXPECT_EQ(std::string(e.what()), e.message());
    EXPECT_NE(e.origin().find("internal_error_test.cpp:"), std::string::npos) << e.origin();
  }
}

TEST(InternalError, IsNotCaughtAsAUserError) {
  EXPECT_THROW(user_level([] { PERSONAS_ASSERT(1 + 1 == 3, "arithmetic"); }), InternalError);
  EXPECT_THROW(user_level([] { PERSONAS_CHECK(false, internal, "a check of kind internal"); }), InternalError);
  EXPECT_THROW(user_level([] { PERSONAS_FAIL(internal, "unhandled case {}", 7); }), InternalError);
  EXPECT_THROW(user_level([] { fail_internal("direct"); }), InternalError);
  // User errors keep their type and kind.
  EXPECT_EQ(user_level([] { PERSONAS_CHECK(false, data, "bad row {}", 2); }), "caught as a user error: bad row 2");
  EXPECT_EQ(user_level([] { fail(ErrorKind::usage, "bad flag"); }), "caught as a user error: bad flag");
}

TEST(InternalError, FailOfKindInternalCarriesItsHintAndCallSite) {
  try {
    fail(ErrorKind::internal, "stage 'x' has no body", "report it");
    FAIL() << "no error";
  } catch (const InternalError& e) {
    EXPECT_EQ(e.message(), "stage 'x' has no body");
    EXPECT_EQ(e.hint(), "report it");
    EXPECT_NE(e.origin().find("internal_error_test.cpp:"), std::string::npos) << e.origin();
  }
}

TEST(DeviceError, IsAnInternalErrorNamingTheCall) {
  auto oom = [] {
    throw DeviceError("CUDA cudaMalloc", "cudaErrorMemoryAllocation (out of memory)", "activations", "/x/y/lora.cu",
                      119, "lower train.micro_batch");
  };
  EXPECT_THROW(user_level(oom), DeviceError);
  try {
    oom();
    FAIL() << "no error";
  } catch (const InternalError& e) {
    EXPECT_EQ(e.exit_code(), 1);
    EXPECT_EQ(e.message(),
              "device fault: CUDA cudaMalloc failed: cudaErrorMemoryAllocation (out of memory); activations");
    EXPECT_EQ(e.origin(), "lora.cu:119");
    EXPECT_EQ(e.hint(), "lower train.micro_batch");
    const auto* device = dynamic_cast<const DeviceError*>(&e);
    ASSERT_NE(device, nullptr);
    EXPECT_EQ(device->call(), "CUDA cudaMalloc");
    EXPECT_EQ(device->status(), "cudaErrorMemoryAllocation (out of memory)");
  }
}

}  // namespace
}  // namespace personas
