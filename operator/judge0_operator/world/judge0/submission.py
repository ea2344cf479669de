"""The Judge0 v1.13.1 submission model: parameter casting, validation (422), fields and rendering.

Mirrors ``app/models/submission.rb``, ``SubmissionSerializer``, ``Fields::Submission`` and
``Base64Service`` closely enough that a client cannot tell the difference on the fields the
operator reads: ``time``/``wall_time`` are decimal *strings*, ``memory`` an integer, ``status`` an
object, text fields raw UTF-8 or Ruby-style Base64 (``Base64.encode64``: a newline every 60
characters and at the end).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from judge0_operator.world.judge0.catalog import CONFIG_DEFAULTS, IN_QUEUE, LANGUAGES, STATUSES

# Serializer attributes: the submissions table's columns in schema order (minus ``id``), then
# ``status`` and ``language``. ``fields`` output follows this order, not the request's.
SUBMISSION_ATTRIBUTES = (
    "source_code", "language_id", "stdin", "expected_output", "stdout", "status_id", "created_at",
    "finished_at", "time", "memory", "stderr", "token", "number_of_runs", "cpu_time_limit",
    "cpu_extra_time", "wall_time_limit", "memory_limit", "stack_limit", "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit",
    "max_file_size", "compile_output", "exit_code", "exit_signal", "message", "wall_time",
    "compiler_options", "command_line_arguments", "redirect_stderr_to_stdout", "callback_url",
    "additional_files", "enable_network", "status", "language",
)
DEFAULT_FIELDS = ("token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status")
_ATTRIBUTE_SET = frozenset(SUBMISSION_ATTRIBUTES)
_TEXT_ATTRIBUTES = frozenset({"source_code", "stdin", "expected_output", "stdout", "stderr",
                              "compile_output"})
UTF8_ERROR = ("some attributes for this submission cannot be converted to UTF-8, "
              "use base64_encoded=true query parameter")


class Utf8ConversionError(Exception):
    """An output is not valid UTF-8 and the client did not ask for Base64 (Judge0 answers 400)."""


# ---------------------------------------------------------------------------------------------
# Ruby Base64 (Base64.encode64 / decode64)
# ---------------------------------------------------------------------------------------------

def ruby_encode64(data: bytes) -> str:
    """``Base64.encode64``: RFC 2045 lines of 60 characters, each ended by a newline."""
    encoded = base64.b64encode(data).decode("ascii")
    return "".join(encoded[i:i + 60] + "\n" for i in range(0, len(encoded), 60))


_NON_B64 = re.compile(rb"[^A-Za-z0-9+/]")


def ruby_decode64(text: str) -> bytes:
    """``Base64.decode64``: lenient, ignores characters outside the alphabet and missing padding."""
    cleaned = _NON_B64.sub(b"", text.encode("utf-8", "surrogateescape"))
    cleaned = cleaned[: len(cleaned) - len(cleaned) % 4] if len(cleaned) % 4 == 1 else cleaned
    try:
        return base64.b64decode(cleaned + b"=" * (-len(cleaned) % 4))
    except binascii.Error:  # pragma: no cover - cleaned input always decodes
        return b""


# ---------------------------------------------------------------------------------------------
# Fields
# ---------------------------------------------------------------------------------------------

def parse_fields(fields_param: str | None) -> tuple[tuple[str, ...], list[str]]:
    """(requested attributes in serializer order, invalid names) for a ``fields`` query parameter."""
    names = [name for name in (fields_param or "").split(",") if name != ""]
    invalid = [name for name in names if name not in _ATTRIBUTE_SET and name != "*"]
    if "*" in names:
        return SUBMISSION_ATTRIBUTES, invalid
    chosen = set(names) or set(DEFAULT_FIELDS)
    return tuple(name for name in SUBMISSION_ATTRIBUTES if name in chosen), invalid


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------

def _now() -> datetime:
    return datetime.now(UTC)


def rails_time(moment: datetime | None) -> str | None:
    """ActiveSupport's JSON time: ISO 8601, milliseconds, ``Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decimal_string(value: float | None) -> str | None:
    """A SQL decimal as Rails renders it: ``"0.012"``, ``"5.0"`` (never a JSON number)."""
    if value is None:
        return None
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


@dataclass(slots=True)
class Submission:
    """One row of the ``submissions`` table, as the simulator keeps it."""

    language_id: int
    source_code: bytes
    stdin: bytes | None = None
    expected_output: bytes | None = None
    number_of_runs: int = 1
    cpu_time_limit: float = 5.0
    cpu_extra_time: float = 1.0
    wall_time_limit: float = 10.0
    memory_limit: int = 128000
    stack_limit: int = 64000
    max_processes_and_or_threads: int = 60
    enable_per_process_and_thread_time_limit: bool = False
    enable_per_process_and_thread_memory_limit: bool = False
    max_file_size: int = 1024
    compiler_options: str | None = None
    command_line_arguments: str | None = None
    redirect_stderr_to_stdout: bool = False
    callback_url: str | None = None
    additional_files: bytes | None = None
    enable_network: bool = False
    token: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=_now)
    status_id: int = IN_QUEUE
    finished_at: datetime | None = None
    time: float | None = None
    wall_time: float | None = None
    memory: int | None = None
    stdout: bytes | None = None
    stderr: bytes | None = None
    compile_output: bytes | None = None
    message: str | None = None
    exit_code: int | None = None
    exit_signal: int | None = None

    @property
    def finished(self) -> bool:
        return self.status_id > 2

    def render(self, fields: tuple[str, ...], *, base64_encoded: bool) -> dict[str, Any]:
        """The JSON object for ``fields``; raises ``Utf8ConversionError`` like Judge0 does."""
        return {name: self._attribute(name, base64_encoded) for name in fields}

    def _attribute(self, name: str, base64_encoded: bool) -> Any:
        if name in _TEXT_ATTRIBUTES:
            raw: bytes | None = getattr(self, name)
            if raw is None:
                return None
            if base64_encoded:
                return ruby_encode64(raw)
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise Utf8ConversionError(name) from error
        if name == "message":
            if self.message is not None and base64_encoded:
                return ruby_encode64(self.message.encode("utf-8"))
            return self.message
        if name == "status":
            return {"id": self.status_id, "description": STATUSES[self.status_id]}
        if name == "language":
            language = LANGUAGES.get(self.language_id)
            return {"id": self.language_id, "name": language.name if language else None}
        if name in ("created_at", "finished_at"):
            return rails_time(getattr(self, name))
        if name in ("time", "wall_time", "cpu_time_limit", "cpu_extra_time", "wall_time_limit"):
            return decimal_string(getattr(self, name))
        if name == "additional_files":
            return ruby_encode64(self.additional_files) if self.additional_files is not None else None
        return getattr(self, name)


# ---------------------------------------------------------------------------------------------
# Building from request parameters (casting + validation)
# ---------------------------------------------------------------------------------------------

PERMITTED = (
    "source_code", "language_id", "compiler_options", "command_line_arguments", "number_of_runs", "stdin",
    "expected_output", "cpu_time_limit", "cpu_extra_time", "wall_time_limit", "memory_limit",
    "stack_limit", "max_processes_and_or_threads", "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit", "max_file_size", "redirect_stderr_to_stdout",
    "callback_url", "additional_files", "enable_network",
)
# attribute → (minimum, minimum inclusive?, maximum) — the model's numericality validations.
_NUMERIC_RULES: dict[str, tuple[float, bool, float]] = {
    "number_of_runs": (0, False, CONFIG_DEFAULTS["max_number_of_runs"]),
    "cpu_time_limit": (0, True, CONFIG_DEFAULTS["max_cpu_time_limit"]),
    "cpu_extra_time": (0, True, CONFIG_DEFAULTS["max_cpu_extra_time"]),
    "wall_time_limit": (1, True, CONFIG_DEFAULTS["max_wall_time_limit"]),
    "memory_limit": (2048, True, CONFIG_DEFAULTS["max_memory_limit"]),
    "stack_limit": (0, True, CONFIG_DEFAULTS["max_stack_limit"]),
    "max_processes_and_or_threads": (0, False, CONFIG_DEFAULTS["max_max_processes_and_or_threads"]),
    "max_file_size": (0, True, CONFIG_DEFAULTS["max_max_file_size"]),
}
_DECIMAL_ATTRIBUTES = frozenset({"cpu_time_limit", "cpu_extra_time", "wall_time_limit"})
_BOOLEAN_ATTRIBUTES = ("enable_per_process_and_thread_time_limit",
                       "enable_per_process_and_thread_memory_limit",
                       "redirect_stderr_to_stdout", "enable_network")
_FALSE_VALUES = {"0", "f", "F", "false", "FALSE", "off", "OFF"}


def _ruby_number(value: float) -> str:
    return str(value) if isinstance(value, float) else str(int(value))


def _as_text(value: Any) -> str | None:
    """ActiveModel's String type: scalars become text, booleans ``"t"``/``"f"``, objects are unpermitted."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def _as_number(value: Any) -> float | None:
    """The raw value as numericality sees it; ``None`` for "is not a number"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _as_integer(value: Any) -> int | None:
    """ActiveModel's Integer type (``to_i``): ``"71"`` → 71, ``"abc"`` → 0."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int | float):
        return int(value)
    match = re.match(r"\s*([+-]?\d+)", str(value))
    return int(match.group(1)) if match else 0


def _as_boolean(value: Any, default: bool) -> bool:
    if value is None or value == "" or isinstance(value, dict | list):
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return str(value) not in _FALSE_VALUES


def _blank(value: bytes | None) -> bool:
    return value is None or value.decode("utf-8", "replace").strip() == ""


def build_submission(params: dict[str, Any], *, base64_encoded: bool
                     ) -> tuple[Submission | None, dict[str, list[str]]]:
    """(submission, {}) or (None, errors) — the model's validations, in their declaration order."""
    raw = {name: params.get(name) for name in PERMITTED}
    errors: dict[str, list[str]] = {}

    def add(attribute: str, message: str) -> None:
        errors.setdefault(attribute, []).append(message)

    def text_bytes(name: str, decode: bool) -> bytes | None:
        text = _as_text(raw[name])
        if text is None:
            return None
        return ruby_decode64(text) if decode else text.encode("utf-8", "surrogateescape")

    source_code = text_bytes("source_code", base64_encoded)
    stdin = text_bytes("stdin", base64_encoded)
    expected_output = text_bytes("expected_output", base64_encoded)
    additional_files = text_bytes("additional_files", True)
    language_id = _as_integer(raw["language_id"])
    language = LANGUAGES.get(language_id) if language_id is not None else None

    if _blank(source_code):
        add("source_code", "can't be blank")
    if language_id is None:
        add("language_id", "can't be blank")

    values: dict[str, Any] = {}
    for name, (minimum, inclusive, maximum) in _NUMERIC_RULES.items():
        given = raw[name]
        if given is None or given == "":
            values[name] = CONFIG_DEFAULTS[name]
            continue
        number = _as_number(given)
        if number is None:
            add(name, "is not a number")
            continue
        if inclusive and number < minimum:
            add(name, f"must be greater than or equal to {_ruby_number(minimum)}")
        elif not inclusive and number <= minimum:
            add(name, f"must be greater than {_ruby_number(minimum)}")
        elif number > maximum:
            add(name, f"must be less than or equal to {_ruby_number(maximum)}")
        values[name] = number if name in _DECIMAL_ATTRIBUTES else int(number)

    compiler_options = _as_text(raw["compiler_options"])
    command_line_arguments = _as_text(raw["command_line_arguments"])
    for name, text in (("compiler_options", compiler_options),
                       ("command_line_arguments", command_line_arguments)):
        if text is not None and len(text) > 512:
            add(name, "is too long (maximum is 512 characters)")

    if language is None:
        add("language_id", f"language with id {'' if language_id is None else language_id} doesn't exist")
    elif language.is_archived:
        add("language_id", f"language with id {language_id} is archived and cannot be used anymore")
    interpreted = language is not None and language.compile_cmd is None
    if compiler_options and compiler_options.strip() and interpreted:
        add("compiler_options", "setting compiler options is only allowed for compiled languages")

    if errors:
        return None, errors
    assert language_id is not None and source_code is not None
    flags: dict[str, Any] = {name: _as_boolean(raw[name], CONFIG_DEFAULTS.get(name, False))
                             for name in _BOOLEAN_ATTRIBUTES}
    submission = Submission(
        language_id=language_id,
        source_code=source_code,
        stdin=stdin,
        expected_output=expected_output,
        compiler_options=compiler_options,
        command_line_arguments=command_line_arguments,
        callback_url=_as_text(raw["callback_url"]),
        additional_files=additional_files,
        **values,
        **flags,
    )
    return submission, {}
