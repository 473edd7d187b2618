#include "model/sentencepiece_spec.h"

#include <cstdint>

#include "core/errors.h"

namespace personas {

namespace {

// One protobuf message, field by field. Only the wire types SentencePiece
// uses appear: varint (0), 64-bit (1), length-delimited (2), 32-bit (5).
class WireReader {
 public:
  explicit WireReader(std::string_view bytes) : bytes_(bytes) {}

  struct Field {
    std::uint32_t number = 0;
    std::uint32_t wire_type = 0;
    std::uint64_t varint = 0;
    std::string_view bytes;  // length-delimited payload
  };

  bool next(Field& f) {
    if (pos_ >= bytes_.size()) return false;
    const std::uint64_t key = read_varint();
    f.number = static_cast<std::uint32_t>(key >> 3);
    f.wire_type = static_cast<std::uint32_t>(key & 7);
    switch (f.wire_type) {
      case 0: f.varint = read_varint(); break;
      case 1: skip(8); break;
      case 2: {
        const std::uint64_t n = read_varint();
        PERSONAS_CHECK(n <= bytes_.size() - pos_, data, "SentencePiece model: field {} runs past the end", f.number);
        f.bytes = bytes_.substr(pos_, n);
        pos_ += n;
        break;
      }
      case 5: skip(4); break;
      default: PERSONAS_FAIL(data, "SentencePiece model: unknown wire type {} in field {}", f.wire_type, f.number);
    }
    return true;
  }

 private:
  std::uint64_t read_varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      PERSONAS_CHECK(pos_ < bytes_.size(), data, "SentencePiece model: truncated varint");
      const auto byte = static_cast<unsigned char>(bytes_[pos_++]);
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (byte < 0x80) return value;
    }
    PERSONAS_FAIL(data, "SentencePiece model: varint longer than 10 bytes");
  }
  void skip(std::size_t n) {
    PERSONAS_CHECK(n <= bytes_.size() - pos_, data, "SentencePiece model: truncated fixed-size field");
    pos_ += n;
  }

  std::string_view bytes_;
  std::size_t pos_ = 0;
};

}  // namespace

SentencePieceSpec read_sentencepiece_spec(std::string_view model_bytes) {
  constexpr std::uint32_t kTrainerSpec = 2, kNormalizerSpec = 3;
  SentencePieceSpec spec;
  WireReader model(model_bytes);
  WireReader::Field f;
  while (model.next(f)) {
    if (f.wire_type != 2) continue;
    if (f.number == kTrainerSpec) {
      WireReader trainer(f.bytes);
      WireReader::Field t;
      while (trainer.next(t)) {
        if (t.wire_type != 0) continue;
        if (t.number == 3) spec.model_type = static_cast<int>(t.varint);
        if (t.number == 22) spec.split_by_whitespace = t.varint != 0;
        if (t.number == 24) spec.treat_whitespace_as_suffix = t.varint != 0;
      }
    } else if (f.number == kNormalizerSpec) {
      WireReader normalizer(f.bytes);
      WireReader::Field n;
      while (normalizer.next(n)) {
        if (n.number == 1 && n.wire_type == 2) spec.normalizer_name = std::string(n.bytes);
        if (n.number == 2 && n.wire_type == 2) spec.has_charsmap = !n.bytes.empty();
        if (n.wire_type != 0) continue;
        if (n.number == 3) spec.add_dummy_prefix = n.varint != 0;
        if (n.number == 4) spec.remove_extra_whitespaces = n.varint != 0;
        if (n.number == 5) spec.escape_whitespaces = n.varint != 0;
      }
    }
  }
  return spec;
}

}  // namespace personas
