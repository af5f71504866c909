#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""compare-report.py BUILD_COMPARE_DIR: the report of `make compare`.

Reads what the compare boots wrote (key=value lines, see scripts/guest/compare.sh and
compare/*.c) and the console of each device-dax negative-control boot, and writes report.md
(Markdown) and report.png (the performance ratios, drawn with matplotlib) beside them. Exits 1
if a result is missing or the benchmark boot's dmesg has a splat: then the comparison did not run.
"""

import importlib.util
import re
import statistics
import sys
from pathlib import Path

HOLDERS = {
    "vmsplice": "vmsplice pipe, 16 pages",
    "odirect": "O_DIRECT write to null_blk (1 s completion), 16 pages",
    "longterm": "gup_test PIN_LONGTERM_TEST_START, 16 pages",
    "rdma": "RDMA memory region (soft-RoCE, `ibv_reg_mr`), 16 pages",
}
TARGETS = ["anon", "devdax-4K", "devdax-2M", "rust_pgmap", "rust_pgmap-2M"]
TARGET_NAMES = {
    "anon": "anonymous",
    "devdax-4K": "device-dax 4K",
    "devdax-2M": "device-dax 2M",
    "rust_pgmap": "rust_pgmap",
    "rust_pgmap-2M": "rust_pgmap 2M",
}

def _check_results():
    """scripts/check-results.py, whose name is not a module's."""
    spec = importlib.util.spec_from_file_location(
        "check_results", Path(__file__).with_name("check-results.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The splats that make check rejects.
SPLAT = _check_results().SPLAT


def fail(msg):
    print(f"compare-report: {msg}", file=sys.stderr)
    sys.exit(1)


def records(path):
    """Each line as a dict of its key=value pairs, with the first bare word as 'kind'."""
    out = []
    for line in Path(path).read_text().splitlines():
        words = line.split()
        if not words:
            continue
        rec = {"kind": words[0] if "=" not in words[0] else ""}
        for word in words:
            if "=" in word:
                key, value = word.split("=", 1)
                rec[key] = value
        out.append(rec)
    return out


class Metric:
    """One performance row: how to get a sample from a record, and which way is better.

    target: the ratio rust_pgmap must reach against device-dax 4K; large_target: (ratio,
    the target it is held against) for rust_pgmap with 2 MiB folios.
    """

    def __init__(self, name, bench, unit, value, higher_is_better, target=None,
                 where=lambda r: True, per_region=False, large_target=None):
        self.name, self.bench, self.unit = name, bench, unit
        self.value, self.higher_is_better, self.target = value, higher_is_better, target
        self.where, self.per_region, self.large_target = where, per_region, large_target

    def summary(self, recs, **match):
        """Median, min, max and count of the records whose fields match, or None."""
        samples = [self.value(r) for r in recs
                   if r.get("bench") == self.bench and self.where(r)
                   and all(r.get(k) == v for k, v in match.items())]
        if not samples:
            return None
        return statistics.median(samples), min(samples), max(samples), len(samples)


# The 2 MiB targets of issue 17: most against device-dax 2M, the teardown against 4K.
METRICS = [
    Metric("fault-in, 64 MiB", "faultin", "pages/s",
           lambda r: int(r["pages"]) / (int(r["faultin_ns"]) / 1e9), True, 0.95,
           large_target=(1.0, "devdax-2M")),
    Metric("PIN_FAST_BENCHMARK, 64 MiB, 512 pages per call", "pin_fast", "ms",
           lambda r: int(r["get_us"]) / 1e3, False, 0.95, large_target=(1.0, "devdax-2M")),
    Metric("GUP_FAST_BENCHMARK, 64 MiB, 512 pages per call", "gup_fast", "ms",
           lambda r: int(r["get_us"]) / 1e3, False, 0.95, large_target=(1.0, "devdax-2M")),
    Metric("munmap of the faulted 64 MiB", "faultin", "ms",
           lambda r: int(r["munmap_ns"]) / 1e6, False, large_target=(1.2, "devdax-2M")),
    Metric("teardown, whole region, every page mapped", "teardown", "ms",
           lambda r: int(r["teardown_ns"]) / 1e6, False, 1.2, lambda r: r["mapped"] != "0",
           large_target=(1.0, "devdax-4K")),
    Metric("teardown, whole region, nothing mapped", "teardown", "ms",
           lambda r: int(r["teardown_ns"]) / 1e6, False, None, lambda r: r["mapped"] == "0"),
    Metric("re-creation, whole region", "teardown", "ms",
           lambda r: int(r["recreate_ns"]) / 1e6, False, 1.2, large_target=(1.0, "devdax-2M")),
    Metric("memmap (struct page) per GiB", "teardown", "KiB",
           lambda r: int(r["memmap_bytes_per_gib"]) / 1024, False,
           large_target=(1.0, "devdax-2M")),
    Metric("fio O_DIRECT read to /dev/ram0, psync, 4 KiB", "fio_read_psync", "MiB/s",
           lambda r: int(r["kib_s"]) / 1024, True),
    Metric("fio O_DIRECT write from the buffers, psync, 4 KiB", "fio_write_psync", "MiB/s",
           lambda r: int(r["kib_s"]) / 1024, True),
    Metric("fio O_DIRECT read, io_uring, depth 8", "fio_read_io_uring", "MiB/s",
           lambda r: int(r["kib_s"]) / 1024, True),
    Metric("fio O_DIRECT read, io_uring fixedbufs, depth 8", "fio_read_io_uring_fixedbufs",
           "MiB/s", lambda r: int(r["kib_s"]) / 1024, True),
    Metric("ib_write_bw over soft-RoCE, 64 KiB", "ib_write_bw", "MB/s",
           lambda r: float(r["mb_s"]), True),
]


# The refmode rows; per_region: one row for each region size.
REFMODE_METRICS = [
    Metric("request + release, 1 folio", "request_release", "ns/folio",
           lambda r: float(r["request_release_ns_per_folio"]), False,
           where=lambda r: r["nr"] == "1"),
    Metric("bare folio_get + folio_put, 1 folio", "request_release", "ns/folio",
           lambda r: float(r["get_put_ns_per_folio"]), False, where=lambda r: r["nr"] == "1"),
    Metric("request + release, 512 folios", "request_release", "ns/folio",
           lambda r: float(r["request_release_ns_per_folio"]), False,
           where=lambda r: r["nr"] == "512"),
    Metric("bare folio_get + folio_put, 512 folios", "request_release", "ns/folio",
           lambda r: float(r["get_put_ns_per_folio"]), False, where=lambda r: r["nr"] == "512"),
    Metric("request + release, 128 folios", "request_release", "ns/folio",
           lambda r: float(r["request_release_ns_per_folio"]), False,
           where=lambda r: r["nr"] == "128"),
    Metric("bare folio_get + folio_put, 128 folios", "request_release", "ns/folio",
           lambda r: float(r["get_put_ns_per_folio"]), False, where=lambda r: r["nr"] == "128"),
    Metric("fault-in, 64 MiB", "faultin", "pages/s",
           lambda r: int(r["pages"]) / (int(r["faultin_ns"]) / 1e9), True),
    Metric("PIN_FAST_BENCHMARK, 64 MiB", "pin_fast", "ms", lambda r: int(r["get_us"]) / 1e3, False),
    Metric("GUP_FAST_BENCHMARK, 64 MiB", "gup_fast", "ms", lambda r: int(r["get_us"]) / 1e3, False),
    Metric("teardown, idle", "teardown", "ms", lambda r: int(r["teardown_ns"]) / 1e6, False,
           where=lambda r: r["mapped"] == "0", per_region=True),
    Metric("teardown, every page mapped once", "teardown", "ms",
           lambda r: int(r["teardown_ns"]) / 1e6, False, where=lambda r: r["mapped"] != "0",
           per_region=True),
    Metric("teardown with 16 pages pinned: last unpin to memunmap_pages() returned",
           "teardown_pinned", "ms", lambda r: int(r["drain_after_unpin_ns"]) / 1e6, False,
           per_region=True),
]


def refmode_table(recs):
    """One row per metric, region and folio size that has results."""
    rows = ["| metric | folio size | region | unit | refmode=folio | refmode=scan "
            "| scan ÷ folio |", "|---|---|---|---|---|---|---|"]
    regions = sorted({r["region_mib"] for r in recs if "region_mib" in r}, key=int)
    for folio in ("4K", "2M"):
        for metric in REFMODE_METRICS:
            for mib in regions if metric.per_region else regions[:1]:
                cells = {mode: metric.summary(recs, mode=mode, region_mib=mib, folio=folio)
                         for mode in ("folio", "scan")}
                if not cells["folio"] and not cells["scan"]:
                    continue
                ratio = (cells["scan"][0] / cells["folio"][0]
                         if cells["scan"] and cells["folio"] and cells["folio"][0] else None)
                rows.append(f"| {metric.name} | {folio} | {mib} MiB | {metric.unit} | "
                            f"{cell(cells['folio'])} | {cell(cells['scan'])} | {fmt(ratio)} |")
    return rows


def speed_ratio(metric, ours, theirs):
    """rust_pgmap's speed relative to another target: above 1 is faster (or smaller)."""
    if not ours or not theirs or not ours[0] or not theirs[0]:
        return None
    return ours[0] / theirs[0] if metric.higher_is_better else theirs[0] / ours[0]


def fmt(value):
    if value is None:
        return "n/a"
    if value >= 10000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def cell(summary):
    if summary is None:
        return "n/a"
    med, lo, hi, _ = summary
    return f"{fmt(med)} ({fmt(lo)}–{fmt(hi)})"


def target_verdict(metric, ratio, target, against=""):
    """The issue's targets: speed ratios for throughput, time (or size) ratios for the rest."""
    if target is None or ratio is None:
        return ""
    if metric.higher_is_better or metric.bench in ("pin_fast", "gup_fast"):
        ok = ratio >= target
        return f"≥ {target}{against}: {'met' if ok else 'MISSED'}"
    what = "size" if metric.unit == "KiB" else "time"
    time_ratio = 1 / ratio
    ok = time_ratio <= target
    return f"{what} ≤ {target}×{against}: {time_ratio:.2f}× {'met' if ok else 'MISSED'}"


def large_verdict(metric, s):
    """rust_pgmap 2M against the target that issue 17 names for the metric."""
    if metric.large_target is None:
        return ""
    target, against = metric.large_target
    ratio = speed_ratio(metric, s["rust_pgmap-2M"], s[against])
    return target_verdict(metric, ratio, target, f" {TARGET_NAMES[against]}")


def performance(perf):
    rows, ratios = [], []
    header = ("| metric | unit | " + " | ".join(TARGET_NAMES[t] for t in TARGETS) +
              " | rust_pgmap vs device-dax 4K | rust_pgmap vs anonymous | target"
              " | rust_pgmap 2M vs device-dax 2M | 2M target |")
    rows.append(header)
    rows.append("|" + "---|" * (len(TARGETS) + 7))
    for metric in METRICS:
        s = {t: metric.summary(perf, target=t) for t in TARGETS}
        vs_dax = speed_ratio(metric, s["rust_pgmap"], s["devdax-4K"])
        vs_anon = speed_ratio(metric, s["rust_pgmap"], s["anon"])
        large_vs_dax = speed_ratio(metric, s["rust_pgmap-2M"], s["devdax-2M"])
        ratios.append((metric.name, vs_dax, vs_anon, metric))
        rows.append(f"| {metric.name} | {metric.unit} | " +
                    " | ".join(cell(s[t]) for t in TARGETS) +
                    f" | {fmt(vs_dax)} | {fmt(vs_anon)} |"
                    f" {target_verdict(metric, vs_dax, metric.target)}"
                    f" | {fmt(large_vs_dax)} | {large_verdict(metric, s)} |")
    return rows, ratios


def first_oops(console):
    """The first splat of a console log: its first line, and the function of its RIP."""
    lines = console.splitlines()
    for i, line in enumerate(lines):
        if SPLAT.search(line):
            first = re.sub(r"^\[[ 0-9.]+\] ", "", line).strip()
            func = ""
            for later in lines[i:i + 80]:
                m = re.search(r"RIP: 0010:([A-Za-z0-9_.]+)\+", later)
                if m:
                    func = m.group(1)
                    break
            return first, func
    return None, None


def negative_row(holder, device, nc, console=None, boot_end=None):
    by_kind = {}
    for rec in nc:
        by_kind.setdefault(rec["kind"], rec)
    hold = by_kind.get("hold", {})
    if "refused" in hold:
        return (f"| {HOLDERS[holder]} | {device} | "
                f"{by_kind.get('no-holder', {}).get('teardown_ms', '?')} ms: the pin was "
                f"refused with {hold['refused']}, nothing to wait for | nothing pinned | n/a | "
                f"clean |")
    before = by_kind.get("before-release", {})
    if before.get("teardown") == "returned":
        td = f"{before['teardown_ms']} ms, **before** the holder let go"
    elif before.get("teardown") == "waiting":
        after = by_kind.get("after-release", {})
        td = (f"{after.get('teardown_ms', '?')} ms: waited for the holder, returned "
              f"{after.get('returned_ms_after_release', '?')} ms after it let go")
    else:
        td = "did not start"
    data = by_kind.get("data", {})
    intact = {"yes": "intact", "no": f"{data.get('bytes_wrong')} bytes wrong"}.get(
        data.get("intact"), "never reached the holder")
    if "unread" in data:
        intact = "not read: a memory region has no CPU view"
    if "unreadable" in data:
        intact = f"unreadable: the holder's read failed with {data['unreadable']}"
    oops, func = first_oops(console) if console is not None else (None, None)
    if "result" in by_kind and not oops:
        release, outcome = "released, no splat", "clean"
        if device.startswith("device-dax"):
            outcome = "clean: the mistake did **not** reproduce"
    elif oops:
        release = f"`{oops}`" + (f" in `{func}`" if func else "")
        outcome = "**crashed** (the expected result on 6.12)" if device.startswith(
            "device-dax") else "**crashed**"
    else:
        release = f"no result: the boot {boot_end or 'stopped'}"
        outcome = "unknown"
    return f"| {HOLDERS[holder]} | {device} | {td} | {release} | {intact} | {outcome} |"


def negative_control(out):
    rows = ["| holder | device | teardown | the holder's release | data | outcome |",
            "|---|---|---|---|---|---|"]
    dmesg = (out / "guest-compare" / "dmesg.txt").read_text()
    for holder in HOLDERS:
        for size, suffix in (("4K", ""), ("2M", "-2M")):
            nc = out / "guest-compare" / f"nc-rust_pgmap{suffix}-{holder}.txt"
            if not nc.exists():
                fail(f"missing {nc}")
            rows.append(negative_row(holder, f"rust_pgmap{suffix.replace('-', ' ')}",
                                     records(nc), dmesg))
            boot = out / f"guest-compare-devdax-{holder}-{size}"
            if not (boot / "nc.txt").exists():
                fail(f"missing {boot / 'nc.txt'}")
            end = (boot / "boot-end.txt").read_text().strip() if (
                boot / "boot-end.txt").exists() else None
            rows.append(negative_row(holder, f"device-dax {size}", records(boot / "nc.txt"),
                                     (boot / "console.log").read_text(errors="replace"), end))
    return rows


def plot(ratios, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name, _, _, _ in ratios]
    vs_dax = [r or 0 for _, r, _, _ in ratios]
    vs_anon = [r or 0 for _, _, r, _ in ratios]
    fig, ax = plt.subplots(figsize=(11, 5.5))
    y = range(len(names))
    ax.barh([i + 0.2 for i in y], vs_dax, height=0.4, label="vs device-dax (4K)")
    ax.barh([i - 0.2 for i in y], vs_anon, height=0.4, label="vs anonymous memory", alpha=0.6)
    for i, (_, _, _, metric) in enumerate(ratios):
        if metric.target is not None:
            goal = metric.target if metric.higher_is_better or metric.bench in (
                "pin_fast", "gup_fast") else 1 / metric.target
            ax.plot([goal, goal], [i - 0.45, i + 0.45], color="red", linewidth=1.5)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(list(y))
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xlabel("rust_pgmap's speed relative to the other: 1 = the same, > 1 = rust_pgmap "
                  "faster (or smaller)\nred: the target against device-dax (4K)")
    ax.legend(loc="lower right")
    ax.set_title("rust_pgmap against device-dax and anonymous memory\n"
                 "(medians of one boot)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    out = Path(sys.argv[1])
    main_boot = out / "guest-compare"
    for name in ("info.txt", "perf.txt", "dmesg.txt"):
        if not (main_boot / name).exists():
            fail(f"missing {main_boot / name}: the benchmark boot did not finish")
    info = {}
    for rec in records(main_boot / "info.txt"):
        info.update(rec)
    splats = [line for line in (main_boot / "dmesg.txt").read_text().splitlines()
              if SPLAT.search(line)]
    perf_rows, ratios = performance(records(main_boot / "perf.txt"))
    missing = [name for name, vs_dax, _, _ in ratios if vs_dax is None]
    if missing:
        fail(f"no rust_pgmap or device-dax 4K result for: {', '.join(missing)}")

    report = [
        "# rust_pgmap against device-dax",
        "",
        f"Kernel {info.get('kernel')}, {info.get('cpus')} guest CPUs (QEMU TCG), "
        f"{info.get('date')}. Regions (memmap=): {info.get('memmap')}; device-dax "
        f"({info.get('devdax')}, {int(info.get('devdax_bytes', 0)) >> 20} MiB) on "
        f"{info.get('devdax_region')}, rust_pgmap ({int(info.get('rust_pgmap_bytes', 0)) >> 20}"
        f" MiB) on {info.get('rust_pgmap_region')} ({info.get('rust_pgmap_range')}). "
        "Times are emulated: compare ratios, not absolute values.",
        "",
        "## The negative control",
        "",
        "A holder takes references on 16 pages of a 2 MiB shared mapping; the device is torn "
        "down (device-dax: unbind from `device_dax`, as `daxctl disable-device` does; "
        "rust_pgmap: `TEARDOWN`); then the holder lets go. rust_pgmap ran with 4 KiB folios "
        "and with `folio_size=2M` (one PMD-mapped folio), device-dax with 4K and 2M alignment. "
        "Each device-dax case ran last, in a boot of its own with `oops=panic`.",
        "",
        *negative_control(out),
        "",
        "## Performance",
        "",
        f"Median (min–max) of {info.get('runs')} runs per cell, interleaved across targets in "
        f"one boot; the fault-in and munmap cells take {info.get('faultins', 1)} mappings per "
        "run. Ratios are rust_pgmap's speed relative to the other: above 1 means faster "
        "(for times: the other's time divided by rust_pgmap's). `gup_test` is the kernel's "
        "`tools/testing/selftests/mm/gup_test`, run with `-n 512 -m 64` (and `-S -f <device>`). "
        "The fio and perftest rows (3 runs each) put the clients' buffers on the target: fio "
        "with `iomem=mmapshared:<device>` (anonymous: `mmapshared`), 32 MiB O_DIRECT to a brd "
        "ramdisk; `ib_write_bw` with `--mmap=<device>` (anonymous: its own buffers) between a "
        "server and a client on one soft-RoCE device in the guest.",
        "",
        *perf_rows,
        "",
        "![ratios](report.png)",
        "",
    ]
    refmode = out / "guest-compare-refmode" / "refmode.txt"
    if not refmode.exists():
        fail(f"missing {refmode}: the refmode boot did not finish")
    report += [
        "## refmode: a pgmap reference per folio, or a sweep at removal",
        "",
        "The same rust_pgmap, loaded with `refmode=folio` (a pgmap reference per requested "
        "folio, the drain woken by `page_free`) and `refmode=scan` (no per-folio reference, "
        "the teardown sweeps the pages and polls each busy one, sleeping 1 ms doubling to "
        "16 ms); both `MEMORY_DEVICE_GENERIC`, pages idle at refcount 1, "
        "alternating run by run in one boot, with 4 KiB and with 2 MiB folios (`folio_size=2M`: "
        "a sweep of 512 MiB visits 256 folios instead of 131,072 pages; a batch of 512 "
        "folios would be 1 GiB, so those rows take 128). Request + release is timed inside "
        "the kernel (`/sys/kernel/debug/rust_pgmap_bench/request_release`, at least "
        "1,000,000 folios per run), next to a bare `folio_get()`/`folio_put()` pair on the same held pages.",
        "",
        *refmode_table(records(refmode)),
        "",
    ]
    splats += [line for line in (out / "guest-compare-refmode" / "dmesg.txt").read_text()
               .splitlines() if SPLAT.search(line)]
    if splats:
        report += ["## A benchmark boot's dmesg is not clean", "", "```", *splats[:20], "```", ""]
    (out / "report.md").write_text("\n".join(report))
    plot(ratios, out / "report.png")
    if splats:
        fail(f"the benchmark boot logged {len(splats)} splat lines (see report.md)")


if __name__ == "__main__":
    main()
