#include "eval/per_user_file.h"

#include <algorithm>
#include <string>

#include "core/errors.h"
#include "eval/evaluation.h"

namespace personas {

fs::path PerUserFile::part_path(int rank) const { return run_.rank_file(kEvalStage, "per-user-part", rank, "jsonl"); }

PerUserFile::PerUserFile(const RunDir& run, Comm& comm) : run_(run), comm_(comm) {
  run_.ensure_stage_dir(kEvalStage);
  part_ = part_path(comm_.rank());
  out_.open(part_, std::ios::binary | std::ios::trunc);
  PERSONAS_CHECK(out_, io, "cannot write '{}'", part_.string());
}

PerUserFile::~PerUserFile() {
  if (out_.is_open()) out_.close();
  std::error_code ec;
  fs::remove(part_, ec);
}

void PerUserFile::add(const PredictorMetrics& metrics) {
  starts_.push_back(static_cast<std::int64_t>(out_.tellp()));
  std::string lines;
  for (const auto& u : metrics.users) {
    lines += user_to_json(metrics.name, u).dump();
    lines += '\n';
    if (lines.size() > (1u << 20)) {
      out_ << lines;
      lines.clear();
    }
  }
  out_ << lines;
  PERSONAS_CHECK(out_, io, "cannot write '{}'", part_.string());
}

void PerUserFile::finish() {
  const auto n_predictors = static_cast<std::int64_t>(starts_.size());
  PERSONAS_ASSERT(comm_.allreduce_sum(n_predictors) == n_predictors * comm_.size(),
                  "ranks added different numbers of predictors");
  starts_.push_back(static_cast<std::int64_t>(out_.tellp()));
  out_.close();
  PERSONAS_CHECK(out_, io, "cannot write '{}'", part_.string());
  const std::size_t per_rank = starts_.size();
  std::vector<std::int64_t> all(per_rank * static_cast<std::size_t>(comm_.size()));
  comm_.allgather(starts_.data(), per_rank * sizeof(std::int64_t), all.data());
  comm_.barrier();  // every part is closed
  if (comm_.is_root()) {
    const auto target = run_.stage_dir(kEvalStage) / "per-user.jsonl";
    write_atomically(target, [&](const fs::path& temp) {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      PERSONAS_CHECK(out, io, "cannot write '{}'", temp.string());
      std::vector<std::ifstream> parts;
      for (int r = 0; r < comm_.size(); ++r) {
        const auto path = part_path(r);
        parts.emplace_back(path, std::ios::binary);
        PERSONAS_CHECK(parts.back(), io, "cannot read '{}'", path.string());
      }
      std::vector<char> buffer(1 << 20);
      for (std::size_t p = 0; p + 1 < per_rank; ++p)
        for (std::size_t r = 0; r < parts.size(); ++r) {
          const auto begin = all[r * per_rank + p], end = all[r * per_rank + p + 1];
          parts[r].seekg(begin);
          for (auto left = end - begin; left > 0;) {
            const auto n = std::min<std::int64_t>(left, std::int64_t(buffer.size()));
            parts[r].read(buffer.data(), n);
            PERSONAS_CHECK(parts[r].gcount() == n, io, "'{}' is shorter than rank {} wrote",
                           part_path(int(r)).string(), r);
            out.write(buffer.data(), n);
            left -= n;
          }
        }
      out.close();
      PERSONAS_CHECK(out, io, "cannot write '{}'", temp.string());
    });
  }
  comm_.barrier();  // rank 0 has read every part
  std::error_code ec;
  fs::remove(part_, ec);
}

}  // namespace personas
