#include "model/chat_template.h"

#include <gtest/gtest.h>

#include "core/errors.h"

namespace personas {
namespace {

const std::vector<ChatMessage> kChat = {
    {"system", "Be me."}, {"user", "Why 4 stars?"}, {"assistant", "{}"}, {"user", "Again."}};

// SmolLM2-135M-Instruct's tokenizer.chat_template, verbatim (PRETRAINED-BASE.md §2.5).
const char* kSmolTemplate =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n"
    "' + message['content'] + '<|im_end|>' + '\n"
    "'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n"
    "' }}{% endif %}";

TEST(ChatTemplate, RendersPhi3AndPlain) {
  EXPECT_EQ(render_chat_template(ChatTemplate::phi3, kChat, true),
            "<|system|>\nBe me.<|end|>\n<|user|>\nWhy 4 stars?<|end|>\n<|assistant|>\n{}<|end|>\n<|user|>\nAgain.<|end|>\n"
            "<|assistant|>\n");
  EXPECT_EQ(render_chat_template(ChatTemplate::phi3, {{"user", "u"}, {"assistant", "4"}}, false),
            "<|user|>\nu<|end|>\n<|assistant|>\n4<|end|>\n<|endoftext|>");
  EXPECT_EQ(render_chat_template(ChatTemplate::plain, kChat, true),
            "System: Be me.\n\nUser: Why 4 stars?\n\nAssistant: {}\n\nUser: Again.\n\nAssistant:");
}

TEST(ChatTemplate, ChatMLInsertsTheDefaultSystemMessageOnlyWhenThereIsNone) {
  const auto r = recognize_chat_template(kSmolTemplate, "tokenizer.chat_template");
  EXPECT_EQ(r.kind, ChatTemplate::chatml);
  EXPECT_EQ(r.default_system, "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  EXPECT_EQ(render_chat_template(ChatTemplate::chatml, {{"user", "What is the capital of France?"}}, true,
                                 r.default_system),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(render_chat_template(ChatTemplate::chatml, {{"system", "S"}, {"user", "U"}, {"assistant", "4"}}, false,
                                 r.default_system),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n");
  // The prompt of a conversation is a prefix of the whole conversation.
  const std::vector<ChatMessage> prompt = {{"system", "S"}, {"user", "U"}};
  std::vector<ChatMessage> full = prompt;
  full.push_back({"assistant", "4"});
  const auto p = render_chat_template(ChatTemplate::chatml, prompt, true);
  const auto f = render_chat_template(ChatTemplate::chatml, full, false);
  EXPECT_EQ(f.substr(0, p.size()), p);
  EXPECT_EQ(f.substr(p.size()), "4<|im_end|>\n");
}

TEST(ChatTemplate, RecognizesLlama3AndPhi3AndEscapedNewlines) {
  EXPECT_EQ(recognize_chat_template("{{ '<|start_header_id|>' + role + '<|end_header_id|>' }}...<|eot_id|>", "k").kind,
            ChatTemplate::llama3);
  EXPECT_EQ(recognize_chat_template("{{'<|user|>' + '\\n' + message['content'] + '<|end|>'}}", "k").kind,
            ChatTemplate::phi3);
  // Qwen-style: the default system text in a literal with an escaped newline, a spliced one elsewhere.
  const auto q = recognize_chat_template(
      "{{- '<|im_start|>system\\n' + messages[0]['content'] }}{{- '<|im_start|>system\\nYou are Qwen.<|im_end|>\\n' }}"
      "<|im_end|>",
      "k");
  EXPECT_EQ(q.kind, ChatTemplate::chatml);
  EXPECT_EQ(q.default_system, "You are Qwen.");
  EXPECT_EQ(recognize_chat_template("", "k").kind, ChatTemplate::none);
  EXPECT_EQ(render_chat_template(ChatTemplate::llama3, {{"user", "hi"}}, true),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant"
            "<|end_header_id|>\n\n");
}

TEST(ChatTemplate, UnknownTemplatesAndNamesAreClearErrors) {
  try {
    recognize_chat_template("{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}",
                            "model.gguf: tokenizer.chat_template");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data);
    EXPECT_NE(e.message().find("tokenizer.chat_template"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("model.chat_template"), std::string::npos) << e.message();
  }
  try {
    parse_chat_template("vicuna", "model.chat_template");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("model.chat_template"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("vicuna"), std::string::npos) << e.message();
  }
  EXPECT_THROW(render_chat_template(ChatTemplate::none, kChat, true), Error);
  EXPECT_THROW(render_chat_template(ChatTemplate::chatml, {{"tool", "x"}}, true), Error);
  for (auto t : {ChatTemplate::none, ChatTemplate::phi3, ChatTemplate::chatml, ChatTemplate::llama3, ChatTemplate::plain})
    EXPECT_EQ(parse_chat_template(chat_template_name(t)), t);
  EXPECT_EQ(chat_turn_end_tokens(ChatTemplate::chatml).front(), "<|im_end|>");
}

}  // namespace
}  // namespace personas
