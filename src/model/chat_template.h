// Chat templates: how a conversation becomes the text a model was tuned on.
// We render the families we know in C++ (no Jinja engine) and recognise them
// from the template text a checkpoint brings (GGUF tokenizer.chat_template,
// HF tokenizer_config.json); `model.chat_template` overrides the guess.
//
//   phi3    <|system|>\nS<|end|>\n<|user|>\nU<|end|>\n<|assistant|>\n
//   chatml  <|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n
//           (SmolLM2, Qwen; a default system message when the file's template has one)
//   llama3  <|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>... (the BOS token is
//           part of the text: <|begin_of_text|>)
//   plain   System: S\n\nUser: U\n\nAssistant:   (any base model; no special tokens)
//   none    no template: apply_chat_template is an error
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace personas {

enum class ChatTemplate { none, phi3, chatml, llama3, plain };
const char* chat_template_name(ChatTemplate t);
// ErrorKind::data (naming `where`, e.g. "model.chat_template") when unknown.
ChatTemplate parse_chat_template(const std::string& name, const std::string& where = "chat_template");

struct ChatMessage {
  std::string role;     // "system" | "user" | "assistant"
  std::string content;
};

// What a template text (Jinja source) is, and the system message it inserts
// when a conversation has none ("" when it inserts none).
struct RecognizedTemplate {
  ChatTemplate kind = ChatTemplate::none;
  std::string default_system;
};
// ErrorKind::data naming `where` (the key the text came from) when the text is
// not one of the known families; an empty text gives none.
RecognizedTemplate recognize_chat_template(std::string_view template_text, const std::string& where);

// Renders `messages`. With add_generation_prompt the text ends where the
// assistant's answer begins; without, every message (the last assistant
// answer included) is closed as the template closes a turn, so that
// render(prompt + answer) = render(prompt, true) + answer + turn end.
// ErrorKind::data for an unknown role or for ChatTemplate::none.
std::string render_chat_template(ChatTemplate kind, const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt, const std::string& default_system = "");

// The texts of the tokens that end an assistant turn ("<|im_end|>", ...).
// Empty for plain and none (the tokenizer's eos ends generation there).
std::vector<std::string> chat_turn_end_tokens(ChatTemplate kind);

}  // namespace personas
