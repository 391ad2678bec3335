"""The runbook's Stage 4 decision table, as data.

The engine turns evidence into named boolean *conditions* (see :data:`CONDITIONS`); this table says
which failure class each condition points to, how severe it is, and which wins when several hold.
The lowest ``precedence`` among the rows that hold and may be primary is the verdict; every other
row that holds becomes a secondary finding.

Why this precedence (runbook Stage 4 and "What Not to Do First"):

1. An expired certificate at the incident comes first: it *causes* the offline/SSL/setContext
   symptoms of row 2, so naming registration would send the admin to re-register instead of renew.
2. Registration/trust (provider offline, syncError, disconnected, SSL failures, or repeated
   setContext/transport failures with no VASA pressure) beats saturation: a provider that is not
   talking explains timeouts and retries that look like busy, while the reverse is not true. It
   only wins on that evidence; transport timeouts *during* pressure are the KB 412434 storm and stay
   with saturation.
3. A missing or inaccessible Protocol Endpoint beats saturation: bind retries are what a missing PE
   looks like from vvold, and no amount of throttling presents a PE.
4. Saturation needs pressure (repeated no-free-connection waits or busy faults in one window, the
   ceiling held, or slow swap-vVol creates) *and* impact (failed migrations, failed VASA ops, or a
   migration storm). One stray PROVIDER_BUSY that succeeded on retry is neither.
5. Failures with host evidence that shows none of the above: not the control plane. That rests
   on absence, so the host's vvold.log must cover the failure window (``coverage_margin_seconds``
   before it); a failure whose own error names a cause outside VASA (FileTooLarge,
   InsufficientResourcesFault, switchover time, ...) needs no vvold to say so. A certificate
   that is fine at the incident but expired or within a month of expiry today does not explain
   the failures, so it is secondary here...
6. ...but it outranks "healthy": with nothing else wrong, a certificate past vCenter's red
   (1 month, KB 323232) limit is the thing to act on ("do not ignore certificate warnings because
   the datastore is still online"). The 6-month soft limit stays a low secondary finding. So do
   setContext, transport and SSL failures too few to be row 2 (one or two, as KB 412434 quotes):
   they are registration/trust evidence and never "healthy", unless they came inside a VASA
   pressure storm (then the saturation finding names them as KB 412434's setContext storm).
7. Host evidence, no failures and nothing above: healthy. Pressure that has caused no failure and
   no storm is not saturation; it is reported as a low-severity secondary finding (the provider is
   near its limit), so "healthy" never hides it.
8. Otherwise: insufficient evidence, with the artifacts that would settle it (including, when a
   vvold.log was given but does not cover the failures, the host, the uncovered window and the
   files that would cover it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vvolguard.analysis.model import FailureClass, Severity


class Condition(StrEnum):
    """The named conditions the engine evaluates, one per decision-table row (values are the
    names the runbook rows are known by in tests and documentation)."""

    CERTIFICATE_EXPIRED_AT_INCIDENT = "certificate_expired_at_incident"
    PROVIDER_OFFLINE_OR_UNTRUSTED = "provider_offline_or_untrusted"
    PE_NOT_PRESENTED = "pe_not_presented"
    PROVIDER_SATURATED = "provider_saturated"
    FAILURES_WITHOUT_CONTROL_PLANE_SIGNAL = "failures_without_control_plane_signal"
    EVIDENCE_WITHOUT_FAILURES = "evidence_without_failures"
    NOTHING_TO_JUDGE = "nothing_to_judge"
    CERTIFICATE_EXPIRED_NOW = "certificate_expired_now"
    PROVIDER_CONNECTION_FAILURES = "provider_connection_failures"
    CERTIFICATE_HARD_LIMIT = "certificate_hard_limit"
    CERTIFICATE_SOFT_LIMIT = "certificate_soft_limit"
    CERTIFICATE_NAME_MISMATCH = "certificate_name_mismatch"
    PE_NOT_PRESENTED_ELSEWHERE = "pe_not_presented_elsewhere"
    PRESSURE_WITHOUT_IMPACT = "pressure_without_impact"
    MIGRATION_STORM = "migration_storm"


@dataclass(frozen=True)
class Rule:
    condition: Condition
    cls: FailureClass
    severity: Severity
    precedence: int
    primary: bool  # may this row be the verdict, or is it only ever a secondary finding?
    runbook: str  # the runbook row it implements


DECISION_TABLE: tuple[Rule, ...] = (
    Rule(
        Condition.CERTIFICATE_EXPIRED_AT_INCIDENT,
        FailureClass.CERTIFICATE_LIFECYCLE,
        Severity.CRITICAL,
        10,
        True,
        "VASA certificate expired or near expiry -> certificate lifecycle issue",
    ),
    Rule(
        Condition.PROVIDER_OFFLINE_OR_UNTRUSTED,
        FailureClass.PROVIDER_REGISTRATION,
        Severity.HIGH,
        20,
        True,
        "VASA provider offline or syncError -> provider registration, trust, certificate or service issue",
    ),
    Rule(
        Condition.PE_NOT_PRESENTED,
        FailureClass.PE_PRESENTATION,
        Severity.HIGH,
        30,
        True,
        "VASA provider online, PE inaccessible or not configured -> storage presentation / host mapping",
    ),
    Rule(
        Condition.PROVIDER_SATURATED,
        FailureClass.PROVIDER_SATURATION,
        Severity.HIGH,
        40,
        True,
        "VASA provider online, PE accessible, No free connections in vvold.log -> provider saturation",
    ),
    Rule(
        Condition.FAILURES_WITHOUT_CONTROL_PLANE_SIGNAL,
        FailureClass.NOT_CONTROL_PLANE,
        Severity.MEDIUM,
        50,
        True,
        "Provider and PE healthy, no VASA pressure -> look elsewhere",
    ),
    Rule(
        Condition.EVIDENCE_WITHOUT_FAILURES,
        FailureClass.HEALTHY,
        Severity.INFO,
        60,
        True,
        "Provider and PE healthy, no saturation, migrations succeed -> nothing to fix",
    ),
    Rule(
        Condition.NOTHING_TO_JUDGE,
        FailureClass.INSUFFICIENT_EVIDENCE,
        Severity.INFO,
        100,
        True,
        "Not enough host-side evidence to place the failure in a layer",
    ),
    # Secondary-only rows: worth saying, never the explanation of the incident by themselves.
    Rule(
        Condition.CERTIFICATE_EXPIRED_NOW,
        FailureClass.CERTIFICATE_LIFECYCLE,
        Severity.HIGH,
        55,
        True,
        "VASA certificate expired (after the incident) -> renew before the next operation",
    ),
    Rule(
        Condition.PROVIDER_CONNECTION_FAILURES,
        FailureClass.PROVIDER_REGISTRATION,
        Severity.MEDIUM,
        56,
        True,
        "setContext, transport or SSL failures outside a VASA pressure storm (KB 412434) -> provider "
        "registration, trust or availability; never healthy",
    ),
    Rule(
        Condition.CERTIFICATE_HARD_LIMIT,
        FailureClass.CERTIFICATE_LIFECYCLE,
        Severity.MEDIUM,
        57,
        True,
        "VASA certificate near expiry (KB 323232 hard limit, 1 month)",
    ),
    Rule(
        Condition.CERTIFICATE_SOFT_LIMIT,
        FailureClass.CERTIFICATE_LIFECYCLE,
        Severity.LOW,
        130,
        False,
        "VASA certificate near expiry (KB 323232 soft limit, 6 months)",
    ),
    Rule(
        Condition.CERTIFICATE_NAME_MISMATCH,
        FailureClass.PROVIDER_REGISTRATION,
        Severity.MEDIUM,
        140,
        False,
        "Provider URL or FQDN mismatch with its certificate -> hostname verification will fail",
    ),
    Rule(
        Condition.PE_NOT_PRESENTED_ELSEWHERE,
        FailureClass.PE_PRESENTATION,
        Severity.MEDIUM,
        145,
        False,
        "PE inaccessible, not configured or missing on a host the failed migrations did not use",
    ),
    Rule(
        Condition.PRESSURE_WITHOUT_IMPACT,
        FailureClass.PROVIDER_SATURATION,
        Severity.LOW,
        150,
        False,
        "VASA pressure in vvold.log but no failed migration on that host, failed VASA op or storm "
        "-> near the provider's limit",
    ),
    Rule(
        Condition.MIGRATION_STORM,
        FailureClass.PROVIDER_SATURATION,
        Severity.LOW,
        160,
        False,
        "Migration concurrency per source host -> batch migrations and avoid uncontrolled drains",
    ),
)

#: Every condition name the engine must evaluate (one per table row).
CONDITIONS: tuple[Condition, ...] = tuple(rule.condition for rule in DECISION_TABLE)


def decide(conditions: dict[Condition, bool]) -> tuple[Rule, list[Rule]]:
    """(verdict rule, secondary rules) for the conditions that hold.

    Unknown condition names are an engine bug, so they raise instead of being ignored. When a
    class appears in several holding rows only its best row is kept, so one class yields one
    finding.
    """
    unknown = set(conditions) - set(CONDITIONS)
    if unknown:
        raise KeyError(f"conditions not in the decision table: {sorted(unknown)}")
    holding = sorted((r for r in DECISION_TABLE if conditions.get(r.condition)), key=lambda r: r.precedence)
    primary = next((r for r in holding if r.primary), None)
    if primary is None:
        primary = next(r for r in DECISION_TABLE if r.condition is Condition.NOTHING_TO_JUDGE)
    secondary: list[Rule] = []
    seen = {primary.cls}
    for rule in holding:
        if rule is primary or rule.cls in seen:
            continue
        if rule.cls in (FailureClass.HEALTHY, FailureClass.INSUFFICIENT_EVIDENCE):
            continue
        seen.add(rule.cls)
        secondary.append(rule)
    return primary, secondary
