#include "cluster/cluster_stage.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <unordered_map>

#include "cluster/choose_k.h"
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
#include "pipeline/config.h"

namespace personas {
namespace {

std::string jsonl_of(const std::vector<nlohmann::json>& rows) {
  std::string text;
  for (const auto& r : rows) text += r.dump() + "\n";
  return text;
}

}  // namespace

void cluster_stage(const Config& config, const RunDir& run, Comm& comm, const std::string& config_hash) {
  if (comm.is_root()) run.clear_done("cluster");
  const UserVectors v = load_profile_vectors(run, comm);
  const auto n_local = static_cast<std::int64_t>(v.user_ids.size());
  plog::info("cluster: {} users x {} dims ({} features from {}) over {} rank(s)", v.n_users_total, v.dim, v.features,
             v.embedder, comm.size());
  KMeansAssignStep step = make_kmeans_assign_step(config.run.backend, comm.local_rank());
  KMeansAssignFn assign = step.assign;
  ClusterConfig cc = config.cluster;
  const std::uint64_t seed = hash_mix(static_cast<std::uint64_t>(config.run.seed), 0x636C7573ULL, 0);
  ClusterChoice choice =
      cluster_with_k_choice(comm, v.vectors.data(), n_local, v.dim, v.first_user, cc, seed, assign, step.in_threads);
  const KMeansResult& r = choice.result;

  // Descriptions need the data set (genres) and, when present, the profiles (words).
  std::vector<PersonaDescription> descriptions;
  if (fs::exists(run.stage_dir("prepare"))) {
    const Dataset ds = load_dataset(run, comm);
    PERSONAS_CHECK_HINT(ds.first_user == v.first_user && ds.users.size() == v.user_ids.size(), data,
                        "redo `personas embed` for this data set", "RUN/embed vectors ({} users from {}) do not match "
                        "RUN/prepare ({} users from {})", v.user_ids.size(), v.first_user, ds.users.size(), ds.first_user);
    std::vector<std::string> texts(ds.users.size());
    if (fs::exists(run.stage_dir("distill"))) {
      std::unordered_map<std::int64_t, std::string> by_id;
      for (const auto& m : load_memories(run, comm)) by_id[m.user_id] = profile_text(m);
      for (std::size_t i = 0; i < ds.users.size(); ++i) {
        const auto it = by_id.find(ds.users[i].id);
        if (it != by_id.end()) texts[i] = it->second;
      }
    }
    descriptions = describe_personas(comm, ds, r.labels, texts, r.k, cc.describe_top);
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
    curves["reason"] = choice.reason;
    curves["select"] = cc.select;
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
