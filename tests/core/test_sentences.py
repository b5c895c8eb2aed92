"""The wording of every code, pinned by a golden file: a change of a sentence is a reviewed change of
``tests/core/golden/sentences.txt``. Regenerate after an intended change and review the diff::

    SEPM_UPDATE_GOLDEN=1 .venv/bin/pytest tests/core/test_sentences.py
    git diff tests/core/golden/
"""

from __future__ import annotations

import difflib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.core.actions import ActionKind
from reconciler.core.codes import CODES, Code, Kind
from reconciler.core.said import Said
from reconciler.core.sentences import awaited, planned_gate, remedy, sentence

GOLDEN = Path(__file__).parent / "golden" / "sentences.txt"
UPDATE = os.environ.get("SEPM_UPDATE_GOLDEN") == "1"
T = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
NEW = "sha256:" + "b2" * 32
OLD = "sha256:" + "a1" * 32
ACK = {
    "verifying": False,
    "acknowledged": 1834,
    "eligible": 1900,
    "ratio": 1834 / 1900,
    "need": 1.0,
    "soak_end": T + timedelta(hours=24),
    "soaked": False,
    "give_up": T + timedelta(days=14),
    "max_soak": timedelta(days=14),
    "pending_offline": 66,
    "longest_unseen": timedelta(days=3),
    "excluded_offline": 12,
    "exclude_offline_for": timedelta(days=7),
    "at_risk_count": 78,
    "at_risk_names": ("laptop-0001", "laptop-0002"),
    "stopped": 0,
    "stopped_names": (),
    "legacy_agents": 3,
}
WHO = {"by": "alice", "at": T, "reason": "change freeze", "server": "sepm-east-01"}
DRIFT = Said(
    Code.DRIFT_DETECTED, {"ports": ("clients", "console", "api"), "of": 3, "presented": OLD, "desired": NEW}
)
WAIT_4 = Said(
    Code.CERTIFICATE_SERVED,
    {
        "ports": "443, 8443, 8446",
        "target": NEW,
        "seen": "clients new, console old, api old",
        "api": "the API answers",
    },
)
WAIT_2 = Said(Code.VERIFICATION_DISABLED, {"enabled": False, "started": T})
HTTP = "Default Management Server List (HTTP)"
LIST = {
    "list": HTTP,
    "groups": 2,
    "shown": 0,
    "hidden": "My Company, My Company\\Laptops",
    "wrong": "",
    "started": T,
}
CONFIRM = "sepm-reconciler approve sepm-east-01 --step 2 --by YOU --reason WHY"
UNTRUSTED = {
    "server": "sepm-east-01",
    "host": "sepm-east-01.corp.example",
    "anchors": "caBundle /etc/sepm/ca.pem",
    "issuer": "CN=Corp Issuing CA 2",
}
EXHAUSTED = {
    "failures": 3,
    "max": 3,
    "last": "exit 1: access denied",
    "where": "step 4",
    "server": "sepm-east-01",
}

SAMPLES: dict[Code, list[Said]] = {
    Code.IN_SYNC: [
        Said(Code.IN_SYNC, {"fingerprint": NEW}),
        Said(Code.IN_SYNC, {"fingerprint": NEW, "holding": Said(Code.SUSPENDED, WHO)}),
        Said(Code.IN_SYNC, {"incomplete": "clients port 443: refused"}),
    ],
    Code.NOT_OBSERVED_YET: [Said(Code.NOT_OBSERVED_YET)],
    Code.OBSERVATION_UNKNOWN: [
        Said(
            Code.OBSERVATION_UNKNOWN,
            {"what": "observation", "error": "api port 8446: connection refused", "where": "step 3"},
        ),
        Said(Code.OBSERVATION_UNKNOWN, {"what": "replication", "where": "step 1", "api_error": "HTTP 500"}),
        Said(Code.OBSERVATION_UNKNOWN, {"what": "clock", "where": "step 4"}),
        Said(
            Code.OBSERVATION_UNKNOWN,
            {"what": "groups", "where": "step 2", "errors": ("groups: HTTP 503", "a", "b")},
        ),
        Said(Code.OBSERVATION_UNKNOWN, {"what": "flags", "groups": "My Company\\Laptops", "where": "step 2"}),
        Said(Code.OBSERVATION_UNKNOWN, {"what": "acknowledgement", "where": "step 3"}),
        Said(Code.OBSERVATION_UNKNOWN, {"what": "counted", "counted": None, "change": T, "where": "step 3"}),
        Said(
            Code.OBSERVATION_UNKNOWN,
            {"what": "ports", "problems": "clients port 443: refused", "where": "not in sync yet"},
        ),
        Said(Code.OBSERVATION_UNKNOWN, {"what": "still_off", "where": "step 4"}),
        Said(Code.OBSERVATION_UNKNOWN, {"what": "verifying", "groups": "My Company", "where": "step 4"}),
        Said(
            Code.OBSERVATION_UNKNOWN, {"what": "served", "problems": "another certificate", "where": "step 7"}
        ),
        Said(Code.OBSERVATION_UNKNOWN, {"what": "replication", "where": "drifted", "after": DRIFT}),
        Said(
            Code.OBSERVATION_UNKNOWN,
            {"what": "partial", "parts": "the client groups", "where": "drifted"},
        ),
    ],
    Code.PROCEDURE_VERSION_UNKNOWN: [
        Said(Code.PROCEDURE_VERSION_UNKNOWN, {"rollout_id": "r-1", "version": 9, "known": "1"})
    ],
    Code.SUSPENDED: [
        Said(Code.SUSPENDED, {**WHO, "after": DRIFT, "where": "drifted"}),
        Said(Code.SUSPENDED, {**WHO, "where": "step 3", "phase": "waiting_unverified"}),
    ],
    Code.REPORT_MODE: [
        Said(Code.REPORT_MODE, {"after": DRIFT, "where": "drifted"}),
        Said(Code.REPORT_MODE, {"where": "step 3", "phase": "waiting_unverified"}),
    ],
    Code.ABORTED: [
        Said(Code.ABORTED, {**WHO, "after": DRIFT, "where": "drifted"}),
        Said(Code.ABORTED, {**WHO, "before_any_step": True}),
        Said(Code.ABORTED, {**WHO, "nothing_changed": True}),
        Said(
            Code.ABORTED,
            {
                "rollout_id": "r-1",
                "why": "abort requested by eve (no): undoing steps 1-3",
                "rolled_back": True,
            },
        ),
    ],
    Code.APPROVAL_MISSING: [
        Said(
            Code.APPROVAL_MISSING, {"step": 1, "server": "sepm-east-01", "after": DRIFT, "where": "drifted"}
        ),
        Said(
            Code.APPROVAL_MISSING,
            {
                "step": 4,
                "server": "sepm-east-01",
                "after": Said(Code.CLIENTS_READY, {**ACK, "soaked": True}),
                "where": "step 3",
            },
        ),
    ],
    Code.WINDOW_CLOSED: [
        Said(
            Code.WINDOW_CLOSED,
            {
                "window": "sat 22:00–04:00 Europe/Madrid",
                "opens": T + timedelta(days=4),
                "after": Said(Code.CLIENTS_READY, {**ACK, "soaked": True}),
                "where": "step 3",
            },
        ),
        Said(
            Code.WINDOW_CLOSED,
            {
                "window": "sat 22:00–04:00 Mars/Olympus",
                "error": "unknown time zone",
                "where": "step 4",
                "holds_action": WAIT_4.but(kind=ActionKind.UPDATE_CERTIFICATE),
            },
        ),
    ],
    Code.KEYSTORE_UNUSABLE: [
        Said(
            Code.KEYSTORE_UNUSABLE,
            {
                "error": "east.yaml:20:7: the password does not open the keystore",
                "after": DRIFT,
                "where": "drifted",
            },
        ),
    ],
    Code.HOOK_UNUSABLE: [
        Said(
            Code.HOOK_UNUSABLE,
            {
                "error": "east.yaml:30:9: spec.rollout.actions.updateCertificate.command: the hook program "
                "./hooks/swap.sh does not exist (relative paths start from the spec file's directory, /srv/specs)",
                "after": DRIFT,
                "where": "drifted",
            },
        ),
    ],
    Code.CERTIFICATE_UNUSABLE: [
        Said(
            Code.CERTIFICATE_UNUSABLE,
            {
                "error": "desired certificate: cannot read east.crt",
                "server": "sepm-east-01",
                "file": "east.yaml",
            },
        ),
    ],
    Code.PARTNER_ROTATING: [
        Said(
            Code.PARTNER_ROTATING,
            {
                "waiting": (("Site West", "sepm-west-01", 3, "waiting_unverified"),),
                "step": 7,
                "where": "step 7",
            },
        ),
    ],
    Code.SITE_STEP_ON_PEER: [
        Said(
            Code.SITE_STEP_ON_PEER,
            {"site": "Site One", "lead": "sepm-a", "step": "2b", "lead_at": "step 2a", "where": "step 2b"},
        ),
    ],
    Code.SITE_STEP_DONE_ON_PEER: [
        Said(
            Code.SITE_STEP_DONE_ON_PEER,
            {
                "site": "Site One",
                "lead": "sepm-a",
                "step": "3",
                "lead_at": "step 4a",
                "next": "update the certificate, restart services",
                "forward": True,
            },
        ),
    ],
    Code.SITE_SWAP_TURN: [
        Said(
            Code.SITE_SWAP_TURN,
            {
                "server": "sepm-b",
                "site": "Site One",
                "swapping": ("sepm-a",),
                "concurrency": 1,
                "where": "step 3",
            },
        ),
    ],
    Code.SITE_PEER_DOWN: [
        Said(
            Code.SITE_PEER_DOWN,
            {"server": "sepm-b", "site": "Site One", "down": ("sepm-a",), "where": "step 3"},
        ),
    ],
    Code.SITE_SWAPS_PENDING: [
        Said(
            Code.SITE_SWAPS_PENDING,
            {"server": "sepm-a", "site": "Site One", "waiting": (("sepm-b", "step 4a"),), "where": "step 4b"},
        ),
    ],
    Code.SITE_ROLLOUT_BUSY: [
        Said(
            Code.SITE_ROLLOUT_BUSY,
            {"server": "sepm-b", "site": "Site One", "ahead": (("sepm-a", "step 5a"),), "where": "drifted"},
        ),
    ],
    Code.EARLIER_WAVE_PENDING: [
        Said(
            Code.EARLIER_WAVE_PENDING,
            {"server": "sepm-west", "wave": 2, "waiting": (("sepm-east", 1, "step 4a"),), "where": "step 3"},
        ),
    ],
    Code.UNDECLARED_PARTNER: [
        Said(
            Code.UNDECLARED_PARTNER,
            {"server": "sepm-east-01", "names": ("Site North",), "after": DRIFT, "where": "drifted"},
        ),
    ],
    Code.NEW_CERTIFICATE_UNTRUSTED: [
        Said(
            Code.NEW_CERTIFICATE_UNTRUSTED,
            {
                **UNTRUSTED,
                "problem": "it does not chain to caBundle /etc/sepm/ca.pem (unable to find issuer)",
                "after": DRIFT,
                "where": "drifted",
            },
        ),
        Said(
            Code.NEW_CERTIFICATE_UNTRUSTED,
            {
                **UNTRUSTED,
                "problem": None,
                "swap": T + timedelta(days=2),
                "not_before": T - timedelta(days=300),
                "not_after": T + timedelta(days=1),
                "after": Said(Code.CLIENTS_READY, {**ACK, "soaked": True}),
                "where": "step 3",
            },
        ),
    ],
    Code.MANAGEMENT_SERVER_LIST_MISSING: [
        Said(
            Code.MANAGEMENT_SERVER_LIST_MISSING,
            {"server": "sepm-east-01", "version": "14.3.9816.7000", "after": DRIFT, "where": "drifted"},
        ),
        Said(
            Code.MANAGEMENT_SERVER_LIST_MISSING,
            {"server": "sepm-east-01", "version": None, "stalls": True, "where": "step 2a"},
        ),
    ],
    Code.SOAK_NOT_OVER: [Said(Code.SOAK_NOT_OVER, {**ACK, "where": "step 3"})],
    Code.CLIENTS_NOT_READY: [
        Said(Code.CLIENTS_NOT_READY, {**ACK, "soaked": True, "where": "step 3"}),
        Said(
            Code.CLIENTS_NOT_READY,
            {
                **ACK,
                "soaked": True,
                "verifying": True,
                "stopped": 2,
                "stopped_names": ("kiosk-7", "laptop-0042"),
                "where": "step 6",
            },
        ),
        Said(
            Code.CLIENTS_NOT_READY,
            {**ACK, "soaked": True, "fetched": True, "legacy_agents": 0, "where": "step 4b"},
        ),
    ],
    Code.EFFECT_PENDING: [
        Said(
            Code.EFFECT_PENDING,
            {
                "kind": ActionKind.UPDATE_CERTIFICATE,
                "number": 1,
                "started": T,
                "until": T + timedelta(minutes=40),
                "waiting": WAIT_4,
                "where": "step 4",
            },
        ),
        Said(
            Code.EFFECT_PENDING,
            {
                "kind": ActionKind.SET_VERIFICATION,
                "enabled": False,
                "number": 2,
                "succeeded": True,
                "until": T + timedelta(minutes=10),
                "waiting": WAIT_2,
                "where": "step 2",
            },
        ),
    ],
    Code.RETRY_PENDING: [
        Said(
            Code.RETRY_PENDING,
            {
                "kind": ActionKind.BREAK_REPLICATION,
                "number": 1,
                "max": 3,
                "last": "exit 1",
                "until": T + timedelta(minutes=5),
                "waiting": Said(Code.REPLICATION_BROKEN, {"site": "Site East", "partners": ("Site West",)}),
                "where": "step 1",
            },
        ),
    ],
    Code.ACTION_STARTED: [
        Said(
            Code.ACTION_STARTED,
            {
                "summary": "install certificate sha256:b2b2… and restart the SEPM services",
                "number": 1,
                "max": 3,
                "via": "running the hook",
                "waiting": WAIT_4,
                "where": "step 4",
            },
        ),
        Said(
            Code.ACTION_STARTED,
            {
                "summary": "ask Site East to replicate now with Site West",
                "number": 1,
                "max": 5,
                "via": "calling the SEPM API",
                "timeout": timedelta(minutes=2),
                "event": True,
            },
        ),
    ],
    Code.MANUAL_STEP_PENDING: [
        Said(
            Code.MANUAL_STEP_PENDING,
            {
                "summary": "restore replication with Site West",
                "waiting": Said(Code.ROLLOUT_COMPLETE, {"site": "Site East", "missing": ("Site West",)}),
                "where": "step 7",
            },
        ),
        Said(
            Code.MANUAL_STEP_PENDING,
            {
                "summary": "ask again",
                "waiting": Said(
                    Code.ROLLOUT_COMPLETE,
                    {"partner": "Site West", "started": T, "status": "FAILED_CONNECT", "last": None},
                ),
                "where": "step 7",
            },
        ),
        Said(
            Code.MANUAL_STEP_PENDING,
            {
                "summary": f"assign the management server list {HTTP} to every group and location",
                "waiting": Said(Code.LIST_SWITCHED, {**LIST, "confirm": CONFIRM}),
                "where": "step 2a",
            },
        ),
        Said(
            Code.MANUAL_STEP_PENDING,
            {
                "summary": "enable again",
                "waiting": Said(Code.VERIFICATION_ENABLED, {"enabled": True, "again": True}),
                "where": "rolling back",
            },
        ),
    ],
    Code.ROLLOUT_STARTED: [
        Said(
            Code.ROLLOUT_STARTED,
            {
                "drift": DRIFT,
                "rollout_id": "r-20261201T080000Z-0a1b2c3d",
                "to_step": 1,
                "next": "break replication",
            },
        ),
    ],
    Code.REPLICATION_BROKEN: [
        Said(
            Code.REPLICATION_BROKEN,
            {"partners": ("Site West",), "next": "disable certificate verification", "forward": True},
        ),
        Said(Code.REPLICATION_BROKEN, {"partners": ()}),
    ],
    Code.LIST_SWITCHED: [
        Said(Code.LIST_SWITCHED, {**LIST, "hidden": "", "shown": 2, "evidence": "read_back"}),
        Said(Code.LIST_SWITCHED, {**LIST, "evidence": "serial_and_hook", "next": "disable", "forward": True}),
        Said(Code.LIST_SWITCHED, {**LIST, "evidence": "serial_and_confirmed"}),
        Said(Code.LIST_SWITCHED, {"evidence": "not_needed", "version": "12.1.6867.6400"}),
    ],
    Code.LIST_SWITCH_SKIPPED: [
        Said(Code.LIST_SWITCH_SKIPPED, {"reason": "every client uses the HTTP list", "evidence": "skipped"})
    ],
    Code.VERIFICATION_DISABLED: [Said(Code.VERIFICATION_DISABLED, {"groups": 2, "change_time": T})],
    Code.CLIENTS_READY: [
        Said(Code.CLIENTS_READY, {**ACK, "soaked": True, "acknowledged": 1900, "ratio": 1.0})
    ],
    Code.AT_RISK_ACCEPTED: [
        Said(Code.AT_RISK_ACCEPTED, {**ACK, "soaked": True, "by": "alice", "why": "retired laptops"}),
        Said(
            Code.AT_RISK_ACCEPTED,
            {
                **ACK,
                "soaked": True,
                "by": "alice",
                "why": "retired laptops",
                "accepted_at_step": 4,
                "step": 7,
            },
        ),
    ],
    Code.CERTIFICATE_SERVED: [Said(Code.CERTIFICATE_SERVED, {"target": NEW, "version": "14.3.10000"})],
    Code.VERIFICATION_ENABLED: [Said(Code.VERIFICATION_ENABLED, {"groups": 2, "change_time": T})],
    Code.LIST_RESTORED: [
        Said(
            Code.LIST_RESTORED,
            {**LIST, "list": "Default Management Server List", "evidence": "serial_and_hook"},
        ),
        Said(
            Code.LIST_RESTORED,
            {**LIST, "list": "Default Management Server List", "evidence": "read_back", "rollback": True},
        ),
        Said(Code.LIST_RESTORED, {"evidence": "not_needed", "rollback": True}),
        Said(Code.LIST_RESTORED, {"evidence": "not_needed"}),
        Said(Code.LIST_RESTORED, {"evidence": "skipped"}),
    ],
    Code.ROLLOUT_COMPLETE: [
        Said(Code.ROLLOUT_COMPLETE, {"rollout_id": "r-1", "target": NEW, "partners": ("Site West",)})
    ],
    Code.ROLLOUT_SUPERSEDED: [
        Said(Code.ROLLOUT_SUPERSEDED, {"rollout_id": "r-1", "target": NEW, "partners": (), "desired": OLD})
    ],
    Code.CONVERGED: [Said(Code.CONVERGED, {"fingerprint": NEW})],
    Code.VERIFICATION_REVERTED: [
        Said(Code.VERIFICATION_REVERTED, {"verifying": False, "groups": "My Company\\Laptops", "to_step": 2}),
        Said(Code.VERIFICATION_REVERTED, {"verifying": True, "groups": "My Company", "to_step": 5}),
        Said(Code.VERIFICATION_REVERTED, {"verifying": False, "unrecorded": True, "to_step": 2}),
        Said(
            Code.VERIFICATION_REVERTED,
            {"verifying": False, "before_swap": True, "groups": "My Company", "to_step": 2},
        ),
        Said(
            Code.VERIFICATION_REVERTED,
            {"verifying": True, "rejoin": True, "groups": "My Company", "to_step": 5},
        ),
    ],
    Code.LIST_REVERTED: [
        Said(
            Code.LIST_REVERTED, {"to": "http", "groups": "My Company\\Laptops", "never": False, "to_step": 2}
        ),
        Said(Code.LIST_REVERTED, {"to": "original", "groups": "My Company", "never": False, "to_step": 5}),
        Said(Code.LIST_REVERTED, {"to": "http", "groups": "", "never": True, "to_step": 2}),
    ],
    Code.SPEC_REVERTED: [Said(Code.SPEC_REVERTED, {"desired": OLD, "step": 3})],
    Code.END_STATE_DRIFT: [
        Said(Code.END_STATE_DRIFT, {"fingerprint": NEW, "groups": "My Company\\Laptops", "partners": ()}),
        Said(
            Code.END_STATE_DRIFT,
            {
                "fingerprint": NEW,
                "groups": "My Company",
                "partners": ("Site West",),
                "to_step": 5,
                "next": "enable certificate verification",
            },
        ),
    ],
    Code.SWAP_OBSERVED: [Said(Code.SWAP_OBSERVED, {"target": NEW, "step": 3, "to_step": 4})],
    Code.REPLICATION_REESTABLISHED: [
        Said(Code.REPLICATION_REESTABLISHED, {"step": 3, "partners": ("Site West",), "to_step": 1}),
        Said(
            Code.REPLICATION_REESTABLISHED,
            {"step": 6, "partners": ("Site West",), "after_swap": True, "server": "sepm-east-01"},
        ),
    ],
    Code.SUSPECTED_ORPHANS: [
        Said(
            Code.SUSPECTED_ORPHANS,
            {
                "silent": 74,
                "cohort": 80,
                "names": ("LAPTOP-0001", "LAPTOP-0002"),
                "swap_seen": T,
                "server": "sepm-east-01",
                "step": 7,
                "where": "step 6",
            },
        ),
        Said(
            Code.SUSPECTED_ORPHANS,
            {
                **{
                    "server": "sepm-east-01",
                    "cohort": 120,
                    "returned": 100,
                    "silent": 20,
                    "ratio": 100 / 120,
                    "min_ratio": 0.98,
                    "names": ("SEPM-EAST-KIOSK-0001", "SEPM-EAST-KIOSK-0002"),
                    "return_by": T,
                    "canary": True,
                },
                "where": "step 4b",
                "to_step": 4,
            },
        ),
        Said(
            Code.SUSPECTED_ORPHANS,
            {
                "halted_by": "sepm-east-01",
                "silent": 20,
                "names": (),
                "server": "sepm-west-01",
                "where": "step 3",
            },
        ),
        Said(
            Code.SUSPECTED_ORPHANS,
            {
                "awaiting": True,
                "silent": 0,
                "returned": 250,
                "cohort": 300,
                "return_by": T,
                "server": "sepm-east-01",
                "where": "step 4b",
            },
        ),
    ],
    Code.DOMAIN_NOT_VISIBLE: [
        Said(Code.DOMAIN_NOT_VISIBLE, {"domains": ("Branch",), "visible": ("Default",)}),
        Said(
            Code.DOMAIN_NOT_VISIBLE,
            {
                "domains": ("Branch",),
                "visible": ("Default",),
                "gone": True,
                "where": "step 3",
                "phase": "waiting_unverified",
            },
        ),
    ],
    Code.CANARY_PASSED: [
        Said(
            Code.CANARY_PASSED,
            {
                "server": "sepm-east-01",
                "cohort": 120,
                "returned": 120,
                "silent": 0,
                "ratio": 1.0,
                "min_ratio": 0.98,
                "names": (),
                "return_by": T,
                "canary": True,
            },
        )
    ],
    Code.ABORT_REQUESTED: [
        Said(Code.ABORT_REQUESTED, {"by": "eve", "reason": "CAB said no", "step": 3}),
        Said(Code.ABORT_REQUESTED, {"by": "eve", "reason": "CAB said no", "step": 3, "restoring": True}),
    ],
    Code.ROLLED_BACK: [
        Said(Code.ROLLED_BACK, {"why": "abort requested by eve (no): undoing steps 1-3", "to": "drifted"}),
        Said(Code.ROLLED_BACK, {"why": "the spec now asks for the old one", "to": "in_sync"}),
    ],
    Code.RESUMED: [
        Said(
            Code.RESUMED, {"by": "bob", "reason": "fixed the hook", "phase": "waiting_unverified", "step": 3}
        ),
        Said(Code.RESUMED, {"revision": "4e5f", "phase": "restoring_replication", "step": 7}),
    ],
    Code.MAX_SOAK_EXCEEDED: [
        Said(
            Code.MAX_SOAK_EXCEEDED,
            {**ACK, "soaked": True, "step": 4, "where": "step 3", "server": "sepm-east-01"},
        )
    ],
    Code.BREAK_REPLICATION_FAILED: [
        Said(
            Code.BREAK_REPLICATION_FAILED,
            {**EXHAUSTED, "kind": ActionKind.BREAK_REPLICATION, "where": "step 1"},
        )
    ],
    Code.SWITCH_LIST_FAILED: [
        Said(
            Code.SWITCH_LIST_FAILED,
            {**EXHAUSTED, **LIST, "kind": ActionKind.SWITCH_TO_HTTP_LIST, "unmoved": "", "where": "step 2a"},
        ),
        Said(
            Code.SWITCH_LIST_FAILED,
            {
                **EXHAUSTED,
                **LIST,
                "kind": ActionKind.SWITCH_TO_HTTP_LIST,
                "unmoved": "My Company",
                "where": "step 2a",
            },
        ),
    ],
    Code.SET_VERIFICATION_FAILED: [
        Said(
            Code.SET_VERIFICATION_FAILED,
            {
                **EXHAUSTED,
                "kind": ActionKind.SET_VERIFICATION,
                "enabled": False,
                "groups": "My Company",
                "stuck": "",
                "started": T,
                "where": "step 2",
            },
        ),
        Said(
            Code.SET_VERIFICATION_FAILED,
            {
                **EXHAUSTED,
                "kind": ActionKind.SET_VERIFICATION,
                "enabled": False,
                "groups": "My Company",
                "stuck": "My Company",
                "started": T,
                "where": "step 2",
            },
        ),
        Said(
            Code.SET_VERIFICATION_FAILED,
            {
                **EXHAUSTED,
                "kind": ActionKind.SET_VERIFICATION,
                "enabled": True,
                "again": True,
                "groups": "My Company",
                "where": "rolling back",
            },
        ),
    ],
    Code.UPDATE_CERTIFICATE_FAILED: [
        Said(Code.UPDATE_CERTIFICATE_FAILED, {**EXHAUSTED, "kind": ActionKind.UPDATE_CERTIFICATE})
    ],
    Code.RESTORE_LIST_FAILED: [
        Said(
            Code.RESTORE_LIST_FAILED,
            {
                **EXHAUSTED,
                **LIST,
                "list": "Default Management Server List",
                "kind": ActionKind.RESTORE_ORIGINAL_LIST,
                "unmoved": "",
                "where": "step 5b",
            },
        )
    ],
    Code.RESTORE_REPLICATION_FAILED: [
        Said(
            Code.RESTORE_REPLICATION_FAILED,
            {**EXHAUSTED, "kind": ActionKind.RESTORE_REPLICATION, "where": "step 7"},
        )
    ],
    Code.REPLICATE_NOW_FAILED: [
        Said(
            Code.REPLICATE_NOW_FAILED,
            {
                **EXHAUSTED,
                "kind": ActionKind.REPLICATE_NOW,
                "subject": "Site West",
                "partner": "Site West",
                "status": "FAILED_CONNECT",
                "where": "step 7",
            },
        )
    ],
    Code.UNEXPECTED_CERTIFICATE: [
        Said(
            Code.UNEXPECTED_CERTIFICATE,
            {
                "ports": (("console", "sha256:" + "d4" * 32),),
                "target": NEW,
                "before": True,
                "server": "sepm-east-01",
                "where": "step 4",
            },
        ),
        Said(
            Code.UNEXPECTED_CERTIFICATE,
            {
                "ports": (("api", "sha256:" + "d4" * 32),),
                "target": NEW,
                "before": False,
                "server": "sepm-east-01",
                "where": "step 6",
            },
        ),
    ],
    Code.NO_MANAGED_GROUPS: [
        Said(Code.NO_MANAGED_GROUPS, {"chosen": ("My Company\\Nowhere",), "where": "step 2"})
    ],
    Code.COLLATERAL_SETTINGS_CHANGE: [
        Said(
            Code.COLLATERAL_SETTINGS_CHANGE,
            {
                "enabled": False,
                "group": "My Company\\Laptops",
                "fields": ("configuration.general_settings.tamper_protection.action",),
                "restored": True,
                "done": 0,
                "server": "sepm-east-01",
                "where": "step 2",
            },
        ),
        Said(
            Code.COLLATERAL_SETTINGS_CHANGE,
            {
                "enabled": True,
                "group": "My Company\\Servers",
                "fields": ("configuration.general_settings.stopped_mode", "configuration.x"),
                "restored": False,
                "done": 2,
                "server": "sepm-east-01",
                "where": "step 5",
            },
        ),
    ],
    Code.DRIFT_DETECTED: [
        DRIFT,
        Said(Code.DRIFT_DETECTED, {"ports": ("clients",), "of": 3, "presented": OLD, "desired": NEW}),
        Said(Code.DRIFT_DETECTED, {"ports": ("clients", "api"), "of": 3, "presented": None, "desired": NEW}),
    ],
    Code.RETARGETED: [
        Said(Code.RETARGETED, {"old": NEW, "new": OLD, "started": True}),
        Said(Code.RETARGETED, {"old": NEW, "new": OLD, "started": False}),
    ],
    Code.CERTIFICATE_CHANGED: [
        Said(Code.CERTIFICATE_CHANGED, {"ports": ("clients", "console"), "of": 3}),
        Said(Code.CERTIFICATE_CHANGED, {"ports": ("clients", "console", "api"), "of": 3}),
    ],
    Code.ATTEMPT_LOST: [
        Said(Code.ATTEMPT_LOST, {"kind": ActionKind.UPDATE_CERTIFICATE, "number": 1, "deadline": T})
    ],
    Code.ATTEMPT_INEFFECTIVE: [
        Said(
            Code.ATTEMPT_INEFFECTIVE,
            {"kind": ActionKind.REPLICATE_NOW, "subject": "Site West", "number": 2, "deadline": T},
        )
    ],
    Code.ATTEMPT_FINISHED: [
        Said(
            Code.ATTEMPT_FINISHED,
            {
                "summary": "break replication with Site West",
                "number": 1,
                "succeeded": False,
                "exit_code": 1,
                "detail": "access denied",
            },
        ),
        Said(
            Code.ATTEMPT_FINISHED,
            {
                "summary": "break replication with Site West",
                "number": 1,
                "succeeded": True,
                "exit_code": 0,
                "detail": "",
                "judged": "lost",
            },
        ),
    ],
    Code.ABORT_REFUSED: [
        Said(Code.ABORT_REFUSED, {"server": "sepm-east-01", "phase": "in_sync", "why": "none"}),
        Said(Code.ABORT_REFUSED, {"server": "sepm-east-01", "phase": "rolling_back", "why": "rolling_back"}),
        Said(
            Code.ABORT_REFUSED,
            {
                "server": "sepm-east-02",
                "phase": "waiting_unverified",
                "why": "site",
                "swapping": "sepm-east-01",
            },
        ),
        Said(
            Code.ABORT_REFUSED,
            {"server": "sepm-east-01", "phase": "waiting_verified", "why": "past", "step": 6, "by": "eve"},
        ),
        Said(
            Code.ABORT_REFUSED,
            {
                "server": "sepm-east-01",
                "phase": "updating_certificate",
                "why": "changed",
                "step": 4,
                "since": T,
            },
        ),
        Said(
            Code.ABORT_REFUSED,
            {
                "server": "sepm-east-01",
                "phase": "updating_certificate",
                "why": "begun",
                "step": 4,
                "attempt": 1,
                "started": T,
            },
        ),
        Said(
            Code.ABORT_REFUSED,
            {"server": "sepm-east-01", "phase": "updating_certificate", "why": "begun", "step": 4},
        ),
    ],
    Code.UNRECORDED: [
        Said(Code.UNRECORDED, {"recorded": "step 3: waiting for clients: … (written by 0.1.0)"})
    ],
}


def render() -> str:
    lines = []
    for code in Code:
        for index, said in enumerate(SAMPLES[code], start=1):
            lines.append(f"{code.value} #{index}: {sentence(said)}")
            if (fix := remedy(said)) is not None:
                lines.append(f"{code.value} #{index} remedy: {fix}")
            waiting = said.get("waiting")
            if isinstance(waiting, Said):
                lines.append(f"{code.value} #{index} awaited: {awaited(waiting)}")
    lines.append(f"plan window: {planned_gate('window', {'window': 'sat 22:00–04:00 UTC', 'opens': T})}")
    lines.append(
        f"plan window never: {planned_gate('window', {'window': 'sat 22:00–04:00 UTC', 'opens': None})}"
    )
    lines.append(f"plan partners: {planned_gate('partners', {'step': 7})}")
    return "\n".join(lines) + "\n"


def test_every_code_has_a_sample_and_a_description() -> None:
    assert set(SAMPLES) == set(Code)
    assert set(CODES) == set(Code)


def test_every_stall_code_has_a_remedy() -> None:
    for code, info in CODES.items():
        if info.kind is Kind.STALL:
            assert all(remedy(said) for said in SAMPLES[code]), code


def test_the_sentences_match_the_golden_file() -> None:
    actual = render()
    if UPDATE:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(actual, encoding="utf-8")
        pytest.skip(f"rewrote {GOLDEN.name}: review it with git diff")
    assert GOLDEN.exists(), f"{GOLDEN} is missing: run SEPM_UPDATE_GOLDEN=1 pytest {Path(__file__).name}"
    expected = GOLDEN.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "golden", "actual")
        )
        pytest.fail(f"the sentences differ from {GOLDEN.name} (SEPM_UPDATE_GOLDEN=1 to accept):\n{diff}")
