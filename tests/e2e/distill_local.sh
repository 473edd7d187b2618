#!/usr/bin/env bash
# `personas distill --distill.provider local` end to end on a tiny synthetic
# run and a tiny random checkpoint (init-model): every user distilled exactly
# once with provider "local" and the checkpoint as model, the same records
# with 2 ranks, a finished stage skipped, a missing checkpoint exits 4 (I/O);
# with stories260K (../shared/data), llama2.c's plain tokenizer (transcript
# template) works too.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
data="${PERSONAS_DEFAULT_DATA:-}"
e2e_tmpdir distill-local
mpi() { mpiexec --oversubscribe --allow-run-as-root -np "$@"; }

synth=(--data.n_users 8 --data.min_ratings 10 --data.max_ratings 16 --data.synth_items 60 --run.seed 3)
"$bin" synth "${synth[@]}" --run.dir "$tmp/r1" >"$tmp/log" 2>&1 || fail "synth: $(cat "$tmp/log")"
cp -r "$tmp/r1" "$tmp/r2"
cp -r "$tmp/r1" "$tmp/r3"
for i in $(seq 1 200); do echo "I rated movie $i with $((i % 5 + 1)) stars because I like drama and comedy"; done >"$tmp/corpus.txt"
"$bin" init-model --preset tiny --seed 5 --out "$tmp/tiny.h5" --tokenizer-corpus "$tmp/corpus.txt" --tokenizer-vocab 400 \
  >"$tmp/log" 2>&1 || fail "init-model: $(cat "$tmp/log")"

local=(--distill.prompts "$src/configs/prompts/distill-v1" --distill.provider local --model.path "$tmp/tiny.h5" --model.max_seq 256 --distill.local_note_tokens 12
       --distill.local_profile_tokens 24 --distill.temperature 0.7 --run.backend cpu --run.threads 1)
"$bin" distill --run.dir "$tmp/r1" "${local[@]}" >"$tmp/log" 2>&1 || fail "distill local: $(cat "$tmp/log")"
grep -q "local engine generated" "$tmp/log" || fail "no engine summary in the log: $(cat "$tmp/log")"
grep "local engine generated" "$tmp/log" | sed 's/^.*distill: /tiny init-model: /'
lines="$(cat "$tmp/r1"/distill/memories-rank-*.jsonl | wc -l)"
[[ "$lines" -eq 8 ]] || fail "expected 8 distilled users, got $lines"
[[ "$(cat "$tmp/r1"/distill/failed-rank-*.jsonl | wc -l)" -eq 0 ]] || fail "users failed: $(cat "$tmp/r1"/distill/failed-rank-*.jsonl)"
ids="$(grep -o '"user_id":[0-9]*' "$tmp/r1"/distill/memories-rank-*.jsonl | sort | uniq -d)"
[[ -z "$ids" ]] || fail "users distilled twice: $ids"
[[ "$(grep -c '"provider":"local"' "$tmp/r1/distill/memories-rank-00000.jsonl")" -eq 8 ]] || fail "provider local not stored"
grep -q "\"model\":\"$tmp/tiny.h5\"" "$tmp/r1/distill/memories-rank-00000.jsonl" || fail "checkpoint path not stored as model"
grep -q '"provider": *"local"' "$tmp/r1/distill/DONE" || fail "DONE: $(cat "$tmp/r1/distill/DONE")"

# Same records with 2 ranks.
if command -v mpiexec >/dev/null; then
  mpi 2 "$bin" distill --run.dir "$tmp/r2" "${local[@]}" >"$tmp/log" 2>&1 || fail "distill local -np 2: $(cat "$tmp/log")"
  diff <(cat "$tmp/r1"/distill/memories-rank-*.jsonl) <(cat "$tmp/r2"/distill/memories-rank-*.jsonl) >/dev/null ||
    fail "2 ranks give other records than 1"
fi

# One user in conversation at a time (no batching across users) writes the same records as 16 at once.
"$bin" distill --run.dir "$tmp/r3" "${local[@]}" --distill.in_flight 1 >"$tmp/log" 2>&1 ||
  fail "distill local in_flight 1: $(cat "$tmp/log")"
diff <(cat "$tmp/r1"/distill/memories-rank-*.jsonl) <(cat "$tmp/r3"/distill/memories-rank-*.jsonl) >/dev/null ||
  fail "in_flight 1 gives other records than 16 users decoded together"

# Done: skipped. Missing checkpoint: I/O error (4) naming it.
"$bin" distill --run.dir "$tmp/r1" "${local[@]}" >"$tmp/log" 2>&1 || fail "rerun: $(cat "$tmp/log")"
grep -q "distill: done already with this configuration, skipped" "$tmp/log" || fail "a finished stage must be skipped: $(cat "$tmp/log")"
out="$("$bin" distill --run.dir "$tmp/r1" --distill.prompts "$src/configs/prompts/distill-v1" --distill.provider local --model.path "$tmp/none.h5" 2>&1)"; rc=$?
[[ $rc -eq 4 ]] || fail "missing checkpoint must exit 4, got $rc: $out"
grep -q "none.h5" <<<"$out" || fail "names the checkpoint: $out"

# stories260K: plain tok512 tokenizer (transcript template).
if [[ -f "$data/stories260K/stories260K.bin" ]]; then
  "$bin" convert --from llama2c "$data/stories260K/stories260K.bin" --tokenizer "$data/stories260K/tok512.model" \
    --out "$tmp/s.h5" >"$tmp/log" 2>&1 || fail "convert llama2c: $(cat "$tmp/log")"
  "$bin" distill --run.dir "$tmp/r1" --distill.prompts "$src/configs/prompts/distill-v1" --distill.provider local --model.path "$tmp/s.h5" --model.max_seq 256 \
    --distill.local_note_tokens 12 --distill.local_profile_tokens 24 --run.backend cpu --run.threads 1 >"$tmp/log" 2>&1 ||
    fail "distill stories260K: $(cat "$tmp/log")"
  grep -q "transcript chat format" "$tmp/log" || fail "tok512 has no chat template: $(cat "$tmp/log")"
  [[ "$(cat "$tmp/r1"/distill/memories-rank-*.jsonl | wc -l)" -eq 8 ]] || fail "stories260K: not every user distilled"
  grep "local engine generated" "$tmp/log" | sed 's/^.*distill: /stories260K: /'
else
  echo "note: ../shared/data absent, stories260K part skipped"
fi
echo "OK"
