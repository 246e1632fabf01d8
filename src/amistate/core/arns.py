"""Image Builder ARNs: the build version ARN that names every build, and pipelines."""

from __future__ import annotations

import functools
import re

from attrs import frozen

from amistate.core.names import REGION_PATTERN

_BUILD_ARN = re.compile(
    rf"arn:(?P<partition>aws[a-z-]*):imagebuilder:(?P<region>{REGION_PATTERN}):"
    r"(?P<account>\d{12}):image/(?P<name>[A-Za-z0-9][A-Za-z0-9_-]{0,127})/"
    r"(?P<major>\d{1,9})\.(?P<minor>\d{1,9})\.(?P<patch>\d{1,9})/(?P<build>\d{1,9})",
    re.ASCII,  # \d is 0-9 only: "3\u0661" is not build 31
)


@frozen(order=False)
class BuildArn:
    """A parsed image build version ARN: ``arn:P:imagebuilder:R:A:image/<name>/<x.y.z>/<n>``."""

    arn: str
    partition: str
    region: str
    account: str
    name: str
    version: tuple[int, int, int, int]  # (x, y, z, n), compared numerically

    @property
    def version_text(self) -> str:
        x, y, z, n = self.version
        return f"{x}.{y}.{z}/{n}"


def parse_build_arn(text: str) -> BuildArn:
    """Parse a build version ARN; raise ValueError saying what is expected.

    The whole text must be the ARN (``fullmatch``): ``.../1.0.0/3xyz``, a trailing
    slash or newline is refused, never read as build ``1.0.0/3``.
    """
    match = _BUILD_ARN.fullmatch(text)
    if match is None:
        raise ValueError(
            "not an Image Builder image build version ARN "
            "(arn:<partition>:imagebuilder:<region>:<account>:image/<name>/<x.y.z>/<n>)"
        )
    partition, region, account, name, x, y, z, n = match.groups()
    return BuildArn(
        arn=text,
        partition=partition,
        region=region,
        account=account,
        name=name,
        version=(int(x), int(y), int(z), int(n)),
    )


@functools.cache
def _pipeline_arn() -> re.Pattern[str]:
    """The pipeline ARN pattern, compiled at first use (the event path never asks)."""
    return re.compile(
        rf"arn:aws[a-z-]*:imagebuilder:{REGION_PATTERN}:\d{{12}}:image-pipeline/[A-Za-z0-9][A-Za-z0-9_-]{{0,127}}",
        re.ASCII,
    )


def is_pipeline_arn(text: str) -> bool:
    """True for ``arn:P:imagebuilder:R:A:image-pipeline/<name>``."""
    return _pipeline_arn().fullmatch(text) is not None


def same_owner(arn: str, build: BuildArn) -> bool:
    """True when ``arn`` is in the build's partition, region and account."""
    parts = arn.split(":")
    return len(parts) > 4 and (parts[1], parts[3], parts[4]) == (
        build.partition,
        build.region,
        build.account,
    )


def short_build(arn: str) -> str:
    """``arn:...:image/spot-runner-linux-x64/1.0.0/3`` -> ``spot-runner-linux-x64/1.0.0/3``."""
    return arn.partition(":image/")[2] or arn


def owner_of(arn: str) -> tuple[str, str, str] | None:
    """(partition, region, account) of any ARN, or None if it is not an ARN."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or not parts[4].isdigit():
        return None
    return parts[1], parts[3], parts[4]
