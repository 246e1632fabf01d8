"""The preset custom resource: ``handler`` (raw, Lambda-backed) and ``on_event`` (CDK Provider).

ResourceProperties (all validated before anything is written, see
:mod:`amistate.usecases.deploy`): ``PresetName``, ``PipelineArn``, ``Config`` (a JSON
object in a string) and ``StartBuild`` (``"true"``, the default, or
``"false"``). PhysicalResourceId: ``amistate:<PresetName>``. ``Data``:
``PresetName``, ``PipelineArn`` and ``BuildArn`` (empty when no build was
started).

``handler`` PUTs its answer to ``ResponseURL`` exactly once, always: a timer
answers FAILED shortly before the deadline, any exception answers FAILED with
its reason, and the PUT is bounded in time and attempts.
``on_event`` returns ``{"PhysicalResourceId": ..., "Data": {...}}`` and raises
on failure, as the CDK Provider framework expects.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from amistate.errors import InvalidProperties, is_permanent
from amistate.shims import logs, runtime
from amistate.shims.response import DEFAULT_POLICY, PutPolicy, Responder
from amistate.usecases.deploy.deployer import DeployResult
from amistate.usecases.deploy.properties import PRESET_NAME
from amistate.usecases.deploy.request import DeployRequest, parse_request, request_kind

#: The deadline timer answers this long before the function would time out
#: (at most; a quarter of the remaining time when that is shorter).
RESERVE_SECONDS = 5.0
#: PUT policy of the raw handler (tests shorten it).
POLICY: PutPolicy = DEFAULT_POLICY


def on_event(event: Any, context: Any) -> dict[str, Any]:
    """CDK Provider framework entry point: the result, or an exception."""
    result = _run(event, context, _Progress(event))
    return {"PhysicalResourceId": result.physical_id, "Data": dict(result.data)}


def handler(event: Any, context: Any) -> None:
    """Raw custom resource entry point: always answers ResponseURL exactly once."""
    request: Mapping[str, Any] = event if isinstance(event, Mapping) else {}
    remaining = _remaining_seconds(context)
    started = time.monotonic()
    reserve = min(RESERVE_SECONDS, remaining / 4)
    end = started + remaining
    responder = Responder(request, POLICY, deadline=end - reserve / 10)
    progress = _Progress(request)
    stream = getattr(context, "log_stream_name", None)

    def on_deadline() -> None:
        sent = responder.send(
            "FAILED",
            progress.failure_id,
            _reason(
                f"amistate did not finish {request.get('RequestType', 'the request')} in time "
                f"(last step: {progress.step})",
                stream,
            ),
        )
        if sent:
            logs.decision(
                logging.ERROR,
                decision="deadline",
                requestType=request.get("RequestType"),
                requestId=request.get("RequestId"),
                logicalResourceId=request.get("LogicalResourceId"),
                step=progress.step,
            )

    timer = threading.Timer(max(0.0, remaining - reserve), on_deadline)
    timer.daemon = True
    timer.start()
    try:
        result = _run(event, context, progress)
        responder.send("SUCCESS", result.physical_id, data=result.data)
    except Exception as exc:
        message = str(exc) if is_permanent(exc) else f"{type(exc).__name__}: {exc}"
        responder.send("FAILED", progress.failure_id, _reason(message, stream))
    finally:
        timer.cancel()
        # If the timer is answering right now, let its PUT finish before the
        # invocation ends (Lambda freezes the process on return).
        timer.join(timeout=max(0.0, end - time.monotonic()))


class _Progress:
    """What the timer or an error must know: the step reached, the ID to answer with."""

    def __init__(self, event: object) -> None:
        request = event if isinstance(event, Mapping) else {}
        self.step = "start"
        existing = request.get("PhysicalResourceId")
        if request.get("RequestType") != "Create" and isinstance(existing, str) and existing:
            # A failed Update or Delete must keep the resource's ID.
            self.failure_id = existing
        else:
            # A Create that fails before writing answers with an ID Delete ignores.
            self.failure_id = f"amistate-failed:{str(request.get('RequestId', 'unknown'))[:64]}"


def _run(event: Any, context: Any, progress: _Progress) -> DeployResult:
    """Type the request, then hand it to the deployer; one log line either way."""
    progress.step = "validate"
    try:
        request = parse_request(event)
    except InvalidProperties as exc:
        if request_kind(event) is not None:
            _log_invalid(exc, event.get("ResourceProperties"), _base(event))
        raise
    base = _base(event)
    if request.kind == "Delete":
        return _delete(request, context, progress, base)
    props = request.properties
    assert props is not None  # Create and Update always carry them
    progress.step = "configure"
    rt = runtime.get(context)
    before = rt.calls.value
    try:
        admitted = rt.deployer.admit(props)  # once: create and update take it as checked
    except InvalidProperties as exc:
        _log_invalid(exc, event.get("ResourceProperties"), base)
        raise
    if request.kind == "Create":
        # From here writes may happen: a failure answers with the real ID, so
        # CloudFormation's Delete after the failed Create cleans the mapping up.
        progress.failure_id = props.physical_id
        progress.step = "create"
        result = rt.deployer.create(admitted, request.client_token)
    else:
        progress.step = "update"
        result = rt.deployer.update(admitted, request.previous, request.client_token)
    _log(result, base, awsCalls=rt.calls.value - before)
    return result


def _delete(
    request: DeployRequest, context: Any, progress: _Progress, base: Mapping[str, Any]
) -> DeployResult:
    physical_id = request.physical_id or progress.failure_id
    if request.existing_preset is None:
        # Nothing amistate created (e.g. the Create failed validation): no AWS needed.
        result = DeployResult(physical_id=physical_id, action="delete-nothing")
        _log(result, base, awsCalls=0)
        return result
    progress.step = "configure"
    rt = runtime.get(context)
    before = rt.calls.value
    progress.step = "unregister"
    result = rt.deployer.delete(request.existing_preset, request.previous, physical_id)
    _log(result, base, awsCalls=rt.calls.value - before)
    return result


def _base(event: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "requestType": event.get("RequestType"),
        "requestId": event.get("RequestId"),
        "logicalResourceId": event.get("LogicalResourceId"),
    }


def _log_invalid(exc: InvalidProperties, props: object, base: Mapping[str, Any]) -> None:
    logs.decision(
        logging.ERROR,
        decision="invalid-properties",
        problem=str(exc),
        presetName=_safe_name(props),
        awsCalls=0,
        **base,
    )


def _log(result: DeployResult, base: Mapping[str, Any], **extra: Any) -> None:
    logs.decision(
        decision=result.action,
        preset=result.preset,
        physicalResourceId=result.physical_id,
        buildArn=result.build_arn,
        stateCreated=result.state_created,
        **base,
        **extra,
    )


def _safe_name(props: object) -> str | None:
    """The PresetName as given, for the log only when it is a short string."""
    name = props.get(PRESET_NAME) if isinstance(props, Mapping) else None
    return name[:128] if isinstance(name, str) else None


def _reason(message: str, stream: object) -> str:
    # The log stream goes first: a Reason too long for the 4 KB response is cut at its end.
    where = f"[log stream {stream}] " if isinstance(stream, str) and stream else ""
    return f"{where}{message}"


def _remaining_seconds(context: Any) -> float:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    try:
        millis = float(getter()) if callable(getter) else 900_000.0
    except (TypeError, ValueError):
        millis = 900_000.0
    return max(0.0, millis / 1000)


__all__ = ["POLICY", "RESERVE_SECONDS", "handler", "on_event"]
