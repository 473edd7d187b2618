#include "model/chat_template.h"

#include "core/errors.h"

namespace personas {

namespace {

struct TemplateName {
  ChatTemplate kind;
  const char* name;
};
constexpr TemplateName kNames[] = {{ChatTemplate::none, "none"},     {ChatTemplate::phi3, "phi3"},
                                   {ChatTemplate::chatml, "chatml"}, {ChatTemplate::llama3, "llama3"},
                                   {ChatTemplate::plain, "plain"}};

void check_role(const ChatMessage& m) {
  PERSONAS_CHECK(m.role == "system" || m.role == "user" || m.role == "assistant", data,
                 "chat message role '{}' is not system, user or assistant", m.role);
}

// The system text a ChatML template inserts when the conversation has none:
// a string literal "<|im_start|>system\n<text><|im_end|>" with no Jinja
// expression inside (Qwen's tool branches splice the user's system message
// in there; the branch without tools has the literal default).
std::string chatml_default_system(std::string_view text) {
  constexpr std::string_view kOpen = "<|im_start|>system";
  constexpr std::string_view kClose = "<|im_end|>";
  for (std::size_t at = text.find(kOpen); at != std::string_view::npos; at = text.find(kOpen, at + 1)) {
    std::size_t begin = at + kOpen.size();
    if (text.substr(begin, 1) == "\n") {
      begin += 1;
    } else if (text.substr(begin, 2) == "\\n") {  // the escape inside a Jinja string literal
      begin += 2;
    } else {
      continue;
    }
    const std::size_t end = text.find(kClose, begin);
    if (end == std::string_view::npos) continue;
    const std::string_view body = text.substr(begin, end - begin);
    if (body.empty() || body.find_first_of("'\"{}") != std::string_view::npos) continue;
    return std::string(body);
  }
  return {};
}

}  // namespace

const char* chat_template_name(ChatTemplate t) {
  for (const auto& n : kNames)
    if (n.kind == t) return n.name;
  return "none";
}

ChatTemplate parse_chat_template(const std::string& name, const std::string& where) {
  for (const auto& n : kNames)
    if (name == n.name) return n.kind;
  PERSONAS_FAIL(data, "{}: unknown chat template '{}' (expected one of none, phi3, chatml, llama3, plain)", where,
                name);
}

RecognizedTemplate recognize_chat_template(std::string_view text, const std::string& where) {
  RecognizedTemplate r;
  if (text.empty()) return r;
  if (text.find("<|im_start|>") != std::string_view::npos && text.find("<|im_end|>") != std::string_view::npos) {
    r.kind = ChatTemplate::chatml;
    r.default_system = chatml_default_system(text);
  } else if (text.find("<|start_header_id|>") != std::string_view::npos &&
             text.find("<|eot_id|>") != std::string_view::npos) {
    r.kind = ChatTemplate::llama3;
  } else if (text.find("<|user|>") != std::string_view::npos && text.find("<|end|>") != std::string_view::npos) {
    r.kind = ChatTemplate::phi3;
  } else {
    PERSONAS_FAIL(data,
                  "{}: the chat template is none of the families we render (phi3, chatml, llama3); set "
                  "model.chat_template to one of phi3, chatml, llama3, plain (template starts: '{}')",
                  where, std::string(text.substr(0, 80)));
  }
  return r;
}

std::string render_chat_template(ChatTemplate kind, const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt, const std::string& default_system) {
  std::string out;
  switch (kind) {
    case ChatTemplate::none:
      PERSONAS_FAIL(data, "this tokenizer has no chat template (set model.chat_template, or use plain prompts)");
    case ChatTemplate::phi3:
      for (const auto& m : messages) {
        check_role(m);
        out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
      }
      // Phi-3's template ends a finished conversation with the eos token.
      out += add_generation_prompt ? "<|assistant|>\n" : "<|endoftext|>";
      return out;
    case ChatTemplate::chatml:
      if (!default_system.empty() && (messages.empty() || messages.front().role != "system"))
        out += "<|im_start|>system\n" + default_system + "<|im_end|>\n";
      for (const auto& m : messages) {
        check_role(m);
        out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      }
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      return out;
    case ChatTemplate::llama3:
      out = "<|begin_of_text|>";
      for (const auto& m : messages) {
        check_role(m);
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
      }
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      return out;
    case ChatTemplate::plain:
      for (const auto& m : messages) {
        check_role(m);
        std::string role = m.role;
        role[0] = static_cast<char>(role[0] - 'a' + 'A');
        out += role + ": " + m.content + "\n\n";
      }
      if (add_generation_prompt) out += "Assistant:";
      return out;
  }
  PERSONAS_FAIL(internal, "unhandled chat template {}", static_cast<int>(kind));
}

std::vector<std::string> chat_turn_end_tokens(ChatTemplate kind) {
  switch (kind) {
    case ChatTemplate::phi3: return {"<|end|>", "<|endoftext|>"};
    case ChatTemplate::chatml: return {"<|im_end|>", "<|endoftext|>"};
    case ChatTemplate::llama3: return {"<|eot_id|>", "<|end_of_text|>"};
    case ChatTemplate::plain:
    case ChatTemplate::none: return {};
  }
  return {};
}

}  // namespace personas
