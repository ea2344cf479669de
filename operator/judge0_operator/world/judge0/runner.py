"""Runs submitted code for the Judge0 simulator, the way isolate + ``IsolateJob`` would report it.

Only Python (language 71) really runs: with this machine's interpreter in isolated mode
(``python -I``), in a throw-away box directory holding ``script.py`` (so tracebacks name
``script.py`` exactly as on a real node), with the environment stripped, stdin fed through a pipe,
a wall-clock limit, CPU / address-space limits set inside the child, stdout/stderr capped at
``max_file_size`` (exceeding it is reported as SIGXFSZ, as isolate's file-size limit would), and the
loopback-only guard installed before the program starts. CPU time and max RSS come from the child's
own ``getrusage`` written to a meta file outside the box, like isolate's ``meta.txt``.

"Plain Text" (43) is simulated faithfully (its run command is ``cat``). Every other language is
honest about not being available: status 13 Internal Error with a message saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judge0_operator.world import loopback
from judge0_operator.world.judge0.catalog import (
    ACCEPTED,
    INTERNAL_ERROR,
    LANGUAGES,
    RUNTIME_ERROR_NZEC,
    RUNTIME_ERROR_OTHER,
    SIGNAL_STATUS,
    TIME_LIMIT_EXCEEDED,
    WRONG_ANSWER,
)
from judge0_operator.world.judge0.submission import Submission

PYTHON_LANGUAGE_ID = 71
PLAIN_TEXT_LANGUAGE_ID = 43
SANDBOX_BROKEN_MESSAGE = "No such file or directory @ rb_sysopen - /box/script.py"

# Runs inside the child before the program: loopback guard, limits, then script.py as __main__.
# Uncaught exceptions are printed without this wrapper's frame, so stderr matches ``python3 script.py``.
_BOOT = r"""
import sys
_meta, _guard, _cpu, _mem = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sys.argv = ["script.py", *sys.argv[5:]]
import importlib.util, resource, types
_spec = importlib.util.spec_from_file_location("_judge0_sim_loopback_guard", _guard)
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
_mod.install_guard_if_requested()
resource.setrlimit(resource.RLIMIT_CPU, (_cpu, _cpu))
if _mem > 0:
    resource.setrlimit(resource.RLIMIT_AS, (_mem, _mem))

def _report():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(_meta, "w") as meta:
        meta.write(f"{usage.ru_utime + usage.ru_stime:.6f} {usage.ru_maxrss}\n")

def _main():
    with open("script.py", "rb") as source:
        code = compile(source.read(), "script.py", "exec")
    module = types.ModuleType("__main__")
    module.__file__ = "script.py"
    sys.modules["__main__"] = module
    exec(code, module.__dict__)

try:
    try:
        _main()
    except SystemExit:
        raise
    except BaseException as error:
        import traceback
        tb = error.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != "script.py":
            tb = tb.tb_next
        traceback.print_exception(type(error), error, tb)
        sys.stderr.flush()
        raise SystemExit(1) from None
finally:
    _report()
"""


@dataclass(frozen=True, slots=True)
class RunResult:
    """What ``IsolateJob`` writes back to the submission row."""

    status_id: int
    stdout: bytes | None = None
    stderr: bytes | None = None
    compile_output: bytes | None = None
    message: str | None = None
    exit_code: int | None = None
    exit_signal: int | None = None
    time: float | None = None
    wall_time: float | None = None
    memory: int | None = None

    @staticmethod
    def internal_error(message: str) -> RunResult:
        return RunResult(status_id=INTERNAL_ERROR, message=message)


def _strip_output(text: bytes | None) -> bytes | None:
    """``IsolateJob#strip``: right-strip each line, join, strip the whole."""
    if text is None:
        return None
    return b"\n".join(line.rstrip() for line in text.split(b"\n")).strip()


def judge(stdout: bytes | None, expected_output: bytes | None) -> int:
    """Accepted unless an expected output was given and differs (nil stdout never equals one)."""
    if expected_output is None or _strip_output(expected_output) == _strip_output(stdout):
        return ACCEPTED
    return WRONG_ANSWER


class _Capture:
    """Reads one pipe into a buffer, stopping at ``limit`` bytes (the file-size limit)."""

    def __init__(self, limit: int) -> None:
        self.buffer = bytearray()
        self.limit = limit
        self.overflowed = False

    async def drain(self, stream: asyncio.StreamReader | None, on_overflow: asyncio.Event) -> None:
        if stream is None:
            return
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                return
            room = self.limit - len(self.buffer)
            self.buffer += chunk[: max(room, 0)]
            if len(chunk) > room and not self.overflowed:
                self.overflowed = True
                on_overflow.set()
            # past the limit: keep draining to EOF, so the pipe closes once the child is killed

    def value(self) -> bytes | None:
        return bytes(self.buffer) or None  # an empty output is stored as null


class CodeRunner:
    """Executes submissions with bounded concurrency (a semaphore shared by workers and ``wait``)."""

    def __init__(self, *, max_concurrent_runs: int = 4, run_timeout_seconds: float = 5.0) -> None:
        self._slots = asyncio.Semaphore(max_concurrent_runs)
        self._run_timeout = run_timeout_seconds
        self._guard_path = str(Path(loopback.__file__).resolve())

    async def run(self, submission: Submission) -> RunResult:
        language = LANGUAGES.get(submission.language_id)
        if submission.language_id == PLAIN_TEXT_LANGUAGE_ID:
            stdout = submission.source_code or None
            return RunResult(status_id=judge(stdout, submission.expected_output), stdout=stdout,
                             exit_code=0, time=0.001, wall_time=0.001, memory=256)
        if submission.language_id != PYTHON_LANGUAGE_ID:
            name = language.name if language else str(submission.language_id)
            return RunResult.internal_error(f"language {name} is not available in the Judge0 simulator "
                                            f"(only Python (3.8.1) and Plain Text run)")
        async with self._slots:
            return await self._run_python(submission)

    async def _run_python(self, submission: Submission) -> RunResult:
        workdir = Path(tempfile.mkdtemp(prefix="judge0-sim-"))
        try:
            box = workdir / "box"
            box.mkdir()
            (box / "script.py").write_bytes(submission.source_code)
            return await self._execute(submission, box, workdir / "meta.txt")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    async def _execute(self, submission: Submission, box: Path, meta: Path) -> RunResult:
        wall_limit = min(self._run_timeout, submission.wall_time_limit)
        cpu_limit = max(1, math.ceil(submission.cpu_time_limit + submission.cpu_extra_time))
        args = shlex.split(submission.command_line_arguments or "")
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(box),
               loopback.ENV_FLAG: "1"}
        merge = submission.redirect_stderr_to_stdout
        stderr_target = asyncio.subprocess.STDOUT if merge else asyncio.subprocess.PIPE
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-c", _BOOT, str(meta), self._guard_path, str(cpu_limit),
            str(submission.memory_limit * 1024), *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=stderr_target,
            cwd=box, env=env, start_new_session=True,
        )
        limit = submission.max_file_size * 1024
        out, err, overflow = _Capture(limit), _Capture(limit), asyncio.Event()

        async def feed() -> None:
            assert process.stdin is not None
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                process.stdin.write(submission.stdin or b"")
                await process.stdin.drain()
            process.stdin.close()

        async def communicate() -> None:
            await asyncio.gather(feed(), out.drain(process.stdout, overflow),
                                 err.drain(process.stderr, overflow))
            await process.wait()

        io = asyncio.ensure_future(communicate())
        stop = asyncio.ensure_future(overflow.wait())
        try:
            done, _ = await asyncio.wait({io, stop}, timeout=wall_limit, return_when=asyncio.FIRST_COMPLETED)
            timed_out = not done
        finally:  # also on cancellation (a restarted node): never leave a child running
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            stop.cancel()
            # With the whole group dead the pipes reach EOF and ``io`` ends; a child that escaped
            # the group could hold them open, so give up after a moment and close our ends.
            _, pending = await asyncio.wait({io}, timeout=2.0)
            if pending:
                io.cancel()
                process._transport.close()  # type: ignore[attr-defined]
            await asyncio.gather(io, stop, return_exceptions=True)
        wall_time = time.monotonic() - started
        cpu_time, memory = _read_meta(meta)
        stdout, stderr = out.value(), err.value()
        common: dict[str, Any] = {"stdout": stdout, "stderr": stderr, "wall_time": wall_time,
                  "time": cpu_time if cpu_time is not None else wall_time, "memory": memory or 0}
        returncode = process.returncode
        if timed_out:
            return RunResult(status_id=TIME_LIMIT_EXCEEDED, message="Time limit exceeded (wall clock)",
                             exit_signal=int(signal.SIGKILL), **common)
        if out.overflowed or err.overflowed:
            xfsz = int(signal.SIGXFSZ)
            return RunResult(status_id=SIGNAL_STATUS[xfsz], message=f"Caught fatal signal {xfsz}",
                             exit_signal=xfsz, **common)
        if returncode is not None and returncode < 0:
            signum = -returncode
            if signum == signal.SIGXCPU:
                return RunResult(status_id=TIME_LIMIT_EXCEEDED, message="Time limit exceeded",
                                 exit_signal=signum, **common)
            return RunResult(status_id=SIGNAL_STATUS.get(signum, RUNTIME_ERROR_OTHER),
                             message=f"Caught fatal signal {signum}", exit_signal=signum, **common)
        if returncode:
            return RunResult(status_id=RUNTIME_ERROR_NZEC, message=f"Exited with error status {returncode}",
                             exit_code=returncode, **common)
        return RunResult(status_id=judge(stdout, submission.expected_output), exit_code=0, **common)


def _read_meta(meta: Path) -> tuple[float | None, int | None]:
    """(CPU seconds, max RSS in KB) the child reported, or (None, None) if it never got to say."""
    try:
        cpu, rss = meta.read_text().split()
        return float(cpu), int(rss)
    except (OSError, ValueError):
        return None, None
