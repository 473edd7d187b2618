// The graceful stop's flag (core/stop_request.h): a real signal sets it and
// creates the stop file; the stop file alone (another rank's signal, or
// `touch RUN/STOP`) sets it within the poll interval; it stays set; the
// collective vote over one rank (comm/stop_vote.h).
#include "core/stop_request.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include "comm/comm.h"
#include "comm/stop_vote.h"
#include "support/test_support.h"

namespace personas {
namespace {

class StopRequest : public ::testing::Test {
 protected:
  void SetUp() override {
    install_stop_handlers();
    reset_stop_request();
  }
  void TearDown() override {
    set_stop_file({});
    reset_stop_request();
  }
  testing::TempDir tmp;
};

TEST_F(StopRequest, NothingAskedNothingStops) {
  set_stop_file(tmp / kStopFileName);
  EXPECT_FALSE(stop_requested());
  EXPECT_EQ(stop_reason(), "");
  EXPECT_FALSE(fs::exists(tmp / kStopFileName));
}

TEST_F(StopRequest, EachSignalSetsTheFlagAndCreatesTheStopFile) {
  for (int sig : {SIGTERM, SIGUSR1, SIGINT}) {
    reset_stop_request();
    fs::remove(tmp / kStopFileName);
    set_stop_file(tmp / kStopFileName);
    ASSERT_EQ(std::raise(sig), 0);  // the process would end here without the handler
    EXPECT_TRUE(fs::exists(tmp / kStopFileName)) << sig;  // created by the handler itself
    EXPECT_TRUE(stop_requested()) << sig;
    EXPECT_EQ(stop_reason(), sig == SIGTERM ? "SIGTERM" : sig == SIGUSR1 ? "SIGUSR1" : "SIGINT");
  }
}

TEST_F(StopRequest, ASecondSigtermDoesNotEndTheProcess) {
  set_stop_file(tmp / kStopFileName);
  ASSERT_EQ(std::raise(SIGTERM), 0);
  ASSERT_EQ(std::raise(SIGTERM), 0);
  ASSERT_EQ(std::raise(SIGUSR1), 0);
  EXPECT_TRUE(stop_requested());
  EXPECT_EQ(stop_reason(), "SIGTERM");  // the first one
}

TEST_F(StopRequest, ASignalBeforeTheStopFileIsKnownStillCreatesIt) {
  ASSERT_EQ(std::raise(SIGUSR1), 0);
  set_stop_file(tmp / kStopFileName);
  EXPECT_TRUE(fs::exists(tmp / kStopFileName));
  EXPECT_TRUE(stop_requested());
}

TEST_F(StopRequest, TheStopFileAloneStopsWithinThePollIntervalAndStays) {
  set_stop_file(tmp / kStopFileName);
  EXPECT_FALSE(stop_requested());
  { std::ofstream(tmp / kStopFileName).put('\n'); }
  const auto start = std::chrono::steady_clock::now();
  while (!stop_requested()) {
    ASSERT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_LE(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
            kStopFilePollSeconds + 0.2);
  EXPECT_NE(stop_reason().find("RUN/STOP"), std::string::npos) << stop_reason();
  fs::remove(tmp / kStopFileName);
  std::this_thread::sleep_for(std::chrono::duration<double>(kStopFilePollSeconds + 0.05));
  EXPECT_TRUE(stop_requested());  // sticky: a stop under way is not called off
}

TEST_F(StopRequest, TheVoteOfOneRankIsItsOwnFlag) {
  auto comm = make_local_comm();
  set_stop_file(tmp / kStopFileName);
  EXPECT_FALSE(stop_agreed(*comm));
  ASSERT_EQ(std::raise(SIGTERM), 0);
  EXPECT_TRUE(stop_agreed(*comm));
}

TEST_F(StopRequest, StopErrorExitsSevenWithWhereAndHowToResume) {
  ASSERT_EQ(std::raise(SIGUSR1), 0);
  ASSERT_TRUE(stop_requested());
  try {
    throw_stopped("in train");
    FAIL() << "throw_stopped returned";
  } catch (const StopError& e) {
    EXPECT_EQ(e.exit_code(), 7);
    EXPECT_EQ(e.message(), "stopped by SIGUSR1 in train");
    EXPECT_NE(e.hint().find("rerun the same command"), std::string::npos);
  }
}

}  // namespace
}  // namespace personas
