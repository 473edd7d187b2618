// LoraModel: the Phi-3 forward and backward with LoRA on the Backend ops.
//
// Per layer (Hugging Face Phi3DecoderLayer):
//   xn1 = rmsnorm(x_in);  q,k,v = xn1 Wq^T, xn1 Wk^T, xn1 Wv^T (+ LoRA);  rope(q, k)
//   att = attention(q, k, v);  x_mid = x_in + att Wo^T (+ LoRA)
//   xn2 = rmsnorm(x_mid); gu = xn2 Wgu^T (+ LoRA); act = silu(gate) * up
//   x_out = x_mid + act Wd^T (+ LoRA)
// The loss projects only the rows that have a target through the final norm
// and lm_head, in chunks, so the [n, vocab] logits never exist at once.
#include "model/lora_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/errors.h"
#include "core/hash.h"
#include "model/base_dtype.h"
#include "model/checkpoint.h"
#include "model/lora_model_impl.h"
#include "core/seed_salts.h"

namespace personas {

namespace {

constexpr std::int64_t kHeadChunkRows = 256;  // rows of logits per chunk in the loss

TensorView slice_rows(const TensorView& t, std::int64_t begin, std::int64_t end) {
  return DeviceBuffer::row_slice(t, begin, end);
}

std::vector<float> download(Backend& backend, const TensorView& t) {
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  backend.copy_to_host(out.data(), t.data, out.size() * sizeof(float));
  return out;
}

// Device-side inputs of a batch that the attention and rope need.
struct BatchInputs {
  DeviceBuffer ids, positions, lengths;
  AttentionInputs attn;
  BatchInputs(Backend& backend, const TokenBatch& batch, const Phi3Config& c) {
    ids = upload_i32(backend, batch.ids);
    std::vector<std::int32_t> pos(batch.ids.size());
    for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<std::int32_t>(i % static_cast<std::size_t>(batch.seq));
    positions = upload_i32(backend, pos);
    lengths = upload_i32(backend, batch.lengths);
    attn.positions = positions;
    attn.lengths = lengths;
    attn.shape = attention_shape_of(c, batch.batch, batch.seq);
  }
};

}  // namespace

DeviceBuffer upload_i32(Backend& backend, std::span<const std::int32_t> values) {
  DeviceBuffer buffer(backend, static_cast<std::int64_t>(values.size()), 1, DType::i32);
  backend.copy_to_device(buffer.view().data, values.data(), values.size() * sizeof(std::int32_t));
  return buffer;
}

AttentionShape attention_shape_of(const Phi3Config& c, int batch, int seq) {
  AttentionShape s;
  s.batch = batch;
  s.seq = seq;
  s.n_heads = static_cast<int>(c.num_attention_heads);
  s.n_kv_heads = static_cast<int>(c.num_key_value_heads);
  s.head_dim = static_cast<int>(c.head_dim());
  s.sliding_window = static_cast<int>(c.sliding_window);
  return s;
}

// ---- LayerActs ------------------------------------------------------------------
void LayerActs::allocate(Backend& b, const Phi3Config& c, const LoraSpec& spec, std::int64_t n, bool dropout) {
  const std::int64_t h = c.hidden_size, qd = c.head_dim() * c.num_attention_heads, kvd = c.kv_dim(),
                     f = c.intermediate_size;
  x_in = DeviceBuffer(b, n, h);
  xn1 = DeviceBuffer(b, n, h);
  rstd1 = DeviceBuffer(b, n, 1);
  q = DeviceBuffer(b, n, qd);
  k = DeviceBuffer(b, n, kvd);
  v = DeviceBuffer(b, n, kvd);
  att = DeviceBuffer(b, n, qd);
  lse = DeviceBuffer(b, n, c.num_attention_heads);
  x_mid = DeviceBuffer(b, n, h);
  xn2 = DeviceBuffer(b, n, h);
  rstd2 = DeviceBuffer(b, n, 1);
  gu = DeviceBuffer(b, n, 2 * f);
  act = DeviceBuffer(b, n, f);
  for (LoraTarget t : spec.targets) {
    lora_t[static_cast<std::size_t>(t)] = DeviceBuffer(b, n, spec.rank);
    if (dropout) lora_x[static_cast<std::size_t>(t)] = DeviceBuffer(b, n, LoraSpec::target_shape(c, t)[1]);
  }
}

// ---- Impl: construction -------------------------------------------------------------
LoraModel::Impl::Impl(const ModelWeights& weights, Backend& backend_in, const LoraSpec& spec_in, int n_adapters,
                      DType base_dtype_in)
    : backend(backend_in), config(weights.config), spec(spec_in), base_dtype(base_dtype_in) {
  config.validate("model");
  spec.validate("lora");
  PERSONAS_CHECK(n_adapters >= 0, internal, "n_adapters {} must be >= 0", n_adapters);
  PERSONAS_CHECK(base_dtype == DType::f32 || base_dtype == DType::bf16, internal, "base dtype {} (f32 or bf16)",
                 dtype_name(base_dtype));
  PERSONAS_CHECK(base_dtype == DType::f32 ||
                     (backend.supports(Op::matmul, DType::bf16) && backend.supports(Op::embedding, DType::bf16)),
                 internal, "a bf16 base needs bf16 matmul and embedding, which the {} backend lacks", backend.name());
  std::vector<std::uint16_t> rounded;  // one tensor's bf16 values at a time
  auto upload = [&](const std::string& name, std::int64_t rows, std::int64_t cols) -> TensorView {
    const HostTensor& t = weights.at(name);
    PERSONAS_CHECK(t.numel() == rows * cols, data, "tensor {}: {} values, expected {} x {}", name, t.numel(), rows,
                   cols);
    // The same per-tensor decision as plan_base_upload (the memory planner).
    const DType dtype = takes_device_dtype(name) ? base_dtype : DType::f32;
    DeviceBuffer buffer(backend, rows, cols, dtype);
    if (dtype == DType::bf16) {
      rounded.resize(t.data.size());
      for (std::size_t i = 0; i < t.data.size(); ++i) rounded[i] = f32_to_bf16(t.data[i]);
      backend.copy_to_device(buffer.view().data, rounded.data(), rounded.size() * sizeof(std::uint16_t));
    } else {
      backend.copy_to_device(buffer.view().data, t.data.data(), t.data.size() * sizeof(float));
    }
    TensorView view = buffer.view();
    owned.push_back(std::move(buffer));
    owned_names.push_back(name);
    return view;
  };
  const std::int64_t h = config.hidden_size, qd = q_dim(), kvd = kv_dim(), f = config.intermediate_size;
  embed = upload("model.embed_tokens.weight", config.vocab_size, h);
  for (std::int64_t l = 0; l < config.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights w;
    w.ln1 = upload(p + "input_layernorm.weight", 1, h);
    const TensorView qkv = upload(p + "self_attn.qkv_proj.weight", qd + 2 * kvd, h);
    w.q = slice_rows(qkv, 0, qd);
    w.k = slice_rows(qkv, qd, qd + kvd);
    w.v = slice_rows(qkv, qd + kvd, qd + 2 * kvd);
    w.o = upload(p + "self_attn.o_proj.weight", h, qd);
    w.ln2 = upload(p + "post_attention_layernorm.weight", 1, h);
    w.gate_up = upload(p + "mlp.gate_up_proj.weight", 2 * f, h);
    w.down = upload(p + "mlp.down_proj.weight", h, f);
    layers.push_back(w);
  }
  final_norm = upload("model.norm.weight", 1, h);
  lm_head = config.tie_word_embeddings ? embed : upload("lm_head.weight", config.vocab_size, h);
  rounded = {};
  for (int i = 0; i < n_adapters; ++i) adapters.push_back(std::make_unique<LoraArena>(backend, config, spec));
}

int LoraModel::Impl::rotary_dim() const {
  const int rd = static_cast<int>(static_cast<double>(config.head_dim()) * config.partial_rotary_factor);
  return rd - rd % 2;
}

std::uint64_t LoraModel::Impl::dropout_seed(int layer, LoraTarget target) const {
  static_assert(seed_salt::kLoraDropoutSlots >= kLoraTargetCount);
  return hash_chain(spec.seed ^ seed_salt::kLoraDropout, static_cast<std::uint64_t>(step),
                    static_cast<std::uint64_t>(layer) * seed_salt::kLoraDropoutSlots + static_cast<std::uint64_t>(target));
}

std::vector<LoraSegment> LoraModel::Impl::segments_for(const TokenBatch& batch) const {
  std::vector<LoraSegment> segments;
  for (int r = 0; r < batch.batch; ++r) {
    const int a = batch.adapter_of(r);
    if (a < 0) continue;
    const std::int64_t begin = static_cast<std::int64_t>(r) * batch.seq, end = begin + batch.seq;
    if (!segments.empty() && segments.back().adapter == a && segments.back().row_end == begin)
      segments.back().row_end = end;
    else
      segments.push_back(LoraSegment{begin, end, a});
  }
  return segments;
}

// ---- LoRA pieces ------------------------------------------------------------------------
void LoraModel::Impl::linear(TensorView x, TensorView w, TensorView y, float beta) {
  if (batch_invariant) backend.matmul_batch_invariant(x, w, y, 1.0f, beta);
  else backend.matmul(x, false, w, true, y, 1.0f, beta);
}

void LoraModel::Impl::lora_forward(int layer, LoraTarget target, TensorView x, TensorView y, LayerActs& acts,
                                   const std::vector<LoraSegment>& segments) {
  if (!spec.has(target) || segments.empty()) return;
  const std::size_t ti = static_cast<std::size_t>(target);
  TensorView x_used = x;
  if (dropout_active()) {
    backend.dropout(x, acts.lora_x[ti], spec.dropout, dropout_seed(layer, target));
    x_used = acts.lora_x[ti];
  }
  std::vector<TensorView> a_views, b_views;
  for (const auto& arena : adapters) {
    a_views.push_back(arena->view(arena->find(layer, target, false)));
    b_views.push_back(arena->view(arena->find(layer, target, true)));
  }
  TensorView t = acts.lora_t[ti];
  t.rows = x.rows;
  if (batch_invariant) {  // the segment-wise shrink/expand, row by row the same bits for any batch
    for (const auto& s : segments) {
      const auto a = static_cast<std::size_t>(s.adapter);
      const TensorView ts = slice_rows(t, s.row_begin, s.row_end);
      backend.matmul_batch_invariant(slice_rows(x_used, s.row_begin, s.row_end), a_views[a], ts, 1.0f, 0.0f);
      backend.matmul_batch_invariant(ts, b_views[a], slice_rows(y, s.row_begin, s.row_end), spec.scale(), 1.0f);
    }
    return;
  }
  backend.lora_shrink(x_used, a_views, segments, t);
  backend.lora_expand(t, b_views, segments, spec.scale(), y);
}

void LoraModel::Impl::lora_backward(int layer, LoraTarget target, TensorView dy, TensorView x, LayerActs& acts,
                                    const std::vector<LoraSegment>& segments, TensorView dx_accumulate) {
  if (!spec.has(target) || segments.empty()) return;
  const std::size_t ti = static_cast<std::size_t>(target);
  const bool dropout = dropout_active();
  const TensorView x_used = dropout ? acts.lora_x[ti].view() : x;
  DeviceBuffer dx_tmp;
  TensorView dx = dx_accumulate;
  if (dropout && dx_accumulate.data != nullptr) {
    dx_tmp = DeviceBuffer(backend, x.rows, x.cols);
    backend.fill_zero(dx_tmp);
    dx = dx_tmp;
  }
  TensorView t = acts.lora_t[ti];
  t.rows = x.rows;
  for (const auto& s : segments) {
    LoraArena& arena = *adapters[static_cast<std::size_t>(s.adapter)];
    const int ia = arena.find(layer, target, false), ib = arena.find(layer, target, true);
    backend.lora_backward(slice_rows(dy, s.row_begin, s.row_end), slice_rows(x_used, s.row_begin, s.row_end),
                          slice_rows(t, s.row_begin, s.row_end), arena.view(ia), arena.view(ib), spec.scale(),
                          arena.view(ia, 1), arena.view(ib, 1),
                          dx.data ? slice_rows(dx, s.row_begin, s.row_end) : TensorView{});
  }
  if (dropout && dx_accumulate.data != nullptr) {
    // d/dx of dropout(x) is the same mask and scale applied to the gradient.
    backend.dropout(dx_tmp, dx_tmp, spec.dropout, dropout_seed(layer, target));
    backend.add(dx_accumulate, dx_tmp, 1.0f);
  }
}

// ---- one layer --------------------------------------------------------------------------------
void LoraModel::Impl::layer_forward(int l, TensorView x_in, TensorView x_out, LayerActs& a, const AttentionInputs& attn,
                                    const std::vector<LoraSegment>& segments) {
  const LayerWeights& w = layers[static_cast<std::size_t>(l)];
  const int n_heads = static_cast<int>(config.num_attention_heads), n_kv = static_cast<int>(config.num_key_value_heads),
            hd = static_cast<int>(config.head_dim());
  backend.rmsnorm_forward(x_in, w.ln1, eps(), a.xn1, a.rstd1);
  linear(a.xn1, w.q, a.q, 0.0f);
  linear(a.xn1, w.k, a.k, 0.0f);
  linear(a.xn1, w.v, a.v, 0.0f);
  lora_forward(l, LoraTarget::q, a.xn1, a.q, a, segments);
  lora_forward(l, LoraTarget::k, a.xn1, a.k, a, segments);
  lora_forward(l, LoraTarget::v, a.xn1, a.v, a, segments);
  backend.rope(a.q, attn.positions, n_heads, hd, rotary_dim(), theta(), false);
  backend.rope(a.k, attn.positions, n_kv, hd, rotary_dim(), theta(), false);
  if (!attn.seq_rows.empty()) {
    const std::size_t row_bytes = static_cast<std::size_t>(a.k.view().cols) * 4;
    bool one_token_each = true;
    std::int64_t row = 0;
    for (std::size_t s = 0; s < attn.seq_rows.size(); ++s) {
      const std::int64_t n = attn.seq_rows[s], at = attn.seq_pasts[s];
      const auto bytes = static_cast<std::size_t>(n) * row_bytes;
      backend.copy_on_device(slice_rows(attn.seq_k_caches[s], at, at + n).data, a.k.rows(row, row + n).data, bytes);
      backend.copy_on_device(slice_rows(attn.seq_v_caches[s], at, at + n).data, a.v.rows(row, row + n).data, bytes);
      one_token_each = one_token_each && n == 1;
      row += n;
    }
    if (one_token_each) {  // a decode step: every row at once
      backend.attention_decode_rows(a.q, attn.seq_k_caches, attn.seq_v_caches, attn.seq_pasts, attn.shape, a.att);
    } else {  // prompts: each over its own cache
      row = 0;
      for (std::size_t s = 0; s < attn.seq_rows.size(); ++s) {
        const std::int64_t n = attn.seq_rows[s];
        AttentionShape one = attn.shape;
        one.batch = 1;
        one.seq = static_cast<int>(n);
        backend.attention_decode(a.q.rows(row, row + n), attn.seq_k_caches[s], attn.seq_v_caches[s],
                                 attn.seq_pasts[s], one, a.att.rows(row, row + n));
        row += n;
      }
    }
  } else if (attn.k_prefix.data != nullptr) {
    backend.attention_prefix_forward(a.q, attn.k_prefix, attn.v_prefix, a.k, a.v, attn.lengths, attn.shape, a.att);
  } else if (attn.k_cache.data != nullptr) {
    const std::int64_t bytes = a.k.view().numel() * 4;
    backend.copy_on_device(slice_rows(attn.k_cache, attn.past, attn.past + a.k.view().rows).data, a.k.view().data,
                           static_cast<std::size_t>(bytes));
    backend.copy_on_device(slice_rows(attn.v_cache, attn.past, attn.past + a.v.view().rows).data, a.v.view().data,
                           static_cast<std::size_t>(bytes));
    backend.attention_decode(a.q, attn.k_cache, attn.v_cache, attn.past, attn.shape, a.att);
  } else {
    backend.attention_forward(a.q, a.k, a.v, attn.lengths, attn.shape, a.att, a.lse);
  }
  backend.copy_on_device(a.x_mid.view().data, x_in.data, static_cast<std::size_t>(x_in.numel()) * 4);
  linear(a.att, w.o, a.x_mid, 1.0f);
  lora_forward(l, LoraTarget::o_proj, a.att, a.x_mid, a, segments);
  backend.rmsnorm_forward(a.x_mid, w.ln2, eps(), a.xn2, a.rstd2);
  linear(a.xn2, w.gate_up, a.gu, 0.0f);
  lora_forward(l, LoraTarget::gate_up_proj, a.xn2, a.gu, a, segments);
  backend.swiglu_forward(a.gu, a.act);
  if (x_out.data != a.x_mid.view().data)
    backend.copy_on_device(x_out.data, a.x_mid.view().data, static_cast<std::size_t>(x_in.numel()) * 4);
  linear(a.act, w.down, x_out, 1.0f);
  lora_forward(l, LoraTarget::down_proj, a.act, x_out, a, segments);
}

void LoraModel::Impl::layer_backward(int l, TensorView x_in, LayerActs& a, const AttentionInputs& attn,
                                     const std::vector<LoraSegment>& segments, TensorView dx, bool need_input_grad) {
  const LayerWeights& w = layers[static_cast<std::size_t>(l)];
  const std::int64_t n = x_in.rows, h = config.hidden_size, f = config.intermediate_size;
  const int n_heads = static_cast<int>(config.num_attention_heads), n_kv = static_cast<int>(config.num_key_value_heads),
            hd = static_cast<int>(config.head_dim());
  // MLP: x_out = x_mid + act Wd^T
  DeviceBuffer d_act(backend, n, f);
  backend.matmul(dx, false, w.down, false, d_act, 1.0f, 0.0f);
  lora_backward(l, LoraTarget::down_proj, dx, a.act, a, segments, d_act);
  DeviceBuffer d_gu(backend, n, 2 * f);
  backend.swiglu_backward(d_act, a.gu, d_gu);
  d_act = DeviceBuffer();
  DeviceBuffer d_xn(backend, n, h);
  backend.matmul(d_gu, false, w.gate_up, false, d_xn, 1.0f, 0.0f);
  lora_backward(l, LoraTarget::gate_up_proj, d_gu, a.xn2, a, segments, d_xn);
  d_gu = DeviceBuffer();
  backend.rmsnorm_backward(d_xn, a.x_mid, w.ln2, a.rstd2, dx, true);  // dx is now d x_mid
  // Attention: x_mid = x_in + att Wo^T
  DeviceBuffer d_att(backend, n, q_dim());
  backend.matmul(dx, false, w.o, false, d_att, 1.0f, 0.0f);
  lora_backward(l, LoraTarget::o_proj, dx, a.att, a, segments, d_att);
  DeviceBuffer dq(backend, n, q_dim()), dk(backend, n, kv_dim()), dv(backend, n, kv_dim());
  backend.attention_backward(d_att, a.q, a.k, a.v, a.att, a.lse, attn.lengths, attn.shape, dq, dk, dv);
  d_att = DeviceBuffer();
  backend.rope(dq, attn.positions, n_heads, hd, rotary_dim(), theta(), true);
  backend.rope(dk, attn.positions, n_kv, hd, rotary_dim(), theta(), true);
  TensorView d_xn1 = need_input_grad ? d_xn.view() : TensorView{};
  if (need_input_grad) {
    backend.matmul(dq, false, w.q, false, d_xn, 1.0f, 0.0f);
    backend.matmul(dk, false, w.k, false, d_xn, 1.0f, 1.0f);
    backend.matmul(dv, false, w.v, false, d_xn, 1.0f, 1.0f);
  }
  lora_backward(l, LoraTarget::q, dq, a.xn1, a, segments, d_xn1);
  lora_backward(l, LoraTarget::k, dk, a.xn1, a, segments, d_xn1);
  lora_backward(l, LoraTarget::v, dv, a.xn1, a, segments, d_xn1);
  if (need_input_grad) backend.rmsnorm_backward(d_xn, x_in, w.ln1, a.rstd1, dx, true);
}

// ---- whole model --------------------------------------------------------------------------------
DeviceBuffer LoraModel::Impl::forward(const TokenBatch& batch, const AttentionInputs& attn,
                                      const std::vector<LoraSegment>& segments, std::vector<LayerActs>* saved,
                                      std::vector<DeviceBuffer>* saved_inputs) {
  const std::int64_t n = static_cast<std::int64_t>(batch.batch) * batch.seq, h = config.hidden_size;
  const int n_layers = static_cast<int>(config.num_hidden_layers);
  DeviceBuffer ids = upload_i32(backend, batch.ids);
  DeviceBuffer x(backend, n, h);
  backend.embedding_forward(ids, embed, x);
  LayerActs scratch;
  if (saved == nullptr) scratch.allocate(backend, config, spec, n, dropout_active());
  for (int l = 0; l < n_layers; ++l) {
    LayerActs* acts = &scratch;
    if (saved != nullptr) {
      saved->emplace_back();
      saved->back().allocate(backend, config, spec, n, dropout_active());
      acts = &saved->back();
      backend.copy_on_device(acts->x_in.view().data, x.view().data, static_cast<std::size_t>(n * h) * 4);
    } else if (saved_inputs != nullptr) {
      DeviceBuffer input(backend, n, h);
      backend.copy_on_device(input.view().data, x.view().data, static_cast<std::size_t>(n * h) * 4);
      saved_inputs->push_back(std::move(input));
    }
    // x_out may overwrite x: the layer reads x_in only before it writes x_out (x_mid is separate).
    layer_forward(l, x, x, *acts, attn, segments);
  }
  return x;
}

DeviceBuffer LoraModel::Impl::gather_normed(TensorView x_final, const std::vector<std::int32_t>& flat_rows) {
  const std::int64_t m = static_cast<std::int64_t>(flat_rows.size()), h = config.hidden_size;
  DeviceBuffer rows = upload_i32(backend, flat_rows);
  DeviceBuffer xs(backend, m, h), xsn(backend, m, h), rstd(backend, m, 1);
  backend.embedding_forward(rows, x_final, xs);  // a row gather
  backend.rmsnorm_forward(xs, final_norm, eps(), xsn, rstd);
  return xsn;
}

std::vector<float> LoraModel::Impl::chosen_logits(TensorView x_final, const std::vector<std::int32_t>& flat_rows,
                                                  std::span<const std::int32_t> token_ids) {
  DeviceBuffer xsn = gather_normed(x_final, flat_rows);
  DeviceBuffer ids = upload_i32(backend, token_ids);
  DeviceBuffer w_sel(backend, static_cast<std::int64_t>(token_ids.size()), config.hidden_size);
  backend.embedding_forward(ids, lm_head, w_sel);  // the chosen rows of lm_head
  DeviceBuffer out(backend, static_cast<std::int64_t>(flat_rows.size()), static_cast<std::int64_t>(token_ids.size()));
  backend.matmul(xsn, false, w_sel, true, out, 1.0f, 0.0f);
  return download(backend, out);
}

LossResult LoraModel::Impl::head_loss(const TokenBatch& batch, TensorView x_final, float loss_scale,
                                      TensorView dx_final) {
  std::vector<std::int32_t> rows, targets;
  for (std::size_t i = 0; i < batch.targets.size(); ++i)
    if (batch.targets[i] >= 0) {
      rows.push_back(static_cast<std::int32_t>(i));
      targets.push_back(batch.targets[i]);
    }
  LossResult result;
  result.n_tokens = static_cast<std::int64_t>(rows.size());
  result.row_loss_sum.assign(static_cast<std::size_t>(batch.batch), 0.0);
  result.row_tokens.assign(static_cast<std::size_t>(batch.batch), 0);
  if (rows.empty()) return result;
  if (loss_scale <= 0.0f) loss_scale = 1.0f / static_cast<float>(rows.size());
  const std::int64_t h = config.hidden_size, vocab = config.vocab_size;
  for (std::int64_t begin = 0; begin < result.n_tokens; begin += kHeadChunkRows) {
    const std::int64_t end = std::min(result.n_tokens, begin + kHeadChunkRows), m = end - begin;
    std::vector<std::int32_t> chunk_rows(rows.begin() + begin, rows.begin() + end);
    std::vector<std::int32_t> chunk_targets(targets.begin() + begin, targets.begin() + end);
    DeviceBuffer d_rows = upload_i32(backend, chunk_rows), d_targets = upload_i32(backend, chunk_targets);
    DeviceBuffer xs(backend, m, h), xsn(backend, m, h), rstd(backend, m, 1), logits(backend, m, vocab),
        losses(backend, m, 1);
    backend.embedding_forward(d_rows, x_final, xs);
    backend.rmsnorm_forward(xs, final_norm, eps(), xsn, rstd);
    backend.matmul(xsn, false, lm_head, true, logits, 1.0f, 0.0f);
    const bool grad = dx_final.data != nullptr;
    backend.cross_entropy(logits, d_targets, losses, grad ? logits.view() : TensorView{}, loss_scale);
    const auto chunk_losses = download(backend, losses);
    for (std::int64_t j = 0; j < m; ++j) {
      const auto row = static_cast<std::size_t>(chunk_rows[static_cast<std::size_t>(j)] / batch.seq);
      result.loss_sum += chunk_losses[static_cast<std::size_t>(j)];
      result.row_loss_sum[row] += chunk_losses[static_cast<std::size_t>(j)];
      result.row_tokens[row] += 1;
    }
    if (grad) {
      backend.matmul(logits, false, lm_head, false, xsn, 1.0f, 0.0f);  // d xsn
      DeviceBuffer dxs(backend, m, h);
      backend.rmsnorm_backward(xsn, xs, final_norm, rstd, dxs, false);
      backend.embedding_backward(dxs, d_rows, dx_final);  // scatter back to the rows
    }
  }
  return result;
}

// ---- LoraModel ------------------------------------------------------------------------------------
LoraModel::LoraModel(const ModelWeights& weights, Backend& backend, const LoraSpec& spec, int n_adapters,
                     DType base_dtype)
    : impl_(std::make_unique<Impl>(weights, backend, spec, n_adapters, base_dtype)) {}
LoraModel::~LoraModel() = default;

const Phi3Config& LoraModel::config() const { return impl_->config; }
const LoraSpec& LoraModel::spec() const { return impl_->spec; }
DType LoraModel::base_dtype() const { return impl_->base_dtype; }
std::size_t LoraModel::base_bytes() const {
  std::size_t bytes = 0;
  for (const auto& b : impl_->owned) bytes += static_cast<std::size_t>(b.view().numel()) * dtype_size(b.view().dtype);
  return bytes;
}
Backend& LoraModel::backend() { return impl_->backend; }
int LoraModel::n_adapters() const { return static_cast<int>(impl_->adapters.size()); }
LoraArena& LoraModel::adapter(int index) {
  PERSONAS_CHECK(index >= 0 && index < n_adapters(), internal, "adapter {} of {}", index, n_adapters());
  return *impl_->adapters[static_cast<std::size_t>(index)];
}
void LoraModel::set_training(bool training) { impl_->training = training; }
void LoraModel::set_step(std::int64_t step) { impl_->step = step; }

LossResult LoraModel::forward_backward(const TokenBatch& batch, float loss_scale) {
  Impl& m = *impl_;
  batch.validate(m.config.vocab_size, n_adapters());
  PERSONAS_CHECK(!batch.targets.empty(), internal, "forward_backward needs targets in the batch");
  const BatchInputs inputs(m.backend, batch, m.config);
  const auto segments = m.segments_for(batch);
  const std::int64_t n = static_cast<std::int64_t>(batch.batch) * batch.seq, h = m.config.hidden_size;
  const int n_layers = static_cast<int>(m.config.num_hidden_layers);
  std::vector<LayerActs> saved;
  std::vector<DeviceBuffer> saved_inputs;
  const bool recompute = m.spec.recompute;
  DeviceBuffer x = m.forward(batch, inputs.attn, segments, recompute ? nullptr : &saved,
                             recompute ? &saved_inputs : nullptr);
  DeviceBuffer dx(m.backend, n, h);
  m.backend.fill_zero(dx);
  const LossResult result = m.head_loss(batch, x, loss_scale, dx);
  x = DeviceBuffer();
  LayerActs scratch;
  if (recompute) scratch.allocate(m.backend, m.config, m.spec, n, m.dropout_active());
  for (int l = n_layers - 1; l >= 0; --l) {
    LayerActs* acts = nullptr;
    TensorView x_in;
    if (recompute) {
      // Redo the layer's forward from its saved input (dropout masks are seeded, so identical).
      acts = &scratch;
      x_in = saved_inputs[static_cast<std::size_t>(l)];
      DeviceBuffer x_out(m.backend, n, h);
      m.layer_forward(l, x_in, x_out, *acts, inputs.attn, segments);
    } else {
      acts = &saved[static_cast<std::size_t>(l)];
      x_in = acts->x_in;
    }
    m.layer_backward(l, x_in, *acts, inputs.attn, segments, dx, l > 0);
    if (!recompute) saved.pop_back();  // free as we go
  }
  return result;
}

LossResult LoraModel::loss(const TokenBatch& batch) {
  Impl& m = *impl_;
  batch.validate(m.config.vocab_size, n_adapters());
  const BatchInputs inputs(m.backend, batch, m.config);
  DeviceBuffer x = m.forward(batch, inputs.attn, m.segments_for(batch), nullptr, nullptr);
  return m.head_loss(batch, x, 1.0f, TensorView{});
}

namespace {
std::vector<std::int32_t> flat_rows_of(const TokenBatch& batch, std::span<const ScorePosition> positions) {
  std::vector<std::int32_t> rows;
  for (const auto& p : positions) {
    PERSONAS_CHECK(p.row >= 0 && p.row < batch.batch, internal, "score position: row {} outside [0, {})", p.row,
                   batch.batch);
    PERSONAS_CHECK(p.position >= 0 && p.position < batch.lengths[static_cast<std::size_t>(p.row)],
                   internal,
                   "score position: position {} outside row {} of length {}", p.position, p.row,
                   batch.lengths[static_cast<std::size_t>(p.row)]);
    rows.push_back(p.row * batch.seq + p.position);
  }
  return rows;
}
}  // namespace

std::vector<float> LoraModel::hidden_states(const TokenBatch& batch, std::span<const ScorePosition> positions) {
  Impl& m = *impl_;
  batch.validate(m.config.vocab_size, n_adapters());
  const auto rows = flat_rows_of(batch, positions);
  if (rows.empty()) return {};
  const BatchInputs inputs(m.backend, batch, m.config);
  DeviceBuffer x = m.forward(batch, inputs.attn, m.segments_for(batch), nullptr, nullptr);
  DeviceBuffer xsn = m.gather_normed(x, rows);
  return download(m.backend, xsn);
}

std::vector<float> LoraModel::score(const TokenBatch& batch, std::span<const ScorePosition> positions,
                                    std::span<const std::int32_t> token_ids) {
  Impl& m = *impl_;
  batch.validate(m.config.vocab_size, n_adapters());
  for (auto id : token_ids)
    PERSONAS_CHECK(id >= 0 && id < m.config.vocab_size, data, "score: token id {} outside vocab [0, {})", id,
                   m.config.vocab_size);
  const auto rows = flat_rows_of(batch, positions);
  if (rows.empty() || token_ids.empty()) return std::vector<float>(rows.size() * token_ids.size());
  const BatchInputs inputs(m.backend, batch, m.config);
  DeviceBuffer x = m.forward(batch, inputs.attn, m.segments_for(batch), nullptr, nullptr);
  return m.chosen_logits(x, rows, token_ids);
}

std::vector<float> LoraModel::logits(const TokenBatch& batch, std::span<const ScorePosition> positions) {
  Impl& m = *impl_;
  batch.validate(m.config.vocab_size, n_adapters());
  const auto rows = flat_rows_of(batch, positions);
  if (rows.empty()) return {};
  const BatchInputs inputs(m.backend, batch, m.config);
  DeviceBuffer x = m.forward(batch, inputs.attn, m.segments_for(batch), nullptr, nullptr);
  DeviceBuffer xsn = m.gather_normed(x, rows);
  DeviceBuffer out(m.backend, static_cast<std::int64_t>(rows.size()), m.config.vocab_size);
  m.backend.matmul(xsn, false, m.lm_head, true, out, 1.0f, 0.0f);
  return download(m.backend, out);
}

ModelWeights LoraModel::merged_weights(int index) const {
  const Impl& m = *impl_;
  PERSONAS_CHECK(index >= 0 && index < static_cast<int>(m.adapters.size()), internal, "adapter {} of {}", index,
                 m.adapters.size());
  ModelWeights out;
  out.config = m.config;
  for (std::size_t i = 0; i < m.owned.size(); ++i) {
    const TensorView& v = m.owned[i].view();
    HostTensor t;
    t.shape = v.rows == 1 ? std::vector<std::int64_t>{v.cols} : std::vector<std::int64_t>{v.rows, v.cols};
    if (v.dtype == DType::bf16) {  // widened exactly: the values the device computes with
      std::vector<std::uint16_t> raw(static_cast<std::size_t>(v.numel()));
      m.backend.copy_to_host(raw.data(), v.data, raw.size() * sizeof(std::uint16_t));
      t.data.resize(raw.size());
      for (std::size_t j = 0; j < raw.size(); ++j) t.data[j] = bf16_to_f32(raw[j]);
    } else {
      t.data = download(m.backend, v);
    }
    out.tensors[m.owned_names[i]] = std::move(t);
  }
  const LoraArena& arena = *m.adapters[static_cast<std::size_t>(index)];
  const std::vector<float> params = arena.to_host(0);
  const std::int64_t qd = m.q_dim(), kvd = m.kv_dim(), r = m.spec.rank;
  const float scale = m.spec.scale();
  for (int l = 0; l < static_cast<int>(m.config.num_hidden_layers); ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    for (LoraTarget target : m.spec.targets) {
      const auto& ai = arena.tensors()[static_cast<std::size_t>(arena.find(l, target, false))];
      const auto& bi = arena.tensors()[static_cast<std::size_t>(arena.find(l, target, true))];
      std::string name;
      std::int64_t row0 = 0;
      switch (target) {
        case LoraTarget::q: name = p + "self_attn.qkv_proj.weight"; break;
        case LoraTarget::k: name = p + "self_attn.qkv_proj.weight"; row0 = qd; break;
        case LoraTarget::v: name = p + "self_attn.qkv_proj.weight"; row0 = qd + kvd; break;
        case LoraTarget::o_proj: name = p + "self_attn.o_proj.weight"; break;
        case LoraTarget::gate_up_proj: name = p + "mlp.gate_up_proj.weight"; break;
        case LoraTarget::down_proj: name = p + "mlp.down_proj.weight"; break;
      }
      HostTensor& w = out.tensors.at(name);
      const std::int64_t in = ai.cols;
      for (std::int64_t o = 0; o < bi.rows; ++o)
        for (std::int64_t c = 0; c < in; ++c) {
          double acc = 0.0;
          for (std::int64_t j = 0; j < r; ++j)
            acc += static_cast<double>(params[static_cast<std::size_t>(bi.offset + o * r + j)]) *
                   params[static_cast<std::size_t>(ai.offset + j * in + c)];
          w.data[static_cast<std::size_t>((row0 + o) * in + c)] += static_cast<float>(scale * acc);
        }
    }
  }
  return out;
}

}  // namespace personas
