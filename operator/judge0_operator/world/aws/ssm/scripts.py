"""What a Run Command script does on a Judge0 host, read from its text: which ``docker compose
restart`` services it restarts and whether it runs ``rake judge0:run_in_queue`` (the data volume's
``df`` and cleanups are read in ``disk.py``). Pure string work, so it is tested on its own."""

from __future__ import annotations

import re
import shlex

from judge0_operator.world.faults.catalogue import COMPOSE_SERVICES

_SERVICE_ALIASES = {
    "server": "server",
    "web": "server",
    "workers": "workers",
    "worker": "workers",
    "db": "db",
    "postgres": "db",
    "redis": "redis",
}
_PREFIX_COMMANDS = {"sudo", "env", "exec", "nohup", "time", "command"}
_SEGMENT_SPLIT = re.compile(r"&&|\|\||[;\n|]")
_RUN_IN_QUEUE = re.compile(r"\brake\b[^;&|\n]*\bjudge0:run_in_queue\b")
_OPTIONS_WITH_VALUE = {
    "-t",
    "--timeout",
    "-f",
    "--file",
    "-p",
    "--project-name",
    "--project-directory",
    "--env-file",
    "--profile",
    "--ansi",
    "--progress",
    "--parallel",
}


def compose_restart_services(commands: list[str]) -> frozenset[str] | None:
    """Services a script restarts with ``docker compose restart``; None when it restarts nothing.

    ``docker compose restart`` without service names restarts all four services.
    """
    found: set[str] = set()
    matched = False
    for segment in _SEGMENT_SPLIT.split("\n".join(commands)):
        try:
            words = shlex.split(segment)
        except ValueError:
            words = segment.split()
        words = [w.strip("(){}") for w in words if w.strip("(){}")]  # subshells: (docker compose … )
        while words and (words[0] in _PREFIX_COMMANDS or "=" in words[0] or words[0].startswith("-")):
            words = words[1:]  # sudo, env, VAR=value, options of those
        if words[:1] == ["docker-compose"]:
            rest = words[1:]
        elif words[:2] == ["docker", "compose"]:
            rest = words[2:]
        else:
            continue
        services = _after_restart(rest)
        if services is not None:
            matched = True
            found |= services or set(COMPOSE_SERVICES)
    return frozenset(found) if matched else None


def runs_in_queue(commands: list[str]) -> bool:
    """True when a script runs Judge0's ``rake judge0:run_in_queue`` (however it reaches the server
    container: ``docker compose exec -T server …``, ``docker exec …``, directly)."""
    return any(_RUN_IN_QUEUE.search(line) for line in commands)


def _after_restart(words: list[str]) -> set[str] | None:
    skip = False
    for index, word in enumerate(words):
        if skip:
            skip = False
            continue
        if word.startswith("-"):
            skip = word in _OPTIONS_WITH_VALUE
            continue
        if word != "restart":
            return None  # another compose subcommand
        services: set[str] = set()
        skip = False
        for arg in words[index + 1 :]:
            if skip:
                skip = False
            elif arg.startswith("-"):
                skip = arg in _OPTIONS_WITH_VALUE
            elif arg in _SERVICE_ALIASES:
                services.add(_SERVICE_ALIASES[arg])
        return services
    return None
