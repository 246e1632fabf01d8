"""cdk-nag acknowledgments: each written next to the construct it concerns, with its reason.

cdk-nag v3 reads CDK's ``Validations.of(scope).acknowledge(...)``;
``tests/cdk/test_nag_acknowledgments.py`` replaces :func:`acknowledge` to prove
each one matches a finding.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge the cdk-nag finding ``rule`` on ``scope``, saying why it is right."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def acknowledge_wildcard(role: IConstruct, resource: str, reason: str) -> None:
    """Acknowledge cdk-nag's IAM5 finding for one wildcard resource of ``role``."""
    acknowledge(role, f"AwsSolutions-IAM5[Resource::{nag_text(role, resource)}]", reason)


def nag_text(scope: IConstruct, value: str) -> str:
    """``value`` (an ARN, possibly with tokens) as cdk-nag prints it in a finding ID."""
    return render_intrinsic(Stack.of(scope).resolve(value))


def render_intrinsic(value: Any) -> str:
    """A resolved template value as plain text: ``<Logical>`` for a Ref,
    ``<Logical.Attr>`` for a GetAtt, a Join joined (how cdk-nag names resources)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Fn::Join":
            return str(arg[0]).join(render_intrinsic(part) for part in arg[1])
    raise ValueError(f"cannot render {value!r} as cdk-nag does")


__all__ = ["acknowledge", "acknowledge_wildcard", "nag_text", "render_intrinsic"]
