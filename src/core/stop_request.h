// A graceful stop on SIGTERM, SIGINT or SIGUSR1 (what Slurm and mpirun send
// before a time limit or a cancel): the handler only sets a flag (and creates
// RUN/STOP, so that ranks that got no signal learn of it); the stages poll
// stop_requested() at their safe points (between users in distill, between
// optimiser steps in train, between batches in eval, between stages in run),
// save their part files or checkpoints, agree over the ranks that they stop
// (comm/stop_vote.h), and every rank throws StopError: exit code 7.
//
// A second SIGINT (Ctrl-C twice) ends the process at once; a second SIGTERM
// or SIGUSR1 does not (Slurm sends SIGTERM at the time limit after the
// --signal warning: the stop already under way goes on).
#pragma once

#include <string>

#include "core/errors.h"
#include "core/fs.h"

namespace personas {

// Installs the handlers for SIGTERM, SIGINT and SIGUSR1 (main, once).
void install_stop_handlers();

// The file whose appearance asks every rank to stop (RUN/STOP): a rank's
// signal handler creates it, and `touch RUN/STOP` stops a run by hand.
// Empty = none. Set on every rank after rank 0 removed a stale one.
void set_stop_file(const fs::path& path);
const fs::path& stop_file();
constexpr const char* kStopFileName = "STOP";

// True once this rank got a signal or the stop file appeared (checked on
// disk at most every kStopFilePollSeconds). Sticky: it never turns false
// again in this process (tests: reset_stop_request). Main thread only.
bool stop_requested();
constexpr double kStopFilePollSeconds = 0.25;
// Another rank asked for the stop (comm/stop_vote.h): stop_requested() is
// true from now on, with this reason.
void adopt_stop_request(const std::string& reason);
// What asked for the stop: "SIGTERM", "SIGUSR1", "SIGINT", "RUN/STOP" ("" = nothing).
std::string stop_reason();

// Thrown out of a loop at a safe point when stop_requested() turned true on
// this rank; the stage catches it, saves, then agrees with the other ranks.
struct LocalStop {};

// Thrown by every rank together once they agreed to stop: main exits 7 on
// every rank without MPI_Abort (nothing is killed half-written).
class StopError : public Error {
 public:
  explicit StopError(std::string message);
};
// A warning that every rank prints, also those that log only errors
// (log.all_ranks = false): where each rank stopped.
void warn_on_every_rank(const std::string& line);
// "stopped by SIGTERM <where>", with the hint to rerun the same command.
[[noreturn]] void throw_stopped(const std::string& where);

// Tests: as if no signal had come (the handlers stay installed).
void reset_stop_request();

}  // namespace personas
