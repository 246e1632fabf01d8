"""The deploy-time use case behind the custom resource: one preset's lifecycle.

* **Create** creates the preset's AMI state record (``status=building``,
  ``amiId`` null) unless one exists, registers the preset (config + pipeline
  -> preset mapping), and starts a build without waiting for it.
* **Update** re-registers the preset (moving the mapping off the previous
  pipeline), never touches the AMI state, and starts a build only when the
  pipeline changed. A new ``PresetName`` is a new preset: a replacement.
* **Delete** forgets the pipeline mapping and keeps the AMI state record and
  the SSM parameter; it succeeds whatever it is given.

It takes only typed values (:mod:`amistate.deploy.request`) and owns the
trust rule for pipelines (:meth:`amistate.settings.Settings.foreign`, the rule
the event path applies to builds). Nothing here imports boto3.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from attrs import field, frozen

from amistate.arns import is_pipeline_arn, owner_of
from amistate.deploy.properties import PIPELINE_ARN, PRESET_NAME, PresetProperties
from amistate.deploy.request import PreviousPreset
from amistate.errors import InvalidProperties
from amistate.ports import PipelineStarter, Preset, PresetCatalog, StateStore
from amistate.settings import Settings


@frozen
class DeployResult:
    """What a Create/Update/Delete did; ``data`` becomes the resource's ``Data``."""

    physical_id: str
    action: str
    preset: str | None = None
    build_arn: str | None = None
    state_created: bool = False
    data: Mapping[str, str] = field(factory=dict)


@frozen
class PresetDeployer:
    """Create, update and delete one preset through the ports."""

    settings: Settings
    catalog: PresetCatalog
    states: StateStore
    starter: PipelineStarter
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def admit(self, props: PresetProperties) -> None:
        """Refuse a pipeline outside our partition, region and account: its
        events would be ignored as foreign and the preset would never be ready."""
        owner = owner_of(props.pipeline_arn)
        if owner is not None and self.settings.foreign(*owner) is None:
            return
        s = self.settings
        ours = ":".join(part for part in (s.partition, s.home_region, s.account) if part)
        raise InvalidProperties(
            f"{PIPELINE_ARN}: {props.pipeline_arn[:200]!r} is not in this function's partition, "
            f"region and account ({ours})"
        )

    def create(self, props: PresetProperties, token: str) -> DeployResult:
        """Register, create the initial state if none exists, start a build."""
        self.admit(props)
        # The state record first: registering co-locates the config on it, and a
        # record must never exist without its status.
        created = self.states.create_initial(props.preset, self.clock())
        self.catalog.register(Preset(props.preset, props.pipeline_arn, dict(props.config)))
        build = self.starter.start(props.pipeline_arn, token) if props.start_build else None
        return _result("created", props, build, created)

    def update(self, props: PresetProperties, old: PreviousPreset, token: str) -> DeployResult:
        """Re-register; a build only if the pipeline changed; a new name is a new preset."""
        if old.preset != props.preset:
            result = self.create(props, token)
            return _result("replaced", props, result.build_arn, result.state_created)
        self.admit(props)
        previous = old.pipeline_arn
        self.catalog.register(
            Preset(props.preset, props.pipeline_arn, dict(props.config)),
            previous_pipeline_arn=previous,
        )
        changed = previous != props.pipeline_arn
        build = (
            self.starter.start(props.pipeline_arn, token) if changed and props.start_build else None
        )
        return _result("updated", props, build, False)

    def delete(self, preset: str | None, props: PreviousPreset, physical_id: str) -> DeployResult:
        """Forget the mapping of ``preset`` (named by the physical ID); keep the state."""
        if preset is None or props.preset != preset:
            # Not a resource we created (a Create that failed validation answers
            # with a placeholder ID), or properties that do not name it: nothing to do.
            return DeployResult(physical_id=physical_id, action="delete-nothing")
        pipeline = props.pipeline_arn
        self.catalog.unregister(
            preset, pipeline if pipeline and is_pipeline_arn(pipeline) else None
        )
        return DeployResult(
            physical_id=physical_id, action="deleted", preset=preset, data={PRESET_NAME: preset}
        )


def _result(action: str, props: PresetProperties, build: str | None, created: bool) -> DeployResult:
    return DeployResult(
        physical_id=props.physical_id,
        action=action,
        preset=props.preset,
        build_arn=build,
        state_created=created,
        data={
            PRESET_NAME: props.preset,
            PIPELINE_ARN: props.pipeline_arn,
            "BuildArn": build or "",
        },
    )


__all__ = ["DeployResult", "PresetDeployer"]
