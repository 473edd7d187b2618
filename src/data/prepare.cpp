#include "data/prepare.h"

#include <chrono>

#include "core/errors.h"
#include "core/log.h"
#include "core/strings.h"
#include "data/dataset_io.h"
#include "data/loaders.h"
#include "data/selection.h"
#include "data/synthetic.h"

namespace personas {

void prepare_stage(const DataConfig& config, std::int64_t seed, const RunDir& run, Comm& comm,
                   const std::string& config_hash) {
  const auto start = std::chrono::steady_clock::now();
  const auto useed = static_cast<std::uint64_t>(seed);
  if (config.source == DataSource::synthetic) {
    synthesize_dataset(config, useed, run, comm);
  } else {
    BadRows bad_rows(config.on_bad_row == BadRowPolicy::skip);
    Ratings ratings = load_ratings(config, bad_rows);
    bad_rows.warn_summary();
    plog::info("prepare: {} ratings, {} users, {} items from {} '{}'{}", ratings.n_ratings(), ratings.users.size(),
               ratings.items.size(), to_string(config.source), config.path,
               ratings.has_timestamps ? "" : " (no timestamps: each user's order is a seeded random permutation)");
    Dataset whole = select_and_split(ratings, config, useed);
    std::int64_t n_train = 0;
    for (const User& u : whole.users) n_train += u.n_train;
    plog::info("prepare: selected {} users ({}..{} ratings, seed {}), {} interactions ({} training)",
               whole.n_users_total, config.min_ratings, config.max_ratings, seed, whole.interactions.size(), n_train);
    Dataset block = take_block(whole, comm.rank(), comm.size());
    write_dataset(run, block, comm);
  }
  mark_prepare_done(run, config_hash, comm);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  plog::info("prepare: wrote {} in {:.2f} s", run.stage_dir(kPrepareStage).string(), seconds);
}

}  // namespace personas
