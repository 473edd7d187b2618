// A tiny random checkpoint for distill.provider = local tests: a small
// SentencePiece model trained here on movie-review words (with the chat
// tokens, so the Phi-3 template applies, or without them for the plain
// transcript) and a random 2-layer Phi-3 of that vocabulary, saved as HDF5.
#pragma once

#include <fstream>
#include <string>

#include "model/checkpoint.h"
#include "model/init_model.h"
#include "model/tokenizer.h"

namespace personas::testing {

// Writes the checkpoint to `path`; `chat_tokens` picks the trained
// tokenizer's Phi-3 template (true) or a plain SentencePiece model (false).
inline void write_tiny_local_checkpoint(const fs::path& path, bool chat_tokens = true, std::uint64_t seed = 11,
                                        std::int64_t positions = 512) {
  const fs::path corpus = path.string() + ".corpus.txt";
  {
    std::ofstream out(corpus);
    const char* lines[] = {"I rated this movie 4 stars because the story is warm and funny.",
                           "Because I love action movies from the nineties, I gave it 5 stars.",
                           "I dislike horror; dark and slow films rarely work for me.",
                           "My profile: I enjoy comedy and drama, and I rate higher than most viewers.",
                           "Sci-Fi with a clever idea gets a good rating from me.",
                           "Romance movies are fine, but I prefer thrillers and westerns."};
    for (int rep = 0; rep < 30; ++rep)
      for (auto* l : lines) out << l << " " << rep << "\n";
  }
  SentencePieceTrainOptions options;
  options.vocab_size = 320;
  auto bytes = train_sentencepiece(corpus, options);
  fs::remove(corpus);
  TokenizerData tok = chat_tokens ? trained_tokenizer_data(bytes) : plain_tokenizer_data(bytes);
  Tokenizer t(tok);
  Phi3Config c;
  c.vocab_size = (t.vocab_size() + 63) / 64 * 64;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = positions;
  c.bos_token_id = tok.bos_id;
  c.eos_token_id = tok.eos_id;
  c.pad_token_id = tok.pad_id >= 0 ? tok.pad_id : 0;
  // A larger init than Phi-3's 0.02 so the random model's choices are not all ties.
  save_checkpoint(path, random_weights(c, seed, 0.5), tok, StorageDType::f32);
}

}  // namespace personas::testing
