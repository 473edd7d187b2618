// personas tokenize --model m.h5 [--ids] [--decode] TEXT
// Prints how the checkpoint's tokenizer splits TEXT: one line per token with
// its id and piece (default), or the ids on one line (--ids). With --decode,
// TEXT is a list of ids ("504 3575 282") and the decoded text is printed.
#include <iostream>
#include <sstream>

#include "cli/command.h"
#include "core/strings.h"
#include "core/errors.h"
#include "model/checkpoint.h"
#include "model/tokenizer.h"

namespace personas {

namespace po = boost::program_options;

namespace {

// A piece as one printable token: control characters and quotes escaped.
std::string printable(const std::string& piece) {
  std::string out;
  for (unsigned char c : piece) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out;
}

int run_tokenize(CommandContext& ctx) {
  if (!ctx.comm.is_root()) return 0;
  const auto& args = ctx.args;
  PERSONAS_CHECK_HINT(args.count("model"), usage, "personas tokenize --model m.h5 \"Hello world\"",
                      "tokenize needs --model FILE.h5");
  const Tokenizer tokenizer(load_checkpoint_tokenizer(args["model"].as<std::string>()));
  std::string text;
  if (args.count("text"))
    for (const auto& word : args["text"].as<std::vector<std::string>>()) {
      if (!text.empty()) text.push_back(' ');
      text += word;
    }
  if (args.count("decode")) {
    std::vector<std::int32_t> ids;
    std::istringstream in(text);
    std::string word;
    while (in >> word) {
      const std::int64_t id = parse_int64(word).value_or(-1);
      PERSONAS_CHECK(id >= 0 && id < tokenizer.vocab_size(), usage,
                     "--decode: '{}' is not a token id in [0, {})", word, tokenizer.vocab_size());
      ids.push_back(static_cast<std::int32_t>(id));
    }
    std::cout << tokenizer.decode(ids, /*skip_special=*/false) << "\n";
    return 0;
  }
  const auto ids = tokenizer.encode(text, /*add_bos=*/args.count("bos") > 0);
  if (args.count("ids")) {
    std::string line;
    for (auto id : ids) {
      if (!line.empty()) line.push_back(' ');
      line += std::to_string(id);
    }
    std::cout << line << "\n";
    return 0;
  }
  for (auto id : ids) std::cout << id << "\t" << printable(tokenizer.id_to_piece(id)) << "\n";
  std::cout << ids.size() << " tokens (" << tokenizer_kind_name(tokenizer.kind()) << ", vocabulary "
            << tokenizer.vocab_size() << ")\n";
  return 0;
}

}  // namespace

Command make_tokenize_command() {
  Command c;
  c.name = "tokenize";
  c.summary = "show a checkpoint's token ids and pieces for a text";
  c.uses_run_dir = false;
  c.positional = "text";
  c.positional_count = -1;
  c.add_options = [](po::options_description& o) {
    o.add_options()("model", po::value<std::string>(), "model checkpoint (.h5)")(
        "text", po::value<std::vector<std::string>>()->multitoken(), "the text (the words after the flags)")(
        "ids", "print only the ids, on one line")("bos", "prepend the BOS token")(
        "decode", "the text is a list of ids: print what they decode to (special tokens included)");
  };
  c.run = run_tokenize;
  return c;
}

}  // namespace personas
