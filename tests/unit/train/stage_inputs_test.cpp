// Personas per user for train and eval (train/stage_inputs.h): the cluster
// stage's assignments (each user once, however many files list it), else the
// planted personas, else none; malformed lines name their file and line.
#include "train/stage_inputs.h"

#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/fs.h"
#include "support/test_support.h"

using namespace personas;

namespace {

Dataset three_users(int planted) {
  Dataset d;
  for (std::int64_t id : {11, 12, 13}) {
    User u;
    u.id = id;
    u.true_persona = planted;
    d.users.push_back(u);
  }
  return d;
}

}  // namespace

TEST(StageInputs, PersonasFromTheClusterAssignmentsEachUserOnce) {
  personas::testing::TempDir dir;
  RunDir run(dir.path());
  const std::string lines = "{\"user\": 11, \"persona\": 2}\n{\"user_id\": 12, \"cluster\": 0}\n";
  write_file_atomic(run.stage_dir("cluster") / "assignments.jsonl", lines);
  write_file_atomic(run.stage_dir("cluster") / "assignments-rank-00000.jsonl", lines);
  const auto table = read_persona_table(run);
  EXPECT_EQ(table.by_id.size(), 2u);
  const auto p = user_personas(table, three_users(1));
  EXPECT_EQ(p.source, "cluster");
  EXPECT_EQ(p.persona_of_user, (std::vector<std::int32_t>{2, 0, -1}));
  EXPECT_EQ(p.n_missing, 1);
}

TEST(StageInputs, PlantedThenNone) {
  personas::testing::TempDir dir;
  RunDir run(dir.path());
  const auto planted = read_user_personas(run, three_users(3));
  EXPECT_EQ(planted.source, "planted");
  EXPECT_EQ(planted.persona_of_user, (std::vector<std::int32_t>{3, 3, 3}));
  EXPECT_EQ(planted.n_missing, 0);
  const auto none = read_user_personas(run, three_users(-1));
  EXPECT_EQ(none.source, "none");
  EXPECT_EQ(none.persona_of_user, (std::vector<std::int32_t>{-1, -1, -1}));
}

TEST(StageInputs, MalformedAssignmentNamesFileAndLine) {
  personas::testing::TempDir dir;
  RunDir run(dir.path());
  write_file_atomic(run.stage_dir("cluster") / "assignments.jsonl",
                    "{\"user\": 11, \"persona\": 2}\n{\"user\": 12, \"persona\": \"two\"}\n");
  try {
    read_persona_table(run);
    FAIL() << "a string persona must be rejected";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data);
    EXPECT_NE(std::string(e.what()).find("assignments.jsonl:2"), std::string::npos) << e.what();
  }
  write_file_atomic(run.stage_dir("cluster") / "assignments.jsonl", "{\"user\": 11}\n");
  EXPECT_THROW(read_persona_table(run), Error);
}
