"""Shared reporting: percentiles, Markdown tables, machine facts and docs/benchmarks.md sections."""

import argparse
import datetime as dt
import math
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
DOC_HEADER = """# Benchmarks

Written by the scripts in `bench/` (`make bench`); each section is rewritten by the script
named in it, so do not edit between the `bench:` markers by hand. Every figure is printed
beside its baseline from the same run on the same machine.
"""


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default); with n samples p99 ≈ max for n < 100."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; numbers are expected to be formatted by the caller."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_facts(pg: dict[str, str]) -> list[str]:
    """Bullet lines: cores, CPU, Python, PostgreSQL and its durability settings."""
    return [
        f"- machine: {os.cpu_count()} cores (`nproc` {len(os.sched_getaffinity(0))}), "
        f"{cpu_model()}, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, PostgreSQL {pg.get('server_version', '?')} "
        f"(fsync={pg.get('fsync', '?')}, synchronous_commit={pg.get('synchronous_commit', '?')}, "
        f"shared_buffers={pg.get('shared_buffers', '?')}) on the same machine",
        "- load average when the run started: "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg())
        + " (1/5/15 min; other work on the machine is not stopped for the run)",
    ]


def command_line() -> str:
    """The command that ran this script, paths shown relative to the repository."""
    venv = ROOT / ".venv"
    python = ".venv/bin/python" if Path(sys.prefix).resolve() == venv.resolve() else "python"
    script = Path(sys.argv[0]).resolve()
    shown = str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else sys.argv[0]
    return shlex.join([python, shown, *sys.argv[1:]])


def today() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def verdict(met: bool) -> str:
    return "**MET**" if met else "**MISSED**"


def write_section(name: str, body: str, doc: Path = DOC) -> None:
    """Replace (or append) the `<!-- bench:NAME:start/end -->` section of docs/benchmarks.md."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = doc.read_text() if doc.exists() else DOC_HEADER
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)


def quick_or_full_arguments(doc: str | None) -> argparse.ArgumentParser:
    """The --quick / --write options every benchmark shares."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts; writes nothing")
    parser.add_argument("--write", action="store_true", help="with --quick: write the doc too")
    return parser
