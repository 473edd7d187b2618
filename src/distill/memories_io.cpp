// load_memories (memories.h): this rank's block of the selection, read from
// whichever writer files overlap it, for any reader and writer rank counts.
#include "comm/sharding.h"
#include "core/errors.h"
#include "distill/memories.h"
#include "distill/memory_records.h"
#include "io/jsonl.h"

namespace personas {

fs::path distill_rank_file(const RunDir& run, const std::string& name, int rank) {
  const auto plain = run.rank_file("distill", name, rank, "jsonl");
  const auto packed = run.rank_file("distill", name, rank, "jsonl.zst");
  const bool has_plain = fs::exists(plain), has_packed = fs::exists(packed);
  PERSONAS_CHECK_HINT(!(has_plain && has_packed), data, "remove RUN/distill and run `personas distill` again",
                      "both '{}' and '{}' exist: which one is current is unknown", plain.string(), packed.string());
  return has_packed ? packed : plain;
}

std::optional<std::int64_t> record_index_of(std::string_view line) {
  // Records are flat objects whose strings come before "notes" (keys sorted);
  // a key match inside a string value is excluded by requiring the previous
  // character to be '{' or ',' (a string's quote is escaped as \").
  static constexpr std::string_view key = "\"index\":";
  for (std::size_t at = line.find(key); at != std::string_view::npos; at = line.find(key, at + 1)) {
    if (at == 0 || (line[at - 1] != '{' && line[at - 1] != ',')) continue;
    std::size_t p = at + key.size();
    while (p < line.size() && line[p] == ' ') ++p;
    std::int64_t value = 0;
    std::size_t digits = 0;
    for (; p < line.size() && line[p] >= '0' && line[p] <= '9' && digits < 18; ++p, ++digits)
      value = value * 10 + (line[p] - '0');
    if (digits == 0) return std::nullopt;
    return value;
  }
  return std::nullopt;
}

void visit_memories(const RunDir& run, Comm& comm, const std::function<bool(std::int64_t)>& keep,
                    const std::function<void(std::int64_t index, UserMemory&& memory)>& visit) {
  auto marker = run.done_marker("distill");
  PERSONAS_CHECK_HINT(marker.has_value(), io, "run `personas distill` on this run directory first",
                      "'{}' has no DONE marker: distillation has not finished",
                      run.stage_dir("distill").string());
  auto n_total = marker->value("n_users_total", std::int64_t{-1});
  int writers = marker->value("n_ranks", 0);
  PERSONAS_CHECK(n_total >= 0 && writers > 0, data, "'{}': DONE marker lacks n_users_total / n_ranks",
                 (run.stage_dir("distill") / "DONE").string());
  auto [lo, hi] = block_range(n_total, comm.rank(), comm.size());
  for (int w = 0; w < writers; ++w) {
    auto [wlo, whi] = block_range(n_total, w, writers);
    if (whi <= lo || wlo >= hi) continue;
    auto path = distill_rank_file(run, "memories", w);
    // Lines of other blocks (a writer file overlapping two readers) or not
    // kept are skipped unparsed; without a findable index: parse, then decide.
    auto want = [&](std::string_view line) {
      const auto index = record_index_of(line);
      return !index || (*index >= lo && *index < hi && (!keep || keep(*index)));
    };
    read_jsonl(path, want, [&](const nlohmann::json& j, std::size_t line) {
      auto r = record_from_json(j, fmt::format("{}:{}", path.string(), line));
      if (r.index >= lo && r.index < hi && !r.failed && (!keep || keep(r.index))) visit(r.index, std::move(r.memory));
    });
  }
}

std::vector<UserMemory> load_memories(const RunDir& run, Comm& comm, const std::function<bool(std::int64_t)>& keep) {
  std::vector<std::pair<std::int64_t, UserMemory>> records;
  visit_memories(run, comm, keep,
                 [&](std::int64_t index, UserMemory&& memory) { records.emplace_back(index, std::move(memory)); });
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<UserMemory> out;
  out.reserve(records.size());
  for (auto& r : records) out.push_back(std::move(r.second));
  return out;
}

}  // namespace personas
