"""Carrying out the one action a decision asks for: a user hook (steps 1, 2a, 4a, 5b, 7) or a SEPM REST call (2b,
5a, 7).

Manual actions are not performed here: their instructions are in the decision's reason and the record's pending
action, and the step completes when its effect is observed. Whatever happens, :func:`perform_action` returns an
:class:`ActionOutcome` (it never raises for the action's own failure): the engine records it as the attempt's
result. Success only means "the command said so" — observation completes a step.

The hook environment (documented in :mod:`reconciler.hooks` and docs/operations.md)::

    SEPM_RECONCILER_SERVER, _STEP, _STEP_NAME, _ROLLOUT_ID, _ATTEMPT, _API_URL, _SITE, _PARTNERS (1, 7),
    _LIST (2a, 5b: the management server list to assign), _DESIRED_FINGERPRINT, and for step 4:
    _KEYSTORE_FILE, _KEYSTORE_KEY_FILE, _KEYSTORE_PASSWORD

Least secret per hook: the keystore password reaches step 4's hook as ``_KEYSTORE_PASSWORD`` and nothing else
secret reaches any hook. Every secret value the specs reference (the API credentials and keystore passwords of
every server) and whatever the caller adds (the daemon's webhook URL) is withheld from the environment the hook
inherits — under whatever variable name holds it — and masked in the captured output before it is kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reconciler.core.actions import (
    Action,
    BreakReplication,
    Performer,
    ReplicateNow,
    RestoreOriginalList,
    RestoreReplication,
    SetVerification,
    SwitchToHttpList,
    UpdateCertificate,
)
from reconciler.core.codes import Code
from reconciler.core.observation import GroupObservation, ServerObservation
from reconciler.core.said import Said
from reconciler.core.spec import CommandAction
from reconciler.errors import Error, SecretError
from reconciler.hooks import HookResult, OnStart, resolve_hook, run_hook
from reconciler.sepm import CollateralSettingsChange, SepmClient, replicate_now, set_secure_communications
from reconciler.specs import LoadedServer, resolve_secret

__all__ = ["ActionOutcome", "HookRunner", "StallRequest", "hook_variables", "perform_action", "spec_secrets"]

log = logging.getLogger("reconciler.engine")

_DETAIL_OUTPUT = 300  # characters of hook output kept in the attempt's detail (the record keeps 500 in all)
_START_WITHIN = 0.75  # share of an API action's time in which a new group may still be started


class HookRunner(Protocol):
    """Runs a hook; :func:`reconciler.hooks.run_hook` is the real one (tests may wrap it)."""

    async def __call__(
        self,
        argv: Sequence[str],
        *,
        variables: Mapping[str, str],
        timeout_s: float,
        secrets: Sequence[str] = (),
        cwd: Path | None = None,
        environment: Mapping[str, str] | None = None,
        on_start: OnStart | None = None,
    ) -> HookResult: ...


@dataclass(frozen=True, slots=True)
class StallRequest:
    """An action found something no retry can fix: the rollout stalls now, for this reason (its code and facts)."""

    said: Said


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """How an action ended. ``exit_code`` is the hook's (None for API calls and killed hooks); ``stall`` set when
    the rollout must stall at once (a settings PATCH that changed other fields)."""

    succeeded: bool
    detail: str = ""
    exit_code: int | None = None
    duration_s: float = 0.0
    output_tail: str = ""  # the hook's last output, secrets masked (not stored: shown by reconcile)
    stall: StallRequest | None = None


def _secret_values(server: LoadedServer) -> list[str]:
    """Every secret the spec references that resolves now: masked in hook output."""
    spec = server.spec.spec
    refs = [spec.server.credentials.password]
    if not isinstance(spec.server.credentials.username, str):
        refs.append(spec.server.credentials.username)
    if spec.certificate.keystore is not None and spec.certificate.keystore.password is not None:
        refs.append(spec.certificate.keystore.password)
    values = []
    for ref in refs:
        try:
            values.append(resolve_secret(ref, server.base_dir))
        except SecretError:
            continue
    return values


def spec_secrets(servers: Iterable[LoadedServer]) -> list[str]:
    """Every secret value the specs of ``servers`` reference that resolves now (API credentials, keystore
    passwords): withheld from every hook's inherited environment and masked in its output."""
    values: list[str] = []
    for server in servers:
        values.extend(v for v in _secret_values(server) if v not in values)
    return values


def hook_variables(
    server: LoadedServer, action: Action, *, rollout_id: str, desired: str
) -> tuple[dict[str, str], list[str]]:
    """The ``SEPM_RECONCILER_*`` variables of a hook run and the secret values to mask in its output.

    Raises :class:`~reconciler.errors.SecretError` when the keystore password (step 4) cannot be resolved.
    """
    spec = server.spec.spec
    variables = {
        "SEPM_RECONCILER_SERVER": server.name,
        "SEPM_RECONCILER_STEP": str(action.step),
        "SEPM_RECONCILER_STEP_NAME": action.kind.value,
        "SEPM_RECONCILER_ROLLOUT_ID": rollout_id,
        "SEPM_RECONCILER_ATTEMPT": str(action.attempt),
        "SEPM_RECONCILER_API_URL": spec.server.api_url,
        "SEPM_RECONCILER_SITE": spec.server.site,
        "SEPM_RECONCILER_DESIRED_FINGERPRINT": desired,
    }
    if isinstance(action, BreakReplication | RestoreReplication):
        variables["SEPM_RECONCILER_PARTNERS"] = ",".join(action.partners)
    if isinstance(action, SwitchToHttpList | RestoreOriginalList):
        variables["SEPM_RECONCILER_LIST"] = action.list_name
    secrets = _secret_values(server)
    if isinstance(action, UpdateCertificate):
        variables["SEPM_RECONCILER_DESIRED_FINGERPRINT"] = action.fingerprint
        keystore = spec.certificate.keystore
        if keystore is not None:
            variables["SEPM_RECONCILER_KEYSTORE_FILE"] = str(_absolute(keystore.file, server.base_dir))
            if keystore.key_file is not None:
                variables["SEPM_RECONCILER_KEYSTORE_KEY_FILE"] = str(
                    _absolute(keystore.key_file, server.base_dir)
                )
            if keystore.password is not None:
                try:
                    password = resolve_secret(keystore.password, server.base_dir)
                except SecretError as exc:
                    raise SecretError(f"spec.certificate.keystore.password: {exc}") from exc
                variables["SEPM_RECONCILER_KEYSTORE_PASSWORD"] = password
                if password not in secrets:
                    secrets.append(password)
    return variables, secrets


def _settings(server: LoadedServer, action: Action) -> dict[str, str]:
    """The ``environment:`` of the spec's hook that ``action`` runs (plain settings, never secrets)."""
    actions = server.spec.spec.rollout.actions
    for name in type(actions).model_fields:
        how = getattr(actions, name)
        if isinstance(how, CommandAction) and tuple(how.command) == tuple(action.command):
            return dict(how.environment)
    return {}


def _absolute(path: str, base_dir: Path) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else (base_dir / candidate).resolve()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    tail = lines[-1]
    return tail if len(tail) <= _DETAIL_OUTPUT else "…" + tail[-_DETAIL_OUTPUT:]


async def _run_hook(
    server: LoadedServer,
    action: Action,
    *,
    rollout_id: str,
    desired: str,
    runner: HookRunner,
    withheld: Sequence[str],
    on_start: OnStart | None = None,
) -> ActionOutcome:
    started = time.monotonic()
    try:
        variables, secrets = hook_variables(server, action, rollout_id=rollout_id, desired=desired)
    except SecretError as exc:
        return ActionOutcome(False, f"not run: {exc}", duration_s=time.monotonic() - started)
    secrets.extend(value for value in withheld if value and value not in secrets)
    timeout = action.timeout.total_seconds() if action.timeout is not None else 1800.0
    try:
        command = resolve_hook(action.command, server.base_dir)
        if command.legacy is not None:
            log.warning("%s: hook %s", server.name, command.legacy, extra={"server": server.name})
        settings = _settings(server, action)
        extra = {"environment": settings} if settings else {}  # runners that predate it still work without
        result = await runner(
            command.argv,
            variables=variables,
            timeout_s=timeout,
            secrets=secrets,
            cwd=command.cwd,
            on_start=on_start,
            **extra,
        )
    except Error as exc:  # cannot be started, or its process group could not be recorded
        return ActionOutcome(False, f"not run: {exc}", duration_s=time.monotonic() - started)
    said = _last_line(result.output_tail)
    detail = result.summary() + (f"; last output: {said}" if said else "")
    return ActionOutcome(
        result.succeeded,
        detail,
        exit_code=result.exit_code,
        duration_s=result.duration_s,
        output_tail=result.output_tail,
    )


def _group(target_id: str, observation: ServerObservation | None) -> GroupObservation | None:
    for group in observation.groups or () if observation is not None else ():
        if group.id == target_id:
            return group
    return None


def _collateral(action: SetVerification, exc: CollateralSettingsChange) -> ActionOutcome:
    said = Said(
        Code.COLLATERAL_SETTINGS_CHANGE,
        {
            "enabled": action.enabled,
            "group": next((t.path for t in action.groups if t.id == exc.group_id), exc.group_id),
            "fields": exc.fields,
            "restored": exc.restored,
            "done": len(exc.done),
        },
    )
    return ActionOutcome(False, str(exc), stall=StallRequest(said))


async def _set_verification(
    action: SetVerification,
    client: SepmClient,
    observation: ServerObservation | None,
    deadline: float | None,
    name: str,
) -> ActionOutcome:
    groups = [
        _group(t.id, observation)
        or GroupObservation(
            id=t.id,
            full_path_name=t.path,
            inherits=False,
            managed=True,
            secure_communications=None,
            policy_serial=None,
            policy_time=None,
            location_id=t.location_id,
            domain=t.domain,
        )
        for t in action.groups
    ]
    try:
        results = await set_secure_communications(client, groups, action.enabled, deadline=deadline)
    except CollateralSettingsChange as exc:
        return _collateral(action, exc)
    failed = [r for r in results if not r.ok]
    flag = "on" if action.enabled else "off"
    if not failed:
        return ActionOutcome(True, f"{len(results)} group(s) read back {flag}")
    shown = "; ".join(f"{r.full_path_name}: {r.error or 'not confirmed'}" for r in failed[:3])
    more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
    return ActionOutcome(
        False, f"{len(failed)} of {len(results)} group(s) not confirmed {flag}: {shown}{more}"
    )


async def _api(
    action: Action,
    client: SepmClient,
    observation: ServerObservation | None,
    deadline: float | None,
    name: str,
) -> ActionOutcome:
    if isinstance(action, SetVerification):
        return await _set_verification(action, client, observation, deadline, name)
    if isinstance(action, ReplicateNow):
        await replicate_now(client, action.partner)
        return ActionOutcome(True, f"replicatenow with {action.partner} accepted")
    return ActionOutcome(False, f"{action.kind.value} cannot be done through the SEPM API")


async def perform_action(
    action: Action,
    *,
    server: LoadedServer,
    client: SepmClient | None,
    observation: ServerObservation | None,
    rollout_id: str,
    desired: str,
    runner: HookRunner = run_hook,
    withheld: Sequence[str] = (),
    on_start: OnStart | None = None,
) -> ActionOutcome:
    """Run ``action`` (COMMAND or API performer) and say how it ended. Never raises for the action's failure.

    ``withheld``: secret values beyond ``server``'s own (the other servers' credentials, the webhook URL) that a
    hook must not inherit and whose appearance in its output is masked. ``on_start`` gets the hook's process group
    before the hook is let go (the engine records it in the attempt)."""
    if action.performer is Performer.MANUAL:
        return ActionOutcome(False, "manual: an operator performs it (nothing was run)")
    if action.performer is Performer.COMMAND:
        return await _run_hook(
            server,
            action,
            rollout_id=rollout_id,
            desired=desired,
            runner=runner,
            withheld=withheld,
            on_start=on_start,
        )
    if client is None:
        return ActionOutcome(False, "not run: no connection to the manager")
    started = time.monotonic()
    timeout = action.timeout.total_seconds() if action.timeout is not None else None
    # no new group is started in the last quarter of the time: a group is never cut off between PATCH and read-back
    deadline = started + timeout * _START_WITHIN if timeout is not None else None
    try:
        outcome = await asyncio.wait_for(
            _api(action, client, observation, deadline, server.name), timeout=timeout
        )
    except TimeoutError:
        return ActionOutcome(False, f"no answer within {timeout:g} s", duration_s=time.monotonic() - started)
    except Error as exc:
        return ActionOutcome(False, str(exc), duration_s=time.monotonic() - started)
    return ActionOutcome(
        outcome.succeeded,
        outcome.detail,
        outcome.exit_code,
        time.monotonic() - started,
        outcome.output_tail,
        outcome.stall,
    )
