// record_to_line must give record_to_json(...).dump()'s bytes (the distill
// stage's output stays byte-identical) for every kind of string and number.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/errors.h"
#include "distill/memory_records.h"

namespace personas {
namespace {

MemoryRecord record(const std::string& text, std::vector<float> ratings) {
  MemoryRecord r;
  r.index = 12345678901LL;
  r.memory.user_id = -7;
  // std::string(...): GCC 12 warns falsely (-Wrestrict) on a literal assigned to a string.
  r.memory.activity = std::string("An \"active\" viewer\\ with a tab\there");
  r.memory.conformity = text;
  r.memory.diversity = std::string();
  r.memory.profile = std::string("line one\nline two\r\n\b\f\x01\x1f\x7f end");
  r.memory.provider = std::string("offline");
  r.memory.model = std::string("m");
  r.memory.prompt_version = std::string("offline-v1");
  for (std::size_t k = 0; k < ratings.size(); ++k)
    r.memory.notes.push_back({static_cast<std::int32_t>(k) - 1, ratings[k], fmt::format("{} {}", text, k)});
  return r;
}

TEST(RecordLine, SameBytesAsNlohmannDump) {
  std::vector<Item> items(3);
  for (std::size_t i = 0; i < items.size(); ++i) items[i].id = static_cast<std::int32_t>(50 + i);
  const std::vector<float> ratings = {5.0f, 0.5f, 3.5f, 4.0f, 0.0f, -0.0f, 3.3f, 10.0f, 1e-7f, 123456.0f, -2.5f,
                                      std::numeric_limits<float>::quiet_NaN()};
  for (const std::string text : {"plain", "caf\xC3\xA9 \xE2\x9C\x93", "tab\t \"q\" \\ \x02"}) {
    for (const std::vector<Item>* with_items : std::vector<const std::vector<Item>*>{nullptr, &items}) {
      const auto r = record(text, ratings);
      EXPECT_EQ(record_to_line(r, with_items), record_to_json(r, with_items).dump());
      MemoryRecord failed = r;
      failed.failed = true;
      failed.reason = text + "\n reason";
      EXPECT_EQ(record_to_line(failed, with_items), record_to_json(failed, with_items).dump());
      MemoryRecord empty = r;
      empty.memory.notes.clear();
      EXPECT_EQ(record_to_line(empty, with_items), record_to_json(empty, with_items).dump());
    }
  }
}

TEST(RecordLine, InvalidUtf8FailsLikeNlohmann) {
  const auto r = record("bad \xC3( byte", {4.0f});
  EXPECT_THROW(record_to_json(r, nullptr).dump(), nlohmann::json::exception);
  EXPECT_THROW(record_to_line(r, nullptr), nlohmann::json::exception);
}

}  // namespace
}  // namespace personas
