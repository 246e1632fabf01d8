"""The state table: an existing one by name (the spot-runner table), or a new one."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from .settings import AmiStateSettings


def state_table(scope: Construct, settings: AmiStateSettings) -> dynamodb.ITable:
    """``settings.table_name`` when set; otherwise a new table, retained and recoverable."""
    if settings.table_name is not None:
        return dynamodb.Table.from_table_name(scope, "Table", settings.table_name)
    return dynamodb.Table(
        scope,
        "Table",
        partition_key=dynamodb.Attribute(name="PK", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="SK", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        deletion_protection=True,
        removal_policy=RemovalPolicy.RETAIN,
    )


__all__ = ["state_table"]
