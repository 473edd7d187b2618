// Synthetic MovieLens-like users with planted personas (docs/data.md).
//
// The model, all drawn from the run seed:
//  * items: 1..3 of the 18 MovieLens genres (with MovieLens-like frequencies),
//    a year, a made-up title, a quality bias and a log-normal popularity;
//  * K personas: a taste vector over genres and a share of the users;
//  * user u (its own random stream from (seed, u), so the data do not depend
//    on which rank makes them): a persona, its taste plus personal noise, a
//    bias, demographics, a heavy-tailed number of ratings in
//    [min_ratings, max_ratings]; items are picked by popularity times taste,
//    rated by an ordinal model calibrated to the MovieLens histogram, at
//    increasing timestamps (sessions of minutes, gaps of days).
// Generation streams over chunks of users and writes as it goes, so a rank
// holds at most data.synth_chunk_users users at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "comm/comm.h"
#include "core/run_dir.h"
#include "data/data_config.h"
#include "data/dataset.h"

namespace personas {

struct SynthModel {
  std::vector<std::string> genre_names;
  std::vector<Item> items;                    // statistics not filled
  std::vector<float> item_bias;               // per item
  std::vector<std::vector<float>> persona_taste;  // [persona][genre]
  std::vector<double> persona_share;          // sums to 1
};

// The global part of the model (identical on every rank).
SynthModel make_synth_model(const DataConfig& config, std::uint64_t seed);

// Generates users [begin, end) of the selection; appends to `users` and
// `interactions` (User::first relative to `interactions`), split by
// config.train_fraction.
class SynthGenerator {
 public:
  SynthGenerator(const SynthModel& model, const DataConfig& config, std::uint64_t seed);
  ~SynthGenerator();
  void generate(std::int64_t begin, std::int64_t end, std::vector<User>& users,
                std::vector<Interaction>& interactions);

 private:
  struct Impl;
  Impl* impl_;
};

// Collective: generates config.n_users users sharded in blocks over the ranks
// and writes RUN/prepare/ (items.h5 with global training statistics and the
// personas' tastes, users-rank-*.h5). Does not write DONE.
void synthesize_dataset(const DataConfig& config, std::uint64_t seed, const RunDir& run, Comm& comm);

}  // namespace personas
