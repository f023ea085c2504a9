# SPDX-License-Identifier: Apache-2.0
"""Bulk routing of transaction files: the engine behind `fastroute route`.

A run is a validated `RoutePlan` (plan.py), a source of blocks read ahead on one
thread (reader.py), a pure routing step per block (step.py), and `Outputs`
committed as one step (outputs.py); report.py renders the summary. Rows are
never lost silently: rows_in == rows_out + rows_skipped and lines_in ==
lines_out + lines_rejected + blank_lines; every bad row is counted by reason and
kept in the rejects file when one is given. See docs/bulk.md.
"""
from __future__ import annotations

import time

import numpy as np

from .errors import BadRowError, InputError, Interrupted, OutputError, UsageError
from .outputs import Outputs
from .plan import BAD_ROW_POLICIES, DEFAULT_BATCH_ROWS, DEFAULT_MAX_BAD_ROWS, RoutePlan, make_plan
from .reader import Block, ReadAhead, open_source
from .report import RouteSummary, html_report, summary_table
from .step import Routed, Router, composite_keys, route_block

__all__ = [
    "BAD_ROW_POLICIES", "DEFAULT_BATCH_ROWS", "DEFAULT_MAX_BAD_ROWS", "BadRowError", "InputError", "Interrupted",
    "OutputError", "RoutePlan", "RouteSummary", "UsageError", "composite_keys", "html_report", "make_plan",
    "new_summary", "route_file", "run_plan", "summary_table",
]


def route_file(input: str, cluster, key, output: str | None = None, *, progress=None, **options) -> RouteSummary:
    """Routes every row of `input` (CSV/Parquet path, or "-" for CSV on stdin) and
    writes the rows plus node column(s); see `make_plan` for the options."""
    return run_plan(make_plan(input, cluster, key, output, **options), progress=progress)


def new_summary(plan: RoutePlan) -> RouteSummary:
    return RouteSummary(input=plan.input, output=plan.output or plan.split_dir, algorithm=plan.cluster.algorithm,
                        key_columns=list(plan.key), keyed=plan.cluster.secret is not None)


def run_plan(plan: RoutePlan, summary: RouteSummary | None = None, progress=None) -> RouteSummary:
    """Runs a plan; `summary` (if given) holds the counts so far when this raises."""
    started = time.perf_counter()
    summary = summary if summary is not None else new_summary(plan)
    router = Router(plan)
    source = open_source(plan)
    try:
        _check_columns(plan, source.columns)
        outputs, stages = Outputs(plan, source.columns), None  # no file exists yet
        try:
            outputs.open()
            stages = ReadAhead(source.blocks(), abandon=source.waiting_on_stdin)
            stages.start()
            counts = np.zeros(router.node_count, dtype=np.int64)
            for block in stages:
                routed = route_block(router, block)
                _account(plan, summary, block, routed, final=False)
                outputs.reject_records(block.bad)
                outputs.reject_rows(routed.rejected, routed.rejected_lines, routed.rejected_reasons)
                outputs.write(routed)
                counts += np.bincount(routed.primary, minlength=router.node_count)
                if progress is not None:
                    progress(summary.rows_in, block.position)
            _account(plan, summary, None, None, final=True)
            outputs.write_empty(route_block(router, source.empty_block()).batch.schema)
            summary.fill_shares({n.name: n.weight for n in plan.cluster.placement_members}, counts, plan.node_names)
            summary.outputs = outputs.paths()
            summary.seconds = time.perf_counter() - started
            summary.rows_per_second = summary.rows_in / summary.seconds if summary.seconds else 0.0
            outputs.commit(html_report(summary) if plan.report else None)
            summary.committed, summary.status, summary.exit_code = True, "ok", 0
        except BaseException:
            summary.committed = outputs.committed  # a signal held back during the renames lands after them
            outputs.abort()
            raise
        finally:
            if stages is not None:
                stages.close()
    finally:
        source.close()
    return summary


def _check_columns(plan: RoutePlan, columns: list[str]) -> None:
    missing = [k for k in plan.key if k not in columns]
    if missing:
        raise UsageError(f"--key: the input has no column {missing[0]!r}; its columns are {columns}")
    clash = [c for c in plan.output_columns() if c in columns]
    if clash:
        raise UsageError(f"--node-column: the input already has a column {clash[0]!r}; choose another name")
    unknown = [c for c, _ in plan.schema if c not in columns]
    if unknown:
        raise UsageError(f"--schema: the input has no column {unknown[0]!r}")
    unknown = [c for c in plan.tokenize if c not in columns]
    if unknown:
        raise UsageError(f"--tokenize: the input has no column {unknown[0]!r}")


def _account(plan: RoutePlan, summary: RouteSummary, block: Block | None, routed: Routed | None, final: bool) -> None:
    """Adds one block to the counts, then applies --max-bad-rows."""
    if block is not None:
        skipped_keys = len(routed.rejected_index)
        rejected_key_lines = block.lines_of(routed.rejected_index) if skipped_keys else 0
        summary.rows_in += block.table.num_rows + len(block.bad)
        summary.rows_out += routed.batch.num_rows
        summary.rows_skipped += len(block.bad) + skipped_keys
        summary.rows_rerouted += routed.rerouted
        for rec in block.bad:
            summary.bad_rows[rec.reason] += 1
        for reason, count in routed.bad_counts.items():
            summary.bad_rows[reason] += count
        summary.lines_in += block.lines
        summary.lines_out += block.good_lines - rejected_key_lines
        summary.lines_rejected += block.bad_lines + rejected_key_lines
        summary.blank_lines += block.blank_lines
    if plan.max_bad_rows.exceeded(summary.bad_row_count, summary.lines_in, final):
        raise BadRowError(f"{summary.bad_row_count} bad rows in {summary.lines_in} lines exceed "
                          f"--max-bad-rows {plan.max_bad_rows}")
