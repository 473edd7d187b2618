"""The tools' --self-test verdict: print each failed check, or the count passed; exit status."""


def verdict(tool, checks, detail=""):
    """checks: (ok, what) pairs. Returns the process exit status (1 when any failed)."""
    failed = [what for ok, what in checks if not ok]
    for what in failed:
        print(f"{tool} self-test FAILED: {what}{detail}")
    if not failed:
        print(f"{tool} self-test: {len(checks)} checks passed")
    return 1 if failed else 0
