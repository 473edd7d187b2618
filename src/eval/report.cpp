#include "eval/report.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>
#include <optional>

#include "core/errors.h"
#include "eval/svg_chart.h"
#include "io/jsonl.h"
#include "train/stage_inputs.h"

namespace personas {

namespace {

using nlohmann::json;
using svg::escape;

constexpr const char* kStyle = R"(
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1160px;
       color: #222; line-height: 1.4; padding: 0 16px; }
h1 { font-size: 24px; margin-bottom: 4px; }
h2 { font-size: 19px; border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 32px; }
h3 { font-size: 15px; margin-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
th { background: #f4f4f4; }
td.l, th.l { text-align: left; }
tr.paper td { color: #555; background: #fafafa; }
tr.best td { font-weight: bold; }
.note { color: #666; font-size: 12px; }
.notrun { color: #a00; font-style: italic; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
.grid svg { border: 1px solid #eee; }
)";

// ---- small readers --------------------------------------------------------------

struct Loaded {
  std::optional<json> value;
  std::string error;  // set when the file exists but cannot be read
};

Loaded load_json(const fs::path& path) {
  Loaded out;
  if (!fs::exists(path)) return out;
  try {
    out.value = json::parse(read_file(path));
  } catch (const InternalError&) {
    throw;  // a bug is not an unreadable file
  } catch (const std::exception& e) {
    out.error = fmt::format("could not read {}: {}", path.string(), e.what());
  }
  return out;
}

double num(const json& j, std::initializer_list<const char*> keys, double fallback = std::nan("")) {
  if (!j.is_object()) return fallback;
  for (const char* k : keys)
    if (j.contains(k) && j[k].is_number()) return j[k].get<double>();
  return fallback;
}

std::string str(const json& j, std::initializer_list<const char*> keys, const std::string& fallback = "") {
  if (!j.is_object()) return fallback;
  for (const char* k : keys)
    if (j.contains(k)) {
      if (j[k].is_string()) return j[k].get<std::string>();
      if (j[k].is_number()) return j[k].dump();
    }
  return fallback;
}

std::vector<double> numbers(const json& j) {
  std::vector<double> out;
  if (!j.is_array()) return out;
  for (const auto& v : j) out.push_back(v.is_number() ? v.get<double>() : std::nan(""));
  return out;
}

std::string fixed(double v, int digits = 3) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, digits) : std::string("&#8212;");
}
std::string percent(double v) { return std::isfinite(v) ? fmt::format("{:.2f}%", 100 * v) : std::string("&#8212;"); }

std::string not_run(const std::string& what) { return fmt::format("<p class=\"notrun\">{}</p>\n", escape(what)); }

// ---- sections ---------------------------------------------------------------------

// One row per persona, RMSE / MAE / URR of every predictor side by side.
std::string persona_metrics_section(const json& predictors) {
  std::string h;
  std::map<std::string, std::pair<double, double>> persona_counts;  // persona -> users, ratings
  for (const auto& p : predictors) {
    const json per = p.value("per_persona", json::object());
    for (const auto& [k, g] : per.items())
      persona_counts[k] = {num(g, {"n_users"}), num(g, {"n_rated"}, 0) + num(g, {"n_unrelated"}, 0)};
  }
  h += "<h2 id=\"personas-metrics\">Metrics per persona</h2>\n";
  if (persona_counts.empty())
    h += not_run("No persona assignment was available to the evaluation.");
  else {
    h += "<p class=\"note\">Each cell: RMSE / MAE (URR when any answer was unrelated).</p>\n<table><tr>"
         "<th>persona</th><th>users</th><th>ratings</th>";
    for (const auto& p : predictors) h += fmt::format("<th>{}</th>", escape(str(p, {"name"})));
    h += "</tr>\n";
    std::vector<std::string> keys;
    for (const auto& [k, c] : persona_counts) keys.push_back(k);
    std::sort(keys.begin(), keys.end(), [](const std::string& a, const std::string& b) {
      return a.size() != b.size() ? a.size() < b.size() : a < b;  // numeric order for non-negative ids
    });
    for (const auto& k : keys) {
      h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td>", escape(k), fixed(persona_counts[k].first, 0),
                       fixed(persona_counts[k].second, 0));
      for (const auto& p : predictors) {
        const auto pp = p.value("per_persona", json::object());
        if (!pp.contains(k)) {
          h += "<td>&#8212;</td>";
          continue;
        }
        const auto& g = pp[k];
        const double urr = num(g, {"urr"}, 0);
        h += fmt::format("<td>{} / {}{}</td>", fixed(num(g, {"rmse"})), fixed(num(g, {"mae"})),
                         urr > 0 ? " (" + percent(urr) + ")" : "");
      }
      h += "</tr>\n";
    }
    h += "</table>\n";
  }
  return h;
}

// The table row of one predictor (bold when its RMSE is `best`; the paired
// column when there is a `reference`), and its bar of the RMSE chart.
std::string predictor_row(const json& p, const std::string& reference, double best, std::vector<svg::BarGroup>& bars) {
  std::string h;
  const auto o = p.value("overall", json::object());
  const double rmse = num(o, {"rmse"}), mae = num(o, {"mae"});
  auto interval = [&](const char* key) {
    if (!o.contains(key) || !o[key].is_array() || o[key].size() != 2) return std::string("&#8212;");
    return fmt::format("{} &#8211; {}", fixed(o[key][0].get<double>()), fixed(o[key][1].get<double>()));
  };
  std::string paired;
  if (!reference.empty()) {
    paired = "&#8212;";
    if (p.contains("vs_reference")) {
      const auto& d = p["vs_reference"];
      paired = fmt::format("{:+.4f}", num(d, {"rmse_diff"}));
      if (d.contains("rmse_diff_ci") && d["rmse_diff_ci"].is_array() && d["rmse_diff_ci"].size() == 2)
        paired += fmt::format(" [{:+.4f}, {:+.4f}]", d["rmse_diff_ci"][0].get<double>(),
                              d["rmse_diff_ci"][1].get<double>());
      // Paired on the subset the predictor rated (eval.agent_max_items).
      if (str(d, {"ratings"}) == "the predictor's subset") paired += " *";
    }
    paired = "<td>" + paired + "</td>";
  }
  h += fmt::format("<tr{}><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td>{}<td>{}</td>"
                   "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                   rmse == best ? " class=\"best\"" : "", escape(str(p, {"name"})), escape(str(p, {"kind"})),
                   fixed(rmse), interval("rmse_ci"), paired, fixed(mae), interval("mae_ci"),
                   percent(num(o, {"urr"})), fixed(num(o, {"js_distance"})),
                   fixed(num(o, {"n_rated"}, 0) + num(o, {"n_unrelated"}, 0), 0));
  svg::BarGroup g;
  g.label = str(p, {"name"});
  g.values = {rmse};
  g.colour = str(p, {"kind"}) == "agent" ? 1 : 0;
  if (o.contains("rmse_ci") && o["rmse_ci"].is_array() && o["rmse_ci"].size() == 2) {
    g.low = {o["rmse_ci"][0].get<double>()};
    g.high = {o["rmse_ci"][1].get<double>()};
  }
  bars.push_back(g);
  return h;
}

std::string section_metrics(const RunDir& run, const Loaded& metrics) {
  std::string h = "<h2 id=\"metrics\">Rating prediction: agents, baselines and the paper</h2>\n";
  if (!metrics.error.empty()) h += not_run(metrics.error);
  const json* predictors = nullptr;
  if (metrics.value && metrics.value->contains("predictors") && (*metrics.value)["predictors"].is_array())
    predictors = &(*metrics.value)["predictors"];
  if (!predictors)
    h += not_run(fmt::format("Evaluation not run ({} not found).", (run.stage_dir("eval") / "metrics.json").string()));
  else {
    const auto& doc = *metrics.value;
    if (doc.contains("data"))
      h += fmt::format("<p>Test set: {} users, {} held-out ratings ({} training ratings), source {}. Personas from {}. "
                       "Intervals: {:.0f}% percentile bootstrap over users ({} resamples).</p>\n",
                       escape(str(doc["data"], {"n_users"})), escape(str(doc["data"], {"n_test"})),
                       escape(str(doc["data"], {"n_train"})), escape(str(doc["data"], {"source"})),
                       escape(doc.contains("personas") ? str(doc["personas"], {"source"}) : "?"),
                       100 * (doc.contains("bootstrap") ? num(doc["bootstrap"], {"confidence"}, 0.95) : 0.95),
                       escape(doc.contains("bootstrap") ? str(doc["bootstrap"], {"samples"}) : "?"));
  }
  // Best RMSE among this run's predictors, for bolding.
  double best = std::numeric_limits<double>::infinity();
  if (predictors)
    for (const auto& p : *predictors) best = std::min(best, num(p.value("overall", json::object()), {"rmse"}, best));
  // The paired comparison's reference (eval.compare_to), when metrics.json has one.
  std::string reference;
  if (predictors)
    for (const auto& p : *predictors)
      if (p.contains("vs_reference")) reference = str(p["vs_reference"], {"reference"});
  h += "<table>\n<tr><th class=\"l\">predictor</th><th class=\"l\">kind</th><th>RMSE</th><th>RMSE interval</th>";
  if (!reference.empty()) h += fmt::format("<th>RMSE minus {} (paired interval)</th>", escape(reference));
  h += "<th>MAE</th><th>MAE interval</th><th>URR</th><th>JS distance</th><th>ratings</th></tr>\n";
  std::vector<svg::BarGroup> bars;
  if (predictors)
    for (const auto& p : *predictors) {
      h += predictor_row(p, reference, best, bars);
    }
  for (const auto& r : paper_table1()) {
    h += fmt::format("<tr class=\"paper\"><td class=\"l\">paper: {}</td><td class=\"l\">paper Table 1</td><td>{}</td>"
                     "<td>&#8212;</td>{}<td>{}</td><td>&#8212;</td><td>{}</td><td>&#8212;</td><td>&#8212;</td></tr>\n",
                     escape(r.setup), fixed(r.rmse), reference.empty() ? "" : "<td>&#8212;</td>", fixed(r.mae),
                     percent(r.urr));
  }
  h += "</table>\n<p class=\"note\">Paper rows: Table 1 of the paper (../shared/docs/PAPER.md, \"Results to beat\"), "
       "MovieLens-1M, 200 users with 100&#8211;200 ratings, temporal 60:40 split (this run's data set may differ: "
       "see the data section). Bold: the best RMSE of this run. "
       "URR: share of answers without a usable rating. Paired interval: the same bootstrap resamples of users for "
       "both predictors, so an interval that holds 0 means no detectable difference; * = paired on the subset of "
       "test ratings the predictor rated (eval.agent_max_items), the reference's predictions of the same ratings."
       "</p>\n";
  const char* short_names[] = {"paper LLaMA-3 frozen", "paper Phi-3 frozen", "paper global LoRA",
                               "paper K=4 profile", "paper K=4 +memory"};
  for (std::size_t r = 0; r < paper_table1().size(); ++r) {
    svg::BarGroup pg;
    pg.label = short_names[r];
    pg.values = {paper_table1()[r].rmse};
    pg.fill = "#b0b0b0";
    bars.push_back(pg);
  }
  svg::BarChartOptions bo;
  bo.title = "RMSE: this run (colour, whiskers = bootstrap interval) and the paper (grey); lower is better";
  bo.y_label = "RMSE";
  bo.width = 1100;
  bo.height = 340;
  bo.y_from_zero = false;
  h += "<div>" + svg::bar_chart(bars, bo) + "</div>\n";

  if (predictors) h += persona_metrics_section(*predictors);
  return h;
}

std::string section_distributions(const Loaded& metrics) {
  std::string h = "<h2 id=\"distributions\">Rating distributions: true vs predicted</h2>\n";
  if (!metrics.value || !metrics.value->contains("predictors")) return h + not_run("Evaluation not run.");
  const auto& doc = *metrics.value;
  auto centres = numbers(doc.value("histogram_bins", json::array()));
  h += "<p class=\"note\">Share of held-out ratings per bin of width 0.25 (true ratings are whole numbers; "
       "predictions are continuous). JS: Jensen&#8211;Shannon distance between the two (0 = same, 1 = disjoint).</p>\n"
       "<div class=\"grid\">\n";
  for (const auto& p : doc["predictors"]) {
    const auto o = p.value("overall", json::object());
    auto truth = numbers(o.value("hist_truth", json::array()));
    auto pred = numbers(o.value("hist_predicted", json::array()));
    double nt = 0, np = 0;
    for (double v : truth) nt += v;
    for (double v : pred) np += v;
    std::vector<svg::BarGroup> groups;
    for (std::size_t b = 0; b < std::max(truth.size(), pred.size()); ++b) {
      svg::BarGroup g;
      const double c = b < centres.size() ? centres[b] : 1 + 0.25 * double(b);
      g.label = std::abs(c - std::round(c)) < 1e-9 ? fmt::format("{:.0f}", c) : "";
      g.values = {b < truth.size() && nt > 0 ? truth[b] / nt : 0.0, b < pred.size() && np > 0 ? pred[b] / np : 0.0};
      groups.push_back(g);
    }
    svg::BarChartOptions bo;
    bo.title = fmt::format("{} (JS {})", str(p, {"name"}), fixed(num(o, {"js_distance"})));
    bo.y_label = "share";
    bo.series_names = {"true", "predicted"};
    bo.width = 360;
    bo.height = 240;
    h += svg::bar_chart(groups, bo);
  }
  return h + "</div>\n";
}

// curves.json, tolerantly: {"k": [...], "inertia": [...], "silhouette": [...]},
// or [{"k": 2, "inertia": ..., "silhouette": ...}, ...], possibly under "curves".
struct Curves {
  std::vector<double> k, inertia, silhouette;
  double chosen = std::nan("");
};

Curves parse_curves(const json& doc) {
  Curves c;
  const json* body = &doc;
  if (doc.is_object() && doc.contains("curves")) body = &doc["curves"];
  const char* inertia_keys[] = {"inertia", "objective", "sse", "wcss", "elbow"};
  if (body->is_array()) {
    for (const auto& row : *body) {
      c.k.push_back(num(row, {"k"}));
      c.inertia.push_back(num(row, {"inertia", "objective", "sse", "wcss"}));
      c.silhouette.push_back(num(row, {"silhouette", "silhouette_score"}));
    }
  } else if (body->is_object()) {
    for (const char* key : {"k", "ks"})
      if (body->contains(key)) c.k = numbers((*body)[key]);
    for (const char* key : inertia_keys)
      if (body->contains(key) && (*body)[key].is_array()) {
        c.inertia = numbers((*body)[key]);
        break;
      }
    for (const char* key : {"silhouette", "silhouette_score"})
      if (body->contains(key) && (*body)[key].is_array()) c.silhouette = numbers((*body)[key]);
  }
  c.chosen = num(doc, {"chosen_k", "selected_k", "k_selected", "best_k", "k_chosen"});
  if (!std::isfinite(c.chosen) && doc.is_object() && doc.contains("k") && doc["k"].is_number())
    c.chosen = doc["k"].get<double>();
  return c;
}

std::string section_clusters(const RunDir& run) {
  std::string h = "<h2 id=\"clusters\">Personas: choice of k, sizes and descriptions</h2>\n";
  const auto dir = run.stage_dir("cluster");
  const auto curves_file = load_json(dir / "curves.json");
  double chosen = std::nan("");
  if (!curves_file.error.empty()) h += not_run(curves_file.error);
  if (!curves_file.value) {
    if (curves_file.error.empty()) h += not_run("Clustering curves not found (cluster stage not run).");
  } else {
    const auto c = parse_curves(*curves_file.value);
    chosen = c.chosen;
    if (c.k.empty()) h += not_run(fmt::format("{} holds no k values.", (dir / "curves.json").string()));
    else {
      h += "<div class=\"grid\">\n";
      svg::LineChartOptions lo;
      lo.x_label = "k";
      lo.width = 540;
      lo.has_marker = std::isfinite(c.chosen);
      lo.marker_x = c.chosen;
      lo.marker_label = std::isfinite(c.chosen) ? fmt::format("chosen k = {:.0f}", c.chosen) : "";
      if (!c.inertia.empty()) {
        lo.title = "Elbow: inertia per k";
        lo.y_label = "inertia";
        h += svg::line_chart({{"inertia", c.k, c.inertia}}, lo);
      }
      if (!c.silhouette.empty()) {
        lo.title = "Mean silhouette per k";
        lo.y_label = "silhouette";
        h += svg::line_chart({{"silhouette", c.k, c.silhouette}}, lo);
      }
      h += "</div>\n";
    }
  }
  // Sizes from the assignments (the train and eval stages' reader: each user
  // once, though the cluster stage lists every user twice), descriptions from
  // personas.json (or clusters.json).
  std::map<std::int64_t, std::int64_t> sizes;
  std::map<std::int64_t, std::string> descriptions;
  std::string problems;
  try {
    for (const auto& [user, persona] : read_persona_table(run).by_id) sizes[persona] += 1;
  } catch (const InternalError&) {
    throw;  // a bug is not an unreadable file
  } catch (const std::exception& e) {
    problems += fmt::format("could not read the assignments: {}. ", e.what());
  }
  for (const char* file : {"personas.json", "clusters.json", "descriptions.json"}) {
    const auto d = load_json(dir / file);
    if (!d.error.empty()) problems += d.error + ". ";
    if (!d.value) continue;
    const json* list = &*d.value;
    for (const char* key : {"personas", "clusters"})
      if (d.value->is_object() && d.value->contains(key)) list = &(*d.value)[key];
    if (!list->is_array()) continue;
    for (std::size_t i = 0; i < list->size(); ++i) {
      const auto& row = (*list)[i];
      const double id = num(row, {"persona", "id", "cluster", "k"}, double(i));
      const auto text = str(row, {"description", "summary", "label", "name"});
      if (!text.empty()) descriptions[std::int64_t(id)] = text;
      const double size = num(row, {"size", "n_users", "count"});
      if (std::isfinite(size) && !sizes.count(std::int64_t(id))) sizes[std::int64_t(id)] = std::int64_t(size);
    }
    break;
  }
  if (!problems.empty()) h += not_run(problems);
  if (sizes.empty() && descriptions.empty()) return h + not_run("No cluster assignments or descriptions found.");
  std::int64_t total = 0;
  for (const auto& [k, n] : sizes) total += n;
  h += "<table><tr><th>persona</th><th>users</th><th>share</th><th class=\"l\">description</th></tr>\n";
  std::vector<svg::BarGroup> bars;
  std::map<std::int64_t, bool> ids;
  for (const auto& [k, n] : sizes) ids[k] = true;
  for (const auto& [k, d] : descriptions) ids[k] = true;
  for (const auto& [k, unused] : ids) {
    const auto n = sizes.count(k) ? sizes[k] : 0;
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>\n", k, n,
                     total > 0 ? percent(double(n) / double(total)) : std::string("&#8212;"),
                     escape(descriptions.count(k) ? descriptions[k] : ""));
    bars.push_back({fmt::format("{}", k), {double(n)}, {}, {}});
  }
  h += "</table>\n";
  svg::BarChartOptions bo;
  bo.title = std::isfinite(chosen) ? fmt::format("Users per persona (k = {:.0f})", chosen) : "Users per persona";
  bo.y_label = "users";
  h += svg::bar_chart(bars, bo);
  return h;
}

// One row per adapter of RUN/train/summary.json: how far validation moved
// and which step was kept (train.keep_best; "last" when it is off). Empty
// when there is no summary.
std::string adapters_table(const RunDir& run) {
  const auto summary = load_json(run.stage_dir("train") / "summary.json");
  if (!summary.error.empty()) return not_run(summary.error);
  if (!summary.value || !summary.value->contains("adapters") || !(*summary.value)["adapters"].is_array()) return "";
  std::string h =
      "<table><tr><th class=\"l\">adapter</th><th>training samples</th><th>steps</th><th>validation loss at "
      "start</th><th>lowest</th><th>kept step</th><th>lower passes within the noise (not kept)</th></tr>\n";
  for (const auto& a : (*summary.value)["adapters"]) {
    double lowest = std::nan("");
    if (a.contains("val_loss") && a["val_loss"].is_array())
      for (const auto& pass : a["val_loss"])
        if (pass.is_array() && pass.size() == 2 && pass[1].is_number() && pass[1].get<double>() >= 0)
          lowest = std::isfinite(lowest) ? std::min(lowest, pass[1].get<double>()) : pass[1].get<double>();
    const double kept = num(a, {"kept_step"});
    h += fmt::format("<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                     escape(str(a, {"name"})), escape(str(a, {"train_samples"})), escape(str(a, {"steps"})),
                     fixed(num(a, {"initial_val_loss"}), 4), fixed(lowest, 4),
                     std::isfinite(kept) && kept >= 0 ? fmt::format("{:.0f}", kept) : std::string("last"),
                     escape(str(a, {"lower_not_kept"}, "0")));
  }
  return h + "</table>\n";
}

std::string section_training(const RunDir& run) {
  std::string h = "<h2 id=\"training\">Training loss</h2>\n";
  h += adapters_table(run);
  const auto dir = run.stage_dir("train");
  std::map<std::string, svg::Series> series;
  std::string problems;
  if (fs::is_directory(dir)) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file() && entry.path().extension() == ".jsonl") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      try {
        read_jsonl(file, [&](const json& j, std::size_t) {
          const double step = num(j, {"step"}), loss = num(j, {"loss", "train_loss"});
          if (!std::isfinite(step) || !std::isfinite(loss)) return;
          std::string key = str(j, {"persona", "adapter"});
          key = key.empty() ? file.stem().string() : "persona " + key;
          const auto split = str(j, {"split", "phase"});
          if (!split.empty() && split != "train") key += " (" + split + ")";
          auto& s = series[key];
          s.name = key;
          s.x.push_back(step);
          s.y.push_back(loss);
        });
      } catch (const InternalError&) {
        throw;  // a bug is not an unreadable file
      } catch (const std::exception& e) {
        problems += fmt::format("could not read {}: {}. ", file.string(), e.what());
      }
    }
  }
  if (!problems.empty()) h += not_run(problems);
  if (series.empty()) return h + not_run("No training logs with step and loss found (train stage not run).");
  std::vector<svg::Series> list;
  for (auto& [k, s] : series) {
    // Keep the charts light: at most ~400 points per curve.
    if (s.x.size() > 400) {
      svg::Series thin{s.name, {}, {}};
      const std::size_t stride = (s.x.size() + 399) / 400;
      for (std::size_t i = 0; i < s.x.size(); i += stride) {
        thin.x.push_back(s.x[i]);
        thin.y.push_back(s.y[i]);
      }
      s = thin;
    }
    list.push_back(s);
  }
  svg::LineChartOptions lo;
  lo.title = "Training loss per step";
  lo.x_label = "step";
  lo.y_label = "loss";
  lo.width = 1100;
  lo.height = 340;
  lo.points = false;
  return h + svg::line_chart(list, lo);
}

std::string section_stages(const RunDir& run) {
  std::string h = "<h2 id=\"stages\">Time and cost per stage</h2>\n";
  const std::vector<std::string> order = {"prepare", "distill", "embed", "cluster", "train", "eval"};
  std::vector<std::string> stages = order;
  if (fs::is_directory(run.root()))
    for (const auto& entry : fs::directory_iterator(run.root())) {
      const auto name = entry.path().filename().string();
      if (entry.is_directory() && fs::exists(entry.path() / "DONE") &&
          std::find(stages.begin(), stages.end(), name) == stages.end() && name != "report")
        stages.push_back(name);
    }
  h += "<table><tr><th class=\"l\">stage</th><th class=\"l\">status</th><th>seconds</th><th>cost (USD)</th>"
       "<th>ranks</th><th class=\"l\">finished at</th></tr>\n";
  std::vector<svg::BarGroup> bars;
  double total_seconds = 0, total_cost = 0;
  for (const auto& stage : stages) {
    std::optional<json> marker;
    std::string status = "not run";
    try {
      marker = run.done_marker(stage);
      if (marker) status = "done";
    } catch (const InternalError&) {
      throw;  // a bug is not an unreadable file
    } catch (const std::exception& e) {
      status = fmt::format("unreadable marker: {}", e.what());
    }
    const json m = marker ? *marker : json::object();
    const double seconds = num(m, {"seconds", "wall_seconds", "elapsed_seconds"});
    const double cost = num(m, {"cost_usd"});
    if (std::isfinite(seconds)) total_seconds += seconds;
    if (std::isfinite(cost)) total_cost += cost;
    h += fmt::format("<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td>"
                     "<td class=\"l\">{}</td></tr>\n",
                     escape(stage), marker ? escape(status) : "<span class=\"notrun\">not run</span>",
                     fixed(seconds, 2), std::isfinite(cost) ? fmt::format("{:.4f}", cost) : "&#8212;",
                     escape(str(m, {"n_ranks"})), escape(str(m, {"finished_at"})));
    if (marker) bars.push_back({stage, {std::isfinite(seconds) ? seconds : 0.0}, {}, {}});
  }
  h += fmt::format("<tr><td class=\"l\"><b>total</b></td><td></td><td><b>{:.2f}</b></td><td><b>{:.4f}</b></td>"
                   "<td></td><td></td></tr>\n</table>\n",
                   total_seconds, total_cost);
  if (bars.empty()) return h + not_run("No stage has finished in this run directory.");
  svg::BarChartOptions bo;
  bo.title = "Wall time per stage";
  bo.y_label = "seconds";
  return h + svg::bar_chart(bars, bo);
}

std::string now_utc() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

}  // namespace

const std::vector<PaperResult>& paper_table1() {
  // Source: ../shared/docs/PAPER.md, "Results to beat (Table 1 of the paper)".
  static const std::vector<PaperResult> table = {
      {"LLaMA-3-8B frozen, profile only", 1.158, 0.847, 0.0},
      {"Phi-3-Mini frozen, profile only", 1.203, 0.863, 0.0423},
      {"Phi-3-Mini + one global LoRA, profile + memory", 1.150, 0.834, 0.0115},
      {"Phi-3-Mini + persona LoRAs (K=4), profile only", 1.292, 0.937, 0.0229},
      {"Phi-3-Mini + persona LoRAs (K=4), profile + memory", 1.171, 0.881, 0.0177},
  };
  return table;
}

std::string render_report(const RunDir& run) {
  const auto metrics = load_json(run.stage_dir("eval") / "metrics.json");
  std::string body;
  body += section_metrics(run, metrics);
  body += section_distributions(metrics);
  body += section_clusters(run);
  body += section_training(run);
  body += section_stages(run);
  std::string page = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n";
  page += fmt::format("<title>Personas report: {}</title>\n", escape(run.root().string()));
  page += "<style>" + std::string(kStyle) + "</style>\n</head>\n<body>\n";
  page += fmt::format("<h1>Personas run report</h1>\n<p class=\"note\">Run directory <code>{}</code>, generated {}. "
                      "Sections: <a href=\"#metrics\">metrics</a>, <a href=\"#distributions\">distributions</a>, "
                      "<a href=\"#clusters\">personas</a>, <a href=\"#training\">training</a>, "
                      "<a href=\"#stages\">stages</a>.</p>\n",
                      escape(fs::absolute(run.root()).string()), now_utc());
  page += body;
  page += "</body>\n</html>\n";
  return page;
}

fs::path write_report(const RunDir& run) {
  const auto html = render_report(run);
  const auto path = run.ensure_stage_dir("report") / "index.html";
  write_file_atomic(path, html);
  return path;
}

}  // namespace personas
