"""Which process a pid names: a pid is reused once its process is gone, so a pid written down earlier (a pid file, a
run's tags) is trusted only when the process it names now is the one that was meant: its start time and its command."""

from __future__ import annotations

from pathlib import Path


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks after boot (/proc/PID/stat field 22), None when there is no such
    process. With the pid it names one process: a pid reused later has another start time."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return fields[19]  # field 22 of the whole line; the split starts at field 3


def process_command(pid: int) -> list[str]:
    """The process's command line (/proc/PID/cmdline), empty when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def runs_program(pid: int, program: str) -> bool:
    """Whether the process `pid` runs the executable `program` (compared by file name: a path or a bare name)."""
    command = process_command(pid)
    return bool(command) and Path(command[0]).name == Path(program).name
