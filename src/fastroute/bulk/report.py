# SPDX-License-Identifier: Apache-2.0
"""The run summary and its renderings: text table, JSON document, HTML report.

Nothing here ever holds a key or an input line: only counts, node names,
file names and (masked) error messages.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from html import escape

import numpy as np

BAD_ROW_REASONS = ("empty_key", "field_count", "invalid_utf8", "row_too_long", "unterminated_quote",
                   "invalid_card_number")


@dataclass
class RouteSummary:
    input: str
    output: str | None
    algorithm: str
    key_columns: list[str]
    #: True when placement is keyed by a secret (docs/algorithms.md §22); the secret itself is never reported.
    keyed: bool = False
    status: str = "running"  # ok | error | usage | bad_row | interrupted
    exit_code: int | None = None
    error: str | None = None
    committed: bool = False
    rows_in: int = 0
    rows_out: int = 0
    rows_skipped: int = 0
    rows_rerouted: int = 0
    bad_rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BAD_ROW_REASONS, 0))
    lines_in: int = 0
    lines_out: int = 0
    lines_rejected: int = 0
    blank_lines: int = 0
    nodes: list[dict] = field(default_factory=list)
    max_actual_over_expected: float = 0.0
    seconds: float = 0.0
    rows_per_second: float = 0.0
    outputs: list[str] = field(default_factory=list)

    @property
    def bad_row_count(self) -> int:
        return sum(self.bad_rows.values())

    def to_dict(self) -> dict:
        """The summary as plain data; floats rounded (6 decimals) so that no number in a
        report is a long digit run a card-number scanner would take for a PAN."""
        def rounded(value):
            if isinstance(value, float):
                return round(value, 6)
            if isinstance(value, dict):
                return {k: rounded(v) for k, v in value.items()}
            if isinstance(value, list):
                return [rounded(v) for v in value]
            return value

        return rounded(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def fill_shares(self, serving: dict[str, float], counts: np.ndarray, names: list[str]) -> None:
        weight_sum = sum(serving.values())
        routed = int(counts.sum())
        worst = 0.0
        self.nodes = []
        for i, name in enumerate(names):
            expected = serving.get(name, 0.0) / weight_sum if weight_sum else 0.0
            actual = counts[i] / routed if routed else 0.0
            if expected > 0:
                worst = max(worst, actual / expected)
            self.nodes.append({"name": name, "rows": int(counts[i]), "share": float(actual),
                               "expected_share": expected})
        self.max_actual_over_expected = float(worst)


def summary_table(summary: RouteSummary) -> str:
    lines = [
        f"routed {summary.rows_in} rows from {summary.input} by {summary.key_columns} "
        f"with {summary.algorithm!r}{' (keyed)' if summary.keyed else ''} in {summary.seconds:.2f}s ({summary.rows_per_second:,.0f} rows/s)",
        f"{'node':<24} {'rows':>12} {'share':>8} {'expected':>9}",
    ]
    for node in summary.nodes:
        lines.append(f"{node['name']:<24} {node['rows']:>12} {node['share']:>8.2%} {node['expected_share']:>9.2%}")
    lines.append(f"max actual/expected share: {summary.max_actual_over_expected:.3f}")
    bad = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.bad_rows.items() if v) or "none"
    lines.append(f"rows in {summary.rows_in} = out {summary.rows_out} + skipped {summary.rows_skipped} "
                 f"(bad rows: {bad}); rerouted {summary.rows_rerouted}")
    lines.append(f"lines in {summary.lines_in} = out {summary.lines_out} + rejected {summary.lines_rejected} "
                 f"+ blank {summary.blank_lines}")
    return "\n".join(lines)


def html_report(summary: RouteSummary) -> str:
    """Self-contained HTML page with an SVG bar chart of expected vs actual shares."""
    rows = summary.nodes
    width, bar_h, gap, left = 640, 14, 10, 180
    top = max((max(n["share"], n["expected_share"]) for n in rows), default=0) or 1.0
    height = len(rows) * (2 * bar_h + gap) + 40
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + left + 80}" height="{height}" role="img">']
    for i, node in enumerate(rows):
        y = 20 + i * (2 * bar_h + gap)
        svg.append(f'<text x="{left - 8}" y="{y + bar_h + 4}" text-anchor="end" font-size="12">{escape(node["name"])}</text>')
        for j, (key, color) in enumerate((("expected_share", "#9ab"), ("share", "#1f6feb"))):
            w = width * node[key] / top
            svg.append(f'<rect x="{left}" y="{y + j * bar_h}" width="{w:.1f}" height="{bar_h - 2}" fill="{color}"/>')
            svg.append(f'<text x="{left + w + 4:.1f}" y="{y + j * bar_h + bar_h - 4}" font-size="11">{node[key]:.2%}</text>')
    svg.append("</svg>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>fastroute route report</title></head><body>"
        f"<h1>fastroute route: {escape(summary.input)}</h1>"
        f"<p>{summary.rows_in} rows in, {summary.rows_out} out, {summary.rows_skipped} skipped; "
        f"algorithm {escape(summary.algorithm)}{' (keyed)' if summary.keyed else ''}; max actual/expected {summary.max_actual_over_expected:.3f}</p>"
        "<p><span style='color:#9ab'>&#9632;</span> expected share &nbsp; <span style='color:#1f6feb'>&#9632;</span> actual share</p>"
        + "".join(svg)
        + f"<pre>{escape(summary.to_json())}</pre></body></html>"
    )
