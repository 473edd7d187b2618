#!/usr/bin/env bash
# tools/gpu_check.sh without a GPU and without building: its argument
# handling (exit 2 with the usage), the JSON and log it writes (a dry run puts
# a stand-in in every part), and the stop at the time limit (a part cut by
# timeout, the next ones "not run", the JSON still written).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
script="$src/tools/gpu_check.sh"
e2e_tmpdir gpu-check-dry-run
json() {  # json FILE EXPR: prints EXPR evaluated on the parsed document d
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1" || fail "$1 is not valid JSON"
}

bash "$script" > /dev/null 2>&1; [[ $? -eq 2 ]] || fail "no DIR must exit 2"
bash "$script" "$tmp/a" --time-limit soon > /dev/null 2>&1; [[ $? -eq 2 ]] || fail "a bad --time-limit must exit 2"
bash "$script" "$tmp/a" --no-such-flag > /dev/null 2>&1; [[ $? -eq 2 ]] || fail "an unknown option must exit 2"
bash "$script" "$tmp/a" "$tmp/b" > /dev/null 2>&1; [[ $? -eq 2 ]] || fail "two folders must exit 2"
grep -q "usage\|DIR \[--time-limit" <<<"$(bash "$script" --help 2>&1)" || fail "--help shows the usage"

out="$(bash "$script" "$tmp/full" --dry-run --time-limit 60 2>&1)"; rc=$?
[[ $rc -eq 0 ]] || fail "a dry run must exit 0, got $rc: $out"
[[ -s "$tmp/full/gpu_check.log" ]] || fail "no gpu_check.log"
[[ "$(json "$tmp/full/gpu_check.json" 'd["overall"]')" == "dry run: pass" ]] || fail "overall of the dry run"
[[ "$(json "$tmp/full/gpu_check.json" '",".join(d["parts"][p]["status"] for p in ["configure","build","ctest_cuda","bench"])')" == "pass,pass,pass,pass" ]] ||
  fail "every part passes in a dry run"
[[ "$(json "$tmp/full/gpu_check.json" 'd["dry_run"] and not d["stopped_at_time_limit"] and d["time_limit_s"] == 60 and "nvidia_smi" in d["versions"] and isinstance(d["parts"]["ctest_cuda"]["tests"], list)')" == "True" ]] ||
  fail "fields of gpu_check.json"
grep -q "bench: pass" "$tmp/full/gpu_check.log" || fail "the log lists the parts"
[[ "$(json "$tmp/full/gpu_check.json" 'd["peak_device_memory"]["bytes"] == 1234 and d["peak_device_memory"]["per_run"] == {"dry run stand-in/train": 1234}')" == "True" ]] ||
  fail "peak_device_memory from the bench records: $(json "$tmp/full/gpu_check.json" 'd.get("peak_device_memory")')"

# Time limit: 15 s minus the 8 s kept for the JSON leaves 7 s; a 30 s part is cut, the later ones do not start.
t0=$(date +%s)
GPU_CHECK_DRY_PART_SECONDS=30 bash "$script" "$tmp/cut" --dry-run --time-limit 15 > "$tmp/cut.out" 2>&1; rc=$?
elapsed=$(( $(date +%s) - t0 ))
[[ $rc -eq 1 ]] || fail "a check stopped at its time limit must exit 1, got $rc: $(cat "$tmp/cut.out")"
[[ $elapsed -le 25 ]] || fail "the time limit of 15 s took ${elapsed} s"
[[ "$(json "$tmp/cut/gpu_check.json" 'd["stopped_at_time_limit"]')" == "True" ]] || fail "stopped_at_time_limit"
[[ "$(json "$tmp/cut/gpu_check.json" '",".join(d["parts"][p]["status"] for p in ["configure","build","ctest_cuda","bench"])')" == "timeout,not run,not run,not run" ]] ||
  fail "parts after the cut: $(json "$tmp/cut/gpu_check.json" 'd["parts"]')"
[[ "$(json "$tmp/cut/gpu_check.json" 'd["overall"]')" == "dry run: incomplete" ]] || fail "overall of a cut run"
echo "gpu_check dry run: ok"
