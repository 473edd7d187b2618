#!/usr/bin/env bash
# The CLI's promises: help, version, exit codes, config errors listed at once
# with file:line, docs/config.md in step with the schema.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_tmpdir cli-basics

grep -q "usage: personas <command>" <<<"$("$bin" --help)" || fail "--help"
grep -q "^personas " <<<"$("$bin" --version)" || fail "--version"
"$bin" no-such-command >/dev/null 2>&1; [[ $? -eq 2 ]] || fail "unknown command must exit 2"
help_text="$("$bin" config --help)"  # captured: grep -q on a pipe would cut it short (SIGPIPE)
grep -q -- "--data.n_users" <<<"$help_text" || fail "config --help lists keys"

printf '[data]\nn_users = lots\nbogus = 1\n[run]\nthreads = -3\n' > "$tmp/bad.ini"
out="$("$bin" config --config "$tmp/bad.ini" 2>&1)"; rc=$?
[[ $rc -eq 3 ]] || fail "bad config must exit 3, got $rc: $out"
grep -q "bad.ini:2" <<<"$out" || fail "names bad.ini:2: $out"
grep -q "unknown key 'data.bogus'" <<<"$out" || fail "names the unknown key: $out"

out="$("$bin" config --data.train_fraction 2 --run.threads -1 2>&1)"; rc=$?
[[ $rc -eq 3 ]] || fail "invalid values must exit 3"
[[ $(grep -c "^  - " <<<"$out") -eq 2 ]] || fail "both problems listed at once: $out"

grep -q "^n_users = 17$" <<<"$("$bin" config --data.n_users 16 --data.n_users 17)" ||
  fail "override applies (the last of a repeated key wins)"
"$bin" config --no-such-flag >/dev/null 2>&1; [[ $? -eq 2 ]] || fail "unknown flag must exit 2"

for ini in "$src"/configs/*.ini; do
  "$bin" config --config "$ini" >/dev/null 2>"$tmp/err" || fail "$(basename "$ini") is not a valid config: $(cat "$tmp/err")"
done

# A stage run on its own writes the hash `personas run` compares: run skips it.
# OpenMP threads sleep while they wait unless the user chose otherwise (cli/omp_wait_policy.h).
grep -q "OMP_WAIT_POLICY=PASSIVE (set by personas" <<<"$(env -u OMP_WAIT_POLICY "$bin" prepare --run.dir "$tmp/omp" \
  --data.n_users 5 --log.level debug 2>&1)" || fail "personas must set OMP_WAIT_POLICY=PASSIVE when it is unset"
grep -q "OMP_WAIT_POLICY=active (from the environment)" <<<"$(OMP_WAIT_POLICY=active "$bin" prepare \
  --run.dir "$tmp/omp" --data.n_users 5 --log.level debug 2>&1)" || fail "a user's OMP_WAIT_POLICY must be kept"
"$bin" prepare --config "$src/configs/quickstart.ini" --run.dir "$tmp/run" --data.n_users 20 >/dev/null 2>&1 ||
  fail "standalone prepare"
grep -q "prepare: done already with this configuration, skipped" <<<"$("$bin" run --config "$src/configs/quickstart.ini" \
  --run.dir "$tmp/run" --data.n_users 20 --until prepare 2>&1)" || fail "run must skip a prepare done on its own"

# config --hashes: one line per stage, the hash a finished stage's DONE holds.
hashes="$("$bin" config --config "$src/configs/quickstart.ini" --run.dir "$tmp/run" --data.n_users 20 --hashes)" ||
  fail "config --hashes"
[[ "$(wc -l <<<"$hashes")" == 8 ]] || fail "config --hashes must print the 8 stages: $hashes"
grep -q "\"config_hash\": \"$(awk '$1 == "prepare" {print $2}' <<<"$hashes")\"" "$tmp/run/prepare/DONE" ||
  fail "config --hashes does not give prepare's DONE hash: $hashes"

diff <("$bin" config --markdown) "$src/docs/config.md" >/dev/null ||
  fail "docs/config.md is stale: run tools/update_config_doc.sh"
echo "cli_basics: ok"
