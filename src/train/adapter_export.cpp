#include "train/adapter_export.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/errors.h"
#include "core/strings.h"
#include "io/hdf5_file.h"
#include "io/safetensors.h"

namespace personas {

AdapterTensors adapter_from_arena(const LoraArena& arena, std::int64_t n_layers, const std::string& name,
                                  const std::string& fingerprint) {
  AdapterTensors a;
  a.spec = arena.spec();
  a.base_fingerprint = fingerprint;
  a.name = name;
  a.n_layers = n_layers;
  a.tensors = arena.tensors();
  a.params = arena.to_host(0);
  return a;
}

namespace {

std::string targets_text(const LoraSpec& spec) {
  std::vector<std::string> names;
  for (auto t : spec.targets) names.emplace_back(lora_target_name(t));
  return join(names, ",");
}

std::string h5_path(const LoraTensorInfo& t) {
  return fmt::format("/layers/{}/{}/{}", t.layer, lora_target_name(t.target), t.is_b ? "B" : "A");
}

// The layout a LoraArena would have for (config, spec): same order and offsets.
std::vector<LoraTensorInfo> layout(const Phi3Config& config, const LoraSpec& spec, std::int64_t* n_params) {
  std::vector<LoraTensorInfo> out;
  std::int64_t offset = 0;
  for (int l = 0; l < static_cast<int>(config.num_hidden_layers); ++l)
    for (LoraTarget t : spec.targets)
      for (int ab = 0; ab < 2; ++ab) {
        const auto [rows_out, cols_in] = LoraSpec::target_shape(config, t);
        LoraTensorInfo info;
        info.layer = l;
        info.target = t;
        info.is_b = ab == 1;
        info.rows = ab == 0 ? spec.rank : rows_out;
        info.cols = ab == 0 ? cols_in : spec.rank;
        info.offset = offset;
        info.name = fmt::format("layers.{}.{}.{}", l, lora_target_name(t), ab == 0 ? "A" : "B");
        offset += info.rows * info.cols;
        out.push_back(std::move(info));
      }
  *n_params = offset;
  return out;
}

}  // namespace

void write_adapter_h5(const fs::path& path, const AdapterTensors& a) {
  write_atomically(path, [&](const fs::path& tmp) {
    h5::File f(tmp, h5::File::Mode::create);
    f.set_attr("/", "format", std::string("personas-lora"));
    f.set_attr("/", "format_version", kAdapterFormatVersion);
    f.set_attr("/", "rank", static_cast<std::int64_t>(a.spec.rank));
    f.set_attr("/", "alpha", static_cast<double>(a.spec.alpha));
    f.set_attr("/", "scale", static_cast<double>(a.spec.scale()));
    f.set_attr("/", "dropout", static_cast<double>(a.spec.dropout));
    f.set_attr("/", "use_rslora", static_cast<std::int64_t>(a.spec.use_rslora ? 1 : 0));
    f.set_attr("/", "targets", targets_text(a.spec));
    f.set_attr("/", "base_fingerprint", a.base_fingerprint);
    f.set_attr("/", "name", a.name);
    f.set_attr("/", "num_hidden_layers", a.n_layers);
    for (const auto& [k, v] : a.facts) f.set_attr("/", k, v);
    for (const auto& t : a.tensors)
      f.write<float>(h5_path(t), std::span<const float>(a.params.data() + t.offset, static_cast<std::size_t>(t.rows * t.cols)),
                     {static_cast<std::uint64_t>(t.rows), static_cast<std::uint64_t>(t.cols)});
  });
}

AdapterTensors read_adapter_h5(const fs::path& path, const Phi3Config& config) {
  h5::File f(path, h5::File::Mode::read);
  PERSONAS_CHECK(f.has_attr("/", "format") && f.attr_string("/", "format") == "personas-lora", data,
                 "{}: not a personas LoRA adapter (attribute 'format' is not 'personas-lora')", path.string());
  const auto version = f.attr_int("/", "format_version");
  PERSONAS_CHECK(version == kAdapterFormatVersion, data, "{}: adapter format_version {} (this build reads {})",
                 path.string(), version, kAdapterFormatVersion);
  AdapterTensors a;
  a.spec.rank = static_cast<int>(f.attr_int("/", "rank"));
  a.spec.alpha = static_cast<float>(f.attr_double("/", "alpha"));
  a.spec.dropout = static_cast<float>(f.attr_double("/", "dropout"));
  a.spec.use_rslora = f.attr_int("/", "use_rslora") != 0;
  a.spec.targets.clear();
  const std::string targets = f.attr_string("/", "targets");  // split() views into it
  for (auto part : split(targets, ","))
    a.spec.targets.push_back(parse_lora_target(std::string(part), path.string() + ": attribute targets"));
  a.base_fingerprint = f.attr_string("/", "base_fingerprint");
  a.name = f.attr_string("/", "name");
  a.n_layers = f.attr_int("/", "num_hidden_layers");
  PERSONAS_CHECK(a.n_layers == config.num_hidden_layers, data, "{}: adapter for {} layers, the model has {}",
                 path.string(), a.n_layers, config.num_hidden_layers);
  std::int64_t n = 0;
  a.tensors = layout(config, a.spec, &n);
  a.params.assign(static_cast<std::size_t>(n), 0.0f);
  for (const auto& t : a.tensors) {
    const auto shape = f.shape(h5_path(t));
    PERSONAS_CHECK(shape.size() == 2 && static_cast<std::int64_t>(shape[0]) == t.rows &&
                       static_cast<std::int64_t>(shape[1]) == t.cols,
                   data, "{}: {} has the wrong shape for this model (expected [{}, {}])", path.string(), h5_path(t),
                   t.rows, t.cols);
    auto values = f.read<float>(h5_path(t));
    std::copy(values.begin(), values.end(), a.params.begin() + t.offset);
  }
  return a;
}

void load_adapter_into(const fs::path& path, LoraArena& arena, const Phi3Config& config,
                       const std::string& fingerprint) {
  auto a = read_adapter_h5(path, config);
  PERSONAS_CHECK_HINT(fingerprint.empty() || a.base_fingerprint == fingerprint, data,
                      "train the adapter again on this base model",
                      "{}: trained on a different base model (fingerprint {} vs {})", path.string(),
                      a.base_fingerprint, fingerprint);
  const auto& s = arena.spec();
  PERSONAS_CHECK(a.spec.rank == s.rank && a.spec.targets == s.targets, data,
                 "{}: adapter rank {} targets {} differ from the model's rank {} targets {}", path.string(),
                 a.spec.rank, targets_text(a.spec), s.rank, targets_text(s));
  PERSONAS_CHECK(static_cast<std::int64_t>(a.params.size()) == arena.n_params(), data,
                 "{}: {} parameters, the arena holds {}", path.string(), a.params.size(), arena.n_params());
  arena.from_host(0, a.params);
}

namespace {

const char* peft_module(LoraTarget t) {
  switch (t) {
    case LoraTarget::q:
    case LoraTarget::k:
    case LoraTarget::v: return "self_attn.qkv_proj";
    case LoraTarget::o_proj: return "self_attn.o_proj";
    case LoraTarget::gate_up_proj: return "mlp.gate_up_proj";
    case LoraTarget::down_proj: return "mlp.down_proj";
  }
  return "?";
}

const char* peft_short(LoraTarget t) {
  switch (t) {
    case LoraTarget::q:
    case LoraTarget::k:
    case LoraTarget::v: return "qkv_proj";
    case LoraTarget::o_proj: return "o_proj";
    case LoraTarget::gate_up_proj: return "gate_up_proj";
    case LoraTarget::down_proj: return "down_proj";
  }
  return "?";
}

const LoraTensorInfo& find_lora_tensor(const AdapterTensors& a, int layer, LoraTarget t, bool is_b) {
  for (const auto& info : a.tensors)
    if (info.layer == layer && info.target == t && info.is_b == is_b) return info;
  PERSONAS_FAIL(internal, "adapter {}: no tensor for layer {} target {}", a.name, layer, lora_target_name(t));
}

// PEFT's LoraConfig for `modules`, every module at rank r and alpha unless the
// caller adds rank_pattern / alpha_pattern entries.
nlohmann::json peft_lora_config(const AdapterTensors& a, const PeftExportOptions& options,
                                const std::vector<std::string>& modules, int r, double alpha) {
  nlohmann::json cfg;
  cfg["peft_type"] = "LORA";
  cfg["task_type"] = "CAUSAL_LM";
  cfg["base_model_name_or_path"] = options.base_model_name;
  cfg["target_modules"] = modules;
  cfg["r"] = r;
  cfg["lora_alpha"] = alpha;
  cfg["lora_dropout"] = a.spec.dropout;
  cfg["bias"] = "none";
  cfg["fan_in_fan_out"] = false;
  cfg["use_rslora"] = a.spec.use_rslora;
  cfg["inference_mode"] = true;
  cfg["modules_to_save"] = nullptr;
  cfg["init_lora_weights"] = true;
  cfg["layers_to_transform"] = nullptr;
  cfg["revision"] = nullptr;
  cfg["rank_pattern"] = nlohmann::json::object();
  cfg["alpha_pattern"] = nlohmann::json::object();
  return cfg;
}

// adapter_model.safetensors (with our metadata next to PEFT's "format") and adapter_config.json.
void write_peft_files(const fs::path& folder, const AdapterTensors& a,
                      const std::vector<safetensors::WriteTensor>& tensors, const nlohmann::json& cfg,
                      const std::pair<std::string, std::string>& extra_metadata) {
  std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                 {"personas_base_fingerprint", a.base_fingerprint},
                                                 {"personas_targets", targets_text(a.spec)},
                                                 extra_metadata};
  fs::create_directories(folder);
  safetensors::write_file(folder / "adapter_model.safetensors", tensors, metadata);
  write_file_atomic(folder / "adapter_config.json", cfg.dump(2) + "\n");
}

// Llama-family bases keep q, k, v and gate, up as separate modules in PEFT:
// each of our slice adapters is one PEFT module as it is, and our fused
// gate_up_proj adapter (A shared, B over gate rows then up rows) becomes
// gate_proj and up_proj with the same A and B split by rows: exact, and every
// module keeps rank r and alpha.
void write_peft_llama(const fs::path& folder, const AdapterTensors& a, const Phi3Config& config,
                      const PeftExportOptions& options) {
  const float* p = a.params.data();
  auto tensor = [&](const std::string& name, const LoraTensorInfo& info, std::int64_t row0, std::int64_t rows) {
    safetensors::WriteTensor w{name, safetensors::DType::F32, {rows, info.cols}, {}};
    w.data.assign(p + info.offset + row0 * info.cols, p + info.offset + (row0 + rows) * info.cols);
    return w;
  };
  std::vector<safetensors::WriteTensor> tensors;
  std::vector<std::string> modules;
  auto add_module = [&](const std::string& m) {
    if (std::find(modules.begin(), modules.end(), m) == modules.end()) modules.push_back(m);
  };
  for (int l = 0; l < static_cast<int>(a.n_layers); ++l) {
    const std::string prefix = fmt::format("base_model.model.model.layers.{}.", l);
    for (LoraTarget t : a.spec.targets) {
      const auto& A = find_lora_tensor(a, l, t, false);
      const auto& B = find_lora_tensor(a, l, t, true);
      std::vector<std::pair<std::string, std::int64_t>> parts;  // module, first B row
      switch (t) {
        case LoraTarget::q: parts = {{"self_attn.q_proj", 0}}; break;
        case LoraTarget::k: parts = {{"self_attn.k_proj", 0}}; break;
        case LoraTarget::v: parts = {{"self_attn.v_proj", 0}}; break;
        case LoraTarget::o_proj: parts = {{"self_attn.o_proj", 0}}; break;
        case LoraTarget::down_proj: parts = {{"mlp.down_proj", 0}}; break;
        case LoraTarget::gate_up_proj:
          parts = {{"mlp.gate_proj", 0}, {"mlp.up_proj", config.intermediate_size}};
          break;
      }
      const std::int64_t rows = B.rows / static_cast<std::int64_t>(parts.size());
      for (const auto& [module, row0] : parts) {
        tensors.push_back(tensor(prefix + module + ".lora_A.weight", A, 0, A.rows));
        tensors.push_back(tensor(prefix + module + ".lora_B.weight", B, row0, rows));
        add_module(module.substr(module.find('.') + 1));
      }
    }
  }
  write_peft_files(folder, a, tensors, peft_lora_config(a, options, modules, a.spec.rank, a.spec.alpha),
                   {"personas_architecture", "llama"});
}

}  // namespace

void write_peft_adapter(const fs::path& folder, const AdapterTensors& a, const Phi3Config& config,
                        const PeftExportOptions& options) {
  if (config.arch == ModelArch::llama) return write_peft_llama(folder, a, config, options);
  const int r = a.spec.rank;
  std::vector<LoraTarget> slices;  // q, k, v present, in row order
  for (LoraTarget t : {LoraTarget::q, LoraTarget::k, LoraTarget::v})
    if (a.spec.has(t)) slices.push_back(t);
  const int n_slices = static_cast<int>(slices.size());
  const std::int64_t hidden = config.hidden_size;
  const std::int64_t q_dim = config.head_dim() * config.num_attention_heads, kv_dim = config.kv_dim();
  auto slice_row0 = [&](LoraTarget t) -> std::int64_t {
    return t == LoraTarget::q ? 0 : t == LoraTarget::k ? q_dim : q_dim + kv_dim;
  };
  const float* p = a.params.data();

  std::vector<safetensors::WriteTensor> tensors;
  for (int l = 0; l < static_cast<int>(a.n_layers); ++l) {
    const std::string prefix = fmt::format("base_model.model.model.layers.{}.", l);
    if (n_slices > 0) {
      const std::int64_t rf = static_cast<std::int64_t>(n_slices) * r, out = q_dim + 2 * kv_dim;
      safetensors::WriteTensor A{prefix + "self_attn.qkv_proj.lora_A.weight", safetensors::DType::F32, {rf, hidden}, {}};
      safetensors::WriteTensor B{prefix + "self_attn.qkv_proj.lora_B.weight", safetensors::DType::F32, {out, rf}, {}};
      A.data.assign(static_cast<std::size_t>(rf * hidden), 0.0f);
      B.data.assign(static_cast<std::size_t>(out * rf), 0.0f);
      for (int j = 0; j < n_slices; ++j) {
        const auto& ta = find_lora_tensor(a, l, slices[static_cast<std::size_t>(j)], false);
        const auto& tb = find_lora_tensor(a, l, slices[static_cast<std::size_t>(j)], true);
        std::memcpy(A.data.data() + static_cast<std::size_t>(j) * static_cast<std::size_t>(r * hidden), p + ta.offset,
                    static_cast<std::size_t>(r * hidden) * sizeof(float));
        const std::int64_t row0 = slice_row0(slices[static_cast<std::size_t>(j)]);
        for (std::int64_t row = 0; row < tb.rows; ++row)
          std::memcpy(B.data.data() + static_cast<std::size_t>((row0 + row) * rf + j * r), p + tb.offset + row * r,
                      static_cast<std::size_t>(r) * sizeof(float));
      }
      tensors.push_back(std::move(A));
      tensors.push_back(std::move(B));
    }
    for (LoraTarget t : a.spec.targets) {
      if (t == LoraTarget::q || t == LoraTarget::k || t == LoraTarget::v) continue;
      for (bool is_b : {false, true}) {
        const auto& info = find_lora_tensor(a, l, t, is_b);
        safetensors::WriteTensor w{prefix + peft_module(t) + (is_b ? ".lora_B.weight" : ".lora_A.weight"),
                                   safetensors::DType::F32, {info.rows, info.cols}, {}};
        w.data.assign(p + info.offset, p + info.offset + info.rows * info.cols);
        tensors.push_back(std::move(w));
      }
    }
  }

  // Ranks and alphas that keep every module's scale equal to ours.
  const bool only_fused = static_cast<int>(a.spec.targets.size()) == n_slices;
  const double fused_alpha =
      a.spec.use_rslora ? a.spec.alpha * std::sqrt(static_cast<double>(n_slices)) : a.spec.alpha * n_slices;
  std::vector<std::string> modules;
  for (LoraTarget t : a.spec.targets)
    if (std::find(modules.begin(), modules.end(), peft_short(t)) == modules.end()) modules.emplace_back(peft_short(t));
  nlohmann::json cfg = only_fused ? peft_lora_config(a, options, modules, n_slices * r, fused_alpha)
                                  : peft_lora_config(a, options, modules, r, a.spec.alpha);
  if (!only_fused && n_slices > 0) {
    cfg["rank_pattern"]["qkv_proj"] = n_slices * r;
    cfg["alpha_pattern"]["qkv_proj"] = fused_alpha;
  }
  // Our own record of what the fused module holds.
  std::vector<std::string> slice_names;
  for (auto t : slices) slice_names.emplace_back(lora_target_name(t));
  write_peft_files(folder, a, tensors, cfg, {"personas_qkv_slices", join(slice_names, ",")});
}

}  // namespace personas
