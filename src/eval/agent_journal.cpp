#include "eval/agent_journal.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/errors.h"
#include "core/log.h"

namespace personas {

namespace {

nlohmann::json rating_line(const AgentRating& r, const Dataset& data) {
  return {{"user", r.user_id},
          {"item", data.items[static_cast<std::size_t>(r.item)].id},
          {"truth", r.truth},
          {"predicted", r.predicted},
          {"argmax", r.argmax},
          {"unrelated", r.unrelated},
          {"adapter", r.adapter},
          {"probs", r.probs},
          {"text", r.text}};
}

// Files of this journal: <stem>-rank-N.jsonl; of the predictor: <predictor>-*-rank-N.jsonl.
bool has_prefix_and_suffix(const std::string& name, const std::string& prefix, const std::string& suffix) {
  return name.size() >= prefix.size() + suffix.size() && name.starts_with(prefix) && name.ends_with(suffix);
}

void write_all_synced(const fs::path& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  PERSONAS_CHECK(fd >= 0, io, "agents: cannot open {} for appending: {}", path.string(), std::strerror(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      PERSONAS_FAIL(io, "agents: writing {} failed: {}", path.string(), std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  const int synced = ::fsync(fd);
  ::close(fd);
  PERSONAS_CHECK(synced == 0, io, "agents: fsync of {} failed", path.string());
}

// A write torn by kill -9 leaves a last line without its newline; appending
// after it would glue the next line to it, so it is cut off first.
void drop_torn_tail(const fs::path& path) {
  if (!fs::exists(path)) return;
  const std::string bytes = read_file(path);
  if (bytes.empty() || bytes.back() == '\n') return;
  const auto last_newline = bytes.rfind('\n');
  fs::resize_file(path, last_newline == std::string::npos ? 0 : last_newline + 1);
}

}  // namespace

AgentJournal::AgentJournal(const fs::path& run_dir, const std::string& predictor, const std::string& key, Comm& comm)
    : dir_(run_dir / "eval" / "agents"), stem_(predictor + "-" + key) {
  path_ = dir_ / rank_file_name(stem_, comm.rank(), "jsonl");
  if (comm.is_root()) {
    fs::create_directories(dir_);
    for (const auto& entry : fs::directory_iterator(dir_)) {
      const auto name = entry.path().filename().string();
      if (has_prefix_and_suffix(name, predictor + "-", ".jsonl") && !has_prefix_and_suffix(name, stem_ + "-rank-", ".jsonl")) {
        plog::info("agents '{}': {} is from another configuration or base, removed", predictor, name);
        fs::remove(entry.path());
      }
    }
  }
  comm.barrier();
  drop_torn_tail(path_);
}

std::unordered_map<std::int64_t, std::vector<AgentRating>> AgentJournal::finished(const Dataset& data) const {
  std::unordered_map<std::int64_t, std::int32_t> user_of;
  for (std::size_t u = 0; u < data.users.size(); ++u) user_of[data.users[u].id] = static_cast<std::int32_t>(u);
  std::unordered_map<std::int64_t, std::int32_t> item_of;
  for (std::size_t i = 0; i < data.items.size(); ++i) item_of[data.items[i].id] = static_cast<std::int32_t>(i);

  std::unordered_map<std::int64_t, std::vector<AgentRating>> pending, done;
  if (!fs::exists(dir_)) return done;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    const auto name = entry.path().filename().string();
    if (!has_prefix_and_suffix(name, stem_ + "-rank-", ".jsonl")) continue;
    std::istringstream in(read_file(entry.path()));
    std::string line;
    std::int64_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      // A torn last write (kill -9) ends without a newline: it is skipped, and
      // its users have no closing line, so their ratings are dropped below.
      if (in.eof()) break;
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      PERSONAS_CHECK(j.is_object(), data, "{}:{}: not a JSON object", entry.path().string(), line_no);
      if (j.contains("done")) {
        PERSONAS_CHECK(j["done"].is_number_integer() && (!j.contains("n") || j["n"].is_number_unsigned()), data,
                       "{}:{}: a user's closing line needs integer 'done' and 'n'", entry.path().string(), line_no);
        const auto id = j["done"].get<std::int64_t>();
        auto it = pending.find(id);
        const std::size_t n = it == pending.end() ? 0 : it->second.size();
        PERSONAS_CHECK(n == j.value("n", std::size_t{0}), data, "{}:{}: user {} closes with n={} after {} ratings",
                       entry.path().string(), line_no, id, j.value("n", 0), n);
        if (user_of.count(id)) done[id] = std::move(pending[id]);
        pending.erase(id);
        continue;
      }
      AgentRating r;
      try {
        r.user_id = j.at("user").get<std::int64_t>();
        const auto uit = user_of.find(r.user_id);
        const auto iit = item_of.find(j.at("item").get<std::int64_t>());
        PERSONAS_CHECK(iit != item_of.end(), data, "{}:{}: unknown item {}", entry.path().string(), line_no,
                       j.at("item").dump());
        r.user = uit == user_of.end() ? -1 : uit->second;
        r.item = iit->second;
        r.truth = j.at("truth").get<float>();
        r.predicted = j.at("predicted").get<double>();
        r.argmax = j.at("argmax").get<int>();
        r.unrelated = j.at("unrelated").get<bool>();
        r.adapter = j.at("adapter").get<int>();
        r.probs = j.at("probs").get<std::array<float, 5>>();
        r.text = j.at("text").get<std::string>();
      } catch (const nlohmann::json::exception& e) {  // a missing field, or one of the wrong type
        PERSONAS_FAIL(data, "{}:{}: not an agent rating ({}); delete the file to rate its users again",
                      entry.path().string(), line_no, e.what());
      }
      pending[r.user_id].push_back(std::move(r));
    }
  }
  return done;
}

void AgentJournal::append(const std::vector<AgentRating>& ratings, const Dataset& data) const {
  std::string bytes;
  std::size_t begin = 0;
  while (begin < ratings.size()) {
    std::size_t end = begin;
    while (end < ratings.size() && ratings[end].user_id == ratings[begin].user_id) {
      bytes += rating_line(ratings[end], data).dump() + "\n";
      ++end;
    }
    bytes += nlohmann::json({{"done", ratings[begin].user_id}, {"n", end - begin}}).dump() + "\n";
    begin = end;
  }
  if (!bytes.empty()) write_all_synced(path_, bytes);
}

}  // namespace personas
