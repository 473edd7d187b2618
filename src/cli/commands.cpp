#include "cli/commands.h"

namespace personas {

// One factory per cmd_<name>.cpp. Add yours here and in the list below.
Command make_prepare_command();
Command make_synth_command();
Command make_distill_command();
Command make_model_command();
Command make_embed_command();
Command make_cluster_command();
Command make_train_command();
Command make_samples_command();
Command make_eval_command();
Command make_report_command();
Command make_run_command();
Command make_simulate_command();
Command make_convert_command();
Command make_init_model_command();
Command make_generate_command();
Command make_tokenize_command();
Command make_bench_command();
Command make_config_command();

std::vector<Command> all_commands() {
  // Pipeline stages in order, then `run`, then the tools.
  return {
      make_prepare_command(), make_synth_command(),  make_distill_command(),    make_model_command(),
      make_embed_command(),   make_cluster_command(), make_samples_command(), make_train_command(), make_eval_command(),
      make_report_command(),  make_run_command(),     make_simulate_command(),   make_convert_command(),
      make_init_model_command(), make_generate_command(), make_tokenize_command(), make_bench_command(), make_config_command(),
  };
}

}  // namespace personas
