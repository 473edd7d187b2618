#!/usr/bin/env python3
"""Golden fixtures for the SmolLM2-135M-Instruct GGUF import (issue 20, acceptance 1).

Runs the numpy reference of tools/golden/smollm2_reference.py on the real
GGUF and writes tests/golden/fixtures/smollm2/golden.json (layout in that
folder's README.md). Run from anywhere:

    /root/.cache/personas/venv-tools/bin/python tools/golden/make_smollm2_golden.py \
        [--gguf PATH] [--out DIR]

Before writing, it checks itself and stops on any failure:
  * the tokenizer: llama.cpp's pre-tokenizer fingerprint for `smollm`, digit,
    byte and special-token cases, and a decode round trip of every prompt;
  * the chat template: the file's own Jinja template (if jinja2 is installed)
    renders every chat prompt exactly as render_chatml does;
  * RoPE: GGUF rows + adjacent pairs == un-permuted rows + rotate_half;
  * the KV cache: cached greedy steps == one full forward over prompt + answer;
  * the figures of /work/shared/docs/PRETRAINED-BASE.md section 2.6 (printed as a
    comparison; top-5 ids and the France answer must agree).
Deterministic: no clock or randomness goes into the JSON (the id sample uses a
fixed seed); timings are only printed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gguf  # noqa: E402
import tokenizers  # noqa: E402

from smollm2_reference import (  # noqa: E402
    GGUFModelFile, Llama, build_tokenizer, default_gguf_path, encode, logsumexp, render_chatml, round_to_bf16,
    sha256_of, top_indices)

FIXTURES = os.path.normpath(os.path.join(HERE, "..", "..", "tests", "golden", "fixtures", "smollm2"))
MAX_NEW = 32
N_FIXED = 1000
FIXED_SEED = 20
TOP_K = 50
GAP_THRESHOLD = 0.5

# llama.cpp's convert_hf_to_gguf.py check text and the sha256 of str(ids) it lists for HuggingFaceTB/SmolLM-135M
# ("smollm"); a tokenizer that reproduces it tokenizes like the original HF tokenizer on this text.
CHKTXT = ('\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ '
          '🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ '
          '------======= нещо на Български \'\'\'\'\'\'```````""""......!!!!!!?????? I\'ve been \'told he\'s there, '
          '\'RE you sure? \'M not sure I\'ll make it, \'D you like some tea? We\'Ve a\'lL')
CHKHSH_SMOLLM = "855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249"

# ---------------------------------------------------------------------------------------------
# Prompts. The rating ones reproduce src/train/prompt.cpp (render_paper / render_compact) by hand.

PAPER_HEADER = ("You are a movie viewer in a recommender system. Rate movies exactly as the person described below "
                "would.\n\nPERSONA:\n")
PAPER_TASK = ("TASK: Based on your persona and memories, rate the movie below on a scale of 1 to 5 "
              "(1 = hated it, 5 = loved it). Answer with one digit.\n\n")
TOY_STORY = "Toy Story (1995); genres: Animation, Children's, Comedy; average rating 3.9 from 452 ratings"
PERSONA_SENTENCE = ("A 35-year-old engineer from Minnesota who watches movies of all genres and rates them like "
                    "most viewers do.")
LONG_PROFILE = ("I am a 35-year-old engineer from Minnesota. I enjoy animated films and clever comedies, and I like "
                "science fiction when the story is strong. Movies I loved include Aladdin (1992) (5 stars). Movies I "
                "did not enjoy include Scream (1996) (2 stars).")
LONG_MEMORIES = [
    "I rated Aladdin (1992) as 5 because the songs and the genie are wonderful.",
    "I rated Lion King, The (1994) as 4 because it is moving and beautifully drawn.",
    "I rated Star Wars (1977) as 5 because it is a timeless adventure.",
    "I rated Scream (1996) as 2 because horror is not for me.",
]


def paper_prompt(traits: str, profile: str, memories: list[str], movie: str) -> list[dict]:
    system = PAPER_HEADER + traits
    if profile:
        system += "\n" + profile
    user = ""
    if memories:
        user += "YOUR MEMORIES:\n" + "".join("- " + m + "\n" for m in memories) + "\n"
    user += PAPER_TASK + "MOVIE: " + movie + "\n\nRATING:"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def compact_prompt(profile: str, memories: list[str], movie: str) -> list[dict]:
    user = "".join("Memory: " + m + "\n" for m in memories) + "Movie: " + movie + "\nRate 1-5:"
    return [{"role": "system", "content": profile}, {"role": "user", "content": user}]


PROMPTS = [
    dict(name="chat_france", kind="chat",
         messages=[{"role": "user", "content": "What is the capital of France?"}],
         note="ChatML, no system message (the template's default system prompt)"),
    dict(name="raw_story", kind="raw", text="Once upon a time, there was a little",
         note="raw text, no template, no BOS"),
    dict(name="chat_rating_paper", kind="chat",
         messages=paper_prompt("", PERSONA_SENTENCE, [], TOY_STORY),
         note="src/train/prompt.cpp render_paper with train.prompt_traits off, one persona sentence as the "
              "profile, no memories"),
    dict(name="chat_system", kind="chat",
         messages=[{"role": "system", "content": "You are a film critic. Answer in two short sentences."},
                   {"role": "user", "content": "What is the movie Toy Story (1995) about?"}],
         note="ChatML with an explicit system message"),
    dict(name="chat_rating_long", kind="chat",
         messages=paper_prompt("", LONG_PROFILE, LONG_MEMORIES, TOY_STORY),
         note="render_paper with train.prompt_traits off, a profile and four retrieved memories"),
    dict(name="chat_rating_compact_latin1", kind="chat",
         messages=compact_prompt("I love French films and musicals.",
                                 ["I rated Amélie (2001) as 5 because it is charming."],
                                 "Misérables, Les (1995); genres: Drama, Musical; average rating 3.7 from 21 ratings"),
         note="render_compact with accented (Latin-1 origin, UTF-8) titles; the figures are illustrative"),
]
BF16_PROMPTS = ("chat_france", "chat_rating_paper")


def prompt_text(p: dict) -> str:
    return p["text"] if p["kind"] == "raw" else render_chatml(p["messages"], add_generation_prompt=True)


# ---------------------------------------------------------------------------------------------
# Checks


def check(cond: bool, what: str):
    if not cond:
        raise SystemExit(f"CHECK FAILED: {what}")
    print(f"  ok: {what}")


def check_tokenizer(tok, prompts_text: dict[str, str]) -> dict:
    chk = encode(tok, CHKTXT)
    chkhsh = hashlib.sha256(str(chk).encode()).hexdigest()
    check(chkhsh == CHKHSH_SMOLLM, f"llama.cpp pre-tokenizer fingerprint smollm ({chkhsh[:16]}...)")
    cases = {"1993": [33, 41, 41, 35], "4.5": [36, 30, 37], "a\x04b": [81, 82], "4<|im_end|>\n": [36, 2, 198],
             "<|im_start|>": [1], "<|endoftext|>": [0]}
    for text, want in cases.items():
        got = encode(tok, text)
        check(got == want, f"encode({text!r}) = {got}")
    for name, text in prompts_text.items():
        ids = encode(tok, text)
        check(tok.decode(ids, skip_special_tokens=False) == text, f"decode(encode({name})) round trip")
    return dict(chkhsh=chkhsh, cases={k: v for k, v in cases.items()})


def check_template(mf: GGUFModelFile) -> bool:
    try:
        import jinja2
    except ImportError:
        print("  skipped: jinja2 not installed, the chat template was not rendered by Jinja")
        return False
    t = jinja2.Environment().from_string(mf.chat_template)
    for p in PROMPTS:
        if p["kind"] != "chat":
            continue
        want = t.render(messages=p["messages"], add_generation_prompt=True)
        check(want == render_chatml(p["messages"]), f"Jinja chat_template == render_chatml ({p['name']})")
    return True


# ---------------------------------------------------------------------------------------------


def kl(p_logits: np.ndarray, q_logits: np.ndarray) -> float:
    """KL(p || q) of the softmaxes, in float64."""
    a = np.asarray(p_logits, np.float64)
    b = np.asarray(q_logits, np.float64)
    la, lb = a - logsumexp(a), b - logsumexp(b)
    return float(np.sum(np.exp(la) * (la - lb)))


def top_block(logits: np.ndarray, k: int) -> dict:
    order = top_indices(logits, k + 1)
    return dict(ids=[int(i) for i in order[:k]], values=[float(logits[i]) for i in order[:k]])


def compare(ref: np.ndarray, other: np.ndarray) -> dict:
    r20 = set(int(i) for i in top_indices(ref, 20))
    o20 = set(int(i) for i in top_indices(other, 20))
    return dict(max_abs_diff=float(np.max(np.abs(ref.astype(np.float64) - other.astype(np.float64)))),
                kl_ref_other=kl(ref, other), top1_same=int(np.argmax(ref)) == int(np.argmax(other)),
                top20_overlap=len(r20 & o20))


def stable_prefix(steps: list[dict]) -> int:
    """Steps whose top-1/top-2 gap is above the threshold, counted from the start until the first that is not."""
    n = 0
    for s in steps:
        if s["gap"] <= GAP_THRESHOLD:
            break
        n += 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", default=default_gguf_path())
    ap.add_argument("--out", default=FIXTURES)
    args = ap.parse_args()

    print(f"GGUF {args.gguf}")
    sha = sha256_of(args.gguf)
    print(f"  sha256 {sha}")
    t0 = time.perf_counter()
    mf = GGUFModelFile(args.gguf)
    tok = build_tokenizer(mf)
    print(f"  loaded and dequantized in {time.perf_counter() - t0:.1f} s")

    texts = {p["name"]: prompt_text(p) for p in PROMPTS}
    print("tokenizer")
    tok_checks = check_tokenizer(tok, texts)
    print("chat template")
    template_checked = check_template(mf)
    ids_of = {name: encode(tok, text) for name, text in texts.items()}
    for name, ids in ids_of.items():
        print(f"  {name}: {len(ids)} tokens")

    # Fixed id set: 17 control ids, the digits 32..41, then a seeded sample of the rest.
    rng = np.random.default_rng(FIXED_SEED)
    base = list(range(17)) + list(range(32, 42))
    rest = np.setdiff1d(np.arange(len(mf.tokens)), np.asarray(base))
    fixed_ids = sorted(base + [int(i) for i in rng.choice(rest, size=N_FIXED - len(base), replace=False)])
    fixed = np.asarray(fixed_ids)

    print("float64 reference (hf layout: un-permuted q/k, rotate_half)")
    m64 = Llama(mf, np.float64, "hf")
    results, timings = {}, {}
    for p in PROMPTS:
        ids = ids_of[p["name"]]
        tm = {}
        logits, steps = m64.greedy(ids, MAX_NEW, timing=tm)
        results[p["name"]] = dict(logits=logits, steps=steps)
        timings[p["name"]] = (len(ids), tm["prefill_s"], tm["decode_s"], len(steps))
        ans = tok.decode([s["id"] for s in steps], skip_special_tokens=False)
        print(f"  {p['name']}: {len(ids)} tok, prefill {tm['prefill_s']:.2f} s, {len(steps)} steps, "
              f"decode {tm['decode_s']:.2f} s: {ans!r}")

    print("RoPE layouts (float64, chat_france)")
    mg = Llama(mf, np.float64, "gguf")
    lg = mg.forward(ids_of["chat_france"])
    rope_diff = float(np.max(np.abs(lg - results["chat_france"]["logits"])))
    check(rope_diff < 1e-9, f"GGUF rows + adjacent-pair RoPE == un-permuted + rotate_half (max |diff| {rope_diff:.2e})")
    del mg

    print("KV cache (float64, chat_france): cached greedy steps vs one full forward over prompt + answer")
    steps = results["chat_france"]["steps"]
    ids = ids_of["chat_france"]
    full = m64.forward(ids + [s["id"] for s in steps[:-1]], all_logits=True)[len(ids) - 1:]
    kv_diff = max(abs(float(full[i][s["top_ids"][j]]) - s["top_values"][j])
                  for i, s in enumerate(steps) for j in range(5))
    check(kv_diff < 1e-9, f"top-5 logits of every step agree (max |diff| {kv_diff:.2e})")

    print("PRETRAINED-BASE.md section 2.6 figures")
    doc = {"chat_france": [(504, 25.33), (60, 25.24), (15319, 24.94), (2219, 24.40), (7026, 24.32)],
           "raw_story": [(8180, 17.55), (3102, 17.06), (6560, 15.06), (5432, 14.99), (7706, 14.95)]}
    doc_cmp = {}
    for name, want in doc.items():
        lgt = results[name]["logits"]
        top = top_indices(lgt, 5)
        got = [(int(i), float(lgt[i])) for i in top]
        check([g[0] for g in got] == [w[0] for w in want], f"{name} top-5 ids {[g[0] for g in got]}")
        d = max(abs(g[1] - w[1]) for g, w in zip(got, want))
        print(f"    {name}: " + " · ".join(f"{i} {tok.id_to_token(i)} {v:.4f}" for i, v in got)
              + f"  (max |ours - doc's 2-decimal value| = {d:.4f})")
        doc_cmp[name] = dict(doc=want, ours=[[i, v] for i, v in got], max_abs_diff_vs_rounded=d)
    france = [s["id"] for s in results["chat_france"]["steps"]]
    check(france == [504, 3575, 282, 4649, 314, 7042, 30, 2], f"greedy chat_france = {france}")

    print("float32 (same forward, every weight and operation in float32)")
    m32 = Llama(mf, np.float32, "hf")
    f32 = {}
    for p in PROMPTS:
        ids = ids_of[p["name"]]
        first, steps = m32.greedy(ids, MAX_NEW)
        ref = results[p["name"]]
        c = compare(ref["logits"], first)
        ref_path = [s["id"] for s in ref["steps"]]
        path = [s["id"] for s in steps]
        c.update(greedy_ids=path, greedy_same=path == ref_path, values_at_fixed_ids=[float(v) for v in first[fixed]],
                 logsumexp=logsumexp(first))
        f32[p["name"]] = c
        print(f"  {p['name']}: max |f64 - f32| {c['max_abs_diff']:.2e}, KL {c['kl_ref_other']:.1e}, "
              f"top-20 {c['top20_overlap']}/20, greedy same: {c['greedy_same']}")
    del m32

    print("bf16 weights (RNE rounding of every 2-D weight), fp32 compute")
    # The F32 norm vectors of this file are already bf16 values (checked), so rounding them changes nothing.
    norms_exact = all(np.array_equal(round_to_bf16(a), a) for n, a in mf.tensors.items() if a.ndim == 1)
    print(f"  1-D (norm) weights already bf16-exact: {norms_exact}")
    mb = Llama(mf, np.float32, "hf", bf16_matrices=True)
    bf16 = {}
    for name in BF16_PROMPTS:
        lb = mb.forward(ids_of[name])
        c = compare(results[name]["logits"], lb)
        top = top_indices(lb, 20)
        c.update(top20_ids=[int(i) for i in top], values_at_fixed_ids=[float(v) for v in lb[fixed]],
                 logsumexp=logsumexp(lb))
        bf16[name] = c
        print(f"  {name}: max |f64 - bf16| {c['max_abs_diff']:.4f}, KL {c['kl_ref_other']:.1e}, "
              f"top-1 same {c['top1_same']}, top-20 {c['top20_overlap']}/20")
    del mb

    out_prompts = []
    for p in PROMPTS:
        name = p["name"]
        r = results[name]
        lgt = r["logits"]
        top = top_indices(lgt, 21)
        entry = dict(name=name, kind=p["kind"], note=p["note"])
        if p["kind"] == "chat":
            entry["messages"] = p["messages"]
        entry.update(
            text=texts[name], ids=ids_of[name],
            top=top_block(lgt, TOP_K),
            top20_margin=float(lgt[top[19]] - lgt[top[20]]),
            values_at_fixed_ids=[float(v) for v in lgt[fixed]],
            logsumexp=logsumexp(lgt),
            greedy=dict(steps=[dict(id=s["id"], gap=s["gap"], top5_ids=s["top_ids"], top5_values=s["top_values"])
                               for s in r["steps"]],
                        text=tok.decode([s["id"] for s in r["steps"]], skip_special_tokens=False),
                        stable_prefix=stable_prefix(r["steps"])),
            float32=f32[name])
        out_prompts.append(entry)

    golden = dict(
        what="SmolLM2-135M-Instruct last-position logits and greedy paths, numpy float64 reference on the "
             "dequantized GGUF weights (tools/golden/make_smollm2_golden.py)",
        model=dict(file=os.path.basename(args.gguf), sha256=sha, n_embd=mf.n_embd, n_layer=mf.n_layer,
                   n_ff=mf.n_ff, n_head=mf.n_head, n_head_kv=mf.n_head_kv, head_dim=mf.head_dim,
                   rms_eps=mf.eps, rope_theta=mf.rope_theta, vocab=len(mf.tokens)),
        versions=dict(python=platform.python_version(), numpy=np.__version__, gguf=_gguf_version(),
                      tokenizers=tokenizers.__version__),
        settings=dict(max_new_tokens=MAX_NEW, stop_ids=[2, 0], top_k=TOP_K, gap_threshold=GAP_THRESHOLD,
                      fixed_id_seed=FIXED_SEED,
                      fixed_id_rule="ids 0..16 and 32..41, then numpy.random.default_rng(20).choice of the other "
                                    "ids without replacement up to 1000, sorted",
                      ties="top lists sorted by value, then by smaller id"),
        checks=dict(tokenizer=tok_checks, chat_template_rendered_by_jinja2=template_checked,
                    rope_layouts_max_abs_diff=rope_diff, kv_cache_max_abs_diff=kv_diff, doc_2_6=doc_cmp),
        fixed_ids=fixed_ids,
        prompts=out_prompts,
        bf16=dict(note="every 2-D weight (token_embd = LM head, q, k, v, o, gate, up, down) rounded to bfloat16 "
                       "(round to nearest even), all compute float32; compared with the float64 logits",
                  norm_weights_already_bf16=norms_exact, prompts=bf16),
    )
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "golden.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(golden, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    print("timings (float64, this machine):")
    for name, (n, tp, tg, ns) in timings.items():
        print(f"  {name}: {n} tokens prefill {tp:.2f} s; greedy {ns} steps {tg:.2f} s")


def _gguf_version() -> str:
    try:
        from importlib.metadata import version
        return version("gguf")
    except Exception:  # pragma: no cover
        return "unknown"


if __name__ == "__main__":
    main()
