// The evaluation stage: every predictor (classical baselines now, the agents
// when they land) predicts the test period of this rank's users; metrics are
// reduced over ranks; rank 0 writes RUN/eval/metrics.json, and every rank's
// users go to RUN/eval/per-user.jsonl (formats in docs/evaluation.md).
//
// To add a predictor (e.g. the persona agents), append an EvalPredictor to the
// list cmd_eval builds: a name, a kind ("agent" or "baseline") and a
// collective function returning PredictionRecords for this rank's users.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "comm/comm.h"
#include "core/run_dir.h"
#include "data/dataset.h"
#include "eval/eval_config.h"
#include "eval/metrics.h"
#include "eval/paired_difference.h"

namespace personas {

inline constexpr const char* kEvalStage = "eval";

// Receives a predictor's records in pieces; each piece holds whole users.
using RecordEmitter = std::function<void(const std::vector<PredictionRecord>& records)>;

struct EvalPredictor {
  std::string name;
  std::string kind;  // "baseline" or "agent"
  std::string description;
  // Collective: emits records for every test-period interaction of this
  // rank's users, in one or more pieces of whole users (the classical
  // baselines emit kUsersPerPiece users at a time so memory does not
  // grow with the rank's users).
  std::function<void(const Dataset& data, std::span<const std::int32_t> persona_of_user, Comm& comm,
                     const RecordEmitter& emit)>
      predict;
};

// Users per piece of a baseline's records (about 1 MB of records).
inline constexpr std::size_t kUsersPerPiece = 4096;

// One EvalPredictor per name in config.baselines (in that order).
std::vector<EvalPredictor> baseline_predictors(const EvalConfig& config, std::uint64_t seed,
                                               std::size_t users_per_piece = kUsersPerPiece);

struct EvalOutcome {
  std::vector<PredictorMetrics> metrics;  // same order as the predictors
  std::vector<double> seconds;            // wall time of each predictor (max over ranks)
  // Against MetricsOptions::compare_to (which runs first): empty for the
  // reference itself, when it is not among the predictors, or when a
  // predictor rated other ratings than it.
  std::vector<std::optional<PairedDifference>> vs_reference;
};

// Sees each piece of a predictor's records on this rank (e.g. to write them out).
using PredictionSink = std::function<void(const EvalPredictor&, const std::vector<PredictionRecord>&)>;

// Sees each predictor's metrics as soon as they are reduced, with this rank's
// users (e.g. to write them out, and then drop them to bound memory).
using MetricsSink = std::function<void(PredictorMetrics&)>;

// Collective: runs every predictor and reduces its metrics.
EvalOutcome evaluate_predictors(const std::vector<EvalPredictor>& predictors, const Dataset& data,
                                std::span<const std::int32_t> persona_of_user, Comm& comm,
                                const MetricsOptions& options, const PredictionSink& sink = {},
                                const MetricsSink& metrics_sink = {});

// One JSON line per record: predictor, user, item, truth, predicted, persona, unrelated.
std::string prediction_lines(const std::string& predictor, const std::vector<PredictionRecord>& records);

// The metrics.json document (`context` is merged in at the top: split, personas...).
nlohmann::json metrics_document(const std::vector<EvalPredictor>& predictors, const EvalOutcome& outcome,
                                const nlohmann::json& context);

// Rank 0 only: writes RUN/eval/metrics.json atomically.
void write_eval_metrics(const RunDir& run, const nlohmann::json& document);

// The full stage as `personas eval` runs it (collective).
struct EvalStageOptions {
  std::uint64_t seed = 1234;
  std::string config_hash;
};
void eval_stage(const EvalConfig& config, const RunDir& run, Comm& comm, const EvalStageOptions& options,
                std::vector<EvalPredictor> extra_predictors = {});

}  // namespace personas
