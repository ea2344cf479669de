"""The API of diagnosis and targeted repair: the disk probe, per-component restart commands, the
disk cleanup, what status records about broken templates, and the human controls.

Judge0's failures have causes its API shows (/work/shared/judge0-failures.md): Redis or Postgres
down, a host whose sandbox cannot run code, a filling disk, a wrong token, maintenance. The
policy says how each component is restarted (Judge0's compose service names by default) and how
a disk is cleaned; the fleet's annotations and the instances' tags carry a human's controls.
"""

from __future__ import annotations

from pydantic import Field

from judge0_operator.api.common import ApiModel

# --- Human controls -------------------------------------------------------------------------------
# On the Judge0Fleet (annotations) or on one EC2 instance (tags), as Karpenter's do-not-disrupt and
# Cluster API's remediate-machine. Each is reflected in status and an Event.
DO_NOT_DISRUPT = "judge0.dev/do-not-disrupt"
"""Fleet annotation: instance ids (comma or space separated); instance tag: ``true``. No remediation,
no scale-in, no rollout replacement; the instance still counts and is reported."""
REMEDIATE = "judge0.dev/remediate"
"""Fleet annotation: ``<instance-id>=<Restart|Reboot|Replace>`` entries (comma or space separated);
instance tag: ``Restart``, ``Reboot`` or ``Replace``. Done once, now, within the safety limits;
remove the entry (or tag) and set it again to ask again."""
RESET_CIRCUIT = "judge0.dev/reset-circuit"
"""Fleet annotation: any new value (a timestamp) clears what blocks the fleet until a human says so:
a terminal AWS error (awsError), the AWS circuit breakers of its region, defective templates and
instances remediation gave up on."""
REQUEST_ACTIONS = ("Restart", "Reboot", "Replace")

DEFAULT_JUDGE0_DIR = "/opt/judge0"


def compose_restart(*services: str, directory: str = DEFAULT_JUDGE0_DIR) -> str:
    """``docker compose restart <services>`` in Judge0's directory (Compose v1 as the fallback)."""
    names = " ".join(services)
    return f"cd {directory} && (docker compose restart {names} || docker-compose restart {names})"


DEFAULT_CLEANUP_COMMAND = (
    "cd /opt/judge0 && docker image prune -af; "
    "(docker compose exec -T db psql -U judge0 -d judge0 -c "
    "\"DELETE FROM submissions WHERE created_at < now() - interval '{retentionDays} days'\" || "
    "docker-compose exec -T db psql -U judge0 -d judge0 -c "
    "\"DELETE FROM submissions WHERE created_at < now() - interval '{retentionDays} days'\")"
)


class ComponentCommands(ApiModel):
    """The restart rung's command per diagnosed component, run through SSM (AWS-RunShellScript).

    WebDown restarts ``server``, WorkersStuck ``workers``, RedisDown ``redis``, DatabaseDown ``db``;
    any other diagnosis the restart rung can help with runs ``remediation.restartCommand``. After
    workers, Redis or db, ``remediation.requeueCommand`` re-enqueues what Judge0 left In Queue.
    """

    server: str = Field(default=compose_restart("server"), min_length=1, description="Restart the web process.")
    workers: str = Field(default=compose_restart("workers"), min_length=1, description="Restart the workers.")
    redis: str = Field(
        default=compose_restart("redis"),
        min_length=1,
        description="Restart Redis (no persistence in the shipped compose file: the queue is lost, then re-enqueued).",
    )
    db: str = Field(
        default=f"{compose_restart('db')} && (docker compose restart server workers || "
        "docker-compose restart server workers)",
        min_length=1,
        description="Restart Postgres, then server and workers (they hold dead connections).",
    )

    def for_component(self, component: str) -> str | None:
        return {"server": self.server, "workers": self.workers, "redis": self.redis, "db": self.db}.get(component)


class DiskProbe(ApiModel):
    """The data volume through SSM (``df -Pk <path>``, one command per fleet for up to 50 instances)
    and Judge0's GET /statistics database size, both at a long interval: DiskPressure above the
    thresholds. Judge0 never purges submissions, and a full disk takes the node down with no warning."""

    enabled: bool = Field(default=True, description="Run this probe.")
    interval_seconds: int = Field(
        default=900, ge=5, le=86400, description="How often (SSM Run Command is rate-limited: keep it long)."
    )
    timeout_seconds: int = Field(default=60, ge=5, le=600, description="How long to wait for the command.")
    unhealthy_after_seconds: int = Field(
        default=0, ge=0, le=86400, description="How long pressure must last (counted from the first reading)."
    )
    path: str = Field(
        default="/var/lib/docker",
        pattern=r"^/[A-Za-z0-9._/-]*$",
        description="The data volume (Docker's root holds Postgres' volume and the images).",
    )
    threshold_percent: int = Field(default=85, ge=1, le=100, description="DiskPressure at or above this use.")
    max_database_bytes: int | None = Field(
        default=None,
        ge=1,
        description="Also DiskPressure when /statistics reports a database this large (unset: not judged).",
    )


class Cleanup(ApiModel):
    """What DiskPressure runs first (through SSM); the normal ladder follows if pressure remains."""

    enabled: bool = Field(default=True, description="Clean before the ladder; off: DiskPressure goes to the ladder.")
    command: str = Field(
        default=DEFAULT_CLEANUP_COMMAND,
        min_length=1,
        description=(
            "Shell run through SSM; {retentionDays} is replaced. Default: docker image prune, then delete "
            "submissions older than the retention (Postgres frees the space for reuse)."
        ),
    )
    retention_days: int = Field(default=30, ge=1, le=3650, description="Submissions older than this are purged.")
    attempts: int = Field(default=1, ge=1, le=5, description="Cleanups before the normal ladder takes over.")
    timeout_seconds: int = Field(default=300, ge=10, le=7200, description="How long one cleanup may take.")

    def rendered(self) -> str:
        return self.command.replace("{retentionDays}", str(self.retention_days))


class DefectiveTemplate(ApiModel):
    """A template whose replacement failed the way the instance it replaced did: no more launches from it."""

    template_hash: str = Field(description="The instance template (status.templateHash of its time).")
    diagnosis: str = Field(description="What both instances showed, e.g. SandboxBroken.")
    evidence: str = Field(default="", description="The probes' evidence, e.g. the isolate message.")
    instances: list[str] = Field(
        default_factory=list, description="The instance and the replacement that failed alike."
    )
    since: str = Field(description="When it was marked (RFC 3339).")


class Predecessor(ApiModel):
    """The instance a replacement was launched for, as it was then: the test of a broken template."""

    instance_id: str = Field(description="The instance replaced.")
    diagnosis: str | None = Field(default=None, description="Its diagnosis when the replacement was launched.")
    template_hash: str = Field(default="", description="The template it was launched from.")
    evidence: str = Field(default="", description="The evidence behind that diagnosis.")
