#include "eval/evaluation.h"
#include "eval/reference_ratings.h"

#include <algorithm>
#include <chrono>
#include <fstream>

#include "comm/stop_vote.h"
#include "core/errors.h"
#include "core/strings.h"
#include "core/log.h"
#include "core/stop_request.h"
#include "data/dataset_io.h"
#include "eval/baselines.h"
#include "eval/per_user_file.h"
#include "train/stage_inputs.h"

namespace personas {

std::vector<EvalPredictor> baseline_predictors(const EvalConfig& config, std::uint64_t seed,
                                               std::size_t users_per_piece) {
  PERSONAS_ASSERT(users_per_piece > 0, "users_per_piece must be positive");
  std::vector<EvalPredictor> out;
  for (const auto& name : config.baseline_list()) {
    EvalPredictor p;
    p.name = name;
    p.kind = "baseline";
    p.description = "classical baseline (docs/evaluation.md)";
    // Each predictor makes and fits its own model when run, so nothing is kept alive between predictors.
    p.predict = [name, config, seed, users_per_piece](const Dataset& data, std::span<const std::int32_t> persona_of_user, Comm& comm,
                                     const RecordEmitter& emit) {
      auto model = make_baseline(name, config, seed);
      model->fit(data, comm);
      const double train_rmse = training_rmse(*model, data, comm);
      plog::info("eval: {} fitted (training RMSE {:.4f})", name, train_rmse);
      for (std::size_t begin = 0; begin < data.users.size(); begin += users_per_piece)
        emit(predict_test_period(*model, data, persona_of_user, begin,
                                 std::min(data.users.size(), begin + users_per_piece)));
    };
    out.push_back(std::move(p));
  }
  return out;
}

EvalOutcome evaluate_predictors(const std::vector<EvalPredictor>& predictors, const Dataset& data,
                                std::span<const std::int32_t> persona_of_user, Comm& comm,
                                const MetricsOptions& options, const PredictionSink& sink,
                                const MetricsSink& metrics_sink) {
  const std::size_t n = predictors.size();
  // The reference of the paired comparisons runs first so that its users
  // (32 bytes each) are at hand when the others finish; the outcome keeps
  // the predictors' order.
  std::size_t reference = n;
  for (std::size_t k = 0; k < n; ++k)
    if (!options.compare_to.empty() && predictors[k].name == options.compare_to) reference = k;
  if (!options.compare_to.empty() && reference == n)
    plog::warn("eval: eval.compare_to names '{}', which is not among the predictors: no paired comparison",
               options.compare_to);
  std::vector<std::size_t> order;
  if (reference < n) order.push_back(reference);
  for (std::size_t k = 0; k < n; ++k)
    if (k != reference) order.push_back(k);
  std::vector<std::optional<PredictorMetrics>> metrics(n);
  EvalOutcome outcome;
  outcome.seconds.assign(n, 0.0);
  outcome.vs_reference.assign(n, std::nullopt);
  std::vector<PairedUser> reference_users;
  // Each rating of the reference, kept when an agent runs: agents may rate a
  // subset (eval.agent_max_items), paired then on exactly what they rated.
  bool any_agent = false;
  for (const auto& p : predictors) any_agent = any_agent || p.kind == "agent";
  const bool keep_reference = reference < n && any_agent;
  ReferenceRatings reference_ratings;
  for (const std::size_t k : order) {
    const EvalPredictor& p = predictors[k];
    const auto start = std::chrono::steady_clock::now();
    std::vector<UserSummary> users;
    // An agent's ratings, for the subset pairing (baselines rate every test rating).
    const bool gather_rated = keep_reference && k != reference && p.kind == "agent";
    std::vector<RatedPair> rated;
    p.predict(data, persona_of_user, comm, [&](const std::vector<PredictionRecord>& records) {
      if (sink) sink(p, records);
      if (keep_reference && k == reference) reference_ratings.add(records);
      if (gather_rated)
        for (const auto& r : records) rated.push_back({r.user_index, r.user_id, r.item_id, r.truth});
      auto piece = summarise_users(records);
      users.insert(users.end(), piece.begin(), piece.end());
    });
    // Safe point: a predictor cut short (agent scoring stops between batches)
    // is not counted; eval keeps nothing, a rerun redoes it.
    if (stop_agreed(comm)) {
      warn_on_every_rank(fmt::format("eval: rank {} stopped ({}) at predictor {}", comm.rank(), stop_reason(), p.name));
      throw_stopped("in eval");
    }
    auto m = compute_metrics(p.name, p.kind, std::move(users), comm, options);
    if (k == reference) {
      reference_users = paired_users(m.users);
    } else if (reference < n) {
      auto& d = outcome.vs_reference[k];
      d = paired_difference(paired_users(m.users), reference_users, options.compare_to, comm, options);
      if (!d && gather_rated) {
        d = paired_difference(paired_users(m.users), reference_ratings.on(rated), options.compare_to, comm, options);
        if (d) d->on_subset = true;
      }
      if (d && d->has_ci)
        plog::info("eval: {} minus {}: RMSE {:+.4f} [{:+.4f}, {:+.4f}]  MAE {:+.4f} [{:+.4f}, {:+.4f}] (paired{})",
                   p.name, d->reference, d->rmse_diff, d->rmse_diff_ci.low, d->rmse_diff_ci.high, d->mae_diff,
                   d->mae_diff_ci.low, d->mae_diff_ci.high, d->on_subset ? ", on the predictor's ratings" : "");
    }
    if (metrics_sink) metrics_sink(m);
    const double seconds =
        comm.allreduce_max(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    const auto& o = m.overall;
    if (o.has_ci)
      plog::info("eval: {:<12} RMSE {:.4f} [{:.4f}, {:.4f}]  MAE {:.4f} [{:.4f}, {:.4f}]  URR {:.2f}%  JS {:.3f}  "
                 "({} ratings, {:.2f} s)",
                 p.name, o.sums.rmse(), o.rmse_ci.low, o.rmse_ci.high, o.sums.mae(), o.mae_ci.low, o.mae_ci.high,
                 100 * o.sums.urr(), o.js_distance, o.sums.n + o.sums.n_unrelated, seconds);
    else
      plog::info("eval: {:<12} RMSE {:.4f}  MAE {:.4f}  URR {:.2f}%  JS {:.3f}  ({} ratings, {:.2f} s)", p.name,
                 o.sums.rmse(), o.sums.mae(), 100 * o.sums.urr(), o.js_distance, o.sums.n + o.sums.n_unrelated,
                 seconds);
    metrics[k] = std::move(m);
    outcome.seconds[k] = seconds;
  }
  for (auto& m : metrics) outcome.metrics.push_back(std::move(*m));
  return outcome;
}

std::string prediction_lines(const std::string& predictor, const std::vector<PredictionRecord>& records) {
  std::string out;
  for (const auto& r : records) {
    nlohmann::json j = {{"predictor", predictor}, {"user", r.user_id},        {"item", r.item_id},
                        {"truth", r.truth},       {"persona", r.persona},     {"unrelated", r.unrelated}};
    if (r.unrelated) j["predicted"] = nullptr;
    else j["predicted"] = r.predicted;
    out += j.dump() + "\n";
  }
  return out;
}

nlohmann::json metrics_document(const std::vector<EvalPredictor>& predictors, const EvalOutcome& outcome,
                                const nlohmann::json& context) {
  nlohmann::json doc = context.is_object() ? context : nlohmann::json::object();
  doc["format"] = "personas-eval-metrics/1";
  std::vector<double> centres;
  for (int b = 0; b < kHistogramBins; ++b) centres.push_back(histogram_bin_centre(b));
  doc["histogram_bins"] = centres;
  nlohmann::json list = nlohmann::json::array();
  for (std::size_t k = 0; k < outcome.metrics.size(); ++k) {
    auto j = metrics_to_json(outcome.metrics[k]);
    if (k < predictors.size()) j["description"] = predictors[k].description;
    j["seconds"] = k < outcome.seconds.size() ? outcome.seconds[k] : 0.0;
    if (k < outcome.vs_reference.size() && outcome.vs_reference[k])
      j["vs_reference"] = paired_difference_to_json(*outcome.vs_reference[k]);
    list.push_back(std::move(j));
  }
  doc["predictors"] = std::move(list);
  return doc;
}

void write_eval_metrics(const RunDir& run, const nlohmann::json& document) {
  const auto dir = run.ensure_stage_dir(kEvalStage);
  write_file_atomic(dir / "metrics.json", document.dump(2) + "\n");
}

void eval_stage(const EvalConfig& config, const RunDir& run, Comm& comm, const EvalStageOptions& options,
                std::vector<EvalPredictor> extra_predictors) {
  const auto start = std::chrono::steady_clock::now();
  PERSONAS_CHECK_HINT(run.done_marker("prepare").has_value(), io, "run `personas prepare` (or `synth`) first",
                      "eval: {} has no finished prepare stage", run.stage_dir("prepare").string());
  run.clear_done(kEvalStage);
  if (comm.is_root() && fs::is_directory(run.stage_dir(kEvalStage)))  // an earlier run's (other rank count)
    for (const auto& e : fs::directory_iterator(run.stage_dir(kEvalStage)))
      if (starts_with(e.path().filename().string(), "predictions-rank-") ||
          starts_with(e.path().filename().string(), PerUserFile::kPartPrefix))
        fs::remove(e.path());
  comm.barrier();  // no rank creates its files before the leftovers are gone
  const Dataset data = load_dataset(run, comm);
  const auto personas = read_user_personas(run, data);
  const auto n_missing = comm.allreduce_sum(personas.n_missing);
  if (n_missing > 0)
    plog::warn("eval: the cluster output names no persona for {} users; they count only in the overall metrics",
               n_missing);

  std::int64_t counts[3] = {0, 0, 0};  // users, training, test interactions
  for (const auto& u : data.users) {
    counts[0] += 1;
    counts[1] += u.n_train;
    counts[2] += u.n_test;
  }
  comm.allreduce(std::span<std::int64_t>(counts, 3), ReduceOp::sum);
  plog::info("eval: {} users, {} items, {} training and {} test ratings; personas from {}", counts[0],
             data.items.size(), counts[1], counts[2], personas.source);

  auto predictors = baseline_predictors(config, options.seed);
  for (auto& p : extra_predictors) predictors.push_back(std::move(p));
  PERSONAS_CHECK(!predictors.empty(), config, "eval: nothing to evaluate (eval.baselines is empty and no agent)");

  MetricsOptions metrics_options;
  metrics_options.bootstrap_samples = config.bootstrap_samples;
  metrics_options.confidence = config.confidence;
  metrics_options.seed = options.seed;
  metrics_options.compare_to = config.compare_to;
  // Per-user lines go out predictor by predictor and are dropped: no rank
  // holds more than one predictor's users.
  PerUserFile per_user(run, comm);
  const MetricsSink keep_users = [&](PredictorMetrics& m) {
    per_user.add(m);
    std::vector<UserSummary>().swap(m.users);
  };
  // Each rank's predictions go to a temporary file, renamed once every predictor has run.
  EvalOutcome outcome;
  if (config.write_predictions) {
    write_atomically(run.rank_file(kEvalStage, "predictions", comm.rank(), "jsonl"), [&](const fs::path& temp) {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      PERSONAS_CHECK(out, io, "cannot write '{}'", temp.string());
      outcome = evaluate_predictors(predictors, data, personas.persona_of_user, comm, metrics_options,
                                    [&](const EvalPredictor& p, const std::vector<PredictionRecord>& records) {
                                      out << prediction_lines(p.name, records);
                                      PERSONAS_CHECK(out, io, "cannot write '{}'", temp.string());
                                    },
                                    keep_users);
      out.close();
      PERSONAS_CHECK(out, io, "cannot write '{}'", temp.string());
    });
  } else {
    outcome = evaluate_predictors(predictors, data, personas.persona_of_user, comm, metrics_options, {}, keep_users);
  }

  nlohmann::json context;
  context["data"] = {{"source", data.source}, {"n_users", counts[0]}, {"n_items", data.items.size()},
                     {"n_train", counts[1]}, {"n_test", counts[2]}};
  context["personas"] = {{"source", personas.source}, {"n_missing", n_missing}};
  context["bootstrap"] = {{"samples", config.bootstrap_samples}, {"confidence", config.confidence},
                          {"seed", options.seed}, {"unit", "user"}, {"method", "poisson"}};
  context["n_ranks"] = comm.size();
  const auto document = metrics_document(predictors, outcome, context);
  per_user.finish();
  const double seconds =
      comm.allreduce_max(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (comm.is_root()) {
    write_eval_metrics(run, document);
    nlohmann::json extra = {{"seconds", seconds}, {"n_predictors", predictors.size()}, {"n_users", counts[0]}};
    run.mark_done(kEvalStage, options.config_hash, extra);
  }
  comm.barrier();
  plog::info("eval: wrote {} in {:.2f} s", (run.stage_dir(kEvalStage) / "metrics.json").string(), seconds);
}

}  // namespace personas
