"""amistate's test kit: test the code that reads amistate, against AWS's real shapes.

* :class:`ImageBuilderStandIn`: EC2 Image Builder over HTTP on 127.0.0.1 (GetImage,
  StartImagePipelineExecution, ListImagePipelineImages, ListWorkflowExecutions),
  its shapes checked against botocore's model;
* event builders (:mod:`amistate.testing.events`): EventBridge, SNS and SQS events
  as AWS delivers them to a Lambda;
* :func:`local_world` / :class:`LocalWorld`: moto's server, the stack's table and the
  presets' parameters, in one line; the pytest fixture ``amistate_world`` with
  ``pytest_plugins = ["amistate.testing.pytest_plugin"]``.

The world needs moto, the ``test`` extra (``demo`` has it too); nothing here is
imported by amistate's Lambdas. See docs/testing.md.
"""

from amistate.testing.events import (
    eventbridge_event,
    image_notification,
    received_sqs_event,
    scheduled_event,
    sns_envelope,
    sns_event,
    sqs_event,
    sqs_record,
)
from amistate.testing.standin import ImageBuilderStandIn
from amistate.testing.world import (
    MISSING_MOTO,
    Build,
    LambdaContext,
    LocalWorld,
    Servers,
    local_world,
    run_build,
)

__all__ = [
    "MISSING_MOTO",
    "Build",
    "ImageBuilderStandIn",
    "LambdaContext",
    "LocalWorld",
    "Servers",
    "eventbridge_event",
    "image_notification",
    "local_world",
    "received_sqs_event",
    "run_build",
    "scheduled_event",
    "sns_envelope",
    "sns_event",
    "sqs_event",
    "sqs_record",
]
