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
