"""Cold child, by hand: a fresh interpreter imports boto3, creates the same three
clients as amistate and makes the same six calls for the same kind of event
(GetImage, the pipeline mapping GetItem, the conditional UpdateItem returning
the record, GetParameter, PutParameter, the confirming GetItem), with nothing
else: no parsing library, no ordering rules, no logging.

Run as ``python bench/cold_boto3.py '<event JSON>'`` by bench/cold.py.
"""

import time

T0 = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import boto3  # noqa: E402

T1 = time.perf_counter()

event = json.loads(sys.argv[1])
table = os.environ["AMISTATE_TABLE"]
region = os.environ["AWS_REGION"]
dynamodb = boto3.client("dynamodb")
imagebuilder = boto3.client("imagebuilder")
ssm = boto3.client("ssm")

build = event["resources"][0]
when = event["time"]
image = imagebuilder.get_image(imageBuildVersionArn=build)["image"]
ami = next(a["image"] for a in image["outputResources"]["amis"] if a["region"] == region)
mapping = dynamodb.get_item(
    TableName=table,
    Key={"PK": {"S": "PIPELINE#" + image["sourcePipelineArn"]}, "SK": {"S": "PRESET"}},
    ConsistentRead=True,
)
preset = min(mapping["Item"]["presets"]["SS"])  # the pipeline's presets (one here)
key = {"PK": {"S": "AMI#" + preset}, "SK": {"S": "LATEST"}}
order = when + "#" + build.rsplit("/", 1)[1].zfill(9) + "#2"
record = dynamodb.update_item(
    TableName=table,
    Key=key,
    UpdateExpression="SET #s = :s, #u = :u, #b = :b, #o = :o, #a = :a, #m = :m, #k = :o",
    ConditionExpression="attribute_not_exists(#o) OR #o < :o",
    ExpressionAttributeNames={
        "#s": "status",
        "#u": "updatedAt",
        "#b": "buildId",
        "#o": "orderKey",
        "#a": "amiId",
        "#m": "amis",
        "#k": "amiKey",
    },
    ExpressionAttributeValues={
        ":s": {"S": "ready"},
        ":u": {"S": when},
        ":b": {"S": build},
        ":o": {"S": order},
        ":a": {"S": ami},
        ":m": {"M": {region: {"S": ami}}},
    },
    ReturnValues="ALL_NEW",
)["Attributes"]
name = "/spot-runner/configs/" + preset
value = json.loads(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
value["amiId"] = ami
ssm.put_parameter(Name=name, Value=json.dumps(value), Type="String", Overwrite=True)
dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)
T2 = time.perf_counter()
print(json.dumps({"import": T1 - T0, "handle": T2 - T1, "total": T2 - T0}))
