#include "model/model_config.h"

#include "core/errors.h"
#include "model/chat_template.h"
#include "model/init_model.h"

namespace personas {

void ModelConfig::describe(ConfigSchema& s) {
  s.add("model.path", &path,
        "base checkpoint (HDF5, from personas convert or scripts/fetch-model.sh; ${PERSONAS_CACHE} and a leading ~/ "
        "are expanded); empty = made by the model stage");
  s.add_choice("model.preset", &preset, model_preset_names(),
               "shape of the random model made when model.path is empty");
  s.add("model.tokenizer", &tokenizer,
        "SentencePiece .model for a made model; empty = train one on the run's distilled texts");
  s.add_choice("model.tokenizer_added", &tokenizer_added, sentencepiece_added_names(),
               "added tokens of model.tokenizer (a .model file carries none): phi3 = Phi-3's <|user|>, <|end|>, ... "
               "(ids 32000-32010) with its chat template; chat = the chat symbols of a tokenizer trained by personas; "
               "none = plain; auto = chat when the file has those symbols, else none (never guessed from the size)");
  s.add("model.tokenizer_vocab", &tokenizer_vocab, "vocabulary size of a trained tokenizer");
  s.add("model.max_seq", &max_seq, "longest token sequence (prompt + answer) given to the model");
  s.add("model.chat_template", &chat_template,
        "chat template: empty = the checkpoint's own (recognised from its file); none, phi3, chatml, llama3 or "
        "plain overrides it");
  s.add_choice("model.device_dtype", &device_dtype, device_dtype_setting_names(),
               "storage of the frozen base's matrices on the device: auto = bf16 on a GPU (half the memory, the "
               "tensor-core matmul), f32 on the CPU; LoRA weights, gradients, optimiser state and activations are "
               "always f32");
  s.add_check([this](Problems& p) {
    if (tokenizer_vocab < 100 || tokenizer_vocab > 32000)
      p.add("model.tokenizer_vocab: {} must be in [100, 32000]", tokenizer_vocab);
    if (max_seq < 16) p.add("model.max_seq: {} must be >= 16", max_seq);
    if (!chat_template.empty()) {
      try {
        parse_chat_template(chat_template, "model.chat_template");
      } catch (const Error& e) {
        p.add("{}", e.message());
      }
    }
  });
}

fs::path ModelConfig::checkpoint(const fs::path& run_dir) const {
  return path.empty() ? run_dir / "model" / "base.h5" : expand_user_path(path);
}

}  // namespace personas
