#!/usr/bin/env python3
"""What a distiller wrote, in numbers (issue 22's local-distillation report).

Reads RUN/distill/memories-rank-*.jsonl, failed-rank-*.jsonl and DONE (plain
.jsonl; decompress .jsonl.zst files first) and, with --items (MovieLens-100K's
u.item), checks each note against its movie:
  * users distilled, failed, and the share completed;
  * mean words per profile and per note; the reason part of a note is what
    follows its first "because" (the writer prefixes "I rated <title> as <r>",
    so the title in that prefix is not the model's);
  * notes whose reason names the movie's title (without the year, or its
    first three words) or one of its genres, case-insensitive;
  * calls and completion tokens from DONE, and completion tokens per second of
    the stage (DONE's seconds, all ranks together);
  * --show N: N profiles and each one's first two notes verbatim.
Standard library only, so /usr/bin/python3 runs it.

    python3 tools/distill_report.py RUN [--items ml-100k/u.item] [--show 3] [--json]
    python3 tools/distill_report.py --self-test
"""
import argparse
import glob
import json
import os
import re
import sys

from self_check import verdict

ML100K_GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
                 "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
                 "War", "Western"]


def read_items(path):
    """item id -> (title without the year, [genres]) from MovieLens-100K's u.item."""
    items = {}
    with open(path, encoding="latin-1") as f:
        for n, line in enumerate(f, 1):
            fields = line.rstrip("\n").split("|")
            if len(fields) < 24:
                sys.exit(f"distill_report: {path}:{n}: {len(fields)} fields, expected 24 (u.item)")
            title = re.sub(r"\s*\(\d{4}\)\s*$", "", fields[1]).strip()
            genres = [g for g, flag in zip(ML100K_GENRES, fields[5:24]) if flag == "1"]
            items[int(fields[0])] = (title, genres)
    return items


def read_lines(pattern):
    rows = []
    for path in sorted(glob.glob(pattern)):
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except ValueError as e:
                        sys.exit(f"distill_report: {path}:{n}: {e}")
    return rows


def words(text):
    return len(text.split())


def reason_of(note_text):
    pos = note_text.find("because")
    return note_text[pos + len("because"):].strip() if pos >= 0 else note_text


def title_keys(title):
    """A title matches by its whole text, or by its first three words (long titles are shortened in prose);
    MovieLens's "Usual Suspects, The" form is turned around."""
    m = re.match(r"^(.*), (The|A|An)$", title)
    if m:
        title = f"{m.group(2)} {m.group(1)}"
    keys = {title.lower()}
    first = title.split()
    if len(first) > 3:
        keys.add(" ".join(first[:3]).lower())
    return keys


def names_movie(reason, item):
    title, genres = item
    low = reason.lower()
    if any(k in low for k in title_keys(title)):
        return True
    for g in genres:
        stem = g.lower().rstrip("'s")  # "children's" -> "children"
        if re.search(r"\b" + re.escape(stem), low):
            return True
    return False


def report(memories, failed, done, items):
    notes = [n for m in memories for n in m.get("notes", [])]
    out = {
        "users_ok": len(memories),
        "users_failed": len(failed),
        "completed": len(memories) / max(1, len(memories) + len(failed)),
        "profile_words": sum(words(m.get("profile", "")) for m in memories) / max(1, len(memories)),
        "notes": len(notes),
        "note_words": sum(words(n["text"]) for n in notes) / max(1, len(notes)),
        "reason_words": sum(words(reason_of(n["text"])) for n in notes) / max(1, len(notes)),
        "empty_reasons": sum(1 for n in notes if not reason_of(n["text"])),
    }
    if items is not None:
        known = [n for n in notes if n.get("item_id") in items]
        out["notes_checked"] = len(known)
        out["notes_naming_movie"] = sum(1 for n in known if names_movie(reason_of(n["text"]), items[n["item_id"]]))
        out["share_naming_movie"] = out["notes_naming_movie"] / max(1, len(known))
    if done:
        out["provider"] = done.get("provider")
        out["model"] = done.get("model")
        out["calls"] = done.get("calls")
        out["completion_tokens"] = done.get("completion_tokens")
        out["seconds"] = done.get("seconds")
        if done.get("seconds"):
            out["completion_tokens_per_s"] = done.get("completion_tokens", 0) / done["seconds"]
    reasons = {}
    for f in failed:
        reasons[f.get("reason", "?")[:80]] = reasons.get(f.get("reason", "?")[:80], 0) + 1
    out["failure_reasons"] = reasons
    return out


def self_test():
    items = {1: ("Toy Story", ["Animation", "Children's", "Comedy"]), 2: ("Usual Suspects, The", ["Crime"]),
             3: ("Four Rooms", ["Thriller"])}
    memories = [
        {"profile": "I like cartoons a lot.", "notes": [
            {"item_id": 1, "text": "I rated Toy Story as 5 because it is a fine children film"},  # genre
            {"item_id": 2, "text": "I rated Usual Suspects, The as 4 because The Usual Suspects twists"},  # title
            {"item_id": 3, "text": "I rated Four Rooms as 2 because it was dull"},  # neither: the prefix is not the model's
        ]},
        {"profile": "", "notes": [{"item_id": 3, "text": "I rated Four Rooms as 1 because"}]},
    ]
    failed = [{"reason": "empty profile after repair"}]
    r = report(memories, failed, {"seconds": 2.0, "completion_tokens": 10}, items)
    checks = [
        (r["users_ok"] == 2 and r["users_failed"] == 1, "counts users"),
        (abs(r["completed"] - 2 / 3) < 1e-12, "share completed"),
        (r["notes_naming_movie"] == 2 and r["notes_checked"] == 4, "title or genre in the reason only"),
        (r["empty_reasons"] == 1, "an empty reason is counted"),
        (abs(r["profile_words"] - 2.5) < 1e-12, "words per profile"),
        (r["completion_tokens_per_s"] == 5.0, "tokens per second from DONE"),
    ]
    return verdict("distill_report", checks, f" ({r})")


def main():
    if "--self-test" in sys.argv[1:]:
        sys.exit(self_test())
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--items", help="MovieLens-100K u.item: check notes against the movie's title and genres")
    ap.add_argument("--show", type=int, default=0, help="print this many profiles and notes verbatim")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    d = os.path.join(args.run_dir, "distill")
    if glob.glob(os.path.join(d, "*.jsonl.zst")):
        sys.exit(f"distill_report: {d} holds .jsonl.zst files; decompress them (zstd -d) into another folder first")
    memories = read_lines(os.path.join(d, "memories-rank-*.jsonl"))
    failed = read_lines(os.path.join(d, "failed-rank-*.jsonl"))
    if not memories and not failed:
        sys.exit(f"distill_report: no {d}/memories-rank-*.jsonl (run personas distill first)")
    done = {}
    if os.path.exists(os.path.join(d, "DONE")):
        with open(os.path.join(d, "DONE")) as f:
            done = json.load(f)
    items = read_items(args.items) if args.items else None
    r = report(memories, failed, done, items)
    if args.json:
        print(json.dumps(r))
    else:
        for k, v in r.items():
            print(f"{k:24s} {v:.3f}" if isinstance(v, float) else f"{k:24s} {v}")
    for m in memories[:args.show]:
        print(f"\n--- user {m.get('user_id')}: profile ({words(m.get('profile', ''))} words)\n{m.get('profile', '')}")
        for n in m.get("notes", [])[:2]:
            print(f"  note: {n['text']}")


if __name__ == "__main__":
    main()
