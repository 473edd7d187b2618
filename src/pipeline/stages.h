// The stage graph of `personas run`: which command each stage runs, which
// configuration sections it depends on, and the hash its DONE marker holds.
// A stage's hash covers its own sections plus the hash of the stage before
// it, so changing [data] makes every later stage stale, while changing
// [eval] redoes only eval and report.
#pragma once

#include <string>
#include <vector>

#include "core/config_schema.h"

namespace personas {

struct StageInfo {
  std::string name;                   // also the subcommand that runs it
  std::vector<std::string> sections;  // config sections whose values it depends on
  bool always_redo = false;           // cheap stages that read every earlier output (report)
  // Keys of those sections that do not change the stage's outputs (speed,
  // limits, retries, prices, the endpoint's address): hashed at their default
  // value whatever they hold, so changing them keeps the stage done. A
  // non-empty distill.base_url is hashed as "(set)": set or not, it picks the
  // provider under distill.provider = auto.
  std::vector<std::string> neutral_keys = {};
  // Keys added to those sections after runs were made with them: left out of
  // the hashed text while they hold their default, so an earlier run's DONE
  // stays valid; set to anything else, they are hashed like any key.
  std::vector<std::string> added_keys = {};
  // The stage's room writes a DONE marker with its facts (counts, costs) when
  // it finished, and none when it stopped early (train's interrupt_after hook, a
  // distill where every user failed): the gate then writes none either.
  // false: the room writes none (model, report) and finishing is enough.
  bool room_marks_done = true;
};

// prepare, distill, model, embed, cluster, train, eval, report (in order).
const std::vector<StageInfo>& pipeline_stages();
// Index in pipeline_stages(); ErrorKind::config naming the valid names when unknown.
std::size_t stage_index(const std::string& name);
// The chained configuration hash of every stage, in order. `extra_neutral`
// keys count as neutral in every stage: the hash of a part of a stage that
// does not read them (train's global phase, one agent's journal).
std::vector<std::string> stage_hashes(const ConfigSchema& schema, const std::vector<std::string>& extra_neutral = {});
// The hash one stage's DONE marker holds: what `personas run` compares, so a
// stage run on its own and the same stage inside `run` agree.
std::string stage_config_hash(const ConfigSchema& schema, const std::string& stage,
                              const std::vector<std::string>& extra_neutral = {});

}  // namespace personas
