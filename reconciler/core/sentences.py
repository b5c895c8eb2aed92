"""The one place reasons are worded: every sentence a person reads about a hold, a wait, an action, a move, a stall
or an event is rendered here from a code and its facts (:class:`~reconciler.core.said.Said`).

``sentence(said)`` is the reason; ``remedy(said)`` what a person does about a stall; ``awaited(said)`` the
"Continues when…" of an action. Numbers, times and names are formatted by :mod:`reconciler.core.wording`.
``tests/core/golden/sentences.txt`` pins every sentence: a change of wording is a reviewed change of that file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from reconciler.core import wording
from reconciler.core.actions import ActionKind
from reconciler.core.codes import Code
from reconciler.core.record import Attempt, AttemptOutcome
from reconciler.core.said import Said

__all__ = [
    "approve_command",
    "attempt_judged",
    "attempt_outcome",
    "attempt_status",
    "awaited",
    "evidence",
    "planned_gate",
    "remedy",
    "sentence",
    "what",
]

Facts = Mapping[str, Any]
_RESUME = "then run: sepm-reconciler resume {server}"


def _when(moment: datetime | None, none: str = "never") -> str:
    return wording.when(moment) if moment is not None else none


def _names(items: Any) -> str:
    return wording.names(list(items))


def approve_command(server: str, step: int | str, *, accept_at_risk: bool = False) -> str:
    """The command that approves ``step`` (the one wording of "needs an approval", wherever it is shown)."""
    flag = " --accept-at-risk" if accept_at_risk else ""
    return f"sepm-reconciler approve {server} --step {step}{flag} --reason WHY"


def _resume(f: Facts) -> str:
    return _RESUME.format(server=f.get("server", "SERVER"))


def what(f: Facts) -> str:
    """How reasons name an action: ``"the certificate update"``, ``"replication with Site West"``…"""
    kind = f.get("kind")
    if kind is ActionKind.SET_VERIFICATION:
        if f.get("again"):
            return "restoring certificate verification"
        return f"{'enabling' if f.get('enabled') else 'disabling'} certificate verification"
    if kind is ActionKind.REPLICATE_NOW:
        return f"replication with {f.get('subject') or f.get('partner')}"
    names = {
        ActionKind.BREAK_REPLICATION: "the replication break",
        ActionKind.SWITCH_TO_HTTP_LIST: "the switch to the HTTP management server list",
        ActionKind.UPDATE_CERTIFICATE: "the certificate update",
        ActionKind.RESTORE_ORIGINAL_LIST: "the restore of the original management server list",
        ActionKind.RESTORE_REPLICATION: "the replication restore",
    }
    return names[kind] if isinstance(kind, ActionKind) and kind in names else "the action"


def attempt_outcome(attempt: Attempt) -> str:
    """``"exit 1: disk full"``, ``"lost"``…: how an attempt ended, for the reason that quotes it."""
    if attempt.outcome is AttemptOutcome.FAILED:
        status = f"exit {attempt.exit_code}" if attempt.exit_code is not None else "failed"
        return f"{status}: {attempt.detail}" if attempt.detail else status
    return attempt.detail or attempt.outcome.value


def attempt_status(succeeded: bool, exit_code: int | None, detail: str) -> str:
    """``"failed (exit 1): disk full"``: what a hook's exit or an API answer said."""
    status = "succeeded" if succeeded else "failed"
    if exit_code is not None:
        status += f" (exit {exit_code})"
    return status + (f": {detail}" if detail else "")


def attempt_judged(code: Code, deadline: datetime) -> str:
    """Why an attempt with no effect counts as failed (kept in the attempt's detail)."""
    if code is Code.ATTEMPT_LOST:
        return (
            "no result was recorded (the reconciler may have stopped) and the effect was not observed by "
            f"{wording.when(deadline)}"
        )
    return f"reported success but the effect was not observed by {wording.when(deadline)}"


def planned_gate(kind: str, f: Facts) -> str:
    """A gate as ``plan`` lists it on a step (``kind``: the gate's kind, ``"window"`` or ``"partners"``)."""
    if kind == "window":
        if f.get("opens") is not None:
            return f"maintenance window {f['window']}: opens {wording.when(f['opens'])}"
        return f"maintenance window {f['window']}: {f.get('error') or 'never opens'}"
    return f"restored only when every rotating partner has reached step {f['step']}"


def awaited(said: Said) -> str:
    """What the effect of an action looks like once observed: ``"Continues when …"``."""
    f = said.facts
    kind = f.get("kind")
    if said.code is Code.REPLICATION_BROKEN:
        return (
            f"Continues when {f['site']} no longer lists {', '.join(f['partners'])} as replication partner."
        )
    if said.code in (Code.VERIFICATION_DISABLED, Code.VERIFICATION_ENABLED):
        on_off = "on" if f.get("enabled") else "off"
        if f.get("again"):
            return f"Continues when those groups read back {on_off}."
        return (
            f"Continues when every managed group reads back {on_off} with a policy serial newer than "
            f"{_when(f.get('started'), 'the step began')}."
        )
    if said.code in (Code.LIST_SWITCHED, Code.LIST_RESTORED):
        return _list_awaited(f)
    if said.code is Code.CERTIFICATE_SERVED:
        return (
            f"Continues when ports {f['ports']} all present {wording.fingerprint(f['target'])} and the API answers "
            f"(now: {f['seen']}; {f['api']})."
        )
    if "missing" in f:
        return f"Continues when {f['site']} lists {', '.join(f['missing'])} as replication partner again."
    if "partner" in f:
        return (
            f"Continues when {f['partner']} replicates with SUCCEEDED after {wording.when(f['started'])} "
            f"(now: {f['status']}, last success {_when(f.get('last'))})."
        )
    return f"Continues when the effect of {what({'kind': kind})} is observed."  # pragma: no cover - every work says


def _list_awaited(f: Facts) -> str:
    text = f"Continues when every managed group reads back the management server list {f['list']}"
    if f.get("hidden"):
        then = f"you confirm: {f['confirm']}" if f.get("confirm") else "the hook exits 0"
        text += (
            f" — where the manager does not show a group's list ({f['hidden']}), when its policy serial moved after "
            f"{_when(f.get('started'), 'the sub-step began')} and {then}"
        )
    return text + "."


# --- the management server lists -----------------------------------------------------------------------------------

_EVIDENCE = {
    "read_back": "read back in every managed group's settings",
    "serial_and_hook": "the manager does not show lists: every managed group's policy serial moved after the sub-step "
    "began and the hook exited 0",
    "serial_and_confirmed": "the manager does not show lists: every managed group's policy serial moved after the "
    "sub-step began and an operator confirmed",
    "skipped": "skipped (spec.rollout.managementServerList.skip)",
    "not_needed": "not needed",
    "started": "begun",
}


def evidence(value: object) -> str:
    """How a list sub-step was seen done (``ListEvidence`` value), in words."""
    return _EVIDENCE.get(str(value), str(value))


def _list_done(f: Facts, *, to_http: bool) -> str:
    how = f.get("evidence")
    if how == "not_needed":
        if f.get("rollback"):
            return "no management server list to put back (the clients' list was not switched)"
        if f.get("version"):
            return f"SEPM {f['version']} predates 14: no management server list switch (KB 187099 is for 14 and later)"
        return "this rollout never switched the management server list: nothing to restore"
    if how == "skipped":
        return "the management server list switch was skipped: nothing to restore"
    where = "the HTTP management server list" if to_http else "the original management server list"
    text = f"every managed group is on {where} {f['list']} ({evidence(how)})"
    return f"rolled back: {text}" if f.get("rollback") else text


def _list_missing(f: Facts) -> str:
    version = (
        f"SEPM {f['version']}" if f.get("version") else "a SEPM of unknown version (assumed 14 or later)"
    )
    text = (
        f"{f['server']} runs {version}: the vendor's procedure for 14 and later (KB 187099) moves the clients to an "
        "HTTP management server list around the swap, and spec.rollout.managementServerList does not name the lists"
    )
    return text + (": stalled" if f.get("stalls") else ": the rollout does not start")


def _untrusted(f: Facts) -> str:
    host, anchors = f["host"], f["anchors"]
    if f.get("problem"):
        why = f"{f['problem']}"
    else:
        since, until = (
            _when(f.get("not_before"), "an unknown date"),
            _when(f.get("not_after"), "an unknown date"),
        )
        why = f"it is valid from {since} to {until}, not at the planned swap ({_when(f.get('swap'))})"
    issuer = f" (issued by {f['issuer']})" if f.get("issuer") else ""
    return (
        f"holding before the point of no return: the new certificate{issuer} would not be trusted on the API port "
        f"of {f['server']} ({host}): {why}; after the swap every observation would fail. Fix: add the certificate "
        f"of the CA that issued it to {anchors}, or install a certificate that chains to {anchors} and names {host}"
    )


def _list_reverted(f: Facts) -> str:
    step = f.get("to_step", "?")
    if f.get("never"):
        return (
            "this rollout began before the HTTP list sub-step existed (procedure version 1): switching the clients "
            f"to the HTTP management server list first (step {step}a)"
        )
    which = "the HTTP" if f.get("to") == "http" else "the original"
    sub = "a" if f.get("to") == "http" else "b"
    return f"{f['groups']} left {which} management server list: assigning it again (step {step}{sub})"


# --- the wait for clients ------------------------------------------------------------------------------------------


def _acknowledgement(f: Facts) -> str:
    """How many have the policy, until when, who is offline, who is at risk."""
    have = "checked in since the swap" if f.get("fetched") else "have the policy"
    parts = [
        f"{wording.count(f['acknowledged'])} / {wording.count(f['eligible'])} eligible {have} "
        f"({wording.percent(f['ratio'])}, need {wording.percent(f['need'])})"
    ]
    if f["soaked"]:
        parts.append(f"minimum soak over since {wording.when(f['soak_end'])} (manager time)")
    else:
        parts.append(f"minimum soak ends {wording.when(f['soak_end'])} (manager time)")
    if f.get("pending_offline"):
        offline = f"{wording.count(f['pending_offline'])} offline"
        if f.get("longest_unseen") is not None:
            offline += f", longest unseen {wording.span(f['longest_unseen'])}"
        parts.append(offline)
    if f.get("excluded_offline"):
        parts.append(
            f"{wording.count(f['excluded_offline'])} unseen for more than {wording.span(f['exclude_offline_for'])} "
            "not waited for"
        )
    verifying = f.get("verifying", False)
    if not verifying and f.get("at_risk_count"):
        when = "when verification is turned on" if f.get("fetched") else "if the certificate changed now"
        at_risk = f"at risk {when}: {wording.count(f['at_risk_count'])}"
        if f.get("at_risk_names"):
            at_risk += f" ({_names(f['at_risk_names'])})"
        parts.append(at_risk)
    if verifying and f.get("stopped"):
        listed = f" ({_names(f['stopped_names'])})" if f.get("stopped_names") else ""
        parts.append(f"stopped checking in since the change: {wording.count(f['stopped'])}{listed}")
    if f.get("legacy_agents"):
        parts.append(f"{wording.count(f['legacy_agents'])} on 14.2/14.2.1 agents")
    parts.append(f"gives up at {wording.when(f['give_up'])} (maxSoak {wording.span(f['max_soak'])})")
    return "; ".join(parts)


# --- one body per code ---------------------------------------------------------------------------------------------

_UNKNOWN: Mapping[str, Callable[[Facts], str]] = {
    "replication": lambda f: "the replication status could not be read",
    "clock": lambda f: "the manager's clock could not be read",
    "groups": lambda f: "the client groups could not be read",
    "flags": lambda f: f"the verification flag of {f['groups']} is unknown",
    "acknowledgement": lambda f: "client acknowledgement could not be counted",
    "counted": lambda f: (
        f"clients were counted against {_when(f.get('counted'), 'no change time')} instead of "
        f"{wording.when(f['change'])}"
    ),
    "ports": lambda f: f"the served certificate cannot be seen: {f['problems']}",
    "still_off": lambda f: "it cannot be confirmed that certificate verification is still off",
    "verifying": lambda f: f"verification reads on for {f['groups']}",
    "served": lambda f: f"the served certificate cannot be confirmed ({f['problems']})",
    "partial": lambda f: (
        f"{f['parts']} could not be observed, and a rollout never starts on a partial observation"
    ),
    "end_state": lambda f: f"the end state cannot be confirmed: {f['parts']} could not be read",
}


def _detail(f: Facts) -> str:
    if f.get("api_error"):
        return f" [the SEPM REST API cannot be used: {f['api_error']}]"
    errors = tuple(f.get("errors") or ())
    return f" [{'; '.join(errors[:2])}{'; …' if len(errors) > 2 else ''}]" if errors else ""


def _unknown(f: Facts) -> str:
    if f.get("what") == "observation":
        return f"holding, not observed this time ({f['error']}); nothing moves on an unknown observation"
    return f"holding, {_UNKNOWN[f['what']](f)}{_detail(f)} (nothing moves on an unknown observation)"


def _in_sync(f: Facts) -> str:
    if f.get("incomplete"):
        return f"in sync at the last complete observation; now {f['incomplete']}"
    text = f"in sync: every port presents {wording.fingerprint(f.get('fingerprint'))}"
    holding = f.get("holding")
    return text + (f" ({_body(holding)})" if isinstance(holding, Said) else "")


def _drift(f: Facts) -> str:
    ports = list(f["ports"])
    what_ = wording.fingerprint(f["presented"]) if f.get("presented") else "other certificates"
    verb = "presents" if len(ports) == 1 and f["of"] > 1 else "present"
    return f"drift: {wording.ports(ports, of=f['of'])} {verb} {what_}, the spec wants {wording.fingerprint(f['desired'])}"


def _window(f: Facts) -> str:
    if f.get("error"):
        return f"the maintenance window cannot be evaluated: {f['error']}"
    opens = f"; it next opens {wording.when(f['opens'])}" if f.get("opens") else ""
    return f"outside the maintenance window ({f['window']}){opens}"


def _partners_waiting(f: Facts) -> str:
    waiting = "; ".join(
        f"{site} ({server}) is at step {step} ({phase})" for site, server, step, phase in f["waiting"]
    )
    return f"replication is restored only when both partners have reached step {f.get('step', 7)}: {waiting}"


def _at(pairs: Any) -> str:
    return "; ".join(f"{name} is at {where}" for name, where in pairs)


def _site_step(f: Facts, *, done: bool) -> str:
    if done:
        return f"step {f['step']} was done for site {f['site']!r} on the API of {f['lead']}"
    return (
        f"done once for site {f['site']!r}, on the API of {f['lead']} (now at {f['lead_at']}): this server follows "
        "it and acts on nothing here"
    )


def _swap_turn(f: Facts) -> str:
    return (
        f"{_names(f['swapping'])} of site {f['site']!r} is swapping its certificate; at most "
        f"{f['concurrency']} server(s) of a site swap at once (rollout.site.swapConcurrency), so that clients fail "
        "over to a server that still answers"
    )


def _waves_waiting(f: Facts) -> str:
    waiting = "; ".join(f"{name} (wave {wave}) is at {where}" for name, wave, where in f["waiting"])
    return f"wave {f['wave']} swaps only when every earlier wave has passed step 4b: {waiting}"


def _attempt_wait(f: Facts) -> str:
    if f.get("running"):
        group = f" (process group {f['running']})" if f["running"] is not True else ""
        late = "past its timeout, being ended" if f.get("overdue") else "within its timeout"
        return (
            f"{what(f)}: attempt {f['number']} started {wording.when(f['started'])} is still running{group}, {late}; "
            f"no other attempt starts beside it (looking again at {wording.when(f['until'])})"
        )
    if f.get("succeeded"):
        return (
            f"{what(f)}: attempt {f['number']} reported success; waiting for its effect to be observed "
            f"(until {wording.when(f['until'])})"
        )
    return (
        f"{what(f)}: attempt {f['number']} started {wording.when(f['started'])} and has no result yet (it may still "
        f"be running); waiting until {wording.when(f['until'])} before judging it"
    )


def _then_awaited(text: str, f: Facts) -> str:
    waiting = f.get("waiting")
    return f"{text}. {awaited(waiting)}" if isinstance(waiting, Said) else text


def _nth(f: Facts) -> str:
    """ "attempt N of MAX"; once the step was entered again (a resume, a revert) attempt numbers go on across the
    rollout while the maximum counts from the entry: "attempt 9 (1 of 8 since the step was entered again)"."""
    number, tried = f["number"], f.get("try", f["number"])
    if tried == number:
        return f"attempt {number} of {f['max']}"
    return f"attempt {number} ({tried} of {f['max']} since the step was entered again)"


def _started(f: Facts) -> str:
    if f.get("event"):
        return f"{f['summary']}: {_nth(f)} ({f['via']}, timeout {wording.span(f['timeout'])})"
    return _then_awaited(f"{f['summary']} — {_nth(f)} ({f['via']})", f)


def _end_state(f: Facts) -> str:
    missing = []
    if f.get("groups"):
        missing.append(f"certificate verification is off on {f['groups']}")
    if f.get("partners"):
        missing.append(f"replication with {_names(f['partners'])} is not established")
    text = f"every port presents the desired certificate {wording.fingerprint(f['fingerprint'])}, but " + (
        " and ".join(missing) or "the end state is not reached"
    )
    to = f.get("to_step")
    if to:
        return f"{text}: resolving it from observation from step {to} ({f.get('next', '')})"
    return text


def _swap_observed(f: Facts) -> str:
    return (
        f"every port already presents the target {wording.fingerprint(f['target'])} although the record is at "
        f"step {f['step']} (an older state, e.g. a restored backup): the swap happened, so the rollout goes on from "
        "step 4's checks, never back"
    )


def _reestablished(f: Facts) -> str:
    text = f"replication with {_names(f['partners'])} is established again during step {f['step']}"
    if f.get("after_swap"):
        return (
            f"{text}, after the certificate changed: the partner would replicate settings into a site whose clients "
            "are half-way; it must be broken again by a person"
        )
    return f"{text}, before the certificate changed: breaking it again (step {f.get('to_step', 1)})"


def _canary(f: Facts) -> str:
    names = f" ({_names(f['names'])})" if f.get("names") else ""
    return (
        f"{wording.count(f['returned'])} of {wording.count(f['cohort'])} client(s) seen within a heartbeat before the "
        f"swap checked in again by {wording.when(f['return_by'])} (manager time): "
        f"{f['ratio']:.1%}, need {f['min_ratio']:.1%}"
        + (f"; {wording.count(f['silent'])} silent{names}" if f.get("silent") else "")
    )


def _suspects(f: Facts) -> str:
    if f.get("awaiting"):
        return (
            f"the canary analysis of the swap is judged at {wording.when(f['return_by'])} (manager time): so far "
            f"{wording.count(f['returned'])} of {wording.count(f['cohort'])} client(s) seen within a heartbeat before "
            "it checked in again; verification does not come back before"
        )
    if f.get("halted_by"):
        return (
            f"the canary analysis of {f['halted_by']}'s swap halted every further swap: "
            f"{wording.count(f['silent'])} client(s) silent since it; no swap starts until a person resumes "
            f"{f['halted_by']}: sepm-reconciler resume {f['halted_by']}"
        )
    if f.get("canary"):
        return (
            f"canary analysis failed, rollout halted: {_canary(f)} — probably orphaned by the swap; no further swap "
            f"starts on any server until a person resumes this one: sepm-reconciler resume {f['server']}"
        )
    names = f" ({_names(f['names'])})" if f.get("names") else ""
    return (
        f"{wording.count(f['silent'])} of {wording.count(f['cohort'])} client(s) seen within a heartbeat before the "
        f"swap have not checked in since {wording.when(f['swap_seen'])} (manager time){names}: probably orphaned by "
        "the swap; the rollout does not complete until they check in or a person accepts them: "
        f"{approve_command(f['server'], f['step'], accept_at_risk=True)}"
    )


def _reverted(f: Facts) -> str:
    step = f.get("to_step", "?")
    if f.get("rejoin"):
        return (
            f"replication succeeded, but certificate verification reads off again on {f['groups']} (a re-join "
            f"overwrites the joining site's settings): enabling it again (step {step})"
        )
    if f.get("before_swap"):
        return (
            f"certificate verification was turned back on for {f['groups']} before the certificate changed: "
            f"disabling it again (step {step})"
        )
    doing = "enabling" if f.get("verifying") else "disabling"
    if f.get("unrecorded"):
        return f"the change time of the previous step is not recorded: {doing} it again (step {step})"
    turned = "off" if f.get("verifying") else "back on"
    return f"certificate verification was turned {turned} on {f['groups']}: {doing} it again (step {step})"


def _carried(f: Facts) -> str:
    """An acceptance of an earlier step that covers the same clients, by name."""
    step = f.get("accepted_at_step")
    following = f.get("step")
    if not isinstance(step, int) or step == following:
        return ""
    return f"; accepted at step {step}: the same clients, by name"


def _complete(f: Facts) -> str:
    partners = f.get("partners") or ()
    return (
        f"rollout {f['rollout_id']} complete: every port presents {wording.fingerprint(f['target'])}, certificate "
        "verification is on" + (f", replication with {', '.join(partners)} succeeded" if partners else "")
    )


def _aborted(f: Facts) -> str:
    if f.get("rolled_back"):
        return f"rollout {f['rollout_id']} rolled back: {f['why']}"
    if f.get("before_any_step"):
        return f"rollout aborted by {f['by']} before any step: {f['reason']}"
    if f.get("nothing_changed"):
        return f"rollout aborted by {f['by']} ({f['reason']}); nothing had changed yet"
    return (
        f"the rollout was aborted by {f['by']} at {wording.when(f['at'])} ({f['reason']}) and is not restarted for "
        f"this certificate and spec revision: sepm-reconciler resume {f['server']} restarts it, so does a new spec "
        "revision"
    )


def _resumed(f: Facts) -> str:
    if f.get("by"):
        why = f"resumed by {f['by']}" + (f" ({f['reason']})" if f.get("reason") else "")
    else:
        why = f"the spec changed (revision {f['revision']}): a new attempt"
    return f"{why}: continuing at {f['phase']} (step {f['step']}); attempts are counted afresh"


def _exhausted(f: Facts) -> str:
    failures = f["failures"]
    return f"{what(f)} failed {failures} time{'s' if failures != 1 else ''} (maximum {f['max']}); last: {f['last']}"


def _collateral(f: Facts) -> str:
    flag = "on" if f["enabled"] else "off"
    restored = {
        True: "its document was written back as it was",
        False: "writing its document back FAILED: check it by hand",
        None: "its document was not written back",
    }[f.get("restored")]
    done = f.get("done", 0)
    before = f" ({done} group(s) before it were changed cleanly)" if done else ""
    return (
        f"turning certificate verification {flag} on {f['group']} changed other settings too "
        f"({', '.join(f['fields'])}); {restored}; no other group was touched{before}"
    )


def _unexpected(f: Facts) -> str:
    ports = "; ".join(f"{name} presents {wording.fingerprint(fp)}" for name, fp in f["ports"])
    return f"{ports}, which is not the rollout's target {wording.fingerprint(f['target'])}" + (
        " nor the certificate served before" if f.get("before") else ""
    )


def _changed(f: Facts) -> str:
    ports = list(f["ports"])
    verb = "presents" if len(ports) == 1 else "present"
    return (
        f"{wording.ports(ports, of=f['of'])} now {verb} another certificate: past the point of no return (only "
        "forward from here)"
    )


def _retargeted(f: Facts) -> str:
    text = f"the spec now asks for {wording.fingerprint(f['new'])} instead of {wording.fingerprint(f['old'])}"
    if not f.get("started"):
        return f"{text} (no step had started)"
    return (
        f"{text}; steps 1-3 do not depend on the certificate, so the rollout continues towards the new one "
        "(approvals given for the old target no longer count)"
    )


_FORWARD_ONLY = (
    "rolling back now could orphan clients that already trust the new certificate, so the rollout only goes "
    "forward. To put the old certificate back, install it on every port yourself (your update hook or the "
    "console); the reconciler then sees drift and follows the spec again."
)


def _refusal(f: Facts) -> str:
    server, why = f["server"], f["why"]
    if why == "none":
        return f"{server} has no rollout in progress ({f['phase']}): nothing to abort"
    if why == "rolling_back":
        return f"{server} is already rolling back"
    if why == "site":
        return (
            f"{server} is one site rollout with {f['swapping']}, which is past step 3 (its certificate update has "
            "begun): rolling this server back would turn verification on for the site's clients while another server "
            f"of the site swaps; {_FORWARD_ONLY}"
        )
    if why == "past":
        return f"{server} is at step {f['step']}: the served certificate has already changed; {_FORWARD_ONLY}"
    if why == "changed":
        return (
            f"{server} is at step {f['step']} and a port has presented another certificate since "
            f"{wording.when(f['since'])}; {_FORWARD_ONLY}"
        )
    how = (
        f"attempt {f['attempt']} started {wording.when(f['started'])}"
        if f.get("attempt")
        else "the operator was told to install it"
    )
    return f"{server} is at step {f['step']} and the certificate update has begun ({how}); {_FORWARD_ONLY}"


def _finished(f: Facts) -> str:
    status = attempt_status(f["succeeded"], f.get("exit_code"), f.get("detail") or "")
    if f.get("judged"):
        return f"{f['summary']}: attempt {f['number']} late result: {status} (already judged {f['judged']})"
    return f"{f['summary']}: attempt {f['number']} {status}"


_BODIES: Mapping[Code, Callable[[Facts], str]] = {
    Code.IN_SYNC: _in_sync,
    Code.NOT_OBSERVED_YET: lambda f: "not observed yet",
    Code.OBSERVATION_UNKNOWN: _unknown,
    Code.PROCEDURE_VERSION_UNKNOWN: lambda f: (
        f"rollout {f['rollout_id']} started with procedure version {f['version']}, which this sepm-reconciler does "
        f"not know (it knows {f['known']}): holding; upgrade sepm-reconciler to continue it"
    ),
    Code.SUSPENDED: lambda f: (
        f"suspended by {f['by']} at {wording.when(f['at'])} ({f['reason']}): sepm-reconciler resume {f['server']}"
    ),
    Code.REPORT_MODE: lambda f: "report mode (spec.rollout.mode: report): observing only, never acting",
    Code.ABORTED: _aborted,
    Code.APPROVAL_MISSING: lambda f: (
        f"step {f['step']} needs an approval: {approve_command(f['server'], f['step'])}"
    ),
    Code.WINDOW_CLOSED: _window,
    Code.HOOK_UNUSABLE: lambda f: f"the rollout does not start: {f['error']}",
    Code.KEYSTORE_UNUSABLE: lambda f: (
        f"holding before any change: the keystore step 4 installs cannot be used ({f['error']}); fix "
        "spec.certificate.keystore or its password (sepm-reconciler validate --check-secrets checks it)"
    ),
    Code.CERTIFICATE_UNUSABLE: lambda f: (
        f"holding: {f['error']}; fix spec.certificate of {f['server']} ({f['file']}): nothing is done for this "
        "server until then"
    ),
    Code.PARTNER_ROTATING: _partners_waiting,
    Code.SITE_STEP_ON_PEER: lambda f: _site_step(f, done=False),
    Code.SITE_STEP_DONE_ON_PEER: lambda f: _site_step(f, done=True),
    Code.SITE_SWAP_TURN: _swap_turn,
    Code.SITE_PEER_DOWN: lambda f: (
        f"{_names(f['down'])} of site {f['site']!r} did not answer its last look: {f['server']} does not swap while "
        "its clients could not fail over"
    ),
    Code.SITE_SWAPS_PENDING: lambda f: (
        f"step 5a waits until every server of site {f['site']!r} has swapped and its clients fetched the new "
        f"certificate: {_at(f['waiting'])}"
    ),
    Code.SITE_ROLLOUT_BUSY: lambda f: (
        f"site {f['site']!r} is past step 3 of its rollout ({_at(f['ahead'])}): {f['server']} starts with the "
        "site's next rollout"
    ),
    Code.EARLIER_WAVE_PENDING: _waves_waiting,
    Code.NEW_CERTIFICATE_UNTRUSTED: _untrusted,
    Code.MANAGEMENT_SERVER_LIST_MISSING: _list_missing,
    Code.LIST_SWITCHED: lambda f: _list_done(f, to_http=True),
    Code.LIST_SWITCH_SKIPPED: lambda f: (
        f"the management server list switch is skipped ({f['reason']}): every client counts at risk before the swap"
    ),
    Code.LIST_RESTORED: lambda f: _list_done(f, to_http=False),
    Code.LIST_REVERTED: _list_reverted,
    Code.SWITCH_LIST_FAILED: _exhausted,
    Code.RESTORE_LIST_FAILED: _exhausted,
    Code.UNDECLARED_PARTNER: lambda f: (
        f"{f['server']} replicates with {', '.join(f['names'])}, which spec.replication.partners does not declare: "
        "the procedure would restore the partnership while the partner is half-rotated"
    ),
    Code.SOAK_NOT_OVER: lambda f: f"waiting for clients: {_acknowledgement(f)}",
    Code.CLIENTS_NOT_READY: lambda f: f"waiting for clients: {_acknowledgement(f)}",
    Code.EFFECT_PENDING: lambda f: _then_awaited(_attempt_wait(f), f),
    Code.RETRY_PENDING: lambda f: _then_awaited(
        f"{what(f)}: {_nth(f)} failed ({f['last']}); retrying at {wording.when(f['until'])}",
        f,
    ),
    Code.ACTION_STARTED: _started,
    Code.MANUAL_STEP_PENDING: lambda f: _then_awaited(
        f"waiting for an operator to {f['summary']} (instructions in status)", f
    ),
    Code.ROLLOUT_STARTED: lambda f: (
        f"{sentence(f['drift'])}: starting rollout {f['rollout_id']} with step {f.get('to_step', 1)} "
        f"({f.get('next', 'break replication')})"
    ),
    Code.REPLICATION_BROKEN: lambda f: (
        f"replication with {_names(f['partners'])} is broken (observed)"
        if f.get("partners")
        else "no replication partner declared"
    ),
    Code.VERIFICATION_DISABLED: lambda f: (
        f"certificate verification reads off for all {f['groups']} managed groups (read back); clients must "
        f"acknowledge the change of {wording.when(f['change_time'])} (manager time)"
    ),
    Code.VERIFICATION_ENABLED: lambda f: (
        f"certificate verification reads on for all {f['groups']} managed groups (read back); clients must "
        f"acknowledge the change of {wording.when(f['change_time'])} (manager time)"
    ),
    Code.CLIENTS_READY: lambda f: f"clients ready: {_acknowledgement(f)}",
    Code.AT_RISK_ACCEPTED: lambda f: (
        f"minimum soak over and {wording.count(f['at_risk_count'])} client(s) at risk accepted by {f['by']} "
        f"({f['why']}{_carried(f)}): {_acknowledgement(f)}"
    ),
    Code.CERTIFICATE_SERVED: lambda f: (
        f"every port presents {wording.fingerprint(f['target'])} and the API answers (version {f['version']}, "
        "authenticated)"
    ),
    Code.ROLLOUT_COMPLETE: _complete,
    Code.ROLLOUT_SUPERSEDED: lambda f: (
        f"{_complete(f)}; the spec now asks for {wording.fingerprint(f['desired'])}: a new rollout follows"
    ),
    Code.CONVERGED: lambda f: (
        f"every port now presents the desired certificate {wording.fingerprint(f['fingerprint'])}: nothing to do"
    ),
    Code.VERIFICATION_REVERTED: _reverted,
    Code.END_STATE_DRIFT: _end_state,
    Code.SWAP_OBSERVED: _swap_observed,
    Code.REPLICATION_REESTABLISHED: _reestablished,
    Code.SUSPECTED_ORPHANS: _suspects,
    Code.DOMAIN_NOT_VISIBLE: lambda f: (
        f"the API credentials do not see the domain(s) {', '.join(map(repr, f['domains']))}"
        + (" the rollout counted earlier" if f.get("gone") else " that spec.rollout.clients.domains names")
        + (f" (they see {', '.join(map(repr, f['visible']))})" if f.get("visible") else "")
        + ": their groups and clients cannot be seen (an unseen domain is never a smaller fleet)"
    ),
    Code.CANARY_PASSED: lambda f: f"canary analysis passed: {_canary(f)}",
    Code.SPEC_REVERTED: lambda f: (
        f"the spec now asks for {wording.fingerprint(f['desired'])}, which every port presented before the rollout "
        f"started: undoing steps 1-{f['step']} (restoring verification, then replication)"
    ),
    Code.ABORT_REQUESTED: lambda f: (
        f"abort requested by {f['by']} ({f['reason']}): undoing steps 1-{f['step']}"
        + (" (restoring verification, then replication)" if f.get("restoring") else "")
    ),
    Code.ROLLED_BACK: lambda f: (
        f"rolled back ({f['why']}); every port presents the desired certificate"
        if f.get("to") == "in_sync"
        else f"rolled back ({f['why']}): verification and replication are as before the rollout"
    ),
    Code.RESUMED: _resumed,
    Code.MAX_SOAK_EXCEEDED: lambda f: (
        f"clients did not acknowledge the change within maxSoak ({wording.span(f['max_soak'])}): "
        f"{_acknowledgement(f)}"
    ),
    Code.BREAK_REPLICATION_FAILED: _exhausted,
    Code.SET_VERIFICATION_FAILED: _exhausted,
    Code.UPDATE_CERTIFICATE_FAILED: _exhausted,
    Code.RESTORE_REPLICATION_FAILED: _exhausted,
    Code.REPLICATE_NOW_FAILED: _exhausted,
    Code.UNEXPECTED_CERTIFICATE: _unexpected,
    Code.COLLATERAL_SETTINGS_CHANGE: _collateral,
    Code.NO_MANAGED_GROUPS: lambda f: (
        "no managed client group found on the manager"
        + (f" (spec.rollout.clients.groups: {', '.join(f['chosen'])})" if f.get("chosen") else "")
    ),
    Code.DRIFT_DETECTED: _drift,
    Code.RETARGETED: _retargeted,
    Code.CERTIFICATE_CHANGED: _changed,
    Code.ATTEMPT_LOST: lambda f: (
        f"{what(f)}, attempt {f['number']}: {attempt_judged(Code.ATTEMPT_LOST, f['deadline'])}"
    ),
    Code.ATTEMPT_INEFFECTIVE: lambda f: (
        f"{what(f)}, attempt {f['number']}: {attempt_judged(Code.ATTEMPT_INEFFECTIVE, f['deadline'])}"
    ),
    Code.ATTEMPT_FINISHED: _finished,
    Code.ABORT_REFUSED: lambda f: (
        (f"abort requested by {f['by']} refused: " if f.get("by") else "") + _refusal(f)
    ),
    Code.UNRECORDED: lambda f: str(f.get("reason", "")),
}

_LOCATED = frozenset(
    {
        Code.OBSERVATION_UNKNOWN,
        Code.SOAK_NOT_OVER,
        Code.CLIENTS_NOT_READY,
        Code.EFFECT_PENDING,
        Code.RETRY_PENDING,
        Code.ACTION_STARTED,
        Code.MANUAL_STEP_PENDING,
        Code.PARTNER_ROTATING,
        Code.SITE_STEP_ON_PEER,
        Code.MAX_SOAK_EXCEEDED,
        Code.BREAK_REPLICATION_FAILED,
        Code.SWITCH_LIST_FAILED,
        Code.SET_VERIFICATION_FAILED,
        Code.UPDATE_CERTIFICATE_FAILED,
        Code.RESTORE_LIST_FAILED,
        Code.RESTORE_REPLICATION_FAILED,
        Code.REPLICATE_NOW_FAILED,
        Code.UNEXPECTED_CERTIFICATE,
        Code.NO_MANAGED_GROUPS,
        Code.SUSPECTED_ORPHANS,
        Code.MANAGEMENT_SERVER_LIST_MISSING,
        Code.COLLATERAL_SETTINGS_CHANGE,
    }
)
"""Codes whose sentence starts with where the server is (``"step 3: …"``)."""


def _body(said: Said) -> str:
    return _BODIES[said.code](said.facts)


def sentence(said: Said) -> str:
    """The reason a person reads. A hold behind a gate reads ``"<what is done>; <the gate>"``; a request that holds
    a rollout under way reads ``"step 3 (phase): <the request>; the rollout holds and nothing is done"``."""
    f = said.facts
    if "recorded" in f:  # a reason recorded before (a stall's), shown as it was worded then
        return str(f["recorded"])
    body = _body(said)
    if isinstance(action := f.get("holds_action"), Said):  # a gate holding an action of the step
        body = f"{body}: {what(action.facts)} does not start now. {awaited(action)}"
    after = f.get("after")
    where = f.get("where")
    if isinstance(after, Said):
        if after.code is Code.DRIFT_DETECTED:
            return f"{_body(after)}; {body}"
        return f"{where} done ({_body(after)}); {body}"
    if f.get("phase") and where:
        return f"{where} ({f['phase']}): {body}; the rollout holds and nothing is done"
    if where and (said.code in _LOCATED or "holds_action" in f):
        return f"{where}: {body}"
    if f.get("next") and f.get("forward"):
        return f"{body}: {f['next']} next"
    return body


def remedy(said: Said) -> str | None:
    """What a person does about a stall with this reason (None when it is not a stall)."""
    f = said.facts
    code = said.code
    if code is Code.MAX_SOAK_EXCEEDED:
        return (
            "raise spec.rollout.clients.maxSoak, lower minAckRatio or shorten excludeOfflineFor and commit (a new spec "
            f"revision resumes the rollout); or accept the {wording.count(f['at_risk_count'])} client(s) at risk: "
            f"{approve_command(f['server'], f['step'], accept_at_risk=True)}, {_resume(f)}"
        )
    if code is Code.BREAK_REPLICATION_FAILED:
        return (
            "delete the replication partnership in the console (Admin > Servers > Local Site > Replication "
            f"Partners) or fix the hook; {_resume(f)}"
        )
    if code in (Code.SWITCH_LIST_FAILED, Code.RESTORE_LIST_FAILED):
        assign = (
            f"assign {f['list']} to all groups and locations in the console (Policies > Policy Components > "
            "Management Server Lists > Assign) or fix the hook"
        )
        if f.get("unmoved"):
            return (
                f"the manager does not show the list of {f['unmoved']} and their policy serial did not move after "
                f"{_when(f.get('started'), 'the sub-step began')}, so the assignment cannot be told from here: {assign}; "
                f"if they already use {f['list']}, make a policy change on those groups so their serial moves; "
                + _resume(f)
            )
        return f"{assign}; {_resume(f)}"
    if code is Code.SUSPECTED_ORPHANS and f.get("canary"):
        return (
            "find out why the named clients went silent after the swap (a group left out of "
            "spec.rollout.clients.groups or a domain left out of rollout.clients.domains still verified the old "
            "certificate: re-enrol those clients, e.g. with a communication package), then: "
            f"sepm-reconciler resume {f['server']}"
        )
    if code is Code.MANAGEMENT_SERVER_LIST_MISSING:
        return (
            "set spec.rollout.managementServerList to {http: NAME, original: NAME} — the HTTP copy of the clients' list "
            "and the list they use now — or to {skip: true, reason: WHY}, and commit: a new spec revision resumes "
            "the rollout"
        )
    if code is Code.SET_VERIFICATION_FAILED:
        on_off = "on" if f.get("enabled") else "off"
        setting = "'Enable secure communications … by using digital certificates'"
        where = "in Clients > Policies > General Settings > Security Settings"
        if f.get("again"):
            return f"set {setting} on again {where} for {f['groups']}, then run: sepm-reconciler resume {f['server']}"
        if f.get("stuck"):
            return (
                f"the flag reads {on_off} on {f['stuck']} but their policy serial did not move after "
                f"{_when(f.get('started'), 'the step began')}, so client acknowledgement cannot be measured: make a "
                f"policy change on those groups so their serial moves, {_resume(f)}"
            )
        return (
            f"check that the API account may edit group policies, or set {setting} {on_off} {where} for "
            f"{f['groups']} by hand, {_resume(f)}"
        )
    if code is Code.UPDATE_CERTIFICATE_FAILED:
        return (
            "install the certificate by hand (Admin > Servers > Manage Server Certificate), restart semsrv, "
            "semwebsrv and semapisrv, or fix the hook; the old certificate can no longer be rolled back to by the "
            f"reconciler once any port changed; {_resume(f)}"
        )
    if code is Code.RESTORE_REPLICATION_FAILED:
        return (
            "add the replication partner again in the console (Admin > Servers > Local Site > Replication "
            f"Partners) or fix the hook; {_resume(f)}"
        )
    if code is Code.REPLICATE_NOW_FAILED:
        return (
            f"replication with {f['partner']} does not succeed (status {f['status']}): check that both sites trust "
            "each other's new certificate and can reach each other on port 8443, replicate from the console, "
            + _resume(f)
        )
    if code is Code.UNEXPECTED_CERTIFICATE:
        return (
            "find out who installed that certificate; install the target certificate on every port and restart "
            f"the SEPM services, {_resume(f)}"
        )
    if code is Code.REPLICATION_REESTABLISHED and f.get("after_swap"):
        return (
            f"break the replication partnership with {_names(f['partners'])} again in the console (Admin > Servers > "
            f"Local Site > Replication Partners) — it is restored in step 7 once every partner has reached it; "
            + _resume(f)
        )
    if code is Code.NO_MANAGED_GROUPS:
        return (
            "make spec.rollout.clients.groups name existing groups by full path (e.g. My Company\\Laptops), or leave "
            "it empty for every group that does not inherit, and commit: a new spec revision resumes the rollout"
        )
    if code is Code.COLLATERAL_SETTINGS_CHANGE:
        return (
            f"check {', '.join(f['fields'])} of {f['group']} in the console (Clients > Policies), find out why this "
            "manager's settings PATCH changes more than the field sent (sepm-reconciler probe --rehearse on an empty "
            f"group shows how it behaves), {_resume(f)}"
        )
    if code is Code.UNDECLARED_PARTNER:
        names = ", ".join(f["names"])
        return (
            f"add {names} to spec.replication.partners (it is then broken in step 1 and restored in step 7) and "
            "commit: a new spec revision resumes the rollout"
        )
    return None
