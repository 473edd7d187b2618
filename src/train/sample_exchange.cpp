#include "train/sample_exchange.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "core/errors.h"

namespace personas {

namespace {

template <class T>
void put(std::vector<std::byte>& out, const T& v) {
  const auto* p = reinterpret_cast<const std::byte*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

template <class T>
T get(const std::vector<std::byte>& in, std::size_t& at) {
  PERSONAS_ASSERT(at + sizeof(T) <= in.size(), "sample exchange: truncated message ({} of {} bytes)", at, in.size());
  T v;
  std::memcpy(&v, in.data() + at, sizeof(T));
  at += sizeof(T);
  return v;
}

}  // namespace

void append_sample(std::vector<std::byte>& out, const Sample& s, int adapter) {
  put<std::int32_t>(out, adapter);
  put(out, s.user);
  put(out, s.user_id);
  put(out, s.item);
  put(out, s.position);
  put(out, s.rating);
  put<std::uint8_t>(out, static_cast<std::uint8_t>((s.validation ? 1 : 0) | (s.shortened ? 2 : 0)));
  put<std::int32_t>(out, s.answer_begin);
  put<std::int32_t>(out, static_cast<std::int32_t>(s.ids.size()));
  const auto* p = reinterpret_cast<const std::byte*>(s.ids.data());
  out.insert(out.end(), p, p + s.ids.size() * sizeof(std::int32_t));
}

std::vector<std::pair<int, Sample>> parse_samples(const std::vector<std::byte>& in) {
  std::vector<std::pair<int, Sample>> out;
  std::size_t at = 0;
  while (at < in.size()) {
    Sample s;
    const int adapter = get<std::int32_t>(in, at);
    s.user = get<std::int32_t>(in, at);
    s.user_id = get<std::int64_t>(in, at);
    s.item = get<std::int32_t>(in, at);
    s.position = get<std::int32_t>(in, at);
    s.rating = get<float>(in, at);
    const auto flags = get<std::uint8_t>(in, at);
    s.validation = flags & 1;
    s.shortened = flags & 2;
    s.answer_begin = get<std::int32_t>(in, at);
    const auto n = get<std::int32_t>(in, at);
    PERSONAS_ASSERT(n >= 0 && at + static_cast<std::size_t>(n) * 4 <= in.size(), "sample exchange: bad length {}", n);
    s.ids.resize(static_cast<std::size_t>(n));
    std::memcpy(s.ids.data(), in.data() + at, static_cast<std::size_t>(n) * 4);
    at += static_cast<std::size_t>(n) * 4;
    out.emplace_back(adapter, std::move(s));
  }
  return out;
}

std::vector<std::vector<Sample>> exchange_samples(const std::vector<Sample>& samples, const std::vector<int>& adapter_of,
                                                  const GroupPlan& plan, Comm& world) {
  PERSONAS_ASSERT(samples.size() == adapter_of.size(), "{} samples, {} adapters", samples.size(), adapter_of.size());
  std::vector<std::vector<std::byte>> send(static_cast<std::size_t>(world.size()));
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto& g = plan.groups[static_cast<std::size_t>(plan.group_of_adapter[static_cast<std::size_t>(adapter_of[i])])];
    for (int r = g.first_rank; r < g.first_rank + g.n_ranks; ++r)
      append_sample(send[static_cast<std::size_t>(r)], samples[i], adapter_of[i]);
  }
  const auto received = world.alltoallv(send);
  const auto& mine = plan.group_for_rank(world.rank()).adapters;
  std::map<int, std::size_t> slot;
  for (std::size_t i = 0; i < mine.size(); ++i) slot[mine[i]] = i;
  std::vector<std::vector<Sample>> out(mine.size());
  for (const auto& bytes : received)
    for (auto& [adapter, s] : parse_samples(bytes)) {
      auto it = slot.find(adapter);
      PERSONAS_ASSERT(it != slot.end(), "rank {} received a sample of adapter {} it does not train", world.rank(), adapter);
      out[it->second].push_back(std::move(s));
    }
  for (auto& v : out)
    std::sort(v.begin(), v.end(), [](const Sample& a, const Sample& b) {
      return a.user_id != b.user_id ? a.user_id < b.user_id : a.position < b.position;
    });
  return out;
}

}  // namespace personas
