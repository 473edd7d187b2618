#include "embed/embed_stage.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <unordered_map>

#include "core/errors.h"
#include "core/log.h"
#include "data/dataset_io.h"
#include "embed/behavior_features.h"
#include "embed/embedder.h"
#include "embed/hashed_tfidf.h"
#include "io/hdf5_file.h"

namespace personas {

EmbedResult::EmbedResult() = default;
EmbedResult::~EmbedResult() = default;
EmbedResult::EmbedResult(EmbedResult&&) noexcept = default;
EmbedResult& EmbedResult::operator=(EmbedResult&&) noexcept = default;

std::string item_text(const Dataset& ds, const Item& item) {
  std::string text = item.title;
  if (item.year > 0) text += fmt::format(" ({})", item.year);
  std::string genres;
  for (std::size_t g = 0; g < ds.genre_names.size(); ++g)
    if (item.genres & (1u << g)) genres += (genres.empty() ? "" : ", ") + ds.genre_names[g];
  if (!genres.empty()) text += ". Genres: " + genres + ".";
  return text;
}

std::string profile_text(const UserMemory& m) {
  std::string text = m.profile;
  for (const std::string* s : {&m.activity, &m.conformity, &m.diversity})
    if (!s->empty()) text += "\n" + *s;
  return text;
}

namespace {

void scale_into(const float* src, int src_dim, double weight, float* dst) {
  for (int t = 0; t < src_dim; ++t) dst[t] = static_cast<float>(src[t] * weight);
}

}  // namespace

EmbedResult embed_users(const EmbedSettings& config, const Dataset& ds, const std::vector<UserMemory>* memories,
                        Comm& comm) {
  const EmbedConfig& e = config.embed;
  EmbedResult out;
  const bool want_text = e.features != ProfileFeatures::behavior;
  PERSONAS_CHECK_HINT(!want_text || memories != nullptr, io,
                      "run `personas distill` first, or set embed.features = behavior",
                      "embed.features = {} needs the distilled profiles (RUN/distill/)", to_string(e.features));
  std::unordered_map<std::int64_t, const UserMemory*> memory_of;
  if (memories)
    for (const auto& m : *memories) memory_of[m.user_id] = &m;

  // ---- profiles -----------------------------------------------------------
  const std::size_t n = ds.users.size();
  std::vector<float> text_vectors;
  int text_dim = 0;
  if (want_text) {
    std::vector<std::string> texts(n), present;
    std::vector<std::size_t> present_row;
    for (std::size_t i = 0; i < n; ++i) {
      const auto it = memory_of.find(ds.users[i].id);
      if (it == memory_of.end()) {
        ++out.users_without_profile;
      } else {
        texts[i] = profile_text(*it->second);
        present.push_back(texts[i]);
        present_row.push_back(i);
      }
    }
    out.profile_embedder = make_embedder(config, "profiles", comm.local_rank());
    out.profile_embedder->fit(texts, {}, comm);
    // Only users with a profile are embedded; the others keep the zero vector
    // whatever an embedder makes of an empty text (an HTTP endpoint embeds the
    // " " sent for it, the model embedder pools the BOS state).
    const std::vector<float> embedded = out.profile_embedder->embed(present);
    text_dim = out.profile_embedder->dim();
    text_vectors.assign(n * static_cast<std::size_t>(text_dim), 0.0f);
    for (std::size_t j = 0; j < present_row.size(); ++j)
      std::copy_n(embedded.begin() + static_cast<std::ptrdiff_t>(j * static_cast<std::size_t>(text_dim)), text_dim,
                  text_vectors.begin() + static_cast<std::ptrdiff_t>(present_row[j] * static_cast<std::size_t>(text_dim)));
  }
  std::vector<float> behavior;
  const int behavior_d = behavior_dim(ds);
  if (e.features != ProfileFeatures::text) behavior = behavior_features(ds, comm);

  // Every rank must agree on dim even with no users (remote embedders learn it late).
  text_dim = static_cast<int>(comm.allreduce_max(static_cast<double>(text_dim)));
  UserVectors& p = out.profiles;
  p.first_user = ds.first_user;
  p.n_users_total = ds.n_users_total;
  p.embedder = want_text ? out.profile_embedder->name() : "behavior";
  p.features = to_string(e.features);
  p.dim = (want_text ? text_dim : 0) + (e.features != ProfileFeatures::text ? behavior_d : 0);
  p.vectors.assign(n * static_cast<std::size_t>(p.dim), 0.0f);
  const bool both = e.features == ProfileFeatures::both;
  for (std::size_t i = 0; i < n; ++i) {
    p.user_ids.push_back(ds.users[i].id);
    float* row = p.vectors.data() + i * static_cast<std::size_t>(p.dim);
    if (want_text && !text_vectors.empty())
      scale_into(text_vectors.data() + i * static_cast<std::size_t>(text_dim), text_dim, both ? e.text_weight : 1.0, row);
    if (e.features != ProfileFeatures::text)
      scale_into(behavior.data() + i * static_cast<std::size_t>(behavior_d), behavior_d, both ? e.behavior_weight : 1.0,
                 row + (want_text ? text_dim : 0));
  }

  // ---- retrieval: items and notes ------------------------------------------
  if ((e.items || e.notes) && memories != nullptr) {
    std::vector<std::string> item_texts;
    for (const auto& item : ds.items) item_texts.push_back(item_text(ds, item));
    std::vector<std::string> note_texts;
    NoteVectors& nv = out.notes;
    if (e.notes)
      for (const auto& u : ds.users) {
        const auto it = memory_of.find(u.id);
        if (it == memory_of.end()) continue;
        for (const auto& note : it->second->notes) {
          nv.user_ids.push_back(u.id);
          nv.items.push_back(note.item);
          nv.ratings.push_back(note.rating);
          note_texts.push_back(note.text);
        }
      }
    out.retrieval_embedder = make_embedder(config, "retrieval", comm.local_rank());
    out.retrieval_embedder->fit(note_texts, item_texts, comm);
    if (e.items) {
      out.items = out.retrieval_embedder->embed(item_texts);
      out.item_dim = out.retrieval_embedder->dim();
    }
    if (e.notes) {
      nv.vectors = out.retrieval_embedder->embed(note_texts);
      nv.dim = out.retrieval_embedder->dim();
    }
  } else if (e.items || e.notes) {
    plog::warn("embed: no distilled memories; items and notes are not embedded for retrieval");
  }
  return out;
}

void embed_stage(const EmbedSettings& config, const RunDir& run, Comm& comm, const std::string& config_hash) {
  if (comm.is_root()) run.clear_done("embed");
  const Dataset ds = load_dataset(run, comm);
  std::optional<std::vector<UserMemory>> memories;
  const bool have_distill = fs::exists(run.stage_dir("distill"));
  // Behaviour features read ratings only: memories (every note of every user:
  // ~8 KB per user, 80 GB at 10M users) are loaded only when a text part,
  // item or note vectors need them.
  const bool need_memories = config.embed.features != ProfileFeatures::behavior || config.embed.items || config.embed.notes;
  if (have_distill && need_memories) memories = load_memories(run, comm);
  EmbedResult r = embed_users(config, ds, memories ? &*memories : nullptr, comm);
  const std::int64_t missing = comm.allreduce_sum(r.users_without_profile);
  if (missing > 0)
    plog::warn("embed: {} users have no distilled profile; their text part is zero", missing);

  run.ensure_stage_dir("embed");
  write_profile_vectors(run, r.profiles, comm);
  if (!r.notes.user_ids.empty() || r.notes.dim > 0) {
    const auto path = run.rank_file("embed", "notes", comm.rank(), "h5");
    write_atomically(path, [&](const fs::path& tmp) {
      h5::File f(tmp, h5::File::Mode::create);
      f.write<std::int64_t>("/user_id", r.notes.user_ids);
      f.write<std::int32_t>("/item", r.notes.items);
      f.write<float>("/rating", r.notes.ratings);
      f.write<float>("/vectors", std::span<const float>(r.notes.vectors),
                     {r.notes.user_ids.size(), static_cast<std::uint64_t>(r.notes.dim)});
      f.set_attr("/", "dim", static_cast<std::int64_t>(r.notes.dim));
    });
  }
  if (comm.is_root()) {
    if (!r.items.empty())
      write_atomically(run.stage_dir("embed") / "items.h5", [&](const fs::path& tmp) {
        h5::File f(tmp, h5::File::Mode::create);
        f.write<float>("/vectors", std::span<const float>(r.items),
                       {ds.items.size(), static_cast<std::uint64_t>(r.item_dim)});
        f.set_attr("/", "dim", static_cast<std::int64_t>(r.item_dim));
        f.set_attr("/", "embedder", r.retrieval_embedder->name());
      });
    for (auto [embedder, name] : {std::pair{r.profile_embedder.get(), "tfidf-profiles.h5"},
                                  std::pair{r.retrieval_embedder.get(), "tfidf-retrieval.h5"}})
      if (auto* h = dynamic_cast<HashedTfidfEmbedder*>(embedder)) h->save(run.stage_dir("embed") / name);
    nlohmann::json meta = {{"embedder", to_string(config.embed.embedder)},
                           {"features", to_string(config.embed.features)},
                           {"profile_dim", r.profiles.dim},
                           {"item_dim", r.item_dim},
                           {"note_dim", r.notes.dim},
                           {"text_weight", config.embed.text_weight},
                           {"behavior_weight", config.embed.behavior_weight},
                           {"n_users", ds.n_users_total},
                           {"users_without_profile", missing}};
    write_file_atomic(run.stage_dir("embed") / "embed.json", meta.dump(2) + "\n");
  }
  comm.barrier();
  if (comm.is_root()) run.mark_done("embed", config_hash, {{"n_users", ds.n_users_total}, {"dim", r.profiles.dim}});
  plog::info("embed: {} users -> {}-dim profile vectors ({}), {} items, notes on this rank: {}", ds.n_users_total,
             r.profiles.dim, to_string(config.embed.features), r.items.empty() ? 0 : ds.items.size(), r.notes.user_ids.size());
}

}  // namespace personas
