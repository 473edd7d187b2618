#include "embed/embedding_store.h"

#include <algorithm>

#include "comm/sharding.h"
#include "core/errors.h"
#include "io/hdf5_file.h"

namespace personas {

void write_profile_vectors(const RunDir& run, const UserVectors& b, Comm& comm) {
  run.ensure_stage_dir("embed");
  const auto path = run.rank_file("embed", "profiles", comm.rank(), "h5");
  write_atomically(path, [&](const fs::path& tmp) {
    h5::File f(tmp, h5::File::Mode::create);
    f.write<std::int64_t>("/user_id", b.user_ids);
    f.write<float>("/vectors", std::span<const float>(b.vectors), {b.user_ids.size(), static_cast<std::uint64_t>(b.dim)});
    f.set_attr("/", "first_user", b.first_user);
    f.set_attr("/", "n_users_total", b.n_users_total);
    f.set_attr("/", "dim", static_cast<std::int64_t>(b.dim));
    f.set_attr("/", "embedder", b.embedder);
    f.set_attr("/", "features", b.features);
  });
}

UserVectors load_profile_vectors(const RunDir& run, Comm& comm) {
  const auto dir = run.stage_dir("embed");
  struct Part {
    fs::path path;
    std::int64_t first, count;
  };
  std::vector<Part> parts;
  UserVectors out;
  PERSONAS_CHECK_HINT(fs::is_directory(dir), io, "run `personas embed` first", "no embeddings: {} is missing",
                      dir.string());
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (name.rfind("profiles-rank-", 0) != 0 || entry.path().extension() != ".h5") continue;
    h5::File f(entry.path(), h5::File::Mode::read);
    const auto count = static_cast<std::int64_t>(f.shape("/user_id").at(0));
    parts.push_back({entry.path(), f.attr_int("/", "first_user"), count});
    out.n_users_total = f.attr_int("/", "n_users_total");
    out.dim = static_cast<int>(f.attr_int("/", "dim"));
    out.embedder = f.attr_string("/", "embedder");
    out.features = f.attr_string("/", "features");
  }
  PERSONAS_CHECK_HINT(!parts.empty(), io, "run `personas embed` first", "no profiles-rank-*.h5 in {}", dir.string());
  std::sort(parts.begin(), parts.end(), [](const Part& a, const Part& b) { return a.first < b.first; });
  std::int64_t covered = 0;
  for (const auto& p : parts) {
    PERSONAS_CHECK(p.first == covered, data, "{}: starts at user {} but the previous files end at {}", p.path.string(),
                   p.first, covered);
    covered += p.count;
  }
  PERSONAS_CHECK(covered == out.n_users_total, data, "{}: files hold {} users, n_users_total says {}", dir.string(),
                 covered, out.n_users_total);
  const auto [begin, end] = block_range(out.n_users_total, comm.rank(), comm.size());
  out.first_user = begin;
  for (const auto& p : parts) {
    const std::int64_t lo = std::max(begin, p.first), hi = std::min(end, p.first + p.count);
    if (lo >= hi) continue;
    h5::File f(p.path, h5::File::Mode::read);
    const auto ids = f.read_rows<std::int64_t>("/user_id", static_cast<std::uint64_t>(lo - p.first),
                                               static_cast<std::uint64_t>(hi - p.first));
    const auto vec = f.read_rows<float>("/vectors", static_cast<std::uint64_t>(lo - p.first),
                                        static_cast<std::uint64_t>(hi - p.first));
    out.user_ids.insert(out.user_ids.end(), ids.begin(), ids.end());
    out.vectors.insert(out.vectors.end(), vec.begin(), vec.end());
  }
  return out;
}

}  // namespace personas
