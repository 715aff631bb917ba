#!/usr/bin/env python3
"""bench/report.py — the one benchmark result, and the documents made from it.

    report.py --dir RUN --out results.json [--doc FILE]...   collect, then render
    report.py --out results.json --doc FILE...                render only

RUN is what bench/all.sh leaves: json/*.json (hyperfine --export-json of each
script), json/peak-rss.tsv (peak memory, from lib.sh's peak_rss) and meta.tsv
(the machine and the tools); a few counts come from a script's own output
there (NAME.txt, NAME.log). A script that did not run leaves its rows out.
Every comparison is a ratio of medians of runs measured side by side in the
same hyperfine call (a note under the table names the exceptions); its spread
is the ratio of the quartiles the other way round: (other's lower quartile /
ksec's upper quartile) to (other's upper quartile / ksec's lower quartile).

Each --doc FILE gets its generated blocks replaced: the lines between
`<!-- bench:NAME begin -->` and `<!-- bench:NAME end -->`, where NAME is
`figures` (the full report) or `summary` (the short table the README quotes).
Everything outside those markers is left as written.
"""

import argparse
import glob
import json
import os
import re
import statistics
import sys

# Each comparison: (id, label, other, ksec, per, target, target_max)
# other, ksec: "FILE:COMMAND" — the hyperfine file in json/ and the command in
#   it (a regular expression matched against the whole name; hyperfine's -n);
#   ratio = other's median / ksec's, how many times faster ksec is, except
#   with target_max, where it is ksec's over other's, a cost (lower is better)
# label: may name {per}, {secrets}, {objects}, {pin} (see collect)
# per: the figures are also shown divided by this (per file)
# A comparison whose files are missing (its script did not run) is left out.
COMPARISONS = [
    ("decrypt-small", "decrypt vs `sops -d`, {per} small files, one process each, per file",
     "decrypt-small.json:sops", "decrypt-small.json:ksec", "files", 15, None),
    ("decrypt-large", "decrypt vs `sops -d`, one 5,000-key file",
     "decrypt-large.json:sops", "decrypt-large.json:ksec", None, 40, None),
    ("render", "render vs `kubectl kustomize`", "render.json:kustomize", "render.json:ksec", None, 50, None),
    ("gitops-first", "first `render --gitops` vs `sops -e` of each Secret manifest, one process each{secrets}",
     "gitops-first.json:sops", "gitops-first.json:first", None, 20, None),
    ("gitops-noop", "no-op `render --gitops` (stat cache) vs the first render",
     "gitops-first.json:first", "gitops-noop.json:noop", None, 50, None),
    ("gitops-noop-cold", "no-op `render --gitops` without the stat cache vs the first render",
     "gitops-first.json:first", "gitops-noop-cold.json:noop-cold", None, None, None),
    ("apply-first", "first apply vs `kubectl apply --server-side`",
     "apply-first.json:kubectl", "apply-first.json:ksec", None, 5, None),
    ("apply-noop", "no-op re-apply vs `kubectl apply --server-side`",
     "apply-noop.json:kubectl", "apply-noop.json:ksec", None, 25, None),
    ("multi-two", "apply to two clusters in parallel vs to one{objects}{pin}",
     r"multi.json:one cluster x \d+", r"multi.json:two clusters x \d+", None, None, 1.3),
    ("multi-serial", "apply to two clusters in parallel vs one after the other{objects}",
     r"multi.json:two clusters x \d+, one after the other", r"multi.json:two clusters x \d+", None, None, None),
    ("rekey-remove", "remove a recipient vs `sops updatekeys` + `rotate`",
     "rekey-remove.json:sops", "rekey-remove.json:ksec", None, None, None),
    ("rekey-noop", "no-op rekey vs `sops updatekeys`", "rekey-noop.json:sops", "rekey-noop.json:ksec", None, None, None),
]

# How a comparison's other side is named in the tables, where it is not a tool.
SHOWN = {"first": "first render", r"one cluster x \d+": "one cluster",
         r"two clusters x \d+, one after the other": "one after the other"}


def quartiles(xs):
    if len(xs) == 1:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def hyperfine(path):
    return {r["command"]: r for r in json.load(open(path))["results"]}


def from_output(run_dir, name, pattern):
    """A figure a script printed (NAME.txt, its stdout, or NAME.log, its stderr), or None."""
    try:
        m = re.search(pattern, open(os.path.join(run_dir, name)).read())
        return int(m.group(1)) if m else None
    except OSError:
        return None


def small_files(run_dir):
    """The file count of decrypt.sh's small workload, from its table."""
    return from_output(run_dir, "decrypt.txt", r"small: per file \((\d+) procs\)")


class Runs:
    """The hyperfine files of a run directory, read once each."""

    def __init__(self, jdir):
        self.jdir, self.files = jdir, {}

    def get(self, spec):
        """The result of FILE:COMMAND, or None when FILE is missing (its script did not run)."""
        fname, _, pattern = spec.partition(":")
        path = os.path.join(self.jdir, fname)
        if fname not in self.files:
            self.files[fname] = hyperfine(path) if os.path.exists(path) else None
        res = self.files[fname]
        if res is None:
            return None
        for name, r in res.items():
            if re.fullmatch(pattern, name):
                return r
        sys.exit(f"report.py: {path} has no command matching '{pattern}' (has: {', '.join(res)})")


def collect(run_dir):
    meta = {}
    for line in open(os.path.join(run_dir, "meta.tsv")):
        k, _, v = line.rstrip("\n").partition("\t")
        meta[k] = v
    jdir = os.path.join(run_dir, "json")
    rss = {}
    try:
        for line in open(os.path.join(jdir, "peak-rss.tsv")):
            w, tool, kib = line.split("\t")
            rss[(w, tool)] = int(kib)
    except OSError:
        pass
    n_small = small_files(run_dir)
    n_secrets = from_output(run_dir, "gitops.txt", r"(\d+) Secrets: sops -e loop")
    # multi.sh notes PIN=1 when each control plane ran on a core of its own
    pin = from_output(run_dir, "multi.log", r"; PIN=(\d)")
    runs = Runs(jdir)
    multi = runs.get(r"multi.json:one cluster x \d+")
    n_objects = int(multi["command"].rsplit(" ", 1)[1]) if multi else None
    words = {
        "secrets": f", {n_secrets:,} Secrets" if n_secrets else "",
        "objects": f", {n_objects:,} objects each" if n_objects else "",
        "pin": {1: ", control planes pinned to a core each", 0: ", control planes sharing every core"}.get(pin, ""),
    }
    comps = []
    for cid, label, other_spec, ksec_spec, per, target, target_max in COMPARISONS:
        other_r, ksec_r = runs.get(other_spec), runs.get(ksec_spec)
        if other_r is None or ksec_r is None:
            continue
        o, k = other_r["times"], ksec_r["times"]
        o_q1, o_q3 = quartiles(o)
        k_q1, k_q3 = quartiles(k)
        div = n_small if per and n_small else 1
        if target_max is None:  # how many times faster ksec is
            ratio, low, high = statistics.median(o) / statistics.median(k), o_q1 / k_q3, o_q3 / k_q1
        else:  # what ksec's side costs, in times the other's
            ratio, low, high = statistics.median(k) / statistics.median(o), k_q1 / o_q3, k_q3 / o_q1
        other_cmd = other_spec.partition(":")[2]
        comps.append({
            "id": cid,
            "label": label.format(per=div, **words),
            "other": SHOWN.get(other_cmd, other_cmd),
            "runs": len(k),
            "per": div,
            "other_median_s": statistics.median(o) / div,
            "ksec_median_s": statistics.median(k) / div,
            "ratio": ratio,
            "ratio_low": low,
            "ratio_high": high,
            "target": target,
            "target_max": target_max,
            "other_peak_rss_kib": rss.get((cid, other_cmd)),
            "ksec_peak_rss_kib": rss.get((cid, "ksec")),
        })
        if cid.startswith("multi-"):
            comps[-1]["control_planes_pinned"] = None if pin is None else pin == 1
    scale = []
    for path in sorted(glob.glob(os.path.join(jdir, "scale-*-*.json"))):
        m = re.fullmatch(r"scale-(\w+)-(\d+)\.json", os.path.basename(path))
        if not m:
            continue
        cmd, n = m.group(1), int(m.group(2))
        (r,) = hyperfine(path).values()
        med = statistics.median(r["times"])
        scale.append({
            "command": cmd,
            "objects": n,
            "runs": len(r["times"]),
            "median_s": med,
            "min_s": min(r["times"]),
            "max_s": max(r["times"]),
            "ms_per_1k": med * 1e3 / (n / 1000),
            "peak_rss_kib": rss.get((f"scale-{cmd}-{n}", "ksec")),
        })
    scale.sort(key=lambda s: (s["command"], s["objects"]))
    history = []
    for path in sorted(glob.glob(os.path.join(jdir, "history-*.json"))):
        m = re.fullmatch(r"history-(\d+)\.json", os.path.basename(path))
        if not m:
            continue
        n, res = int(m.group(1)), hyperfine(path)
        for cmd, r in res.items():
            history.append({
                "command": cmd,
                "commits": n,
                "runs": len(r["times"]),
                "median_s": statistics.median(r["times"]),
                "min_s": min(r["times"]),
                "max_s": max(r["times"]),
                "peak_rss_kib": rss.get((f"history-{n}", "ksec")) if cmd == "ksec access --exposed" else None,
            })
    history.sort(key=lambda h: (h["commits"], not h["command"].startswith("ksec"), h["command"]))
    phases = []
    path = os.path.join(jdir, "apply-phases.json")
    if os.path.exists(path):
        for name, r in hyperfine(path).items():
            phases.append({"command": f"ksec {name}", "median_s": statistics.median(r["times"])})
    return {"schema": 1, "meta": meta, "comparisons": comps, "scale": scale, "history": history, "apply_phases": phases}


# ---------------------------------------------------------------- rendering
def t(s):
    """A duration, in the unit people read it in."""
    if s >= 10:
        return f"{s:.1f} s"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 0.1:
        return f"{s * 1e3:.0f} ms"
    if s >= 0.01:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e3:.2f} ms"


def x(r):
    """A ratio; near 1 (a cost against a target such as ≤ 1.3×) with two decimals."""
    return f"{r:.0f}×" if r >= 100 else f"{r:.1f}×" if r >= 2 else f"{r:.2f}×"


def mib(kib):
    return "–" if kib is None else f"{kib / 1024:.0f} MiB" if kib >= 100 * 1024 else f"{kib / 1024:.1f} MiB"


def verdict(c):
    if c.get("target_max") is not None:
        return f"≤ {c['target_max']}×: " + ("met" if c["ratio"] <= c["target_max"] else "**missed**")
    if c["target"] is None:
        return "–"
    return f"≥ {c['target']}×: " + ("met" if c["ratio"] >= c["target"] else "**missed**")


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def machine_line(meta):
    return (f"{meta.get('nproc', '?')} cores ({meta.get('cpu', '?')}), {meta.get('memory', '?')}, "
            f"{meta.get('kernel', '?')}; load average {meta.get('load_before', '?')} before, "
            f"{meta.get('load_after', '?')} after")


def notes(comps, short=False):
    """What the table cannot say about the rows that are not ksec against another tool side by side."""
    ids = {c["id"]: c for c in comps}
    if short:
        out = []
        if "gitops-noop" in ids or "gitops-noop-cold" in ids:
            out.append("The no-op `render --gitops` rows are against ksec's own first render.")
        if "multi-two" in ids:
            c = ids["multi-two"]
            out.append("The two-cluster ratio is two clusters' median over one cluster's (lower is better)"
                       + {True: "; each control plane was pinned to a core of its own.",
                          False: "; the control planes shared every core."}.get(c.get("control_planes_pinned"), "."))
        return ["", " ".join(out)] if out else []
    out = []
    if "gitops-noop" in ids or "gitops-noop-cold" in ids:
        out.append("The no-op `render --gitops` rows compare with the first render of `bench/gitops.sh`, timed "
                   "by another hyperfine call just before them. With the stat cache the no-op re-render does "
                   "not read an output file whose stat data (size, times, inode) are unchanged; without it (as "
                   "after a fresh clone) it reads and hashes every one.")
    if "multi-two" in ids:
        c = ids["multi-two"]
        pinned = {True: " Each of the two control planes `bench/multi.sh` starts (etcd and the API server) was "
                        "pinned to a core of its own, as two clusters run on machines of their own; ksec could "
                        "use every core.",
                  False: " The two control planes `bench/multi.sh` starts shared every core with each other "
                         "and with ksec."}.get(c.get("control_planes_pinned"), "")
        out.append("The two-cluster row's ratio is the other way round: the median of one `ksec apply "
                   "--all-envs` to two clusters over that of the same apply to one, so lower is better; "
                   f"the target is at most {c['target_max']}×." + pinned)
    return [line for note in out for line in ("", note)]


def summary_block(res):
    meta = res["meta"]
    rows = [[c["label"], f"{c['other']} {t(c['other_median_s'])}", t(c["ksec_median_s"]), x(c["ratio"]),
             f"{x(c['ratio_low'])}–{x(c['ratio_high'])}", verdict(c)] for c in res["comparisons"]]
    out = table(["workload", "other", "ksec", "ratio of medians", "spread (quartiles)", "target"], rows)
    out += notes(res["comparisons"], short=True)
    out += ["", f"Measured by `bench/all.sh` on {meta.get('started', '?')[:10]}, ksec "
            f"{meta.get('ksec', '?')}, on {machine_line(meta)}. "
            "Peak memory, the scale runs, the tools and what dominates where a target is missed are in "
            "[BENCHMARKS.md](BENCHMARKS.md)."]
    return out


def figures_block(res):
    meta = res["meta"]
    out = [f"Run of {meta.get('started', '?')}: ksec {meta.get('ksec', '?')}; "
           f"{meta.get('seconds_total', '?')} s in all"
           + (" (**quick run: small workloads, not for quoting**)" if meta.get("quick") == "1" else "") + ".", ""]
    out += ["**Machine.** " + machine_line(meta) + ".", ""]
    tools = ["rustc", "sops", "kubectl", "kube_apiserver", "hyperfine", "age", "python"]
    out += ["**Tools.** " + "; ".join(f"{k.replace('_', '-')}: {meta[k]}" for k in tools if meta.get(k)) + ".", ""]
    out += ["**Comparisons** (each a ratio of the medians of runs measured side by side in one hyperfine "
            "call; spread: the other tool's lower quartile over ksec's upper one, to its upper quartile "
            "over ksec's lower one; peak memory: the largest resident set of one process, one run):", ""]
    rows = [[c["label"], str(c["runs"]), f"{c['other']} {t(c['other_median_s'])}", t(c["ksec_median_s"]), x(c["ratio"]),
             f"{x(c['ratio_low'])}–{x(c['ratio_high'])}", verdict(c),
             f"{mib(c['other_peak_rss_kib'])} / {mib(c['ksec_peak_rss_kib'])}"] for c in res["comparisons"]]
    out += table(["workload", "runs", "other (median)", "ksec (median)", "ratio", "spread", "target",
                  "peak memory other / ksec"], rows)
    out += notes(res["comparisons"])
    if res["scale"]:
        out += ["", "**Scale** (`bench/scale.sh`: ksec against itself; /1k = median per 1,000 objects, "
                "process start-up included; peak memory: median of its runs under `/usr/bin/time`):", ""]
        rows = [[s["command"], f"{s['objects']:,}", str(s["runs"]), t(s["median_s"]),
                 f"{t(s['min_s'])} – {t(s['max_s'])}", f"{s['ms_per_1k']:.1f} ms", mib(s["peak_rss_kib"])]
                for s in res["scale"]]
        out += table(["command", "objects", "runs", "median", "min – max", "/1k", "peak memory"], rows)
        growth = []
        for cmd in sorted({s["command"] for s in res["scale"]}):
            ss = [s for s in res["scale"] if s["command"] == cmd]
            if len(ss) >= 2:
                growth.append(f"{cmd} {ss[-1]['ms_per_1k'] / ss[-2]['ms_per_1k']:.2f}")
        if growth:
            out += ["", f"Growth of the time per 1,000 objects from the middle to the largest size "
                    f"(1.00 is linear): {', '.join(growth)}."]
    if res.get("history"):
        out += ["", "**History** (`bench/history.sh`: one git repository per length, 10 files of 10 values, a "
                "recipient added at a quarter and removed at three quarters of the commits; the git rows read "
                "the same versions, for scale; peak memory: one run):", ""]
        rows = [[h["command"], f"{h['commits']:,}", str(h["runs"]), t(h["median_s"]),
                 f"{t(h['min_s'])} – {t(h['max_s'])}", mib(h["peak_rss_kib"]) if h["peak_rss_kib"] else "–"]
                for h in res["history"]]
        out += table(["command", "commits", "runs", "median", "min – max", "peak memory"], rows)
    if res["apply_phases"]:
        out += ["", "**ksec's no-op apply, phase by phase** (medians, informational; `bench/apply.sh` explains each):", ""]
        out += table(["command", "median"], [[p["command"], t(p["median_s"])] for p in res["apply_phases"]])
    secs = [f"{s} {meta[f'seconds_{s}']} s" for s in meta.get("scripts", "").split() if f"seconds_{s}" in meta]
    loads = [f"{s} {meta[f'load_after_{s}']}" for s in meta.get("scripts", "").split() if f"load_after_{s}" in meta]
    out += ["", f"Time per script: {', '.join(secs)}. Load average after each: {'; '.join(loads)}."]
    return out


def splice(path, name, lines):
    text = open(path).read()
    begin, end = f"<!-- bench:{name} begin -->", f"<!-- bench:{name} end -->"
    pat = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.S)
    if not pat.search(text):
        return False
    note = f"<!-- generated by bench/report.py from bench/results.json: edit those, not this block -->"
    body = "\n".join([begin, note, "", *lines, "", end])
    new = pat.sub(lambda _: body, text, count=1)
    if new != text:
        open(path + ".tmp", "w").write(new)
        os.replace(path + ".tmp", path)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", help="a bench/all.sh run directory to collect (else --out is read)")
    ap.add_argument("--out", required=True, help="the JSON result")
    ap.add_argument("--doc", action="append", default=[], help="a document whose generated blocks to rewrite")
    a = ap.parse_args()
    if a.dir:
        res = collect(a.dir)
        with open(a.out + ".tmp", "w") as f:
            json.dump(res, f, indent=1, ensure_ascii=False)
            f.write("\n")
        os.replace(a.out + ".tmp", a.out)
    else:
        res = json.load(open(a.out))
    for doc in a.doc:
        found = [splice(doc, "figures", figures_block(res)), splice(doc, "summary", summary_block(res))]
        if not any(found):
            sys.exit(f"report.py: {doc} has no <!-- bench:figures begin --> or <!-- bench:summary begin --> block")
    if not a.doc:
        print("\n".join(summary_block(res)))


if __name__ == "__main__":
    main()
