// personas bench train-step [--hidden 512 --layers 8 --seq 256 --batch 8 ...]
//   tokens/s of one LoRA training step (forward + backward, frozen base) on a
//   random Phi-3 of the given shape, plus the FLOP count and this machine's
//   sgemm rate, giving the floor (FLOPs / sgemm rate) and how far we are from it.
// personas bench sgemm [--m --n --k]: the sgemm GFLOP/s alone.
#include <cblas.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <random>

#include "backend/backend.h"
#include "cli/command.h"
#include "core/errors.h"
#include "core/log.h"
#include "model/init_model.h"
#include "model/lora_model.h"

namespace personas {

namespace po = boost::program_options;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// GFLOP/s of C[m,n] = A[m,k] B[n,k]^T (the layout of y = x W^T), best of `reps`.
double measure_sgemm(int m, int n, int k, int reps) {
  std::vector<float> a(static_cast<std::size_t>(m) * k, 0.5f), b(static_cast<std::size_t>(n) * k, 0.25f),
      c(static_cast<std::size_t>(m) * n);
  double best = 1e30;
  for (int r = 0; r < reps + 1; ++r) {
    const auto t0 = Clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
    if (r > 0) best = std::min(best, seconds_since(t0));  // first call warms up
  }
  return 2.0 * m * n * k / best / 1e9;
}

// FLOPs of one training step with a frozen base: the forward, then the backward
// of activations only (no weight gradients): matmuls ~1x the forward again,
// attention ~2x; plus LoRA (forward 1x, backward 3x) and the lm_head on answer rows.
double train_step_flops(const Phi3Config& c, const LoraSpec& spec, std::int64_t batch, std::int64_t seq,
                        std::int64_t answer_per_row) {
  const double h = static_cast<double>(c.hidden_size), qd = static_cast<double>(c.head_dim() * c.num_attention_heads),
               kvd = static_cast<double>(c.kv_dim()), f = static_cast<double>(c.intermediate_size);
  const double tokens = static_cast<double>(batch * seq), layers = static_cast<double>(c.num_hidden_layers);
  const double linear = 2.0 * (h * (qd + 2 * kvd) + qd * h + h * 2 * f + f * h) * tokens * layers;
  const double attention = 2.0 * 2.0 * qd * static_cast<double>(seq) * (static_cast<double>(seq) + 1) / 2.0 *
                           static_cast<double>(batch) * layers;
  double lora = 0.0;
  for (LoraTarget t : spec.targets) {
    const auto [out, in] = LoraSpec::target_shape(c, t);
    lora += 2.0 * spec.rank * static_cast<double>(in + out) * tokens * layers;
  }
  const double head = 2.0 * h * static_cast<double>(c.vocab_size) * static_cast<double>(batch * answer_per_row);
  return 2.0 * linear + 3.0 * attention + 4.0 * lora + 2.0 * head;
}

int run_train_step(CommandContext& ctx) {
  const auto& a = ctx.args;
  Phi3Config c;
  c.hidden_size = a["hidden"].as<int>();
  c.num_hidden_layers = a["layers"].as<int>();
  c.num_attention_heads = a["heads"].as<int>();
  c.num_key_value_heads = a.count("kv-heads") ? a["kv-heads"].as<int>() : c.num_attention_heads;
  c.intermediate_size = a.count("intermediate") ? a["intermediate"].as<int>()
                                                : (c.hidden_size * 8 / 3 + 63) / 64 * 64;  // Phi-3's ratio
  c.vocab_size = a["vocab"].as<int>();
  const int seq = a["seq"].as<int>(), batch = a["batch"].as<int>(), steps = a["steps"].as<int>();
  const int answer = std::min(a["answer-tokens"].as<int>(), seq - 1);
  c.max_position_embeddings = std::max(seq, 4096);
  c.bos_token_id = 1;
  c.eos_token_id = 2;
  c.pad_token_id = 0;
  LoraSpec spec;
  spec.targets.clear();
  for (const auto& name : a["targets"].as<std::vector<std::string>>()) spec.targets.push_back(parse_lora_target(name, "--targets"));
  spec.rank = a["rank"].as<int>();
  spec.alpha = static_cast<float>(2 * spec.rank);
  spec.recompute = a.count("recompute") > 0;
  PERSONAS_CHECK(seq >= 2 && batch >= 1 && steps >= 1 && answer >= 1, usage,
                 "bench train-step: need seq >= 2, batch >= 1, steps >= 1, answer-tokens >= 1");

  auto backend = make_backend(ctx.config.run.backend);
  const ModelWeights weights = random_weights(c, 1);
  LoraModel model(weights, *backend, spec, 1);
  model.adapter(0).initialize(2);
  model.set_training(true);
  std::mt19937_64 rng(3);
  std::vector<std::vector<std::int32_t>> seqs(static_cast<std::size_t>(batch));
  for (auto& s : seqs) {
    s.resize(static_cast<std::size_t>(seq));
    for (auto& id : s) id = static_cast<std::int32_t>(3 + rng() % static_cast<std::uint64_t>(c.vocab_size - 3));
  }
  const std::vector<int> answer_begin(static_cast<std::size_t>(batch), seq - answer);
  const TokenBatch tb = TokenBatch::from_sequences(seqs, answer_begin, 0);

  const double flops = train_step_flops(c, spec, batch, seq, answer);
  const double sgemm = measure_sgemm(batch * seq, static_cast<int>(c.intermediate_size * 2),
                                     static_cast<int>(c.hidden_size), 3);
  std::cout << fmt::format(
      "shape: hidden {} layers {} heads {}/{} intermediate {} vocab {} | batch {} x seq {} ({} answer tokens/row) | "
      "LoRA {} rank {}{} | backend {} threads {}\n",
      c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads, c.intermediate_size,
      c.vocab_size, batch, seq, answer, fmt::join(a["targets"].as<std::vector<std::string>>(), ","), spec.rank,
      spec.recompute ? " recompute" : "", backend->name(), openblas_get_num_threads());
  model.forward_backward(tb);  // warm-up
  model.adapter(0).zero_grads();
  std::vector<double> times;
  for (int s = 0; s < steps; ++s) {
    const auto t0 = Clock::now();
    const auto loss = model.forward_backward(tb);
    backend->synchronize();
    times.push_back(seconds_since(t0));
    plog::debug("step {}: loss {:.4f} in {:.3f} s", s, loss.mean(), times.back());
  }
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  const double tokens_per_s = batch * seq / median;
  const double achieved = flops / median / 1e9;
  std::cout << fmt::format("train-step: {:.3f} s/step (median of {}), {:.0f} tokens/s, {:.2f} GFLOP/step, {:.1f} GFLOP/s\n",
                           median, steps, tokens_per_s, flops / 1e9, achieved);
  std::cout << fmt::format("sgemm [{} x {} x {}]: {:.1f} GFLOP/s; floor {:.3f} s/step ({:.0f} tokens/s); we are {:.2f}x "
                           "the floor\n",
                           batch * seq, c.intermediate_size * 2, c.hidden_size, sgemm, flops / (sgemm * 1e9),
                           batch * seq / (flops / (sgemm * 1e9)), median / (flops / (sgemm * 1e9)));
  return 0;
}

int run_sgemm(CommandContext& ctx) {
  const int m = ctx.args["m"].as<int>(), n = ctx.args["n"].as<int>(), k = ctx.args["k"].as<int>();
  std::cout << fmt::format("sgemm {} x {} x {} (C = A B^T): {:.1f} GFLOP/s with {} threads\n", m, n, k,
                           measure_sgemm(m, n, k, 5), openblas_get_num_threads());
  return 0;
}

int run_bench(CommandContext& ctx) {
  if (!ctx.comm.is_root()) return 0;
  PERSONAS_CHECK_HINT(ctx.args.count("which"), usage, "personas bench train-step | personas bench sgemm",
                      "bench needs a benchmark name");
  const std::string which = ctx.args["which"].as<std::string>();
  if (which == "train-step") return run_train_step(ctx);
  if (which == "sgemm") return run_sgemm(ctx);
  PERSONAS_FAIL(usage, "unknown benchmark '{}' (train-step, sgemm)", which);
}

}  // namespace

Command make_bench_command() {
  Command c;
  c.name = "bench";
  c.summary = "micro-benchmarks: train-step (LoRA forward+backward tokens/s vs the sgemm floor), sgemm";
  c.uses_run_dir = false;
  c.positional = "which";
  c.add_options = [](po::options_description& o) {
    o.add_options()("which", po::value<std::string>(), "benchmark: train-step or sgemm (positional)")(
        "hidden", po::value<int>()->default_value(512), "hidden size")(
        "layers", po::value<int>()->default_value(8), "layers")(
        "heads", po::value<int>()->default_value(8), "attention heads")(
        "kv-heads", po::value<int>(), "key/value heads (default: = heads)")(
        "intermediate", po::value<int>(), "MLP size (default: hidden * 8/3 rounded up to 64, Phi-3's ratio)")(
        "vocab", po::value<int>()->default_value(32064), "vocabulary (Phi-3's by default)")(
        "seq", po::value<int>()->default_value(256), "tokens per row")(
        "batch", po::value<int>()->default_value(8), "rows per step")(
        "answer-tokens", po::value<int>()->default_value(64), "tokens per row with a loss (the answer)")(
        "targets", po::value<std::vector<std::string>>()->multitoken()->default_value({"q", "k"}, "q k"),
        "LoRA targets")(
        "rank", po::value<int>()->default_value(8), "LoRA rank")(
        "recompute", "activation recompute")(
        "steps", po::value<int>()->default_value(3), "timed steps (after one warm-up)")(
        "m", po::value<int>()->default_value(2048), "sgemm m")(
        "n", po::value<int>()->default_value(2048), "sgemm n")(
        "k", po::value<int>()->default_value(512), "sgemm k");
  };
  c.run = run_bench;
  return c;
}

}  // namespace personas
