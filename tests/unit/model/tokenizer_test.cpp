#include "model/tokenizer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "core/choice_names.h"
#include "core/errors.h"
#include "core/strings.h"
#include "support/test_support.h"

namespace personas {
namespace {

TEST(Tokenizer, Phi3ReproducesAllLlamaCppCases) {
  PERSONAS_REQUIRE_DATA(model, "phi3-mini-4k-instruct/tokenizer.model");
  PERSONAS_REQUIRE_DATA(cases_path, "phi3-mini-4k-instruct/tokenizer_cases_llamacpp.json");
  auto tok = Tokenizer::from_model_file(model, /*phi3=*/true);
  auto cases = nlohmann::json::parse(read_file(cases_path))["cases"];
  ASSERT_EQ(cases.size(), 39u);
  int n = 0;
  for (const auto& c : cases) {
    const auto text = c["text"].get<std::string>();
    const auto expected = c["ids"].get<std::vector<std::int32_t>>();
    EXPECT_EQ(tok.encode(text), expected) << "text: '" << text << "'";
    ++n;
  }
  EXPECT_EQ(n, 39);
  EXPECT_EQ(tok.encode("Hello world"), (std::vector<std::int32_t>{15043, 3186}));
  EXPECT_EQ(tok.vocab_size(), 32011);
}

TEST(Tokenizer, Phi3AddedTokensAreWholeStringsWithRstrip) {
  PERSONAS_REQUIRE_DATA(model, "phi3-mini-4k-instruct/tokenizer.model");
  auto tok = Tokenizer::from_model_file(model, true);
  auto ids = tok.encode("<|user|>\nHello world<|end|>\n<|assistant|>\n");
  // rstrip=true: the newline after each added token belongs to the token (HF semantics).
  EXPECT_EQ(ids, (std::vector<std::int32_t>{32010, 15043, 3186, 32007, 32001}));
  // Expected ids from Hugging Face `tokenizers` 0.19.1 on Phi-3's tokenizer.json
  // (add_special_tokens=False).
  EXPECT_EQ(tok.encode("a<|endoftext|>"), (std::vector<std::int32_t>{263, 32000}));
  EXPECT_EQ(tok.encode("x <|end|> y"), (std::vector<std::int32_t>{921, 29871, 32007, 343}));
  EXPECT_EQ(tok.encode("<|user|>  \n\n Hi there<|end|>"), (std::vector<std::int32_t>{32010, 6324, 727, 32007}));
  EXPECT_EQ(tok.encode("Rating: 4<|end|>"), (std::vector<std::int32_t>{390, 1218, 29901, 29871, 29946, 32007}));
  EXPECT_EQ(tok.encode("<|system|>\nYou rate movies.<|end|>\n<|user|>\nRate Heat (1995).<|end|>\n<|assistant|>\n"),
            (std::vector<std::int32_t>{32006, 887, 6554, 2351, 583, 29889, 32007, 32010, 390, 403, 940, 271, 313,
                                       29896, 29929, 29929, 29945, 467, 32007, 32001}));
  EXPECT_EQ(tok.piece_to_id("<|system|>"), 32006);
  EXPECT_EQ(tok.decode(ids, /*skip_special=*/true), "Hello world");
  EXPECT_EQ(tok.decode(ids, false), "<|user|>Hello world<|end|><|assistant|>");
  auto stops = tok.stop_ids();
  EXPECT_NE(std::find(stops.begin(), stops.end(), 32007), stops.end());
  EXPECT_NE(std::find(stops.begin(), stops.end(), 32000), stops.end());
  EXPECT_EQ(tok.encode("hi", /*add_bos=*/true).front(), 1);
}

// A .model file carries no added tokens: Phi-3's are given when asked for,
// never because the vocabulary has 32000 pieces (a Llama-2 tokenizer has too).
TEST(Tokenizer, AddedTokensOfAModelFileAreAskedForNotGuessedFromItsSize) {
  PERSONAS_REQUIRE_DATA(model, "phi3-mini-4k-instruct/tokenizer.model");
  const auto guessed = tokenizer_data_from_model_file(model, SentencePieceAdded::auto_detect);
  EXPECT_TRUE(guessed.added_tokens.empty());
  EXPECT_EQ(guessed.chat_template, ChatTemplate::none);
  EXPECT_EQ(Tokenizer(guessed).vocab_size(), 32000);
  const auto phi3 = tokenizer_data_from_model_file(model, SentencePieceAdded::phi3);
  EXPECT_EQ(phi3.added_tokens.size(), 11u);
  EXPECT_EQ(phi3.chat_template, ChatTemplate::phi3);
  EXPECT_EQ(Tokenizer(phi3).vocab_size(), 32011);
  // Asking for the chat symbols of a personas-trained tokenizer names the file.
  try {
    tokenizer_data_from_model_file(model, SentencePieceAdded::chat);
    ADD_FAILURE() << "a model without the chat symbols was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data);
    EXPECT_NE(e.message().find(model.string()), std::string::npos) << e.message();
  }
  // init-model --tokenizer-added reads the same words as model.tokenizer_added.
  EXPECT_EQ(parse_choice(sentencepiece_added_names(), "phi3", "--tokenizer-added", ErrorKind::usage),
            SentencePieceAdded::phi3);
  try {
    parse_choice(sentencepiece_added_names(), "phi-3", "--tokenizer-added", ErrorKind::usage);
    ADD_FAILURE() << "an unknown name was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    EXPECT_NE(e.message().find("--tokenizer-added: 'phi-3' is not one of auto|phi3|chat|none"), std::string::npos)
        << e.message();
  }
}

TEST(Tokenizer, Phi3ChatTemplate) {
  PERSONAS_REQUIRE_DATA(model, "phi3-mini-4k-instruct/tokenizer.model");
  auto tok = Tokenizer::from_model_file(model, true);
  std::vector<ChatMessage> msgs = {{"system", "You rate movies."}, {"user", "Rate Heat (1995)."}};
  EXPECT_EQ(tok.apply_chat_template(msgs, true),
            "<|system|>\nYou rate movies.<|end|>\n<|user|>\nRate Heat (1995).<|end|>\n<|assistant|>\n");
  EXPECT_EQ(tok.apply_chat_template({{"user", "x"}, {"assistant", "4"}}, false),
            "<|user|>\nx<|end|>\n<|assistant|>\n4<|end|>\n<|endoftext|>");
  EXPECT_THROW(tok.apply_chat_template({{"robot", "x"}}, true), Error);
}

TEST(Tokenizer, Tok512DecodesThePublishedGreedyText) {
  PERSONAS_REQUIRE_DATA(model, "stories260K/tok512.model");
  PERSONAS_REQUIRE_DATA(ids_path, "stories260K/expected_greedy_n200_ids.txt");
  PERSONAS_REQUIRE_DATA(text_path, "stories260K/expected_greedy_n200.txt");
  auto tok = Tokenizer::from_model_file(model, false);
  EXPECT_EQ(tok.vocab_size(), 512);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.data().chat_template, ChatTemplate::none);
  std::vector<std::int32_t> ids;
  {
    std::istringstream in(read_file(ids_path));
    for (std::int32_t id; in >> id;) ids.push_back(id);
  }
  ASSERT_EQ(ids.size(), 201u);
  ASSERT_EQ(ids[0], 1);
  const std::string expected = read_file(text_path);
  std::vector<std::int32_t> generated(ids.begin() + 1, ids.end());
  EXPECT_EQ(tok.decode(generated), expected);
  // Streaming piece by piece gives the same text.
  TokenStreamer streamer(tok);
  std::string streamed;
  for (auto id : generated) streamed += streamer.push(id);
  streamed += streamer.finish();
  EXPECT_EQ(streamed, expected);
  // And it encodes back (no BOS by default).
  auto again = tok.encode(expected);
  EXPECT_EQ(tok.decode(again), expected);
}

TEST(Tokenizer, TrainsASmallModelDeterministically) {
  testing::TempDir dir;
  {
    std::ofstream out(dir / "corpus.txt");
    const char* lines[] = {"The user liked Toy Story and Heat.", "She rates thrillers 4 or 5 stars.",
                           "Comedies from the nineties get a 3.", "He never watches horror films at night.",
                           "Rating: 4", "Casablanca (1942) is a classic drama."};
    for (int rep = 0; rep < 40; ++rep)
      for (auto* l : lines) out << l << " " << rep << "\n";
  }
  SentencePieceTrainOptions options;
  options.vocab_size = 320;
  auto bytes = train_sentencepiece(dir / "corpus.txt", options);
  EXPECT_EQ(bytes, train_sentencepiece(dir / "corpus.txt", options));
  Tokenizer tok(trained_tokenizer_data(bytes));
  const std::string text = "She rates Heat 5 stars. Ünïcödé → ok";
  EXPECT_EQ(tok.decode(tok.encode(text)), text);  // byte fallback covers unseen characters
  auto chat = tok.apply_chat_template({{"user", "Rate Heat."}}, true);
  auto ids = tok.encode(chat);
  EXPECT_EQ(ids.front(), tok.piece_to_id("<|user|>"));
  EXPECT_EQ(ids.back(), tok.piece_to_id("<|assistant|>"));
  EXPECT_EQ(tok.eos_id(), tok.piece_to_id("<|endoftext|>"));
  EXPECT_THROW(train_sentencepiece(dir / "missing.txt", options), Error);
}

// encode() keeps each thread's last long plain segments and their ids: a
// hit must give what SentencePiece gives, per tokenizer (two models, or a
// model destroyed and another made at the same address, never share ids).
TEST(Tokenizer, SegmentCacheGivesEachTokenizerItsOwnIds) {
  testing::TempDir dir;
  {
    std::ofstream out(dir / "corpus.txt");
    const char* lines[] = {"The user liked Toy Story and Heat.", "She rates thrillers 4 or 5 stars.",
                           "Comedies from the nineties get a 3.", "He never watches horror films at night."};
    for (int rep = 0; rep < 40; ++rep)
      for (auto* l : lines) out << l << " " << rep << "\n";
  }
  SentencePieceTrainOptions small, large;
  small.vocab_size = 300;
  large.vocab_size = 420;
  const auto small_bytes = train_sentencepiece(dir / "corpus.txt", small);
  const auto large_bytes = train_sentencepiece(dir / "corpus.txt", large);
  const std::string segment = "She rates thrillers 4 or 5 stars, and comedies from the nineties get a 3.";
  const std::string prompt = "<|user|>\n" + segment + "<|end|>\n<|assistant|>\n";
  std::vector<std::int32_t> first_small, first_large;
  {
    Tokenizer a(trained_tokenizer_data(small_bytes)), b(trained_tokenizer_data(large_bytes));
    first_small = a.encode(prompt);
    first_large = b.encode(prompt);
    EXPECT_NE(first_small, first_large);  // the two models cut the segment differently
    for (int k = 0; k < 3; ++k) {         // alternating hits and misses
      EXPECT_EQ(a.encode(prompt), first_small);
      EXPECT_EQ(b.encode(prompt), first_large);
      EXPECT_EQ(a.encode(segment), Tokenizer(trained_tokenizer_data(small_bytes)).encode(segment));
    }
  }
  for (int k = 0; k < 3; ++k) {  // new tokenizers, possibly at the old addresses
    Tokenizer b(trained_tokenizer_data(large_bytes));
    EXPECT_EQ(b.encode(prompt), first_large);
    Tokenizer a(trained_tokenizer_data(small_bytes));
    EXPECT_EQ(a.encode(prompt), first_small);
  }
}

// Texts that stress the word path: doubled, leading and trailing spaces,
// newlines and tabs inside words, digits, punctuation, non-ASCII letters,
// added tokens, and plain repeats (cache hits).
std::vector<std::string> word_path_texts(std::uint64_t seed, int n) {
  const std::vector<std::string> atoms = {"The", "user", "liked", "Toy", "Story", "(1995);", "genres:", "Comedy,",
                                          "4.5", "3", "stars.", "\nMovie:", "x\ty", "Ünïcödé", "→", "ok", "a",
                                          "<|end|>", "<|user|>\n", "Rate", "1-5:", "nineties", "ratings", "", "\n"};
  const std::vector<std::string> gaps = {" ", " ", " ", " ", "  ", "\n", " \n", "\t", ""};
  std::vector<std::string> texts = {"", " ", "  ", "a", " a", "a ", "a  b", "a b ", "\n", " \n a", "Hello world",
                                    "average rating 3.9 from 452 ratings", "Ünïcödé → ok  done "};
  std::uint64_t state = seed;
  auto next = [&](std::size_t bound) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::size_t>((state >> 33) % bound);
  };
  for (int i = 0; i < n; ++i) {
    std::string text;
    const std::size_t words = 1 + next(12);
    for (std::size_t w = 0; w < words; ++w) {
      if (w > 0 || next(4) == 0) text += gaps[next(gaps.size())];
      text += atoms[next(atoms.size())];
    }
    if (next(4) == 0) text += gaps[next(gaps.size())];
    texts.push_back(text);
    if (next(3) == 0) texts.push_back(texts[next(texts.size())]);  // a repeat
  }
  return texts;
}

void expect_word_lookup_matches(const Tokenizer& tok, const std::string& label) {
  for (const auto& text : word_path_texts(17, 3000))
    ASSERT_EQ(tok.encode(text), tok.encode(text, false, Tokenizer::WordLookup::direct))
        << label << ", text: '" << text << "'";
}

// The word-by-word path (encodes_word_by_word) must give SentencePiece's
// own ids, on the models we ship and train.
TEST(Tokenizer, WordLookupGivesSentencePiecesIds) {
  testing::TempDir dir;
  {
    std::ofstream out(dir / "corpus.txt");
    const char* lines[] = {"The user liked Toy Story and Heat.", "She rates thrillers 4 or 5 stars.",
                           "Movie: Heat (1995); genres: Action, Crime; average rating 3.9 from 452 ratings",
                           "Comedies from the nineties get a 3.", "He never watches horror films at night."};
    for (int rep = 0; rep < 40; ++rep)
      for (auto* l : lines) out << l << " " << rep << "\n";
  }
  SentencePieceTrainOptions options;
  options.vocab_size = 400;
  Tokenizer trained(trained_tokenizer_data(train_sentencepiece(dir / "corpus.txt", options)));
  EXPECT_TRUE(trained.encodes_word_by_word());
  expect_word_lookup_matches(trained, "trained BPE");

  options.model_type = "unigram";
  Tokenizer unigram(trained_tokenizer_data(train_sentencepiece(dir / "corpus.txt", options)));
  EXPECT_FALSE(unigram.encodes_word_by_word());  // Viterbi, not merges: whole segments only
  expect_word_lookup_matches(unigram, "trained unigram");

  if (auto tok512 = testing::data_file("stories260K/tok512.model")) {
    auto tok = Tokenizer::from_model_file(*tok512, false);
    EXPECT_TRUE(tok.encodes_word_by_word());
    expect_word_lookup_matches(tok, "tok512");
  }
  if (auto phi3 = testing::data_file("phi3-mini-4k-instruct/tokenizer.model")) {
    auto tok = Tokenizer::from_model_file(*phi3, true);
    EXPECT_TRUE(tok.encodes_word_by_word());  // its "▁▁..." pieces are spaces only
    expect_word_lookup_matches(tok, "phi3");
  }
}

// A 320-piece SentencePiece model trained on a few movie sentences.
void write_trained_model(const fs::path& path) {
  const fs::path corpus = path.parent_path() / "corpus.txt";
  {
    std::ofstream out(corpus);
    const char* lines[] = {"The user liked Toy Story and Heat.", "She rates thrillers 4 or 5 stars.",
                           "Comedies from the nineties get a 3.", "He never watches horror films at night."};
    for (int rep = 0; rep < 40; ++rep)
      for (auto* l : lines) out << l << " " << rep << "\n";
  }
  SentencePieceTrainOptions options;
  options.vocab_size = 320;
  write_file_atomic(path, train_sentencepiece(corpus, options));
}

TEST(Tokenizer, AutoGivesATrainedTokenizerItsChatSymbols) {
  testing::TempDir dir;
  write_trained_model(dir / "trained.model");
  const auto data = tokenizer_data_from_model_file(dir / "trained.model", SentencePieceAdded::auto_detect);
  EXPECT_EQ(data.added_tokens.size(), 5u);
  EXPECT_EQ(data.chat_template, ChatTemplate::phi3);
  EXPECT_TRUE(tokenizer_data_from_model_file(dir / "trained.model", SentencePieceAdded::none).added_tokens.empty());
}

// has_id answers without an exception exactly where id_to_piece answers:
// the pieces and the added tokens, not the gap between them (an added token
// above the pieces, as Phi-3's sit above its 32000).
TEST(Tokenizer, HasIdIsWhereIdToPieceAnswers) {
  testing::TempDir dir;
  write_trained_model(dir / "trained.model");
  auto data = tokenizer_data_from_model_file(dir / "trained.model", SentencePieceAdded::none);
  data.added_tokens.push_back({350, "<|gap|>"});
  const Tokenizer tok{data};
  ASSERT_EQ(tok.vocab_size(), 351);
  EXPECT_FALSE(tok.has_id(-1));
  EXPECT_FALSE(tok.has_id(351));
  int answered = 0;
  for (std::int32_t id = 0; id < tok.vocab_size(); ++id) {
    bool throws = false;
    try {
      tok.id_to_piece(id);
    } catch (const Error&) {
      throws = true;
    }
    EXPECT_EQ(tok.has_id(id), !throws) << id;
    answered += throws ? 0 : 1;
  }
  EXPECT_EQ(answered, 321);  // 320 pieces and the added token
  EXPECT_TRUE(tok.has_id(350));
  EXPECT_FALSE(tok.has_id(330));
}

TEST(Tokenizer, RejectsGarbageModelBytes) {
  TokenizerData d;
  d.model_bytes = "not a model";
  EXPECT_THROW(Tokenizer{d}, Error);
  EXPECT_THROW(Tokenizer{TokenizerData{}}, Error);
}

}  // namespace
}  // namespace personas
