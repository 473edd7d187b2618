// The offline provider: deterministic profiles and notes written from
// rating statistics, with no network. It is what the quickstart and CI use,
// so its text carries what an agent needs: liked and disliked genres with
// their average stars, the average rating and its offset from other viewers,
// the three traits, era preferences, favourite and least favourite movies,
// and one note per item giving the rating and a reason tied to those tastes.
#pragma once

#include "data/dataset.h"
#include "distill/memories.h"
#include "distill/user_stats.h"

namespace personas {

inline constexpr const char* kOfflineWriterVersion = "offline-v1";

UserMemory write_offline_memory(const Dataset& data, const User& user, const UserStats& stats);

// The "because ..." part of an offline note (exposed for tests).
std::string offline_reason(const Dataset& data, const Item& item, float rating, const UserStats& stats);

}  // namespace personas
