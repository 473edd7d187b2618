#include "cluster/cluster_stage.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "cluster/choose_k.h"
#include "cluster/cluster_metrics.h"
#include "cluster/kmeans_assign_step.h"
#include "cluster/kmeans_init.h"
#include "cluster/persona_description.h"
#include "core/errors.h"
#include "core/log.h"
#include "data/dataset_io.h"
#include "distill/memories.h"
#include "embed/embed_stage.h"
#include "embed/embedding_store.h"
#include "io/hdf5_file.h"
#include "core/hash.h"
#include "core/seed_salts.h"

namespace personas {
namespace {

std::string jsonl_of(const std::vector<nlohmann::json>& rows) {
  std::string text;
  for (const auto& r : rows) text += r.dump() + "\n";
  return text;
}

struct PlantedAgreement {
  double ari = 0;
  int planted_k = 0;
};

// When every user of the data set carries its planted persona (synthetic data),
// the adjusted Rand index of the clustering against it (collective; all ranks
// get the value). Real data sets have none: nullopt.
std::optional<PlantedAgreement> agreement_with_planted(Comm& comm, const Dataset& ds,
                                                       const std::vector<std::int32_t>& labels) {
  std::vector<std::byte> send(ds.users.size() * 8);
  for (std::size_t i = 0; i < ds.users.size(); ++i) {
    std::memcpy(send.data() + i * 8, &ds.users[i].true_persona, 4);
    std::memcpy(send.data() + i * 8 + 4, &labels[i], 4);
  }
  std::vector<std::int32_t> truth, found;
  for (const auto& part : comm.allgatherv(send))
    for (std::size_t at = 0; at + 8 <= part.size(); at += 8) {
      std::int32_t t = 0, f = 0;
      std::memcpy(&t, part.data() + at, 4);
      std::memcpy(&f, part.data() + at + 4, 4);
      if (t < 0) return std::nullopt;
      truth.push_back(t);
      found.push_back(f);
    }
  if (truth.empty()) return std::nullopt;
  return PlantedAgreement{adjusted_rand_index(found, truth), *std::max_element(truth.begin(), truth.end()) + 1};
}

}  // namespace

void cluster_stage(const ClusterConfig& cluster, const RunConfig& run_config, const RunDir& run, Comm& comm,
                   const std::string& config_hash) {
  if (comm.is_root()) run.clear_done("cluster");
  const UserVectors v = load_profile_vectors(run, comm);
  const auto n_local = static_cast<std::int64_t>(v.user_ids.size());
  plog::info("cluster: {} users x {} dims ({} features from {}) over {} rank(s)", v.n_users_total, v.dim, v.features,
             v.embedder, comm.size());
  KMeansAssignStep step = make_kmeans_assign_step(run_config.backend, comm.local_rank());
  KMeansAssignFn assign = step.assign;
  ClusterConfig cc = cluster;
  const std::uint64_t seed = hash_chain(static_cast<std::uint64_t>(run_config.seed), seed_salt::kCluster, 0);
  ClusterChoice choice =
      cluster_with_k_choice(comm, v.vectors.data(), n_local, v.dim, v.first_user, cc, seed, assign, step.in_threads);
  const KMeansResult& r = choice.result;

  // Descriptions need the data set (genres) and, when present, the profiles (words).
  std::vector<PersonaDescription> descriptions;
  std::optional<PlantedAgreement> planted;  // synthetic data: agreement with the planted personas
  if (fs::exists(run.stage_dir("prepare"))) {
    const Dataset ds = load_dataset(run, comm);
    PERSONAS_CHECK_HINT(ds.first_user == v.first_user && ds.users.size() == v.user_ids.size(), data,
                        "redo `personas embed` for this data set", "RUN/embed vectors ({} users from {}) do not match "
                        "RUN/prepare ({} users from {})", v.user_ids.size(), v.first_user, ds.users.size(), ds.first_user);
    std::vector<std::string> texts(ds.users.size());
    if (fs::exists(run.stage_dir("distill"))) {
      // A seeded sample by selection index (the same users for any rank count).
      const std::int64_t n_total = ds.n_users_total, sample = cc.describe_sample;
      auto keep = [&](std::int64_t index) {
        return sample == 0 || n_total <= sample ||
               hash_chain(seed, seed_salt::kDescribe, static_cast<std::uint64_t>(index)) % static_cast<std::uint64_t>(n_total) <
                   static_cast<std::uint64_t>(sample);
      };
      std::unordered_map<std::int64_t, std::string> by_id;
      for (const auto& m : load_memories(run, comm, keep)) by_id[m.user_id] = profile_text(m);
      for (std::size_t i = 0; i < ds.users.size(); ++i) {
        const auto it = by_id.find(ds.users[i].id);
        if (it != by_id.end()) texts[i] = it->second;
      }
    }
    descriptions = describe_personas(comm, ds, r.labels, texts, r.k, cc.describe_top);
    planted = agreement_with_planted(comm, ds, r.labels);
    if (planted)
      plog::info("cluster: adjusted Rand index {:.3f} against the {} planted personas of the synthetic data "
                 "(1 = the same grouping, 0 = chance)", planted->ari, planted->planted_k);
  }

  // ---- outputs ---------------------------------------------------------------
  run.ensure_stage_dir("cluster");
  std::vector<nlohmann::json> rows;
  for (std::int64_t i = 0; i < n_local; ++i)
    rows.push_back({{"user", v.user_ids[static_cast<std::size_t>(i)]},
                    {"persona", r.labels[static_cast<std::size_t>(i)]},
                    {"distance", r.distances[static_cast<std::size_t>(i)]}});
  write_file_atomic(run.rank_file("cluster", "assignments", comm.rank(), "jsonl"), jsonl_of(rows));
  // Global file: rank 0 gathers (user, persona) pairs in rank order = selection order.
  std::vector<std::byte> send(static_cast<std::size_t>(n_local) * 12);
  for (std::int64_t i = 0; i < n_local; ++i) {
    std::memcpy(send.data() + i * 12, &v.user_ids[static_cast<std::size_t>(i)], 8);
    std::memcpy(send.data() + i * 12 + 8, &r.labels[static_cast<std::size_t>(i)], 4);
  }
  const auto parts = comm.allgatherv(send);
  if (comm.is_root()) {
    std::string text;
    for (const auto& part : parts)
      for (std::size_t at = 0; at + 12 <= part.size(); at += 12) {
        std::int64_t id = 0;
        std::int32_t persona = 0;
        std::memcpy(&id, part.data() + at, 8);
        std::memcpy(&persona, part.data() + at + 8, 4);
        text += nlohmann::json({{"user", id}, {"persona", persona}}).dump() + "\n";
      }
    write_file_atomic(run.stage_dir("cluster") / "assignments.jsonl", text);
    write_atomically(run.stage_dir("cluster") / "centroids.h5", [&](const fs::path& tmp) {
      h5::File f(tmp, h5::File::Mode::create);
      f.write<float>("/centroids", std::span<const float>(r.centroids), {static_cast<std::uint64_t>(r.k), static_cast<std::uint64_t>(r.d)});
      f.write<std::int64_t>("/sizes", r.sizes);
      f.set_attr("/", "k", static_cast<std::int64_t>(r.k));
      f.set_attr("/", "dim", static_cast<std::int64_t>(r.d));
      f.set_attr("/", "inertia", r.inertia);
      f.set_attr("/", "spherical", static_cast<std::int64_t>(cc.spherical ? 1 : 0));
      f.set_attr("/", "embedder", v.embedder);
      f.set_attr("/", "features", v.features);
    });
    nlohmann::json curves = {{"k", nlohmann::json::array()}, {"inertia", nlohmann::json::array()},
                             {"silhouette", nlohmann::json::array()}, {"iterations", nlohmann::json::array()},
                             {"seconds", nlohmann::json::array()}};
    for (const auto& p : choice.curve) {
      curves["k"].push_back(p.k);
      curves["inertia"].push_back(p.inertia);
      curves["silhouette"].push_back(p.silhouette);
      curves["iterations"].push_back(p.iterations);
      curves["seconds"].push_back(p.seconds);
    }
    curves["chosen_k"] = choice.chosen_k;
    if (planted) {
      curves["planted_personas"] = planted->planted_k;
      curves["planted_ari"] = planted->ari;
    }
    curves["reason"] = choice.reason;
    curves["select"] = to_string(cc.select);
    curves["silhouette_rows"] = choice.silhouette_rows;
    curves["n_users"] = v.n_users_total;
    nlohmann::json history = nlohmann::json::array();
    for (const auto& h : r.history) history.push_back({{"iteration", h.iteration}, {"objective", h.objective}, {"n_split", h.n_split}});
    curves["chosen_history"] = history;
    write_file_atomic(run.stage_dir("cluster") / "curves.json", curves.dump(2) + "\n");
    nlohmann::json personas = nlohmann::json::array();
    for (int c = 0; c < r.k; ++c) {
      nlohmann::json p = c < static_cast<int>(descriptions.size()) ? descriptions[static_cast<std::size_t>(c)].to_json()
                                                                    : nlohmann::json{{"persona", c}};
      p["size"] = r.sizes[static_cast<std::size_t>(c)];
      personas.push_back(p);
    }
    write_file_atomic(run.stage_dir("cluster") / "personas.json", personas.dump(2) + "\n");
    for (const auto& d : descriptions) plog::info("persona {}: {}", d.persona, d.summary);
  }
  comm.barrier();
  if (comm.is_root())
    run.mark_done("cluster", config_hash, {{"k", r.k}, {"inertia", r.inertia}, {"n_users", v.n_users_total}});
}

}  // namespace personas
