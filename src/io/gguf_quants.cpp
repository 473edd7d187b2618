#include "io/gguf_quants.h"

#include <bit>
#include <cstring>

#include "core/errors.h"
#include "core/hash.h"

// Bit-exactness with the reference (numpy, one rounding per operation) needs
// every multiply and add rounded on its own: no fused multiply-add, whatever
// -march the project is built with.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace personas::gguf {

static_assert(std::endian::native == std::endian::little, "GGUF blocks are read in place: little-endian hosts only");

namespace {

struct TypeInfo {
  GgmlType type;
  const char* name;
  std::int64_t values;
  std::int64_t bytes;
};
constexpr std::int64_t kQK = 256;  // values per K-quant super-block
constexpr TypeInfo kTypes[] = {
    {GgmlType::f32, "F32", 1, 4},          {GgmlType::f16, "F16", 1, 2},
    {GgmlType::q4_0, "Q4_0", 32, 18},      {GgmlType::q4_1, "Q4_1", 32, 20},
    {GgmlType::q5_0, "Q5_0", 32, 22},      {GgmlType::q5_1, "Q5_1", 32, 24},
    {GgmlType::q8_0, "Q8_0", 32, 34},      {GgmlType::q4_k, "Q4_K", kQK, 144},
    {GgmlType::q5_k, "Q5_K", kQK, 176},    {GgmlType::q6_k, "Q6_K", kQK, 210},
    {GgmlType::bf16, "BF16", 1, 2},
};

const TypeInfo* type_info(GgmlType t) {
  for (const auto& x : kTypes)
    if (x.type == t) return &x;
  return nullptr;
}

inline std::uint16_t load_u16(const unsigned char* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline std::uint32_t load_u32(const unsigned char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline float half(const unsigned char* p) { return f16_to_f32(load_u16(p)); }

// The loops below have fixed trip counts and no aliasing between `q` and `y`,
// so the compiler vectorizes them; each value is computed exactly as the
// reference does (same operations, same order, fp32).

void dequant_q4_0(const unsigned char* __restrict q, float* __restrict y, std::int64_t n_blocks) {
  for (std::int64_t b = 0; b < n_blocks; ++b, q += 18, y += 32) {
    const float d = half(q);
    const unsigned char* qs = q + 2;
    for (int j = 0; j < 16; ++j) y[j] = d * static_cast<float>(static_cast<int>(qs[j] & 15) - 8);
    for (int j = 0; j < 16; ++j) y[j + 16] = d * static_cast<float>(static_cast<int>(qs[j] >> 4) - 8);
  }
}

void dequant_q4_1(const unsigned char* __restrict q, float* __restrict y, std::int64_t n_blocks) {
  for (std::int64_t b = 0; b < n_blocks; ++b, q += 20, y += 32) {
    const float d = half(q);
    const float m = half(q + 2);
    const unsigned char* qs = q + 4;
    for (int j = 0; j < 16; ++j) y[j] = d * static_cast<float>(qs[j] & 15) + m;
    for (int j = 0; j < 16; ++j) y[j + 16] = d * static_cast<float>(qs[j] >> 4) + m;
  }
}

void dequant_q5_0(const unsigned char* __restrict q, float* __restrict y, std::int64_t n_blocks) {
  for (std::int64_t b = 0; b < n_blocks; ++b, q += 22, y += 32) {
    const float d = half(q);
    const std::uint32_t qh = load_u32(q + 2);
    const unsigned char* qs = q + 6;
    for (int j = 0; j < 16; ++j) {
      const int lo = (qs[j] & 15) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
      y[j] = d * static_cast<float>(lo - 16);
      y[j + 16] = d * static_cast<float>(hi - 16);
    }
  }
}

void dequant_q5_1(const unsigned char* __restrict q, float* __restrict y, std::int64_t n_blocks) {
  for (std::int64_t b = 0; b < n_blocks; ++b, q += 24, y += 32) {
    const float d = half(q);
    const float m = half(q + 2);
    const std::uint32_t qh = load_u32(q + 4);
    const unsigned char* qs = q + 8;
    for (int j = 0; j < 16; ++j) {
      const int lo = (qs[j] & 15) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
      y[j] = d * static_cast<float>(lo) + m;
      y[j + 16] = d * static_cast<float>(hi) + m;
    }
  }
}

void dequant_q8_0(const unsigned char* __restrict q, float* __restrict y, std::int64_t n_blocks) {
  for (std::int64_t b = 0; b < n_blocks; ++b, q += 34, y += 32) {
    const float d = half(q);
    const unsigned char* qs = q + 2;
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<signed char>(qs[j])) * d;
  }
}

// The 6-bit scales and mins of the eight 32-value sub-blocks of Q4_K / Q5_K.
inline void k_scale_min(const unsigned char* s, int j, int& sc, int& mn) {
  if (j < 4) {
    sc = s[j] & 63;
    mn = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
    mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

void dequant_q4_k(const unsigned char* __restrict q, float* __restrict y, std::int64_t n_blocks) {
  for (std::int64_t b = 0; b < n_blocks; ++b, q += 144, y += kQK) {
    const float d = half(q);
    const float dmin = half(q + 2);
    const unsigned char* scales = q + 4;
    const unsigned char* qs = q + 16;
    for (int g = 0; g < 4; ++g) {
      int sc0, mn0, sc1, mn1;
      k_scale_min(scales, 2 * g, sc0, mn0);
      k_scale_min(scales, 2 * g + 1, sc1, mn1);
      const float d0 = d * static_cast<float>(sc0), m0 = dmin * static_cast<float>(mn0);
      const float d1 = d * static_cast<float>(sc1), m1 = dmin * static_cast<float>(mn1);
      const unsigned char* p = qs + 32 * g;
      float* out = y + 64 * g;
      for (int l = 0; l < 32; ++l) {
        out[l] = d0 * static_cast<float>(p[l] & 15) - m0;
        out[l + 32] = d1 * static_cast<float>(p[l] >> 4) - m1;
      }
    }
  }
}

void dequant_q5_k(const unsigned char* __restrict q, float* __restrict y, std::int64_t n_blocks) {
  for (std::int64_t b = 0; b < n_blocks; ++b, q += 176, y += kQK) {
    const float d = half(q);
    const float dmin = half(q + 2);
    const unsigned char* scales = q + 4;
    const unsigned char* qh = q + 16;
    const unsigned char* qs = q + 48;
    for (int g = 0; g < 4; ++g) {
      int sc0, mn0, sc1, mn1;
      k_scale_min(scales, 2 * g, sc0, mn0);
      k_scale_min(scales, 2 * g + 1, sc1, mn1);
      const float d0 = d * static_cast<float>(sc0), m0 = dmin * static_cast<float>(mn0);
      const float d1 = d * static_cast<float>(sc1), m1 = dmin * static_cast<float>(mn1);
      const unsigned char* p = qs + 32 * g;
      const int bit0 = 2 * g, bit1 = 2 * g + 1;
      float* out = y + 64 * g;
      for (int l = 0; l < 32; ++l) {
        const int v0 = (p[l] & 15) | (((qh[l] >> bit0) & 1) << 4);
        const int v1 = (p[l] >> 4) | (((qh[l] >> bit1) & 1) << 4);
        out[l] = d0 * static_cast<float>(v0) - m0;
        out[l + 32] = d1 * static_cast<float>(v1) - m1;
      }
    }
  }
}

void dequant_q6_k(const unsigned char* __restrict q, float* __restrict y, std::int64_t n_blocks) {
  for (std::int64_t b = 0; b < n_blocks; ++b, q += 210, y += kQK) {
    const unsigned char* ql = q;
    const unsigned char* qh = q + 128;
    const signed char* sc = reinterpret_cast<const signed char*>(q + 192);
    const float d = half(q + 208);
    float ds[16];
    for (int i = 0; i < 16; ++i) ds[i] = d * static_cast<float>(sc[i]);
    for (int h = 0; h < 2; ++h) {
      const unsigned char* l4 = ql + 64 * h;
      const unsigned char* h2 = qh + 32 * h;
      const float* s = ds + 8 * h;
      float* out = y + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int v0 = (l4[l] & 15) | ((h2[l] & 3) << 4);
        const int v1 = (l4[l + 32] & 15) | (((h2[l] >> 2) & 3) << 4);
        const int v2 = (l4[l] >> 4) | (((h2[l] >> 4) & 3) << 4);
        const int v3 = (l4[l + 32] >> 4) | (((h2[l] >> 6) & 3) << 4);
        // value i of the half has scale i / 16
        out[l] = s[l / 16] * static_cast<float>(v0 - 32);
        out[l + 32] = s[2 + l / 16] * static_cast<float>(v1 - 32);
        out[l + 64] = s[4 + l / 16] * static_cast<float>(v2 - 32);
        out[l + 96] = s[6 + l / 16] * static_cast<float>(v3 - 32);
      }
    }
  }
}

void convert_f16(const unsigned char* __restrict q, float* __restrict y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = f16_to_f32(load_u16(q + 2 * i));
}

void convert_bf16(const unsigned char* __restrict q, float* __restrict y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(load_u16(q + 2 * i));
}

}  // namespace

float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mantissa = h & 0x3ffu;
  std::uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf, or NaN with its payload
  } else if (exponent != 0) {
    bits = sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal half: mantissa * 2^-24, a normal float; normalise by hand so the
    // result does not depend on the FPU's denormal modes.
    const int shift = std::countl_zero(mantissa) - 21;  // bring the top bit to bit 10
    const std::uint32_t m = (mantissa << shift) & 0x3ffu;
    const std::uint32_t e = static_cast<std::uint32_t>(127 - 15 + 1 - shift);
    bits = sign | (e << 23) | (m << 13);
  }
  return std::bit_cast<float>(bits);
}

float bf16_to_f32(std::uint16_t bits) { return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16); }

std::uint64_t values_checksum(std::span<const float> values) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < values.size(); ++i)
    sum += mix64((static_cast<std::uint64_t>(i) << 32) | std::bit_cast<std::uint32_t>(values[i]));
  return sum;
}

const char* ggml_type_name(GgmlType t) {
  const TypeInfo* info = type_info(t);
  return info ? info->name : "?";
}

bool is_supported(std::uint32_t type_id) { return type_info(static_cast<GgmlType>(type_id)) != nullptr; }

BlockLayout block_layout(GgmlType t) {
  const TypeInfo* info = type_info(t);
  PERSONAS_CHECK(info != nullptr, data,
                 "ggml type id {} is not supported (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, "
                 "Q4_K, Q5_K, Q6_K)",
                 static_cast<std::uint32_t>(t));
  return {info->values, info->bytes};
}

void dequantize(GgmlType t, std::span<const std::byte> blocks, std::span<float> out) {
  const BlockLayout layout = block_layout(t);
  const auto n = static_cast<std::int64_t>(out.size());
  PERSONAS_CHECK(n % layout.values == 0, data, "dequantize {}: {} values is not a multiple of the block size {}",
                 ggml_type_name(t), n, layout.values);
  const std::int64_t n_blocks = n / layout.values;
  PERSONAS_CHECK(static_cast<std::int64_t>(blocks.size()) == n_blocks * layout.bytes, data,
                 "dequantize {}: {} values need {} bytes ({} blocks of {}), got {}", ggml_type_name(t), n,
                 n_blocks * layout.bytes, n_blocks, layout.bytes, blocks.size());
  if (n == 0) return;
  const auto* q = reinterpret_cast<const unsigned char*>(blocks.data());
  float* y = out.data();
  switch (t) {
    case GgmlType::f32: std::memcpy(y, q, static_cast<std::size_t>(n) * 4); break;
    case GgmlType::f16: convert_f16(q, y, n); break;
    case GgmlType::bf16: convert_bf16(q, y, n); break;
    case GgmlType::q4_0: dequant_q4_0(q, y, n_blocks); break;
    case GgmlType::q4_1: dequant_q4_1(q, y, n_blocks); break;
    case GgmlType::q5_0: dequant_q5_0(q, y, n_blocks); break;
    case GgmlType::q5_1: dequant_q5_1(q, y, n_blocks); break;
    case GgmlType::q8_0: dequant_q8_0(q, y, n_blocks); break;
    case GgmlType::q4_k: dequant_q4_k(q, y, n_blocks); break;
    case GgmlType::q5_k: dequant_q5_k(q, y, n_blocks); break;
    case GgmlType::q6_k: dequant_q6_k(q, y, n_blocks); break;
  }
}

}  // namespace personas::gguf
