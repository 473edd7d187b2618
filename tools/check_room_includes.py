#!/usr/bin/env python3
"""Keeps src/ includes to the declared room dependencies.

Each room's dependencies are declared once, in CMakeLists.txt
(`personas_room(NAME DEPS personas_a personas_b ...)`); a room may include its
own headers and those of every room it reaches through them. cli/ may include
any room (it links personas_pipeline, which reaches all). An include of
another room is a layering break: this prints each one with file:line and
exits 1. Usage: check_room_includes.py SOURCE_DIR
       check_room_includes.py --self-test   (a planted break must be found)
"""
import pathlib
import re
import sys


def declared_rooms(cmake_text):
    deps = {}
    for m in re.finditer(r"personas_room\((\w+)\s+DEPS([^)]*)\)", cmake_text):
        deps[m.group(1)] = re.findall(r"personas_(\w+)", m.group(2))
    return deps


def closure(room, deps):
    seen, todo = set(), [room]
    while todo:
        r = todo.pop()
        if r in seen:
            continue
        seen.add(r)
        todo.extend(d for d in deps.get(r, []) if d in deps)
    return seen


def self_test():
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        (root / "CMakeLists.txt").write_text(
            "personas_room(core DEPS fmt::fmt)\npersonas_room(data DEPS personas_core)\n"
            "personas_room(eval DEPS personas_core personas_data)\n")
        for room, text in {"core": '#include "core/a.h"\n', "data": '#include "core/a.h"\n',
                           "eval": '#include "data/b.h"\n#include "core/a.h"\n'}.items():
            (root / "src" / room).mkdir(parents=True)
            (root / "src" / room / "x.cpp").write_text(text)
        if check(root) != 0:
            print("self-test: a clean tree was reported")
            return 1
        (root / "src" / "data" / "y.h").write_text('#pragma once\n#include "eval/c.h"\n')
        if check(root) != 1:
            print("self-test: data/ including eval/ (not a dependency) was not reported")
            return 1
    print("self-test: ok")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    return check(pathlib.Path(sys.argv[1]))


def check(src):
    deps = declared_rooms((src / "CMakeLists.txt").read_text())
    if not deps:
        print("check_room_includes: no personas_room(...) found in CMakeLists.txt")
        return 1
    rooms = set(deps)
    include = re.compile(r'^\s*#\s*include\s+"(\w+)/')
    problems = []
    checked = 0
    for room_dir in sorted((src / "src").iterdir()):
        room = room_dir.name
        if not room_dir.is_dir():
            continue
        allowed = rooms | {"cli"} if room == "cli" else closure(room, deps)
        for path in sorted(room_dir.rglob("*")):
            if path.suffix not in (".h", ".cpp", ".cu", ".cuh"):
                continue
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                m = include.match(line)
                if not m:
                    continue
                target = m.group(1)
                checked += 1
                if target in rooms | {"cli"} and target not in allowed:
                    problems.append(f"{path.relative_to(src)}:{n}: room '{room}' includes '{target}/', "
                                    f"which it does not depend on (CMakeLists.txt: personas_room({room} DEPS ...))")
    for p in problems:
        print(p)
    print(f"check_room_includes: {checked} includes in src/, {len(problems)} outside the declared dependencies")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
