// The few fields of a serialized SentencePiece ModelProto that decide how
// text is cut before the model sees it, read straight from the protobuf wire
// format (Debian's libsentencepiece-dev ships no sentencepiece_model.pb.h).
// Field numbers and defaults are those of sentencepiece_model.proto.
#pragma once

#include <string>
#include <string_view>

namespace personas {

struct SentencePieceSpec {
  int model_type = 1;                       // TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char
  bool split_by_whitespace = true;          // TrainerSpec
  bool treat_whitespace_as_suffix = false;  // TrainerSpec
  std::string normalizer_name;              // NormalizerSpec.name ("identity", "nmt_nfkc", ...)
  bool has_charsmap = false;                // NormalizerSpec.precompiled_charsmap is not empty
  bool add_dummy_prefix = true;             // NormalizerSpec
  bool remove_extra_whitespaces = true;     // NormalizerSpec
  bool escape_whitespaces = true;           // NormalizerSpec
};

// ErrorKind::data when the bytes are not a well-formed protobuf message.
SentencePieceSpec read_sentencepiece_spec(std::string_view model_bytes);

}  // namespace personas
