#!/usr/bin/env bash
# `personas samples` from the command line: RUN/samples/summary.json is the
# same for 1, 2 and 3 ranks (exact integer sums), with a DONE marker; a run
# without the model or the distill stage stops with exit code 4 (I/O: a
# missing input) naming the stage to run.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_tmpdir samples-ranks
mpi() { mpiexec --oversubscribe --allow-run-as-root -np "$@"; }

args=(--config "$src/configs/quickstart.ini" --run.dir "$tmp/run" --data.n_users 40 --data.min_ratings 20
      --data.max_ratings 60 --train.profile_words 30)
for stage in prepare distill; do
  "$bin" "$stage" "${args[@]}" >"$tmp/log" 2>&1 || fail "$stage: $(tail -5 "$tmp/log")"
done

# Without the model: exit 4, naming `personas model`.
"$bin" samples "${args[@]}" >"$tmp/log" 2>&1; rc=$?
[[ $rc -eq 4 ]] || fail "samples without a model must exit 4, got $rc: $(tail -3 "$tmp/log")"
grep -q "personas model" "$tmp/log" || fail "the error names the model stage: $(tail -3 "$tmp/log")"

"$bin" model "${args[@]}" >"$tmp/log" 2>&1 || fail "model: $(tail -5 "$tmp/log")"
"$bin" samples "${args[@]}" --chunk-users 7 >"$tmp/log" 2>&1 || fail "samples: $(tail -5 "$tmp/log")"
summary="$tmp/run/samples/summary.json"
[[ -f "$summary" && -f "$tmp/run/samples/DONE" ]] || fail "samples wrote no summary.json or DONE"
cp "$summary" "$tmp/summary-1.json"
/usr/bin/python3 - "$summary" <<'PY' || fail "summary fields"
import json, sys
s = json.load(open(sys.argv[1]))
t = s["totals"]
assert s["format"] == "personas-samples-summary" and s["n_users_total"] == 40, s
assert t["users"] == 40 and t["train_samples"] > 0 and t["validation_samples"] > 0, t
assert sum(p["train_samples"] for p in s["personas"]) == t["train_samples"]
assert sum(b["samples"] for b in s["length_histogram"]["bins"]) == t["train_samples"] + t["validation_samples"]
assert s["persona_source"] == "planted" and len(s["personas"]) == 4, s["personas"]
PY
grep -q "samples/s" "$tmp/log" || fail "no rate line: $(tail -3 "$tmp/log")"

for np in 2 3; do
  mpi "$np" "$bin" samples "${args[@]}" >"$tmp/log" 2>&1 || fail "samples -np $np: $(tail -5 "$tmp/log")"
  cmp -s "$tmp/summary-1.json" "$summary" || fail "summary.json differs for $np ranks: $(diff "$tmp/summary-1.json" "$summary" | head)"
  grep -q "\"n_ranks\": $np" "$tmp/run/samples/DONE" || fail "DONE of -np $np: $(cat "$tmp/run/samples/DONE")"
done

# With the bias estimate in every prompt (train.prompt_estimate): the same for
# 1 and 3 ranks too (items are global, a user's ratings live on one rank),
# and every sample is longer.
for np in 1 3; do
  mpi "$np" "$bin" samples "${args[@]}" --train.prompt_estimate true >"$tmp/log" 2>&1 ||
    fail "samples -np $np with the estimate: $(tail -5 "$tmp/log")"
  cp "$summary" "$tmp/summary-estimate-$np.json"
done
cmp -s "$tmp/summary-estimate-1.json" "$tmp/summary-estimate-3.json" ||
  fail "summary.json with the estimate differs for 3 ranks: $(diff "$tmp/summary-estimate-1.json" "$tmp/summary-estimate-3.json" | head)"
/usr/bin/python3 - "$tmp/summary-1.json" "$tmp/summary-estimate-1.json" <<'PY' || fail "the estimate's samples"
import json, sys
plain, est = (json.load(open(p)) for p in sys.argv[1:3])
assert est["options"]["prompt_estimate"] is True and plain["options"]["prompt_estimate"] is False
assert est["totals"]["train_samples"] == plain["totals"]["train_samples"], (est["totals"], plain["totals"])
assert est["totals"]["train_tokens"] > plain["totals"]["train_tokens"], (est["totals"], plain["totals"])
PY

# Without a finished distill stage: exit 4, naming `personas distill`.
rm "$tmp/run/distill/DONE"
"$bin" samples "${args[@]}" >"$tmp/log" 2>&1; rc=$?
[[ $rc -eq 4 ]] || fail "samples without distill must exit 4, got $rc: $(tail -3 "$tmp/log")"
grep -q "personas distill" "$tmp/log" || fail "the error names the distill stage: $(tail -3 "$tmp/log")"
[[ ! -f "$tmp/run/samples/DONE" ]] || fail "a failed samples run left its DONE marker"
echo "samples_ranks: ok"
