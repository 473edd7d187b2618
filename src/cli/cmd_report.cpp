// personas report --run.dir RUN: RUN/report/index.html, a self-contained page
// (inline CSS and SVG) about whatever the run directory holds.
#include "cli/command.h"
#include "core/log.h"
#include "eval/report.h"

namespace personas {

Command make_report_command() {
  Command c;
  c.name = "report";
  c.summary = "self-contained HTML report of a run (RUN/report/index.html)";
  c.uses_run_dir = false;  // reads a run; does not rewrite its config.ini
  c.run = [](CommandContext& ctx) -> int {
    if (ctx.comm.is_root()) {
      const auto path = write_report(ctx.run_dir());
      plog::info("report: wrote {}", path.string());
    }
    ctx.comm.barrier();
    return 0;
  };
  return c;
}

}  // namespace personas
