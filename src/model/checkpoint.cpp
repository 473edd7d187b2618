#include "model/checkpoint.h"

#include <cmath>
#include <cstring>
#include <set>

#include "core/errors.h"
#include "core/strings.h"
#include "io/hdf5_file.h"

namespace personas {

namespace {

// Version 1 ("personas-phi3") had no architecture attribute and SentencePiece
// tokenizers only; it is still read (as a phi3 checkpoint).
constexpr const char* kFormatName = "personas-model";
constexpr const char* kFormatNameV1 = "personas-phi3";

std::string shape_str(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Every dataset below `group` (full paths), found by walking the links.
struct WalkState {
  std::vector<std::string> datasets;
  std::string prefix;
};

herr_t collect_dataset(hid_t group, const char* name, const H5L_info_t* /*info*/, void* data) {
  auto* state = static_cast<WalkState*>(data);
  hid_t obj = H5Oopen(group, name, H5P_DEFAULT);
  if (obj < 0) return 0;
  if (H5Iget_type(obj) == H5I_DATASET) state->datasets.push_back(state->prefix + "/" + name);
  H5Oclose(obj);
  return 0;
}

std::vector<std::string> datasets_under(const h5::File& file, const std::string& group) {
  WalkState state;
  state.prefix = group;
  if (!file.exists(group)) return {};
  hid_t obj = H5Oopen(file.id(), group.c_str(), H5P_DEFAULT);
  PERSONAS_CHECK(obj >= 0, io, "{}: cannot open '{}'", file.path().string(), group);
  if (H5Iget_type(obj) == H5I_DATASET) {
    H5Oclose(obj);
    return {group};
  }
  H5Lvisit(obj, H5_INDEX_NAME, H5_ITER_INC, collect_dataset, &state);
  H5Oclose(obj);
  return state.datasets;
}

void write_config(h5::File& file, const Phi3Config& c) {
  file.set_attr("/", "architecture", std::string(model_arch_name(c.arch)));
  file.set_attr("/", "vocab_size", c.vocab_size);
  file.set_attr("/", "hidden_size", c.hidden_size);
  file.set_attr("/", "intermediate_size", c.intermediate_size);
  file.set_attr("/", "num_hidden_layers", c.num_hidden_layers);
  file.set_attr("/", "num_attention_heads", c.num_attention_heads);
  file.set_attr("/", "num_key_value_heads", c.num_key_value_heads);
  file.set_attr("/", "rope_theta", c.rope_theta);
  file.set_attr("/", "rms_norm_eps", c.rms_norm_eps);
  file.set_attr("/", "max_position_embeddings", c.max_position_embeddings);
  file.set_attr("/", "bos_token_id", c.bos_token_id);
  file.set_attr("/", "eos_token_id", c.eos_token_id);
  file.set_attr("/", "pad_token_id", c.pad_token_id);
  file.set_attr("/", "sliding_window", c.sliding_window);
  file.set_attr("/", "tie_word_embeddings", static_cast<std::int64_t>(c.tie_word_embeddings ? 1 : 0));
  file.set_attr("/", "partial_rotary_factor", c.partial_rotary_factor);
}

Phi3Config read_config(const h5::File& file) {
  Phi3Config c;
  if (file.has_attr("/", "architecture"))
    c.arch = parse_model_arch(file.attr_string("/", "architecture"), file.path().string() + ": attribute architecture");
  c.vocab_size = file.attr_int("/", "vocab_size");
  c.hidden_size = file.attr_int("/", "hidden_size");
  c.intermediate_size = file.attr_int("/", "intermediate_size");
  c.num_hidden_layers = file.attr_int("/", "num_hidden_layers");
  c.num_attention_heads = file.attr_int("/", "num_attention_heads");
  c.num_key_value_heads = file.attr_int("/", "num_key_value_heads");
  c.rope_theta = file.attr_double("/", "rope_theta");
  c.rms_norm_eps = file.attr_double("/", "rms_norm_eps");
  c.max_position_embeddings = file.attr_int("/", "max_position_embeddings");
  c.bos_token_id = file.attr_int("/", "bos_token_id");
  c.eos_token_id = file.attr_int("/", "eos_token_id");
  c.pad_token_id = file.attr_int("/", "pad_token_id");
  c.sliding_window = file.attr_int("/", "sliding_window");
  c.tie_word_embeddings = file.attr_int("/", "tie_word_embeddings") != 0;
  c.partial_rotary_factor = file.attr_double("/", "partial_rotary_factor");
  c.validate(file.path().string());
  return c;
}

void check_format(const h5::File& file) {
  const std::string where = file.path().string();
  const std::string format = file.has_attr("/", "format") ? file.attr_string("/", "format") : std::string();
  PERSONAS_CHECK_HINT(format == kFormatName || format == kFormatNameV1, data,
                      "make one with `personas convert` or `personas init-model`",
                      "{}: not a personas model checkpoint (root attribute format is '{}', not '{}')", where, format,
                      kFormatName);
  const auto version = file.attr_int("/", "format_version");
  const bool known = (format == kFormatName && version == kCheckpointFormatVersion) ||
                     (format == kFormatNameV1 && version == 1);
  PERSONAS_CHECK_HINT(known, data, "convert the model again with this version of personas",
                      "{}: checkpoint format '{}' format_version {} is not supported (this build reads version {} and 1)",
                      where, format, version, kCheckpointFormatVersion);
}

enum TokenFlags : std::int32_t { flag_lstrip = 1, flag_rstrip = 2, flag_special = 4 };

void write_tokenizer(h5::File& file, const TokenizerData& t) {
  if (t.kind == TokenizerKind::byte_bpe) {
    file.write_strings("/tokenizer/tokens", t.bpe.tokens);
    file.write<std::int32_t>("/tokenizer/token_types", t.bpe.token_types);
    file.write_strings("/tokenizer/merges", t.bpe.merges);
    file.set_attr("/tokenizer", "pre_tokenizer", t.bpe.pre);
  } else {
    std::vector<std::uint8_t> bytes(t.model_bytes.begin(), t.model_bytes.end());
    file.write<std::uint8_t>("/tokenizer/model", std::span<const std::uint8_t>(bytes), {bytes.size()});
    std::vector<std::string> contents;
    std::vector<std::int32_t> ids, flags;
    for (const auto& a : t.added_tokens) {
      contents.push_back(a.content);
      ids.push_back(a.id);
      flags.push_back((a.lstrip ? flag_lstrip : 0) | (a.rstrip ? flag_rstrip : 0) | (a.special ? flag_special : 0));
    }
    file.write_strings("/tokenizer/added_tokens", contents);
    file.write<std::int32_t>("/tokenizer/added_token_ids", ids);
    file.write<std::int32_t>("/tokenizer/added_token_flags", flags);
  }
  file.set_attr("/tokenizer", "kind", std::string(tokenizer_kind_name(t.kind)));
  file.set_attr("/tokenizer", "chat_template", std::string(chat_template_name(t.chat_template)));
  file.set_attr("/tokenizer", "chat_default_system", t.chat_default_system);
  file.set_attr("/tokenizer", "bos_id", static_cast<std::int64_t>(t.bos_id));
  file.set_attr("/tokenizer", "eos_id", static_cast<std::int64_t>(t.eos_id));
  file.set_attr("/tokenizer", "pad_id", static_cast<std::int64_t>(t.pad_id));
  file.set_attr("/tokenizer", "add_bos", static_cast<std::int64_t>(t.add_bos ? 1 : 0));
}

TokenizerData read_tokenizer(const h5::File& file) {
  const std::string where = file.path().string();
  TokenizerData t;
  PERSONAS_CHECK(file.exists("/tokenizer"), data, "{}: the checkpoint has no /tokenizer group", where);
  if (file.has_attr("/tokenizer", "kind"))
    t.kind = parse_tokenizer_kind(file.attr_string("/tokenizer", "kind"), where + ": /tokenizer attribute kind");
  if (t.kind == TokenizerKind::byte_bpe) {
    for (const char* name : {"/tokenizer/tokens", "/tokenizer/token_types", "/tokenizer/merges"})
      PERSONAS_CHECK(file.exists(name), data, "{}: the byte_bpe tokenizer has no {}", where, name);
    t.bpe.tokens = file.read_strings("/tokenizer/tokens");
    t.bpe.token_types = file.read<std::int32_t>("/tokenizer/token_types");
    t.bpe.merges = file.read_strings("/tokenizer/merges");
    t.bpe.pre = file.attr_string("/tokenizer", "pre_tokenizer");
  } else {
    PERSONAS_CHECK(file.exists("/tokenizer/model"), data, "{}: the checkpoint has no /tokenizer/model", where);
    auto bytes = file.read<std::uint8_t>("/tokenizer/model");
    t.model_bytes.assign(bytes.begin(), bytes.end());
    auto contents = file.read_strings("/tokenizer/added_tokens");
    auto ids = file.read<std::int32_t>("/tokenizer/added_token_ids");
    auto flags = file.read<std::int32_t>("/tokenizer/added_token_flags");
    PERSONAS_CHECK(contents.size() == ids.size() && ids.size() == flags.size(), data,
                   "{}: /tokenizer/added_tokens, added_token_ids and added_token_flags differ in length ({}, {}, {})",
                   where, contents.size(), ids.size(), flags.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      t.added_tokens.push_back(AddedToken{ids[i], contents[i], (flags[i] & flag_lstrip) != 0,
                                          (flags[i] & flag_rstrip) != 0, (flags[i] & flag_special) != 0});
    }
  }
  t.chat_template = parse_chat_template(file.attr_string("/tokenizer", "chat_template"),
                                        where + ": /tokenizer attribute chat_template");
  if (file.has_attr("/tokenizer", "chat_default_system"))
    t.chat_default_system = file.attr_string("/tokenizer", "chat_default_system");
  t.bos_id = static_cast<std::int32_t>(file.attr_int("/tokenizer", "bos_id"));
  t.eos_id = static_cast<std::int32_t>(file.attr_int("/tokenizer", "eos_id"));
  t.pad_id = static_cast<std::int32_t>(file.attr_int("/tokenizer", "pad_id"));
  if (file.has_attr("/tokenizer", "add_bos")) t.add_bos = file.attr_int("/tokenizer", "add_bos") != 0;
  return t;
}

}  // namespace

const char* storage_dtype_name(StorageDType d) { return d == StorageDType::bf16 ? "bf16" : "f32"; }

StorageDType parse_storage_dtype(const std::string& name) {
  if (name == "bf16") return StorageDType::bf16;
  if (name == "f32") return StorageDType::f32;
  PERSONAS_FAIL(usage, "unknown dtype '{}' (expected bf16 or f32)", name);
}

std::uint16_t f32_to_bf16(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if (std::isnan(x)) return static_cast<std::uint16_t>((bits >> 16) | 0x40);  // keep it a NaN
  const std::uint32_t rounding = 0x7fff + ((bits >> 16) & 1);
  return static_cast<std::uint16_t>((bits + rounding) >> 16);
}

float bf16_to_f32(std::uint16_t x) {
  const std::uint32_t bits = static_cast<std::uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::vector<TensorSpec> expected_tensors(const Phi3Config& c) {
  const std::int64_t h = c.hidden_size, inter = c.intermediate_size;
  std::vector<TensorSpec> specs;
  specs.push_back({"model.embed_tokens.weight", {c.vocab_size, h}});
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    specs.push_back({p + "input_layernorm.weight", {h}});
    specs.push_back({p + "self_attn.qkv_proj.weight", {h + 2 * c.kv_dim(), h}});
    specs.push_back({p + "self_attn.o_proj.weight", {h, h}});
    specs.push_back({p + "post_attention_layernorm.weight", {h}});
    specs.push_back({p + "mlp.gate_up_proj.weight", {2 * inter, h}});
    specs.push_back({p + "mlp.down_proj.weight", {h, inter}});
  }
  specs.push_back({"model.norm.weight", {h}});
  if (!c.tie_word_embeddings) specs.push_back({"lm_head.weight", {c.vocab_size, h}});
  return specs;
}

std::string tensor_name_to_h5_path(const std::string& name) {
  std::string path = "/" + name;
  for (auto& ch : path)
    if (ch == '.') ch = '/';
  return path;
}

void validate_weights(const ModelWeights& weights, const std::string& where) {
  weights.config.validate(where);
  std::vector<std::string> problems;
  std::set<std::string> expected_names;
  for (const auto& spec : expected_tensors(weights.config)) {
    expected_names.insert(spec.name);
    auto it = weights.tensors.find(spec.name);
    if (it == weights.tensors.end()) {
      problems.push_back("missing " + spec.name + " " + shape_str(spec.shape));
      continue;
    }
    if (it->second.shape != spec.shape)
      problems.push_back(spec.name + " has shape " + shape_str(it->second.shape) + ", expected " +
                         shape_str(spec.shape));
    else if (static_cast<std::int64_t>(it->second.data.size()) != it->second.numel())
      problems.push_back(spec.name + " holds " + std::to_string(it->second.data.size()) + " values for shape " +
                         shape_str(spec.shape));
  }
  for (const auto& [name, tensor] : weights.tensors)
    if (!expected_names.count(name)) problems.push_back("unexpected " + name + " " + shape_str(tensor.shape));
  if (!problems.empty()) {
    std::string msg;
    for (std::size_t i = 0; i < problems.size() && i < 20; ++i) msg += "\n  " + problems[i];
    if (problems.size() > 20) msg += fmt::format("\n  ... and {} more", problems.size() - 20);
    PERSONAS_FAIL(data, "{}: the weights do not match the config:{}", where, msg);
  }
}

void save_checkpoint(const fs::path& path, const ModelWeights& weights, const TokenizerData& tokenizer,
                     StorageDType dtype) {
  validate_weights(weights, path.string());
  write_atomically(path, [&](const fs::path& temp) {
    h5::File file(temp, h5::File::Mode::create);
    file.set_attr("/", "format", std::string(kFormatName));
    file.set_attr("/", "format_version", kCheckpointFormatVersion);
    file.set_attr("/", "dtype", std::string(storage_dtype_name(dtype)));
    write_config(file, weights.config);
    write_tokenizer(file, tokenizer);
    std::vector<std::uint16_t> half;
    for (const auto& spec : expected_tensors(weights.config)) {
      const auto& t = weights.tensors.at(spec.name);
      std::vector<std::uint64_t> dims(t.shape.begin(), t.shape.end());
      const std::string h5_path = tensor_name_to_h5_path(spec.name);
      if (dtype == StorageDType::bf16) {
        half.resize(t.data.size());
        for (std::size_t i = 0; i < t.data.size(); ++i) half[i] = f32_to_bf16(t.data[i]);
        file.write_raw(h5_path, h5::bf16_type(), h5::bf16_type(), half.data(), dims);
      } else {
        file.write_raw(h5_path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, t.data.data(), dims);
      }
    }
  });
}

Phi3Config load_checkpoint_config(const fs::path& path) {
  h5::File file(path, h5::File::Mode::read);
  check_format(file);
  return read_config(file);
}

TokenizerData load_checkpoint_tokenizer(const fs::path& path) {
  h5::File file(path, h5::File::Mode::read);
  check_format(file);
  return read_tokenizer(file);
}

StorageDType checkpoint_dtype(const fs::path& path) {
  h5::File file(path, h5::File::Mode::read);
  check_format(file);
  const auto name = file.attr_string("/", "dtype");
  PERSONAS_CHECK(name == "bf16" || name == "f32", data, "{}: unknown dtype attribute '{}'", path.string(), name);
  return parse_storage_dtype(name);
}

Checkpoint load_checkpoint(const fs::path& path) {
  h5::File file(path, h5::File::Mode::read);
  const std::string where = path.string();
  check_format(file);
  Checkpoint ck;
  ck.weights.config = read_config(file);
  ck.tokenizer = read_tokenizer(file);
  const auto dtype_name = file.attr_string("/", "dtype");
  PERSONAS_CHECK(dtype_name == "bf16" || dtype_name == "f32", data, "{}: unknown dtype attribute '{}'", where,
                 dtype_name);
  const bool bf16 = dtype_name == "bf16";

  // Exactly the expected datasets: name what is missing or unexpected.
  const auto specs = expected_tensors(ck.weights.config);
  std::set<std::string> expected_paths;
  for (const auto& s : specs) expected_paths.insert(tensor_name_to_h5_path(s.name));
  std::vector<std::string> problems;
  for (const auto& child : file.list("/"))
    if (child != "model" && child != "lm_head" && child != "tokenizer") problems.push_back("unexpected /" + child);
  std::set<std::string> present;
  for (const auto& group : {std::string("/model"), std::string("/lm_head")})
    for (auto& p : datasets_under(file, group)) present.insert(p);
  for (const auto& p : present)
    if (!expected_paths.count(p)) problems.push_back("unexpected tensor " + p);
  for (const auto& s : specs) {
    const auto p = tensor_name_to_h5_path(s.name);
    if (!present.count(p)) problems.push_back("missing tensor " + p + " " + shape_str(s.shape));
  }
  if (!problems.empty()) {
    std::string msg;
    for (std::size_t i = 0; i < problems.size() && i < 20; ++i) msg += "\n  " + problems[i];
    if (problems.size() > 20) msg += fmt::format("\n  ... and {} more", problems.size() - 20);
    PERSONAS_FAIL(data, "{}: tensors do not match the config ({} layers, hidden {}):{}", where,
                  ck.weights.config.num_hidden_layers, ck.weights.config.hidden_size, msg);
  }

  std::vector<std::uint16_t> half;
  for (const auto& s : specs) {
    const auto p = tensor_name_to_h5_path(s.name);
    auto dims = file.shape(p);
    std::vector<std::int64_t> shape(dims.begin(), dims.end());
    PERSONAS_CHECK(shape == s.shape, data, "{}: tensor {} has shape {}, expected {}", where, p, shape_str(shape),
                   shape_str(s.shape));
    auto [cls, size] = file.stored_type(p);
    PERSONAS_CHECK(cls == H5T_FLOAT && size == (bf16 ? 2u : 4u), data,
                   "{}: tensor {} is stored as a {}-byte {} type, but the file says dtype {}", where, p, size,
                   cls == H5T_FLOAT ? "float" : "non-float", dtype_name);
    HostTensor t;
    t.shape = shape;
    t.data.resize(static_cast<std::size_t>(t.numel()));
    if (bf16) {
      half.resize(t.data.size());
      if (!half.empty()) file.read_raw(p, h5::bf16_type(), half.data());
      for (std::size_t i = 0; i < half.size(); ++i) t.data[i] = bf16_to_f32(half[i]);
    } else if (!t.data.empty()) {
      file.read_raw(p, H5T_NATIVE_FLOAT, t.data.data());
    }
    ck.weights.tensors.emplace(s.name, std::move(t));
  }
  return ck;
}

}  // namespace personas
