"""The assumption inventory: every fact about SEPM the reconciler relies on, and how each is covered.

Each :class:`Assumption` is either **checked read-only by** ``probe`` (``how`` is ``"probe"``: a check of that id
is in every probe report) or **verified at run time** before it can do harm (``how`` says by what). ``docs/probe.md``
holds the same table; a test keeps the two, and the probe's checks, in step both ways.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INVENTORY", "PROBE_CHECKS", "RUN_TIME", "Assumption"]

PROBE = "probe"


@dataclass(frozen=True, slots=True)
class Assumption:
    id: str
    statement: str
    how: str  # "probe", or how the run time verifies it before harm

    @property
    def probed(self) -> bool:
        return self.how == PROBE


INVENTORY: tuple[Assumption, ...] = (
    # --- the API and the session ---------------------------------------------------------------------------------
    Assumption(
        "api.trusted", "the API port's certificate is trusted by the system store or by caBundle", PROBE
    ),
    Assumption("api.version", "the REST API (semapisrv) answers GET version without a token", PROBE),
    Assumption("auth.authenticate", "the account authenticates and gets a token", PROBE),
    Assumption(
        "auth.token_lifetime",
        "tokenExpiration is the token's lifetime in seconds (a plausible 30 s to 30 days; assumed 3600)",
        PROBE,
    ),
    Assumption(
        "auth.server_time",
        "serverTime is the manager's clock in epoch milliseconds, close to this machine's",
        PROBE,
    ),
    Assumption(
        "auth.date_header",
        "every answer's Date header is the manager's clock (it agrees with serverTime): the clock between sessions",
        PROBE,
    ),
    Assumption(
        "auth.logout", "POST identity/logout ends the session (the token is refused afterwards)", PROBE
    ),
    Assumption(
        "session.restart",
        "a token can stop working at any time (a semapisrv restart drops every session)",
        "run time: every call re-authenticates once on a 401 and retries",
    ),
    Assumption(
        "domains.visible",
        "GET domains lists the manager's domains; the account logs into one of them",
        PROBE,
    ),
    Assumption(
        "api.throttle",
        "throttling is HTTP 429, waited out by Retry-After or by the throttle window (spec.server.api.throttleWindow)",
        PROBE,
    ),
    # --- groups and settings --------------------------------------------------------------------------------------
    Assumption("endpoint.groups", "GET groups pages the groups", PROBE),
    Assumption(
        "fields.group",
        "groups carry id, fullPathName, policySerialNumber, policyDate, policyInheritanceEnabled, defaultLocationId",
        PROBE,
    ),
    Assumption("paging.one_based", "paging starts at pageIndex 1: pages 1, 2, … return every item", PROBE),
    Assumption(
        "serials.group",
        "policySerialNumber is XXXX-MM/DD/YYYY HH:MM:SS mmm (GMT), XXXX the first four hex digits of the group id",
        PROBE,
    ),
    Assumption(
        "serials.policy_date",
        "the time in a group's serial is its policyDate (GMT, month first): a serial tells when the policy was saved",
        PROBE,
    ),
    Assumption(
        "groups.inheritance",
        "policyInheritanceEnabled says which groups inherit; they report their source's defaultLocationId",
        PROBE,
    ),
    Assumption(
        "spec.groups",
        "the groups of rollout.clients.groups exist and do not inherit (only those can be changed)",
        PROBE,
    ),
    Assumption(
        "groups.locations",
        "GET groups/{id}/locations lists the location ids (last path segment), defaultLocationId among them",
        PROBE,
    ),
    Assumption(
        "groups.settings",
        "each location's settings carry configuration.general_settings.security_settings.secure_communications, "
        "the same at every location of a group",
        PROBE,
    ),
    Assumption(
        "settings.list_name",
        "the settings show each group's management server list (communication_settings.sem_server.name)",
        PROBE,
    ),
    Assumption(
        "settings.patch_field_by_field",
        "a settings PATCH of the whole configuration, one field changed, changes only that field",
        "step 2 and step 5: read–modify–write; the whole document is read back and compared, and any other field "
        "that changed stalls the rollout (CollateralSettingsChange) before the next group; probe --rehearse",
    ),
    Assumption(
        "settings.partial_body",
        "whether a PATCH naming only the flag keeps the other fields (merge) or resets them (replace)",
        "not relied on: the reconciler always sends the whole configuration; probe --rehearse measures it on one "
        "sacrificial group",
    ),
    Assumption(
        "settings.serial_moves",
        "a PATCH that changes the flag saves a policy: the group's serial moves",
        "steps 2 and 5 wait for every managed group's serial to move after the step began (stall with a remedy "
        "otherwise); probe --rehearse",
    ),
    Assumption(
        "settings.noop_serial",
        "a PATCH that changes nothing moves no serial",
        "steps 2 and 5 send nothing for a group whose flag already reads as wanted, and step 2 accepts such a "
        "group without a serial move; probe --rehearse observes it",
    ),
    Assumption(
        "settings.default_location",
        "the flag set at a group's default location applies to the group",
        "steps 2 and 5 read the flag back at that location; groups.settings compares the locations",
    ),
    # --- computers ------------------------------------------------------------------------------------------------
    Assumption("endpoint.computers", "GET computers pages the clients", PROBE),
    Assumption(
        "fields.computer",
        "computers carry uniqueId, computerName, profileSerialNo, onlineStatus, lastUpdateTime, creationTime, "
        "deleted, agentVersion, group.id",
        PROBE,
    ),
    Assumption("computers.online_status", "onlineStatus is 1 (online) or 0 (offline)", PROBE),
    Assumption("serials.client", "profileSerialNo is a policy serial number", PROBE),
    Assumption(
        "computers.last_update",
        "GET computers?lastUpdate=T returns only the records changed since T (incremental scans)",
        PROBE,
    ),
    Assumption(
        "paging.page_size",
        "pageSize 1000 (spec.server.api.pageSize) is accepted, and not silently capped",
        PROBE,
    ),
    Assumption(
        "paging.stable",
        "the listing order is stable: the first page read twice agrees (offset paging can be checked)",
        PROBE,
    ),
    Assumption(
        "computers.records",
        "uniqueId identifies a record; names repeat only across re-imagings, whose old records are deleted: 1",
        PROBE,
    ),
    Assumption(
        "clients.acknowledge_by_serial",
        "a client has applied a change when the time in its profileSerialNo is at or after the change's",
        "steps 3 and 6 count clients that way, on the manager's clock; serials.client checks the format",
    ),
    Assumption("endpoint.online_stats", "GET stats/client/onlinestatus counts clients", PROBE),
    # --- replication ----------------------------------------------------------------------------------------------
    Assumption("replication.is_replicated", "GET replication/is_replicated answers a bare boolean", PROBE),
    Assumption(
        "replication.status", "GET replication/status lists the partners with their status_code", PROBE
    ),
    Assumption(
        "replication.status_shape",
        "replicationStatus is an object (the Swagger) or a one-element array (SEPM 14.3): both are read",
        PROBE,
    ),
    Assumption(
        "replication.replicatenow",
        "POST replication/replicatenow starts a replication",
        "step 7 triggers it and waits for replication/status to say SUCCEEDED",
    ),
    # --- ports and certificates -----------------------------------------------------------------------------------
    Assumption(
        "port.clients", "the clients port completes a TLS handshake and presents a certificate", PROBE
    ),
    Assumption(
        "port.console", "the console port completes a TLS handshake and presents a certificate", PROBE
    ),
    Assumption("port.api", "the API port completes a TLS handshake and presents a certificate", PROBE),
    Assumption(
        "ports.same_certificate",
        "every port presents the same certificate (they all change together in step 4)",
        PROBE,
    ),
    Assumption(
        "certificate.trusted",
        "the desired certificate will be trusted for the API host (it chains to caBundle or the system store, "
        "names the host, is valid)",
        PROBE,
    ),
    Assumption(
        "certificate.api_after_swap",
        "after the update and restart the API port presents the new certificate",
        "step 4 ends only when every port presents the desired certificate and the API answers",
    ),
)

PROBE_CHECKS: tuple[str, ...] = tuple(a.id for a in INVENTORY if a.probed)
RUN_TIME: tuple[Assumption, ...] = tuple(a for a in INVENTORY if not a.probed)
