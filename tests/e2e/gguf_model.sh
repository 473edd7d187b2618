#!/usr/bin/env bash
# A GGUF model end to end through the CLI: `personas convert --from gguf`
# (the tiny llama fixture with every quant type, and malformed files),
# `personas tokenize`, `personas generate --chat --logprobs`; with the real
# SmolLM2-135M-Instruct fetched (scripts/fetch-model.sh smollm2), the answer a
# person trying it sees.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_tmpdir gguf-model
fixture="$src/tests/golden/fixtures/gguf/tiny-llama.gguf"

"$bin" convert --from gguf "$fixture" --out "$tmp/tiny.h5" >"$tmp/log" 2>&1 || fail "convert gguf: $(cat "$tmp/log")"
grep -q "Q6_K" "$tmp/log" || fail "the conversion log must list the tensor types: $(cat "$tmp/log")"
"$bin" convert --from gguf "$fixture" --out "$tmp/tiny16.h5" --dtype bf16 >/dev/null 2>&1 || fail "convert gguf bf16"
(( $(stat -c %s "$tmp/tiny16.h5") < $(stat -c %s "$tmp/tiny.h5") )) || fail "bf16 file must be smaller"

# tokenize: pieces, ids, decode round trip.
out="$("$bin" tokenize --model "$tmp/tiny.h5" "the end" 2>&1)" || fail "tokenize: $out"
grep -q "tokens (byte_bpe" <<<"$out" || fail "tokenize must name the tokenizer kind: $out"
ids="$("$bin" tokenize --model "$tmp/tiny.h5" --ids "<|im_start|>the end" 2>/dev/null)" || fail "tokenize --ids"
[[ "$(awk '{print $1}' <<<"$ids")" == "1" ]] || fail "<|im_start|> must be one token (id 1): $ids"
back="$("$bin" tokenize --model "$tmp/tiny.h5" --decode $ids 2>/dev/null)"
[[ "$back" == "<|im_start|>the end" ]] || fail "decode round trip: '$back'"

# generate --logprobs: one JSON object per generated position, top-K sorted, log-probabilities <= 0.
"$bin" generate --model "$tmp/tiny.h5" --chat --prompt "hello" --max-tokens 5 --temperature 0 --logprobs 3 \
  >"$tmp/lp.jsonl" 2>"$tmp/log" || fail "generate --logprobs: $(cat "$tmp/log")"
python3 - "$tmp/lp.jsonl" <<'PY' || fail "generate --logprobs output: $(cat "$tmp/lp.jsonl")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert 1 <= len(lines) <= 5, len(lines)
for i, l in enumerate(lines):
    assert l["position"] == i
    top = l["top"]
    assert len(top) == 3
    assert all(t["logprob"] <= 0 for t in top)
    assert all(top[j]["logprob"] >= top[j + 1]["logprob"] for j in range(2))
    assert l["id"] == top[0]["id"], "greedy picks the top token"
    assert abs(l["logprob"] - top[0]["logprob"]) < 1e-9
PY

# Malformed files: data errors (exit 5) naming the file; nothing written.
head -c 200 "$fixture" >"$tmp/truncated.gguf"
out="$("$bin" convert --from gguf "$tmp/truncated.gguf" --out "$tmp/x.h5" 2>&1)"; rc=$?
[[ $rc -eq 5 ]] || fail "truncated GGUF must exit 5, got $rc: $out"
grep -q "truncated.gguf" <<<"$out" || fail "the error must name the file: $out"
printf 'GGML%s' "$(head -c 100 /dev/zero | tr '\0' x)" >"$tmp/magic.gguf"
out="$("$bin" convert --from gguf "$tmp/magic.gguf" --out "$tmp/x.h5" 2>&1)"; rc=$?
[[ $rc -eq 5 ]] || fail "wrong magic must exit 5, got $rc: $out"
[[ ! -e "$tmp/x.h5" ]] || fail "a failed conversion must not leave an output"

# The real model, when fetched.
cache="${PERSONAS_CACHE:-$HOME/.cache/personas}"
real="$cache/models/smollm2/smollm2-135m-instruct.h5"
if [[ -f "$real" ]]; then
  answer="$("$bin" generate --model "$real" --chat --prompt "What is the capital of France?" --temperature 0 \
            --max-tokens 24 2>"$tmp/log")" || fail "generate on SmolLM2: $(cat "$tmp/log")"
  echo "SmolLM2: $answer"
  grep -q "Paris" <<<"$answer" || fail "SmolLM2 must answer Paris: '$answer'"
  out="$("$bin" tokenize --model "$real" --ids "1993" 2>/dev/null)"
  [[ "$out" == "33 41 41 35" ]] || fail "SmolLM2 splits digits: '$out'"
else
  echo "SKIP part: $real not found (run scripts/fetch-model.sh smollm2)"
fi
echo "PASS"
