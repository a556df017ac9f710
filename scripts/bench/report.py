#!/usr/bin/env python3
"""Turns the records of one scripts/bench.sh run into its results: a JSON file (every run of
every measure, min/median/max, the PHI each tool left, the aims), a Markdown summary and SVG
charts. Run by scripts/bench.sh with the bench venv's python (matplotlib for the charts; without
it the charts are skipped).

    report.py --meta META.tsv --records RECORDS.tsv --phi PHI_DIR --out WORK
"""

import argparse
import glob
import json
import os
import statistics
import sys

# Categories of the generator's PHI that identify the patient directly (the rest are dates,
# staff, institution, accession, device: indirect identifiers the Basic Profile also removes).
DIRECT = {
    "patient name",
    "patient id",
    "birth date",
    "address",
    "phone",
    "relative name",
    "other id (nested)",
    "legacy id (private)",
}
PEER_ORDER = ["cp", "deidfs", "gdcmanon", "dcmodify", "pixelmed", "dicognito", "deid", "dicom-anonymizer"]
LABEL = {
    "cp": "cp -r (floor)",
    "deidfs": "deidfs export",
    "gdcmanon": "gdcmanon -e (basic)",
    "dcmodify": "dcmodify (tag list)",
    "pixelmed": "PixelMed DeidentifyAndRedact",
    "dicognito": "dicognito",
    "deid": "deid (default recipe)",
    "dicom-anonymizer": "dicom-anonymizer",
}


MOUNT_MEASURES = ["cold_ls", "warm_ls", "cold_stat", "first_byte", "cold_read", "warm_read"]
MOUNT_LABEL = {
    "cold_ls": "cold `ls -lR`",
    "warm_ls": "warm `ls -lR`",
    "cold_stat": "cold stat of every file",
    "first_byte": "first byte of a cold file",
    "cold_read": "cold read of every file",
    "warm_read": "warm read of every file",
}
FS_LABEL = {"direct": "direct (no FUSE)", "bindfs": "bindfs -r", "mirror": "mirror (deidfs FUSE layer, files unchanged)",
            "deidfs": "deidfs"}


def stats(values):
    v = sorted(values)
    return {"min": v[0], "median": statistics.median(v), "max": v[-1]} if v else None


def read_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            if k in meta and k == "micro_skipped":
                meta[k] += "; " + v
            else:
                meta[k] = v
    return meta


def read_records(path):
    batch, memory = [], []
    with open(path) as f:
        for line in f:
            r = line.rstrip("\n").split("\t")
            if r[0] == "batch":
                (_, tool, workers, run, wall, sync, user, sys_, rss, rc, files_out, bytes_out,
                 other, niced, waited, cmd) = r
                batch.append({
                    "tool": tool, "workers": int(workers), "run": int(run),
                    "wall_s": float(wall), "sync_s": float(sync),
                    "user_s": float(user), "sys_s": float(sys_), "max_rss_kb": int(rss),
                    "exit": int(rc), "files_out": int(files_out), "bytes_out": int(bytes_out),
                    "other_cpu": float(other), "other_niced_cpu": float(niced),
                    "waited_for_quiet_s": int(waited), "command": cmd,
                })
            elif r[0] == "memory":
                _, run, start, ls, read, rss, n, cmd = r
                memory.append({
                    "run": int(run), "vmhwm_kb_start": int(start), "vmhwm_kb_after_ls": int(ls),
                    "vmhwm_kb_after_read": int(read), "vmrss_kb_after_read": int(rss),
                    "files": int(n), "command": cmd,
                })
    return batch, memory


def batch_results(batch, files, size, phi_dir):
    out = {}
    for r in batch:
        out.setdefault((r["tool"], r["workers"]), []).append(r)
    results = []
    for (tool, workers), runs in sorted(out.items(), key=lambda kv: (PEER_ORDER.index(kv[0][0]), kv[0][1])):
        ok = [r for r in runs if r["exit"] == 0]
        use = ok or runs
        wall = stats([r["wall_s"] for r in use])
        total = stats([r["wall_s"] + r["sync_s"] for r in use])
        res = {
            "tool": tool,
            "workers": workers,
            "command": runs[0]["command"],
            "runs": runs,
            "failed_runs": len(runs) - len(ok),
            "wall_s": wall,
            "sync_s": stats([r["sync_s"] for r in use]),
            "wall_plus_sync_s": total,
            "files_per_s": {"min": files / wall["max"], "median": files / wall["median"], "max": files / wall["min"]},
            "mb_per_s": {"min": size / 1e6 / wall["max"], "median": size / 1e6 / wall["median"], "max": size / 1e6 / wall["min"]},
            "files_per_s_with_sync": {"min": files / total["max"], "median": files / total["median"], "max": files / total["min"]},
            "cpu_s": stats([r["user_s"] + r["sys_s"] for r in use]),
            "max_rss_kb": stats([r["max_rss_kb"] for r in use]),
            "files_out": stats([r["files_out"] for r in use]),
            "other_cpu_max": max(r["other_cpu"] for r in use),
            "other_niced_cpu_max": max(r["other_niced_cpu"] for r in use),
        }
        p = os.path.join(phi_dir, f"{tool}-w{workers}.json")
        if os.path.exists(p):
            with open(p) as f:
                phi = json.load(f)
            res["phi"] = phi
            res["phi_direct_in_contents"] = sum(
                v["found"] for c, v in phi["content"]["by_category"].items() if c in DIRECT)
        results.append(res)
    return results


def micro_results(home, log=None):
    """Criterion's estimates, in the order the benchmarks ran (from its log, when given)."""
    out = []
    for bench in sorted(glob.glob(os.path.join(home, "*", "new", "benchmark.json"))):
        d = os.path.dirname(bench)
        with open(bench) as f:
            b = json.load(f)
        with open(os.path.join(d, "estimates.json")) as f:
            e = json.load(f)
        with open(os.path.join(d, "sample.json")) as f:
            s = json.load(f)
        per_iter = [t / n for t, n in zip(s["times"], s["iters"])]
        out.append({
            "name": b.get("full_id") or b.get("title"),
            "unit": "ns per plan",
            "median": e["median"]["point_estimate"],
            "median_ci95": [e["median"]["confidence_interval"]["lower_bound"],
                            e["median"]["confidence_interval"]["upper_bound"]],
            "samples": stats(per_iter),
            "sample_count": len(per_iter),
        })
    if log and os.path.exists(log):
        with open(log, errors="replace") as f:
            text = f.read()
        out.sort(key=lambda m: text.find(m["name"]) if m["name"] in text else len(text))
    return out


def fmt_rate(x):
    return f"{x:,.0f}" if x >= 10 else f"{x:.1f}"


def fmt_time(ns):
    return f"{ns / 1e6:.2f} ms" if ns >= 1e6 else f"{ns / 1e3:.1f} µs"


def paired(a, b, key):
    """Ratios a/b of `key` (files/s from wall time, or with sync) run by run: each pair ran in
    the same round, one after the other, so drift of the machine's speed cancels."""
    runs_b = {r["run"]: r for r in b["runs"] if r["exit"] == 0}
    out = []
    for r in a["runs"]:
        o = runs_b.get(r["run"])
        if r["exit"] or not o:
            continue
        if key == "files_per_s":
            out.append(o["wall_s"] / r["wall_s"])
        else:
            out.append((o["wall_s"] + o["sync_s"]) / (r["wall_s"] + r["sync_s"]))
    return stats(out)


def aims(results):
    """The issue's aims: export >= 0.8x cp -r, and > 2x the fastest peer leaving no PHI.
    `value` is the median of the per-round ratios; `range` their min and max."""
    by = {(r["tool"], r["workers"]): r for r in results}
    out = []
    for w in sorted({r["workers"] for r in results}):
        d, c = by.get(("deidfs", w)), by.get(("cp", w))
        if not d:
            continue
        if c:
            for basis, key in (("tool time", "files_per_s"), ("time until on disk (+ sync)", "files_per_s_with_sync")):
                p = paired(d, c, key)
                if not p:
                    continue
                out.append({"aim": "export >= 0.8x cp -r", "workers": w, "basis": basis,
                            "value": round(p["median"], 3), "range": [round(p["min"], 3), round(p["max"], 3)],
                            "target": ">= 0.8", "met": p["median"] >= 0.8})
        peers = [r for r in results if r["workers"] == w and r["tool"] not in ("cp", "deidfs") and "phi" in r
                 and r["failed_runs"] == 0]
        clean = [r for r in peers if r["phi"]["tokens_left"] == 0]
        direct_clean = [r for r in peers if r["phi_direct_in_contents"] == 0]
        for what, group in (
            ("fastest peer leaving no PHI (contents and names)", clean),
            ("fastest peer leaving no direct patient identifier in file contents", direct_clean),
            ("fastest peer, whatever it leaves", peers),
        ):
            if not group:
                out.append({"aim": f"export > 2x {what}", "workers": w, "basis": "tool time",
                            "value": None, "peer": None, "target": "> 2", "met": None,
                            "note": "no such peer in this run"})
                continue
            for basis, key in (("tool time", "files_per_s"), ("time until on disk (+ sync)", "files_per_s_with_sync")):
                best = max(group, key=lambda r: r[key]["median"])
                p = paired(d, best, key)
                if not p:
                    continue
                out.append({"aim": f"export > 2x {what}", "workers": w, "basis": basis,
                            "peer": best["tool"], "value": round(p["median"], 3),
                            "range": [round(p["min"], 3), round(p["max"], 3)], "target": "> 2",
                            "met": p["median"] > 2})
    return out


def markdown(meta, results, memory, micro, mount, aim_list):
    files, size = int(meta["corpus_files"]), int(meta["corpus_bytes"])
    L = []
    L.append(f"Corpus: {meta['corpus_summary']}  ")
    L.append(f"Machine: {meta['nproc']} CPU ({meta['cpu']}), {int(meta['mem_total_kb']) / 1048576:.1f} GiB, "
             f"Linux {meta['kernel']}; work dir on {meta['work_fs']}  ")
    L.append(f"Command: `{meta['command']}`, {meta['date']}, deidfs {meta['git_commit'][:7]}"
             + (f" (uncommitted: {meta['git_dirty']})" if meta.get("git_dirty") else "") + "  ")
    if meta.get("deidfs_override"):
        L.append(f"deidfs binary measured in the batch and memory rows: `{meta['deidfs_override']}` "
                 "(--deidfs; the mount benchmark and micro-benchmarks use the tree's own build)  ")
    L.append(f"Median of {meta['runs']} run(s) [min-max]; files/s and MB/s are the corpus' "
             f"{files:,} files and {size / 1e6:,.0f} MB over the wall time of the tool's command.")
    L.append("")
    L.append("| tool | workers | files/s | MB/s | + sync: files/s | CPU s | peak RSS | files out | PHI tokens left | files with PHI | names with PHI |")
    L.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in results:
        fps, mbs = r["files_per_s"], r["mb_per_s"]
        phi = r.get("phi")
        if phi:
            left = f"{phi['tokens_left']}/{phi['tokens_total']}"
            fw = f"{phi['content']['files_with_phi']}"
            nw = f"{phi['names']['entries_with_phi']}/{phi['names']['entries']}"
        else:
            left = fw = nw = "-"
        fail = f" ({r['failed_runs']} failed)" if r["failed_runs"] else ""
        L.append(
            f"| {LABEL.get(r['tool'], r['tool'])}{fail} | {r['workers']} | {fmt_rate(fps['median'])} "
            f"[{fmt_rate(fps['min'])}-{fmt_rate(fps['max'])}] | {fmt_rate(mbs['median'])} | "
            f"{fmt_rate(r['files_per_s_with_sync']['median'])} | {r['cpu_s']['median']:.1f} | "
            f"{r['max_rss_kb']['median'] / 1024:.0f} MB | {r['files_out']['median']:.0f} | {left} | {fw} | {nw} |")
    L.append("")
    cats = None
    for r in results:
        if "phi" in r and r["workers"] == min(x["workers"] for x in results):
            cats = list(r["phi"]["by_category"])
            break
    if cats:
        tools = [r for r in results if "phi" in r and r["workers"] == min(x["workers"] for x in results)]
        L.append("PHI left by category (tokens found in contents or names / tokens in the corpus):")
        L.append("")
        L.append("| category | " + " | ".join(LABEL.get(r["tool"], r["tool"]) for r in tools) + " |")
        L.append("|---|" + "--:|" * len(tools))
        for c in cats:
            cells = []
            for r in tools:
                v = r["phi"]["by_category"][c]
                cells.append(f"{v['found']}/{v['total']}" if v["found"] else "0")
            L.append(f"| {c}{' (direct)' if c in DIRECT else ''} | " + " | ".join(cells) + " |")
        L.append("")
    if aim_list:
        L.append("Ratios of files/s, median of the per-round ratios [min-max] (each pair ran back to back). "
                 "`deidfs export` syncs its output itself, so only \"time until on disk\" compares like with like:")
        L.append("")
        L.append("| aim | workers | basis | value | met |")
        L.append("|---|--:|---|--:|---|")
        for a in aim_list:
            v = "-" if a["value"] is None else (
                f"{a['value']:.2f} [{a['range'][0]:.2f}-{a['range'][1]:.2f}]"
                + (f" (vs {a['peer']})" if a.get("peer") else ""))
            met = a.get("note") or ("yes" if a["met"] else "**no**")
            L.append(f"| {a['aim']} | {a['workers']} | {a['basis']} | {v} | {met} |")
        L.append("")
    if memory:
        s = lambda k: stats([m[k] for m in memory])
        L.append("| memory | median [min-max] |")
        L.append("|---|---|")
        for k, what in (("vmhwm_kb_start", "mount daemon, peak RSS once mounted"),
                        ("vmhwm_kb_after_ls", "mount daemon, peak RSS after `ls -lR`"),
                        ("vmhwm_kb_after_read", "mount daemon, peak RSS after reading every file"),
                        ("vmrss_kb_after_read", "mount daemon, RSS after reading every file")):
            x = s(k)
            L.append(f"| {what} | {x['median'] / 1024:.1f} MB [{x['min'] / 1024:.1f}-{x['max'] / 1024:.1f}] |")
        for r in results:
            if r["tool"] == "deidfs":
                x = r["max_rss_kb"]
                L.append(f"| `deidfs export --jobs {r['workers']}`, peak RSS | {x['median'] / 1024:.1f} MB "
                         f"[{x['min'] / 1024:.1f}-{x['max'] / 1024:.1f}] |")
        L.append("")
    if mount:
        res = mount["results"]
        L.append(f"Mount ({mount['corpus']['files']} files, median of {mount['runs']} run(s), from scripts/bench-mount.sh):")
        L.append("")
        fss = [f for f in ("direct", "bindfs", "mirror", "deidfs") if f in res]
        L.append("| measure | " + " | ".join(fss) + " |")
        L.append("|---|" + "--:|" * len(fss))
        for m in MOUNT_MEASURES:
            if any(m not in res[f] for f in fss):
                continue
            cells = []
            for f in fss:
                x = res[f][m]
                cells.append(f"{x['median']:.3f} s" + (f", {x['median_mb_per_s']} MB/s" if "median_mb_per_s" in x else ""))
            L.append(f"| {MOUNT_LABEL[m]} | " + " | ".join(cells) + " |")
        L.append("")
        for t in mount.get("targets", []):
            L.append(f"- {t['measure']} {t['ratio']} = {t['value']} (target {t['target']}): {'met' if t['met'] else 'missed'}")
        L.append("")
    if micro:
        L.append("| micro-benchmark (criterion) | median | 95% CI | samples min-max |")
        L.append("|---|--:|--:|--:|")
        for m in micro:
            L.append(f"| {m['name']} | {fmt_time(m['median'])} | {fmt_time(m['median_ci95'][0])}-{fmt_time(m['median_ci95'][1])} "
                     f"| {fmt_time(m['samples']['min'])}-{fmt_time(m['samples']['max'])} |")
        if meta.get("micro_skipped"):
            L.append("")
            L.append(meta["micro_skipped"])
        L.append("")
    niced = max((r["other_niced_cpu_max"] for r in results), default=0)
    other = max((r["other_cpu_max"] for r in results), default=0)
    L.append(f"Other work during the timed commands: up to {other:.2f} CPU at normal priority "
             f"(includes kernel writeback), up to {niced:.2f} CPU niced.")
    L.append("")
    unusable = {k[len("unusable."):]: v for k, v in meta.items() if k.startswith("unusable.")}
    for t, why in unusable.items():
        L.append(f"- {t} could not run: {why}")
    return "\n".join(L) + "\n"


def plain_log_axis(ax):
    """Log-scale ticks as plain numbers (0.02, 0.5, 2000), minor ticks unlabelled."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.10g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def charts(meta, results, mount, outdir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: matplotlib not available, no charts", file=sys.stderr)
        return []
    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "deidfs-bench"})
    os.makedirs(outdir, exist_ok=True)
    made = []
    workers = sorted({r["workers"] for r in results})
    tools = [t for t in PEER_ORDER if any(r["tool"] == t for r in results)]
    by = {(r["tool"], r["workers"]): r for r in results}
    w1 = workers[0]
    tools.sort(key=lambda t: by[(t, w1)]["files_per_s_with_sync"]["median"] if (t, w1) in by else 0)
    sub = (f"{meta['corpus_files']} files, {int(meta['corpus_bytes']) / 1e6:,.0f} MB; median of "
           f"{meta['runs']} run(s), bars min-max; {meta['nproc']} CPU; {meta['date'][:16]}Z")

    # 1. Throughput, with what each leaves behind (in a column right of the plot).
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(tools) + 1.6))
    fig.subplots_adjust(left=0.24, right=0.64, top=0.86, bottom=0.62 / (0.55 * len(tools) + 1.6) + 0.06)
    h = 0.8 / len(workers)
    colors = {1: "#4C72B0", 2: "#DD8452"}
    for j, w in enumerate(workers):
        ys, xs, lo, hi = [], [], [], []
        for i, t in enumerate(tools):
            r = by.get((t, w))
            if not r:
                continue
            ys.append(i + (j - (len(workers) - 1) / 2) * h)
            f = r["files_per_s_with_sync"]
            xs.append(f["median"])
            lo.append(f["median"] - f["min"])
            hi.append(f["max"] - f["median"])
        ax.barh(ys, xs, height=h * 0.9, xerr=[lo, hi], color=colors.get(w, "#999"),
                label=f"{w} worker{'s' if w > 1 else ''}", error_kw={"elinewidth": 0.8, "capsize": 2})
    ax.set_xscale("log")
    ax.set_yticks(range(len(tools)))
    ax.set_yticklabels([LABEL.get(t, t) for t in tools])
    ax.set_xlim(left=min(r["files_per_s_with_sync"]["min"] for r in results) / 2,
                right=max(r["files_per_s_with_sync"]["max"] for r in results) * 2)
    ax.text(1.03, len(tools) - 0.4, "PHI left (of the corpus' fake values)", transform=ax.get_yaxis_transform(),
            fontsize=8, fontweight="bold", va="bottom")
    for i, t in enumerate(tools):
        r = by.get((t, w1))
        if r and "phi" in r:
            p = r["phi"]
            txt = (f"{p['tokens_left']}/{p['tokens_total']} values; in {p['content']['files_with_phi']} "
                   f"files and {p['names']['entries_with_phi']} names")
            if t == "cp":
                txt += " (copy)"
            ax.text(1.03, i, txt, transform=ax.get_yaxis_transform(), va="center", fontsize=8,
                    color="#2a7a2a" if p["tokens_left"] == 0 else "#a02020")
    ax.set_xlabel("files per second until the output is on disk: the tool, then `sync`\n(log scale; higher is faster)")
    plain_log_axis(ax)
    fig.suptitle("Batch de-identification of a tree: throughput, and the PHI each tool leaves\n" + sub, fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", which="both", alpha=0.3)
    p = os.path.join(outdir, "batch-throughput.svg")
    fig.savefig(p, metadata={"Date": None})
    plt.close(fig)
    made.append(p)

    # 2. Speed against thoroughness.
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for t in tools:
        r = by.get((t, w1))
        if not r or "phi" not in r:
            continue
        p = r["phi"]
        x = r["files_per_s_with_sync"]["median"]
        y = 100 * p["tokens_left"] / p["tokens_total"]
        ax.scatter([x], [y], s=40, color="#2a7a2a" if p["tokens_left"] == 0 else "#a02020", zorder=3)
        ax.annotate(LABEL.get(t, t), (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    xs = [by[(t, w1)]["files_per_s_with_sync"]["median"] for t in tools if (t, w1) in by]
    ax.set_xlim(min(xs) / 1.5, max(xs) * 3)
    ax.set_xlabel(f"files per second until on disk, {w1} worker (log scale)")
    plain_log_axis(ax)
    ax.set_ylabel("fake PHI values left (% of the corpus')")
    ax.set_ylim(-5, 105)
    ax.set_title("Speed is only half of it: what each tool leaves in file contents and names\n" + sub, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    p = os.path.join(outdir, "speed-vs-phi.svg")
    fig.savefig(p, metadata={"Date": None})
    plt.close(fig)
    made.append(p)

    # 3. The mount against its ceilings.
    if mount:
        res = mount["results"]
        fss = [f for f in ("direct", "bindfs", "mirror", "deidfs") if f in res]
        ms = [m for m in MOUNT_MEASURES if all(m in res[f] for f in fss)]
        fig, ax = plt.subplots(figsize=(8, 0.8 * len(ms) + 2.0))
        h = 0.8 / len(fss)
        colors = {"direct": "#8c8c8c", "bindfs": "#55A868", "mirror": "#4C72B0", "deidfs": "#DD8452"}
        for j, f in enumerate(fss):
            ys = [len(ms) - 1 - i + (len(fss) - 1 - j - (len(fss) - 1) / 2) * h for i in range(len(ms))]
            xs = [res[f][m]["median"] for m in ms]
            lo = [res[f][m]["median"] - res[f][m]["min"] for m in ms]
            hi = [res[f][m]["max"] - res[f][m]["median"] for m in ms]
            ax.barh(ys, xs, height=h * 0.9, xerr=[lo, hi], color=colors[f], label=FS_LABEL[f],
                    error_kw={"elinewidth": 0.8, "capsize": 2})
        ax.set_xscale("log")
        ax.set_yticks(range(len(ms)))
        ax.set_yticklabels([MOUNT_LABEL[m].replace("`", "") for m in reversed(ms)])
        ax.set_xlabel("seconds (log scale; lower is faster)")
        plain_log_axis(ax)
        ax.grid(axis="x", which="both", alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8, frameon=False)
        msub = (f"{mount['corpus']['files']} files, {mount['corpus']['bytes'] / 1e6:,.0f} MB; median of "
                f"{mount['runs']} run(s), bars min-max; {meta['nproc']} CPU; {mount['date'][:16]}Z")
        ax.set_title("The mount: deidfs against reading directly, bindfs and its own FUSE layer\n" + msub, fontsize=9)
        fig.tight_layout()
        p = os.path.join(outdir, "mount.svg")
        fig.savefig(p, metadata={"Date": None})
        plt.close(fig)
        made.append(p)
    return made


BEGIN = "<!-- bench.sh results: begin (generated; edits here are overwritten) -->"
END = "<!-- bench.sh results: end -->"


def update_docs(doc_path, md, charts_made, results_json):
    """Replaces the generated part of doc_path with this run's summary and charts (copied into
    perf/ beside it, with the run's JSON)."""
    import shutil
    with open(doc_path) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit(f"report: {doc_path} has no {BEGIN!r} ... {END!r} section to fill in")
    perf = os.path.join(os.path.dirname(doc_path), "perf")
    os.makedirs(perf, exist_ok=True)
    links = []
    for p in charts_made:
        name = os.path.basename(p)
        shutil.copyfile(p, os.path.join(perf, name))
        links.append(f"![{name[:-4].replace('-', ' ')}](perf/{name})")
    shutil.copyfile(results_json, os.path.join(perf, "bench-latest.json"))
    body = "\n\n".join(links) + "\n\n" + md + "\nEvery figure above, with the exact commands and every run: [perf/bench-latest.json](perf/bench-latest.json).\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(doc_path + ".tmp", "w") as f:
        f.write(head + BEGIN + "\n\n" + body + "\n" + END + tail)
    os.replace(doc_path + ".tmp", doc_path)
    print(f"docs: {doc_path} and {perf}/ updated")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meta", required=True)
    ap.add_argument("--records", required=True)
    ap.add_argument("--phi", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--docs", help="also write the results into this Markdown file, between "
                    f"{BEGIN!r} and {END!r}, and the charts and JSON beside it in perf/")
    a = ap.parse_args()
    meta = read_meta(a.meta)
    batch, memory = read_records(a.records)
    files, size = int(meta["corpus_files"]), int(meta["corpus_bytes"])
    results = batch_results(batch, files, size, a.phi)
    micro = (micro_results(meta["criterion_home"], meta.get("criterion_log"))
             if meta.get("criterion_home") else [])
    mount = None
    if meta.get("mount_json"):
        with open(meta["mount_json"]) as f:
            mount = json.load(f)
    aim_list = aims(results)
    tokens = {}
    with open(meta["tokens"]) as f:
        for line in f:
            c = line.split("\t")[0]
            tokens[c] = tokens.get(c, 0) + 1
    doc = {
        "command": meta["command"],
        "date": meta["date"],
        "git": {"commit": meta["git_commit"], "uncommitted": meta.get("git_dirty", "")},
        "machine": {k: meta[k] for k in ("nproc", "cpu", "mem_total_kb", "kernel", "work_fs", "disk")},
        "corpus": {"path": meta["corpus"], "files": files, "bytes": size, "seed": int(meta["seed"]),
                   "mix": "pacs", "summary": meta["corpus_summary"], "phi_tokens": tokens,
                   "phi_tokens_file": meta["tokens"]},
        "runs": int(meta["runs"]),
        "method": {
            "timing": "wall clock of `bash -c COMMAND` (date +%s.%N); then `sync` timed apart; GNU time for CPU and peak RSS (largest single process)",
            "page_cache": "before each timed command: sync, drop the page cache, read the corpus back, run the tool once untimed over one file of each kind; outputs written to the same ext4 file system as the corpus",
            "quiet_gate": "before each timed command, wait (up to --max-wait) until other work at normal priority uses < 0.3 CPU; niced work is recorded (other_niced_cpu), not waited for",
            "two_workers": "deidfs: --jobs 2; other tools: two processes at once, each over every other file (hard-linked halves)",
            "phi_scan": "scripts/bench/phi_scan.py: every fake PHI value of the generator searched in every output byte and name",
        },
        "tools": {t: {"version": meta.get(f"version.{t}", ""), "what": meta.get(f"what.{t}", "")}
                  for t in PEER_ORDER if f"version.{t}" in meta},
        "unusable": {k[len("unusable."):]: v for k, v in meta.items() if k.startswith("unusable.")},
        "batch": results,
        "aims": aim_list,
        "memory": {"mount_daemon": memory, "export": [
            {"workers": r["workers"], "max_rss_kb": r["max_rss_kb"]} for r in results if r["tool"] == "deidfs"]},
        "mount": mount,
        "micro": {"command": meta.get("criterion_command"), "results": micro,
                  "skipped": meta.get("micro_skipped")},
    }
    stamp = meta["stamp"]
    out_json = os.path.join(a.out, f"bench-{stamp}.json")
    with open(out_json, "w") as f:
        json.dump(doc, f, indent=1)
    with open(os.path.join(a.out, "bench-latest.json"), "w") as f:
        json.dump(doc, f, indent=1)
    md = markdown(meta, results, memory, micro, mount, aim_list)
    made = charts(meta, results, mount, os.path.join(a.out, "charts"))
    if a.docs:
        update_docs(a.docs, md, made, out_json)
    with open(os.path.join(a.out, f"bench-{stamp}.md"), "w") as f:
        f.write(md)
    print()
    print(md)
    for p in made:
        print(f"chart: {p}")
    print(f"results: {out_json}")
    print(f"summary: {os.path.join(a.out, f'bench-{stamp}.md')}")


if __name__ == "__main__":
    main()
