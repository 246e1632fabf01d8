"""The CDK construct's table has the shape the code, the demo and the tests assume."""

from __future__ import annotations

from amistate_adapters.dynamodb import TABLE_SCHEMA

from tests.cdk.synth import Synthesized, resources_of_type


def test_the_construct_creates_the_table_schema(synthesized: Synthesized) -> None:
    (table,) = resources_of_type(synthesized.templates["Example"], "AWS::DynamoDB::Table").values()
    properties = table["Properties"]
    assert {key: properties.get(key) for key in TABLE_SCHEMA} == dict(TABLE_SCHEMA)
