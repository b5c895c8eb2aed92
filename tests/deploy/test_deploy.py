"""deploy/ agrees with the real daemon: every command line parses with the real CLI, probes hit real endpoints on the
port the daemon listens on, variables are the ones the code reads. No Docker engine, Kubernetes cluster, Windows or
PowerShell here: these checks are static, plus ``kubectl kustomize`` and ``systemd-analyze`` when installed."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from starlette.routing import Route

import reconciler.hooks
from reconciler.cli import cli
from reconciler.cli._live import SPECS_ENV
from reconciler.daemon.config import DEFAULT_WEBHOOK_ENV, parse_listen
from reconciler.daemon.http import build_app
from reconciler.store import STATE_ENV, redact
from reconciler.store.url import postgres_conninfo

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def _command(argv: list[str]) -> click.Context:
    """Parse ``sepm-reconciler ARGV`` with the real commands (options, types, choices) without running it."""
    assert argv, "empty command line"
    group_ctx = cli.make_context("sepm-reconciler", [argv[0]], resilient_parsing=True)
    command = cli.get_command(group_ctx, argv[0])
    assert command is not None, f"no command {argv[0]!r}"
    return command.make_context(argv[0], argv[1:])


def _routes() -> set[str]:
    return {r.path for r in build_app(None).routes if isinstance(r, Route)}


def _listen_port(ctx: click.Context) -> int:
    return parse_listen(ctx.params["listen"])[1]


# --- Kubernetes ---------------------------------------------------------------------------------------------------


def _manifests() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                found[doc["kind"]] = doc
    return found


def test_the_kustomization_lists_existing_manifests_and_renders() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text(encoding="utf-8"))
    for resource in kustomization["resources"]:
        assert (DEPLOY / "kubernetes" / resource).is_file(), resource
    assert (
        "secret.example.yaml" not in kustomization["resources"]
    )  # never applied: a real Secret is made apart
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed: the kustomization was checked statically only")
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / "kubernetes")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered) if d)
    assert kinds == ["Deployment", "Namespace", "PersistentVolumeClaim", "Service", "ServiceAccount"]


def test_the_deployment_runs_the_daemon_with_flags_probes_and_volumes_that_exist() -> None:
    manifests = _manifests()
    deployment = manifests["Deployment"]
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    pod = deployment["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "reconciler")
    ctx = _command(container["args"])
    port = _listen_port(ctx)
    assert parse_listen(ctx.params["listen"])[0] == "0.0.0.0"  # noqa: S104 - probes come from the kubelet
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == port
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert {"/healthz", "/readyz", "/metrics", "/api/status", "/"} <= _routes()
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics" and int(annotations["prometheus.io/port"]) == port
    assert pod["terminationGracePeriodSeconds"] >= 15  # the daemon exits within 10 s of SIGTERM
    # the state and the specs live on the mounted volumes
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    state_url = env[STATE_ENV]
    assert state_url.startswith("sqlite:////") and state_url[len("sqlite:///") :].startswith(
        mounts["state"] + "/"
    )
    assert str(ctx.params["specs_path"]).startswith(mounts["specs"] + "/")
    assert {"secretRef": {"name": manifests["Secret"]["metadata"]["name"]}} in container["envFrom"]
    # specs: checked out once before the daemon starts (it exits 1 without them), then kept in sync
    init = next(c for c in pod["initContainers"] if "git-sync" in c["image"])
    sidecar = next(c for c in pod["containers"] if "git-sync" in c["image"])
    assert "--one-time" in init["args"]
    assert [a for a in init["args"] if a != "--one-time"] == [
        a for a in sidecar["args"] if not a.startswith("--period")
    ]
    root = next(a.split("=", 1)[1] for a in sidecar["args"] if a.startswith("--root="))
    link = next(a.split("=", 1)[1] for a in sidecar["args"] if a.startswith("--link="))
    assert str(ctx.params["specs_path"]).startswith(f"{root}/{link}/")
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == _dockerfile_user()
    for c in (*pod["containers"], *pod["initContainers"]):
        assert c["securityContext"]["readOnlyRootFilesystem"] is True, c["name"]
        assert c["securityContext"]["allowPrivilegeEscalation"] is False, c["name"]


def test_the_service_and_the_secret_match_the_daemon() -> None:
    manifests = _manifests()
    service_port = manifests["Service"]["spec"]["ports"][0]
    assert service_port["targetPort"] == "http"
    assert DEFAULT_WEBHOOK_ENV in manifests["Secret"]["stringData"]
    assert manifests["ServiceAccount"]["automountServiceAccountToken"] is False


# --- Docker -----------------------------------------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    text = (DEPLOY / "docker" / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _dockerfile_user() -> int:
    users = [rest for word, rest in _dockerfile() if word == "USER"]
    return int(users[-1].split(":")[0])


def test_the_image_runs_the_daemon_as_a_non_root_user_with_a_healthcheck_on_healthz() -> None:
    instructions = _dockerfile()
    final = instructions[max(i for i, (w, _) in enumerate(instructions) if w == "FROM") :]
    values = dict(final)
    assert _dockerfile_user() != 0
    assert yaml.safe_load(values["ENTRYPOINT"]) == ["sepm-reconciler"]
    ctx = _command(yaml.safe_load(values["CMD"]))
    port = _listen_port(ctx)
    assert values["EXPOSE"] == str(port)
    assert f"http://127.0.0.1:{port}/healthz" in values["HEALTHCHECK"]
    assert ctx.params["log_format"] == "json"
    env_names = set(re.findall(r"(\w+)=", values["ENV"]))
    assert {SPECS_ENV, STATE_ENV} <= env_names


def test_the_image_installs_within_the_constraints_from_a_minimal_context() -> None:
    """Every pip command of the image stays within constraints.txt (the versions CI passed with), and
    .dockerignore lets into the build context exactly what the COPY instructions take — nothing else (no .venv,
    no state, no keys)."""
    instructions = _dockerfile()
    pips = [rest for word, rest in instructions if word == "RUN" and "pip " in rest]
    assert pips and all("--constraint" in rest and "constraints.txt" in rest for rest in pips), pips
    copied = {
        part.rstrip("/")
        for word, rest in instructions
        if word == "COPY" and not rest.startswith("--from")
        for part in rest.split()[:-1]
    }
    ignore = [line.strip() for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()]
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert next(line for line in ignore if line and not line.startswith("#")) == "*"
    assert copied == allowed, (copied, allowed)
    for path in copied:
        assert (REPO / path).exists(), path


# --- systemd ----------------------------------------------------------------------------------------------------------


def _unit() -> dict[str, list[str]]:
    entries: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / "sepm-reconciler.service").read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            entries.setdefault(key.strip(), []).append(value.strip())
    return entries


def test_the_systemd_unit_runs_reloads_and_stops_the_daemon_as_it_expects() -> None:
    unit = _unit()
    argv = shlex.split(unit["ExecStart"][0])
    assert argv[0].endswith("/sepm-reconciler")
    ctx = _command(argv[1:])
    host, _ = parse_listen(ctx.params["listen"])
    assert host == "127.0.0.1"  # loopback by default
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]  # SIGHUP reloads the specs
    assert unit["KillSignal"] == ["SIGTERM"]
    assert int(unit["TimeoutStopSec"][0]) >= 15
    assert {v.split("=", 1)[0] for v in unit["Environment"]} == {SPECS_ENV, STATE_ENV}
    state = next(v.split("=", 1)[1] for v in unit["Environment"] if v.startswith(STATE_ENV))
    assert state == "sqlite:////var/lib/" + unit["StateDirectory"][0] + "/state.db"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    unit = (DEPLOY / "systemd" / "sepm-reconciler.service").read_text(encoding="utf-8")
    binary = shutil.which("sepm-reconciler") or str(Path(sys.executable).parent / "sepm-reconciler")
    copy = tmp_path / "sepm-reconciler.service"
    copy.write_text(unit.replace("/opt/sepm-reconciler/venv/bin/sepm-reconciler", binary), encoding="utf-8")
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0, verify.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    exposure = re.search(r"Overall exposure level for .*: (\d+\.\d+)", security.stdout)
    if exposure is None:
        pytest.skip(f"this systemd-analyze cannot assess a unit offline: {security.stderr.strip()[:200]}")
    assert float(exposure.group(1)) <= 2.5, security.stdout[-2000:]


# --- Windows ----------------------------------------------------------------------------------------------------------


def test_the_windows_service_runs_the_daemon_and_stops_it_gracefully() -> None:
    service = ET.parse(DEPLOY / "windows" / "sepm-reconciler.xml").getroot()  # noqa: S314 - our own file
    assert service.findtext("executable", "").endswith("sepm-reconciler.exe")
    argv = shlex.split(service.findtext("arguments", ""), posix=False)
    ctx = _command(argv)
    assert parse_listen(ctx.params["listen"])[0] == "127.0.0.1"
    assert ctx.params["state_url"].startswith("sqlite:///C:/")
    seconds = int(re.match(r"(\d+)\s*sec", service.findtext("stoptimeout", "")).group(1))
    assert seconds >= 15


def test_no_secret_goes_on_a_command_line_in_the_windows_deployment() -> None:
    """A process's command line is visible to every user of the host (Task Manager, Get-CimInstance
    Win32_Process): the service install sets the account's password through WMI, the service runs without one, and
    no script passes a password or token as an argument to a program."""
    for path in sorted((DEPLOY / "windows").iterdir()) + sorted((DEPLOY / "hooks" / "windows").glob("*.ps1")):
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            code = line.split("#", 1)[0]
            if re.match(r"\s*&\s", code):  # a program run with arguments
                assert not re.search(r"(?i)password|passwd|secret|token|GetNetworkCredential", code), (
                    path.name,
                    line,
                )
            assert not re.search(r"(?i)--password\b|/password[: ]|-p:\S", code), (path.name, line)
    install = (DEPLOY / "windows" / "Install-SepmReconcilerService.ps1").read_text(encoding="utf-8")
    assert "Invoke-CimMethod" in install and "StartPassword" in install  # the password goes through WMI
    service = (DEPLOY / "windows" / "sepm-reconciler.xml").read_text(encoding="utf-8")
    assert not re.search(r"(?i)password|<serviceaccount>", service)


def test_the_windows_hooks_run_on_windows_powershell_5_1() -> None:
    """pwsh (PowerShell 7) is not on Windows Server by default: the examples use powershell.exe, and the scripts
    avoid the operators only PowerShell 7 has."""
    for script in sorted((DEPLOY / "hooks" / "windows").glob("*.ps1")):
        text = script.read_text(encoding="utf-8")
        assert "[pwsh," not in text, script.name
        code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
        for seven in ("??", "?.", " && ", " || ", "-Parallel"):
            assert seven not in code, (script.name, seven)


def test_the_powershell_hooks_read_only_documented_variables() -> None:
    documented = set(re.findall(r"``(SEPM_RECONCILER_[A-Z_]+)``", reconciler.hooks.__doc__ or ""))
    assert documented >= {"SEPM_RECONCILER_KEYSTORE_PASSWORD", "SEPM_RECONCILER_DESIRED_FINGERPRINT"}
    for script in sorted((DEPLOY / "hooks" / "windows").glob("*.ps1")):
        used = set(re.findall(r"SEPM_RECONCILER_[A-Z_]+", script.read_text(encoding="utf-8")))
        assert used <= documented, f"{script.name}: {sorted(used - documented)}"


def test_the_powershell_hooks_call_only_scripts_that_ship_beside_them() -> None:
    hooks = DEPLOY / "hooks" / "windows"
    called = {
        name
        for script in hooks.glob("*.ps1")
        for name in re.findall(r"Join-Path \$PSScriptRoot '([^']+)'", script.read_text(encoding="utf-8"))
    }
    assert called == {"Restart-SepmServices.ps1"}  # the certificate hook restarts the services with it
    assert all((hooks / name).is_file() for name in called)


# --- CI examples --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["github-actions-specs.yml", "gitlab-ci-specs.yml"])
def test_the_ci_examples_call_commands_and_options_that_exist(name: str) -> None:
    text = (DEPLOY / "ci" / name).read_text(encoding="utf-8")
    yaml.safe_load(text)
    lines = re.findall(r"sepm-reconciler ([a-z-]+[^\n|>&;]*)", text)
    commands = [shlex.split(line) for line in lines if not line.startswith("==")]
    assert {c[0] for c in commands} >= {"validate", "plan"}
    for argv in commands:
        ctx = _command(argv)
        if argv[0] == "plan":
            assert ctx.params["output"] == "markdown"


def _gate_commands(name: str) -> list[str]:
    """The shell of the pull-request gate (the GitHub job ``gate``, the GitLab job ``sepm-specs``)."""
    document = yaml.safe_load((DEPLOY / "ci" / name).read_text(encoding="utf-8"))
    if "jobs" in document:
        return [
            step["run"]
            for step in document["jobs"]["gate"]["steps"]
            if "run" in step and "gh pr" not in step["run"]
        ]
    return list(document["sepm-specs"]["script"])


@pytest.mark.parametrize("name", ["github-actions-specs.yml", "gitlab-ci-specs.yml"])
def test_the_ci_gate_passes_on_the_example_specs_without_network_or_secrets(
    name: str, tmp_path: Path
) -> None:
    """Run the gate's own shell on a copy of the example specs, with no secret in the environment and the installed
    sepm-reconciler first on PATH: it passes (plan exits 2, changes pending, which counts as success)."""
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sepm-reconciler").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m reconciler "$@"\n')
    (bin_dir / "sepm-reconciler").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEPM_")}
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
    for command in _gate_commands(name):
        if command.startswith("pip install"):
            continue
        proc = subprocess.run(
            ["/bin/bash", "-e", "-c", command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, (command, proc.stdout[-2000:], proc.stderr[-2000:])
    plan = (tmp_path / "plan.md").read_text(encoding="utf-8")
    assert "sepm-reconciler plan" in plan and "offline: nothing was contacted" in plan


@pytest.mark.parametrize("name", ["github-actions-specs.yml", "gitlab-ci-specs.yml"])
@pytest.mark.parametrize(
    ("exit_code", "passes"), [(0, True), (2, True), (1, False), (64, False), (130, False)]
)
def test_the_ci_gate_treats_only_0_and_2_as_success(
    name: str, exit_code: int, passes: bool, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sepm-reconciler").write_text(
        f"#!/bin/sh\nexit {exit_code}\n"
    )  # a stand-in with a chosen exit
    (bin_dir / "sepm-reconciler").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    [command] = [c for c in _gate_commands(name) if "plan --offline" in c]
    proc = subprocess.run(
        ["/bin/bash", "-e", "-c", command], cwd=tmp_path, env=env, capture_output=True, check=False
    )
    assert (proc.returncode == 0) is passes, (exit_code, proc.returncode)


# --- .ci/run --------------------------------------------------------------------------------------------------------


def _ci_run(
    tmp_path: Path, *, tools: dict[str, str], postgresql: bool = True
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``.ci/run`` with a PATH of stubs: each of ``tools`` records its argv (then runs its shell snippet);
    ``dirname`` is the real one. ``postgresql``: whether Debian's PostgreSQL binaries are there (a stand-in
    directory for ``/usr/lib/postgresql``)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    calls.touch()
    for tool, then in tools.items():
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\n{then}\n', encoding="utf-8")
        stub.chmod(0o755)
    (bin_dir / "dirname").symlink_to(shutil.which("dirname") or "/usr/bin/dirname")
    debian = tmp_path / "usr-lib-postgresql"
    if postgresql:
        (debian / "15" / "bin").mkdir(parents=True)
        (debian / "15" / "bin" / "pg_ctl").touch(mode=0o755)
    proc = subprocess.run(
        ["/bin/bash", str(REPO / ".ci" / "run")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": str(bin_dir), "HOME": str(tmp_path), "SEPM_CI_POSTGRESQL_DIR": str(debian)},
    )
    return proc, calls.read_text(encoding="utf-8").splitlines()


def test_ci_run_installs_nothing_when_chromium_is_there_and_hands_over_to_make_test(tmp_path: Path) -> None:
    proc, calls = _ci_run(tmp_path, tools={"make": "", "apt-get": "", "chromium": "", "id": "echo 0"})
    assert proc.returncode == 0, proc.stderr
    assert calls == ["make test"]


def test_ci_run_installs_chromium_as_root_when_it_is_missing(tmp_path: Path) -> None:
    proc, calls = _ci_run(tmp_path, tools={"make": "", "apt-get": "", "id": "echo 0"})
    assert proc.returncode == 0, proc.stderr
    assert calls == ["id -u", "apt-get install -y -q --no-install-recommends chromium", "make test"]
    assert "installing chromium for the status-page browser test" in proc.stderr


def test_ci_run_without_root_says_the_browser_test_will_be_skipped(tmp_path: Path) -> None:
    proc, calls = _ci_run(tmp_path, tools={"make": "", "apt-get": "", "id": "echo 1000"})
    assert proc.returncode == 0, proc.stderr
    assert calls == ["id -u", "make test"]
    assert "installing it needs root: the status-page browser test will be skipped" in proc.stderr


def test_ci_run_installs_postgresql_as_root_when_it_is_missing(tmp_path: Path) -> None:
    proc, calls = _ci_run(
        tmp_path, tools={"make": "", "apt-get": "", "chromium": "", "id": "echo 0"}, postgresql=False
    )
    assert proc.returncode == 0, proc.stderr
    assert calls == ["id -u", "apt-get install -y -q --no-install-recommends postgresql", "make test"]
    assert "installing postgresql for the PostgreSQL store and failover tests" in proc.stderr


def test_ci_run_finds_postgresql_on_the_path_too(tmp_path: Path) -> None:
    tools = {"make": "", "apt-get": "", "chromium": "", "id": "echo 0", "pg_ctl": "", "initdb": ""}
    proc, calls = _ci_run(tmp_path, tools=tools, postgresql=False)
    assert proc.returncode == 0, proc.stderr
    assert calls == ["make test"]


def test_ci_run_without_root_says_the_postgresql_tests_will_be_skipped(tmp_path: Path) -> None:
    proc, calls = _ci_run(
        tmp_path, tools={"make": "", "apt-get": "", "chromium": "", "id": "echo 1000"}, postgresql=False
    )
    assert proc.returncode == 0, proc.stderr
    assert calls == ["id -u", "make test"]
    assert (
        "postgresql is missing and installing it needs root: the PostgreSQL store and failover tests"
        in proc.stderr
    )


# --- high availability on PostgreSQL ------------------------------------------------------------------------------


def _yaml_file(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def test_the_kubernetes_ha_overlay_runs_two_replicas_on_two_nodes_on_postgresql() -> None:
    overlay = DEPLOY / "kubernetes-ha"
    kustomization = _yaml_file(overlay / "kustomization.yaml")
    assert kustomization["resources"] == ["../kubernetes"]
    patches = kustomization["patches"]
    assert {"path": "deployment-patch.yaml"} in patches
    deleted = [yaml.safe_load(p["patch"]) for p in patches if "patch" in p]
    base_pvc = _manifests()["PersistentVolumeClaim"]["metadata"]["name"]
    assert [(d["$patch"], d["kind"], d["metadata"]["name"]) for d in deleted] == [
        ("delete", "PersistentVolumeClaim", base_pvc)
    ]
    patch = _yaml_file(overlay / "deployment-patch.yaml")
    base = _manifests()["Deployment"]
    assert patch["metadata"]["name"] == base["metadata"]["name"]
    assert patch["spec"]["replicas"] == 2 and patch["spec"]["strategy"]["type"] == "RollingUpdate"
    pod = patch["spec"]["template"]["spec"]
    anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["topologyKey"] == "kubernetes.io/hostname"
    assert anti["labelSelector"]["matchLabels"] == base["spec"]["selector"]["matchLabels"]
    container = pod["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    url = env[STATE_ENV]["value"]
    assert url.startswith("postgresql://sepm_reconciler@") and redact(url) == url  # no password in it
    assert postgres_conninfo(url, {}) == url
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "sepm-postgres"
    secret = _yaml_file(overlay / "secret.example.yaml")
    assert secret["metadata"]["name"] == "sepm-postgres" and {"password", "ca.crt"} <= set(
        secret["stringData"]
    )
    ca_mount = next(m for m in container["volumeMounts"] if m["name"] == "postgres-ca")
    assert f"sslrootcert={ca_mount['mountPath']}/ca.crt" in url
    # a standby is not "ready" on /readyz: readiness must be liveness, or every rolling update stalls
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    state = next(v for v in pod["volumes"] if v["name"] == "state")
    assert state == {"name": "state", "persistentVolumeClaim": None, "emptyDir": {}}
    if shutil.which("kubectl") is not None:
        rendered = subprocess.run(
            ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, timeout=60, check=True
        ).stdout
        kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered) if d)
        assert "PersistentVolumeClaim" not in kinds


def test_the_compose_file_runs_two_daemons_on_one_postgresql() -> None:
    compose = _yaml_file(DEPLOY / "docker" / "compose.yaml")
    services = compose["services"]
    assert set(services) == {"postgres", "reconciler-a", "reconciler-b"}
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    ports = []
    for name in ("reconciler-a", "reconciler-b"):
        service = services[name]
        ctx = _command(service["command"])
        assert parse_listen(ctx.params["listen"])[1] == 9370
        url = service["environment"][STATE_ENV]
        assert url.startswith("postgresql://") and redact(url) == url and "@postgres:5432/" in url
        assert "postgres.env" in service["env_file"]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        ports.append(service["ports"][0])
    assert ports == ["127.0.0.1:9370:9370", "127.0.0.1:9371:9370"]
    text = (DEPLOY / "docker" / "compose.yaml").read_text(encoding="utf-8")
    assert "PGPASSWORD" in text and "POSTGRES_PASSWORD=" in text  # how postgres.env is made
