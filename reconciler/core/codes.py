"""Stable codes for every reason a server holds, waits, acts, moves or stalls.

Scripts, dashboards, notifications and tests match on the code; people read the sentence rendered from the code and
its facts (:mod:`reconciler.core.sentences`). A code is never renamed or reused: add a new one. The table
of codes in ``docs/procedure.md`` is generated from :data:`CODES` (``sepm-reconciler diagram --table codes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

__all__ = ["CODES", "STALL_CODES_BEFORE_SCHEMA_2", "Code", "CodeInfo", "Kind"]


class Kind(StrEnum):
    """What a server does while its current reason has this code."""

    STEADY = "steady"  # nothing to do
    HOLD = "hold"  # nothing moves until what the code names changes (or a person acts)
    WAIT = "wait"  # waiting for clients, time, or the effect of an action
    ACT = "act"  # an action runs now, or an operator is asked to do it
    MOVE = "move"  # the phase changed
    STALL = "stall"  # a person must act, then resume
    EVENT = "event"  # recorded in the event log only


class Code(StrEnum):
    """Every reason, by its stable code (the values are stored, shown and matched on)."""

    # steady
    IN_SYNC = "InSync"
    NOT_OBSERVED_YET = "NotObservedYet"
    # holds
    OBSERVATION_UNKNOWN = "ObservationUnknown"
    PROCEDURE_VERSION_UNKNOWN = "ProcedureVersionUnknown"
    SUSPENDED = "Suspended"
    REPORT_MODE = "ReportMode"
    ABORTED = "Aborted"
    APPROVAL_MISSING = "ApprovalMissing"
    WINDOW_CLOSED = "WindowClosed"
    KEYSTORE_UNUSABLE = "KeystoreUnusable"
    CERTIFICATE_UNUSABLE = "CertificateUnusable"
    HOOK_UNUSABLE = "HookUnusable"
    PARTNER_ROTATING = "PartnerRotating"
    UNDECLARED_PARTNER = "UndeclaredPartner"
    SUSPECTED_ORPHANS = "SuspectedOrphans"
    NEW_CERTIFICATE_UNTRUSTED = "NewCertificateUntrusted"
    MANAGEMENT_SERVER_LIST_MISSING = "ManagementServerListMissing"
    SITE_PEER_DOWN = "SitePeerDown"
    SITE_ROLLOUT_BUSY = "SiteRolloutBusy"
    EARLIER_WAVE_PENDING = "EarlierWavePending"
    DOMAIN_NOT_VISIBLE = "DomainNotVisible"
    # waits
    SOAK_NOT_OVER = "SoakNotOver"
    CLIENTS_NOT_READY = "ClientsNotReady"
    EFFECT_PENDING = "EffectPending"
    RETRY_PENDING = "RetryPending"
    SITE_STEP_ON_PEER = "SiteStepOnPeer"
    SITE_SWAP_TURN = "SiteSwapTurn"
    SITE_SWAPS_PENDING = "SiteSwapsPending"
    # actions
    ACTION_STARTED = "ActionStarted"
    MANUAL_STEP_PENDING = "ManualStepPending"
    # moves
    ROLLOUT_STARTED = "RolloutStarted"
    REPLICATION_BROKEN = "ReplicationBroken"
    LIST_SWITCHED = "ListSwitched"
    LIST_SWITCH_SKIPPED = "ListSwitchSkipped"
    VERIFICATION_DISABLED = "VerificationDisabled"
    CLIENTS_READY = "ClientsReady"
    AT_RISK_ACCEPTED = "AtRiskAccepted"
    CERTIFICATE_SERVED = "CertificateServed"
    VERIFICATION_ENABLED = "VerificationEnabled"
    LIST_RESTORED = "ListRestored"
    ROLLOUT_COMPLETE = "RolloutComplete"
    ROLLOUT_SUPERSEDED = "RolloutSuperseded"
    CONVERGED = "Converged"
    VERIFICATION_REVERTED = "VerificationReverted"
    LIST_REVERTED = "ListReverted"
    SPEC_REVERTED = "SpecReverted"
    ABORT_REQUESTED = "AbortRequested"
    ROLLED_BACK = "RolledBack"
    RESUMED = "Resumed"
    END_STATE_DRIFT = "EndStateDrift"
    SWAP_OBSERVED = "SwapObserved"
    REPLICATION_REESTABLISHED = "ReplicationReestablished"
    SITE_STEP_DONE_ON_PEER = "SiteStepDoneOnPeer"
    # stalls
    MAX_SOAK_EXCEEDED = "MaxSoakExceeded"
    BREAK_REPLICATION_FAILED = "BreakReplicationFailed"
    SWITCH_LIST_FAILED = "SwitchListFailed"
    SET_VERIFICATION_FAILED = "SetVerificationFailed"
    UPDATE_CERTIFICATE_FAILED = "UpdateCertificateFailed"
    RESTORE_LIST_FAILED = "RestoreListFailed"
    RESTORE_REPLICATION_FAILED = "RestoreReplicationFailed"
    REPLICATE_NOW_FAILED = "ReplicateNowFailed"
    UNEXPECTED_CERTIFICATE = "UnexpectedCertificate"
    NO_MANAGED_GROUPS = "NoManagedGroups"
    COLLATERAL_SETTINGS_CHANGE = "CollateralSettingsChange"
    # events
    DRIFT_DETECTED = "DriftDetected"
    RETARGETED = "Retargeted"
    CERTIFICATE_CHANGED = "CertificateChanged"
    ATTEMPT_LOST = "AttemptLost"
    ATTEMPT_INEFFECTIVE = "AttemptIneffective"
    ATTEMPT_FINISHED = "AttemptFinished"
    ABORT_REFUSED = "AbortRefused"
    CANARY_PASSED = "CanaryPassed"
    # kept only to read records written before codes existed
    UNRECORDED = "Unrecorded"


@dataclass(frozen=True, slots=True)
class CodeInfo:
    kind: Kind
    when: str  # when a server has it
    todo: str = ""  # what a person does about it (empty: nothing)


_RESUME = "then `sepm-reconciler resume SERVER`"

CODES: Mapping[Code, CodeInfo] = MappingProxyType(
    {
        Code.IN_SYNC: CodeInfo(Kind.STEADY, "every port presents the desired certificate; no rollout"),
        Code.NOT_OBSERVED_YET: CodeInfo(Kind.STEADY, "the server was never observed yet"),
        Code.OBSERVATION_UNKNOWN: CodeInfo(
            Kind.HOLD,
            "something the current step needs could not be observed (a port, the groups, the manager's clock, the "
            "client count…): nothing moves on an unknown observation",
            "see the reason; the next complete observation continues",
        ),
        Code.PROCEDURE_VERSION_UNKNOWN: CodeInfo(
            Kind.HOLD,
            "the rollout started with a procedure version this sepm-reconciler does not know",
            "upgrade sepm-reconciler",
        ),
        Code.SUSPENDED: CodeInfo(
            Kind.HOLD, "an operator suspended the server", "`sepm-reconciler resume SERVER`"
        ),
        Code.REPORT_MODE: CodeInfo(
            Kind.HOLD,
            "`spec.rollout.mode: report`: observed and reported, never acted on",
            "set `mode: enforce` to let it act",
        ),
        Code.ABORTED: CodeInfo(
            Kind.HOLD,
            "the rollout was aborted; it is not restarted for the same certificate and spec revision",
            "`sepm-reconciler resume SERVER`, or commit a new spec revision",
        ),
        Code.APPROVAL_MISSING: CodeInfo(
            Kind.HOLD,
            "the next step is listed in `spec.rollout.approvals` and not approved for this rollout",
            "`sepm-reconciler approve SERVER --step N --by WHO --reason WHY`",
        ),
        Code.WINDOW_CLOSED: CodeInfo(
            Kind.HOLD,
            "the maintenance window of the certificate update is closed (or cannot be evaluated)",
            "wait for its next opening (the reason says when)",
        ),
        Code.KEYSTORE_UNUSABLE: CodeInfo(
            Kind.HOLD,
            "the keystore the certificate update installs cannot be opened or does not hold the desired certificate",
            "fix `spec.certificate.keystore` or its password (`sepm-reconciler validate --check-secrets`)",
        ),
        Code.CERTIFICATE_UNUSABLE: CodeInfo(
            Kind.HOLD,
            "the desired certificate file of the spec cannot be read",
            "fix `spec.certificate` of the server",
        ),
        Code.HOOK_UNUSABLE: CodeInfo(
            Kind.HOLD,
            "before step 1: a hook of the spec cannot run (its program or script not found, or not executable)",
            "fix `spec.rollout.actions.*.command` (`sepm-reconciler validate` says which); relative paths start from "
            "the spec file's directory",
        ),
        Code.PARTNER_ROTATING: CodeInfo(
            Kind.WAIT,
            "replication is restored only when every managed partner has reached the same step",
            "nothing: the partner's rollout continues",
        ),
        Code.SITE_PEER_DOWN: CodeInfo(
            Kind.HOLD,
            "before step 4a: another server of the site did not answer its last look — its clients could not fail "
            "over to it while this server restarts",
            "bring the other server back (its services, its network); the swap begins once it answers",
        ),
        Code.SITE_ROLLOUT_BUSY: CodeInfo(
            Kind.HOLD,
            "before step 1: another server of the site is past step 3 of the site's rollout; this server starts with "
            "the next one (a site rollout is never forked)",
            "nothing: the site's rollout finishes first",
        ),
        Code.EARLIER_WAVE_PENDING: CodeInfo(
            Kind.HOLD,
            "before step 4a: a server of an earlier `rollout.wave` has not passed step 4b",
            "nothing: the earlier wave's rollout continues (see its status)",
        ),
        Code.UNDECLARED_PARTNER: CodeInfo(
            Kind.STALL,
            "before step 1: the manager replicates with a site `spec.replication.partners` does not declare",
            "add the site to `spec.replication.partners` and commit",
        ),
        Code.SUSPECTED_ORPHANS: CodeInfo(
            Kind.HOLD,
            "after the swap: clients seen within a heartbeat before it have not checked in since (probably orphaned): "
            "the rollout does not complete; when fewer than `rollout.canary.minReturnRatio` of them (any group, any "
            "domain) are back within `rollout.canary.heartbeats` heartbeats, the canary analysis halts the rollout "
            "(a stall in step 4b) and every other server's swap (4a) waits until a person resumes it",
            "find out why the named clients are silent (a client that still verified the old certificate must be "
            "re-enrolled, e.g. with a communication package); or accept them: `approve --step N --accept-at-risk`; "
            "a halt by the canary analysis: fix what orphaned them, then `sepm-reconciler resume SERVER`",
        ),
        Code.DOMAIN_NOT_VISIBLE: CodeInfo(
            Kind.HOLD,
            "a domain `rollout.clients.domains` names, or one the rollout counted earlier, is not visible to the "
            "API credentials (`GET domains`): its groups and clients cannot be seen, so nothing moves",
            "give the account the rights on that domain again (Admin > Administrators), or remove the domain from "
            "`rollout.clients.domains` and commit",
        ),
        Code.NEW_CERTIFICATE_UNTRUSTED: CodeInfo(
            Kind.HOLD,
            "before the rollout starts, and again before step 4a: the desired certificate would not be trusted on "
            "the API port (it does not chain to `caBundle` or the system store, does not name the host of `apiUrl`, "
            "or is not valid at the planned swap) — after the swap every tick would fail",
            "add the CA file the reason names to `spec.server.caBundle` (or fix the certificate) and commit",
        ),
        Code.MANAGEMENT_SERVER_LIST_MISSING: CodeInfo(
            Kind.HOLD,
            "SEPM 14 and later (KB 187099): `spec.rollout.managementServerList` is not set, so the clients cannot be "
            "moved to an HTTP management server list around the swap; the rollout does not start (in step 2a: "
            "stalls)",
            "set `spec.rollout.managementServerList: {http: NAME, original: NAME}` (or `{skip: true, reason: WHY}`) "
            "and commit",
        ),
        Code.SOAK_NOT_OVER: CodeInfo(
            Kind.WAIT, "steps 3, 4b and 6: `minSoak` has not elapsed since the change (manager clock)"
        ),
        Code.CLIENTS_NOT_READY: CodeInfo(
            Kind.WAIT,
            "steps 3, 4b and 6: `minSoak` is over, but fewer than `minAckRatio` of the eligible clients applied the "
            "change (4b: checked in since the swap)",
            "wait, or accept the clients at risk: `approve --step N --accept-at-risk`",
        ),
        Code.EFFECT_PENDING: CodeInfo(
            Kind.WAIT, "an action ran (or may still run); its effect is not observed yet"
        ),
        Code.RETRY_PENDING: CodeInfo(
            Kind.WAIT, "an attempt failed; the next one starts after the backoff (the reason says when)"
        ),
        Code.SITE_STEP_ON_PEER: CodeInfo(
            Kind.WAIT,
            "a policy step of a site with several managed servers is done once, on the API of the site's lead (the "
            "first server of the site inside the procedure that answers): the other servers wait for it",
        ),
        Code.SITE_SWAP_TURN: CodeInfo(
            Kind.WAIT,
            "before step 4a: `rollout.site.swapConcurrency` other servers of the site are swapping (one at a time by "
            "default, so clients fail over to a server that still answers)",
        ),
        Code.SITE_SWAPS_PENDING: CodeInfo(
            Kind.WAIT,
            "step 4b done; step 5a begins when every server of the site inside the procedure has finished its swap "
            "and its own step 4b",
        ),
        Code.ACTION_STARTED: CodeInfo(Kind.ACT, "a hook or a REST action was started (an attempt)"),
        Code.MANUAL_STEP_PENDING: CodeInfo(
            Kind.ACT,
            "a manual step waits for an operator",
            "do what `status` shows under 'to do by hand'; the step completes when its effect is observed",
        ),
        Code.ROLLOUT_STARTED: CodeInfo(Kind.MOVE, "drift observed and nothing holds: step 1 begins"),
        Code.REPLICATION_BROKEN: CodeInfo(Kind.MOVE, "step 1 done: no declared partner replicates"),
        Code.LIST_SWITCHED: CodeInfo(
            Kind.MOVE,
            "step 2a done: every managed group is on the HTTP management server list — read back in its settings, "
            "or (where the manager does not show lists) its policy serial moved and the hook exited 0 or an "
            "operator confirmed; or not needed before SEPM 14",
        ),
        Code.LIST_SWITCH_SKIPPED: CodeInfo(
            Kind.MOVE,
            "step 2a passed without switching lists: `managementServerList.skip` (every report warns, and counts every "
            "client at risk before the swap)",
        ),
        Code.VERIFICATION_DISABLED: CodeInfo(
            Kind.MOVE, "step 2b done: every managed group reads back off with a new policy serial"
        ),
        Code.CLIENTS_READY: CodeInfo(Kind.MOVE, "steps 3, 4b and 6 done: `minSoak` and `minAckRatio` met"),
        Code.AT_RISK_ACCEPTED: CodeInfo(
            Kind.MOVE,
            "steps 3, 4b and 6 done on `minSoak` alone: the clients at risk were accepted by a person",
        ),
        Code.CERTIFICATE_SERVED: CodeInfo(
            Kind.MOVE, "step 4a done: every port presents the target and the API answers"
        ),
        Code.VERIFICATION_ENABLED: CodeInfo(
            Kind.MOVE, "step 5a done: every managed group reads back on with a new policy serial"
        ),
        Code.LIST_RESTORED: CodeInfo(
            Kind.MOVE,
            "step 5b done (or in a rollback): every managed group is on the original management server list, by "
            "the same evidence as step 2a",
        ),
        Code.ROLLOUT_COMPLETE: CodeInfo(Kind.MOVE, "step 7 done: the rollout is complete"),
        Code.ROLLOUT_SUPERSEDED: CodeInfo(
            Kind.MOVE, "step 7 done, but a newer certificate is desired: a new rollout follows"
        ),
        Code.CONVERGED: CodeInfo(Kind.MOVE, "held in drifted, the served certificate became the desired one"),
        Code.VERIFICATION_REVERTED: CodeInfo(
            Kind.MOVE,
            "a managed group's flag went back (steps 3-4a: verifies again; 6-7: no longer verifies): back to step 2b "
            "or 5a",
        ),
        Code.LIST_REVERTED: CodeInfo(
            Kind.MOVE,
            "a managed group reads another management server list than the step needs (steps 3-4a: not the HTTP "
            "list, or a rollout begun before 2a existed; 6-7: not the original one, e.g. after a re-join): back to "
            "step 2a or 5b",
        ),
        Code.SPEC_REVERTED: CodeInfo(
            Kind.MOVE,
            "before step 4 the spec asks again for the certificate served before: steps 1-3 are undone",
        ),
        Code.ABORT_REQUESTED: CodeInfo(
            Kind.MOVE, "an operator aborted the rollout before step 4: rolling back"
        ),
        Code.ROLLED_BACK: CodeInfo(Kind.MOVE, "verification and replication are as before the rollout"),
        Code.RESUMED: CodeInfo(Kind.MOVE, "a stalled rollout continues: `resume`, or a new spec revision"),
        Code.END_STATE_DRIFT: CodeInfo(
            Kind.MOVE,
            "every port presents the desired certificate but a managed group does not verify, or a declared partner "
            "does not replicate (e.g. the state was lost after step 4): resolved from observation through steps "
            "5-7",
            "nothing, unless it is held: then lift the hold (approval, suspension, report mode)",
        ),
        Code.SWAP_OBSERVED: CodeInfo(
            Kind.MOVE,
            "steps 1-3 (an older state, e.g. a restored backup): every port already presents the target: on to "
            "step 4's checks, never back",
        ),
        Code.SITE_STEP_DONE_ON_PEER: CodeInfo(
            Kind.MOVE,
            "a policy step of the site was done on the API of the site's lead: this server follows it",
        ),
        Code.REPLICATION_REESTABLISHED: CodeInfo(
            Kind.MOVE,
            "steps 2-6: a declared partner replicates again: before the certificate changes back to step 1 (broken "
            "again); after it, a stall",
            "after the swap: break the partnership again in the console (Admin > Servers > Local Site > Replication "
            f"Partners), {_RESUME}",
        ),
        Code.MAX_SOAK_EXCEEDED: CodeInfo(
            Kind.STALL,
            "steps 3, 4b and 6: `maxSoak` passed without `minAckRatio`",
            "raise `maxSoak`, lower `minAckRatio` or shorten `excludeOfflineFor` and commit; or "
            f"`approve --step N --accept-at-risk`, {_RESUME}",
        ),
        Code.BREAK_REPLICATION_FAILED: CodeInfo(
            Kind.STALL,
            "step 1: the hook failed `maxAttempts` times",
            f"delete the partnership in the console or fix the hook, {_RESUME}",
        ),
        Code.SWITCH_LIST_FAILED: CodeInfo(
            Kind.STALL,
            "step 2a: the list hook failed `maxAttempts` times, or its effect was never observed",
            f"assign the HTTP list in the console (or fix the hook), {_RESUME}",
        ),
        Code.SET_VERIFICATION_FAILED: CodeInfo(
            Kind.STALL,
            "steps 2b and 5a, or a rollback: the flag does not read back, or the policy serial does not move",
            f"check the API account's rights, or set the flag by hand / make a policy change so the serial moves, "
            f"{_RESUME}",
        ),
        Code.UPDATE_CERTIFICATE_FAILED: CodeInfo(
            Kind.STALL,
            "step 4a: the hook failed, or the ports disagree (a missed service restart) after every attempt",
            f"install the certificate by hand, restart the three services, {_RESUME}",
        ),
        Code.RESTORE_LIST_FAILED: CodeInfo(
            Kind.STALL,
            "step 5b or a rollback: the list hook failed `maxAttempts` times, or its effect was never observed",
            f"assign the original list in the console (or fix the hook), {_RESUME}",
        ),
        Code.RESTORE_REPLICATION_FAILED: CodeInfo(
            Kind.STALL,
            "step 7 or a rollback: the restore hook failed `maxAttempts` times",
            f"add the partner in the console or fix the hook, {_RESUME}",
        ),
        Code.REPLICATE_NOW_FAILED: CodeInfo(
            Kind.STALL,
            "step 7 or a rollback: replication with a partner does not succeed (e.g. `FAILED_CONNECT`)",
            f"check both sites trust each other's new certificate and reach each other on 8443, {_RESUME}",
        ),
        Code.UNEXPECTED_CERTIFICATE: CodeInfo(
            Kind.STALL,
            "steps 4-7: a port presents a certificate that is neither the target nor (step 4a) the one served before",
            f"find out who installed it, install the target everywhere, {_RESUME}",
        ),
        Code.NO_MANAGED_GROUPS: CodeInfo(
            Kind.STALL,
            "steps 2 and 5: no group matches `spec.rollout.clients.groups`",
            "fix the group names and commit",
        ),
        Code.COLLATERAL_SETTINGS_CHANGE: CodeInfo(
            Kind.STALL,
            "steps 2 and 5, or a rollback: a group's settings PATCH (the whole configuration, only the flag changed) "
            "changed other fields; no other group was touched and the group's document was written back (the reason "
            "names the fields, and whether that restored them)",
            "check those settings of the group in the console, find out how the manager applies a settings PATCH "
            f"(`sepm-reconciler probe --rehearse` on an empty group), {_RESUME}",
        ),
        Code.DRIFT_DETECTED: CodeInfo(Kind.EVENT, "a port presents another certificate than the spec's"),
        Code.RETARGETED: CodeInfo(
            Kind.EVENT, "before step 4 a new desired certificate became the rollout's target"
        ),
        Code.CERTIFICATE_CHANGED: CodeInfo(
            Kind.EVENT, "step 4a: a port first presented another certificate (the point of no return)"
        ),
        Code.ATTEMPT_LOST: CodeInfo(
            Kind.EVENT, "an attempt recorded no result and its effect was not observed after its timeout"
        ),
        Code.ATTEMPT_INEFFECTIVE: CodeInfo(
            Kind.EVENT, "an attempt reported success but its effect was not observed in time"
        ),
        Code.ATTEMPT_FINISHED: CodeInfo(Kind.EVENT, "a hook exited or a REST action answered"),
        Code.ABORT_REFUSED: CodeInfo(
            Kind.EVENT, "an abort arrived after the certificate update began: the rollout only goes forward"
        ),
        Code.CANARY_PASSED: CodeInfo(
            Kind.EVENT,
            "step 4b: the canary analysis of the swap passed — at least `rollout.canary.minReturnRatio` of the clients "
            "seen within a heartbeat before it checked in again within `rollout.canary.heartbeats` heartbeats",
        ),
        Code.UNRECORDED: CodeInfo(
            Kind.HOLD,
            "the reason was recorded by a version without codes; the next check records its code",
        ),
    }
)
"""What each code means, and what to do about it: the generated table of ``docs/procedure.md``."""

STALL_CODES_BEFORE_SCHEMA_2: Mapping[str, Code] = MappingProxyType(
    {
        "max_soak_exceeded": Code.MAX_SOAK_EXCEEDED,
        "break_replication_failed": Code.BREAK_REPLICATION_FAILED,
        "set_verification_failed": Code.SET_VERIFICATION_FAILED,
        "update_certificate_failed": Code.UPDATE_CERTIFICATE_FAILED,
        "restore_replication_failed": Code.RESTORE_REPLICATION_FAILED,
        "replicate_now_failed": Code.REPLICATE_NOW_FAILED,
        "unexpected_certificate": Code.UNEXPECTED_CERTIFICATE,
        "no_managed_groups": Code.NO_MANAGED_GROUPS,
        "undeclared_partner": Code.UNDECLARED_PARTNER,
    }
)
"""The stall codes of record schema 1 (snake case), and the code each became."""
