// personas report --run.dir RUN: RUN/report/index.html, a self-contained page
// (inline CSS and SVG) about whatever the run directory holds.
#include "cli/stage_command.h"
#include "core/log.h"
#include "eval/report.h"

namespace personas {

void report_body(CommandContext& ctx) {
  if (ctx.comm.is_root()) {
    const auto path = write_report(ctx.run_dir());
    plog::info("report: wrote {}", path.string());
  }
}

Command make_report_command() {
  // Reads a run; does not rewrite its config.ini (make_stage_command knows).
  return make_stage_command(
      {"report", "report", "self-contained HTML report of a run (RUN/report/index.html)", report_body});
}

}  // namespace personas
