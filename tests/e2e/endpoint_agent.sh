#!/usr/bin/env bash
# e2e: the endpoint agent (eval.agents = endpoint) against the scripted
# OpenAI-compatible server tests/e2e/fake_openai.py, which answers a rating
# prompt with log-probabilities centred on the item's average in the prompt.
# A quickstart run up to cluster (no training is needed), then `personas eval`
# with the endpoint agent: one request per test rating, metrics by value,
# the agent's expected rating within the digits' range; the same command again
# with another agent added asks it nothing (journal); a server that refuses exits 6 (provider); no
# eval.endpoint_model exits 3 (config).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_tmpdir endpoint-agent
server=""
trap '[[ -n "$server" ]] && kill "$server" 2>/dev/null; [[ -n "${KEEP:-}" ]] || rm -rf "$tmp"' EXIT

start_server() {  # start_server DIR [flags]: the fake server, its port in DIR/port
  mkdir -p "$1"
  python3 "$src/tests/e2e/fake_openai.py" "$1/port" "$1/requests" "${@:2}" >"$1/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do [[ -s "$1/port" ]] && break; sleep 0.1; done
  [[ -s "$1/port" ]] || fail "the fake endpoint did not start: $(cat "$1/server.log")"
}

common=(--config "$src/configs/quickstart.ini" --run.dir "$tmp/run" --data.n_users 16)
"$bin" run "${common[@]}" --until cluster >"$tmp/log" 2>&1 || fail "run --until cluster: $(cat "$tmp/log")"

start_server "$tmp/ok"
eval_args=("${common[@]}" --eval.agents endpoint --eval.endpoint_base_url "http://127.0.0.1:$(cat "$tmp/ok/port")/v1"
           --eval.endpoint_model fake --eval.baselines item_mean,bias --eval.bootstrap_samples 20
           --eval.write_predictions true)
"$bin" eval "${eval_args[@]}" >"$tmp/log" 2>&1 || fail "eval with the endpoint agent: $(cat "$tmp/log")"
python3 "$src/tests/e2e/check_metrics.py" "$tmp/run/eval/metrics.json" --require agent_endpoint,bias --max-rmse 3 ||
  fail "metrics: $(cat "$tmp/run/eval/metrics.json")"
requests="$(wc -l <"$tmp/ok/requests")"
python3 - "$tmp/run/eval" "$requests" <<'PY' || fail "the endpoint agent's ratings"
import glob, json, math, sys
doc = json.load(open(sys.argv[1] + "/metrics.json"))
agent = next(p for p in doc["predictors"] if p["name"] == "agent_endpoint")["overall"]
assert agent["urr"] == 0, agent
assert agent["n_rated"] == int(sys.argv[2]), (agent["n_rated"], sys.argv[2], "one request per rating")
rows = [json.loads(l) for f in glob.glob(sys.argv[1] + "/predictions-rank-*.jsonl") for l in open(f)]
mine = [r for r in rows if r.get("predictor") == "agent_endpoint"]
assert len(mine) == agent["n_rated"], (len(mine), agent["n_rated"])
# The fake's expected digit under exp(-(d - average)^2) lies strictly inside 1..5 and varies by item.
values = [r["predicted"] for r in mine]
assert all(1.0 < v < 5.0 for v in values), values[:10]
assert len(set(round(v, 3) for v in values)) > 3, "the ratings do not follow the items"
print(f"agent_endpoint: {agent['n_rated']} ratings, RMSE {agent['rmse']:.4f}")
PY

# Another agent joins: the endpoint's ratings are kept, and it is asked nothing.
"$bin" eval "${eval_args[@]}" --eval.agents endpoint,zero_shot >"$tmp/log" 2>&1 || fail "eval again: $(cat "$tmp/log")"
[[ "$(wc -l <"$tmp/ok/requests")" -eq "$requests" ]] || fail "the rerun asked the endpoint again"
grep -q "agents 'endpoint': 16 users rated by an earlier run are kept" "$tmp/log" || fail "no journal reuse: $(cat "$tmp/log")"
kill "$server"; server=""

start_server "$tmp/refuse" --fail
rc=0
"$bin" eval "${common[@]}" --eval.agents endpoint --eval.endpoint_model other --eval.endpoint_max_attempts 1 \
  --eval.endpoint_base_url "http://127.0.0.1:$(cat "$tmp/refuse/port")/v1" >"$tmp/log" 2>&1 || rc=$?
[[ $rc -eq 6 ]] || fail "a refusing server must exit 6, got $rc: $(cat "$tmp/log")"
grep -q "endpoint agent: user" "$tmp/log" || fail "the error names no user: $(cat "$tmp/log")"

rc=0
"$bin" eval "${common[@]}" --eval.agents endpoint >"$tmp/log" 2>&1 || rc=$?
[[ $rc -eq 3 ]] || fail "no eval.endpoint_model must exit 3, got $rc: $(cat "$tmp/log")"
grep -q "eval.endpoint_model" "$tmp/log" || fail "the error names no key: $(cat "$tmp/log")"
echo "PASS: endpoint agent"
