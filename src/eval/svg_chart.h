// Tiny inline-SVG charts for the HTML report: line charts (elbow, silhouette,
// loss curves) and grouped bar charts (metrics, histograms, stage times).
// The output is well-formed XML (every text escaped), needs no script and no
// network.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace personas::svg {

// Escapes & < > " ' for XML/HTML text and attributes.
std::string escape(std::string_view text);

struct Series {
  std::string name;
  std::vector<double> x, y;
};

struct LineChartOptions {
  std::string title, x_label, y_label;
  int width = 560, height = 300;
  bool points = true;            // draw a dot on every point (off for long loss curves)
  double marker_x = 0;           // a vertical dashed marker (e.g. the chosen k) when has_marker
  bool has_marker = false;
  std::string marker_label;
  bool y_from_zero = false;
};
std::string line_chart(const std::vector<Series>& series, const LineChartOptions& options);

struct BarChartOptions {
  std::string title, y_label;
  int width = 560, height = 300;
  bool y_from_zero = true;
  std::vector<std::string> series_names;  // legend; one colour per series
};
// groups[g].values[s] is the bar of series s in group g; optional error bars
// (low/high per value, same shape) are drawn when given.
struct BarGroup {
  std::string label;
  std::vector<double> values;
  std::vector<double> low, high;
  int colour = -1;  // palette index for every bar of this group (-1: by series)
  const char* fill = nullptr;  // or an explicit colour (e.g. grey for reference rows)
};
std::string bar_chart(const std::vector<BarGroup>& groups, const BarChartOptions& options);

// The colour of series i (a fixed palette readable on white).
const char* colour(std::size_t i);

}  // namespace personas::svg
