"""``make reap``: the reaper's sweep from a laptop — everything of the package in the account with its cost per hour,
and (``APPLY=1``) the removals the ``sagemaker_mlops_reaper`` DAG would make.

The same code path as the DAG (``sagemaker_mlops.reaper.sweep.sweep``), with clients built from a named Airflow
connection (``--conn-id``, e.g. the ``AIRFLOW_CONN_AWS_DEFAULT`` of your shell) or else boto3's default chain (the
``AWS_PROFILE`` and region of your shell; ``AWS_ENDPOINT_URL`` points it at the emulator, as boto3 does itself).

One difference from the DAG: a laptop knows no DAG runs, so every run counts as "unknown here" — the rules then
act only on what has expired (jobs, and deployments past their TTL counted from the deployment), exactly as the
DAG treats a run of another Airflow; idle endpoints are listed with their idle time, not deleted as idle (a run you
cannot see may be about to call its endpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

from sagemaker_mlops.reaper import rules, sweep


def clients(conn_id: str | None, region: str | None) -> tuple[Any, Any, str]:
    """(SageMaker client, CloudWatch client, region) from the Airflow connection, else boto3's default chain."""
    if conn_id:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        hook = AwsBaseHook(aws_conn_id=conn_id, client_type="sagemaker", region_name=region)
        sagemaker = hook.conn
        region = region or hook.conn_region_name
        cloudwatch = AwsBaseHook(aws_conn_id=conn_id, client_type="cloudwatch", region_name=region).conn
        return sagemaker, cloudwatch, region
    import boto3

    session = boto3.Session(region_name=region) if region else boto3.Session()
    if not session.region_name:
        raise SystemExit("region: none set. Fix: pass REGION=<region> (make) / --region, or set AWS_REGION")
    return session.client("sagemaker"), session.client("cloudwatch"), session.region_name


def table(result: dict[str, Any]) -> str:
    """One line per resource: what it is, what it bills per hour, and what the reaper does (or would do) and why."""
    rows = [("KIND", "NAME", "STATUS", "USD/H", "ACTION", "WHY")]
    acting = result["removed"] + result["errors"] + result["would_remove"]
    for entry in acting + result["kept"]:
        cost = "?" if entry["usd_per_hour"] is None else f"{entry['usd_per_hour']:.3f}"
        action = entry["action"] if entry["action"] == "keep" else f"{entry['action']} ({entry['outcome']})"
        rows.append((entry["kind"], entry["name"], entry["status"] or "-", cost, action, entry["reason"]))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)) + "  " + row[5]
        for row in rows
    ]
    mode = "dry run: nothing removed (APPLY=1 removes)" if result["dry_run"] else "applied"
    lines.append(
        f"{result['found']} found in {result['region']}, {result['to_remove']} to remove ({mode}); the "
        f"package bills {result['usd_per_hour']:.3f} USD/h now (prices: core's table, may differ by region)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apply", action="store_true", help="remove what the rules say (default: dry run)")
    parser.add_argument("--conn-id", default=os.environ.get("REAP_CONN_ID") or None, help="Airflow AWS connection")
    parser.add_argument("--region", default=None)
    parser.add_argument("--ttl-hours", default=None, help=f"as Variable {rules.TTL_VARIABLE} (default 24)")
    parser.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    args = parser.parse_args(argv)
    try:
        policy = rules.policy_from(args.ttl_hours, None)
    except ValueError as error:
        raise SystemExit(str(error)) from error
    from botocore.exceptions import NoCredentialsError, NoRegionError

    try:
        sagemaker, cloudwatch, region = clients(args.conn_id, args.region)
        result = sweep.sweep(
            sagemaker,
            cloudwatch,
            now=datetime.now(UTC),
            region=region,
            run_state=lambda dag_id, run_id: None,  # a laptop knows no DAG runs: "unknown here" (see the docstring)
            policy=policy,
            dry_run=not args.apply,
        )
    except NoCredentialsError as error:  # boto3 found none: one line with the fix, not a traceback
        raise SystemExit(
            "reap: no AWS credentials. Fix: configure them (aws configure, AWS_PROFILE=<profile>, or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), or pass CONN=<airflow connection id>; nothing was removed"
        ) from error
    except NoRegionError as error:
        raise SystemExit(
            "reap: no AWS region. Fix: pass REGION=<region> (make) / --region, or set AWS_REGION"
        ) from error
    print(json.dumps(result, indent=2, sort_keys=True) if args.json else table(result))
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
