// The HTML report: well-formed (whole page and every SVG), key numbers
// present, and missing or broken inputs shown as such instead of failing.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <regex>
#include <string>
#include <vector>

#include "comm/comm.h"
#include "core/fs.h"
#include "eval/evaluation.h"
#include "eval/report.h"
#include "eval/svg_chart.h"
#include "support/test_support.h"
#include "unit/eval/eval_test_data.h"
#include "unit/eval/xml_check.h"

namespace personas {
namespace {

bool contains(const std::string& page, const std::string& what) { return page.find(what) != std::string::npos; }

// The cells (tags stripped) of every table row whose first cell is `first`:
// the numbers a reader sees, whatever the markup around them.
std::vector<std::vector<std::string>> rows_starting_with(const std::string& page, const std::string& first) {
  std::vector<std::vector<std::string>> rows;
  for (std::size_t at = page.find("<tr"); at != std::string::npos; at = page.find("<tr", at + 1)) {
    const auto end = page.find("</tr>", at);
    if (end == std::string::npos) break;
    std::vector<std::string> cells;
    const std::string row = page.substr(at, end - at);
    for (std::size_t c = row.find("<td"); c != std::string::npos; c = row.find("<td", c + 1)) {
      const auto open_end = row.find('>', c);
      const auto close = row.find("</td>", open_end);
      std::string text;
      bool in_tag = false;
      for (char ch : row.substr(open_end + 1, close - open_end - 1)) {
        if (ch == '<') in_tag = true;
        else if (ch == '>') in_tag = false;
        else if (!in_tag) text += ch;
      }
      cells.push_back(text);
    }
    if (!cells.empty() && cells.front() == first) rows.push_back(cells);
  }
  return rows;
}

// The page must load nothing: no src or href to another host, http or https
// or protocol-relative, in any quoting.
bool loads_external_resources(const std::string& page) {
  static const std::regex external(R"re((src|href)\s*=\s*["']?\s*(https?:)?//)re", std::regex::icase);
  return std::regex_search(page, external);
}

void expect_well_formed(const std::string& page) {
  EXPECT_EQ(testing::xml_problem(page), "");
  for (const auto& fragment : testing::svg_fragments(page)) EXPECT_EQ(testing::xml_problem(fragment), "") << fragment;
}

// A run directory with every input the report reads.
nlohmann::json fill_run(const RunDir& run) {
  auto comm = make_local_comm();
  const auto data = testing::make_model_ratings(40, 30, 20, 8);
  EvalConfig c;
  c.baselines = "global_mean,bias,mf_als";
  c.als_factors = 3;
  c.bootstrap_samples = 50;
  std::vector<std::int32_t> personas;
  for (const auto& u : data.users) personas.push_back(u.true_persona);
  const auto predictors = baseline_predictors(c, 3);
  MetricsOptions mo;
  mo.bootstrap_samples = 50;
  const auto outcome = evaluate_predictors(predictors, data, personas, *comm, mo);
  nlohmann::json context;
  context["data"] = {{"source", "test-model"}, {"n_users", 40}, {"n_train", 560}, {"n_test", 240}};
  context["personas"] = {{"source", "planted"}};
  context["bootstrap"] = {{"samples", 50}, {"confidence", 0.95}};
  const auto doc = metrics_document(predictors, outcome, context);
  write_eval_metrics(run, doc);
  run.mark_done("eval", "h", {{"seconds", 1.25}});
  run.mark_done("distill", "h", {{"seconds", 3600.5}, {"cost_usd", 2.5}});
  write_file_atomic(run.stage_dir("cluster") / "curves.json",
                    R"({"k": [2, 3, 4, 5, 6], "inertia": [900, 700, 560, 520, 500],
                        "silhouette": [0.21, 0.25, 0.31, 0.27, 0.22], "chosen_k": 4})");
  std::string assignments;
  for (int u = 0; u < 40; ++u) assignments += fmt::format("{{\"user\": {}, \"persona\": {}}}\n", 10 + u, u % 4);
  write_file_atomic(run.stage_dir("cluster") / "assignments.jsonl", assignments);
  // As the cluster stage writes them: the same users again, in rank files.
  write_file_atomic(run.stage_dir("cluster") / "assignments-rank-00000.jsonl", assignments);
  write_file_atomic(run.stage_dir("cluster") / "personas.json",
                    R"([{"persona": 0, "description": "Drama <lovers> & critics"}, {"persona": 1, "description": "Action fans"}])");
  std::string log;
  for (int step = 0; step < 50; ++step)
    log += fmt::format("{{\"step\": {}, \"loss\": {}, \"persona\": {}}}\n", step, 2.0 / (1 + 0.1 * step), step % 2);
  write_file_atomic(run.stage_dir("train") / "log-rank-00000.jsonl", log);
  write_file_atomic(run.stage_dir("train") / "summary.json",
                    R"({"adapters": [{"name": "global", "train_samples": 900, "steps": 57, "initial_val_loss": 20.5,
                                      "val_loss": [[0, 20.5], [20, 0.4321], [57, 0.4400]], "kept_step": 20,
                                      "lower_not_kept": 0},
                                     {"name": "persona-<0001>", "train_samples": 300, "steps": 19,
                                      "initial_val_loss": 0.4321, "val_loss": [[0, 0.4321], [19, 0.4309]],
                                      "kept_step": 0, "lower_not_kept": 1}]})");
  return doc;
}

TEST(EvalReport, FullRunIsWellFormedAndShowsTheNumbers) {
  testing::TempDir dir;
  RunDir run(dir.path());
  const auto doc = fill_run(run);
  const auto path = write_report(run);
  ASSERT_TRUE(fs::exists(path));
  EXPECT_EQ(path, dir.path() / "report" / "index.html");
  const auto page = read_file(path);
  expect_well_formed(page);
  EXPECT_GE(testing::svg_fragments(page).size(), 8u);  // RMSE, 3 histograms, elbow, silhouette, sizes, loss, stages
  for (const auto& p : doc["predictors"]) {
    EXPECT_TRUE(contains(page, p["name"].get<std::string>()));
    EXPECT_TRUE(contains(page, fmt::format("{:.3f}", p["overall"]["rmse"].get<double>()))) << p["name"];
    EXPECT_TRUE(contains(page, fmt::format("{:.3f}", p["overall"]["mae"].get<double>()))) << p["name"];
  }
  for (const auto& r : paper_table1()) EXPECT_TRUE(contains(page, fmt::format("{:.3f}", r.rmse)));
  EXPECT_TRUE(contains(page, "1.171"));
  EXPECT_TRUE(contains(page, "4.23%"));
  EXPECT_TRUE(contains(page, "chosen k = 4"));
  EXPECT_TRUE(contains(page, "Drama &lt;lovers&gt; &amp; critics"));
  EXPECT_TRUE(contains(page, "persona 1"));
  EXPECT_TRUE(contains(page, "3600.50"));
  EXPECT_TRUE(contains(page, "2.5000"));
  // 40 users over 4 personas, each counted once although listed in two files.
  const auto zero_rows = rows_starting_with(page, "0");
  EXPECT_TRUE(std::any_of(zero_rows.begin(), zero_rows.end(), [](const std::vector<std::string>& r) {
    return r.size() >= 3 && r[1] == "10" && r[2] == "25.00%";
  })) << "persona 0's size row";
  // The adapters' table: the lowest validation loss, the kept step, the passes within the noise.
  EXPECT_EQ(rows_starting_with(page, "persona-&lt;0001&gt;"),
            (std::vector<std::vector<std::string>>{{"persona-&lt;0001&gt;", "300", "19", "0.4321", "0.4309", "0", "1"}}));
  const auto global = rows_starting_with(page, "global");
  ASSERT_EQ(global.size(), 1u);
  EXPECT_EQ(global[0], (std::vector<std::string>{"global", "900", "57", "20.5000", "0.4321", "20", "0"}));
  EXPECT_FALSE(contains(page, "<script"));
  EXPECT_FALSE(loads_external_resources(page));
  for (const std::string planted : {"<img src=\"https://x.org/a.png\">", "<link href='//cdn.x.org/s.css'>",
                                    "<img SRC = http://x.org/a.png>"})
    EXPECT_TRUE(loads_external_resources(page + planted)) << planted;
}

TEST(EvalReport, EmptyRunSaysNotRun) {
  testing::TempDir dir;
  RunDir run(dir.path());
  const auto page = render_report(run);
  expect_well_formed(page);
  EXPECT_TRUE(contains(page, "Evaluation not run"));
  EXPECT_TRUE(contains(page, "cluster stage not run"));
  EXPECT_TRUE(contains(page, "train stage not run"));
  EXPECT_TRUE(contains(page, "No stage has finished"));
  EXPECT_TRUE(contains(page, "1.171"));  // the paper's numbers are always there
}

TEST(EvalReport, BrokenInputsAreReportedNotFatal) {
  testing::TempDir dir;
  RunDir run(dir.path());
  write_file_atomic(run.stage_dir("eval") / "metrics.json", "{ not json");
  write_file_atomic(run.stage_dir("cluster") / "curves.json", R"([{"k": 2, "objective": 10}, {"k": 3, "objective": 7}])");
  write_file_atomic(run.stage_dir("train") / "log.jsonl", "{\"step\": 1, \"loss\": 2}\nnot json\n");
  write_file_atomic(run.stage_dir("cluster") / "assignments.jsonl", "{\"user\": 1, \"persona\": \"two\"}\n");
  const auto page = render_report(run);
  expect_well_formed(page);
  EXPECT_TRUE(contains(page, "could not read"));
  EXPECT_TRUE(contains(page, "could not read the assignments")) << "a malformed assignment is named, not fatal";
  EXPECT_TRUE(contains(page, "assignments.jsonl:1"));
  EXPECT_TRUE(contains(page, "Elbow"));  // the array form of curves.json with "objective"
}

TEST(EvalReport, SvgChartsEscapeTextAndSurviveDegenerateData) {
  svg::LineChartOptions lo;
  lo.title = "a < b & c";
  const auto one = svg::line_chart({{"s", {1}, {5}}}, lo);
  EXPECT_EQ(testing::xml_problem(one), "");
  EXPECT_TRUE(contains(one, "a &lt; b &amp; c"));
  EXPECT_EQ(testing::xml_problem(svg::line_chart({}, lo)), "");
  svg::BarChartOptions bo;
  EXPECT_EQ(testing::xml_problem(svg::bar_chart({{"x", {std::nan("")}, {}, {}}}, bo)), "");
  EXPECT_EQ(testing::xml_problem(svg::bar_chart({{"neg", {-1.0, 2.0}, {}, {}}}, bo)), "");
}

TEST(EvalReport, XmlCheckerCatchesBrokenMarkup) {
  EXPECT_NE(testing::xml_problem("<a><b></a></b>"), "");
  EXPECT_NE(testing::xml_problem("<a x=1></a>"), "");
  EXPECT_NE(testing::xml_problem("<a>&nope;</a>"), "");
  EXPECT_NE(testing::xml_problem("<a>"), "");
  EXPECT_EQ(testing::xml_problem("<!DOCTYPE html>\n<a x=\"1\"><b/>&amp;&#8212;</a>\n"), "");
}

}  // namespace
}  // namespace personas
