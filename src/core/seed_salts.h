// Every salt that turns run.seed (or a seed derived from it) into one stream
// of random numbers, in one place, so that no two streams share a salt by
// accident and none changes unnoticed. A salt's value is part of every result
// downstream of it (adapters, sample order, personas, made models): add new
// salts, never edit one. The values are the ones the code used before the
// registry, so earlier runs reproduce.
//
// Streams keyed by a text tag instead (data/rng.h's derive_seed: "synth.*",
// "data.select", "data.order", "tokenizer-sample") and k-means++'s purposes
// (cluster/kmeans_init.cpp's Purpose) are named where they are used.
#pragma once

#include <cstdint>

namespace personas::seed_salt {

// train: adapter a's initialisation and dropout: hash_chain(train seed, a, kAdapter).
inline constexpr std::uint64_t kAdapter = 0xADA;
// train: the train seed when train.seed is 0 (unset): hash_chain(run.seed, kTrainSeed, 0).
inline constexpr std::uint64_t kTrainSeed = 0x7EA1;
// train: the sample order of epoch e: hash_chain(seed, e, kBatchOrder).
inline constexpr std::uint64_t kBatchOrder = 0xBA7C4;
// model: LoRA dropout masks: hash_chain(adapter seed ^ kLoraDropout, step, layer * kLoraDropoutSlots + target).
inline constexpr std::uint64_t kLoraDropout = 0x5eed;
inline constexpr std::uint64_t kLoraDropoutSlots = 16;  // target slots per layer (>= kLoraTargetCount)
// cluster: the stage's k-means seed, hash_chain(run.seed, kCluster, 0) ("clus" in ASCII).
inline constexpr std::uint64_t kCluster = 0x636C7573;
// cluster: which users' profiles describe a persona ("desc").
inline constexpr std::uint64_t kDescribe = 0x64657363;
// cluster: the seed of k-means restart r > 0 ("redo").
inline constexpr std::uint64_t kRestart = 0x7265646F;

// model stage: the random base's weights, run.seed * kModelWeightsMul + kModelWeightsAdd.
inline constexpr std::uint64_t kModelWeightsMul = 7919;
inline constexpr std::uint64_t kModelWeightsAdd = 17;
// distill: rank r's retry jitter, seed * kJitterMul + r.
inline constexpr std::uint64_t kJitterMul = 1000003;

}  // namespace personas::seed_salt
