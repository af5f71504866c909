#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host side of `make check`: prints each guest boot's KTAP, checks its dmesg for splats and
prints the totals as a last line `N passed, N failed, N skipped`. Exits non-zero on a failure.

Usage: check-results.py GUEST_OUT_DIR...
"""
import pathlib
import re
import sys

# A nested result is indented (KTAP) or prefixed with "# " (the kselftest runner's tap_prefix).
RESULT = re.compile(
    r"^(?P<indent>\s+|(?:# )+)?(?P<status>not ok|ok) \d+ (?P<name>[^#]*?)\s*(#\s*(?P<directive>\w+).*)?$"
)
# What a clean guest never prints. kmemleak's own boot line ("Kernel memory leak detector
# initialized") is not a report, so match its reports instead of the bare word.
SPLAT = re.compile(
    r"BUG:|WARNING:|KASAN|kmemleak: \d+ new suspected|unreferenced object|Oops|Call Trace"
    r"|blocked for more than"
)


def count_ktap(lines):
    """Counts leaf test results: nested ones, or a top-level one that has none nested."""
    passed = failed = skipped = 0
    nested = nested_failed = 0
    failures = []
    for line in lines:
        m = RESULT.match(line)
        if not m:
            continue
        ok = m["status"] == "ok"
        skip = (m["directive"] or "").upper() == "SKIP"
        if m["indent"]:
            nested += 1
            if skip:
                skipped += 1
            elif ok:
                passed += 1
            else:
                failed += 1
                nested_failed += 1
                failures.append(m["name"])
            continue
        if nested == 0 or (not ok and nested_failed == 0):
            # A plain test, or a program that failed outside its test cases (it crashed).
            if skip:
                skipped += 1
            elif ok:
                passed += 1
            else:
                failed += 1
                failures.append(m["name"])
        nested = nested_failed = 0
    return passed, failed, skipped, failures


def splats(out):
    found = []
    for name in ("dmesg.txt", "console.log"):
        path = out / name
        if path.exists():
            text = path.read_text(errors="replace").splitlines()
            for i, line in enumerate(text):
                if SPLAT.search(line):
                    found.append((name, i, text))
            if found:
                break
    return found


def main():
    passed = failed = skipped = 0
    all_failures = []
    for arg in sys.argv[1:]:
        out = pathlib.Path(arg)
        logs = sorted(out.glob("*.log"))
        log = next((p for p in logs if p.name != "console.log"), None)
        print(f"# guest {out.name}")
        if log is None:
            print("not ok - the guest wrote no test output")
            failed += 1
            all_failures.append(f"{out.name}: no output")
            continue
        lines = log.read_text(errors="replace").splitlines()
        print("\n".join(lines))
        p, f, s, names = count_ktap(lines)
        passed, failed, skipped = passed + p, failed + f, skipped + s
        all_failures += [f"{out.name}: {n}" for n in names]

        found = splats(out)
        leaks = out / "kmemleak.txt"
        leak_text = leaks.read_text(errors="replace").strip() if leaks.exists() else ""
        if found or leak_text:
            failed += 1
            all_failures.append(f"{out.name}: dmesg_is_clean")
            print(f"not ok - {out.name}: dmesg_is_clean")
            shown = set()
            for name, i, text in found[:5]:
                lo, hi = max(0, i - 5), min(len(text), i + 25)
                if (name, lo) in shown:
                    continue
                shown.add((name, lo))
                print(f"# {name} lines {lo + 1}-{hi}:")
                print("\n".join("#   " + t for t in text[lo:hi]))
            if leak_text:
                print("# kmemleak:\n" + "\n".join("#   " + t for t in leak_text.splitlines()[:40]))
        else:
            passed += 1
            print(f"ok - {out.name}: dmesg_is_clean")

    if all_failures:
        print("# failed:")
        for name in all_failures:
            print(f"#   {name}")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
