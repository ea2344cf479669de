"""deploy/node/judge0-node.yaml: the cloud-config every Judge0 node boots from.

Checked with the real tools (``cloud-init schema``, ``shellcheck`` on every embedded script),
then by running the shipped ``judge0-service`` itself against stand-in ``docker``, ``aws`` and
``curl`` commands on PATH (nothing reaches a network): the cgroup v2 refusal, the start order,
where the token comes from and that it never lands on a command line, the passwords generated
once. Content checks cover what cannot run here: the boot argument, the one reboot, the unit.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from judge0_operator.api.instance import USER_DATA_MAX_BYTES, InstanceSpec
from tooling import require_tool

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "deploy" / "node" / "judge0-node.yaml"
EXAMPLE = ROOT / "examples" / "fleet-node-bootstrap.yaml"
SETUP = "/usr/local/sbin/judge0-node-setup"
SERVICE = "/usr/local/sbin/judge0-service"
NODE_ENV = "/etc/judge0-node/node.env"
UNIT = "/etc/systemd/system/judge0.service"
CGROUP_ARG = "systemd.unified_cgroup_hierarchy=0"


def cloud_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(NODE.read_text())
    return loaded


def files() -> dict[str, str]:
    return {entry["path"]: entry["content"] for entry in cloud_config()["write_files"]}


def embedded_scripts() -> dict[str, tuple[str, str]]:
    """Every shell script in the cloud-config: name → (shell, text). write_files with a shebang,
    and runcmd/bootcmd entries given as strings (cloud-init runs those with sh)."""
    scripts: dict[str, tuple[str, str]] = {}
    for path, content in files().items():
        first = content.splitlines()[0] if content else ""
        if first.startswith("#!"):
            scripts[path] = (Path(first[2:].split()[0]).name, content)
    config = cloud_config()
    for module in ("bootcmd", "runcmd"):
        for index, entry in enumerate(config.get(module) or []):
            if isinstance(entry, str):
                scripts[f"{module}[{index}]"] = ("sh", entry)
    return scripts


# --- the real tools ---------------------------------------------------------------------------
def test_cloud_init_schema_accepts_the_node_cloud_config() -> None:
    tool = require_tool("cloud-init", "validates deploy/node/judge0-node.yaml (Debian package cloud-init)")
    result = subprocess.run(
        [tool, "schema", "--config-file", str(NODE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


def test_cloud_init_schema_is_a_real_check(tmp_path: Path) -> None:
    """The same invocation rejects the mistakes it is there to catch."""
    tool = require_tool("cloud-init", "validates deploy/node/judge0-node.yaml (Debian package cloud-init)")
    broken = cloud_config()
    broken["write_files"][0].pop("path")
    broken["power_state"]["mode"] = "restart"
    path = tmp_path / "broken.yaml"
    path.write_text("#cloud-config\n" + yaml.safe_dump(broken))
    result = subprocess.run(
        [tool, "schema", "--config-file", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "path" in output and "power_state.mode" in output, output


def test_the_cloud_config_embeds_its_scripts() -> None:
    scripts = embedded_scripts()
    assert {SETUP, SERVICE} <= set(scripts), sorted(scripts)
    assert all(shell == "bash" for shell, _ in (scripts[SETUP], scripts[SERVICE]))


@pytest.mark.parametrize("name", sorted(embedded_scripts()))
def test_shellcheck_passes_every_embedded_script(name: str, tmp_path: Path) -> None:
    tool = require_tool("shellcheck", "lints the scripts in deploy/node/judge0-node.yaml (Debian package shellcheck)")
    shell, text = embedded_scripts()[name]
    script = tmp_path / Path(name).name
    script.write_text(text)
    result = subprocess.run(
        [tool, f"--shell={shell}", "--format=gcc", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{name}:\n{result.stdout}{result.stderr}"


def test_shellcheck_is_a_real_check(tmp_path: Path) -> None:
    tool = require_tool("shellcheck", "lints the scripts in deploy/node/judge0-node.yaml (Debian package shellcheck)")
    _, text = embedded_scripts()[SERVICE]
    script = tmp_path / "judge0-service"
    script.write_text(text.replace('cd "$JUDGE0_DIR"', "cd $JUDGE0_DIR", 1))  # an unquoted path
    result = subprocess.run([tool, "--shell=bash", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "SC2086" in result.stdout, result.stdout


# --- what the file says -----------------------------------------------------------------------
def node_env() -> dict[str, str]:
    values = {}
    for line in files()[NODE_ENV].splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def test_the_judge0_release_and_image_are_pinned_never_latest() -> None:
    settings = node_env()
    assert settings["JUDGE0_VERSION"] == "1.13.1"
    assert settings["JUDGE0_DIR"] == "/opt/judge0"  # where RecoveryPolicy's default restartCommand cds
    text = NODE.read_text()
    images = re.findall(r"judge0/judge0:(\S+?)[\"'\s]", text)
    assert images and set(images) <= {"$JUDGE0_VERSION", "$v"}, images  # the pinned version, nothing else
    assert "local v=$JUDGE0_VERSION" in files()[SETUP]
    assert ":latest" not in text and 'judge0/judge0"' not in text
    assert "releases/download/v$v/judge0-v$v.zip" in files()[SETUP]
    assert re.search(r"COMPOSE_VERSION=v\d+\.\d+\.\d+$", files()[NODE_ENV], re.M)


def test_no_secret_is_written_into_the_user_data() -> None:
    text = NODE.read_text()
    for key in ("AUTHN_TOKEN", "REDIS_PASSWORD", "POSTGRES_PASSWORD", "AUTHZ_TOKEN"):
        assert not re.search(rf"^\s*{key}=\S", text, re.M), key
    assert node_env()["JUDGE0_TOKEN_SOURCE"].startswith(("ssm:", "secretsmanager:"))


def test_the_node_role_policy_reads_exactly_the_parameter_node_env_names() -> None:
    policy = json.loads((ROOT / "deploy" / "node" / "node-role-policy.json").read_text())
    trust = json.loads((ROOT / "deploy" / "node" / "node-role-trust.json").read_text())
    name = node_env()["JUDGE0_TOKEN_SOURCE"].removeprefix("ssm:")
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "ssm:GetParameter"
    assert statement["Resource"] == f"arn:aws:ssm:*:ACCOUNT_ID:parameter{name}"
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "ec2.amazonaws.com"}]


def test_the_host_is_switched_to_cgroup_v1_and_rebooted_once() -> None:
    setup = files()[SETUP]
    assert f"CGROUP_ARG={CGROUP_ARG}" in setup
    assert 'grubby --update-kernel=ALL --args="$CGROUP_ARG"' in setup  # Amazon Linux 2023 (BLS)
    assert f'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX {CGROUP_ARG}"' in setup  # Ubuntu
    assert "update-grub" in setup
    flag = re.search(r"^REBOOT_FLAG=(\S+)$", setup, re.M)
    assert flag is not None
    power = cloud_config()["power_state"]
    assert power["mode"] == "reboot"
    assert power["condition"] == ["test", "-f", flag.group(1)]  # only when setup asked for it
    # The flag is set on a cgroup v2 host only; otherwise Judge0 starts without a reboot.
    branch = setup[setup.index("if cgroup_v2_host; then") :]
    assert branch.index('touch "$REBOOT_FLAG"') < branch.index("else") < branch.index("systemctl start")


def test_cloud_init_runs_setup_and_systemd_owns_judge0_across_reboots() -> None:
    config = cloud_config()
    assert config["runcmd"] == [[SETUP]]
    unit = files()[UNIT]
    assert f"ExecStart={SERVICE} start" in unit and f"ExecStop={SERVICE} stop" in unit
    assert "Requires=docker.service" in unit and re.search(r"^After=.*docker\.service", unit, re.M)
    assert "WantedBy=multi-user.target" in unit
    assert "Restart=on-failure" in unit  # a token not yet readable is retried, not given up on
    assert "systemctl enable judge0.service" in files()[SETUP]
    assert "amazon-ssm-agent" in files()[SETUP]  # left enabled and running for RestartJudge0


def test_the_user_data_fits_ec2_and_the_example_carries_it_verbatim() -> None:
    raw = NODE.read_bytes()
    assert len(raw) <= USER_DATA_MAX_BYTES
    assert raw.startswith(b"#cloud-config\n")
    fleets = [d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d and d.get("kind") == "Judge0Fleet"]
    assert len(fleets) == 1
    user_data = fleets[0]["spec"]["instance"]["userData"]
    assert user_data == raw.decode(), "out of date: run python3 tools/sync_node_example.py"
    InstanceSpec.model_validate(fleets[0]["spec"]["instance"])


# --- judge0-service, run for real against stand-ins -------------------------------------------
FAKE_DOCKER = """#!/bin/bash
echo "$*" >>"$FAKE_LOG/docker"
case "$*" in
  *pg_isready*) exit 0 ;;
  *redis-cli*) echo "NOAUTH Authentication required." ;;
esac
"""
FAKE_AWS = """#!/bin/bash
echo "$*" >>"$FAKE_LOG/aws"
[ "${FAKE_AWS_FAILS:-}" = 1 ] && { echo "An error occurred (AccessDeniedException)" >&2; exit 254; }
printf '%s\\n' "$FAKE_TOKEN"
"""
FAKE_CURL = """#!/bin/bash
echo "$*" >>"$FAKE_LOG/curl"
case "$*" in
  *"http://169.254.169.254/latest/api/token"*) echo imds-session ;;
  *"http://169.254.169.254/latest/meta-data/placement/region"*) echo eu-west-1 ;;
  *) exit 7 ;;
esac
"""
FAKE_SYSTEMCTL = """#!/bin/bash
echo "$*" >>"$FAKE_LOG/systemctl"
"""
# The release's judge0.conf, in the parts judge0-service touches.
RELEASE_CONF = """# Judge0 configuration file
AUTHN_HEADER=X-Auth-Token
AUTHN_TOKEN=
REDIS_HOST=redis
REDIS_PASSWORD=
POSTGRES_HOST=db
POSTGRES_PASSWORD=
"""
TOKEN = "tok-3f9c2a.b_~+/="


class Node:
    """A tmp directory standing in for one node: /opt/judge0, node.env, a cgroup root, stand-ins."""

    def __init__(self, root: Path, *, cgroup_v2: bool = False, **settings: str) -> None:
        self.root = root
        self.judge0 = root / "opt-judge0"
        self.judge0.mkdir()
        self.conf = self.judge0 / "judge0.conf"
        self.conf.write_text(RELEASE_CONF)
        self.logs = root / "log"
        self.logs.mkdir()
        self.cgroup = root / "cgroup"
        self.cgroup.mkdir()
        if cgroup_v2:
            (self.cgroup / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
        self.env_file = root / "node.env"
        overrides = {"JUDGE0_DIR": str(self.judge0), **settings}
        self.env_file.write_text(files()[NODE_ENV] + "".join(f"{k}={shlex.quote(v)}\n" for k, v in overrides.items()))
        self.bin = root / "bin"
        self.bin.mkdir()
        for name, text in {
            "docker": FAKE_DOCKER,
            "aws": FAKE_AWS,
            "curl": FAKE_CURL,
            "systemctl": FAKE_SYSTEMCTL,
        }.items():
            (self.bin / name).write_text(text)
            (self.bin / name).chmod(0o755)
        self.script = root / "judge0-service"
        self.script.write_text(files()[SERVICE])
        self.script.chmod(0o755)

    def run(self, *args: str, token: str = TOKEN, **env: str) -> subprocess.CompletedProcess[str]:
        environment = {
            "PATH": f"{self.bin}:/usr/bin:/bin",  # the stand-ins shadow any real docker, aws or curl
            "JUDGE0_NODE_ENV": str(self.env_file),
            "JUDGE0_CGROUP_ROOT": str(self.cgroup),
            "FAKE_LOG": str(self.logs),
            "FAKE_TOKEN": token,
            **env,
        }
        bash = require_tool("bash", "runs deploy/node's judge0-service")
        return subprocess.run(
            [bash, str(self.script), *args], capture_output=True, text=True, env=environment, timeout=60, check=False
        )

    def calls(self, tool: str) -> list[str]:
        path = self.logs / tool
        return path.read_text().splitlines() if path.exists() else []

    def conf_values(self) -> dict[str, list[str]]:
        values: dict[str, list[str]] = {}
        for line in self.conf.read_text().splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                values.setdefault(key, []).append(value)
        return values


def test_start_refuses_a_cgroup_v2_host_before_anything_runs(tmp_path: Path) -> None:
    node = Node(tmp_path, cgroup_v2=True)
    result = node.run("start")
    assert result.returncode != 0
    assert "cgroup v2" in result.stderr and "status 13" in result.stderr and CGROUP_ARG in result.stderr
    assert node.calls("docker") == [] and node.calls("aws") == []
    assert node.conf.read_text() == RELEASE_CONF


def test_start_brings_up_db_and_redis_first_then_server_and_workers(tmp_path: Path) -> None:
    node = Node(tmp_path)
    result = node.run("start")
    assert result.returncode == 0, result.stderr
    docker = node.calls("docker")
    assert docker, "judge0-service did not call docker"
    first_up = docker.index("compose up -d db redis")
    db_ready = next(i for i, c in enumerate(docker) if "exec -T db pg_isready" in c)
    redis_ready = next(i for i, c in enumerate(docker) if "exec -T redis redis-cli ping" in c)
    apps = [i for i, c in enumerate(docker) if re.search(r"\bup\b.*\b(server|workers)\b", c)]
    assert apps == [len(docker) - 1], docker  # server and workers once, last
    assert "--no-deps" in docker[-1] and "server workers" in docker[-1]
    assert first_up < db_ready < apps[0] and first_up < redis_ready < apps[0], docker
    override = yaml.safe_load((node.judge0 / "docker-compose.override.yml").read_text())
    assert override["services"]["server"]["image"] == "judge0/judge0:1.13.1"
    assert override["services"]["workers"]["image"] == "judge0/judge0:1.13.1"
    assert {s["restart"] for s in override["services"].values()} == {"unless-stopped"}


def test_start_reads_the_token_through_the_instance_role_and_never_shows_it(tmp_path: Path) -> None:
    node = Node(tmp_path)
    result = node.run("start")
    assert result.returncode == 0, result.stderr
    (aws,) = node.calls("aws")
    assert aws.split() == [
        "ssm", "get-parameter", "--region", "eu-west-1", "--name", "/judge0/auth-token",
        "--with-decryption", "--query", "Parameter.Value", "--output", "text",
    ]  # fmt: skip
    assert all("http://169.254.169.254/latest/" in c for c in node.calls("curl"))  # IMDSv2 only
    assert any("-X PUT" in c for c in node.calls("curl"))
    values = node.conf_values()
    assert values["AUTHN_TOKEN"] == [TOKEN]
    redis, postgres = values["REDIS_PASSWORD"], values["POSTGRES_PASSWORD"]
    assert len(redis) == len(postgres) == 1
    assert re.fullmatch(r"[0-9a-f]{64}", redis[0]) and re.fullmatch(r"[0-9a-f]{64}", postgres[0])
    assert redis != postgres
    seen = result.stdout + result.stderr + "".join(node.calls("docker")) + "".join(node.calls("curl"))
    for secret in (TOKEN, redis[0], postgres[0]):
        assert secret not in seen


def test_a_restart_keeps_the_passwords_and_takes_a_rotated_token(tmp_path: Path) -> None:
    node = Node(tmp_path)
    assert node.run("start").returncode == 0
    before = node.conf_values()
    result = node.run("start", token="rotated-token-2")
    assert result.returncode == 0, result.stderr
    after = node.conf_values()
    assert after["AUTHN_TOKEN"] == ["rotated-token-2"]
    assert after["REDIS_PASSWORD"] == before["REDIS_PASSWORD"]
    assert after["POSTGRES_PASSWORD"] == before["POSTGRES_PASSWORD"]
    assert after["AUTHN_HEADER"] == ["X-Auth-Token"] and after["REDIS_HOST"] == ["redis"]  # the rest untouched


def test_the_token_can_come_from_secrets_manager_by_arn(tmp_path: Path) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:judge0/auth-token-AbCdEf"
    node = Node(tmp_path, JUDGE0_TOKEN_SOURCE=f"secretsmanager:{arn}")
    result = node.run("start")
    assert result.returncode == 0, result.stderr
    (aws,) = node.calls("aws")
    assert aws.startswith("secretsmanager get-secret-value --region eu-west-1 ") and f"--secret-id {arn} " in aws
    assert node.conf_values()["AUTHN_TOKEN"] == [TOKEN]


@pytest.mark.parametrize(
    "token", ["", "two tokens", "$(reboot)", "quote'd", "semi;colon"], ids=["empty", "space", "subst", "quote", "semi"]
)
def test_a_token_judge0_conf_cannot_hold_stops_the_start(tmp_path: Path, token: str) -> None:
    node = Node(tmp_path)
    result = node.run("start", token=token)
    assert result.returncode != 0
    assert "not made of letters, digits" in result.stderr
    assert node.calls("docker") == []
    assert node.conf.read_text() == RELEASE_CONF


def test_an_unreadable_token_stops_the_start_and_says_why(tmp_path: Path) -> None:
    node = Node(tmp_path)
    result = node.run("start", FAKE_AWS_FAILS="1")
    assert result.returncode != 0
    assert "does the instance role allow it?" in result.stderr
    assert node.calls("docker") == []


def test_without_a_token_source_judge0_runs_without_authentication_and_says_so(tmp_path: Path) -> None:
    node = Node(tmp_path, JUDGE0_TOKEN_SOURCE="")
    result = node.run("start")
    assert result.returncode == 0, result.stderr
    assert "without authentication" in result.stderr
    assert node.calls("aws") == [] and node.conf_values()["AUTHN_TOKEN"] == [""]


def test_a_floating_version_is_refused(tmp_path: Path) -> None:
    node = Node(tmp_path, JUDGE0_VERSION="latest")
    result = node.run("start")
    assert result.returncode != 0 and "JUDGE0_VERSION" in result.stderr
    assert node.calls("docker") == []


def test_prepare_image_leaves_no_secret_and_no_database(tmp_path: Path) -> None:
    node = Node(tmp_path)
    assert node.run("start").returncode == 0
    result = node.run("prepare-image")
    assert result.returncode == 0, result.stderr
    assert node.calls("systemctl") == ["stop judge0.service"]
    assert node.calls("docker")[-1] == "compose down --volumes --remove-orphans"
    values = node.conf_values()
    assert values["AUTHN_TOKEN"] == values["REDIS_PASSWORD"] == values["POSTGRES_PASSWORD"] == [""]


def test_stop_stops_the_stack(tmp_path: Path) -> None:
    node = Node(tmp_path)
    result = node.run("stop")
    assert result.returncode == 0, result.stderr
    assert node.calls("docker") == ["compose stop"]
