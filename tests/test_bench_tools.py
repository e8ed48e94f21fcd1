"""The upload benchmark's pure helpers and its loopback S3 sink (the benchmark itself is a script, not a test)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "include" / "dev" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bench = load("bench_upload")
sink = load("s3_sink")


def test_format_table_aligns_columns() -> None:
    text = bench.format_table(["client", "files/s"], [["upload_tree", "151.5"], ["aws s3 cp", "47.3"]])
    assert text.splitlines() == [
        "client       files/s",
        "-----------  -------",
        "upload_tree    151.5",
        "aws s3 cp       47.3",
    ]
    with pytest.raises(ValueError, match="one value per header"):
        bench.format_table(["a", "b"], [["only one"]])


def test_spread_subset_and_ratio() -> None:
    assert bench.spread_subset(list(range(10)), 3) == [0, 3, 6]
    assert bench.spread_subset([1, 2], 0) == [1, 2] and bench.spread_subset([1, 2], 5) == [1, 2]
    assert bench.ratio(300, 100) == "3.0x" and bench.ratio(1, 0) == "-"


def test_sink_lists_in_pages_of_1000_with_a_continuation_token() -> None:
    objects = {f"p/{i:04d}.png": (10, "abc") for i in range(1500)}
    first = ET.fromstring(sink.list_objects_xml("bkt", objects, {"prefix": ["p/"]}))
    keys = [node.text for node in first.iter(f"{NS}Key")]
    assert len(keys) == 1000 and first.find(f"{NS}IsTruncated").text == "true"
    token = first.find(f"{NS}NextContinuationToken").text
    second = ET.fromstring(sink.list_objects_xml("bkt", objects, {"prefix": ["p/"], "continuation-token": [token]}))
    rest = [node.text for node in second.iter(f"{NS}Key")]
    assert len(rest) == 500 and second.find(f"{NS}IsTruncated").text == "false"
    assert sorted(keys + rest) == sorted(objects)


def test_sink_decodes_aws_chunked_bodies() -> None:
    assert (
        sink._decode_aws_chunked(b"5;chunk-signature=x\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n") == b"hello"
    )


def test_the_uploader_against_the_sink_then_a_rerun_sends_nothing(tmp_path: Path, monkeypatch) -> None:
    """The sink answers what upload_tree calls (List, Put) as S3 would: a second run skips every file."""
    from sagemaker_mlops.datasets.upload import s3_client, upload_tree

    for channel in ("train/0", "validation/0", "train_lst", "validation_lst"):
        (tmp_path / channel).mkdir(parents=True)
    for i in range(40):
        (tmp_path / "train" / "0" / f"{i}.png").write_bytes(bytes([i]) * (100 + i))
    (tmp_path / "validation" / "0" / "v.png").write_bytes(b"v" * 50)
    (tmp_path / "train_lst" / "train.lst").write_text("1\t0\t0/0.png\n")
    (tmp_path / "validation_lst" / "validation.lst").write_text("1\t0\t0/v.png\n")
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "include/dev/s3_sink.py"), "--latency-ms", "20"], stdout=subprocess.PIPE, text=True
    )
    try:
        url = proc.stdout.readline().strip()
        monkeypatch.setenv(
            "AIRFLOW_CONN_AWS_DEFAULT",
            json.dumps(
                {
                    "conn_type": "aws",
                    "login": "testing",
                    "password": "testing",
                    "extra": {"region_name": "us-east-1", "endpoint_url": url},
                }
            ),
        )
        client = s3_client("aws_default", max_pool_connections=8)
        first = upload_tree(client, tmp_path, "sink-bucket", "data", max_workers=8)
        assert (first.uploaded, first.skipped) == (43, 0)
        again = upload_tree(client, tmp_path, "sink-bucket", "data", max_workers=8)
        assert (again.uploaded, again.skipped, again.bytes_sent) == (0, 43, 0)
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0  # stops cleanly on SIGTERM


# -- the parse-time benchmark's arithmetic and report (include/dev/bench_parse.py) -----------------------------------
parse_bench = load("bench_parse")


def test_parse_ratios_are_medians_over_the_baseline_median() -> None:
    samples = {parse_bench.BASELINE: [2.0, 1.0, 9.0], "a.py": [2.4, 2.5, 0.1], "b.py": [3.0, 2.6, 2.7]}
    assert parse_bench.ratios(samples) == {parse_bench.BASELINE: 1.0, "a.py": 1.2, "b.py": 1.35}
    assert parse_bench.over_limit({"a.py": 1.25, "b.py": 1.2501, "c.py": 2.0}) == ["b.py", "c.py"]
    with pytest.raises(ValueError, match="positive"):
        parse_bench.ratios({parse_bench.BASELINE: [0.0], "a.py": [1.0]})


def test_parse_report_names_each_file_with_its_ratio_and_verdict() -> None:
    samples = {parse_bench.BASELINE: [1.0, 1.0, 1.0], "fast.py": [1.1, 1.2, 1.0], "slow.py": [1.3, 1.4, 1.3]}
    lines = parse_bench.report(samples).splitlines()
    assert lines[0].split() == ["file", "median", "ms", "min-max", "ms", "ratio", "<=", "1.25x"]
    rows = {line.split("  ")[0].strip(): line.split() for line in lines[2:]}
    assert rows[parse_bench.BASELINE][-1] == "1.00x"
    assert rows["fast.py"][-2:] == ["1.10x", "ok"] and rows["fast.py"][1] == "1100"
    assert rows["slow.py"][-2:] == ["1.30x", "OVER"] and rows["slow.py"][2] == "1300-1400"


def test_parse_bench_check_exits_non_zero_only_when_a_file_is_over(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(ratio: float) -> object:
        return lambda files, **_: {parse_bench.BASELINE: [1.0], "x.py": [ratio]}

    monkeypatch.setattr(parse_bench, "measure", fake(1.3))
    assert parse_bench.main(["--check", "x.py"]) == 1
    assert parse_bench.main(["x.py"]) == 0  # without --check it only reports
    monkeypatch.setattr(parse_bench, "measure", fake(1.2))
    assert parse_bench.main(["--check", "x.py"]) == 0
