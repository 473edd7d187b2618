// Moves samples from the rank that built them (the owner of the user's data
// block) to every rank of the group that trains the sample's adapter, with
// one alltoallv. Every receiver sorts them into the canonical order (user
// id, then time position), so the result does not depend on how many ranks
// built them.
#pragma once

#include <vector>

#include "comm/comm.h"
#include "train/persona_groups.h"
#include "train/samples.h"

namespace personas {

// adapter_of[i] = adapter of samples[i]. Returns, per adapter this rank
// trains (plan.group_for_rank(world.rank()).adapters, same order), its samples.
std::vector<std::vector<Sample>> exchange_samples(const std::vector<Sample>& samples, const std::vector<int>& adapter_of,
                                                  const GroupPlan& plan, Comm& world);

// Byte encoding of samples (for the exchange; exposed for tests).
void append_sample(std::vector<std::byte>& out, const Sample& s, int adapter);
std::vector<std::pair<int, Sample>> parse_samples(const std::vector<std::byte>& bytes);

}  // namespace personas
