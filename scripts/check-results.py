#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host side of `make check`: prints each guest boot's KTAP, holds it against what should have
run, checks the guest's exit code, dmesg and kmemleak scans, and prints the totals as a last line
`N passed, N failed`, after a line `# N skipped, as allowed` if there were allowed skips. Exits
non-zero on a failure.

Usage: check-results.py [--expect LOG=PROGRAMS [--except LOG=PROGRAMS]]... [--allowed-skips FILE]
                        GUEST_OUT_DIR...

Each --expect names one runner log of a guest (a path ending in GUEST_OUT_DIR/NAME.log) and what
must be in it: every program once, with as many results as its plan announced, all of them
passing; --except takes programs out of what a log must have. PROGRAMS is a comma-separated
list of collection:program entries, or @FILE for a list such as kselftest-list.txt, one per
line; a line's first word is the entry, the rest and # comments are ignored, and an entry
without a collection names the program in any. A SKIP, at any level, is a failure unless
--allowed-skips lists it ("program" or "program test-name", then the reason), and the reason is
printed. Without --expect (an adhoc run), the logs of each directory are counted as they are.
"""
import argparse
import pathlib
import re
import sys

# A runner's own result line for a program ("ok 3 selftests: rust_pgmap: pgmap_test # SKIP").
PROGRAM = re.compile(
    r"^(?P<status>not ok|ok) \d+ selftests: (?P<collection>[^:\s]+): (?P<name>\S+)"
    r"(?:\s+#\s*(?P<directive>\w+)(?P<reason>.*))?$"
)
# What a program prints, once the runner's "# " prefix is taken off: its plan, and its results.
PLAN = re.compile(r"^1\.\.(?P<count>\d+)")
RESULT = re.compile(
    r"^(?P<status>not ok|ok) \d+ (?P<name>[^#]*?)\s*(?:#\s*(?P<directive>\w+)(?P<reason>.*))?$"
)
# What a clean guest never prints (scripts/compare-report.py imports it). kmemleak's own boot
# line ("Kernel memory leak detector initialized") is not a report, so match its reports, and
# the line with which it turns itself off, instead of the bare word.
SPLAT = re.compile(
    r"BUG:|WARNING:|KASAN|kmemleak: \d+ new suspected|unreferenced object"
    r"|kmemleak: Kernel memory leak detector disabled|Oops|Call Trace|blocked for more than"
)


class Program:
    """One program as a runner ran it: its own result and the results it printed."""

    def __init__(self, collection, name):
        self.key = f"{collection}:{name}"
        self.name = name
        self.plan = None
        self.results = []  # (ok, name, skip, reason)
        self.ok = False
        self.skip = False
        self.reason = ""


def parse_runner_log(lines):
    """The programs of a kselftest runner log, in order."""
    programs = []
    nested = []
    for line in lines:
        m = PROGRAM.match(line)
        if m:
            prog = Program(m["collection"], m["name"])
            prog.ok = m["status"] == "ok"
            prog.skip = (m["directive"] or "").upper() == "SKIP"
            prog.reason = (m["reason"] or "").strip()
            for text in nested:
                p = PLAN.match(text)
                if p and prog.plan is None:
                    prog.plan = int(p["count"])
                    continue
                r = RESULT.match(text)
                if r:
                    skip = (r["directive"] or "").upper() == "SKIP"
                    prog.results.append(
                        (r["status"] == "ok", r["name"], skip, (r["reason"] or "").strip())
                    )
            programs.append(prog)
            nested = []
        elif line.startswith("# ") or line.startswith("  "):
            # The kernel runner prefixes a program's output with "# ", suite.sh indents it.
            nested.append(line[2:])
    return programs


def read_list(spec):
    """Program entries from a comma-separated list or @FILE."""
    if spec.startswith("@"):
        lines = pathlib.Path(spec[1:]).read_text().splitlines()
        return [l.split()[0] for l in lines if l.strip() and not l.lstrip().startswith("#")]
    return [e.strip() for e in spec.split(",") if e.strip()]


def without(entries, excluded):
    """`entries` less those that an entry of `excluded` names, with or without its collection."""
    return [
        e for e in entries if e not in excluded and e.rpartition(":")[2] not in excluded
    ]


def read_allowed_skips(path):
    """{(program, test or None): reason}."""
    allowed = {}
    if not path:
        return allowed
    for line in pathlib.Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split(None, 2)
        if len(words) < 2:
            continue
        if len(words) == 3 and not words[1].startswith("("):
            allowed[(words[0], words[1])] = words[2]
        else:
            allowed[(words[0], None)] = " ".join(words[1:])
    return allowed


class Verdict:
    def __init__(self, allowed):
        self.passed = self.failed = self.skipped = 0
        self.failures = []
        self.allowed = allowed

    def fail(self, what):
        self.failed += 1
        self.failures.append(what)
        print(f"not ok - {what}")

    def ok(self, what):
        self.passed += 1
        print(f"ok - {what}")

    def count_skip(self, where, program, test, reason):
        """A SKIP of a program (test None) or of one of its tests: allowed, or a failure."""
        why = self.allowed.get((program, test)) or self.allowed.get((program, None))
        what = f"{program} {test}" if test else program
        if why:
            self.skipped += 1
            print(f"# allowed skip: {what}: {why}")
        else:
            self.fail(f"{where}: {what} skipped ({reason or 'no reason'})")

    def count_program(self, where, prog, expected):
        """Counts one program's results; with `expected`, holds it to its plan too."""
        failed_before = self.failed
        for ok, name, skip, reason in prog.results:
            if skip:
                self.count_skip(where, prog.name, name, reason)
            elif ok:
                self.passed += 1
            else:
                self.failed += 1
                self.failures.append(f"{where}: {prog.name}: {name}")
        if prog.skip:
            self.count_skip(where, prog.name, None, prog.reason)
            return
        if expected:
            if prog.plan is None:
                self.fail(f"{where}: {prog.name} printed no plan")
            elif prog.plan != len(prog.results):
                self.fail(
                    f"{where}: {prog.name} planned {prog.plan} results and printed "
                    f"{len(prog.results)}"
                )
        if not prog.ok and self.failed == failed_before:
            # The program failed outside its test cases: it crashed, or exited non-zero.
            self.fail(f"{where}: {prog.name} exited with a failure")
        elif not prog.results and prog.ok and not expected:
            self.passed += 1

    def check_log(self, where, lines, expected):
        programs = parse_runner_log(lines)
        if expected is None:
            for prog in programs:
                self.count_program(where, prog, False)
            if not programs:
                self.fail(f"{where}: no program ran")
            return
        seen = {}
        for prog in programs:
            if prog.key in seen:
                self.fail(f"{where}: {prog.key} ran twice")
            seen[prog.key] = prog
            if prog.key not in expected:
                self.fail(f"{where}: {prog.key} ran but is not expected")
                continue
            self.count_program(where, prog, True)
        for key in expected:
            if key not in seen:
                self.fail(f"{where}: {key} did not run")

    def check_guest(self, out):
        """The guest script's exit code, dmesg and kmemleak scans."""
        exit_file = out / "exit"
        code = exit_file.read_text().strip() if exit_file.exists() else "missing"
        if code != "0":
            self.fail(f"{out.name}: the guest script exited {code}")
        found = splats(out)
        leaks = []
        for path in sorted(out.glob("kmemleak*.txt")):
            text = path.read_text(errors="replace").strip()
            if text:
                leaks.append((path.name, text))
        if found or leaks:
            self.fail(f"{out.name}: dmesg_is_clean")
            shown = set()
            for name, i, text in found[:5]:
                lo, hi = max(0, i - 5), min(len(text), i + 25)
                if (name, lo) in shown:
                    continue
                shown.add((name, lo))
                print(f"# {name} lines {lo + 1}-{hi}:")
                print("\n".join("#   " + t for t in text[lo:hi]))
            for name, text in leaks:
                print(f"# {name}:\n" + "\n".join("#   " + t for t in text.splitlines()[:40]))
        else:
            self.ok(f"{out.name}: dmesg_is_clean")


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expect", action="append", default=[], metavar="LOG=PROGRAMS")
    parser.add_argument("--except", dest="excepts", action="append", default=[],
                        metavar="LOG=PROGRAMS")
    parser.add_argument("--allowed-skips", metavar="FILE")
    parser.add_argument("outs", nargs="+", metavar="GUEST_OUT_DIR")
    args = parser.parse_args()

    expectations = {}
    for spec in args.expect:
        log, _, programs = spec.partition("=")
        expectations[pathlib.Path(log).resolve()] = read_list(programs)
    for spec in args.excepts:
        log, _, programs = spec.partition("=")
        key = pathlib.Path(log).resolve()
        expectations[key] = without(expectations.get(key, []), read_list(programs))
    verdict = Verdict(read_allowed_skips(args.allowed_skips))
    for log, programs in expectations.items():
        if not programs:
            verdict.fail(f"{log.parent.name}/{log.name}: the list of what must run in it is empty")

    for arg in args.outs:
        out = pathlib.Path(arg)
        print(f"# guest {out.name}")
        logs = sorted(p for p in out.glob("*.log") if p.name != "console.log")
        for log in logs:
            lines = log.read_text(errors="replace").splitlines()
            print(f"# {log.name}:")
            print("\n".join(lines))
            expected = expectations.pop(log.resolve(), None)
            if args.expect and expected is None:
                # A log that no --expect names gives context only: the guest script's own.
                continue
            verdict.check_log(f"{out.name}/{log.name}", lines, expected)
        if not logs and not args.expect:
            verdict.fail(f"{out.name}: the guest wrote no test output")
        verdict.check_guest(out)
    for log in expectations:
        verdict.fail(f"{log.parent.name}/{log.name}: missing: the guest did not run it")

    if verdict.failures:
        print("# failed:")
        for name in verdict.failures:
            print(f"#   {name}")
    if verdict.skipped:
        print(f"# {verdict.skipped} skipped, as allowed")
    print(f"{verdict.passed} passed, {verdict.failed} failed")
    return 1 if verdict.failed or not verdict.passed else 0


if __name__ == "__main__":
    sys.exit(main())
