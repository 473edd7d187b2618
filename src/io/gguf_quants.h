// ggml tensor types as stored in GGUF files, their block layouts, and
// dequantizers to fp32 that are bit-exact with ggml's dequantize_row_* (and
// the python `gguf` package's gguf/quants.py, the reference used by the
// fixtures in tests/golden/fixtures/gguf/). Layouts: docs/formats.md "GGUF input".
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace personas::gguf {

enum class GgmlType : std::uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q5_0 = 6,
  q5_1 = 7,
  q8_0 = 8,
  q4_k = 12,
  q5_k = 13,
  q6_k = 14,
  bf16 = 30,
};

// "F32", "Q4_1", ...; "type <id>" style names are not returned: unknown ids give "?".
const char* ggml_type_name(GgmlType t);
// True for the ids above (the ones this reader can dequantize).
bool is_supported(std::uint32_t type_id);

// Values per block and bytes per block (F32: 1 and 4).
struct BlockLayout {
  std::int64_t values;
  std::int64_t bytes;
};
// ErrorKind::data naming the type id when it is not one of GgmlType.
BlockLayout block_layout(GgmlType t);

// Dequantizes out.size() values (a multiple of the block size) from `blocks`,
// which must hold exactly out.size() / values * bytes bytes (ErrorKind::data
// otherwise). Single-threaded; the caller splits work across threads if it wants.
void dequantize(GgmlType t, std::span<const std::byte> blocks, std::span<float> out);

// IEEE half / bfloat16 bits to fp32, exact (subnormals, infinities, NaN payloads).
float f16_to_f32(std::uint16_t bits);
float bf16_to_f32(std::uint16_t bits);

// An order-sensitive checksum of fp32 values, the one the GGUF fixtures record
// (tools/golden/make_gguf_fixtures.py): with b_i the bits of value i, the sum
// over i of mix64((i << 32) | b_i) modulo 2^64 (mix64: core/hash.h).
std::uint64_t values_checksum(std::span<const float> values);

}  // namespace personas::gguf
