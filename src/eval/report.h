// `personas report`: one self-contained HTML page about a run (inline CSS and
// SVG; no script, no network), built from whatever the run directory holds.
// A section whose inputs are missing says "not run" instead of failing; an
// unreadable input says what could not be read.
//
// Inputs (all optional):
//   RUN/eval/metrics.json             predictors' metrics (docs/evaluation.md)
//   RUN/cluster/curves.json           elbow (inertia) and silhouette per k
//   RUN/cluster/assignments*.jsonl    cluster sizes
//   RUN/cluster/personas.json         cluster descriptions (tolerant reader)
//   RUN/train/*.jsonl                 training logs: lines with "step" and "loss"
//   RUN/<stage>/DONE                  stage markers: "seconds", "cost_usd", "n_ranks"
// Output: RUN/report/index.html (written atomically).
#pragma once

#include <string>
#include <vector>

#include "core/run_dir.h"

namespace personas {

// Table 1 of the paper (../shared/docs/PAPER.md, "Results to beat"; ML-100K,
// 200 users with 100-200 ratings, temporal 60:40 split; 1-5 ratings).
struct PaperResult {
  const char* setup;
  double rmse, mae, urr;  // urr as a fraction
};
const std::vector<PaperResult>& paper_table1();

// The page as text (reads the run directory; no writes).
std::string render_report(const RunDir& run);

// render_report, then RUN/report/index.html atomically; returns its path.
fs::path write_report(const RunDir& run);

}  // namespace personas
