"""The actions of the procedure as :class:`~reconciler.core.procedure.verdicts.Work`: who performs each (the spec's
action, the REST API), how its action descriptor is built (summary, instructions an operator follows), what its
effect looks like once observed, and how its step stalls when every attempt fails."""

from __future__ import annotations

from datetime import datetime

from reconciler.core import wording
from reconciler.core.actions import (
    ActionKind,
    BreakReplication,
    Performer,
    ReplicateNow,
    RestoreOriginalList,
    RestoreReplication,
    SetVerification,
    SwitchToHttpList,
    UpdateCertificate,
)
from reconciler.core.checks import GroupFlags
from reconciler.core.codes import Code
from reconciler.core.observation import GroupObservation
from reconciler.core.procedure.given import Given
from reconciler.core.procedure.verdicts import Build, Change, Work
from reconciler.core.said import Said
from reconciler.core.sentences import approve_command
from reconciler.core.spec import Action as SpecAction

__all__ = [
    "assign_list",
    "break_replication",
    "replicate_now",
    "restore_replication",
    "set_verification",
    "update_certificate",
]


def break_replication(given: Given, step: int, still: tuple[str, ...]) -> Work:
    """Step 1: delete the partnership with the partners ``still`` listed (hook or operator: no REST endpoint)."""
    site = given.spec.spec.server.site

    def build(b: Build) -> BreakReplication:
        if b.performer is Performer.MANUAL:
            instructions = (
                f"In the SEPM console of site {site}: Admin > Servers > Local Site ({site}) > Replication Partners: "
                f"select {wording.names(list(still))} > Delete Replication Partner; then, in the console of each "
                f"partner site, delete {site} the same way."
            )
        else:
            instructions = (
                f"run {b.command[0]} to delete the replication partnership of {site} with {', '.join(still)}"
            )
        return BreakReplication(
            step=step,
            **b.fields(),
            summary=f"break replication with {', '.join(still)}",
            instructions=instructions,
            site=site,
            partners=still,
        )

    return Work(
        step=step,
        kind=ActionKind.BREAK_REPLICATION,
        how=given.rollout.actions.break_replication,
        build=build,
        waiting=Said(Code.REPLICATION_BROKEN, {"site": site, "partners": still}),
        failed=Code.BREAK_REPLICATION_FAILED,
        remedy=Said(Code.BREAK_REPLICATION_FAILED, {"server": given.name}),
    )


def assign_list(
    given: Given,
    step: int,
    *,
    kind: ActionKind,
    how: SpecAction,
    list_name: str,
    copy_of: str | None,
    waiting: Said,
    failed: Code,
) -> Work:
    """Steps 2a and 5b (and a rollback): assign the management server list ``list_name`` to every group and location
    (hook or operator: SEPM has no REST endpoint for lists). ``copy_of``: 2a's list is a copy of this one, using
    HTTP. ``waiting`` says what is awaited (and whether the manager shows lists: if not, a manual assignment is
    confirmed with ``approve``)."""
    confirm = approve_command(given.name, step) if waiting.get("hidden") else ""

    def build(b: Build) -> SwitchToHttpList | RestoreOriginalList:
        if b.performer is Performer.MANUAL:
            where = "In the SEPM console: Policies > Policy Components > Management Server Lists: "
            if copy_of is not None:
                prepare = (
                    f"if {list_name} does not exist, select {copy_of} > Copy, then Paste, and rename the copy "
                    f"{list_name}; edit {list_name}: Use HTTP protocol, with each management server's HTTP port "
                    "(default 8014); "
                )
            else:
                prepare = ""
            instructions = f"{where}{prepare}right-click {list_name} > Assign, and assign it to all groups and locations."
            if confirm:
                instructions += (
                    " This manager does not show a group's list through its API: once assigned, confirm with "
                    f"{confirm}"
                )
        else:
            instructions = f"run {b.command[0]} to assign the management server list {list_name} to every group and location"
        summary = f"assign the management server list {list_name} to every group and location"
        action = SwitchToHttpList if kind is ActionKind.SWITCH_TO_HTTP_LIST else RestoreOriginalList
        return action(
            step=step, **b.fields(), summary=summary, instructions=instructions, list_name=list_name
        )

    facts = {**waiting.facts, "server": given.name, "kind": kind, "confirm": confirm}
    return Work(
        step=step,
        kind=kind,
        how=how,
        build=build,
        waiting=waiting.but(**facts),
        failed=failed,
        remedy=Said(failed, facts),
    )


def set_verification(
    given: Given,
    step: int,
    *,
    enabled: bool,
    groups: tuple[GroupObservation, ...],
    started: datetime | None,
    stuck: tuple[GroupObservation, ...] = (),
    again: bool = False,
) -> Work:
    """Steps 2 and 5 (and a rollback, ``again``): PATCH the flag on ``groups`` through the REST API, read it back.

    ``stuck`` are the groups whose flag already reads right but whose policy serial did not move after ``started``
    (client acknowledgement could not be measured against our change)."""
    targets = GroupFlags.targets(groups)
    count = len(targets)

    def build(b: Build) -> SetVerification:
        return SetVerification(
            step=step,
            **b.fields(),
            summary=f"{'enable' if enabled else 'disable'} certificate verification{' again' if again else ''} on "
            f"{count} group{'s' if count != 1 else ''}",
            instructions="PATCH groups/{id}/locations/{location}/settings with secure_communications="
            f"{str(enabled).lower()} on {GroupFlags.names(groups)}, then read it back",
            enabled=enabled,
            groups=targets,
        )

    facts = {
        "enabled": enabled,
        "again": again,
        "started": started,
        "groups": GroupFlags.names(groups),
        "stuck": GroupFlags.names(stuck) if stuck else "",
        "server": given.name,
    }
    return Work(
        step=step,
        kind=ActionKind.SET_VERIFICATION,
        how=None,
        build=build,
        waiting=Said(Code.VERIFICATION_ENABLED if enabled else Code.VERIFICATION_DISABLED, facts),
        failed=Code.SET_VERIFICATION_FAILED,
        remedy=Said(Code.SET_VERIFICATION_FAILED, facts),
    )


def update_certificate(given: Given, step: int, *, seen: str, api: str) -> Work:
    """Step 4: install the target certificate and restart the SEPM services (hook or operator: no REST endpoint).
    ``seen`` and ``api`` say what the ports and the API show now."""
    target = given.target
    keystore = given.spec.spec.certificate.keystore
    host = given.spec.spec.server.host
    ports = ", ".join(str(number) for _, number in given.spec.spec.server.ports.items())

    def build(b: Build) -> UpdateCertificate:
        if b.performer is Performer.MANUAL:
            source = f"the keystore {keystore.file}" if keystore else f"the keystore holding {target}"
            instructions = (
                f"In the SEPM console of {host}: Admin > Servers > {host} > Manage Server Certificate > Update "
                f"Server Certificate, with {source}; then restart the services SEPM (semsrv), SEPM Webserver "
                f"(semwebsrv) and SEPM API service (semapisrv) on the Windows host."
            )
        else:
            instructions = f"run {b.command[0]} to install {target} on {host} and restart the SEPM services"
        return UpdateCertificate(
            step=step,
            **b.fields(),
            summary=f"install certificate {wording.fingerprint(target)} and restart the SEPM services",
            instructions=instructions,
            fingerprint=target,
            keystore_file=keystore.file if keystore else None,
        )

    return Work(
        step=step,
        kind=ActionKind.UPDATE_CERTIFICATE,
        how=given.rollout.actions.update_certificate,
        build=build,
        waiting=Said(Code.CERTIFICATE_SERVED, {"ports": ports, "target": target, "seen": seen, "api": api}),
        failed=Code.UPDATE_CERTIFICATE_FAILED,
        remedy=Said(Code.UPDATE_CERTIFICATE_FAILED, {"server": given.name}),
    )


def restore_replication(given: Given, step: int, missing: tuple[str, ...]) -> Work:
    """Step 7 (and a rollback): add the partnership with ``missing`` again (hook or operator)."""
    site = given.spec.spec.server.site

    def build(b: Build) -> RestoreReplication:
        if b.performer is Performer.MANUAL:
            instructions = (
                f"In the SEPM console of site {site}: Admin > Servers > Local Site ({site}) > Replication "
                f"Partners > Add Existing Replication Partner: {', '.join(missing)}. Beware: the joining site's "
                "database is overwritten by the site it joins; the reconciler re-checks the verification flag "
                "afterwards."
            )
        else:
            instructions = (
                f"run {b.command[0]} to add the replication partnership of {site} with {', '.join(missing)}"
            )
        return RestoreReplication(
            step=step,
            **b.fields(),
            summary=f"restore replication with {', '.join(missing)}",
            instructions=instructions,
            site=site,
            partners=missing,
        )

    return Work(
        step=step,
        kind=ActionKind.RESTORE_REPLICATION,
        how=given.rollout.actions.restore_replication,
        build=build,
        waiting=Said(Code.ROLLOUT_COMPLETE, {"site": site, "missing": missing}),
        failed=Code.RESTORE_REPLICATION_FAILED,
        remedy=Said(Code.RESTORE_REPLICATION_FAILED, {"server": given.name}),
    )


def replicate_now(
    given: Given,
    step: int,
    *,
    partner: str,
    started: datetime,
    status: str,
    last: datetime | None,
) -> Work:
    """Step 7 (and a rollback): ``replicatenow`` with ``partner``, so a success after ``started`` is seen soon."""
    site = given.spec.spec.server.site

    def build(b: Build) -> ReplicateNow:
        return ReplicateNow(
            step=step,
            **b.fields(),
            summary=f"ask {site} to replicate now with {partner}",
            instructions=f"POST replication/replicatenow?partnerSiteName={partner}&logs=false&content=false",
            partner=partner,
        )

    manager_time = given.manager_time
    requested = dict(given.facts.replicate_requested)
    if manager_time is not None:
        requested[partner] = manager_time
    facts = {"partner": partner, "started": started, "status": status, "last": last, "server": given.name}
    return Work(
        step=step,
        kind=ActionKind.REPLICATE_NOW,
        how=None,
        build=build,
        waiting=Said(Code.ROLLOUT_COMPLETE, facts),
        failed=Code.REPLICATE_NOW_FAILED,
        remedy=Said(Code.REPLICATE_NOW_FAILED, facts),
        subject=partner,
        started=Change(facts={"replicate_requested": requested}) if manager_time is not None else Change(),
    )
