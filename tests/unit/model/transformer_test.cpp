// The Phi-3 forward against an independent fp64 reference written from the
// Hugging Face modeling code; padding invariance; scoring of chosen tokens.
#include <gtest/gtest.h>

#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "tiny_model.h"

namespace personas::testing {
namespace {

using Mat = std::vector<double>;

// y[n, out] = x[n, in] W[out, in]^T (W given as float rows starting at row0).
Mat linear(const Mat& x, std::int64_t n, std::int64_t in, const HostTensor& w, std::int64_t row0, std::int64_t out) {
  Mat y(static_cast<std::size_t>(n * out), 0.0);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t o = 0; o < out; ++o) {
      double acc = 0.0;
      for (std::int64_t c = 0; c < in; ++c) acc += x[r * in + c] * w.data[static_cast<std::size_t>((row0 + o) * in + c)];
      y[r * out + o] = acc;
    }
  return y;
}

Mat rmsnorm(const Mat& x, std::int64_t n, std::int64_t d, const HostTensor& w, double eps) {
  Mat y(x.size());
  for (std::int64_t r = 0; r < n; ++r) {
    double ms = 0.0;
    for (std::int64_t j = 0; j < d; ++j) ms += x[r * d + j] * x[r * d + j];
    const double s = 1.0 / std::sqrt(ms / d + eps);
    for (std::int64_t j = 0; j < d; ++j) y[r * d + j] = x[r * d + j] * s * w.data[static_cast<std::size_t>(j)];
  }
  return y;
}

void rope(Mat& x, std::int64_t n, int heads, int hd, double theta) {
  for (std::int64_t r = 0; r < n; ++r)
    for (int h = 0; h < heads; ++h)
      for (int j = 0; j < hd / 2; ++j) {
        const double a = static_cast<double>(r) * std::pow(theta, -2.0 * j / hd);
        double& x1 = x[r * heads * hd + h * hd + j];
        double& x2 = x[r * heads * hd + h * hd + j + hd / 2];
        const double a1 = x1 * std::cos(a) - x2 * std::sin(a), a2 = x2 * std::cos(a) + x1 * std::sin(a);
        x1 = a1;
        x2 = a2;
      }
}

// Full-vocabulary logits of one unpadded sequence, base model only.
Mat reference_logits(const ModelWeights& w, const std::vector<std::int32_t>& ids) {
  const Phi3Config& c = w.config;
  const std::int64_t n = static_cast<std::int64_t>(ids.size()), h = c.hidden_size, f = c.intermediate_size;
  const int H = static_cast<int>(c.num_attention_heads), KV = static_cast<int>(c.num_key_value_heads),
            hd = static_cast<int>(c.head_dim());
  Mat x(static_cast<std::size_t>(n * h));
  const auto& emb = w.at("model.embed_tokens.weight");
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t j = 0; j < h; ++j) x[r * h + j] = emb.data[static_cast<std::size_t>(ids[r] * h + j)];
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const Mat xn = rmsnorm(x, n, h, w.at(p + "input_layernorm.weight"), c.rms_norm_eps);
    const auto& qkv = w.at(p + "self_attn.qkv_proj.weight");
    Mat q = linear(xn, n, h, qkv, 0, H * hd), k = linear(xn, n, h, qkv, H * hd, KV * hd),
        v = linear(xn, n, h, qkv, H * hd + KV * hd, KV * hd);
    rope(q, n, H, hd, c.rope_theta);
    rope(k, n, KV, hd, c.rope_theta);
    Mat att(static_cast<std::size_t>(n * H * hd), 0.0);
    for (int hh = 0; hh < H; ++hh) {
      const int kvh = hh / (H / KV);
      for (std::int64_t i = 0; i < n; ++i) {
        std::vector<double> s(static_cast<std::size_t>(i + 1));
        double mx = -1e300, sum = 0.0;
        for (std::int64_t j = 0; j <= i; ++j) {
          double d = 0.0;
          for (int t = 0; t < hd; ++t) d += q[i * H * hd + hh * hd + t] * k[j * KV * hd + kvh * hd + t];
          s[static_cast<std::size_t>(j)] = d / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[static_cast<std::size_t>(j)]);
        }
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (std::int64_t j = 0; j <= i; ++j)
          for (int t = 0; t < hd; ++t)
            att[i * H * hd + hh * hd + t] += s[static_cast<std::size_t>(j)] / sum * v[j * KV * hd + kvh * hd + t];
      }
    }
    const Mat o = linear(att, n, H * hd, w.at(p + "self_attn.o_proj.weight"), 0, h);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    const Mat xn2 = rmsnorm(x, n, h, w.at(p + "post_attention_layernorm.weight"), c.rms_norm_eps);
    const Mat gu = linear(xn2, n, h, w.at(p + "mlp.gate_up_proj.weight"), 0, 2 * f);
    Mat act(static_cast<std::size_t>(n * f));
    for (std::int64_t r = 0; r < n; ++r)
      for (std::int64_t j = 0; j < f; ++j) {
        const double g = gu[r * 2 * f + j];
        act[r * f + j] = g / (1.0 + std::exp(-g)) * gu[r * 2 * f + f + j];
      }
    const Mat d = linear(act, n, f, w.at(p + "mlp.down_proj.weight"), 0, h);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += d[i];
  }
  const Mat xn = rmsnorm(x, n, h, w.at("model.norm.weight"), c.rms_norm_eps);
  const auto& head = c.tie_word_embeddings ? w.at("model.embed_tokens.weight") : w.at("lm_head.weight");
  return linear(xn, n, h, head, 0, c.vocab_size);
}

TEST(Transformer, ForwardMatchesFp64Reference) {
  for (bool tied : {false, true}) {
    CpuBackend cpu;
    const auto weights = tiny_weights(tiny_config(tied));
    LoraModel model(weights, cpu, LoraSpec{}, 0);
    const auto batch = tiny_batch();
    for (int r = 0; r < batch.batch; ++r) {
      const int len = batch.lengths[static_cast<std::size_t>(r)];
      std::vector<std::int32_t> ids(batch.ids.begin() + r * batch.seq, batch.ids.begin() + r * batch.seq + len);
      const Mat ref = reference_logits(weights, ids);
      std::vector<ScorePosition> positions;
      for (int t = 0; t < len; ++t) positions.push_back({r, t});
      auto b = batch;
      b.adapters.assign(static_cast<std::size_t>(b.batch), -1);
      const auto got = model.logits(b, positions);
      ASSERT_EQ(got.size(), ref.size());
      double scale = 0.0, diff = 0.0;
      for (std::size_t i = 0; i < ref.size(); ++i) {
        scale = std::max(scale, std::abs(ref[i]));
        diff = std::max(diff, std::abs(ref[i] - got[i]));
      }
      EXPECT_LT(diff / scale, 1e-5) << "row " << r << " tied " << tied;
    }
  }
}

TEST(Transformer, LossIsTheMeanOverAnswerTokens) {
  CpuBackend cpu;
  const auto weights = tiny_weights(tiny_config());
  LoraModel model(weights, cpu, LoraSpec{}, 0);
  auto batch = tiny_batch(4);
  batch.adapters.assign(3, -1);
  double expected = 0.0;
  int count = 0;
  for (int r = 0; r < batch.batch; ++r) {
    const int len = batch.lengths[static_cast<std::size_t>(r)];
    std::vector<std::int32_t> ids(batch.ids.begin() + r * batch.seq, batch.ids.begin() + r * batch.seq + len);
    const Mat logits = reference_logits(weights, ids);
    const std::int64_t vocab = weights.config.vocab_size;
    for (int t = 3; t + 1 < len; ++t) {  // answer tokens from index 4: targets at positions >= 3
      double mx = -1e300, sum = 0.0;
      for (std::int64_t j = 0; j < vocab; ++j) mx = std::max(mx, logits[t * vocab + j]);
      for (std::int64_t j = 0; j < vocab; ++j) sum += std::exp(logits[t * vocab + j] - mx);
      expected += mx + std::log(sum) - logits[t * vocab + ids[static_cast<std::size_t>(t + 1)]];
      ++count;
    }
  }
  const auto result = model.loss(batch);
  EXPECT_EQ(result.n_tokens, count);
  EXPECT_NEAR(result.mean(), expected / count, 1e-5);
}

TEST(Transformer, PaddingDoesNotChangeAnyRow) {
  CpuBackend cpu;
  LoraModel model(tiny_weights(tiny_config()), cpu, LoraSpec{}, 1);
  randomize_adapter(model.adapter(0), 21);
  const std::vector<std::vector<std::int32_t>> seqs = {{1, 33, 4, 8, 2}};
  const auto alone = TokenBatch::from_sequences(seqs, {}, 0);
  const auto padded = TokenBatch::from_sequences(seqs, {}, 0, /*pad_to=*/12);
  std::vector<ScorePosition> positions = {{0, 0}, {0, 4}};
  const auto a = model.logits(alone, positions), b = model.logits(padded, positions);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5);
}

TEST(Transformer, ScoreGivesChosenTokensOfTheFullLogits) {
  CpuBackend cpu;
  LoraModel model(tiny_weights(tiny_config()), cpu, LoraSpec{}, 1);
  randomize_adapter(model.adapter(0), 22);
  const auto batch = tiny_batch();
  std::vector<ScorePosition> positions = {{2, 5}, {0, 3}};
  const std::vector<std::int32_t> digits = {10, 11, 12, 13, 14};
  const auto scores = model.score(batch, positions, digits);
  const auto full = model.logits(batch, positions);
  const std::int64_t vocab = model.config().vocab_size;
  ASSERT_EQ(scores.size(), positions.size() * digits.size());
  for (std::size_t p = 0; p < positions.size(); ++p)
    for (std::size_t d = 0; d < digits.size(); ++d)
      EXPECT_NEAR(scores[p * digits.size() + d], full[p * static_cast<std::size_t>(vocab) + static_cast<std::size_t>(digits[d])],
                  1e-5);
  const auto hidden = model.hidden_states(batch, positions);
  EXPECT_EQ(hidden.size(), positions.size() * 16u);
  EXPECT_THROW(model.score(batch, std::vector<ScorePosition>{{1, 5}}, digits), InternalError)
      << "position 5 is padding";
}

TEST(Transformer, BadBatchesAreRejected) {
  CpuBackend cpu;
  LoraModel model(tiny_weights(tiny_config()), cpu, LoraSpec{}, 1);
  auto batch = tiny_batch();
  batch.ids[0] = 99;
  EXPECT_THROW(model.loss(batch), Error);
  batch = tiny_batch();
  batch.adapters = {0, 1, 0};
  EXPECT_THROW(model.loss(batch), Error);
  auto weights = tiny_weights(tiny_config());
  weights.tensors.erase("model.norm.weight");
  EXPECT_THROW(LoraModel(weights, cpu, LoraSpec{}), Error);
}

}  // namespace
}  // namespace personas::testing
