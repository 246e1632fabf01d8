"""Believe a build event only as far as Image Builder confirms it.

Anyone allowed to publish to an SNS topic or send to an SQS queue the state
Lambda reads can write any Image object into a message. So before anything is
written, every claim an event makes is checked against ``GetImage``, Image
Builder's own answer: the build exists, its state, the AMIs it names (the
build's own account's, per region), when it started (``dateCreated``, to the
second, the precision that orders builds) and its pipeline. An event that
contradicts Image Builder, or names a build it does not know, is *rejected*:
nothing is written, and the service says why.

Only what a shape carries is checked (an EventBridge event claims the build and
its state; a notification also claims AMIs, a start and a pipeline); what the
service then uses is Image Builder's answer, never the message's. The reconcile
run's events are built from Image Builder's own listing and are not re-checked.
"""

from __future__ import annotations

from datetime import datetime

from attrs import evolve

from amistate.core.events import BuildEvent
from amistate.ports import ImageFacts


def _second(when: datetime) -> datetime:
    return when.replace(microsecond=0)


def disagreement(event: BuildEvent, facts: ImageFacts) -> str | None:
    """The first claim of ``event`` that ``facts`` (GetImage) contradict, naming the
    Image object's field; None when every claim the event carries is confirmed."""
    if event.status != facts.status:
        return f"state.status: the event says {event.status}, Image Builder {facts.status}"
    if event.created is not None and (
        facts.created is None or _second(event.created) != _second(facts.created)
    ):
        started = facts.created.isoformat() if facts.created else "nothing"
        return f"dateCreated: the event says {event.created.isoformat()}, Image Builder {started}"
    if event.pipeline_arn is not None and event.pipeline_arn != facts.pipeline_arn:
        return (
            f"sourcePipelineArn: the event says {event.pipeline_arn}, "
            f"Image Builder {facts.pipeline_arn}"
        )
    for place, claimed in (event.amis.places if event.amis else {}).items():
        actual = facts.amis.places.get(place)
        if claimed != actual:
            return (
                f"outputResources.amis: the event says {claimed} in {place.region} "
                f"for account {place.account or event.account}, "
                f"Image Builder {actual or 'no AMI there'}"
            )
    return None


def confirmed(event: BuildEvent, facts: ImageFacts) -> BuildEvent:
    """``event`` with Image Builder's facts in place of its own claims (call after
    :func:`disagreement` found none): AMIs, pipeline and start from ``GetImage``."""
    return evolve(
        event,
        amis=facts.amis,
        pipeline_arn=facts.pipeline_arn,
        created=facts.created or event.created,
    )


__all__ = ["confirmed", "disagreement"]
