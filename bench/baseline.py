"""The hand-written baseline: the textbook boto3 handler a user would write instead.

GetImage for the AMIs and the pipeline (EventBridge events carry neither);
the pipeline -> preset mapping from static configuration; GetItem the record
and compare times in Python; PutItem; then GetParameter and PutParameter to
set ``amiId``. Five calls for an EventBridge success, four for SNS.

What it does not do, and amistate does (this is what the extra calls buy):

* the compare and the write are two calls, so two concurrent executions can
  both pass the check and the older one can win (a lost update);
* the SSM write is not ordered: an older execution's PutParameter can land
  after a newer one's, and nothing ever repairs it;
* a redelivered event stops at the compare, so an execution that died between
  PutItem and PutParameter leaves SSM behind for good;
* a failure after a success and a late older success overwrite each other
  by time only, with no separate AMI register (a failure keeps the AMI here
  only because the code copies it over, racily);
* presets are fixed in the function's configuration: a new preset is a redeploy;
* an SNS message is believed as it is: whoever can publish to the topic sets
  the AMI (amistate checks it with GetImage, one more call).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

TERMINAL = {"AVAILABLE": "ready", "FAILED": "failed", "CANCELLED": "failed"}


def _utc(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()


class Baseline:
    """The textbook handler over three boto3 clients."""

    def __init__(
        self,
        table: str,
        presets: Mapping[str, str],
        region: str,
        *,
        dynamodb: Any,
        ssm: Any,
        imagebuilder: Any,
        prefix: str = "/baseline/configs",
    ) -> None:
        self.table = table
        self.presets = dict(presets)  # pipeline ARN -> preset, from configuration
        self.region = region
        self.prefix = prefix
        self.dynamodb = dynamodb
        self.ssm = ssm
        self.imagebuilder = imagebuilder

    def handle(self, event: Mapping[str, Any]) -> str:
        """Handle one EventBridge or SNS event; return what it did."""
        amis: dict[str, str] | None = None
        pipeline: str | None = None
        if "detail-type" in event:
            build = event["resources"][0]
            status = event["detail"]["state"]["status"]
            when = _utc(event["time"])
        else:
            sns = event["Records"][0]["Sns"]
            image = json.loads(sns["Message"])
            build, status, when = image["arn"], image["state"]["status"], _utc(sns["Timestamp"])
            pipeline = image.get("sourcePipelineArn")
            amis = {a["region"]: a["image"] for a in image.get("outputResources", {})["amis"]}
        if status not in TERMINAL:
            return "ignored"
        if pipeline is None:
            image = self.imagebuilder.get_image(imageBuildVersionArn=build)["image"]
            pipeline = image["sourcePipelineArn"]
            amis = {a["region"]: a["image"] for a in image["outputResources"]["amis"]}
        preset = self.presets.get(pipeline)
        if preset is None:
            return "ignored"

        key = {"PK": {"S": f"BASELINE#{preset}"}, "SK": {"S": "LATEST"}}
        item = self.dynamodb.get_item(TableName=self.table, Key=key).get("Item")
        if item is not None and item["updatedAt"]["S"] >= when:
            return "stale"
        ami = (amis or {}).get(self.region) if status == "AVAILABLE" else None
        if ami is None and item is not None and "amiId" in item:
            ami = item["amiId"]["S"]
        record: dict[str, Any] = {
            **key,
            "status": {"S": TERMINAL[status]},
            "updatedAt": {"S": when},
            "buildId": {"S": build},
        }
        if ami is not None:
            record["amiId"] = {"S": ami}
        self.dynamodb.put_item(TableName=self.table, Item=record)
        if status != "AVAILABLE" or ami is None:
            return "applied"

        name = f"{self.prefix}/{preset}"
        try:
            value = json.loads(self.ssm.get_parameter(Name=name)["Parameter"]["Value"])
        except self.ssm.exceptions.ParameterNotFound:
            value = {}
        value["amiId"] = ami
        self.ssm.put_parameter(Name=name, Value=json.dumps(value), Type="String", Overwrite=True)
        return "applied"


def baseline_parameter(prefix: str, preset: str) -> str:
    return f"{prefix}/{preset}"
