"""What a drill saw, reduced to numbers and drawn: outage per service, time to fence and to
take over, split-brain samples, p50/p95 over repeats; written as JSON and as a PNG timeline.

Pure functions over the recorded series (so they are tested without a cluster). The picture
is drawn from the JSON document alone, and matplotlib (the `report` extra) is imported only
when a report is asked for.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import Problem

SCHEMA = "halab-drill-report/1"
Series = list[tuple[float, bool]]  # (seconds after the fault, the request succeeded)
Holders = list[tuple[float, list[str]]]  # (seconds after the fault, members holding the address)


@dataclass
class RunRecord:
    """One drill run as recorded; times in seconds after the fault (negative: the baseline)."""

    mode: str
    victim: str
    target: str
    service: str  # the label of the service the fault is aimed at
    address: str  # its floating address of the service the fault is aimed at
    services: dict[str, str]  # service label -> the floating address it is reached through
    probes: dict[str, Series] = field(default_factory=dict)
    holders: dict[str, Holders] = field(default_factory=dict)  # address -> samples
    events: list[tuple[float, str]] = field(default_factory=list)
    survivor: str = ""
    fenced_s: float | None = None
    fence_executor: str = ""
    recovery: str = ""  # service-kill: "restarted in place" or "moved"


def outage(series: Series) -> dict[str, Any]:
    """First failed request after the fault to the first good one after it (0 if none failed,
    None if the service never answered again)."""
    after = [(at, ok) for at, ok in series if at >= 0]
    failed = next((at for at, ok in after if not ok), None)
    good = next((at for at, ok in after if ok and failed is not None and at > failed), None)
    span = 0.0 if failed is None else (None if good is None else round(good - failed, 3))
    return {"outage_s": span, "first_failed_s": failed, "first_good_s": good, "requests": len(after),
            "failed_requests": sum(1 for _, ok in after if not ok), "outages": stretches(after)}  # fmt: skip


def stretches(series: Series) -> list[list[float | None]]:
    """Every [first failed, first good] stretch (None: not good again), e.g. the first outage
    and the shorter one of a failback when the victim returns."""
    out: list[list[float | None]] = []
    for at, ok in series:
        if not ok and (not out or out[-1][1] is not None):
            out.append([at, None])
        elif ok and out and out[-1][1] is None:
            out[-1][1] = at
    return out


def takeover(samples: Holders, victim: str) -> float | None:
    """When another node first held the address alone after the fault (VRRP promotion, IP start)."""
    return next((at for at, held in samples if at >= 0 and len(held) == 1 and held[0] != victim), None)


def doubles(holders: dict[str, Holders]) -> list[dict[str, Any]]:
    """Every sample in which two or more nodes held the same floating address: split brain."""
    return [{"at_s": at, "address": address, "holders": held}
            for address, samples in holders.items() for at, held in samples if len(held) > 1]  # fmt: skip


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear between closest ranks; None without values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 3)


def stats(values: Sequence[float | None]) -> dict[str, Any]:
    """p50/p95/max of the measured values; `missing` counts runs where it did not happen."""
    known = [v for v in values if v is not None]
    return {"p50": percentile(known, 50), "p95": percentile(known, 95), "max": max(known, default=None),
            "runs": len(known), "missing": len(values) - len(known)}  # fmt: skip


def run_json(run: RunRecord) -> dict[str, Any]:
    main = run.holders.get(run.address, [])
    return {
        "mode": run.mode, "victim": run.victim, "target": run.target, "service": run.service,
        "address": run.address, "survivor": run.survivor,
        "recovery": run.recovery or None, "fenced_s": None if run.fenced_s is None else round(run.fenced_s, 3),
        "fence_executor": run.fence_executor or None,
        "takeover_s": takeover(main, run.victim) if run.mode != "service-kill" else None,
        "services": {label: {"address": run.services[label], **outage(series)} for label, series in run.probes.items()},
        "split_brain": doubles(run.holders),
        "address_samples": sum(len(s) for s in run.holders.values()),
        "events": [{"at_s": round(at, 3), "what": what} for at, what in sorted(run.events)],
        "series": {label: [[round(at, 3), ok] for at, ok in series] for label, series in run.probes.items()},
        "holders": {address: [[round(at, 3), held] for at, held in samples]
                    for address, samples in run.holders.items()},
    }  # fmt: skip


def records(document: dict[str, Any]) -> list[RunRecord]:
    """The runs of a report read back (the numbers can be recomputed from the raw series)."""
    return [RunRecord(run["mode"], run["victim"], run["target"], run["service"], run["address"],
                      {label: found["address"] for label, found in run["services"].items()},
                      {label: [(at, ok) for at, ok in series] for label, series in run["series"].items()},
                      {address: [(at, held) for at, held in samples] for address, samples in run["holders"].items()},
                      [(event["at_s"], event["what"]) for event in run["events"]], run["survivor"], run["fenced_s"],
                      run["fence_executor"] or "", run["recovery"] or "")
            for run in document["runs"]]  # fmt: skip


def report_json(cluster: str, mode: str, runs: list[RunRecord], started: str) -> dict[str, Any]:
    """The whole report: every run, and the summary over the repeats."""
    documents = [run_json(run) for run in runs]
    labels = list(dict.fromkeys(label for doc in documents for label in doc["services"]))
    summary = {
        "outage_s": {label: stats([d["services"].get(label, {}).get("outage_s") for d in documents])
                     for label in labels},
        "fenced_s": stats([d["fenced_s"] for d in documents]),
        "takeover_s": stats([d["takeover_s"] for d in documents]),
        "split_brain_samples": sum(len(d["split_brain"]) for d in documents),
        "recovery": [d["recovery"] for d in documents if d["recovery"]],
    }  # fmt: skip
    return {"schema": SCHEMA, "cluster": cluster, "mode": mode, "started": started, "repeat": len(runs),
            "summary": summary, "runs": documents}  # fmt: skip


def dir_problems(directory: Path) -> list[Problem]:
    """Why the report could not be written to `directory` (nothing yet created)."""
    fix = "give a directory you can write to (it is created if its parent exists)"
    problems = []
    if directory.exists() and not directory.is_dir():
        problems.append(Problem("--report", f"{directory} is not a directory", fix))
    elif not directory.exists() and not (directory.parent.is_dir() and os.access(directory.parent, os.W_OK | os.X_OK)):
        problems.append(Problem("--report", f"{directory} cannot be created here", fix))
    elif directory.exists() and not os.access(directory, os.W_OK | os.X_OK):
        problems.append(Problem("--report", f"{directory} is not writable", fix))
    if importlib.util.find_spec("matplotlib") is None:
        problems.append(Problem("--report", "the timeline picture needs matplotlib, which is not installed",
                                "pip install 'halab[report]' (scripts/install does); or no --report"))  # fmt: skip
    return problems


def write(directory: Path, document: dict[str, Any]) -> tuple[Path, Path]:
    """drill-<mode>.json and drill-<mode>.png in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"drill-{document['mode']}"
    json_path, png_path = stem.with_suffix(".json"), stem.with_suffix(".png")
    json_path.write_text(json.dumps(document, indent=1) + "\n")
    draw(document, png_path)
    return json_path, png_path


def draw(document: dict[str, Any], path: Path) -> None:
    """One panel per run: each service's requests (green answered, red failed), each node's
    holding of each address, the events as vertical lines, the outage shaded."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    runs = document["runs"]
    figure, axes = pyplot.subplots(len(runs), 1, figsize=(11, 1.2 + 2.4 * len(runs)), squeeze=False, sharex=True)
    for index, (ax, run) in enumerate(zip(axes[:, 0], runs, strict=True)):
        _draw_run(ax, run, f"run {index + 1}" if len(runs) > 1 else "")
    axes[-1, 0].set_xlabel("seconds after the fault (red line: the fault)")
    from matplotlib.patches import Patch

    legend = [Patch(color="tab:green", label="request answered"), Patch(color="tab:red", label="request failed"),
              Patch(color="tab:blue", label="holds the address"), Patch(color="black", label="split brain")]
    figure.legend(handles=legend, loc="lower right", fontsize=8, ncols=4)
    figure.suptitle(_title(document), fontsize=10)
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def _title(document: dict[str, Any]) -> str:
    summary = document["summary"]
    parts = [f"halab drill {document['cluster']} --mode {document['mode']} ({document['repeat']} run"
             f"{'s' if document['repeat'] != 1 else ''}, {document['started']})"]  # fmt: skip
    for label, st in summary["outage_s"].items():
        if st["p50"] is not None:
            parts.append(f"{label}: outage p50 {st['p50']:.1f} s, p95 {st['p95']:.1f} s")
    if summary["fenced_s"]["p50"] is not None:
        parts.append(f"fenced p50 {summary['fenced_s']['p50']:.1f} s")
    parts.append(f"split-brain samples: {summary['split_brain_samples']}")
    return "\n".join([parts[0], "; ".join(parts[1:])])


def _spans(series: list[list[Any]], want: Any) -> list[tuple[float, float]]:
    """(start, width) of the stretches where a sample's value equals `want` (until the next sample)."""
    spans = []
    for (at, value), (following, _) in zip(series, [*series[1:], series[-1]], strict=True):
        if value == want:
            spans.append((at, max(following - at, 0.1)))
    return spans


def _draw_run(ax: Any, run: dict[str, Any], label: str) -> None:
    rows: list[str] = []
    for service, series in run["series"].items():
        y = len(rows)
        if series:
            ax.broken_barh(_spans(series, True), (y - 0.3, 0.6), color="tab:green")
            ax.broken_barh(_spans(series, False), (y - 0.3, 0.6), color="tab:red")
        rows.append(service)
        for number, (start, end) in enumerate(run["services"][service]["outages"]):
            if end is not None:
                ax.axvspan(start, end, color="tab:red", alpha=0.08)
                ax.annotate(f"{'outage ' if number == 0 else ''}{end - start:.1f} s", (end, y + 0.35), fontsize=8)
    for address, samples in run["holders"].items():
        nodes = sorted({n for _, held in samples for n in held} | {run["victim"]})
        for node in nodes:
            marks = [[at, node in held] for at, held in samples]
            if marks:
                ax.broken_barh(_spans(marks, True), (len(rows) - 0.25, 0.5), color="tab:blue")
            rows.append(f"{node} holds {address}")
        for double in run["split_brain"]:
            if double["address"] == address:
                ax.axvline(double["at_s"], color="black", linewidth=2)
    colors = {"fenced": "tab:purple", "answers": "tab:green", "restor": "tab:gray", "back": "tab:gray"}
    ax.axvline(0, color="tab:red", linewidth=1.5)
    for event in run["events"]:
        color = next((c for key, c in colors.items() if key in event["what"]), "tab:orange")
        ax.axvline(event["at_s"], color=color, linestyle="--", linewidth=0.8)
        ax.annotate(event["what"], (event["at_s"], len(rows) - 0.4), rotation=90, fontsize=7, va="top",
                    ha="right", color=color)  # fmt: skip
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.grid(axis="x", alpha=0.3)
    detail = f"{run['mode']} {run['victim']}" + (f", {run['recovery']}" if run["recovery"] else "")
    ax.set_title(f"{label}: {detail}" if label else detail, fontsize=9, loc="left")
