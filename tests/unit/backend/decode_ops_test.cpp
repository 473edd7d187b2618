// The ops of batched generation and prefix-shared scoring on the CPU:
// attention_decode_rows against attention_decode row by row (bit for bit),
// attention_prefix_forward against attention_forward over prefix + suffix and
// the double reference, and matmul_batch_invariant against a double matmul and
// against itself on every row count.
#include <gtest/gtest.h>

#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "core/errors.h"
#include "op_reference.h"

namespace personas::testing {
namespace {

AttentionShape shape(int heads, int kv_heads, int hd, int window = 0) {
  AttentionShape s;
  s.n_heads = heads;
  s.n_kv_heads = kv_heads;
  s.head_dim = hd;
  s.sliding_window = window;
  return s;
}

class DecodeRowsTest : public ::testing::TestWithParam<int> {};

TEST_P(DecodeRowsTest, EachRowIsBitIdenticalToAttentionDecodeAlone) {
  CpuBackend cpu;
  const int window = GetParam();
  const AttentionShape s0 = shape(6, 2, 8, window);
  const std::int64_t qc = 48, kc = 16;
  // Five sequences with their own caches of different capacities and lengths.
  const std::vector<std::int32_t> pasts = {0, 3, 17, 9, 40};
  const std::vector<std::int64_t> capacity = {1, 8, 20, 10, 64};
  std::vector<std::vector<float>> kbuf, vbuf;
  std::vector<TensorView> kv, vv;
  for (std::size_t r = 0; r < pasts.size(); ++r) {
    kbuf.push_back(random_floats(static_cast<std::size_t>(capacity[r] * kc), 100 + r));
    vbuf.push_back(random_floats(static_cast<std::size_t>(capacity[r] * kc), 200 + r));
  }
  for (std::size_t r = 0; r < pasts.size(); ++r) {
    kv.push_back(view(kbuf[r], capacity[r], kc));
    vv.push_back(view(vbuf[r], capacity[r], kc));
  }
  const auto n = static_cast<std::int64_t>(pasts.size());
  auto q = random_floats(static_cast<std::size_t>(n * qc), 7);
  std::vector<float> out(static_cast<std::size_t>(n * qc), -1.0f);
  AttentionShape s = s0;
  s.batch = static_cast<int>(n);
  cpu.attention_decode_rows(view(q, n, qc), kv, vv, pasts, s, view(out, n, qc));
  for (std::int64_t r = 0; r < n; ++r) {
    std::vector<float> alone(static_cast<std::size_t>(qc));
    AttentionShape one = s0;
    one.seq = 1;
    TensorView qr{q.data() + r * qc, DType::f32, 1, qc};
    cpu.attention_decode(qr, kv[static_cast<std::size_t>(r)], vv[static_cast<std::size_t>(r)],
                         pasts[static_cast<std::size_t>(r)], one, view(alone, 1, qc));
    EXPECT_EQ(0, std::memcmp(alone.data(), out.data() + r * qc, static_cast<std::size_t>(qc) * 4)) << "row " << r;
    // And against the double reference: row r is the last query of its sequence.
    const int len = pasts[static_cast<std::size_t>(r)] + 1;
    std::vector<float> qs(static_cast<std::size_t>(len * qc), 0.0f);
    std::copy(qr.f32(), qr.f32() + qc, qs.begin() + (len - 1) * qc);
    AttentionShape full = s0;
    full.seq = len;
    const std::vector<float> ks(kbuf[static_cast<std::size_t>(r)].begin(), kbuf[static_cast<std::size_t>(r)].begin() + len * kc);
    const std::vector<float> vs(vbuf[static_cast<std::size_t>(r)].begin(), vbuf[static_cast<std::size_t>(r)].begin() + len * kc);
    const Vec ref = attention_ref(to_double(qs), to_double(ks), to_double(vs), {len}, full);
    const Vec last(ref.begin() + (len - 1) * qc, ref.end());
    EXPECT_LT(relative_error(alone, last), 1e-5) << "row " << r;
  }
  // A past beyond the cache is a programming error.
  std::vector<std::int32_t> bad = pasts;
  bad[0] = 1;
  EXPECT_THROW(cpu.attention_decode_rows(view(q, n, qc), kv, vv, bad, s, view(out, n, qc)), InternalError);
}
INSTANTIATE_TEST_SUITE_P(Windows, DecodeRowsTest, ::testing::Values(0, 5));

class PrefixAttentionTest : public ::testing::TestWithParam<std::tuple<int, int>> {};

// Prefix + suffix b scored together by attention_forward gives the suffix rows' outputs.
TEST_P(PrefixAttentionTest, MatchesAttentionOverPrefixPlusSuffix) {
  CpuBackend cpu;
  const auto [n_prefix, window] = GetParam();
  AttentionShape s = shape(4, 2, 8, window);
  const std::int64_t qc = 32, kc = 16;
  const std::vector<std::int32_t> lengths = {5, 1, 3, 0};
  s.batch = static_cast<int>(lengths.size());
  s.seq = 5;
  const std::int64_t n = static_cast<std::int64_t>(s.batch) * s.seq;
  auto kp = random_floats(static_cast<std::size_t>(std::max(n_prefix, 0) * kc), 31),
       vp = random_floats(static_cast<std::size_t>(std::max(n_prefix, 0) * kc), 32);
  auto q = random_floats(static_cast<std::size_t>(n * qc), 33), k = random_floats(static_cast<std::size_t>(n * kc), 34),
       v = random_floats(static_cast<std::size_t>(n * kc), 35);
  std::vector<std::int32_t> len_buf = lengths;
  std::vector<float> out(static_cast<std::size_t>(n * qc), -1.0f);
  cpu.attention_prefix_forward(view(q, n, qc), view(kp, n_prefix, kc), view(vp, n_prefix, kc), view(k, n, kc),
                               view(v, n, kc), view(len_buf, s.batch, 1), s, view(out, n, qc));
  for (int b = 0; b < s.batch; ++b) {
    const int len = lengths[static_cast<std::size_t>(b)];
    for (std::int64_t t = len; t < s.seq; ++t)
      for (std::int64_t j = 0; j < qc; ++j)
        ASSERT_EQ(out[static_cast<std::size_t>((b * s.seq + t) * qc + j)], 0.0f) << "padding row must be zero";
    if (len == 0) continue;
    // The whole sequence: prefix rows (any queries) then the suffix.
    const int total = n_prefix + len;
    std::vector<float> qf(static_cast<std::size_t>(total * qc)), kf(static_cast<std::size_t>(total * kc)),
        vf(static_cast<std::size_t>(total * kc));
    auto qpre = random_floats(static_cast<std::size_t>(n_prefix * qc), 36);
    std::copy(qpre.begin(), qpre.end(), qf.begin());
    std::copy(kp.begin(), kp.end(), kf.begin());
    std::copy(vp.begin(), vp.end(), vf.begin());
    std::copy(q.begin() + b * s.seq * qc, q.begin() + (b * s.seq + len) * qc, qf.begin() + n_prefix * qc);
    std::copy(k.begin() + b * s.seq * kc, k.begin() + (b * s.seq + len) * kc, kf.begin() + n_prefix * kc);
    std::copy(v.begin() + b * s.seq * kc, v.begin() + (b * s.seq + len) * kc, vf.begin() + n_prefix * kc);
    AttentionShape whole = s;
    whole.batch = 1;
    whole.seq = total;
    std::vector<std::int32_t> whole_len = {total};
    std::vector<float> full(static_cast<std::size_t>(total * qc)), lse(static_cast<std::size_t>(total * s.n_heads));
    cpu.attention_forward(view(qf, total, qc), view(kf, total, kc), view(vf, total, kc), view(whole_len, 1, 1), whole,
                          view(full, total, qc), view(lse, total, s.n_heads));
    const Vec ref = attention_ref(to_double(qf), to_double(kf), to_double(vf), whole_len, whole);
    const std::vector<float> mine(out.begin() + b * s.seq * qc, out.begin() + (b * s.seq + len) * qc);
    const Vec ref_sfx(ref.begin() + n_prefix * qc, ref.end());
    const std::vector<float> full_sfx(full.begin() + n_prefix * qc, full.end());
    EXPECT_LT(relative_error(mine, ref_sfx), 1e-5) << "suffix " << b;
    EXPECT_LT(relative_error(mine, to_double(full_sfx)), 1e-5) << "suffix " << b;
  }
}
INSTANTIATE_TEST_SUITE_P(PrefixAndWindow, PrefixAttentionTest,
                         ::testing::Values(std::make_tuple(0, 0), std::make_tuple(1, 0), std::make_tuple(7, 0),
                                           std::make_tuple(7, 4), std::make_tuple(12, 3)));

TEST(MatmulBatchInvariant, MatchesMatmulAndEveryRowCountGivesTheSameBits) {
  CpuBackend cpu;
  for (const auto& [k, n] : std::vector<std::pair<std::int64_t, std::int64_t>>{{1, 1}, {7, 5}, {16, 37}, {61, 130}, {96, 200}}) {
    const std::int64_t m_max = 19;
    auto x = random_floats(static_cast<std::size_t>(m_max * k), 40 + k), w = random_floats(static_cast<std::size_t>(n * k), 50 + n);
    std::vector<float> all(static_cast<std::size_t>(m_max * n));
    cpu.matmul_batch_invariant(view(x, m_max, k), view(w, n, k), view(all, m_max, n), 1.0f, 0.0f);
    Vec ref(static_cast<std::size_t>(m_max * n), 0.0);
    for (std::int64_t i = 0; i < m_max; ++i)
      for (std::int64_t j = 0; j < n; ++j)
        for (std::int64_t p = 0; p < k; ++p)
          ref[static_cast<std::size_t>(i * n + j)] += static_cast<double>(x[static_cast<std::size_t>(i * k + p)]) * w[static_cast<std::size_t>(j * k + p)];
    EXPECT_LT(relative_error(all, ref), 1e-5) << "k " << k << " n " << n;
    // Any window of rows [r0, r0 + m) gives exactly the rows of the full call.
    for (std::int64_t m : {1, 2, 3, 4, 5, 8, 13}) {
      for (std::int64_t r0 : {0, 1, 6}) {
        if (r0 + m > m_max) continue;
        std::vector<float> part(static_cast<std::size_t>(m * n));
        TensorView xs{x.data() + r0 * k, DType::f32, m, k};
        cpu.matmul_batch_invariant(xs, view(w, n, k), view(part, m, n), 1.0f, 0.0f);
        EXPECT_EQ(0, std::memcmp(part.data(), all.data() + r0 * n, part.size() * 4)) << "k " << k << " n " << n << " m " << m
                                                                                     << " from row " << r0;
      }
    }
    // alpha and beta: y = 0.5 x W^T + 2 y.
    std::vector<float> y(static_cast<std::size_t>(m_max * n), 1.5f);
    cpu.matmul_batch_invariant(view(x, m_max, k), view(w, n, k), view(y, m_max, n), 0.5f, 2.0f);
    Vec ref2(ref.size());
    for (std::size_t i = 0; i < ref.size(); ++i) ref2[i] = 0.5 * ref[i] + 3.0;
    EXPECT_LT(relative_error(y, ref2), 1e-5);
  }
  std::vector<float> a(6), b(6), c(4);
  EXPECT_THROW(cpu.matmul_batch_invariant(view(a, 2, 3), view(b, 3, 2), view(c, 2, 2), 1.0f, 0.0f),
               InternalError);
}

}  // namespace
}  // namespace personas::testing
