#include "eval/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace personas::svg {

namespace {

constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool valid() const { return lo <= hi; }
};

// "Nice" tick values covering [lo, hi] (1, 2, 5 times a power of ten).
std::vector<double> ticks(double& lo, double& hi, int target = 5) {
  if (!(hi > lo)) {
    const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  lo = std::floor(lo / step) * step;
  hi = std::ceil(hi / step) * step;
  std::vector<double> out;
  for (double v = lo; v <= hi + step * 1e-9; v += step) out.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return out;
}

std::string number(double v) {
  if (v == 0) return "0";
  const double a = std::abs(v);
  if (a >= 1e5 || a < 1e-3) return fmt::format("{:.2g}", v);
  if (v == std::round(v)) return fmt::format("{:.0f}", v);  // tick 50, not 50.0
  if (a >= 100) return fmt::format("{:.0f}", v);
  if (a >= 10) return fmt::format("{:.1f}", v);
  return fmt::format("{:.3g}", v);
}

struct Frame {
  double left = 60, right = 16, top = 34, bottom = 46;
  int width = 560, height = 300;
  double plot_w() const { return width - left - right; }
  double plot_h() const { return height - top - bottom; }
};

std::string open_svg(const Frame& f, const std::string& title) {
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "role=\"img\" font-family=\"sans-serif\" font-size=\"11\">\n",
      f.width, f.height);
  s += fmt::format("<title>{}</title>\n", escape(title));
  s += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", f.width, f.height);
  s += fmt::format("<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">{}</text>\n",
                   f.width / 2, escape(title));
  return s;
}

std::string y_axis(const Frame& f, const std::vector<double>& yt, double lo, double hi, const std::string& label) {
  std::string s;
  for (double v : yt) {
    const double y = f.top + f.plot_h() * (1 - (v - lo) / (hi - lo));
    s += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e0e0e0\"/>\n", f.left, y,
                     f.left + f.plot_w(), y);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", f.left - 5, y + 4,
                     escape(number(v)));
  }
  s += fmt::format("<text x=\"14\" y=\"{:.1f}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {:.1f})\">{}</text>\n",
                   f.top + f.plot_h() / 2, f.top + f.plot_h() / 2, escape(label));
  s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"#888\"/>\n",
                   f.left, f.top, f.plot_w(), f.plot_h());
  return s;
}

std::string legend(const Frame& f, const std::vector<std::string>& names) {
  std::string s;
  double x = f.left;
  const double y = f.height - 10;
  for (std::size_t i = 0; i < names.size(); ++i) {
    s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"10\" height=\"10\" fill=\"{}\"/>\n", x, y - 9, colour(i));
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", x + 14, y, escape(names[i]));
    x += 24 + 6.5 * double(names[i].size());
  }
  return s;
}

}  // namespace

const char* colour(std::size_t i) { return kPalette[i % (sizeof(kPalette) / sizeof(kPalette[0]))]; }

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') out += ' ';
        else out += c;
    }
  }
  return out;
}

std::string line_chart(const std::vector<Series>& series, const LineChartOptions& o) {
  Frame f;
  f.width = o.width;
  f.height = o.height;
  f.bottom = series.size() > 1 ? 52 : 40;
  Range xr, yr;
  for (const auto& s : series)
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      xr.add(s.x[i]);
      yr.add(s.y[i]);
    }
  std::string out = open_svg(f, o.title);
  if (!xr.valid()) {
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data</text>\n</svg>\n", f.width / 2,
                       f.height / 2);
    return out;
  }
  if (o.y_from_zero) yr.lo = std::min(yr.lo, 0.0);
  double xlo = xr.lo, xhi = xr.hi, ylo = yr.lo, yhi = yr.hi;
  const auto xt = ticks(xlo, xhi, 6);
  const auto yt = ticks(ylo, yhi, 5);
  auto px = [&](double x) { return f.left + f.plot_w() * (x - xlo) / (xhi - xlo); };
  auto py = [&](double y) { return f.top + f.plot_h() * (1 - (y - ylo) / (yhi - ylo)); };
  out += y_axis(f, yt, ylo, yhi, o.y_label);
  for (double v : xt)
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", px(v),
                       f.top + f.plot_h() + 14, escape(number(v)));
  out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", f.left + f.plot_w() / 2,
                     f.top + f.plot_h() + 28, escape(o.x_label));
  if (o.has_marker) {
    const double x = px(o.marker_x);
    out += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#d62728\" "
                       "stroke-dasharray=\"4 3\"/>\n",
                       x, f.top, f.top + f.plot_h());
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#d62728\">{}</text>\n", x + 4, f.top + 12,
                       escape(o.marker_label));
  }
  std::vector<std::string> names;
  for (std::size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    names.push_back(s.name);
    std::string points;
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
      if (std::isfinite(s.y[i])) points += fmt::format("{:.1f},{:.1f} ", px(s.x[i]), py(s.y[i]));
    out += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\" points=\"{}\"/>\n", colour(k),
                       points);
    if (o.points)
      for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
        if (std::isfinite(s.y[i]))
          out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.5\" fill=\"{}\"/>\n", px(s.x[i]), py(s.y[i]),
                             colour(k));
  }
  if (series.size() > 1) out += legend(f, names);
  out += "</svg>\n";
  return out;
}

std::string bar_chart(const std::vector<BarGroup>& groups, const BarChartOptions& o) {
  Frame f;
  f.width = o.width;
  f.height = o.height;
  f.bottom = o.series_names.size() > 1 ? 60 : 46;
  std::size_t longest = 0;
  for (const auto& g : groups) longest = std::max(longest, g.label.size());
  const double group_w = f.plot_w() / double(std::max<std::size_t>(groups.size(), 1));
  const bool rotate = double(longest) * 6.5 > group_w;  // labels wider than their slot
  if (rotate) f.bottom += std::min(double(longest) * 6.5 * 0.57, 150.0);  // sin(35 deg)
  Range yr;
  std::size_t n_series = 1;
  for (const auto& g : groups) {
    n_series = std::max(n_series, g.values.size());
    for (double v : g.values) yr.add(v);
    for (double v : g.high) yr.add(v);
    for (double v : g.low) yr.add(v);
  }
  std::string out = open_svg(f, o.title);
  if (!yr.valid()) {
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data</text>\n</svg>\n", f.width / 2,
                       f.height / 2);
    return out;
  }
  if (o.y_from_zero) yr.lo = std::min(yr.lo, 0.0);
  double ylo = yr.lo, yhi = yr.hi;
  const auto yt = ticks(ylo, yhi, 5);
  auto py = [&](double y) { return f.top + f.plot_h() * (1 - (y - ylo) / (yhi - ylo)); };
  out += y_axis(f, yt, ylo, yhi, o.y_label);
  const double bar_w = group_w * 0.8 / double(n_series);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const double gx = f.left + group_w * double(g) + group_w * 0.1;
    for (std::size_t s = 0; s < groups[g].values.size(); ++s) {
      const double v = groups[g].values[s];
      if (!std::isfinite(v)) continue;
      const double y0 = py(std::max(ylo, 0.0)), y1 = py(v);
      out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"><title>{}: {}</title></rect>\n",
                         gx + bar_w * double(s), std::min(y0, y1), std::max(bar_w - 1, 1.0), std::abs(y0 - y1),
                         groups[g].fill ? groups[g].fill : colour(groups[g].colour >= 0 ? std::size_t(groups[g].colour) : s),
                         escape(groups[g].label), escape(number(v)));
      if (s < groups[g].low.size() && s < groups[g].high.size() && std::isfinite(groups[g].low[s]) &&
          std::isfinite(groups[g].high[s])) {
        const double cx = gx + bar_w * (double(s) + 0.5);
        out += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#222\"/>\n", cx,
                           py(groups[g].low[s]), py(groups[g].high[s]));
      }
    }
    const double lx = gx + group_w * 0.4, ly = f.top + f.plot_h() + 14;
    if (rotate)
      out += fmt::format("<text x=\"{0:.1f}\" y=\"{1:.1f}\" text-anchor=\"end\" transform=\"rotate(-35 {0:.1f} {1:.1f})\">{2}</text>\n",
                         lx, ly, escape(groups[g].label));
    else
      out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", lx, ly,
                         escape(groups[g].label));
  }
  if (o.series_names.size() > 1) out += legend(f, o.series_names);
  out += "</svg>\n";
  return out;
}

}  // namespace personas::svg
