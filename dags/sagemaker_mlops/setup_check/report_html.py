"""The setup check as one self-contained HTML page (inline CSS, no scripts, nothing fetched), stored in the bucket
like the utilisation report."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

COLOURS = {"OK": "#1a7f37", "FIX": "#cf222e", "WARN": "#9a6700", "INFO": "#57606a"}


def render(result: Mapping[str, Any]) -> str:
    """``result``: the task's XCom (``lines``, ``ok``, ``checked_at``, ``region``, ``account``)."""
    rows = "\n".join(
        f"<tr><td style='color:{COLOURS.get(entry['status'], '#000')};font-weight:bold'>{escape(entry['status'])}"
        f"{'' if entry['required'] else ' (optional)'}</td><td>{escape(entry['title'])}</td>"
        f"<td>{escape(entry['detail'])}</td><td><code>{escape(entry['fix'] if entry['status'] != 'OK' else '')}</code>"
        "</td></tr>"
        for entry in result["lines"]
    )
    verdict = (
        "All required lines are OK."
        if result["ok"]
        else f"{len(result['failures'])} required line(s) need a fix (the run failed)."
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Setup check</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:80em}}
table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #d0d7de;padding:.35em .6em;vertical-align:top;text-align:left}}
code{{white-space:pre-wrap;font-size:.9em}}
</style></head><body>
<h1>airflow-sagemaker-mlops: setup check</h1>
<p>Account {escape(str(result.get("account") or "?"))}, region {escape(str(result.get("region") or "?"))},
checked {escape(str(result.get("checked_at") or ""))}. <strong>{escape(verdict)}</strong></p>
<table><thead><tr><th>Status</th><th>Line</th><th>Found</th><th>Fix</th></tr></thead>
<tbody>
{rows}
</tbody></table>
</body></html>
"""
