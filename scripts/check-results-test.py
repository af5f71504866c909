#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The host's verdict, tested on made-up guest output: each way a run can be broken must fail
it. `make lint` runs this."""
import pathlib
import subprocess
import sys
import tempfile

CHECK = pathlib.Path(__file__).with_name("check-results.py")


def program(num, name, results, plan=None, status="ok", directive=""):
    """A program's lines as the kernel runner prints them."""
    lines = [f"# selftests: rust_pgmap: {name}", "# TAP version 13"]
    lines.append(f"# 1..{len(results) if plan is None else plan}")
    for i, (ok, test, skip) in enumerate(results, 1):
        lines.append(f"# {'ok' if ok else 'not ok'} {i} {test}{' # SKIP why' if skip else ''}")
    lines.append(f"{status} {num} selftests: rust_pgmap: {name}{directive}")
    return lines


GOOD = [(True, "a.one", False), (True, "a.two", False)]


def run(logs, exit_code="0", leak="", expect=("x", "y"), extra=(), dmesg=""):
    """Writes a guest directory and runs the verdict on it; returns (exit status, output)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "guest-check"
        out.mkdir()
        if exit_code is not None:
            (out / "exit").write_text(exit_code + "\n")
        (out / "dmesg.txt").write_text("[ 0.0] booted\n" + dmesg)
        (out / "kmemleak.txt").write_text(leak)
        for name, lines in logs.items():
            (out / name).write_text("\n".join(["TAP version 13"] + lines) + "\n")
        (pathlib.Path(tmp) / "list").write_text("".join(f"rust_pgmap:{p}\n" for p in expect))
        (pathlib.Path(tmp) / "skips").write_text("# none\ny a.two allowed here\n")
        args = [sys.executable, str(CHECK), "--allowed-skips", str(pathlib.Path(tmp) / "skips"),
                "--expect", f"{out}/run-first.log=@{tmp}/list",
                *(e.format(out=out) for e in extra), str(out)]
        r = subprocess.run(args, capture_output=True, text=True)
        return r.returncode, r.stdout


def expect(case, result, status, text, last=None):
    """Whether the run exited `status` with `text` in its output and, if given, `last` as its
    exact last line."""
    code, out = result
    if code != status or text not in out or last not in (None, out.splitlines()[-1]):
        print(f"not ok - {case}: exit {code}, wanted {status} and '{text}'\n{out}")
        return False
    print(f"ok - {case}")
    return True


def main():
    ok = True
    both = program(1, "x", GOOD) + program(2, "y", GOOD)
    ok &= expect("a_good_run_passes", run({"run-first.log": both}), 0, "5 passed, 0 failed")
    ok &= expect("a_program_that_did_not_run_fails",
                 run({"run-first.log": program(1, "x", GOOD)}), 1,
                 "rust_pgmap:y did not run")
    ok &= expect("a_program_short_of_its_plan_fails",
                 run({"run-first.log": program(1, "x", GOOD, plan=3) +
                               program(2, "y", GOOD)}), 1,
                 "x planned 3 results and printed 2")
    ok &= expect("a_skip_fails",
                 run({"run-first.log": program(1, "x", [(True, "a.one", True)]) +
                              program(2, "y", GOOD)}), 1, "a.one skipped")
    ok &= expect("an_allowed_skip_passes_and_says_why",
                 run({"run-first.log": program(1, "x", GOOD) +
                                 program(2, "y", [(True, "a.one", False),
                                                  (True, "a.two", True)])}), 0,
                 "allowed skip: y a.two: allowed here")
    ok &= expect("the_last_line_is_the_totals_alone",
                 run({"run-first.log": program(1, "x", GOOD) +
                                 program(2, "y", [(True, "a.one", False),
                                                  (True, "a.two", True)])}), 0,
                 "# 1 skipped, as allowed", last="4 passed, 0 failed")
    ok &= expect("a_skipped_program_fails",
                 run({"run-first.log": program(1, "x", GOOD) +
                                  program(2, "y", [], plan=0, directive=" # SKIP")}), 1,
                 "y skipped")
    ok &= expect("a_program_that_crashed_fails",
                 run({"run-first.log": program(1, "x", GOOD, status="not ok") +
                               program(2, "y", GOOD)}), 1, "x exited with a failure")
    ok &= expect("a_program_that_ran_twice_fails",
                 run({"run-first.log": both + program(3, "x", GOOD)}), 1,
                 "rust_pgmap:x ran twice")
    ok &= expect("a_failed_guest_script_fails",
                 run({"run-first.log": both}, exit_code="1"), 1,
                 "the guest script exited 1")
    ok &= expect("a_leak_fails",
                 run({"run-first.log": both}, leak="unreferenced object 0x1"), 1,
                 "dmesg_is_clean")
    ok &= expect("a_log_the_guest_did_not_write_fails",
                 run({"check.log": ["check: nothing"]}), 1, "missing")
    ok &= expect("a_program_taken_out_need_not_run",
                 run({"run-first.log": program(1, "x", GOOD)},
                     extra=("--except", "{out}/run-first.log=y")), 0, "3 passed, 0 failed")
    ok &= expect("an_empty_list_fails",
                 run({"run-first.log": []}, expect=()), 1, "the list of what must run")
    ok &= expect("a_splat_in_dmesg_fails",
                 run({"run-first.log": both}, dmesg="[ 9.0] BUG: KASAN: use-after-free\n"), 1,
                 "dmesg_is_clean")
    ok &= expect("a_kmemleak_that_turned_itself_off_fails",
                 run({"run-first.log": both},
                     dmesg="[ 9.0] kmemleak: Kernel memory leak detector disabled\n"), 1,
                 "dmesg_is_clean")
    ok &= expect("a_guest_that_did_not_finish_fails",
                 run({"run-first.log": program(1, "x", GOOD)}, exit_code=None), 1,
                 "the guest script exited missing")
    ok &= expect("an_unexpected_program_fails",
                 run({"run-first.log": both + program(3, "z", GOOD)}), 1,
                 "rust_pgmap:z ran but is not expected")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
