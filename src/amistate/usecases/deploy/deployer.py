"""The deploy-time use case behind the custom resource: one preset's lifecycle.

* **Create** creates the preset's AMI state record (``status=building``,
  ``amiId`` null) unless one exists, registers the preset (config, retired
  keys, and the preset added to its pipeline's presets), and starts a build
  without waiting for it. A preset joining a pipeline that already produced a
  good AMI for another preset starts from that build at once.
* **Update** re-registers the preset (moving it off the previous pipeline),
  and starts a build only when the pipeline changed. A new ``PresetName`` is
  a new preset: a replacement.
* After Create and Update the Config (and the rollout policy) is desired
  state: a candidate the policy now says is due goes live, and every region's
  parameter is converged on it at once (keeping the current AMI; a preset with
  no AMI yet gets no parameter), through the same write-and-confirm loop as
  events, so a missed push heals at the next write anyway.
* **Delete** forgets the pipeline mapping and keeps the AMI state record and
  the SSM parameters (the plain AMI parameter too); it succeeds whatever it is given.
* ``AmiParameter`` (:mod:`amistate.core.ami_parameter`) is checked before anything
  is written: outside the JSON parameters' prefix, and no existing parameter
  amistate must not write over. An Update that renames it, or drops it, leaves
  the old parameter as it is (a launch template may still resolve it): amistate
  deletes no parameter.

It takes only typed values (:mod:`amistate.usecases.deploy.request`) and owns the
trust rule for pipelines (:meth:`amistate.core.settings.Settings.foreign`, the rule
the event path applies to builds). Nothing here imports boto3.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from attrs import field, frozen

from amistate.core.ami_parameter import check_outside
from amistate.core.arns import is_pipeline_arn, owner_of
from amistate.core.builds import find_build
from amistate.core.desired import retire
from amistate.core.settings import Settings
from amistate.core.state import AmiState
from amistate.errors import InvalidConfig, InvalidProperties
from amistate.ports import PipelineStarter, Preset, PresetCatalog, StateStore
from amistate.usecases.ami_parameter import problem
from amistate.usecases.converge import Converger
from amistate.usecases.deploy.properties import (
    AMI_PARAMETER,
    PIPELINE_ARN,
    PRESET_NAME,
    TARGET_ACCOUNTS,
    PresetProperties,
)
from amistate.usecases.deploy.request import PreviousPreset
from amistate.usecases.service import AmiService


@frozen
class Admitted:
    """Properties :meth:`PresetDeployer.admit` has checked (made only there)."""

    props: PresetProperties


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
    converger: Converger
    service: AmiService  # adopt: a sibling's build, applied as an event would be
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def admit(self, props: PresetProperties) -> Admitted:
        """Refuse a pipeline outside our partition, region and account: its
        events would be ignored as foreign and the preset would never be ready.
        Refuse an ``AmiParameter`` among the JSON parameters.

        The :class:`Admitted` it returns lets :meth:`create` and :meth:`update`
        skip the check once made (the custom resource checks first, to log a
        refusal before any write); given bare properties, they check them."""
        if props.ami_parameter is not None:
            try:
                prefix = self.settings.parameter_prefix
                check_outside(props.ami_parameter, prefix, AMI_PARAMETER)
            except InvalidConfig as exc:
                raise InvalidProperties(str(exc)) from None
        owner = owner_of(props.pipeline_arn)
        if owner is not None and self.settings.foreign(*owner) is None:
            self._admit_targets(props)
            return Admitted(props)
        s = self.settings
        ours = ":".join(part for part in (s.partition, s.home_region, s.account) if part)
        raise InvalidProperties(
            f"{PIPELINE_ARN}: {props.pipeline_arn[:200]!r} is not in this function's partition, "
            f"region and account ({ours})"
        )

    def _admitted(self, props: PresetProperties | Admitted) -> PresetProperties:
        return props.props if isinstance(props, Admitted) else self.admit(props).props

    def _admit_ami_parameter(self, props: PresetProperties) -> None:
        """Refuse an ``AmiParameter`` some region holds a parameter amistate must
        not write over (one SSM read a region), before any write."""
        name = props.ami_parameter
        why = problem(self.converger.parameters, name) if name else None
        if why is not None:
            raise InvalidProperties(f"{AMI_PARAMETER}: {why}")

    def _admit_targets(self, props: PresetProperties) -> None:
        """Refuse the build account among the targets: its parameter is written already."""
        home = owner_of(props.pipeline_arn)
        if home is not None and home[2] in props.target_accounts:
            raise InvalidProperties(
                f"{TARGET_ACCOUNTS}: {home[2]} is the build account (its parameter is "
                "written already); list only the runners' other accounts"
            )

    def create(self, props: PresetProperties | Admitted, token: str) -> DeployResult:
        """Register, create the initial state if none exists, start a build."""
        props = self._admitted(props)
        self._admit_ami_parameter(props)
        # The state record first: registering co-locates the config on it, and a
        # record must never exist without its status.
        created = self.states.create_initial(props.preset, self.clock())
        record = self._register(props, previous_pipeline=None, fresh=created)
        self._join(props, record)
        build = self.starter.start(props.pipeline_arn, token) if props.start_build else None
        return _result("created", props, build, created)

    def _register(
        self, props: PresetProperties, previous_pipeline: str | None, fresh: bool = False
    ) -> AmiState | None:
        """Store the Config (and the keys it no longer has), then push it to SSM;
        the record after (one read; a ``fresh`` record has no Config yet: no read before)."""
        record = None if fresh else self.states.get(props.preset)
        retired = retire(
            record.config if record else None,
            props.config,
            record.retired_keys if record else (),
        )
        self.catalog.register(
            Preset(
                props.preset,
                props.pipeline_arn,
                dict(props.config),
                retired,
                props.ami_parameter,
                props.rollout,
                props.target_accounts,
            ),
            previous_pipeline_arn=previous_pipeline,
        )
        current = self.states.get(props.preset)
        if current is not None:
            self.converger.converge(props.preset, current)
        return current

    def _join(self, props: PresetProperties, record: AmiState | None) -> None:
        """Start from the pipeline's newest good build if another preset has one
        (``record``: the preset's, as registering left it)."""
        if record is None or record.ami_id is not None:
            return
        for sibling in self.catalog.presets_for_pipeline(props.pipeline_arn):
            other = self.states.get(sibling) if sibling != props.preset else None
            if other is None or other.pipeline_arn != props.pipeline_arn:
                continue
            build = find_build(other.history.values(), other.ami_build_id or "")
            if build is not None:
                self.service.adopt(props.preset, build)
                return

    def update(
        self, props: PresetProperties | Admitted, old: PreviousPreset, token: str
    ) -> DeployResult:
        """Re-register; a build only if the pipeline changed; a new name is a new preset."""
        props = self._admitted(props)
        if old.preset != props.preset:
            result = self.create(Admitted(props), token)
            return _result("replaced", props, result.build_arn, result.state_created)
        self._admit_ami_parameter(props)
        previous = old.pipeline_arn
        self._register(props, previous_pipeline=previous)
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


__all__ = ["Admitted", "DeployResult", "PresetDeployer"]
