"""Trigger-form parameter checks: good values pass unchanged; bad ones name the field and say how to fix them."""

from __future__ import annotations

from typing import Any

import pytest

from sagemaker_mlops.core.validation import (
    ParamError,
    collect_errors,
    validate_bucket_name,
    validate_region,
    validate_role_arn,
    validate_s3_prefix,
    validate_s3_uri,
    validate_sha256,
    validate_url,
)

BOOK_ROLE = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole"


def assert_param_error(error: ParamError, field: str, *fragments: str) -> None:
    """The message has the ``<field>: <problem>. Fix: <fix>`` shape and mentions every fragment."""
    message = str(error)
    assert isinstance(error, ValueError)
    assert error.field == field
    assert message.startswith(f"{field}: "), message
    assert ". Fix: " in message and message.split(". Fix: ", 1)[1].strip(), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


class TestParamError:
    def test_message_format(self) -> None:
        error = ParamError("bucket", "is empty.", "enter a bucket name")
        assert str(error) == "bucket: is empty. Fix: enter a bucket name"
        assert (error.field, error.problem, error.fix) == ("bucket", "is empty", "enter a bucket name")
        assert error.errors == (error,)

    def test_combine_single_keeps_message(self) -> None:
        error = ParamError("a", "bad", "fix a")
        assert str(ParamError.combine([error])) == str(error)

    def test_combine_flattens_and_lists_all(self) -> None:
        a, b, c = ParamError("a", "bad", "fix a"), ParamError("b", "bad", "fix b"), ParamError("a", "worse", "fix a2")
        inner = ParamError.combine([a, b])
        outer = ParamError.combine([inner, c])
        assert outer.errors == (a, b, c)
        assert outer.field == "a, b"
        assert str(outer).splitlines() == [
            "3 invalid parameters (a, b):",
            "  - a: bad. Fix: fix a",
            "  - b: bad. Fix: fix b",
            "  - a: worse. Fix: fix a2",
        ]
        with pytest.raises(ValueError):
            ParamError.combine([])

    def test_subclass_combine_keeps_the_class(self) -> None:
        class Sub(ParamError):
            pass

        assert type(Sub.combine([ParamError("x", "bad", "fix")])) is Sub


class TestCollectErrors:
    def test_all_good(self) -> None:
        assert collect_errors([lambda: validate_bucket_name("my-bucket"), lambda: validate_region("us-west-2")]) is None
        assert collect_errors([]) is None

    def test_reports_every_problem_in_order(self) -> None:
        with pytest.raises(ParamError) as caught:
            collect_errors(
                [
                    lambda: validate_role_arn("AmazonSageMaker-ExecutionRole"),
                    lambda: validate_bucket_name("my-bucket"),
                    lambda: validate_bucket_name("Bad_Bucket"),
                    lambda: validate_s3_prefix("/ch06/"),
                    lambda: validate_url("ftp://example.com/a.zip", "batch1_url"),
                ]
            )
        error = caught.value
        assert [e.field for e in error.errors] == ["role_arn", "bucket", "prefix", "batch1_url"]
        lines = str(error).splitlines()
        assert lines[0] == "4 invalid parameters (role_arn, bucket, prefix, batch1_url):"
        assert all(". Fix: " in line for line in lines[1:]) and len(lines) == 5

    def test_single_problem_reads_like_the_single_error(self) -> None:
        with pytest.raises(ParamError) as caught:
            collect_errors([lambda: validate_region("mars-1"), lambda: validate_bucket_name("my-bucket")])
        assert_param_error(caught.value, "region", "'mars-1'")

    def test_other_exceptions_propagate(self) -> None:
        def boom() -> None:
            raise RuntimeError("not a parameter problem")

        with pytest.raises(RuntimeError):
            collect_errors([boom])


class TestRoleArn:
    @pytest.mark.parametrize(
        "value",
        [
            BOOK_ROLE,
            "arn:aws:iam::123456789012:role/MyRole",
            "arn:aws:iam::123456789012:role/a/b/c/My_Role+=,.@-1",
            "arn:aws-cn:iam::123456789012:role/MyRole",
            "arn:aws-us-gov:iam::123456789012:role/MyRole",
            "arn:aws:iam::123456789012:role/" + "r" * 64,
        ],
    )
    def test_good(self, value: str) -> None:
        assert validate_role_arn(value) == value

    @pytest.mark.parametrize(
        ("value", "fragment"),
        [
            ("", "is empty"),
            (None, "is empty"),
            (123, "must be a string"),
            ("AmazonSageMaker-ExecutionRole", "looks like a role name"),
            ("arn:aws:iam::123456789012:user/alice", "IAM user ARN"),
            ("arn:aws:iam::123456789012:instance-profile/p", "IAM instance-profile ARN"),
            ("arn:aws:sts::123456789012:assumed-role/MyRole/session", "assumed-role"),
            ("arn:aws:iam::12345678901:role/MyRole", "not an IAM role ARN"),
            ("arn:aws:iam:us-west-2:123456789012:role/MyRole", "not an IAM role ARN"),
            ("arn:aws-xx:iam::123456789012:role/MyRole", "not an IAM role ARN"),
            ("arn:aws:iam::123456789012:role/", "not an IAM role ARN"),
            ("arn:aws:iam::123456789012:role/has space", "not an IAM role ARN"),
            ("arn:aws:iam::123456789012:role/" + "r" * 65, "not an IAM role ARN"),
            (f" {BOOK_ROLE}", "whitespace"),
        ],
    )
    def test_bad(self, value: Any, fragment: str) -> None:
        with pytest.raises(ParamError) as caught:
            validate_role_arn(value)
        assert_param_error(caught.value, "role_arn", fragment, "arn:aws:iam::123456789012:role/")

    def test_custom_field_name(self) -> None:
        with pytest.raises(ParamError) as caught:
            validate_role_arn("nope nope", field="sagemaker_role_arn")
        assert_param_error(caught.value, "sagemaker_role_arn")


class TestBucketName:
    @pytest.mark.parametrize(
        "value", ["my-bucket", "my-bucket-2", "abc", "a" * 63, "my.bucket.name", "1bucket9", "xn-bucket", "s3alias-x"]
    )
    def test_good(self, value: str) -> None:
        assert validate_bucket_name(value) == value

    @pytest.mark.parametrize(
        ("value", "fragment"),
        [
            ("", "is empty"),
            ("ab", "3 to 63"),
            ("a" * 64, "3 to 63"),
            ("My-Bucket", "uppercase"),
            ("my_bucket", "characters other than"),
            ("my bucket", "characters other than"),
            ("-bucket", "start and end"),
            ("bucket-", "start and end"),
            (".bucket", "start and end"),
            ("my..bucket", "two adjacent dots"),
            ("192.168.5.4", "IP address"),
            ("xn--bucket", "reserved prefix"),
            ("sthree-bucket", "reserved prefix"),
            ("amzn-s3-demo-bucket", "reserved prefix"),
            ("bucket-s3alias", "reserved suffix"),
            ("bucket--ol-s3", "reserved suffix"),
            ("bucket.mrap", "reserved suffix"),
            ("bucket--x-s3", "reserved suffix"),
            ("s3://my-bucket", "URI or path"),
            ("my-bucket/ch06", "URI or path"),
            (["my-bucket"], "must be a string"),
        ],
    )
    def test_bad(self, value: Any, fragment: str) -> None:
        with pytest.raises(ParamError) as caught:
            validate_bucket_name(value)
        assert_param_error(caught.value, "bucket", fragment)


class TestS3Prefix:
    @pytest.mark.parametrize("value", ["ch06", "team/ch06", "a.b_c-d/e", "2026/11/24", "x" * 512])
    def test_good(self, value: str) -> None:
        assert validate_s3_prefix(value) == value

    @pytest.mark.parametrize(
        ("value", "fragment", "fix"),
        [
            ("", "is empty", "ch06"),
            ("/ch06", "starts with '/'", "remove the leading slash"),
            ("ch06/", "ends with '/'", "remove the trailing slash"),
            ("a//b", "empty part", "single slashes"),
            ("a/../b", "'..' part", "remove"),
            ("./a", "'.' part", "remove"),
            ("..", "'..' part", "remove"),
            ("a b", "characters outside", "letters, digits"),
            ("ch06?x=1", "characters outside", "letters, digits"),
            ("s3://my-bucket/ch06", "is an S3 URI", "bucket is a separate field"),
            ("x" * 513, "characters long", "shorter"),
            ("ch06\n", "whitespace", "remove"),
        ],
    )
    def test_bad(self, value: str, fragment: str, fix: str) -> None:
        with pytest.raises(ParamError) as caught:
            validate_s3_prefix(value)
        assert_param_error(caught.value, "prefix", fragment, fix)


class TestS3Uri:
    @pytest.mark.parametrize(
        "value",
        [
            "s3://my-bucket/ch06/output/book-part01-job/output/model.tar.gz",
            "s3://my-bucket/ABCDEFGHIJKL/checkpoints",
            "s3://my-bucket/ABCDEFGHIJKL/checkpoints/",
        ],
    )
    def test_good(self, value: str) -> None:
        assert validate_s3_uri(value, "model_uri") == value

    def test_bucket_only_when_allowed(self) -> None:
        assert validate_s3_uri("s3://my-bucket", "checkpoint_s3_uri", require_key=False) == "s3://my-bucket"

    @pytest.mark.parametrize(
        ("value", "fragment"),
        [
            ("my-bucket/model.tar.gz", "not an s3:// URI"),
            ("https://my-bucket.s3.amazonaws.com/model.tar.gz", "not an s3:// URI"),
            ("S3://my-bucket/model.tar.gz", "not an s3:// URI"),
            ("s3://My_Bucket/model.tar.gz", "bucket part"),
            ("s3:///model.tar.gz", "bucket part"),
            ("s3://my-bucket", "no key"),
            ("s3://my-bucket/", "no key"),
            ("s3://my-bucket//model.tar.gz", "empty path part"),
            ("s3://my-bucket/a b", "whitespace"),
            ("s3://my-bucket/" + "k" * 1020, "1024"),
        ],
    )
    def test_bad(self, value: str, fragment: str) -> None:
        with pytest.raises(ParamError) as caught:
            validate_s3_uri(value, "model_uri")
        assert_param_error(caught.value, "model_uri", fragment, "s3://")


class TestRegion:
    @pytest.mark.parametrize(
        "value",
        [
            "us-west-2",
            "eu-central-1",
            "ap-southeast-4",
            "cn-north-1",
            "us-gov-west-1",
            "us-isob-east-1",
            "il-central-1",
        ],
    )
    def test_good(self, value: str) -> None:
        assert validate_region(value) == value

    @pytest.mark.parametrize(
        "value", ["", "US-WEST-2", "us-west", "uswest2", "us_west_2", "us-west-2a", "mars-1", "global"]
    )
    def test_bad(self, value: str) -> None:
        with pytest.raises(ParamError) as caught:
            validate_region(value)
        assert_param_error(caught.value, "region", "us-west-2")

    def test_known_regions(self) -> None:
        assert validate_region("us-west-2", known={"us-west-2", "eu-west-1"}) == "us-west-2"
        with pytest.raises(ParamError) as caught:
            validate_region("ap-east-2", "aws_region", known=["us-west-2", "eu-west-1"])
        assert_param_error(caught.value, "aws_region", "not supported", "eu-west-1, us-west-2")


class TestSha256:
    def test_empty_means_no_check(self) -> None:
        assert validate_sha256(None) is None
        assert validate_sha256("") is None

    def test_good_is_normalised(self) -> None:
        digest = "ab" * 32
        assert validate_sha256(digest) == digest
        assert validate_sha256(digest.upper()) == digest
        assert validate_sha256("sha256:" + digest) == digest

    @pytest.mark.parametrize("value", ["abc", "g" * 64, "a" * 63, "a" * 65, "md5:" + "a" * 32, " " + "a" * 64, 42])
    def test_bad(self, value: Any) -> None:
        with pytest.raises(ParamError) as caught:
            validate_sha256(value, "batch1_sha256")
        assert_param_error(caught.value, "batch1_sha256")
        if isinstance(value, str) and not value.startswith(" "):
            assert "sha256sum" in str(caught.value) and "leave it empty" in str(caught.value)


class TestUrl:
    @pytest.mark.parametrize(
        "value",
        [
            "https://bit.ly/37zmQeb",
            "https://raw.githubusercontent.com/PacktPublishing/Machine-Learning-Engineering-on-AWS/main/ch/b.zip",
            "http://localhost:8080/batch1.zip",
            "HTTPS://example.com/a?b=c#d",
            "http://[::1]:5000/x",
        ],
    )
    def test_good(self, value: str) -> None:
        assert validate_url(value) == value

    @pytest.mark.parametrize(
        ("value", "fragment"),
        [
            ("", "is empty"),
            ("ftp://example.com/a.zip", "'ftp'"),
            ("file:///etc/passwd", "'file'"),
            ("s3://bucket/key", "'s3'"),
            ("example.com/a.zip", "no scheme"),
            ("https://", "no host"),
            ("https:///path", "no host"),
            ("https://user:secret@example.com/a.zip", "credentials"),
            ("https://example.com/a b.zip", "whitespace"),
            ("https://example.com:99999/a.zip", "not a valid URL"),
            ("javascript:alert(1)", "'javascript'"),
        ],
    )
    def test_bad(self, value: str, fragment: str) -> None:
        with pytest.raises(ParamError) as caught:
            validate_url(value, "batch1_url")
        assert_param_error(caught.value, "batch1_url", fragment)
        assert "secret" not in str(caught.value)  # credentials are never echoed into logs
