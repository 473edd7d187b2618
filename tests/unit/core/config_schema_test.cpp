#include "core/config_schema.h"

#include <gtest/gtest.h>

#include <tuple>

#include "core/errors.h"
#include "pipeline/config.h"

namespace personas {
namespace {

TEST(ConfigSchema, DefaultsIniThenCommandLine) {
  Config config;
  ConfigSchema schema;
  config.describe(schema);
  EXPECT_EQ(config.data.n_users, 200);
  Problems problems;
  auto entries = parse_ini("[data]\nn_users = 50   # fewer\nsource = ml100k\npath = /x\n\n[run]\nseed=7\n",
                           "test.ini", problems);
  apply_entries(schema, entries, problems);
  apply_entries(schema, {{"data.n_users", "60", "command line"}}, problems);
  EXPECT_TRUE(problems.empty()) << problems.items().front();
  EXPECT_EQ(config.data.n_users, 60);
  EXPECT_EQ(config.data.source, DataSource::ml100k);
  EXPECT_EQ(config.run.seed, 7);
  EXPECT_TRUE(schema.validate().empty());
}

// A choice held as an enum reads and prints its words, rejects others with
// the list, and lists them in the help: the INI text (and so every stage
// hash) is the same as with the string form it replaced.
TEST(ConfigSchema, EnumChoiceReadsAndPrintsItsWords) {
  enum class Colour { red, green, light_blue };
  Colour colour = Colour::green;
  ConfigSchema schema;
  schema.add_choice("paint.colour", &colour,
                    {{"red", Colour::red}, {"green", Colour::green}, {"light-blue", Colour::light_blue}}, "the colour");
  EXPECT_EQ(schema.get("paint.colour"), "green");
  EXPECT_EQ(schema.set("paint.colour", " light-blue "), "");
  EXPECT_EQ(colour, Colour::light_blue);
  EXPECT_EQ(schema.get("paint.colour"), "light-blue");
  EXPECT_NE(schema.set("paint.colour", "blue").find("not one of red|green|light-blue"), std::string::npos);
  EXPECT_EQ(colour, Colour::light_blue) << "a rejected word leaves the value";
  const auto ini = schema.to_ini({"paint"}, /*with_help=*/false);
  EXPECT_NE(ini.find("colour = light-blue"), std::string::npos) << ini;
  EXPECT_TRUE(schema.validate().empty());
}

// The choice keys that were validated strings until 2026-12 (run.backend,
// log.level, model.preset, model.device_dtype, model.tokenizer_added) read
// their words into enums and refuse other words naming the key and choices.
TEST(ConfigSchema, FormerStringChoicesAreEnums) {
  Config config;
  ConfigSchema schema;
  config.describe(schema);
  Problems problems;
  auto entries = parse_ini(
      "[run]\nbackend = cpu\n[log]\nlevel = warn\n[model]\npreset = phi3-mini\ndevice_dtype = f32\n"
      "tokenizer_added = chat\n",
      "t.ini", problems);
  apply_entries(schema, entries, problems);
  ASSERT_TRUE(problems.empty()) << problems.items().front();
  EXPECT_EQ(config.run.backend, BackendKind::cpu);
  EXPECT_EQ(config.log.options.level, spdlog::level::warn);
  EXPECT_EQ(config.model.preset, ModelPreset::phi3_mini);
  EXPECT_EQ(config.model.device_dtype, DeviceDtypeSetting::f32);
  EXPECT_EQ(config.model.tokenizer_added, SentencePieceAdded::chat);
  const auto ini = schema.to_ini({"run", "log", "model"}, /*with_help=*/false);
  for (const char* line : {"backend = cpu", "level = warn", "preset = phi3-mini", "device_dtype = f32",
                           "tokenizer_added = chat"})
    EXPECT_NE(ini.find(line), std::string::npos) << line << " in\n" << ini;
  for (const auto& [key, word, choices] :
       {std::tuple{"run.backend", "tpu", "auto|cpu|cuda"}, std::tuple{"log.level", "loud", "trace|debug|info|warn"},
        std::tuple{"model.preset", "huge", "tiny|small|phi3-mini"}, std::tuple{"model.device_dtype", "fp16", "auto|bf16|f32"},
        std::tuple{"model.tokenizer_added", "phi-3", "auto|phi3|chat|none"}}) {
    const std::string refused = schema.set(key, word);
    EXPECT_NE(refused.find(std::string("is not one of ") + choices), std::string::npos) << key << ": " << refused;
  }
}

TEST(ConfigSchema, CollectsEveryProblemWithFileAndLine) {
  Config config;
  ConfigSchema schema;
  config.describe(schema);
  Problems problems;
  auto entries = parse_ini("[data]\nn_users = many\nbogus = 1\nsource = netflix\n[run\n", "bad.ini", problems);
  apply_entries(schema, entries, problems);
  ASSERT_EQ(problems.items().size(), 4u);
  EXPECT_NE(problems.items()[0].find("bad.ini:5"), std::string::npos);  // the malformed header
  EXPECT_NE(problems.items()[1].find("bad.ini:2"), std::string::npos);
  EXPECT_NE(problems.items()[1].find("not an integer"), std::string::npos);
  EXPECT_NE(problems.items()[2].find("unknown key 'data.bogus'"), std::string::npos);
  EXPECT_NE(problems.items()[3].find("not one of"), std::string::npos);
  try {
    problems.throw_if_any("invalid configuration");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_EQ(e.exit_code(), 3);
  }
}

TEST(ConfigSchema, ValidationListsAllProblems) {
  Config config;
  ConfigSchema schema;
  config.describe(schema);
  EXPECT_TRUE(schema.validate().empty()) << "the defaults must validate";
  config.data.train_fraction = 1.5;
  config.data.n_users = -1;
  config.run.threads = -2;
  auto problems = schema.validate();
  // Every bad field is reported in the same pass (other sections may add
  // their own complaint about a field they depend on, e.g. data.n_users).
  ASSERT_GE(problems.items().size(), 3u);
  for (const char* key : {"data.train_fraction", "data.n_users", "run.threads"}) {
    bool found = false;
    for (const auto& item : problems.items()) found = found || item.find(key) != std::string::npos;
    EXPECT_TRUE(found) << key << " not reported";
  }
}

TEST(ConfigSchema, ResolvedIniReadsBackIdentically) {
  Config a;
  ConfigSchema sa;
  a.describe(sa);
  a.data.train_fraction = 0.7;
  a.data.path = "/some where/x";
  auto text = sa.to_ini();
  Config b;
  ConfigSchema sb;
  b.describe(sb);
  Problems problems;
  apply_entries(sb, parse_ini(text, "resolved", problems), problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(sb.to_ini(), text);
  EXPECT_EQ(b.data.path, "/some where/x");
}

}  // namespace
}  // namespace personas
