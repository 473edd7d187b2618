#include "cli/commands.h"

#include "core/errors.h"

namespace personas {

// One factory per cmd_<name>.cpp. Add yours here and in the list below.
Command make_config_command();
Command make_generate_command();
Command make_bench_command();
Command make_embed_command();
Command make_cluster_command();
Command make_eval_command();
Command make_report_command();
Command make_run_command();
Command make_model_command();
Command make_distill_command();
Command make_train_command();
Command make_prepare_command();
Command make_synth_command();
Command make_convert_command();
Command make_init_model_command();

namespace {

// Commands whose stage has not landed yet: they say so and which issue owns them.
Command planned(std::string name, std::string summary, int issue) {
  Command c;
  c.name = name;
  c.summary = summary + " [not built yet: issue " + std::to_string(issue) + "]";
  c.uses_run_dir = false;
  c.run = [name, issue](CommandContext&) -> int {
    fail(ErrorKind::usage, fmt::format("'personas {}' is not built yet (tracked in issue {})", name, issue));
  };
  return c;
}

}  // namespace

std::vector<Command> all_commands() {
  return {
      make_prepare_command(),
      make_synth_command(),
      make_distill_command(),
      make_embed_command(),
      make_cluster_command(),
      make_train_command(),
      make_eval_command(),
      planned("simulate", "one user's agent rates given items", 7),
      make_report_command(),
      make_model_command(),
      make_run_command(),
      make_convert_command(),
      make_init_model_command(),
      make_generate_command(),
      make_config_command(),
      make_bench_command(),
  };
}

}  // namespace personas
