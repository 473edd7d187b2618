// Every CudaBackend op against CpuBackend (the oracle) on fresh random inputs,
// including the odd sizes 1, 3, 7 and 133. Tolerances (docs/cuda.md):
//   exact-by-construction ops (embedding forward, dropout mask, k-means labels
//   and distances): equal; elementwise fp32 (add, swiglu, adamw, rope): 1e-5
//   relative + 1e-6..1e-5 absolute; reductions over a row (rmsnorm,
//   cross-entropy, attention, LoRA): 1e-4 absolute + 1e-3..1e-4 relative
//   (summation order differs); fp32 GEMM: 1e-4 * sqrt(k) absolute; bf16
//   tensor-core GEMM on fp32 inputs: 1e-2 * sqrt(k) absolute + 1e-2 relative;
//   GEMM on bf16 operands vs the CPU on the same bf16-rounded values: 1e-4 * sqrt(k).
// Without a GPU each test skips and says why.
#ifdef PERSONAS_HAVE_CUDA

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/errors.h"
#include "cuda_test_support.h"

namespace personas {
namespace {

using cuda_test::all_close;
using cuda_test::odd_sizes;
using cuda_test::Twin;

std::mt19937_64 make_rng(std::uint64_t salt) { return std::mt19937_64(0xC0DA + salt * 7919); }

TEST(CudaOps, AddAndDropout) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  CpuBackend cpu;
  for (std::int64_t n : odd_sizes()) {
    auto rng = make_rng(static_cast<std::uint64_t>(n));
    Twin y(*gpu, n, 5), x(*gpu, n, 5);
    y.fill_uniform(rng);
    x.fill_uniform(rng);
    cpu.add(y.cpu(), x.cpu(), 0.37f);
    gpu->add(y.gpu(), x.gpu(), 0.37f);
    EXPECT_TRUE(all_close(y.download(), y.host_f32(), 1e-6, 1e-6)) << "add n=" << n;

    Twin out(*gpu, n, 5);
    cpu.dropout(x.cpu(), out.cpu(), 0.3f, 1234 + static_cast<std::uint64_t>(n));
    gpu->dropout(x.gpu(), out.gpu(), 0.3f, 1234 + static_cast<std::uint64_t>(n));
    const auto g = out.download();
    for (std::int64_t i = 0; i < out.size(); ++i)
      ASSERT_EQ(g[static_cast<std::size_t>(i)] == 0.0f, out.f32()[i] == 0.0f) << "dropout mask differs at " << i;
    EXPECT_TRUE(all_close(g, out.host_f32(), 0.0, 1e-6)) << "dropout n=" << n;
    // In place (out aliases x) gives the same result.
    gpu->dropout(x.gpu(), x.gpu(), 0.3f, 1234 + static_cast<std::uint64_t>(n));
    EXPECT_TRUE(all_close(x.download(), out.host_f32(), 0.0, 1e-6)) << "dropout in place n=" << n;
  }
}

TEST(CudaOps, Embedding) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  CpuBackend cpu;
  for (std::int64_t n : odd_sizes()) {
    auto rng = make_rng(10 + static_cast<std::uint64_t>(n));
    const std::int64_t vocab = 11, width = n;
    Twin table(*gpu, vocab, width), ids(*gpu, n, 1, DType::i32), out(*gpu, n, width);
    table.fill_uniform(rng);
    for (std::int64_t i = 0; i < n; ++i) ids.i32()[i] = static_cast<std::int32_t>(rng() % vocab);
    ids.upload();
    cpu.embedding_forward(ids.cpu(), table.cpu(), out.cpu());
    gpu->embedding_forward(ids.gpu(), table.gpu(), out.gpu());
    EXPECT_TRUE(all_close(out.download(), out.host_f32(), 0.0, 0.0)) << "embedding n=" << n;

    // Backward with repeated ids and a skipped (-1) id accumulates into dtable.
    Twin dtable(*gpu, vocab, width), dout(*gpu, n, width);
    dtable.fill_uniform(rng);
    dout.fill_uniform(rng);
    ids.i32()[0] = -1;
    ids.upload();
    cpu.embedding_backward(dout.cpu(), ids.cpu(), dtable.cpu());
    gpu->embedding_backward(dout.gpu(), ids.gpu(), dtable.gpu());
    EXPECT_TRUE(all_close(dtable.download(), dtable.host_f32(), 1e-5, 1e-5)) << "embedding_backward n=" << n;
  }
}

TEST(CudaOps, BadEmbeddingIdIsReported) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  Twin table(*gpu, 4, 3), ids(*gpu, 2, 1, DType::i32), out(*gpu, 2, 3);
  ids.i32()[0] = 1;
  ids.i32()[1] = 9;  // outside [0, 4)
  ids.upload();
  gpu->embedding_forward(ids.gpu(), table.gpu(), out.gpu());
  EXPECT_THROW(gpu->synchronize(), InternalError);  // a bad id reaching a kernel is a bug
  EXPECT_NO_THROW(gpu->synchronize());  // the error word was cleared
}

TEST(CudaOps, RmsNorm) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  CpuBackend cpu;
  for (std::int64_t n : odd_sizes()) {
    for (std::int64_t d : {std::int64_t{1}, std::int64_t{7}, std::int64_t{133}, std::int64_t{3072}}) {
      auto rng = make_rng(20 + static_cast<std::uint64_t>(n * d));
      Twin x(*gpu, n, d), w(*gpu, 1, d), out(*gpu, n, d), rstd(*gpu, n, 1);
      x.fill_uniform(rng);
      w.fill_uniform(rng, 0.5f, 1.5f);
      cpu.rmsnorm_forward(x.cpu(), w.cpu(), 1e-5f, out.cpu(), rstd.cpu());
      gpu->rmsnorm_forward(x.gpu(), w.gpu(), 1e-5f, out.gpu(), rstd.gpu());
      EXPECT_TRUE(all_close(out.download(), out.host_f32(), 1e-5, 1e-4)) << "rmsnorm n=" << n << " d=" << d;
      EXPECT_TRUE(all_close(rstd.download(), rstd.host_f32(), 0.0, 1e-4)) << "rstd n=" << n << " d=" << d;
      Twin dout(*gpu, n, d), dx(*gpu, n, d);
      dout.fill_uniform(rng);
      dx.fill_uniform(rng);
      for (bool accumulate : {false, true}) {
        cpu.rmsnorm_backward(dout.cpu(), x.cpu(), w.cpu(), rstd.cpu(), dx.cpu(), accumulate);
        gpu->rmsnorm_backward(dout.gpu(), x.gpu(), w.gpu(), rstd.gpu(), dx.gpu(), accumulate);
        EXPECT_TRUE(all_close(dx.download(), dx.host_f32(), 1e-4, 1e-3))
            << "rmsnorm_backward n=" << n << " d=" << d << " accumulate=" << accumulate;
      }
    }
  }
}

void check_matmul(CudaBackend& gpu, bool bf16_inputs_expected_loose, double atol_per_sqrt_k, double rtol) {
  CpuBackend cpu;
  std::uint64_t salt = 30;
  for (std::int64_t m : odd_sizes())
    for (std::int64_t n : {std::int64_t{1}, std::int64_t{7}, std::int64_t{133}})
      for (std::int64_t k : {std::int64_t{1}, std::int64_t{3}, std::int64_t{133}})
        for (int ta = 0; ta < 2; ++ta)
          for (int tb = 0; tb < 2; ++tb) {
            auto rng = make_rng(++salt);
            Twin a(gpu, ta ? k : m, ta ? m : k), b(gpu, tb ? n : k, tb ? k : n), c(gpu, m, n);
            a.fill_uniform(rng);
            b.fill_uniform(rng);
            c.fill_uniform(rng);
            const float alpha = 0.75f, beta = (salt % 3 == 0) ? 0.0f : 0.5f;
            cpu.matmul(a.cpu(), ta, b.cpu(), tb, c.cpu(), alpha, beta);
            gpu.matmul(a.gpu(), ta, b.gpu(), tb, c.gpu(), alpha, beta);
            EXPECT_TRUE(all_close(c.download(), c.host_f32(), atol_per_sqrt_k * std::sqrt(static_cast<double>(k)), rtol))
                << "matmul m=" << m << " n=" << n << " k=" << k << " ta=" << ta << " tb=" << tb
                << (bf16_inputs_expected_loose ? " (bf16 tensor cores)" : " (fp32)");
          }
}

TEST(CudaOps, MatmulFp32) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  check_matmul(*gpu, false, 1e-4, 1e-5);
}

TEST(CudaOps, MatmulBf16TensorCores) {
  PERSONAS_REQUIRE_GPU(gpu, true);
  check_matmul(*gpu, true, 1e-2, 1e-2);
}

// bf16 operand views (frozen weights stored in bf16): the CPU computes on the
// same bf16-rounded values in fp32, so only the accumulation order differs.
TEST(CudaOps, MatmulBf16Operands) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  CpuBackend cpu;
  for (std::int64_t m : odd_sizes())
    for (bool mixed : {false, true}) {
      const std::int64_t k = 133, n = 7;
      auto rng = make_rng(40 + static_cast<std::uint64_t>(m));
      std::uniform_real_distribution<float> d(-1.0f, 1.0f);
      std::vector<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(n * k));
      for (auto& v : a) v = cuda_test::round_to_bf16(d(rng));
      for (auto& v : b) v = cuda_test::round_to_bf16(d(rng));
      std::vector<std::uint16_t> a16(a.size()), b16(b.size());
      for (std::size_t i = 0; i < a.size(); ++i) a16[i] = cuda_test::to_bf16_bits(a[i]);
      for (std::size_t i = 0; i < b.size(); ++i) b16[i] = cuda_test::to_bf16_bits(b[i]);
      void* da = gpu->allocate(mixed ? a.size() * 4 : a16.size() * 2);
      void* db = gpu->allocate(b16.size() * 2);
      if (mixed) gpu->copy_to_device(da, a.data(), a.size() * 4);
      else gpu->copy_to_device(da, a16.data(), a16.size() * 2);
      gpu->copy_to_device(db, b16.data(), b16.size() * 2);
      Twin c(*gpu, m, n);
      c.fill_uniform(rng);
      cpu.matmul({a.data(), DType::f32, m, k}, false, {b.data(), DType::f32, n, k}, true, c.cpu(), 1.0f, 1.0f);
      gpu->matmul({da, mixed ? DType::f32 : DType::bf16, m, k}, false, {db, DType::bf16, n, k}, true, c.gpu(), 1.0f,
                  1.0f);
      EXPECT_TRUE(all_close(c.download(), c.host_f32(), 1e-4 * std::sqrt(133.0), 1e-5))
          << "bf16 matmul m=" << m << " mixed=" << mixed;
      gpu->release(da);
      gpu->release(db);
    }
}

TEST(CudaOps, Rope) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  CpuBackend cpu;
  for (std::int64_t n : odd_sizes()) {
    for (int rotary : {2, 6, 8}) {
      const int heads = 3, hd = 8;
      auto rng = make_rng(50 + static_cast<std::uint64_t>(n * rotary));
      Twin x(*gpu, n, heads * hd), pos(*gpu, n, 1, DType::i32);
      x.fill_uniform(rng);
      for (std::int64_t i = 0; i < n; ++i) pos.i32()[i] = static_cast<std::int32_t>(rng() % 4096);
      pos.upload();
      for (bool inverse : {false, true}) {
        cpu.rope(x.cpu(), pos.cpu(), heads, hd, rotary, 10000.0f, inverse);
        gpu->rope(x.gpu(), pos.gpu(), heads, hd, rotary, 10000.0f, inverse);
        EXPECT_TRUE(all_close(x.download(), x.host_f32(), 1e-5, 1e-5))
            << "rope n=" << n << " rotary=" << rotary << " inverse=" << inverse;
      }
    }
  }
}

TEST(CudaOps, SwiGlu) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  CpuBackend cpu;
  for (std::int64_t n : odd_sizes()) {
    const std::int64_t f = n + 2;
    auto rng = make_rng(60 + static_cast<std::uint64_t>(n));
    Twin gu(*gpu, n, 2 * f), out(*gpu, n, f), dout(*gpu, n, f), dgu(*gpu, n, 2 * f);
    gu.fill_uniform(rng, -6.0f, 6.0f);
    dout.fill_uniform(rng);
    cpu.swiglu_forward(gu.cpu(), out.cpu());
    gpu->swiglu_forward(gu.gpu(), out.gpu());
    EXPECT_TRUE(all_close(out.download(), out.host_f32(), 1e-6, 1e-5)) << "swiglu n=" << n;
    cpu.swiglu_backward(dout.cpu(), gu.cpu(), dgu.cpu());
    gpu->swiglu_backward(dout.gpu(), gu.gpu(), dgu.gpu());
    EXPECT_TRUE(all_close(dgu.download(), dgu.host_f32(), 1e-6, 1e-5)) << "swiglu_backward n=" << n;
  }
}

TEST(CudaOps, CrossEntropy) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  CpuBackend cpu;
  for (std::int64_t n : odd_sizes()) {
    for (std::int64_t vocab : {std::int64_t{1}, std::int64_t{3}, std::int64_t{133}, std::int64_t{32064}}) {
      auto rng = make_rng(70 + static_cast<std::uint64_t>(n * vocab));
      Twin logits(*gpu, n, vocab), targets(*gpu, n, 1, DType::i32), loss(*gpu, n, 1), dl(*gpu, n, vocab);
      logits.fill_uniform(rng, -8.0f, 8.0f);
      for (std::int64_t i = 0; i < n; ++i)
        targets.i32()[i] = (i % 3 == 1) ? -1 : static_cast<std::int32_t>(rng() % vocab);
      targets.upload();
      // Separate gradient buffer, then in place (dlogits aliases logits).
      cpu.cross_entropy(logits.cpu(), targets.cpu(), loss.cpu(), dl.cpu(), 0.25f);
      gpu->cross_entropy(logits.gpu(), targets.gpu(), loss.gpu(), dl.gpu(), 0.25f);
      EXPECT_TRUE(all_close(loss.download(), loss.host_f32(), 1e-4, 1e-5)) << "ce loss n=" << n << " v=" << vocab;
      EXPECT_TRUE(all_close(dl.download(), dl.host_f32(), 1e-7, 1e-4)) << "ce grad n=" << n << " v=" << vocab;
      gpu->cross_entropy(logits.gpu(), targets.gpu(), loss.gpu(), logits.gpu(), 0.25f);
      EXPECT_TRUE(all_close(logits.download(), dl.host_f32(), 1e-7, 1e-4)) << "ce in place n=" << n;
      // Loss only.
      gpu->cross_entropy(dl.gpu(), targets.gpu(), loss.gpu(), TensorView{}, 1.0f);
      cpu.cross_entropy(dl.cpu(), targets.cpu(), loss.cpu(), TensorView{}, 1.0f);
      EXPECT_TRUE(all_close(loss.download(), loss.host_f32(), 1e-4, 1e-5)) << "ce loss only n=" << n;
    }
  }
}

struct AttentionCase {
  int batch, seq, heads, kv_heads, head_dim, window;
  std::vector<int> lengths;
};

TEST(CudaOps, AttentionForwardBackward) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  CpuBackend cpu;
  const std::vector<AttentionCase> cases{
      {1, 1, 1, 1, 1, 0, {1}},
      {2, 3, 4, 2, 3, 0, {3, 2}},
      {2, 7, 4, 1, 7, 0, {7, 0}},
      {3, 133, 2, 1, 32, 0, {133, 1, 50}},
      {1, 133, 4, 4, 96, 7, {133}},
      {2, 70, 6, 2, 128, 33, {64, 70}},
      {1, 40, 2, 2, 16, 1, {40}},
  };
  std::uint64_t salt = 80;
  for (const auto& c : cases) {
    auto rng = make_rng(++salt);
    AttentionShape s{c.batch, c.seq, c.heads, c.kv_heads, c.head_dim, c.window};
    const std::int64_t rows = static_cast<std::int64_t>(c.batch) * c.seq;
    Twin q(*gpu, rows, c.heads * c.head_dim), k(*gpu, rows, c.kv_heads * c.head_dim),
        v(*gpu, rows, c.kv_heads * c.head_dim), len(*gpu, c.batch, 1, DType::i32);
    q.fill_uniform(rng, -2.0f, 2.0f);
    k.fill_uniform(rng, -2.0f, 2.0f);
    v.fill_uniform(rng);
    for (int b = 0; b < c.batch; ++b) len.i32()[b] = c.lengths[static_cast<std::size_t>(b)];
    len.upload();
    Twin out(*gpu, rows, c.heads * c.head_dim), lse(*gpu, rows, c.heads);
    out.fill_uniform(rng);  // padding rows must come back zero
    out.upload();
    cpu.attention_forward(q.cpu(), k.cpu(), v.cpu(), len.cpu(), s, out.cpu(), lse.cpu());
    gpu->attention_forward(q.gpu(), k.gpu(), v.gpu(), len.gpu(), s, out.gpu(), lse.gpu());
    const std::string what = "batch " + std::to_string(c.batch) + " seq " + std::to_string(c.seq) + " heads " +
                             std::to_string(c.heads) + "/" + std::to_string(c.kv_heads) + " hd " +
                             std::to_string(c.head_dim) + " window " + std::to_string(c.window);
    EXPECT_TRUE(all_close(out.download(), out.host_f32(), 1e-5, 1e-4)) << "attention out " << what;
    EXPECT_TRUE(all_close(lse.download(), lse.host_f32(), 1e-5, 1e-5)) << "attention lse " << what;

    Twin dout(*gpu, rows, c.heads * c.head_dim), dq(*gpu, rows, c.heads * c.head_dim),
        dk(*gpu, rows, c.kv_heads * c.head_dim), dv(*gpu, rows, c.kv_heads * c.head_dim);
    dout.fill_uniform(rng);
    dq.fill_uniform(rng);  // overwritten, padding rows included
    dk.fill_uniform(rng);
    dv.fill_uniform(rng);
    cpu.attention_backward(dout.cpu(), q.cpu(), k.cpu(), v.cpu(), out.cpu(), lse.cpu(), len.cpu(), s, dq.cpu(),
                           dk.cpu(), dv.cpu());
    // The GPU backward uses its own forward's out/lse (as training does).
    gpu->attention_backward(dout.gpu(), q.gpu(), k.gpu(), v.gpu(), out.gpu(), lse.gpu(), len.gpu(), s, dq.gpu(),
                            dk.gpu(), dv.gpu());
    EXPECT_TRUE(all_close(dq.download(), dq.host_f32(), 1e-4, 1e-3)) << "attention dq " << what;
    EXPECT_TRUE(all_close(dk.download(), dk.host_f32(), 1e-4, 1e-3)) << "attention dk " << what;
    EXPECT_TRUE(all_close(dv.download(), dv.host_f32(), 1e-4, 1e-3)) << "attention dv " << what;
  }
}

TEST(CudaOps, AttentionDecode) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  CpuBackend cpu;
  struct DecodeCase {
    int past, n_new, heads, kv_heads, hd, window, capacity;
  };
  const std::vector<DecodeCase> cases{{0, 1, 1, 1, 1, 0, 1},     {0, 7, 4, 2, 3, 0, 9},
                                      {5, 1, 4, 1, 32, 0, 133},  {130, 3, 2, 2, 96, 7, 133},
                                      {60, 7, 6, 3, 128, 0, 80}, {10, 3, 2, 1, 16, 4, 20}};
  std::uint64_t salt = 90;
  for (const auto& c : cases) {
    auto rng = make_rng(++salt);
    AttentionShape s{1, c.n_new, c.heads, c.kv_heads, c.hd, c.window};
    Twin q(*gpu, c.n_new, c.heads * c.hd), kc(*gpu, c.capacity, c.kv_heads * c.hd),
        vc(*gpu, c.capacity, c.kv_heads * c.hd), out(*gpu, c.n_new, c.heads * c.hd);
    q.fill_uniform(rng, -2.0f, 2.0f);
    kc.fill_uniform(rng, -2.0f, 2.0f);
    vc.fill_uniform(rng);
    cpu.attention_decode(q.cpu(), kc.cpu(), vc.cpu(), c.past, s, out.cpu());
    gpu->attention_decode(q.gpu(), kc.gpu(), vc.gpu(), c.past, s, out.gpu());
    EXPECT_TRUE(all_close(out.download(), out.host_f32(), 1e-5, 1e-4))
        << "decode past " << c.past << " new " << c.n_new << " hd " << c.hd << " window " << c.window;
  }
}

TEST(CudaOps, LoraSegmentsAndBackward) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  CpuBackend cpu;
  for (std::int64_t n : odd_sizes()) {
    for (int rank : {1, 8, 16}) {
      const std::int64_t in = 133, out = 7 + n;
      auto rng = make_rng(100 + static_cast<std::uint64_t>(n * rank));
      std::vector<std::unique_ptr<Twin>> as, bs;
      std::vector<TensorView> a_cpu, a_gpu, b_cpu, b_gpu;
      for (int adapter = 0; adapter < 3; ++adapter) {
        as.push_back(std::make_unique<Twin>(*gpu, rank, in));
        bs.push_back(std::make_unique<Twin>(*gpu, out, rank));
        as.back()->fill_uniform(rng);
        bs.back()->fill_uniform(rng);
        a_cpu.push_back(as.back()->cpu());
        a_gpu.push_back(as.back()->gpu());
        b_cpu.push_back(bs.back()->cpu());
        b_gpu.push_back(bs.back()->gpu());
      }
      // Segments: adapter 2, an empty one, adapter 0; the last row (when n > 2) is in no segment.
      const std::int64_t cut = n / 2, end = n > 2 ? n - 1 : n;
      const std::vector<LoraSegment> segments{{0, cut, 2}, {cut, cut, 1}, {cut, end, 0}};
      Twin x(*gpu, n, in), t(*gpu, n, rank), y(*gpu, n, out);
      x.fill_uniform(rng);
      t.fill_uniform(rng);  // rows outside every segment keep their values
      y.fill_uniform(rng);
      cpu.lora_shrink(x.cpu(), a_cpu, segments, t.cpu());
      gpu->lora_shrink(x.gpu(), a_gpu, segments, t.gpu());
      EXPECT_TRUE(all_close(t.download(), t.host_f32(), 1e-5, 1e-4)) << "shrink n=" << n << " rank=" << rank;
      t.upload();  // continue from identical t
      cpu.lora_expand(t.cpu(), b_cpu, segments, 2.0f, y.cpu());
      gpu->lora_expand(t.gpu(), b_gpu, segments, 2.0f, y.gpu());
      EXPECT_TRUE(all_close(y.download(), y.host_f32(), 1e-5, 1e-4)) << "expand n=" << n << " rank=" << rank;

      Twin dy(*gpu, n, out), da(*gpu, rank, in), db(*gpu, out, rank), dx(*gpu, n, in);
      dy.fill_uniform(rng);
      da.fill_uniform(rng);
      db.fill_uniform(rng);
      dx.fill_uniform(rng);
      for (bool with_dx : {true, false}) {
        cpu.lora_backward(dy.cpu(), x.cpu(), t.cpu(), a_cpu[0], b_cpu[0], 2.0f, da.cpu(), db.cpu(),
                          with_dx ? dx.cpu() : TensorView{});
        gpu->lora_backward(dy.gpu(), x.gpu(), t.gpu(), a_gpu[0], b_gpu[0], 2.0f, da.gpu(), db.gpu(),
                           with_dx ? dx.gpu() : TensorView{});
        EXPECT_TRUE(all_close(da.download(), da.host_f32(), 1e-4, 1e-4)) << "dA n=" << n << " rank=" << rank;
        EXPECT_TRUE(all_close(db.download(), db.host_f32(), 1e-4, 1e-4)) << "dB n=" << n << " rank=" << rank;
        EXPECT_TRUE(all_close(dx.download(), dx.host_f32(), 1e-4, 1e-4)) << "dX n=" << n << " rank=" << rank;
      }
    }
  }
}

TEST(CudaOps, AdamW) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  CpuBackend cpu;
  for (std::int64_t n : odd_sizes()) {
    auto rng = make_rng(110 + static_cast<std::uint64_t>(n));
    Twin w(*gpu, 1, n), g(*gpu, 1, n), m(*gpu, 1, n), v(*gpu, 1, n);
    w.fill_uniform(rng);
    m.fill_uniform(rng, 0.0f, 0.0f);
    v.fill_uniform(rng, 0.0f, 0.0f);
    AdamWParams p;
    p.lr = 1e-2f;
    p.weight_decay = 0.1f;
    for (std::int64_t step = 1; step <= 5; ++step) {
      g.fill_uniform(rng);
      p.step = step;
      cpu.adamw(w.cpu(), g.cpu(), m.cpu(), v.cpu(), p);
      gpu->adamw(w.gpu(), g.gpu(), m.gpu(), v.gpu(), p);
    }
    EXPECT_TRUE(all_close(w.download(), w.host_f32(), 1e-6, 1e-5)) << "adamw w n=" << n;
    EXPECT_TRUE(all_close(m.download(), m.host_f32(), 1e-7, 1e-5)) << "adamw m n=" << n;
    EXPECT_TRUE(all_close(v.download(), v.host_f32(), 1e-8, 1e-5)) << "adamw v n=" << n;
  }
}

TEST(CudaOps, ScaleAndSumSquares) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  CpuBackend cpu;
  for (std::int64_t n : {std::int64_t{1}, std::int64_t{3}, std::int64_t{7}, std::int64_t{133}, std::int64_t{300007},
                         std::int64_t{5000011}}) {
    auto rng = make_rng(130 + static_cast<std::uint64_t>(n));
    Twin x(*gpu, 1, n);
    x.fill_uniform(rng, -3.0f, 3.0f);
    const double expected = cpu.sum_squares(x.cpu());
    const double got = gpu->sum_squares(x.gpu());
    // Double partial sums of fp32 squares (exact in double): only the order differs.
    EXPECT_NEAR(got, expected, 1e-10 * expected) << "sum_squares n=" << n;
    EXPECT_EQ(gpu->sum_squares(x.gpu()), got) << "deterministic run to run, n=" << n;
    cpu.scale(x.cpu(), 0.37f);
    gpu->scale(x.gpu(), 0.37f);
    EXPECT_TRUE(all_close(x.download(), x.host_f32(), 0.0, 0.0)) << "scale n=" << n;
  }
  Twin empty(*gpu, 1, 1);
  EXPECT_EQ(gpu->sum_squares(TensorView{empty.gpu().data, DType::f32, 1, 0}), 0.0);
}

// The pool behind allocate/release: a released block comes back for the same
// size class without a cudaMalloc; repeated identical rounds stay flat.
TEST(CudaOps, CachingAllocatorReusesBlocks) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  void* a = gpu->allocate(3000);
  gpu->release(a);
  EXPECT_EQ(gpu->allocate(2900), a);
  gpu->release(a);
  auto round = [&] {
    std::vector<void*> held;
    for (std::size_t bytes : {std::size_t{100}, std::size_t{1} << 20, std::size_t{5} << 20, std::size_t{77777}})
      held.push_back(gpu->allocate(bytes));
    for (void* p : held) gpu->release(p);
  };
  round();
  const MemoryStats first = gpu->memory_stats();
  round();
  round();
  EXPECT_EQ(gpu->memory_stats().raw_allocations, first.raw_allocations);
  gpu->empty_cache();
  EXPECT_EQ(gpu->memory_stats().cached_bytes, 0u);
  // Out of memory is a DeviceError (internal) naming cudaMalloc, not a bad_alloc or a user error.
  try {
    gpu->allocate(std::size_t{1} << 50);
    FAIL() << "a 1 PiB allocation succeeded";
  } catch (const DeviceError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::internal);
    EXPECT_NE(e.message().find("cudaMalloc"), std::string::npos) << e.message();
  }
}

TEST(CudaOps, KmeansAssign) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  CpuBackend cpu;
  for (std::int64_t n : odd_sizes()) {
    for (std::int64_t k : {std::int64_t{1}, std::int64_t{7}, std::int64_t{133}}) {
      const std::int64_t d = 7;
      auto rng = make_rng(120 + static_cast<std::uint64_t>(n * k));
      Twin points(*gpu, n, d), centroids(*gpu, k, d), labels(*gpu, n, 1, DType::i32), dist(*gpu, n, 1);
      points.fill_uniform(rng);
      centroids.fill_uniform(rng);
      if (k > 2) {  // an exact tie: centroid 2 duplicates centroid 1 (the lower index must win)
        std::copy(centroids.f32() + d, centroids.f32() + 2 * d, centroids.f32() + 2 * d);
        centroids.upload();
      }
      cpu.kmeans_assign(points.cpu(), centroids.cpu(), labels.cpu(), dist.cpu());
      gpu->kmeans_assign(points.gpu(), centroids.gpu(), labels.gpu(), dist.gpu());
      const auto gl = labels.download_i32();
      for (std::int64_t i = 0; i < n; ++i) EXPECT_EQ(gl[static_cast<std::size_t>(i)], labels.i32()[i]) << "label " << i;
      EXPECT_TRUE(all_close(dist.download(), dist.host_f32(), 0.0, 1e-6)) << "kmeans distances n=" << n << " k=" << k;
    }
  }
}

}  // namespace
}  // namespace personas

#endif  // PERSONAS_HAVE_CUDA
