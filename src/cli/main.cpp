// personas <command> [--config FILE.ini] [--section.key value ...] [command flags]
//
// Every rank runs main. Rank 0 reads and validates the configuration, then
// broadcasts the resolved text so all ranks agree; an error on any rank ends
// every rank (Comm::abort) with the documented exit code (docs/exit-codes.md).
#include <boost/program_options.hpp>
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "backend/cpu/host_threads.h"
#include "cli/commands.h"
#include "cli/omp_wait_policy.h"
#include "core/errors.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/stop_request.h"
#include "core/strings.h"

#ifdef PERSONAS_HAVE_CUDA
#include "cuda_backend_factory.h"  // cuda/: lets make_backend(BackendKind::automatic) try the GPU
#endif

#ifndef PERSONAS_VERSION
#define PERSONAS_VERSION "dev"
#endif

namespace po = boost::program_options;
using namespace personas;

namespace {

void print_usage(const std::vector<Command>& commands) {
  std::cout << "personas " PERSONAS_VERSION " - persona LoRA agents from recommender logs\n\n"
            << "usage: personas <command> [--config FILE.ini] [--section.key VALUE ...] [flags]\n"
            << "       personas <command> --help     flags and every config key of a command\n"
            << "       personas --version\n\ncommands:\n";
  for (const auto& c : commands) std::printf("  %-11s %s\n", c.name.c_str(), c.summary.c_str());
  std::cout << "\nexit codes: 0 ok, 1 internal, 2 usage, 3 config, 4 I/O, 5 data, 6 provider, 7 interrupted\n";
}

// Rank 0 resolves; returns "" on success or the error message (already formatted).
std::string resolve_config(Comm& comm, ConfigSchema& schema, const po::variables_map& vm,
                           const po::parsed_options& parsed) {
  std::string resolved, error;
  int failed_kind = 0;
  if (comm.is_root()) {
    try {
      Problems problems;
      if (vm.count("config")) {
        auto path = vm["config"].as<std::string>();
        auto text = read_file(path);
        apply_entries(schema, parse_ini(text, path, problems), problems);
      }
      std::vector<ConfigEntry> overrides;
      for (const auto& option : parsed.options) {
        if (option.string_key.find('.') == std::string::npos || !schema.has(option.string_key)) continue;
        overrides.push_back({option.string_key, option.value.empty() ? "" : option.value.back(), "command line"});
      }
      apply_entries(schema, overrides, problems);
      problems.throw_if_any("invalid configuration");
      auto validation = schema.validate();
      validation.throw_if_any("invalid configuration");
      resolved = schema.to_ini();
    } catch (const Error& e) {
      failed_kind = e.exit_code();
      error = e.message() + (e.hint().empty() ? "" : "\n  hint: " + e.hint());
    }
  }
  // Everyone learns whether rank 0 failed, so no rank waits on a dead root.
  comm.broadcast(&failed_kind, sizeof failed_kind, 0);
  if (failed_kind) {
    if (comm.is_root()) throw Error(static_cast<ErrorKind>(failed_kind), error);
    throw Error(static_cast<ErrorKind>(failed_kind), "configuration rejected on rank 0");
  }
  comm.broadcast_string(resolved, 0);
  if (!comm.is_root()) {
    Problems problems;
    apply_entries(schema, parse_ini(resolved, "resolved config", problems), problems);
    problems.throw_if_any("resolved configuration from rank 0");
  }
  return resolved;
}

void set_threads(const Config& config, const Comm& comm) {
  int threads = config.run.threads;
  if (threads == 0) {
    int cores = omp_get_num_procs();
    threads = std::max(1, cores / std::max(1, comm.local_size()));
  }
  set_host_threads(threads);  // OpenMP and OpenBLAS alike: ranks x threads <= cores
}

int run_command(const Command& command, int argc, char** argv, Comm& comm) {
  Config config;
  ConfigSchema schema;
  config.describe(schema);

  po::options_description own("flags of 'personas " + command.name + "'");
  own.add_options()("help,h", "show this help")("config", po::value<std::string>(), "INI configuration file");
  if (command.add_options) command.add_options(own);
  auto config_keys = schema.describe("configuration keys (also settable in the INI file under [section])");
  po::options_description all;
  all.add(own).add(config_keys);

  po::variables_map vm;
  po::parsed_options parsed(&all);
  try {
    po::positional_options_description positional;
    if (!command.positional.empty()) positional.add(command.positional.c_str(), command.positional_count);
    parsed = po::command_line_parser(argc, argv).options(all).positional(positional).run();
    po::store(parsed, vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fail(ErrorKind::usage, fmt::format("personas {}: {}", command.name, e.what()),
         fmt::format("`personas {} --help` lists every flag", command.name));
  }
  if (vm.count("help")) {
    if (comm.is_root()) std::cout << command.summary << "\n\n" << own << "\n" << config_keys << "\n";
    return 0;
  }

  resolve_config(comm, schema, vm, parsed);
  init_logging(comm.rank(), comm.size(), config.log.options);
  set_threads(config, comm);
  if (command.uses_run_dir && comm.is_root()) {
    write_file_atomic(fs::path(config.run.dir) / "config.ini", schema.to_ini());
  }
  if (command.uses_run_dir) {
    // RUN/STOP left by an earlier, stopped run is not a request to stop this one.
    const fs::path stop = fs::path(config.run.dir) / kStopFileName;
    if (comm.is_root()) {
      std::error_code ec;
      fs::remove(stop, ec);
    }
    comm.barrier();
    set_stop_file(stop);
  }
  plog::debug("personas {} on {} rank(s) ({})", command.name, comm.size(), comm.name());
  if (const char* policy = std::getenv("OMP_WAIT_POLICY"))
    plog::debug("OMP_WAIT_POLICY={} ({})", policy, omp_wait_policy_origin());
  CommandContext context{comm, config, schema, vm};
  return command.run(context);
}

}  // namespace

int main(int argc, char** argv) {
  ensure_passive_omp_wait(argv);  // first: it may re-execute the process
#ifdef PERSONAS_HAVE_CUDA
  register_cuda_backend();
#endif
  auto commands = all_commands();
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    print_usage(commands);
    return argc < 2 ? static_cast<int>(ErrorKind::usage) : 0;
  }
  if (std::string(argv[1]) == "--version") {
    std::cout << "personas " PERSONAS_VERSION "\n";
    return 0;
  }
  const Command* command = nullptr;
  for (const auto& c : commands)
    if (c.name == argv[1]) command = &c;
  if (!command) {
    std::cerr << "personas: unknown command '" << argv[1] << "'\n\n";
    print_usage(commands);
    return static_cast<int>(ErrorKind::usage);
  }

  init_logging(0, 1, LogOptions{});
  install_stop_handlers();  // a signal while MPI starts is a stop request too
  std::unique_ptr<Comm> comm;
  try {
    comm = make_world_comm(&argc, &argv);
  } catch (const Error& e) {
    plog::error("{}", e.message());
    return e.exit_code();
  } catch (const InternalError& e) {
    plog::error("{}: {} (at {})", error_kind_name(e.kind()), e.message(), e.origin());
    return e.exit_code();
  }
  // Again after MPI_Init, so that ours are the handlers (core/stop_request.h).
  install_stop_handlers();
  int code = 0;
  try {
    code = run_command(*command, argc - 1, argv + 1, *comm);
  } catch (const StopError& e) {
    // Every rank agreed to stop at the same safe point and saved its state:
    // each says where it stopped and exits 7, with no MPI_Abort.
    code = e.exit_code();
    warn_on_every_rank(fmt::format("{}: {}", error_kind_name(e.kind()), e.message()));
    if (comm->is_root()) spdlog::warn("hint: {}", e.hint());
    spdlog::default_logger()->flush();
  } catch (const Error& e) {
    code = e.exit_code();
    // Config errors are detected on rank 0 and shared, so every rank exits cleanly.
    const bool collective = e.kind() == ErrorKind::config || e.kind() == ErrorKind::usage;
    if (!collective || comm->is_root()) {
      spdlog::error("{}: {}", error_kind_name(e.kind()), e.message());
      if (!e.hint().empty()) spdlog::error("hint: {}", e.hint());
    }
    spdlog::default_logger()->flush();
    if (!collective && comm->size() > 1) comm->abort(code);  // end every other rank now
  } catch (const InternalError& e) {
    // A bug or a device fault (DeviceError): named with its origin, and every rank ends.
    code = e.exit_code();
    spdlog::error("{}: {} (at {})", error_kind_name(e.kind()), e.message(), e.origin());
    if (!e.hint().empty()) spdlog::error("hint: {}", e.hint());
    spdlog::default_logger()->flush();
    if (comm->size() > 1) comm->abort(code);
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", e.what());
    spdlog::default_logger()->flush();
    code = static_cast<int>(ErrorKind::internal);
    if (comm->size() > 1) comm->abort(code);
  }
  comm.reset();  // MPI_Finalize
  return code;
}
