#include "data/synthetic.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

#include "comm/sharding.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/progress.h"
#include "data/dataset_io.h"
#include "data/rng.h"
#include "data/selection.h"
#include "data/shard_writer.h"
#include "io/hdf5_file.h"

namespace personas {

namespace {

const std::vector<std::string> kGenres = {"Action",  "Adventure", "Animation", "Children's", "Comedy",  "Crime",
                                          "Documentary", "Drama", "Fantasy",   "Film-Noir",  "Horror",  "Musical",
                                          "Mystery", "Romance",   "Sci-Fi",    "Thriller",   "War",     "Western"};
// Share of MovieLens-100K movies in each genre (rounded).
const std::array<double, 18> kGenreShare = {0.15, 0.08, 0.02, 0.07, 0.30, 0.06, 0.03, 0.43, 0.01,
                                            0.01, 0.05, 0.03, 0.04, 0.15, 0.06, 0.15, 0.04, 0.02};
const std::array<const char*, 32> kAdjectives = {
    "Silent", "Crimson", "Last", "Hidden", "Broken", "Golden", "Midnight", "Lost", "Wild", "Frozen", "Secret",
    "Burning", "Quiet", "Distant", "Electric", "Savage", "Gentle", "Iron", "Bitter", "Hollow", "Velvet", "Shadow",
    "Northern", "Endless", "Lucky", "Restless", "Painted", "Forgotten", "Brave", "Strange", "Little", "Final"};
const std::array<const char*, 32> kNouns = {
    "River", "Summer", "Empire", "Garden", "Highway", "Harbor", "Kingdom", "Letter", "Promise", "Mountain",
    "Station", "Dream", "Frontier", "Island", "Mirror", "Voyage", "Detective", "Orchestra", "Planet", "Winter",
    "Stranger", "Ballad", "Horizon", "Circus", "Machine", "Prophecy", "Border", "Witness", "Carnival", "Desert",
    "Signal", "Heart"};
const std::array<int, 7> kAges = {1, 18, 25, 35, 45, 50, 56};
const std::array<double, 7> kAgeShare = {0.04, 0.18, 0.35, 0.20, 0.09, 0.08, 0.06};
const std::array<const char*, 21> kOccupations = {
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer", "programmer",
    "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
    "unemployed", "writer"};

// Cut points of the ordinal rating model on a unit-variance latent score,
// placed so that the ratings follow MovieLens-100K's cumulative histogram
// (6%, 18%, 45%, 79%) before the taste-driven choice of items shifts it.
constexpr std::array<double, 4> kCuts = {-1.546, -0.935, -0.133, 0.800};
constexpr double kUserBiasSd = 0.45, kItemBiasSd = 0.45, kTasteWeight = 0.55, kTasteNoise = 0.35;
constexpr double kChoiceBeta = 0.8;  // how strongly taste steers which items a user rates
constexpr std::int64_t kEpoch = 880000000;  // late 1997, like MovieLens-100K

// Walker's alias table: O(1) draws from a fixed discrete distribution.
struct AliasTable {
  std::vector<double> prob;
  std::vector<std::int32_t> alias;
  explicit AliasTable(const std::vector<double>& weights) {
    const std::size_t n = weights.size();
    prob.assign(n, 0.0);
    alias.assign(n, 0);
    const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
    std::vector<double> scaled(n);
    std::vector<std::int32_t> small, large;
    for (std::size_t i = 0; i < n; ++i) {
      scaled[i] = weights[i] * static_cast<double>(n) / total;
      (scaled[i] < 1.0 ? small : large).push_back(static_cast<std::int32_t>(i));
    }
    while (!small.empty() && !large.empty()) {
      auto s = small.back(), l = large.back();
      small.pop_back();
      prob[s] = scaled[s];
      alias[s] = l;
      scaled[l] -= 1.0 - scaled[s];
      if (scaled[l] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
    for (auto l : large) prob[l] = 1.0;
    for (auto s : small) prob[s] = 1.0;
  }
  std::int32_t draw(Rng& rng) const {
    auto i = static_cast<std::size_t>(rng.below(prob.size()));
    return rng.uniform() < prob[i] ? static_cast<std::int32_t>(i) : alias[i];
  }
};

template <std::size_t N>
std::size_t draw_share(Rng& rng, const std::array<double, N>& share) {
  double u = rng.uniform() * std::accumulate(share.begin(), share.end(), 0.0);
  for (std::size_t i = 0; i < N; ++i) {
    if ((u -= share[i]) < 0) return i;
  }
  return N - 1;
}

}  // namespace

SynthModel make_synth_model(const DataConfig& config, std::uint64_t seed) {
  SynthModel m;
  m.genre_names = kGenres;
  const std::size_t n_genres = kGenres.size();
  Rng rng(derive_seed(seed, "synth.items"));
  const std::size_t n_titles = kAdjectives.size() * kNouns.size();
  for (int i = 0; i < config.synth_items; ++i) {
    Item item;
    item.id = i + 1;
    const auto t = static_cast<std::size_t>(i) % n_titles;
    // A stride co-prime with 1024 spreads consecutive ids over the title space.
    const auto mixed = (t * 397) % n_titles;
    item.title = fmt::format("The {} {}", kAdjectives[mixed / kNouns.size()], kNouns[mixed % kNouns.size()]);
    if (static_cast<std::size_t>(i) >= n_titles) item.title += fmt::format(" {}", i / n_titles + 1);
    item.year = std::max(1920, 1998 - static_cast<int>(rng.exponential(12.0)));
    for (std::size_t g = 0; g < n_genres; ++g)
      if (rng.uniform() < kGenreShare[g] * 0.85) item.genres |= 1u << g;
    if (item.genres == 0) item.genres = 1u << (rng.uniform() < 0.6 ? 7 : 4);  // Drama or Comedy
    m.items.push_back(std::move(item));
    m.item_bias.push_back(static_cast<float>(kItemBiasSd * rng.normal()));
  }
  Rng prng(derive_seed(seed, "synth.personas"));
  double total = 0;
  for (int k = 0; k < config.synth_personas; ++k) {
    std::vector<float> taste(n_genres);
    for (auto& t : taste) t = static_cast<float>(prng.normal());
    m.persona_taste.push_back(std::move(taste));
    m.persona_share.push_back(std::exp(0.4 * prng.normal()));
    total += m.persona_share.back();
  }
  for (auto& s : m.persona_share) s /= total;
  return m;
}

struct SynthGenerator::Impl {
  const SynthModel& model;
  const DataConfig& config;
  std::uint64_t seed;
  std::vector<double> popularity;                      // per item
  std::vector<std::array<std::int8_t, 4>> item_genres;  // up to 4 genre indices, -1 padded
  std::vector<float> item_norm;                        // 1/sqrt(#genres)
  std::vector<AliasTable> choice;                      // per persona
  AliasTable persona_table;
  std::vector<std::uint32_t> seen;                     // stamp per item: picked by the current user
  std::uint32_t stamp = 0;
  int lo, hi;

  Impl(const SynthModel& m, const DataConfig& c, std::uint64_t s)
      : model(m), config(c), seed(s), persona_table(m.persona_share) {
    const std::size_t n_items = m.items.size();
    Rng rng(derive_seed(seed, "synth.popularity"));
    for (std::size_t i = 0; i < n_items; ++i)
      popularity.push_back(std::exp(1.2 * rng.normal() + 0.5 * m.item_bias[i] / kItemBiasSd));
    for (const Item& item : m.items) {
      std::array<std::int8_t, 4> g{-1, -1, -1, -1};
      int n = 0;
      for (int b = 0; b < 32 && n < 4; ++b)
        if (item.genres & (1u << b)) g[static_cast<std::size_t>(n++)] = static_cast<std::int8_t>(b);
      item_genres.push_back(g);
      item_norm.push_back(static_cast<float>(1.0 / std::sqrt(std::max(1, n))));
    }
    for (const auto& taste : m.persona_taste) {
      std::vector<double> w(n_items);
      for (std::size_t i = 0; i < n_items; ++i) w[i] = popularity[i] * std::exp(kChoiceBeta * affinity(taste.data(), i));
      choice.emplace_back(w);
    }
    seen.assign(n_items, 0);
    lo = config.min_ratings;
    const int cap = static_cast<int>(n_items) - 1;
    hi = config.max_ratings > 0 ? config.max_ratings : std::max(lo, std::min(cap, 20 * lo));
    hi = std::min(hi, cap);
    lo = std::min(lo, hi);
  }

  double affinity(const float* taste, std::size_t item) const {
    double sum = 0;
    for (auto g : item_genres[item]) {
      if (g < 0) break;
      sum += taste[static_cast<std::size_t>(g)];
    }
    return sum * item_norm[item];
  }

  // Truncated Pareto on [lo, hi]: many light users, a few heavy ones.
  int activity(Rng& rng) const {
    if (hi <= lo) return lo;
    const double a = config.synth_activity_tail;
    const double ratio = std::pow(static_cast<double>(lo) / hi, a);
    const double x = lo * std::pow(1.0 - rng.uniform() * (1.0 - ratio), -1.0 / a);
    return std::clamp(static_cast<int>(x), lo, hi);
  }

  void user(std::int64_t index, std::vector<User>& users, std::vector<Interaction>& out) {
    Rng rng(derive_seed(seed, "synth.user", static_cast<std::uint64_t>(index)));
    User u;
    u.id = index + 1;
    u.true_persona = persona_table.draw(rng);
    const auto& base = model.persona_taste[static_cast<std::size_t>(u.true_persona)];
    std::array<float, 32> taste{};
    for (std::size_t g = 0; g < base.size(); ++g) taste[g] = static_cast<float>(base[g] + kTasteNoise * rng.normal());
    const double bias = kUserBiasSd * rng.normal();
    u.age = kAges[draw_share(rng, kAgeShare)];
    // Persona-dependent gender mix (between 15% and 50% women) keeps demographics informative.
    const double women = 0.15 + 0.35 * ((u.true_persona * 37) % 11) / 10.0;
    u.gender = rng.uniform() < women ? 'F' : 'M';
    u.occupation = kOccupations[rng.below(kOccupations.size())];
    const int n = activity(rng);

    // Items: by popularity x persona taste, without repeats.
    const auto& table = choice[static_cast<std::size_t>(u.true_persona)];
    if (++stamp == 0) {
      std::fill(seen.begin(), seen.end(), 0);
      stamp = 1;
    }
    const std::size_t n_items = model.items.size();
    const auto first = out.size();
    std::int64_t attempts = 0;
    while (static_cast<int>(out.size() - first) < n) {
      std::int32_t item;
      if (++attempts < 50LL * n) {
        item = table.draw(rng);
      } else {  // a user rating most of the catalogue: take the next unseen item
        item = static_cast<std::int32_t>(rng.below(n_items));
        while (seen[static_cast<std::size_t>(item)] == stamp) item = static_cast<std::int32_t>((item + 1) % n_items);
      }
      if (seen[static_cast<std::size_t>(item)] == stamp) continue;
      seen[static_cast<std::size_t>(item)] = stamp;
      out.push_back(Interaction{item, 0.0f, 0});
    }
    // Ratings: ordinal model on a unit-variance latent score.
    const double noise = config.synth_noise;
    const double taste_scale = kTasteWeight / std::sqrt(1.0 + kTasteNoise * kTasteNoise);
    const double spread = std::sqrt(kUserBiasSd * kUserBiasSd + kItemBiasSd * kItemBiasSd +
                                    kTasteWeight * kTasteWeight + noise * noise);
    // Timestamps: sessions of a few minutes between ratings, days between sessions.
    double t = static_cast<double>(kEpoch) + rng.uniform() * 3.0 * 365 * 86400;
    for (auto j = first; j < out.size(); ++j) {
      const auto item = static_cast<std::size_t>(out[j].item);
      const double score =
          (bias + model.item_bias[item] + taste_scale * affinity(taste.data(), item) + noise * rng.normal()) / spread;
      int rating = 1;
      for (double cut : kCuts) rating += score > cut;
      out[j].rating = static_cast<float>(rating);
      t += 1.0 + (rng.uniform() < 0.9 ? rng.exponential(300.0) : rng.exponential(5.0 * 86400));
      out[j].timestamp = static_cast<std::int64_t>(t);
    }
    u.first = static_cast<std::int64_t>(first);
    u.n_train = train_count(n, config.train_fraction);
    u.n_test = n - u.n_train;
    users.push_back(std::move(u));
  }
};

SynthGenerator::SynthGenerator(const SynthModel& model, const DataConfig& config, std::uint64_t seed)
    : impl_(new Impl(model, config, seed)) {}
SynthGenerator::~SynthGenerator() { delete impl_; }

void SynthGenerator::generate(std::int64_t begin, std::int64_t end, std::vector<User>& users,
                              std::vector<Interaction>& interactions) {
  for (auto i = begin; i < end; ++i) impl_->user(i, users, interactions);
}

void synthesize_dataset(const DataConfig& config, std::uint64_t seed, const RunDir& run, Comm& comm) {
  PERSONAS_CHECK(config.n_users >= 1, config, "data.n_users: synthetic data needs at least one user");
  SynthModel model = make_synth_model(config, seed);
  SynthGenerator generator(model, config, seed);
  const std::int64_t n_total = config.n_users;
  auto [begin, end] = block_range(n_total, comm.rank(), comm.size());
  plog::info("synth: {} users with {} planted personas over {} items; this rank makes users [{}, {})", n_total,
             config.synth_personas, config.synth_items, begin, end);

  begin_dataset_write(run, comm);
  UserShardWriter writer(users_file_path(run, comm.rank()), begin, comm.rank(), comm.size());
  std::vector<double> train_sum(model.items.size(), 0.0);  // sums of integers: exact in any order
  std::vector<std::int64_t> train_n(model.items.size(), 0);
  std::vector<User> users;
  std::vector<Interaction> rows;
  Progress progress("synth users (rank 0's block)", end - begin, "users");
  for (auto chunk = begin; chunk < end; chunk += config.synth_chunk_users) {
    const auto chunk_end = std::min<std::int64_t>(end, chunk + config.synth_chunk_users);
    users.clear();
    rows.clear();
    generator.generate(chunk, chunk_end, users, rows);
    for (const User& u : users) {
      for (const auto& x : std::span<const Interaction>(rows.data() + u.first, static_cast<std::size_t>(u.n_train))) {
        train_sum[static_cast<std::size_t>(x.item)] += x.rating;
        ++train_n[static_cast<std::size_t>(x.item)];
      }
    }
    writer.append(users, rows);
    progress.advance(chunk_end - chunk);
  }
  progress.finish();
  writer.finish();

  comm.allreduce(train_sum, ReduceOp::sum);
  comm.allreduce(train_n, ReduceOp::sum);
  Dataset items_only;
  items_only.source = "synthetic";
  items_only.genre_names = model.genre_names;
  items_only.items = model.items;
  items_only.n_users_total = n_total;
  for (std::size_t i = 0; i < items_only.items.size(); ++i) {
    items_only.items[i].train_count = static_cast<std::int32_t>(train_n[i]);
    items_only.items[i].train_mean = train_n[i] ? train_sum[i] / static_cast<double>(train_n[i]) : 0.0;
  }
  finish_dataset_write(run, comm, items_only, begin, writer.n_users(), writer.n_interactions(), [&](h5::File& f) {
    const std::size_t k = model.persona_taste.size(), g = model.genre_names.size();
    std::vector<float> taste;
    for (const auto& row : model.persona_taste) taste.insert(taste.end(), row.begin(), row.end());
    f.write<float>("/synthetic/persona_taste", taste, {k, g});
    f.write("/synthetic/persona_share", model.persona_share);
    f.write("/synthetic/item_bias", model.item_bias);
    f.set_attr("/synthetic", "seed", static_cast<std::int64_t>(seed));
  });
}

}  // namespace personas
