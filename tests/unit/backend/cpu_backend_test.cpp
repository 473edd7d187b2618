// Every CpuBackend op against a double-precision reference, and every
// backward against central finite differences of that reference (fp64).
// Tolerance: 1e-4 relative to the largest reference value, covering fp32
// rounding of the backend (the finite differences themselves are ~1e-9).
#include <gtest/gtest.h>

#include <numeric>

#include "backend/cpu/cpu_backend.h"
#include "core/errors.h"
#include "op_reference.h"

namespace personas::testing {
namespace {

constexpr double kTol = 1e-4;

class CpuBackendTest : public ::testing::Test {
 protected:
  CpuBackend cpu;
};

TEST_F(CpuBackendTest, MatmulAllTransposesAlphaBeta) {
  const int m = 5, k = 7, n = 3;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      auto a = random_floats(m * k, 1), b = random_floats(k * n, 2), c = random_floats(m * n, 3);
      const auto c0 = c;
      cpu.matmul(view(a, ta ? k : m, ta ? m : k), ta, view(b, tb ? n : k, tb ? k : n), tb, view(c, m, n), 0.5f, 2.0f);
      Vec ref(m * n);
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
          double acc = 0.0;
          for (int p = 0; p < k; ++p)
            acc += static_cast<double>(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
          ref[i * n + j] = 0.5 * acc + 2.0 * c0[i * n + j];
        }
      EXPECT_LT(relative_error(c, ref), 1e-6) << "ta " << ta << " tb " << tb;
    }
}

TEST_F(CpuBackendTest, RmsnormForwardAndBackward) {
  const int rows = 3, d = 8;
  const double eps = 1e-5;
  auto x = random_floats(rows * d, 4), w = random_floats(d, 5), dout = random_floats(rows * d, 6);
  std::vector<float> y(rows * d), rstd(rows), dx(rows * d, 1.0f);
  cpu.rmsnorm_forward(view(x, rows, d), view(w, 1, d), static_cast<float>(eps), view(y, rows, d), view(rstd, rows, 1));
  EXPECT_LT(relative_error(y, rmsnorm_ref(to_double(x), to_double(w), rows, d, eps)), 1e-6);
  cpu.rmsnorm_backward(view(dout, rows, d), view(x, rows, d), view(w, 1, d), view(rstd, rows, 1), view(dx, rows, d),
                       /*accumulate=*/true);
  Vec g = numeric_gradient([&](const Vec& xx) { return rmsnorm_ref(xx, to_double(w), rows, d, eps); }, to_double(x),
                           to_double(dout));
  for (auto& v : g) v += 1.0;  // accumulate onto the initial 1.0
  EXPECT_LT(relative_error(dx, g), kTol);
}

TEST_F(CpuBackendTest, RopeForwardInverseAndBackward) {
  const int rows = 4, heads = 2, hd = 8, rot = 6;
  const double theta = 10000.0;
  std::vector<std::int32_t> pos = {0, 3, 17, 250};
  auto x = random_floats(rows * heads * hd, 7);
  auto y = x;
  cpu.rope(view(y, rows, heads * hd), view(pos, rows, 1), heads, hd, rot, static_cast<float>(theta), false);
  EXPECT_LT(relative_error(y, rope_ref(to_double(x), pos, heads, hd, rot, theta, false)), 1e-6);
  // The backward of rope is the inverse rotation applied to the gradient.
  auto dout = random_floats(rows * heads * hd, 8);
  auto dx = dout;
  cpu.rope(view(dx, rows, heads * hd), view(pos, rows, 1), heads, hd, rot, static_cast<float>(theta), true);
  const Vec g = numeric_gradient([&](const Vec& xx) { return rope_ref(xx, pos, heads, hd, rot, theta, false); },
                                 to_double(x), to_double(dout));
  EXPECT_LT(relative_error(dx, g), kTol);
  cpu.rope(view(y, rows, heads * hd), view(pos, rows, 1), heads, hd, rot, static_cast<float>(theta), true);
  EXPECT_LT(relative_error(y, to_double(x)), 1e-5);
}

struct AttentionCase {
  AttentionShape shape;
  std::vector<std::int32_t> lengths;
};

class AttentionTest : public CpuBackendTest, public ::testing::WithParamInterface<int> {};

AttentionCase attention_case(int which) {
  AttentionCase c;
  c.shape.batch = 2;
  c.shape.seq = 5;
  c.shape.n_heads = 4;
  c.shape.n_kv_heads = which == 0 ? 4 : 2;  // MHA, then GQA
  c.shape.head_dim = 4;
  c.shape.sliding_window = which == 2 ? 2 : 0;
  c.lengths = {5, 3};  // the second row is right-padded
  return c;
}

TEST_P(AttentionTest, ForwardAndBackwardWithPaddingGqaWindow) {
  const auto c = attention_case(GetParam());
  const auto& s = c.shape;
  auto lengths = c.lengths;
  const std::int64_t n = s.batch * s.seq, qc = s.n_heads * s.head_dim, kc = s.n_kv_heads * s.head_dim;
  auto q = random_floats(n * qc, 10), k = random_floats(n * kc, 11), v = random_floats(n * kc, 12);
  std::vector<float> out(n * qc), lse(n * s.n_heads);
  cpu.attention_forward(view(q, n, qc), view(k, n, kc), view(v, n, kc), view(lengths, s.batch, 1), s, view(out, n, qc),
                        view(lse, n, s.n_heads));
  const Vec ref = attention_ref(to_double(q), to_double(k), to_double(v), lengths, s);
  EXPECT_LT(relative_error(out, ref), 1e-5);
  for (int i = 3; i < 5; ++i)
    for (std::int64_t j = 0; j < qc; ++j) EXPECT_EQ(out[(5 + i) * qc + j], 0.0f) << "padding row must be zero";

  auto dout = random_floats(n * qc, 13);
  std::vector<float> dq(n * qc), dk(n * kc), dv(n * kc);
  cpu.attention_backward(view(dout, n, qc), view(q, n, qc), view(k, n, kc), view(v, n, kc), view(out, n, qc),
                         view(lse, n, s.n_heads), view(lengths, s.batch, 1), s, view(dq, n, qc), view(dk, n, kc),
                         view(dv, n, kc));
  const Vec qd = to_double(q), kd = to_double(k), vd = to_double(v), w = to_double(dout);
  EXPECT_LT(relative_error(dq, numeric_gradient([&](const Vec& x) { return attention_ref(x, kd, vd, lengths, s); }, qd, w)),
            kTol);
  EXPECT_LT(relative_error(dk, numeric_gradient([&](const Vec& x) { return attention_ref(qd, x, vd, lengths, s); }, kd, w)),
            kTol);
  EXPECT_LT(relative_error(dv, numeric_gradient([&](const Vec& x) { return attention_ref(qd, kd, x, lengths, s); }, vd, w)),
            kTol);
}
INSTANTIATE_TEST_SUITE_P(Shapes, AttentionTest, ::testing::Values(0, 1, 2));

TEST_F(CpuBackendTest, AttentionDecodeMatchesFullAttention) {
  AttentionShape s;
  s.batch = 1;
  s.seq = 6;
  s.n_heads = 4;
  s.n_kv_heads = 2;
  s.head_dim = 4;
  const std::int64_t qc = 16, kc = 8;
  auto q = random_floats(6 * qc, 20), k = random_floats(6 * kc, 21), v = random_floats(6 * kc, 22);
  std::vector<std::int32_t> lengths = {6};
  std::vector<float> full(6 * qc), lse(6 * 4);
  cpu.attention_forward(view(q, 6, qc), view(k, 6, kc), view(v, 6, kc), view(lengths, 1, 1), s, view(full, 6, qc),
                        view(lse, 6, 4));
  // Prefill 4 rows, then decode rows 4 and 5 one at a time over the same cache.
  std::vector<float> out(6 * qc);
  AttentionShape prefill = s;
  prefill.seq = 4;
  cpu.attention_decode(view(q, 4, qc), view(k, 6, kc), view(v, 6, kc), 0, prefill, view(out, 4, qc));
  for (int i = 4; i < 6; ++i) {
    AttentionShape one = s;
    one.seq = 1;
    TensorView qi{q.data() + i * qc, DType::f32, 1, qc}, oi{out.data() + i * qc, DType::f32, 1, qc};
    cpu.attention_decode(qi, view(k, 6, kc), view(v, 6, kc), i, one, oi);
  }
  EXPECT_LT(relative_error(out, to_double(full)), 1e-6);
}

Vec swiglu_ref(const Vec& gu, std::int64_t rows, std::int64_t f) {
  Vec out(rows * f);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < f; ++j) {
      const double g = gu[r * 2 * f + j], u = gu[r * 2 * f + f + j];
      out[r * f + j] = g / (1.0 + std::exp(-g)) * u;
    }
  return out;
}

TEST_F(CpuBackendTest, SwigluForwardAndBackward) {
  const int rows = 3, f = 5;
  auto gu = random_floats(rows * 2 * f, 30, 2.0f), dout = random_floats(rows * f, 31);
  std::vector<float> out(rows * f), dgu(rows * 2 * f);
  cpu.swiglu_forward(view(gu, rows, 2 * f), view(out, rows, f));
  EXPECT_LT(relative_error(out, swiglu_ref(to_double(gu), rows, f)), 1e-6);
  cpu.swiglu_backward(view(dout, rows, f), view(gu, rows, 2 * f), view(dgu, rows, 2 * f));
  EXPECT_LT(relative_error(dgu, numeric_gradient([&](const Vec& x) { return swiglu_ref(x, rows, f); }, to_double(gu),
                                                 to_double(dout))),
            kTol);
}

Vec cross_entropy_ref(const Vec& logits, const std::vector<std::int32_t>& targets, std::int64_t vocab) {
  Vec loss(targets.size(), 0.0);
  for (std::size_t r = 0; r < targets.size(); ++r) {
    if (targets[r] < 0) continue;
    double mx = -1e300, sum = 0.0;
    for (std::int64_t j = 0; j < vocab; ++j) mx = std::max(mx, logits[r * vocab + j]);
    for (std::int64_t j = 0; j < vocab; ++j) sum += std::exp(logits[r * vocab + j] - mx);
    loss[r] = mx + std::log(sum) - logits[r * vocab + targets[r]];
  }
  return loss;
}

TEST_F(CpuBackendTest, CrossEntropyLossGradientAndIgnoredRows) {
  const int rows = 4, vocab = 9;
  auto logits = random_floats(rows * vocab, 40, 3.0f);
  std::vector<std::int32_t> targets = {2, -1, 8, 0};
  std::vector<float> loss(rows), dlogits(rows * vocab);
  const float scale = 0.25f;
  cpu.cross_entropy(view(logits, rows, vocab), view(targets, rows, 1), view(loss, rows, 1),
                    view(dlogits, rows, vocab), scale);
  EXPECT_LT(relative_error(loss, cross_entropy_ref(to_double(logits), targets, vocab)), 1e-6);
  EXPECT_EQ(loss[1], 0.0f);
  const Vec ones(rows, scale);
  EXPECT_LT(relative_error(dlogits, numeric_gradient([&](const Vec& x) { return cross_entropy_ref(x, targets, vocab); },
                                                     to_double(logits), ones)),
            kTol);
  // In place (dlogits = logits) gives the same.
  auto inplace = logits;
  cpu.cross_entropy(view(inplace, rows, vocab), view(targets, rows, 1), view(loss, rows, 1), view(inplace, rows, vocab),
                    scale);
  EXPECT_EQ(inplace, dlogits);
}

TEST_F(CpuBackendTest, LoraSegmentsAndBackward) {
  const int n = 6, in = 5, out = 4, rank = 2;
  const float scale = 1.5f;
  auto x = random_floats(n * in, 50);
  std::vector<std::vector<float>> a = {random_floats(rank * in, 51), random_floats(rank * in, 52)};
  std::vector<std::vector<float>> b = {random_floats(out * rank, 53), random_floats(out * rank, 54)};
  std::vector<TensorView> av = {view(a[0], rank, in), view(a[1], rank, in)};
  std::vector<TensorView> bv = {view(b[0], out, rank), view(b[1], out, rank)};
  // Rows 0-1 adapter 1, rows 2-4 adapter 0, row 5 none.
  std::vector<LoraSegment> segments = {{0, 2, 1}, {2, 5, 0}};
  std::vector<float> t(n * rank), y(n * out, 1.0f);
  cpu.lora_shrink(view(x, n, in), av, segments, view(t, n, rank));
  cpu.lora_expand(view(t, n, rank), bv, segments, scale, view(y, n, out));
  auto lora_ref = [&](const Vec& xx, const Vec& aa, const Vec& bb) {
    Vec yy(static_cast<std::size_t>(xx.size() / in * out), 0.0);
    for (std::size_t r = 0; r < yy.size() / out; ++r)
      for (int o = 0; o < out; ++o)
        for (int j = 0; j < rank; ++j) {
          double tj = 0.0;
          for (int c = 0; c < in; ++c) tj += xx[r * in + c] * aa[j * in + c];
          yy[r * out + o] += scale * tj * bb[o * rank + j];
        }
    return yy;
  };
  for (int r = 0; r < n; ++r) {
    const int adapter = r < 2 ? 1 : (r < 5 ? 0 : -1);
    Vec xr(x.begin() + r * in, x.begin() + (r + 1) * in);
    const Vec yr = adapter < 0 ? Vec(out, 0.0) : lora_ref(xr, to_double(a[adapter]), to_double(b[adapter]));
    for (int o = 0; o < out; ++o) EXPECT_NEAR(y[r * out + o], 1.0 + yr[o], 1e-5) << "row " << r;
  }
  // Backward of adapter 0 over rows 2-4.
  const int r0 = 2, m = 3;
  auto dy = random_floats(m * out, 55);
  std::vector<float> da(rank * in, 0.0f), db(out * rank, 0.0f), dx(m * in, 0.0f);
  TensorView xs{x.data() + r0 * in, DType::f32, m, in}, ts{t.data() + r0 * rank, DType::f32, m, rank};
  cpu.lora_backward(view(dy, m, out), xs, ts, av[0], bv[0], scale, view(da, rank, in), view(db, out, rank),
                    view(dx, m, in));
  const Vec xd(x.begin() + r0 * in, x.begin() + (r0 + m) * in), ad = to_double(a[0]), bd = to_double(b[0]),
      w = to_double(dy);
  EXPECT_LT(relative_error(da, numeric_gradient([&](const Vec& p) { return lora_ref(xd, p, bd); }, ad, w)), kTol);
  EXPECT_LT(relative_error(db, numeric_gradient([&](const Vec& p) { return lora_ref(xd, ad, p); }, bd, w)), kTol);
  EXPECT_LT(relative_error(dx, numeric_gradient([&](const Vec& p) { return lora_ref(p, ad, bd); }, xd, w)), kTol);
}

TEST_F(CpuBackendTest, EmbeddingGatherAndScatter) {
  const int vocab = 5, width = 3;
  auto table = random_floats(vocab * width, 60);
  std::vector<std::int32_t> ids = {4, 0, 4};
  std::vector<float> out(3 * width);
  cpu.embedding_forward(view(ids, 3, 1), view(table, vocab, width), view(out, 3, width));
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < width; ++j) EXPECT_EQ(out[i * width + j], table[ids[i] * width + j]);
  std::vector<float> dtable(vocab * width, 0.0f);
  std::vector<std::int32_t> scatter_ids = {4, -1, 4};
  cpu.embedding_backward(view(out, 3, width), view(scatter_ids, 3, 1), view(dtable, vocab, width));
  for (int j = 0; j < width; ++j) {
    EXPECT_FLOAT_EQ(dtable[4 * width + j], out[j] + out[2 * width + j]);
    EXPECT_EQ(dtable[0 * width + j], 0.0f) << "id -1 is skipped";
  }
}

TEST_F(CpuBackendTest, AdamWMatchesTheFormula) {
  std::vector<float> p = {1.0f, -2.0f}, g = {0.5f, 0.1f}, m = {0.1f, 0.0f}, v = {0.01f, 0.0f};
  AdamWParams ap;
  ap.lr = 0.01f;
  ap.weight_decay = 0.1f;
  ap.step = 3;
  std::vector<double> expect(2);
  for (int i = 0; i < 2; ++i) {
    double pi = p[i] * (1.0 - 0.01 * 0.1);
    const double mi = 0.9 * m[i] + 0.1 * g[i], vi = 0.999 * v[i] + 0.001 * g[i] * g[i];
    const double mh = mi / (1 - std::pow(0.9, 3)), vh = vi / (1 - std::pow(0.999, 3));
    expect[i] = pi - 0.01 * mh / (std::sqrt(vh) + 1e-8);
  }
  cpu.adamw(view(p, 1, 2), view(g, 1, 2), view(m, 1, 2), view(v, 1, 2), ap);
  EXPECT_NEAR(p[0], expect[0], 1e-6);
  EXPECT_NEAR(p[1], expect[1], 1e-6);
}

TEST_F(CpuBackendTest, DropoutIsSeededAndItsOwnBackward) {
  const int n = 20000;
  std::vector<float> x(n, 1.0f), y(n), y2(n);
  cpu.dropout(view(x, 1, n), view(y, 1, n), 0.25f, 42);
  cpu.dropout(view(x, 1, n), view(y2, 1, n), 0.25f, 42);
  EXPECT_EQ(y, y2);
  const auto kept = std::count_if(y.begin(), y.end(), [](float v) { return v != 0.0f; });
  EXPECT_NEAR(static_cast<double>(kept) / n, 0.75, 0.02);
  for (float v : y) EXPECT_TRUE(v == 0.0f || std::abs(v - 1.0f / 0.75f) < 1e-6);
  cpu.dropout(view(x, 1, n), view(y2, 1, n), 0.25f, 43);
  EXPECT_NE(y, y2);
}

TEST_F(CpuBackendTest, AddAndCopy) {
  std::vector<float> y = {1, 2, 3}, x = {10, 20, 30};
  cpu.add(view(y, 1, 3), view(x, 1, 3), 0.5f);
  EXPECT_EQ(y, (std::vector<float>{6, 12, 18}));
  std::vector<float> z(3);
  cpu.copy_on_device(z.data(), y.data(), 12);
  EXPECT_EQ(z, y);
}

TEST(BackendFactory, CpuAutoAndCudaFallback) {
  auto cpu = make_backend(BackendKind::cpu);
  EXPECT_EQ(cpu->name(), "cpu");
  auto automatic = make_backend(BackendKind::automatic);
  EXPECT_TRUE(automatic->device() == DeviceKind::cpu || automatic->device() == DeviceKind::cuda);
  if (automatic->device() == DeviceKind::cpu) {
    EXPECT_THROW(make_backend(BackendKind::cuda), Error);
  }
  EXPECT_STREQ(op_name(Op::attention_decode), "attention_decode");
  EXPECT_EQ(dtype_size(DType::bf16), 2u);
}

}  // namespace
}  // namespace personas::testing
