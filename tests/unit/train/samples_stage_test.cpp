// `personas samples` (train/samples_stage.h) against the samples train builds:
// on a small synthetic run (prepare, offline distill with some users' records
// removed, a trained SentencePiece tokenizer in a tiny checkpoint), the
// streaming per-persona counts, token sums and length histogram must equal
// the ones computed from build_training_samples over the whole block, for
// chunks that split the block anywhere.
#include "train/samples_stage.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "comm/comm.h"
#include "core/errors.h"
#include "core/fs.h"
#include "core/strings.h"
#include "data/data_config.h"
#include "data/dataset_io.h"
#include "data/synthetic.h"
#include "distill/distill_stage.h"
#include "distill/memories.h"
#include "io/jsonl.h"
#include "model/checkpoint.h"
#include "model/tokenizer.h"
#include "support/test_support.h"
#include "train/sample_options.h"
#include "train/samples.h"
#include "train/stage_inputs.h"
#include "unit/train/tiny_model.h"

using namespace personas;

namespace {

struct SmallRun {
  personas::testing::TempDir dir{"personas-samples-stage"};
  RunDir run{dir / "run"};
  std::unique_ptr<Comm> comm = make_local_comm();
  fs::path model_path = dir / "run" / "model" / "base.h5";

  // Prepare + offline distill of `n_users` synthetic users; then the records
  // of every user whose selection index is 3 mod 5 are removed (users without memory).
  explicit SmallRun(int n_users) {
    DataConfig dc;
    dc.source = DataSource::synthetic;
    dc.n_users = n_users;
    dc.min_ratings = 8;
    dc.max_ratings = 40;
    dc.synth_items = 120;
    dc.synth_personas = 3;
    synthesize_dataset(dc, 11, run, *comm);
    mark_prepare_done(run, "test", *comm);
    const Dataset data = load_dataset(run, *comm);
    DistillConfig distill;
    distill.provider = Provider::offline;
    run_distill(run, data, distill, DistillRunOptions{}, *comm);
    const fs::path memories = distill_rank_file(run, "memories", 0);
    std::string kept, corpus;
    const std::string text = read_file(memories);
    for (auto line : split_lines(text)) {
      if (trim(line).empty()) continue;
      const auto index = record_index_of(line);
      if (index && *index % 5 == 3) continue;
      kept.append(line).push_back('\n');
    }
    write_file_atomic(memories, kept);
    // A small tokenizer trained on the run's own notes (many tokens per prompt,
    // so the tiny model's 256-token context shortens some prompts and drops others).
    for (const auto& item : data.items) corpus += item.title + "\n";
    for (const auto& g : data.genre_names) corpus += g + "\n";
    for (const auto& m : load_memories(run, *comm)) {
      corpus += m.profile + "\n";
      for (const auto& n : m.notes) corpus += n.text + "\n";
    }
    write_file_atomic(dir / "corpus.txt", corpus);
    SentencePieceTrainOptions so;
    so.vocab_size = 800;
    auto tokenizer = trained_tokenizer_data(train_sentencepiece(dir / "corpus.txt", so));
    auto weights = personas::testing::tiny_phi3(3, Tokenizer(tokenizer).vocab_size());
    weights.config.max_position_embeddings = 4096;  // the sequence cap comes from train.max_seq_len
    fs::create_directories(model_path.parent_path());
    save_checkpoint(model_path, weights, tokenizer, StorageDType::f32);
  }

  SamplesStageOptions options(std::int64_t chunk_users) const {
    SamplesStageOptions o;
    o.model_path = model_path;
    o.default_max_len = 4096;
    o.config_hash = "test-hash";
    o.chunk_users = chunk_users;
    o.train.prompt_style = PromptStyle::compact;
    o.train.retrieve_k = 2;
    o.train.profile_words = 30;
    // Prompts here are ~330-550 tokens: at 380 some are cut, some dropped.
    o.train.max_seq_len = 380;
    return o;
  }
};

// The same figures, computed from the samples build_training_samples keeps.
struct Reference {
  std::map<std::int32_t, std::map<std::string, std::int64_t>> by_persona;
  std::map<std::string, std::int64_t> totals;
  std::vector<std::int64_t> histogram;
  std::int64_t longest = 0;
};

Reference reference(SmallRun& r, const SamplesStageOptions& o) {
  const Dataset data = load_dataset(r.run, *r.comm);
  const auto memories = load_memories(r.run, *r.comm);
  Tokenizer tokenizer(load_checkpoint_tokenizer(o.model_path));
  ChatTemplateEncoder encoder(tokenizer);
  const int max_len = train_max_len(o.train, o.default_max_len, load_checkpoint_config(o.model_path));
  const SampleOptions so = train_sample_options(o.train, max_len, encoder, data);
  SampleStats stats;
  const auto samples = build_training_samples(data, memories, read_item_vectors(r.run, data), encoder, so, &stats);
  const auto personas = read_user_personas(r.run, data);
  Reference ref;
  ref.histogram.assign(static_cast<std::size_t>((max_len + 31) / 32), 0);
  std::map<std::int64_t, bool> has_memory;
  for (const auto& m : memories) has_memory[m.user_id] = true;
  for (std::size_t u = 0; u < data.users.size(); ++u) {
    auto& c = ref.by_persona[personas.persona_of_user[u]];
    ++c["users"];
    if (!has_memory.count(data.users[u].id)) ++c["users_without_memory"];
  }
  for (const auto& s : samples) {
    auto& c = ref.by_persona[personas.persona_of_user[static_cast<std::size_t>(s.user)]];
    const auto length = static_cast<std::int64_t>(s.ids.size());
    ++c[s.validation ? "validation_samples" : "train_samples"];
    c[s.validation ? "validation_tokens" : "train_tokens"] += length;
    c["answer_tokens"] += s.n_answer_tokens();
    c["shortened"] += s.shortened ? 1 : 0;
    ++ref.histogram[static_cast<std::size_t>((length - 1) / 32)];
    ref.longest = std::max(ref.longest, length);
  }
  for (const auto& [p, c] : ref.by_persona)
    for (const auto& [k, v] : c) ref.totals[k] += v;
  EXPECT_EQ(ref.totals["train_samples"], stats.n_train);
  EXPECT_EQ(ref.totals["validation_samples"], stats.n_validation);
  EXPECT_EQ(ref.totals["train_tokens"] + ref.totals["validation_tokens"], stats.n_tokens);
  EXPECT_EQ(ref.totals["users_without_memory"], stats.n_users_without_memory);
  ref.totals["dropped"] = stats.n_dropped;  // build_training_samples counts drops per block only
  return ref;
}

void expect_counts(const nlohmann::json& got, const std::map<std::string, std::int64_t>& want, const std::string& what) {
  for (const char* key : {"users", "users_without_memory", "train_samples", "validation_samples", "train_tokens",
                          "validation_tokens", "answer_tokens", "shortened"}) {
    auto it = want.find(key);
    EXPECT_EQ(got.at(key).get<std::int64_t>(), it == want.end() ? 0 : it->second) << what << ": " << key;
  }
}

}  // namespace

TEST(SamplesStage, StreamingCountsEqualBuildTrainingSamples) {
  SmallRun r(45);
  const auto o = r.options(7);  // chunks of 7 users: boundaries inside runs of users without memory too
  const auto summary = samples_stage(r.run, *r.comm, o);
  const Reference ref = reference(r, o);

  // The data set exercises every path: personas, users without memory, cut and dropped prompts.
  ASSERT_EQ(ref.by_persona.size(), 3u);
  ASSERT_GT(ref.totals.at("users_without_memory"), 0);
  ASSERT_GT(ref.totals.at("shortened"), 0);
  ASSERT_GT(ref.totals.at("dropped"), 0);
  ASSERT_GT(ref.totals.at("train_samples"), 100);

  expect_counts(summary.at("totals"), ref.totals, "totals");
  EXPECT_EQ(summary.at("totals").at("dropped").get<std::int64_t>(), ref.totals.at("dropped"));
  ASSERT_EQ(summary.at("personas").size(), ref.by_persona.size());
  for (const auto& p : summary.at("personas")) {
    const auto persona = p.at("persona").get<std::int32_t>();
    ASSERT_TRUE(ref.by_persona.count(persona)) << persona;
    expect_counts(p, ref.by_persona.at(persona), "persona " + std::to_string(persona));
  }
  const auto& bins = summary.at("length_histogram").at("bins");
  ASSERT_EQ(bins.size(), ref.histogram.size());
  for (std::size_t b = 0; b < bins.size(); ++b) EXPECT_EQ(bins[b].at("samples").get<std::int64_t>(), ref.histogram[b]) << b;
  EXPECT_EQ(summary.at("longest").get<std::int64_t>(), ref.longest);
  EXPECT_EQ(summary.at("max_len").get<int>(), 380);
  EXPECT_EQ(summary.at("persona_source"), "planted");

  // Written by the stage, with its DONE marker; the chunk size changes nothing.
  EXPECT_EQ(nlohmann::json::parse(read_file(r.run.stage_dir("samples") / "summary.json")), summary);
  EXPECT_TRUE(r.run.is_done("samples", "test-hash"));
  EXPECT_EQ(samples_stage(r.run, *r.comm, r.options(1000)), summary);
}

TEST(SamplesStage, MissingStagesAreNamed) {
  SmallRun r(12);
  auto o = r.options(10);
  o.model_path = r.dir / "no-model.h5";
  try {
    samples_stage(r.run, *r.comm, o);
    FAIL() << "no error without a model";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io);
    EXPECT_NE(e.hint().find("personas model"), std::string::npos) << e.hint();
    EXPECT_NE(std::string(e.what()).find("no-model.h5"), std::string::npos) << e.what();
  }
  fs::remove(r.run.stage_dir("distill") / "DONE");
  try {
    samples_stage(r.run, *r.comm, r.options(10));
    FAIL() << "no error without distill";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io);
    EXPECT_NE(e.hint().find("personas distill"), std::string::npos) << e.hint();
  }
  EXPECT_FALSE(r.run.done_marker("samples").has_value());
}
