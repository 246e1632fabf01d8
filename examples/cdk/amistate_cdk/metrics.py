"""The metrics contract: what the Lambdas emit (CloudWatch embedded metric format), in one place.

The alarms and the dashboard of this example read these names; the emitter in
``amistate`` writes the same ones (docs/operations.md, "Alarms"). Plain data,
no CDK import, so anything can check itself against it.

* Namespace :data:`NAMESPACE`.
* Every metric has the dimension ``Service=amistate``. Dimension sets are
  bounded: ``[Service]``, ``[Service, Decision]`` (six decisions) and
  ``[Service, Preset]`` (one per preset of the deployment).
"""

from __future__ import annotations

from typing import Final

NAMESPACE: Final = "amistate"
SERVICE_DIMENSION: Final = "Service"
SERVICE: Final = "amistate"
DECISION_DIMENSION: Final = "Decision"
PRESET_DIMENSION: Final = "Preset"

# -- dimension set [Service, Decision] --------------------------------------
#: Count of events by the decision the state function took.
DECISIONS: Final = "Decisions"
#: The values of the ``Decision`` dimension.
DECISION_VALUES: Final = (
    "applied",
    "applied-ami",
    "stale",
    "duplicate",
    "ignored",
    "rejected",
)

# -- dimension set [Service] -------------------------------------------------
#: Count of failed (or cancelled) builds, all presets.
BUILDS_FAILED: Final = "BuildsFailed"
#: Count of SSM ``PutParameter`` calls that changed a preset's parameter.
PARAMETER_WRITES: Final = "ParameterWrites"
#: Count of confirm-after-write rounds needed to converge a parameter.
CONVERGE_ROUNDS: Final = "ConvergeRounds"
#: Count of builds the reconciler found that no event had delivered.
RECONCILE_REPAIRS: Final = "ReconcileRepairs"
#: Count of presets the reconciler moved off a vanished (deregistered,
#: disabled, missing) AMI onto the newest good one that still exists.
RECONCILE_FALLBACKS: Final = "ReconcileFallbacks"
#: Count of errors the functions handled and reported (an event or a preset
#: that could not be processed).
ERRORS: Final = "Errors"
#: Count of events (EventBridge, SNS, SQS) Image Builder contradicted or did
#: not know (``GetImage``): nothing of them was written (``amistate.usecases.verify``).
REJECTED_NOTIFICATIONS: Final = "RejectedNotifications"

#: Count of candidates that went live (a due soak, at an event or a reconcile run).
PROMOTIONS: Final = "Promotions"
#: Presets whose rollout candidate waits (a gauge the reconciler sets).
CANDIDATES_WAITING: Final = "CandidatesWaiting"
#: Builds operators rejected (``amistate reject``), kept in the histories (a gauge).
REJECTED_BUILDS: Final = "RejectedBuilds"

SERVICE_METRICS: Final = (
    BUILDS_FAILED,
    PARAMETER_WRITES,
    CONVERGE_ROUNDS,
    RECONCILE_REPAIRS,
    RECONCILE_FALLBACKS,
    ERRORS,
    REJECTED_NOTIFICATIONS,
    PROMOTIONS,
    CANDIDATES_WAITING,
    REJECTED_BUILDS,
)

# -- dimension set [Service, Preset] -----------------------------------------
#: Age in days (a float, Unit None) of the AMI in the preset's parameter,
#: emitted by the reconciler on every run.
AMI_AGE_DAYS: Final = "AmiAgeDays"
#: 1 per failed build of the preset.
BUILD_FAILED: Final = "BuildFailed"

#: Hours since the waiting candidate's build completed (reconciler, while one waits).
CANDIDATE_AGE_HOURS: Final = "CandidateAgeHours"

PRESET_METRICS: Final = (AMI_AGE_DAYS, BUILD_FAILED, CANDIDATE_AGE_HOURS)


def service_dimensions() -> dict[str, str]:
    """``{"Service": "amistate"}``: the dimensions of every service-wide metric."""
    return {SERVICE_DIMENSION: SERVICE}


def decision_dimensions(decision: str) -> dict[str, str]:
    """The dimensions of :data:`DECISIONS` for one decision."""
    if decision not in DECISION_VALUES:
        raise ValueError(f"unknown decision {decision!r}; expected one of {DECISION_VALUES}")
    return {SERVICE_DIMENSION: SERVICE, DECISION_DIMENSION: decision}


def preset_dimensions(preset: str) -> dict[str, str]:
    """The dimensions of a per-preset metric."""
    return {SERVICE_DIMENSION: SERVICE, PRESET_DIMENSION: preset}


__all__ = [
    "AMI_AGE_DAYS",
    "BUILDS_FAILED",
    "BUILD_FAILED",
    "CANDIDATES_WAITING",
    "CANDIDATE_AGE_HOURS",
    "CONVERGE_ROUNDS",
    "DECISIONS",
    "DECISION_DIMENSION",
    "DECISION_VALUES",
    "ERRORS",
    "NAMESPACE",
    "PARAMETER_WRITES",
    "PRESET_DIMENSION",
    "PRESET_METRICS",
    "PROMOTIONS",
    "RECONCILE_FALLBACKS",
    "RECONCILE_REPAIRS",
    "REJECTED_BUILDS",
    "REJECTED_NOTIFICATIONS",
    "SERVICE",
    "SERVICE_DIMENSION",
    "SERVICE_METRICS",
    "decision_dimensions",
    "preset_dimensions",
    "service_dimensions",
]
