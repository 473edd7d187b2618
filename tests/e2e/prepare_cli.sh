#!/usr/bin/env bash
# `personas prepare` and `personas synth` from the command line: the RUN/prepare
# layout, identical synthetic data for 1, 2 and 3 ranks, and the exit codes of
# bad input (5 = data, 4 = I/O) with file:line, or a warning with
# data.on_bad_row = skip. ML-100K parts run only when ../shared/data has it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
data="${PERSONAS_DEFAULT_DATA:-}"
e2e_tmpdir prepare-cli
mpi() { mpiexec --oversubscribe --allow-run-as-root -np "$@"; }
# Values of one dataset of every users-rank file, in rank order, one per line.
values() { for f in "$1"/prepare/users-rank-*.h5; do h5dump -d "$2" -y -w 1 "$f" | sed -n '/DATA {/,/}/p' | grep -o -- '-\?[0-9.]\+'; done; }

synth=(--data.n_users 120 --data.min_ratings 15 --data.max_ratings 60 --data.synth_items 300 --data.synth_chunk_users 32 --run.seed 5)
"$bin" synth "${synth[@]}" --run.dir "$tmp/s1" >"$tmp/log" 2>&1 || fail "synth: $(cat "$tmp/log")"
for f in items.h5 users-rank-00000.h5 DONE; do [[ -f "$tmp/s1/prepare/$f" ]] || fail "synth wrote no $f"; done
grep -q '"n_users": 120' "$tmp/s1/prepare/DONE" || fail "DONE counts: $(cat "$tmp/s1/prepare/DONE")"
for np in 2 3; do
  mpi "$np" "$bin" synth "${synth[@]}" --run.dir "$tmp/s$np" >"$tmp/log" 2>&1 || fail "synth -np $np: $(cat "$tmp/log")"
  [[ -f "$tmp/s$np/prepare/users-rank-0000$((np - 1)).h5" ]] || fail "synth -np $np: one file per rank"
  for d in /interactions/item /interactions/rating /interactions/timestamp /users/true_persona /users/n_train; do
    diff <(values "$tmp/s1" "$d") <(values "$tmp/s$np" "$d") >/dev/null || fail "synth -np $np differs in $d"
  done
  diff <(h5dump -d /items/train_mean "$tmp/s1/prepare/items.h5" | sed 1d) \
       <(h5dump -d /items/train_mean "$tmp/s$np/prepare/items.h5" | sed 1d) >/dev/null || fail "item statistics differ for -np $np"
done
# prepare with data.source = synthetic writes the same data as synth.
"$bin" prepare --data.source synthetic "${synth[@]}" --run.dir "$tmp/p1" >"$tmp/log" 2>&1 || fail "prepare synthetic"
diff <(values "$tmp/s1" /interactions/rating) <(values "$tmp/p1" /interactions/rating) >/dev/null || fail "prepare synthetic != synth"
# A second run with fewer ranks leaves no stale rank file behind.
# (a plain rerun skips the done stage, readable by any rank count; --force redoes it)
"$bin" synth "${synth[@]}" --run.dir "$tmp/s3" --force >/dev/null 2>&1 || fail "synth rerun"
[[ ! -e "$tmp/s3/prepare/users-rank-00002.h5" ]] || fail "stale users-rank-00002.h5 left"

# Bad input in a small ML-100K-format folder.
ml="$tmp/ml"; mkdir -p "$ml"
printf 'unknown|0\nAction|1\nComedy|2\n' > "$ml/u.genre"
printf '1|Toy Story (1995)|01-Jan-1995||x|0|0|1\n2|Heat (1995)|01-Jan-1995||x|0|1|0\n3|Caf\xe9 (1995)|01-Jan-1995||x|0|1|1\n' > "$ml/u.item"
printf '1|24|M|technician|85711\n2|53|F|other|94043\n' > "$ml/u.user"
printf '1\t1\t5\t10\n1\t2\t3\t11\n1\t3\t4\t12\n2\t1\t2\t13\n2\t2\t1\t14\n2\t3\t5\t15\n' > "$ml/u.data"
small=(--data.source ml100k --data.path "$ml" --data.min_ratings 3 --data.n_users 0)
"$bin" prepare "${small[@]}" --run.dir "$tmp/ok" >"$tmp/log" 2>&1 || fail "small prepare: $(cat "$tmp/log")"
grep -q '"n_users": 2' "$tmp/ok/prepare/DONE" || fail "small prepare counts"

printf '1\t1\t5\t10\n1\t2\t3\t11\n1\t3\t9\t12\n2\t1\t2\t13\n2\t2\t1\t14\n2\t3\t5\t15\n' > "$ml/u.data"
out="$("$bin" prepare "${small[@]}" --run.dir "$tmp/bad" 2>&1)"; rc=$?
[[ $rc -eq 5 ]] || fail "bad rating must exit 5, got $rc: $out"
grep -q "u.data:3: rating 9 outside \[1, 5\]" <<<"$out" || fail "names u.data:3: $out"
grep -q "data.on_bad_row = skip" <<<"$out" || fail "hint about skip: $out"
[[ ! -e "$tmp/bad/prepare/DONE" && ! -e "$tmp/bad/prepare/items.h5" ]] || fail "half-written output after an error"
out="$("$bin" prepare "${small[@]}" --data.min_ratings 2 --data.on_bad_row skip --run.dir "$tmp/skip" 2>&1)" || fail "skip: $out"
grep -q "skipped 1 bad row" <<<"$out" || fail "skip warning: $out"
out="$(mpi 2 "$bin" prepare "${small[@]}" --run.dir "$tmp/bad2" 2>&1)"; rc=$?
[[ $rc -eq 5 ]] || fail "bad rating on 2 ranks must exit 5, got $rc: $out"

out="$("$bin" prepare --data.source ml100k --data.path "$tmp/nowhere" --run.dir "$tmp/x" 2>&1)"; rc=$?
[[ $rc -eq 4 ]] || fail "missing folder must exit 4, got $rc: $out"
out="$("$bin" prepare "${small[@]}" --data.on_bad_row skip --data.min_ratings 50 --run.dir "$tmp/x" 2>&1)"; rc=$?
[[ $rc -eq 5 ]] || fail "empty selection must exit 5, got $rc"
grep -q "empty selection" <<<"$out" || fail "says empty selection: $out"

# The real ML-100K with the paper's defaults.
if [[ -n "$data" && -f "$data/ml-100k/u.data" ]]; then
  mpi 2 "$bin" prepare --data.source ml100k --data.path "$data/ml-100k" --run.dir "$tmp/ml100k" >"$tmp/log" 2>&1 ||
    fail "ml100k prepare: $(cat "$tmp/log")"
  grep -q '"n_users": 200' "$tmp/ml100k/prepare/DONE" || fail "200 users selected"
  grep -q '"n_items": 1682' "$tmp/ml100k/prepare/DONE" || fail "1682 items"
else
  echo "note: ../shared/data/ml-100k absent; real-data part skipped"
fi
echo "prepare_cli: ok"
