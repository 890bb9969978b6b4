"""Markdown result rows from ``edge-sdk eval --json`` reports, so documents quote runs verbatim."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from export.errors import ExportError

COLUMNS = ("dice", "iou", "auc", "sensitivity", "specificity", "normal_fp_rate")


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}"


def markdown_table(reports: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per labelled eval report: metrics, mean end-to-end CPU latency, bundle digest."""
    header = ("| bundle | " + " | ".join(COLUMNS) + " | latency ms (mean total) | n | digest |")
    lines = [header, "|" + "---|" * (len(COLUMNS) + 4)]
    for label, report in reports.items():
        latency = report.get("latency_ms", {}).get("total")
        lines.append(
            f"| {label} | " + " | ".join(_fmt(report.get(c)) for c in COLUMNS)
            + f" | {_fmt(latency) if latency is not None else '–'} | {report.get('n_images')} | "
            f"`{str(report.get('bundle_digest', ''))[:12]}` |"
        )
    return "\n".join(lines)


def load_reports(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Parse ``LABEL=path.json`` items."""
    reports = {}
    for item in items:
        label, sep, path = item.partition("=")
        if not sep:
            raise ExportError(f"report: {item!r} is not LABEL=path.json")
        try:
            reports[label] = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ExportError(f"report: cannot read eval report {path}: {exc}") from exc
    return reports


def describe_bundles(bundles: Sequence[str | Path]) -> str:
    """Markdown: per bundle and net, the precision chosen, measured latencies, the val gate."""
    from edge_sdk.bundle import load_bundle

    lines = ["| bundle | net | precision | ORT CPU p50 ms per candidate | val gate (fp32 → converted) |",
             "|---|---|---|---|---|"]
    for path in bundles:
        bundle = load_bundle(path)
        prov = bundle.manifest.provenance
        gate = prov.get("gate", {})
        gate_text = ", ".join(
            f"{m} {v['reference']:.3f} → {v['converted']:.3f}"
            for m, v in gate.get("metrics", {}).items()) or "–"
        gate_text += "" if gate.get("passed", False) else " (FAILED)"
        for role, spec in bundle.manifest.models.items():
            record = prov.get("conversion", {}).get(role, {})
            candidates = ", ".join(f"{k} {v['p50_ms']:.2f}" for k, v in
                                   record.get("candidates_latency_ms", {}).items())
            arch = prov.get("training", {}).get(role, {}).get("arch", "?")
            lines.append(f"| {Path(path).name} | {role} `{arch}` | {spec.precision} "
                         f"({record.get('chosen', '?')}) | {candidates} | "
                         f"{gate_text if role == 'segmenter' else ''} |")
    return "\n".join(lines)
