#!/usr/bin/env bash
# The prepared GPU check (issue 19): one command for a person with a GPU.
#
#   tools/gpu_check.sh DIR [--time-limit SECONDS] [--build-dir PATH] [--jobs N]
#                          [--skip-build | --prebuilt BUNDLE | --fallback BUNDLE] [--dry-run]
#   tools/gpu_check.sh --make-bundle BUNDLE [--build-dir PATH] [--jobs N] [--skip-build]
#
# 1. configure and build test_cuda with CUDA for sm_90 (CMAKE_CUDA_ARCHITECTURES=90,
#    PERSONAS_CUDA=ON) with every core, into --build-dir (default DIR/build);
# 2. ctest -L cuda: every op and the whole model against the CPU oracle
#    (forward, backward, the train step, mixed-adapter batches, generation,
#    the memory pool), the frozen base in bf16 against the fp32 oracle
#    (CudaBf16Base.*: forward/backward, bytes, merged weights, generation);
# 3. the GPU benchmarks (tests/cuda/cuda_bench_test.cpp): LoRA train step
#    tokens/s and MFU (4N convention, the card's dense bf16 peak) and
#    mixed-persona scoring ratings/s on the Phi-3-mini and SmolLM2-135M shapes,
#    peak device memory per rank from the backend's pool (bf16 base; the
#    JSON's peak_device_memory: the largest pool peak of the runs);
# and writes DIR/gpu_check.json (results, versions, nvidia-smi, timings per
# step, pass/fail per part) and DIR/gpu_check.log. Progress goes to the
# terminal. At the time limit (default 420 s) the running part is stopped and
# the JSON says what was done; a part that cannot start in time is "not run".
#
# --skip-build  use an existing build (--build-dir) as it is
# --prebuilt BUNDLE  no build: run a bundle made by --make-bundle (a folder or
#               its .tar.xz): test_cuda and the shared libraries a bare CUDA
#               image lacks (Boost, HDF5, spdlog, OpenBLAS, ...; CUDA's own
#               and the C/C++ runtime are taken from the machine). Each CUDA
#               test then runs in its own process, as under ctest.
# --fallback BUNDLE  build as usual; if configure or the build fails, run the
#               bundle instead (one device call covers both cases)
# --make-bundle BUNDLE  (on any x86-64 machine with nvcc, no GPU needed) build
#               test_cuda for sm_90 without NCCL and write BUNDLE/ and
#               BUNDLE.tar.xz, to carry to a GPU machine that cannot build the
#               project (its image has CUDA but not this project's libraries)
# --dry-run     no cmake, no tests: every part runs a stand-in (sleep
#               $GPU_CHECK_DRY_PART_SECONDS, default 0) through the same timing
#               and JSON code (tests/e2e/gpu_check_dry_run.sh)
# Exit code: 0 when every part passed on a GPU; 1 when one failed, the time
# limit stopped the check, or no GPU answered (overall "no device": the CUDA
# tests skipped, the benchmarks wrote "no device"); 2 for bad arguments.
set -uo pipefail

usage() {
  echo "usage: tools/gpu_check.sh DIR [--time-limit SECONDS] [--build-dir PATH] [--jobs N] [--skip-build | --prebuilt B | --fallback B] [--dry-run]
       tools/gpu_check.sh --make-bundle B [--build-dir PATH] [--jobs N] [--skip-build]"
}
die_usage() {
  echo "gpu_check: $*" >&2
  usage >&2
  exit 2
}

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir=""
time_limit=420
build_dir=""
jobs="$(nproc 2>/dev/null || echo 4)"
skip_build=0
dry_run=0
prebuilt=""
fallback=""
make_bundle=""
# Internal: --run-each BIN TSV runs every test of BIN except the benchmarks,
# each in its own process, and writes name, status, seconds, message per line.
if [[ "${1:-}" == "--run-each" ]]; then
  bin="$2" tsv="$3"
  : > "$tsv"
  rc_all=0
  while read -r name; do
    t0=$(date +%s.%N)
    out="$("$bin" --gtest_filter="$name" 2>&1)"
    rc=$?
    t1=$(date +%s.%N)
    if grep -q '^\[  SKIPPED \] 1 test' <<<"$out"; then status=skipped
    elif [[ $rc -eq 0 ]] && grep -q '^\[  PASSED  \] 1 test' <<<"$out"; then status=pass
    else status=fail; rc_all=1
    fi
    msg="$(grep -m1 -E 'no usable GPU|Failure|exception|Segmentation|Aborted' <<<"$out" | tr '\t' ' ' | cut -c1-300)"
    [[ $status == fail && -z "$msg" ]] && msg="exit code $rc"
    printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$(awk "BEGIN{print $t1 - $t0}")" "$msg" >> "$tsv"
    printf '%-70s %s %s\n' "$name" "$status" "$msg"
  done < <("$bin" --gtest_list_tests --gtest_filter='-CudaBench.*' |
           awk '/^[^ ]/ {suite=$1} /^  / {print suite $1}')
  exit $rc_all
fi
while [[ $# -gt 0 ]]; do
  case "$1" in
    --prebuilt) [[ $# -ge 2 ]] || die_usage "--prebuilt needs a value"; prebuilt="$2"; shift 2 ;;
    --prebuilt=*) prebuilt="${1#*=}"; shift ;;
    --fallback) [[ $# -ge 2 ]] || die_usage "--fallback needs a value"; fallback="$2"; shift 2 ;;
    --fallback=*) fallback="${1#*=}"; shift ;;
    --make-bundle) [[ $# -ge 2 ]] || die_usage "--make-bundle needs a value"; make_bundle="$2"; shift 2 ;;
    --make-bundle=*) make_bundle="${1#*=}"; shift ;;
    --time-limit) [[ $# -ge 2 ]] || die_usage "--time-limit needs a value"; time_limit="$2"; shift 2 ;;
    --time-limit=*) time_limit="${1#*=}"; shift ;;
    --build-dir) [[ $# -ge 2 ]] || die_usage "--build-dir needs a value"; build_dir="$2"; shift 2 ;;
    --build-dir=*) build_dir="${1#*=}"; shift ;;
    --jobs) [[ $# -ge 2 ]] || die_usage "--jobs needs a value"; jobs="$2"; shift 2 ;;
    --jobs=*) jobs="${1#*=}"; shift ;;
    --skip-build) skip_build=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die_usage "unknown option '$1'" ;;
    *) [[ -z "$out_dir" ]] || die_usage "one output folder only (got '$out_dir' and '$1')"; out_dir="$1"; shift ;;
  esac
done
if [[ -n "$make_bundle" ]]; then
  [[ -z "$out_dir" && -z "$prebuilt" && $dry_run -eq 0 ]] || die_usage "--make-bundle takes no DIR, --prebuilt or --dry-run"
  out_dir="$make_bundle.work"  # the build log goes here
fi
[[ -z "$prebuilt" || $skip_build -eq 0 ]] || die_usage "--prebuilt and --skip-build exclude each other"
[[ -z "$fallback" || ( -z "$prebuilt" && $skip_build -eq 0 ) ]] || die_usage "--fallback goes with a build (not --prebuilt or --skip-build)"
[[ -n "$out_dir" ]] || die_usage "the output folder DIR is missing"
[[ "$time_limit" =~ ^[0-9]+$ && "$time_limit" -gt 0 ]] || die_usage "--time-limit must be a positive number of seconds (got '$time_limit')"
[[ "$jobs" =~ ^[0-9]+$ && "$jobs" -gt 0 ]] || die_usage "--jobs must be a positive number (got '$jobs')"
dry_seconds="${GPU_CHECK_DRY_PART_SECONDS:-0}"
[[ "$dry_seconds" =~ ^[0-9]+$ ]] || die_usage "GPU_CHECK_DRY_PART_SECONDS must be a whole number of seconds"

mkdir -p "$out_dir" || die_usage "cannot create '$out_dir'"
out_dir="$(cd "$out_dir" && pwd)"
[[ -n "$build_dir" ]] || build_dir="$out_dir/build"
mkdir -p "$build_dir" && build_dir="$(cd "$build_dir" && pwd)"
state="$out_dir/.gpu_check"   # per-part status files, read by the JSON writer
rm -rf "$state" && mkdir -p "$state"
log_file="$out_dir/gpu_check.log"
json_file="$out_dir/gpu_check.json"
bench_json="$out_dir/bench.jsonl"
: > "$log_file"
rm -f "$bench_json" "$json_file"

start=$(date +%s)
deadline=$((start + time_limit))
reserve=8   # seconds kept for writing the JSON
stopped=0
log() {
  local line
  line="[gpu_check +$(( $(date +%s) - start ))s] $*"
  echo "$line"
  echo "$line" >> "$log_file"
}

# run_part NAME MIN_SECONDS CMD...: runs CMD (output to DIR/NAME.log and the
# log) under the time left; records status (pass|fail|timeout|not run),
# seconds and exit code in $state/NAME.
run_part() {
  local name="$1" min_seconds="$2"
  shift 2
  local now left rc status t0 t1
  [[ $dry_run -eq 1 ]] && min_seconds=1  # a dry run's stand-ins need no build time
  now=$(date +%s)
  left=$((deadline - reserve - now))
  if [[ $stopped -eq 1 || $left -lt $min_seconds ]]; then
    log "$name: not run (time limit: ${left}s left, needs ${min_seconds}s)"
    printf 'status=not run\nexit_code=\n' > "$state/$name"
    stopped=1
    return 1
  fi
  log "$name: start (${left}s left)"
  t0=$(date +%s.%N)
  # In the background, so that a signal to this script is handled at once (on_signal stops the part).
  if [[ $dry_run -eq 1 ]]; then
    # The bench stand-in leaves one record shaped like CudaBench's, so the JSON's peak-memory summary is exercised.
    [[ $name == bench ]] && echo '{"bench":"dry run stand-in","part":"train_step","base_dtype":"bf16","memory_train":{"peak_bytes":1000,"peak_reserved_bytes":1234}}' > "$bench_json"
    timeout --kill-after=5 "$left" sleep "$dry_seconds" > >(tee "$out_dir/$name.log" | sed -u "s/^/  [$name] /") 2>&1 &
  else
    timeout --kill-after=10 "$left" "$@" > >(tee "$out_dir/$name.log" | sed -u "s/^/  [$name] /") 2>&1 &
  fi
  part_pid=$!
  part_name="$name"
  part_t0="$t0"
  wait "$part_pid"
  rc=$?
  part_pid=""
  t1=$(date +%s.%N)
  sleep 0.2  # let tee finish the part's log
  case $rc in
    0) status=pass ;;
    124|137) status=timeout; stopped=1 ;;
    *) status=fail ;;
  esac
  sed "s/^/  [$name] /" "$out_dir/$name.log" >> "$log_file"
  printf 'status=%s\nstart=%s\nend=%s\nexit_code=%s\n' "$status" "$t0" "$t1" "$rc" > "$state/$name"
  log "$name: $status (exit $rc)"
  [[ $status == pass ]]
}

write_json() {
  python3 - "$out_dir" "$state" "$json_file" "$start" "$time_limit" "$stopped" "$dry_run" "$build_dir" "$repo" \
    "$prebuilt" <<'PY'
import json, os, re, sys, time, subprocess, xml.etree.ElementTree as ET
out_dir, state, json_file, start, limit, stopped, dry, build_dir, repo, prebuilt = sys.argv[1:11]
start, limit = int(start), int(limit)
def read_state(name):
    p = os.path.join(state, name)
    if not os.path.exists(p): return {"status": "not run"}
    d = dict(line.split("=", 1) for line in open(p).read().splitlines() if "=" in line)
    r = {"status": d.get("status", "?")}
    try: r["seconds"] = round(float(d["end"]) - float(d["start"]), 3) if "end" in d else 0.0
    except ValueError: r["seconds"] = None
    if d.get("exit_code"): r["exit_code"] = int(d["exit_code"])
    r["log"] = os.path.join(out_dir, name + ".log")
    return r
def text_of(path):
    try: return open(path, errors="replace").read()
    except OSError: return ""
def cmd(args):
    try: return subprocess.run(args, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception as e: return "not available (%s)" % e.__class__.__name__
parts = {}
for name in ["configure", "build", "libraries", "ctest_cuda", "bench"]:
    if name == "libraries" and not os.path.exists(os.path.join(state, name)): continue
    parts[name] = read_state(name)
# ctest: JUnit when ctest finished, else the lines of its log (a stopped run).
tests = []
junit = os.path.join(out_dir, "ctest_cuda.xml")
if os.path.exists(junit):
    try:
        for case in ET.parse(junit).getroot().iter("testcase"):
            status = case.get("status") or "run"
            if case.find("failure") is not None: status = "fail"
            elif case.find("skipped") is not None or status in ("notrun", "disabled"): status = "skipped"
            elif status == "run": status = "pass"
            out = case.find("system-out")
            msg = ""
            if out is not None and out.text:
                m = re.search(r"(no usable GPU[^\n]*|benchmark[^\n]*skipped[^\n]*|Failure[^\n]*)", out.text)
                msg = m.group(1) if m else ""
            tests.append({"name": case.get("name"), "status": status,
                          "seconds": float(case.get("time") or 0), "message": msg})
    except ET.ParseError:
        pass
for line in text_of(os.path.join(out_dir, "tests.tsv")).splitlines():  # --prebuilt: one process per test
    f = line.split("\t")
    if len(f) >= 3:
        tests.append({"name": f[0], "status": f[1], "seconds": float(f[2] or 0), "message": f[3] if len(f) > 3 else ""})
if not tests:
    for line in text_of(os.path.join(out_dir, "ctest_cuda.log")).splitlines():
        m = re.match(r"\s*\d+/\d+ Test\s+#\d+: (\S+) \.+\s*(\*\*\*)?(\w[\w ]*?)\s+([\d.]+) sec", line)
        if m:
            word = m.group(3).strip().lower()
            status = "pass" if word == "passed" else "skipped" if "skip" in word else "fail"
            tests.append({"name": m.group(1), "status": status, "seconds": float(m.group(4)), "message": ""})
parts["ctest_cuda"]["tests"] = tests
for k in ("pass", "fail", "skipped"):
    parts["ctest_cuda"][k] = sum(1 for t in tests if t["status"] == k)
bench = []
for line in text_of(os.path.join(out_dir, "bench.jsonl")).splitlines():
    try: bench.append(json.loads(line))
    except ValueError: bench.append({"unparsed": line})
parts["bench"]["results"] = bench
# Peak device memory per rank: the pool's peak reserved bytes (what it held from
# cudaMalloc) of each benchmark run, and the largest of them.
peaks = {}
for b in bench:
    for key in ("memory_train", "memory_scoring"):
        m = b.get(key)
        if isinstance(m, dict) and isinstance(m.get("peak_reserved_bytes"), int):
            peaks["%s/%s" % (b.get("bench"), key[len("memory_"):])] = m["peak_reserved_bytes"]
peak_memory = {"bytes": max(peaks.values()) if peaks else None,
               "gib": round(max(peaks.values()) / 2**30, 3) if peaks else None,
               "per_run": peaks,
               "source": "CudaBench memory_stats().peak_reserved_bytes (bf16 base, one rank)"}
if any(b.get("status") == "no device" for b in bench): parts["bench"]["device"] = "no device"
smi = cmd(["nvidia-smi"])
versions = {
    "nvcc": cmd(["bash", "-c", "n=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc); $n --version | tail -n 2"]),
    "cmake": cmd(["bash", "-c", "cmake --version | head -n 1"]),
    "cxx": cmd(["bash", "-c", "c++ --version | head -n 1"]),
    "nvidia_smi": smi,
    "driver": cmd(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]),
    "git_commit": cmd(["git", "-C", repo, "rev-parse", "HEAD"]),
    "git_dirty": cmd(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"]) != "",
}
failed = [n for n, p in parts.items() if p["status"] == "fail"]
finished = [n for n, p in parts.items() if p["status"] in ("pass", "skipped", "fell back to the bundle")]
# A part stopped by the time limit (timeout) or a signal leaves the check incomplete, not failed.
overall = "fail" if failed else ("incomplete" if stopped == "1" or len(finished) < len(parts) else "pass")
if overall == "pass" and parts["bench"].get("device") == "no device": overall = "no device"
if dry == "1": overall = "dry run: " + overall
doc = {
    "schema": 1,
    "what": "tools/gpu_check.sh: CUDA build, ctest -L cuda, GPU benchmarks (issue 19)",
    "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(start)),
    "elapsed_s": round(time.time() - start, 3),
    "time_limit_s": limit,
    "stopped_at_time_limit": stopped == "1",
    "dry_run": dry == "1",
    "build_dir": build_dir,
    "prebuilt": prebuilt or None,
    "host": {"hostname": os.uname().nodename, "cores": os.cpu_count()},
    "versions": versions,
    "parts": parts,
    "peak_device_memory": peak_memory,
    "failed_parts": failed,
    "overall": overall,
}
tmp = json_file + ".tmp"
with open(tmp, "w") as f: json.dump(doc, f, indent=2)
os.replace(tmp, json_file)
print(overall)
PY
}

part_pid=""
part_name=""
part_t0=""
on_signal() {
  log "stopped by a signal: writing what was done"
  stopped=1
  if [[ -n "$part_pid" ]]; then
    kill -TERM "$part_pid" 2> /dev/null  # timeout passes it on to the running part
    wait "$part_pid" 2> /dev/null
    printf 'status=stopped by a signal\nstart=%s\nend=%s\nexit_code=\n' "$part_t0" "$(date +%s.%N)" \
      > "$state/$part_name"
  fi
  write_json > /dev/null
  exit 1
}
trap on_signal INT TERM

log "repo $repo, output $out_dir, build $build_dir, time limit ${time_limit}s, jobs $jobs$([[ $dry_run -eq 1 ]] && echo ', dry run')"
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 |
  sed 's/^/  GPU: /' | tee -a "$log_file"

set_state() {  # set_state PART STATUS: a part that ran no command
  printf 'status=%s\nexit_code=\n' "$2" > "$state/$1"
}
part_status() { sed -n 's/^status=//p' "$state/$1" 2>/dev/null; }

nccl_flag=()
[[ -n "$make_bundle" ]] && nccl_flag=(-DPERSONAS_NCCL=OFF)  # one GPU needs no NCCL, and libnccl is 200 MB
test_bin="$build_dir/tests/test_cuda"
# use_bundle: test_bin and LD_LIBRARY_PATH from the bundle in $prebuilt (a folder or .tar.xz).
use_bundle() {
  if [[ -f "$prebuilt" ]]; then  # BUNDLE.tar.xz
    mkdir -p "$out_dir/bundle"
    tar -xJf "$prebuilt" -C "$out_dir/bundle" || log "cannot unpack $prebuilt"
    prebuilt="$(find "$out_dir/bundle" -maxdepth 2 -name manifest.txt -printf '%h\n' | head -n 1)"
  fi
  prebuilt="$(cd "${prebuilt:-/nonexistent}" 2> /dev/null && pwd)"
  test_bin="$prebuilt/bin/test_cuda"
  log "prebuilt bundle ${prebuilt:-missing}: $(head -n 3 "$prebuilt/manifest.txt" 2> /dev/null | tr '\n' ' ')"
  # The bundle's libraries first, then the machine's CUDA libraries wherever they are.
  lib_path="$prebuilt/lib"
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do [[ -d "$d" ]] && lib_path="$lib_path:$d"; done
  export LD_LIBRARY_PATH="$lib_path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  for missing in $(ldd "$test_bin" 2> /dev/null | awk '/not found/ {print $1}'); do
    found="$(find /usr /opt -name "$missing" -print -quit 2> /dev/null)"
    if [[ -n "$found" ]]; then
      export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$(dirname "$found")"
      log "library $missing: $found"
    fi
  done
  if [[ ! -x "$test_bin" ]] || ldd "$test_bin" | grep -q "not found"; then
    log "the bundle cannot run here: $( [[ -x "$test_bin" ]] && ldd "$test_bin" | grep "not found" | tr -s ' \n' ' ' || echo "no $test_bin")"
    set_state libraries fail
  else
    set_state libraries pass
  fi
}

if [[ -n "$prebuilt" && $dry_run -eq 0 ]]; then
  set_state configure skipped
  set_state build skipped
  use_bundle
elif [[ $skip_build -eq 1 && $dry_run -eq 0 ]]; then
  set_state configure skipped
  set_state build skipped
  [[ -x "$test_bin" ]] || log "--skip-build: $test_bin is missing"
else
  run_part configure 20 cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DPERSONAS_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DPERSONAS_BENCH=OFF -DPERSONAS_WERROR=OFF "${nccl_flag[@]}"
  [[ "$(part_status configure)" == pass ]] && run_part build 30 cmake --build "$build_dir" --target test_cuda -j "$jobs"
  if [[ -n "$fallback" && "$(part_status build)" != pass ]]; then
    log "the build did not pass: running the bundle $fallback instead"
    for p in configure build; do  # keep their logs and times, mark what happened
      if [[ ! -f "$state/$p" ]]; then set_state "$p" "fell back to the bundle"
      elif [[ "$(part_status "$p")" != pass ]]; then sed -i 's/^status=.*/status=fell back to the bundle/' "$state/$p"
      fi
    done
    prebuilt="$fallback"
    use_bundle
  fi
fi

if [[ -n "$make_bundle" ]]; then
  [[ "$(part_status build)" =~ ^(pass|skipped)$ && -x "$test_bin" ]] || { log "no test_cuda to bundle"; exit 1; }
  rm -rf "$make_bundle" && mkdir -p "$make_bundle/bin" "$make_bundle/lib"
  cp "$test_bin" "$make_bundle/bin/"
  # Everything test_cuda loads, except the C/C++ runtime and CUDA's own
  # libraries, which a CUDA machine has in a newer or the same version.
  skip_re='/(ld-linux|libc|libm|libdl|librt|libpthread|libresolv|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcublasLt|libnccl|libnvidia)[.-]'
  ldd "$test_bin" | awk '/=> \// {print $3}' | while read -r lib; do
    if [[ "$lib" =~ $skip_re ]]; then echo "from the machine: $lib"; else cp -L "$lib" "$make_bundle/lib/"; fi
  done > "$make_bundle/machine-libs.txt"
  {
    echo "gpu_check bundle: test_cuda for sm_90, built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n)"
    echo "commit $(git -C "$repo" rev-parse HEAD)$([[ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]] && echo ' (with local changes)')"
    echo "nvcc $("${CUDACXX:-/usr/local/cuda/bin/nvcc}" --version 2> /dev/null | tail -n 1)"
    echo "bundled: $(ls "$make_bundle/lib" | tr '\n' ' ')"
    cat "$make_bundle/machine-libs.txt"
  } > "$make_bundle/manifest.txt"
  XZ_OPT="${XZ_OPT:--T0}" tar -cJf "$make_bundle.tar.xz" -C "$(dirname "$make_bundle")" "$(basename "$make_bundle")"
  log "bundle $make_bundle: $(du -sh "$make_bundle" | cut -f1) ($(ls "$make_bundle/lib" | wc -l) libraries); $make_bundle.tar.xz: $(du -h "$make_bundle.tar.xz" | cut -f1)"
  log "on the GPU machine: tools/gpu_check.sh DIR --prebuilt $make_bundle.tar.xz"
  exit 0
fi

build_ok=1
parts_needed=(configure build)
[[ -n "$prebuilt" && $dry_run -eq 0 ]] && parts_needed=(libraries)
for p in "${parts_needed[@]}"; do
  [[ -f "$state/$p" ]] || continue
  [[ "$(part_status "$p")" =~ ^(pass|skipped)$ ]] || build_ok=0
done
if [[ $build_ok -eq 1 ]]; then
  if [[ -n "$prebuilt" && $dry_run -eq 0 ]]; then
    # No build tree here, so no ctest: the same tests, each in its own process.
    run_part ctest_cuda 20 bash "${BASH_SOURCE[0]}" --run-each "$test_bin" "$out_dir/tests.tsv"
  else
    # Every CUDA test as its own process (gtest_discover_tests); the benchmarks skip here (no PERSONAS_CUDA_BENCH).
    run_part ctest_cuda 20 ctest --test-dir "$build_dir" -L cuda --output-on-failure --timeout 300 \
      --output-junit "$out_dir/ctest_cuda.xml"
  fi
  # The benchmarks stop timing steps at the deadline (PERSONAS_CUDA_BENCH_DEADLINE) and write what they measured.
  run_part bench 30 env PERSONAS_CUDA_BENCH=1 PERSONAS_CUDA_BENCH_JSON="$bench_json" \
    PERSONAS_CUDA_BENCH_DEADLINE="$((deadline - reserve - 15))" \
    "$test_bin" --gtest_filter='CudaBench.Environment:CudaBench.SmolLM2_135M:CudaBench.Phi3Mini:CudaBench.LoraKernelsVsCublas'
else
  for p in ctest_cuda bench; do
    log "$p: not run (no test_cuda to run)"
    set_state "$p" "not run"
  done
fi

overall="$(write_json)"
log "wrote $json_file: $overall"
rm -rf "$state"
case "$overall" in
  pass|"dry run: pass") exit 0 ;;
  *) exit 1 ;;
esac
