#!/usr/bin/env bash
# `personas convert` (Hugging Face folder, llama2.c file) and `personas
# init-model` end to end: outputs load, errors exit with the documented codes.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
data="${PERSONAS_DEFAULT_DATA:-}"
e2e_tmpdir convert-init-model

# Hugging Face folder (the golden tiny Phi-3), f32 and bf16.
"$bin" convert --from hf "$src/tests/golden/fixtures/tiny_phi3" --out "$tmp/g.h5" --dtype f32 >"$tmp/log" 2>&1 ||
  fail "convert hf: $(cat "$tmp/log")"
grep -q "no tokenizer.model" "$tmp/log" || fail "convert hf must warn about the missing tokenizer"
"$bin" convert --from hf "$src/tests/golden/fixtures/tiny_phi3" --out "$tmp/g16.h5" --dtype bf16 >/dev/null 2>&1 ||
  fail "convert hf bf16"
(( $(stat -c %s "$tmp/g16.h5") < $(stat -c %s "$tmp/g.h5") )) || fail "bf16 file must be smaller"

# init-model tiny with a tokenizer trained here; same seed, same file content.
for i in $(seq 1 300); do echo "user $i rated Heat (1995) $((i % 5 + 1)) stars and liked thrillers"; done >"$tmp/corpus.txt"
"$bin" init-model --preset tiny --seed 5 --out "$tmp/t1.h5" --tokenizer-corpus "$tmp/corpus.txt" >"$tmp/log" 2>&1 ||
  fail "init-model: $(cat "$tmp/log")"
"$bin" init-model --preset tiny --seed 5 --out "$tmp/t2.h5" --tokenizer-corpus "$tmp/corpus.txt" --run.threads 1 \
  >/dev/null 2>&1 || fail "init-model again"
if command -v h5diff >/dev/null; then h5diff "$tmp/t1.h5" "$tmp/t2.h5" >/dev/null || fail "same seed, different model"; fi

# Errors: usage 2, I/O 4, data 5.
"$bin" init-model --preset huge --seed 1 --out "$tmp/x.h5" --tokenizer-corpus "$tmp/corpus.txt" >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "unknown preset must exit 2"
"$bin" init-model --preset tiny --out "$tmp/x.h5" >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "init-model without a tokenizer source must exit 2"
"$bin" convert --from hf "$tmp/nowhere" --out "$tmp/x.h5" >/dev/null 2>&1
[[ $? -eq 4 ]] || fail "missing folder must exit 4"
"$bin" convert --from onnx "$tmp/x" --out "$tmp/x.h5" >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "unknown source kind must exit 2"
"$bin" convert --from gguf "$tmp/x.gguf" --out "$tmp/x.h5" >/dev/null 2>&1
[[ $? -eq 4 ]] || fail "missing GGUF file must exit 4"
mkdir -p "$tmp/bad" && cp "$src/tests/golden/fixtures/tiny_phi3/config.json" "$tmp/bad/"
head -c 100 "$src/tests/golden/fixtures/tiny_phi3/model.safetensors" >"$tmp/bad/model.safetensors"
out="$("$bin" convert --from hf "$tmp/bad" --out "$tmp/x.h5" 2>&1)"; rc=$?
[[ $rc -eq 5 ]] || fail "truncated safetensors must exit 5, got $rc: $out"
grep -q "model.safetensors" <<<"$out" || fail "names the file: $out"
[[ ! -e "$tmp/x.h5" ]] || fail "no output after a failure"

# llama2.c (needs ../shared/data).
if [[ -f "$data/stories260K/stories260K.bin" ]]; then
  "$bin" convert --from llama2c "$data/stories260K/stories260K.bin" --tokenizer "$data/stories260K/tok512.model" \
    --out "$tmp/s.h5" >"$tmp/log" 2>&1 || fail "convert llama2c: $(cat "$tmp/log")"
  grep -q "dim 64, 5 layers, 8 heads (4 kv), vocab 512, shared classifier" "$tmp/log" || fail "llama2c summary"
  "$bin" convert --from llama2c "$data/stories260K/stories260K.bin" --out "$tmp/x.h5" >/dev/null 2>&1
  [[ $? -eq 2 ]] || fail "llama2c without --tokenizer must exit 2"
else
  echo "note: ../shared/data absent, llama2.c part skipped"
fi
echo "OK"
