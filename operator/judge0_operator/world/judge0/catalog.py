"""Static facts of a Judge0 CE v1.13.1 node: statuses, languages, configuration defaults, about.

Read from the v1.13.1 sources (``app/enumerations/status.rb``, ``db/languages/*.rb``,
``app/helpers/config.rb``, the Dockerfile's ``JUDGE0_*`` variables); see /work/shared/judge0-api.md.
Kept apart from the server so the simulator's behaviour and its data can be read separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VERSION = "1.13.1"
QUEUE_NAME = VERSION  # Resque queue named after JUDGE0_VERSION

ABOUT = {
    "version": VERSION,
    "homepage": "https://judge0.com",
    "source_code": "https://github.com/judge0/judge0",
    "maintainer": "Herman Zvonimir Došilović <hermanz.dosilovic@gmail.com>",
}

MAINTENANCE_MESSAGE = "Judge0 is currently in maintenance."  # MAINTENANCE_MESSAGE default

# Status id → name (``Status`` enumeration; the API calls the name "description").
STATUSES: dict[int, str] = {
    1: "In Queue",
    2: "Processing",
    3: "Accepted",
    4: "Wrong Answer",
    5: "Time Limit Exceeded",
    6: "Compilation Error",
    7: "Runtime Error (SIGSEGV)",
    8: "Runtime Error (SIGXFSZ)",
    9: "Runtime Error (SIGFPE)",
    10: "Runtime Error (SIGABRT)",
    11: "Runtime Error (NZEC)",
    12: "Runtime Error (Other)",
    13: "Internal Error",
    14: "Exec Format Error",
}
IN_QUEUE, PROCESSING, ACCEPTED, WRONG_ANSWER, TIME_LIMIT_EXCEEDED = 1, 2, 3, 4, 5
RUNTIME_ERROR_NZEC, INTERNAL_ERROR = 11, 13
# isolate's fatal signal → status (``Status.find_runtime_error_by_status_code``).
SIGNAL_STATUS = {11: 7, 25: 8, 8: 9, 6: 10}
RUNTIME_ERROR_OTHER = 12


@dataclass(frozen=True, slots=True)
class Language:
    id: int
    name: str
    source_file: str
    run_cmd: str
    compile_cmd: str | None = None
    is_archived: bool = False

    def full(self) -> dict[str, Any]:
        """``GET /languages/:id`` shape (all columns)."""
        return {"id": self.id, "name": self.name, "is_archived": self.is_archived,
                "source_file": self.source_file, "compile_cmd": self.compile_cmd, "run_cmd": self.run_cmd}


# A realistic subset of the v1.13.1 language set (ids and names as shipped), plus two archived ones.
_LANGUAGES = [
    Language(1, "Bash (4.4)", "script.sh", "/usr/local/bash-4.4/bin/bash script.sh", is_archived=True),
    Language(34, "Python (3.6.0)", "script.py", "/usr/local/python-3.6.0/bin/python3 script.py",
             is_archived=True),
    Language(43, "Plain Text", "text.txt", "/bin/cat text.txt"),
    Language(45, "Assembly (NASM 2.14.02)", "main.asm", "./a.out",
             "/usr/local/nasm-2.14.02/bin/nasmld -f elf64 %s main.asm"),
    Language(46, "Bash (5.0.0)", "script.sh", "/usr/local/bash-5.0/bin/bash script.sh"),
    Language(48, "C (GCC 7.4.0)", "main.c", "./a.out", "/usr/local/gcc-7.4.0/bin/gcc %s main.c"),
    Language(49, "C (GCC 8.3.0)", "main.c", "./a.out", "/usr/local/gcc-8.3.0/bin/gcc %s main.c"),
    Language(50, "C (GCC 9.2.0)", "main.c", "./a.out", "/usr/local/gcc-9.2.0/bin/gcc %s main.c"),
    Language(51, "C# (Mono 6.6.0.161)", "Main.cs", "/usr/local/mono-6.6.0.161/bin/mono Main.exe",
             "/usr/local/mono-6.6.0.161/bin/mcs %s Main.cs"),
    Language(52, "C++ (GCC 7.4.0)", "main.cpp", "LD_LIBRARY_PATH=/usr/local/gcc-7.4.0/lib64 ./a.out",
             "/usr/local/gcc-7.4.0/bin/g++ %s main.cpp"),
    Language(54, "C++ (GCC 9.2.0)", "main.cpp", "LD_LIBRARY_PATH=/usr/local/gcc-9.2.0/lib64 ./a.out",
             "/usr/local/gcc-9.2.0/bin/g++ %s main.cpp"),
    Language(60, "Go (1.13.5)", "main.go", "./main",
             "GOCACHE=/tmp/.cache/go-build /usr/local/go-1.13.5/bin/go build %s main.go"),
    Language(62, "Java (OpenJDK 13.0.1)", "Main.java", "/usr/local/openjdk13/bin/java Main",
             "/usr/local/openjdk13/bin/javac %s Main.java"),
    Language(63, "JavaScript (Node.js 12.14.0)", "script.js", "/usr/local/node-12.14.0/bin/node script.js"),
    Language(68, "PHP (7.4.1)", "script.php", "/usr/local/php-7.4.1/bin/php script.php"),
    Language(70, "Python (2.7.17)", "script.py", "/usr/local/python-2.7.17/bin/python2 script.py"),
    Language(71, "Python (3.8.1)", "script.py", "/usr/local/python-3.8.1/bin/python3 script.py"),
    Language(72, "Ruby (2.7.0)", "script.rb", "/usr/local/ruby-2.7.0/bin/ruby script.rb"),
    Language(73, "Rust (1.40.0)", "main.rs", "./main", "/usr/local/rust-1.40.0/bin/rustc %s main.rs"),
    Language(74, "TypeScript (3.7.4)", "script.ts", "/usr/local/node-12.14.0/bin/node script.js",
             "/usr/bin/tsc %s script.ts"),
]
LANGUAGES: dict[int, Language] = {language.id: language for language in _LANGUAGES}
# ``Language`` default scope: active only, ordered by name.
ACTIVE_LANGUAGES_BY_NAME = sorted((lang for lang in _LANGUAGES if not lang.is_archived), key=lambda x: x.name)
ALL_LANGUAGES_BY_NAME = sorted(_LANGUAGES, key=lambda language: language.name)

# Code defaults of app/helpers/config.rb (the docs table is stale). Integers stay integers, the
# ``.to_f`` ones are floats, exactly as Ruby renders them.
CONFIG_DEFAULTS: dict[str, Any] = {
    "maintenance_mode": False,
    "enable_wait_result": True,
    "enable_compiler_options": True,
    "allowed_languages_for_compile_options": [],
    "enable_command_line_arguments": True,
    "enable_submission_delete": False,
    "enable_callbacks": True,
    "callbacks_max_tries": 3,
    "callbacks_timeout": 5.0,
    "enable_additional_files": True,
    "max_queue_size": 100,
    "cpu_time_limit": 5.0,
    "max_cpu_time_limit": 15.0,
    "cpu_extra_time": 1.0,
    "max_cpu_extra_time": 5.0,
    "wall_time_limit": 10.0,
    "max_wall_time_limit": 20.0,
    "memory_limit": 128000,
    "max_memory_limit": 512000,
    "stack_limit": 64000,
    "max_stack_limit": 128000,
    "max_processes_and_or_threads": 60,
    "max_max_processes_and_or_threads": 120,
    "enable_per_process_and_thread_time_limit": False,
    "allow_enable_per_process_and_thread_time_limit": True,
    "enable_per_process_and_thread_memory_limit": False,
    "allow_enable_per_process_and_thread_memory_limit": True,
    "max_file_size": 1024,
    "max_max_file_size": 4096,
    "number_of_runs": 1,
    "max_number_of_runs": 20,
    "redirect_stderr_to_stdout": False,
    "max_extract_size": 10240,
    "enable_batched_submissions": True,
    "max_submission_batch_size": 20,
    "submission_cache_duration": 1.0,
    "use_docs_as_homepage": False,
    "allow_enable_network": True,
    "enable_network": False,
}


def system_info(workers: int) -> dict[str, str]:
    """``lscpu`` + ``free -h`` of a node; CPU(s) follows the worker count (COUNT defaults to 2 * nproc)."""
    cpus = max(1, workers // 2)
    return {
        "Architecture": "x86_64",
        "CPU op-mode(s)": "32-bit, 64-bit",
        "Byte Order": "Little Endian",
        "CPU(s)": str(cpus),
        "On-line CPU(s) list": f"0-{cpus - 1}" if cpus > 1 else "0",
        "Thread(s) per core": "2" if cpus > 1 else "1",
        "Core(s) per socket": str(max(1, cpus // 2)),
        "Socket(s)": "1",
        "NUMA node(s)": "1",
        "Vendor ID": "GenuineIntel",
        "CPU family": "6",
        "Model": "85",
        "Model name": "Intel(R) Xeon(R) Platinum 8275CL CPU @ 3.00GHz",
        "Stepping": "7",
        "CPU MHz": "3000.000",
        "BogoMIPS": "6000.00",
        "Hypervisor vendor": "KVM",
        "Virtualization type": "full",
        "L1d cache": "32K",
        "L1i cache": "32K",
        "L2 cache": "1024K",
        "L3 cache": "36608K",
        "NUMA node0 CPU(s)": f"0-{cpus - 1}" if cpus > 1 else "0",
        "Mem": f"{cpus * 1.9:.1f}Gi",
        "Swap": "0B",
    }
