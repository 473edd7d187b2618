#!/usr/bin/env python3
"""Golden cases for the byte-level BPE tokenizer (src/model/byte_bpe.h).

Two sets of fixtures, both made by Hugging Face `tokenizers` (the reference):

1. tests/golden/fixtures/smollm2_tokenizer_cases.json: text -> ids and pieces
   for SmolLM2-135M-Instruct. The HF tokenizer is rebuilt from the GGUF's
   tokenizer.ggml.tokens / merges / token_type (read with `gguf.GGUFReader`)
   exactly as SmolLM2's own tokenizer.json is set up: BPE with the vocabulary
   and merges, pre-tokenizer Sequence[Digits(individual_digits=True),
   ByteLevel(add_prefix_space=False, use_regex=True)], decoder ByteLevel, the
   17 control tokens as special added tokens. Only ids are stored: the C++
   test needs the GGUF for the vocabulary.

2. tests/golden/fixtures/byte_bpe_tiny/: for each pre-tokenizer the C++ code
   knows (gpt2, smollm, llama3, qwen2), a tiny BPE trained here by HF on a
   fixed corpus, saved as HF's own tokenizer.json (<pre>_tokenizer.json), and
   its encodings of the probe texts (cases.json). These need no download, so
   CI checks byte_bpe_from_hf_json and every pre-tokenizer against HF.

Usage (the venv with gguf, numpy and tokenizers):
  /root/.cache/personas/venv-tools/bin/python tools/golden/make_bpe_cases.py \
      [--gguf PATH] [--out-dir tests/golden/fixtures]
The output is deterministic: a second run gives byte-identical files.
"""

import argparse
import hashlib
import json
import os
import random
import sys

import gguf
import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_GGUF = os.path.join(os.environ.get("PERSONAS_CACHE", os.path.expanduser("~/.cache/personas")),
                            "models", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")

# The regexes of Hugging Face's tokenizer.json files for Llama 3 and Qwen2 (a
# Split pre-tokenizer, then ByteLevel without its own regex).
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
               r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

SYSTEM_DEFAULT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def chatml(messages, add_generation_prompt=True):
    """SmolLM2's chat template (tokenizer.chat_template), rendered by hand."""
    out = ""
    if messages and messages[0][0] != "system":
        out += "<|im_start|>system\n" + SYSTEM_DEFAULT + "<|im_end|>\n"
    for role, content in messages:
        out += "<|im_start|>" + role + "\n" + content + "<|im_end|>\n"
    if add_generation_prompt:
        out += "<|im_start|>assistant\n"
    return out


# The project's `paper` prompt (src/train/prompt.cpp: render_paper and describe_item).
RATING_SYSTEM = ("You are a movie viewer in a recommender system. Rate movies exactly as the person described "
                 "below would.\n\nPERSONA:\nRates often and generously. Follows the crowd. Likes many genres.\n"
                 "A 24-year-old technician from Minnesota who loves sci-fi classics and animated films.")
RATING_USER = ("YOUR MEMORIES:\n"
               "- Star Wars (1977): rated 5 because the space battles and the story still thrill me.\n"
               "- Cité des enfants perdus, La (1995): rated 3 because it's strange but beautiful.\n"
               "- Jurassic Park (1993): rated 4 because the dinosaurs look real.\n\n"
               "TASK: Based on your persona and memories, rate the movie below on a scale of 1 to 5 "
               "(1 = hated it, 5 = loved it). Answer with one digit.\n\n"
               "MOVIE: Toy Story (1995); genres: Animation, Children's, Comedy; average rating 3.9 from 452 "
               "ratings; my expected rating 4.1\n\nRATING:")

# (name, text). Texts are Python str, i.e. valid UTF-8 (MovieLens titles
# already converted from Latin-1, as the project's loader does).
SMOLLM2_CASES = [
    ("empty", ""),
    ("hello_world", "Hello world"),
    ("sentence", "The quick brown fox jumps over the lazy dog."),
    ("capital_question", "What is the capital of France?"),
    ("leading_space", " Hello"),
    ("trailing_space", "Hello "),
    ("double_space", "Hello  world"),
    ("triple_space", "Hello   world"),
    ("only_spaces", "    "),
    ("spaces_then_newline", "end.   \nnext"),
    ("tab", "tab\there"),
    ("tabs_and_spaces", "a \t b\t\tc"),
    ("newline", "line one\nline two"),
    ("double_newline", "para one\n\npara two"),
    ("crlf", "windows\r\nline"),
    ("trailing_newline", "last line\n"),
    ("newline_space_word", "a\n b"),
    ("year", "1993"),
    ("decimal", "4.5"),
    ("average", "3.88"),
    ("thousands", "100,000"),
    ("twelve_thousand", "12,345"),
    ("space_digit", "rated 5 stars"),
    ("digits_in_word", "abc123def"),
    ("negative_and_percent", "-12% of 7.25e-3"),
    ("rating_fraction", "Rate 1-5: 4/5"),
    ("punctuation_run", "Wait... what?!?! (really) [yes] {no} <maybe>"),
    ("ellipsis_dashes", "so -- and --- and ---- end"),
    ("symbols", "a+b=c; x*y/z & p|q ~ ^ $ # @ `code`"),
    ("contractions", "don't can't it's I'm you're we've they'll he'd"),
    ("contractions_upper", "DON'T CAN'T IT'S I'M YOU'RE WE'VE THEY'LL HE'D"),
    ("possessive", "Schindler's List and Children's"),
    ("apostrophe_alone", "' 's 't"),
    ("url", "https://www.example.com/path?q=1&lang=en#top"),
    ("email", "user.name+tag@example.org"),
    ("movielens_cite", "Cité des enfants perdus, La (1995)"),
    ("movielens_miserables", "Misérables, Les (1995)"),
    ("movielens_oscar", "Óscar"),
    ("accents", "naïve café façade Ça Über Straße"),
    ("latin1_more", "Señor Müller à la crème brûlée, Ærø, Ñandú"),
    ("movielens_title_year", "Toy Story (1995)"),
    ("movielens_item_line", "1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)"),
    ("typographic_quotes", "\u201cQuoted\u201d and \u2018single\u2019 \u2014 dash \u2013 en"),
    ("ellipsis_char", "Wait\u2026 really"),
    ("emoji", "I love movies \U0001F3AC\U0001F37F!"),
    ("emoji_zwj", "family \U0001F468\u200D\U0001F469\u200D\U0001F467 flag \U0001F1EB\U0001F1F7"),
    ("cjk", "\u4f60\u597d\uff0c\u4e16\u754c\u3002\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8"),
    ("cyrillic", "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0424\u0438\u043b\u044c\u043c"),
    ("greek_arabic", "\u0391\u03b8\u03ae\u03bd\u03b1 \u0645\u0631\u062d\u0628\u0627"),
    ("unicode_digits", "\u0663\u0664 \u00b2 \u00bd \u2167"),
    ("nbsp", "a\u00a0b c\u2009d"),
    ("unmapped_control_byte", "a\x04b"),
    ("unmapped_inside_word", ".\x04."),
    ("control_chars", "x\x01\x02\x1fy"),
    # White_Space decides \s: U+0085 is a space, U+180E and U+001C are not.
    ("whitespace_property", "x\u180e! x\x1c! x\x85! x\u3000! x\x0b!"),
    ("long_s_contraction", "it'\u017f IT'\u017f"),
    ("im_start_token", "<|im_start|>"),
    ("im_end_token", "<|im_end|>"),
    ("endoftext_inline", "end of doc<|endoftext|>next doc"),
    ("special_adjacent", "<|im_end|><|im_start|>"),
    ("special_partial", "<|im_start| not a token <|im_end"),
    ("other_controls", "<repo_name>x<file_sep>y<jupyter_code>z<empty_output>"),
    ("rating_answer", "4<|im_end|>\n"),
    ("rating_answer_reason", "5 because I love space operas.<|im_end|>\n"),
    ("chat_france", chatml([("user", "What is the capital of France?")])),
    ("chat_with_system", chatml([("system", "You are a terse assistant."), ("user", "Hi!")])),
    ("chat_two_turns", chatml([("user", "Rate Heat (1995)."), ("assistant", "4"), ("user", "And Casino (1995)?")])),
    ("rating_prompt", chatml([("system", RATING_SYSTEM), ("user", RATING_USER)])),
    ("code", "def f(x):\n    return x ** 2  # square\n"),
    ("json_text", '{"user": 196, "item": 242, "rating": 3}'),
    ("mixed_case", "iPhone McDonald's NASA's XMLHttpRequest"),
    ("long_word", "Supercalifragilisticexpialidocious antidisestablishmentarianism"),
]

# Probe texts for the tiny tokenizers (every pre-tokenizer's tricky spots).
TINY_PROBES = [
    ("empty", ""),
    ("plain", "The movie was good and the story was great."),
    ("spaces", "  two  spaces   three    four "),
    ("whitespace_mix", "a\tb\n\nc\r\nd \n e\t \n"),
    ("digits", "1993 4.5 3.88 100,000 12,345 1234567"),
    ("digits_letters", "abc123def 2nd 10x"),
    ("contractions", "don't DON'T it's IT'S we've WE'VE they'll THEY'LL I'd I'D I'm I'M"),
    ("punct", "Wait... what?!?! (really) --- end.\n\n"),
    ("punct_newline", "end.\nnext;\r\n"),
    ("accents", "Cité des enfants perdus, La (1995) naïve café Über Straße"),
    ("cjk_emoji", "\u4f60\u597d\u4e16\u754c \U0001F3AC\U0001F37F \u041f\u0440\u0438\u0432\u0435\u0442"),
    ("special", "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n4<|im_end|>"),
    ("user_defined", "call <tool>now</tool>"),
    ("letters_after_symbol", "$word #tag @user _under"),
    ("whitespace_property", "x\u180e! x\x1c! x\x85! x\u3000! x\x0b! a\u2028\u2028b"),
    ("long_s_contraction", "it'\u017f IT'\u017f"),
]

TINY_CORPUS = [
    "The movie was good and the story was great. The actors were good too.",
    "I rated Toy Story (1995) 5 stars, and Heat (1995) 4 stars; Casino (1995) got 3.",
    "Don't you think it's the best? We've seen it, they'll see it, I'd watch it again.",
    "DON'T SHOUT. IT'S LOUD! WE'VE HEARD. THEY'LL KNOW.",
    "Cité des enfants perdus, La (1995) is a strange French film; Misérables, Les (1995) too.",
    "naïve café façade Ça Über Straße Señor Müller crème brûlée",
    "Average rating 3.88 from 452 ratings; 100,000 users and 12,345 movies in 1993.",
    "Wait... what?!?! (really) [yes] {no} <maybe> --- end.",
    "line one\nline two\n\npara two\r\nwindows line\tand a tab",
    "    indented code\n        more indented\n",
    "\u4f60\u597d\u4e16\u754c \u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440",
    "$5 #1 @home _private x_y",
] * 20


# Random strings over the tricky characters (seeded): the same texts for
# every tokenizer, stored as "fuzz_cases" next to the named ones.
FUZZ_POOL = list("abcdefgXYZ  \t\n\r0123456789.,;:!?'\"-_()[]{}<>|/\\@#$%^&*~`+=") + [
    "'s", "'T", "'ll", "'RE", "\u00e9", "\u00df", "\u00c7", "\u00f1", "\u00a0", "\u2009", "\u3000", "\u0085",
    "\u180e", "\x1c", "\x0b", "\x0c", "\u2028", "\u200b", "\u017f", "\u212a", "\u00b2", "\u00bd", "\u2167",
    "\u0663", "\u4e00", "\u4f60", "\u3002", "\uff0c", "\u0416", "\u0436", "\u03b1", "\U0001F3AC",
    "\U0001F468\u200d\U0001F469", "\U0001F1EB\U0001F1F7", "\u0301", "\u01c5", "\u0130", "\ufb01",
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<tool>", "</tool>", "\x00", "\x04", "\x7f", "  ", "\n\n",
    " \n", "\r\n", "...", "--", "1993", "3.88", "12,345", "http://x.y/z?q=1", "don't", "I'M", " the", " movie"]


def fuzz_texts(n=100, seed=20):
    rng = random.Random(seed)
    return ["".join(rng.choice(FUZZ_POOL) for _ in range(rng.randint(0, 40))) for _ in range(n)]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def field(reader, key):
    return reader.fields[key].contents()


def smollm2_tokenizer(gguf_path):
    reader = gguf.GGUFReader(gguf_path)
    tokens = field(reader, "tokenizer.ggml.tokens")
    merges = field(reader, "tokenizer.ggml.merges")
    types = field(reader, "tokenizer.ggml.token_type")
    pre = field(reader, "tokenizer.ggml.pre")
    assert field(reader, "tokenizer.ggml.model") == "gpt2"
    assert pre == "smollm", pre
    vocab = {t: i for i, t in enumerate(tokens)}
    assert len(vocab) == len(tokens), "duplicate tokens"
    pairs = [tuple(m.split(" ")) for m in merges]
    assert all(len(p) == 2 for p in pairs)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=pairs, byte_fallback=False))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    controls = [tokens[i] for i, t in enumerate(types) if t == 3]
    tok.add_special_tokens([AddedToken(c, special=True, normalized=False) for c in controls])
    return tok, tokens, len(merges), controls


def check_known(tok):
    """The ids PRETRAINED-BASE.md §2.5 and §2.6 give for this vocabulary."""
    def ids(text):
        return tok.encode(text, add_special_tokens=False).ids
    assert ids("1993") == [33, 41, 41, 35], ids("1993")
    assert ids("4.5") == [36, 30, 37], ids("4.5")
    assert ids("a\x04b") == [81, 82], ids("a\x04b")
    assert [ids(str(d)) for d in range(1, 6)] == [[33], [34], [35], [36], [37]]
    france = ids(chatml([("user", "What is the capital of France?")]))
    assert len(france) == 37, len(france)
    assert france[0] == 1 and france[-1] == 198, france  # <|im_start|> ... "Ċ"
    answer = ids("The capital of France is Paris.<|im_end|>")
    assert answer == [504, 3575, 282, 4649, 314, 7042, 30, 2], answer


def encode_cases(tok, cases, with_pieces=True):
    out = []
    for name, text in cases:
        enc = tok.encode(text, add_special_tokens=False)
        decoded = tok.decode(enc.ids, skip_special_tokens=False)
        case = {"name": name, "text": text, "ids": enc.ids}
        if with_pieces:
            case["pieces"] = enc.tokens
        if decoded != text:  # bytes without a token were dropped
            case["decoded"] = decoded
        out.append(case)
    return out


def tiny_tokenizer(pre):
    if pre == "gpt2":
        pt = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    elif pre == "smollm":
        pt = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                      pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    else:
        regex = LLAMA3_REGEX if pre == "llama3" else QWEN2_REGEX
        pt = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ])
    # Llama 3's tokenizer.json sets ignore_merges (a word that is a token is taken whole).
    tok = Tokenizer(models.BPE(ignore_merges=(pre == "llama3")))
    tok.pre_tokenizer = pt
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=420, min_frequency=2, show_progress=False,
                                  special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TINY_CORPUS, trainer=trainer)
    # A non-special added token (GGUF type 4, user-defined) and one special
    # that overlaps it, so longest-first matching is exercised.
    tok.add_tokens([AddedToken("<tool>", special=False, normalized=False),
                    AddedToken("</tool>", special=False, normalized=False)])
    return tok


def dumps_compact(obj, indent=""):
    """JSON with one line per case (lists of dicts are written one dict a line)."""
    if isinstance(obj, dict) and any(isinstance(v, (dict, list)) for v in obj.values()):
        inner = indent + " "
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {dumps_compact(v, inner)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(obj, list) and obj and all(isinstance(v, dict) for v in obj):
        inner = indent + " "
        return "[\n" + ",\n".join(inner + json.dumps(v, ensure_ascii=False) for v in obj) + "\n" + indent + "]"
    return json.dumps(obj, ensure_ascii=False)


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        f.write(dumps_compact(obj))
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", default=DEFAULT_GGUF)
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "tests", "golden", "fixtures"))
    args = ap.parse_args()

    versions = {"tokenizers": tokenizers.__version__, "gguf": "0.19.0" if not hasattr(gguf, "__version__")
                else gguf.__version__, "python": sys.version.split()[0]}
    try:
        from importlib.metadata import version
        versions["gguf"] = version("gguf")
    except Exception:  # noqa: BLE001 - version() is informative only
        pass

    # 1. SmolLM2 from the GGUF.
    if not os.path.exists(args.gguf):
        sys.exit(f"{args.gguf} not found: run scripts/fetch-model.sh smollm2")
    tok, tokens, n_merges, controls = smollm2_tokenizer(args.gguf)
    check_known(tok)
    cases = encode_cases(tok, SMOLLM2_CASES)
    bad = [c["name"] for c in cases if "decoded" in c and "unmapped" not in c["name"]]
    assert not bad, f"decode(encode(text)) != text for {bad}"
    write_json(os.path.join(args.out_dir, "smollm2_tokenizer_cases.json"), {
        "about": "Made by tools/golden/make_bpe_cases.py (HF tokenizers on the GGUF's vocabulary); do not edit.",
        "model": os.path.basename(args.gguf),
        "sha256": sha256_file(args.gguf),
        "versions": versions,
        "pre": "smollm",
        "vocab_size": len(tokens),
        "n_merges": n_merges,
        "controls": controls,
        "cases": cases,
        "fuzz_cases": encode_cases(tok, [(f"fuzz_{i}", t) for i, t in enumerate(fuzz_texts())],
                                   with_pieces=False),
    })

    # 2. Tiny HF-trained tokenizers, one per pre-tokenizer.
    tiny_dir = os.path.join(args.out_dir, "byte_bpe_tiny")
    os.makedirs(tiny_dir, exist_ok=True)
    all_cases = {}
    all_fuzz = {}
    for pre in ("gpt2", "smollm", "llama3", "qwen2"):
        t = tiny_tokenizer(pre)
        with open(os.path.join(tiny_dir, f"{pre}_tokenizer.json"), "w", encoding="utf-8") as f:
            f.write(t.to_str(pretty=True))
            f.write("\n")
        all_cases[pre] = encode_cases(t, TINY_PROBES)
        all_fuzz[pre] = encode_cases(t, [(f"fuzz_{i}", x) for i, x in enumerate(fuzz_texts())],
                                     with_pieces=False)
        # Words HF's pre-tokenizer makes (before the byte map), for the splitter tests.
        for case in all_cases[pre]:
            words = t.pre_tokenizer.pre_tokenize_str(case["text"]) if "<" not in case["text"] else None
            if words is not None:
                case["byte_level_words"] = [w for w, _ in words]
    write_json(os.path.join(tiny_dir, "cases.json"), {
        "about": "Made by tools/golden/make_bpe_cases.py (tiny BPEs trained by HF tokenizers); do not edit.",
        "versions": versions,
        "cases": all_cases,
        "fuzz_cases": all_fuzz,
    })
    print(f"wrote {len(cases)} SmolLM2 cases and {len(TINY_PROBES)} probes x 4 tiny tokenizers, "
          f"{len(fuzz_texts())} random texts for each")


if __name__ == "__main__":
    main()
