"""Who may write to what the state function reads; and Image Builder's SNS notifications (opt-in).

The state function reads one SQS queue (``StateEvents``): the EventBridge rule
sends it every terminal image state. :func:`only_senders` denies
``sqs:SendMessage`` on that queue to everyone but the rule and, with the
``notifications`` setting, the notification topic (``aws:SourceArn``).

With ``notifications``, every preset's infrastructure configuration names one
SNS topic (:class:`AmiStateNotifications`). Image Builder publishes each
build's AVAILABLE or FAILED notification there (the whole Image object), and
the topic delivers it to the same queue: each build then arrives by both paths,
and the second is a ``duplicate``. The topic's policy denies ``sns:Publish`` to
everyone but Image Builder, which publishes an infrastructure configuration's
notifications with its service-linked role ``AWSServiceRoleForImageBuilder``
(AWS docs, "Amazon SNS integration in Image Builder": its KMS key policy
example names that role), or as the ``imagebuilder.amazonaws.com`` service.

Both are explicit ``Deny`` statements, which no identity policy of the account
can override. The function believes no message anyway: it checks each one
against Image Builder's ``GetImage`` (``amistate.usecases.verify``). The policies keep
forged messages out; the check makes sure one that got in changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

#: The role Image Builder publishes notifications with (its service-linked role).
IMAGE_BUILDER_ROLE = "aws-service-role/imagebuilder.amazonaws.com/AWSServiceRoleForImageBuilder"
IMAGE_BUILDER_SERVICE = "imagebuilder.amazonaws.com"


def only_senders(queue: sqs.IQueue, sources: Sequence[str]) -> None:
    """Deny ``sqs:SendMessage`` on ``queue`` unless a service sends for one of ``sources``."""
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            sid="OnlyItsSourcesSend",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnNotEquals": {"aws:SourceArn": list(sources)}},
        )
    )


class AmiStateNotifications(Construct):
    """Image Builder's notification topic (``topic``), delivering to ``queue``."""

    def __init__(self, scope: Construct, construct_id: str, *, queue: sqs.IQueue) -> None:
        super().__init__(scope, construct_id)
        publisher = Stack.of(self).format_arn(
            service="iam", region="", resource="role", resource_name=IMAGE_BUILDER_ROLE
        )
        self.topic = sns.Topic(
            self, "Topic", display_name="amistate: Image Builder notifications", enforce_ssl=True
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyImageBuilderPublishes",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnNotEquals": {"aws:PrincipalArn": publisher},
                    "StringNotEquals": {"aws:PrincipalServiceName": IMAGE_BUILDER_SERVICE},
                },
            )
        )
        self.topic.add_subscription(subscriptions.SqsSubscription(queue))


__all__ = [
    "IMAGE_BUILDER_ROLE",
    "IMAGE_BUILDER_SERVICE",
    "AmiStateNotifications",
    "only_senders",
]
