#include "model/lora_arena.h"

#include <cmath>
#include <random>

#include "core/errors.h"

namespace personas {

LoraArena::LoraArena(Backend& backend, const Phi3Config& config, const LoraSpec& spec)
    : backend_(backend), spec_(spec) {
  spec_.validate("lora");
  const int n_layers = static_cast<int>(config.num_hidden_layers);
  lookup_.assign(static_cast<std::size_t>(n_layers) * kLoraTargetCount * 2, -1);
  for (int l = 0; l < n_layers; ++l) {
    for (LoraTarget t : spec_.targets) {
      const auto [out, in] = LoraSpec::target_shape(config, t);
      for (int ab = 0; ab < 2; ++ab) {
        LoraTensorInfo info;
        info.layer = l;
        info.target = t;
        info.is_b = ab == 1;
        info.rows = ab == 0 ? spec_.rank : out;
        info.cols = ab == 0 ? in : spec_.rank;
        info.offset = n_params_;
        info.name = fmt::format("layers.{}.{}.{}", l, lora_target_name(t), ab == 0 ? "A" : "B");
        n_params_ += info.rows * info.cols;
        lookup_[(static_cast<std::size_t>(l) * kLoraTargetCount + static_cast<std::size_t>(t)) * 2 +
                static_cast<std::size_t>(ab)] = static_cast<int>(tensors_.size());
        tensors_.push_back(std::move(info));
      }
    }
  }
  storage_ = static_cast<float*>(backend_.allocate(static_cast<std::size_t>(4 * n_params_) * sizeof(float)));
  backend_.fill_zero(TensorView{storage_, DType::f32, 4, n_params_});
}

LoraArena::~LoraArena() { backend_.release(storage_); }

int LoraArena::find(int layer, LoraTarget target, bool is_b) const {
  const std::size_t i =
      (static_cast<std::size_t>(layer) * kLoraTargetCount + static_cast<std::size_t>(target)) * 2 + (is_b ? 1 : 0);
  return i < lookup_.size() ? lookup_[i] : -1;
}

TensorView LoraArena::section(int index) const {
  return TensorView{storage_ + static_cast<std::int64_t>(index) * n_params_, DType::f32, 1, n_params_};
}

TensorView LoraArena::view(int tensor_index, int section_index) const {
  const auto& info = tensors_.at(static_cast<std::size_t>(tensor_index));
  return TensorView{storage_ + static_cast<std::int64_t>(section_index) * n_params_ + info.offset, DType::f32,
                    info.rows, info.cols};
}

namespace {

// U[lo, hi) from one 64-bit draw, written out so that the bytes do not depend
// on the standard library (std::uniform_real_distribution's algorithm is
// theirs to choose). This is libstdc++'s generate_canonical<float, 24> for a
// 64-bit engine, so adapters initialised before match: the draw rounded to
// float, over 2^64, kept below 1, then scaled.
float uniform_from_draw(std::uint64_t draw, float lo, float hi) {
  float unit = static_cast<float>(draw) / 0x1p64f;
  if (unit >= 1.0f) unit = std::nextafter(1.0f, 0.0f);
  return (hi - lo) * unit + lo;
}

}  // namespace

void LoraArena::initialize(std::uint64_t seed) {
  std::vector<float> host(static_cast<std::size_t>(n_params_), 0.0f);
  std::mt19937_64 rng(seed);
  for (const auto& info : tensors_) {
    if (info.is_b) continue;  // B = 0: the adapted model starts as the base
    // PEFT: nn.init.kaiming_uniform_(A, a=sqrt(5)) -> U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    const float bound = 1.0f / std::sqrt(static_cast<float>(info.cols));
    for (std::int64_t i = 0; i < info.rows * info.cols; ++i)
      host[static_cast<std::size_t>(info.offset + i)] = uniform_from_draw(rng(), -bound, bound);
  }
  from_host(0, host);
  zero_grads();
  zero_optimizer_state();
}

void LoraArena::zero_grads() { backend_.fill_zero(grads()); }
void LoraArena::zero_optimizer_state() {
  backend_.fill_zero(adam_m());
  backend_.fill_zero(adam_v());
}

void LoraArena::adamw_step(const AdamWParams& params) { backend_.adamw(this->params(), grads(), adam_m(), adam_v(), params); }

std::vector<float> LoraArena::to_host(int section_index) const {
  std::vector<float> out(static_cast<std::size_t>(n_params_));
  backend_.copy_to_host(out.data(), section(section_index).data, out.size() * sizeof(float));
  return out;
}

void LoraArena::from_host(int section_index, std::span<const float> values) {
  PERSONAS_CHECK(static_cast<std::int64_t>(values.size()) == n_params_, data,
                 "LoRA arena: {} values given for {} parameters", values.size(), n_params_);
  backend_.copy_to_device(section(section_index).data, values.data(), values.size() * sizeof(float));
}

}  // namespace personas
