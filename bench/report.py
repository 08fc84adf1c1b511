"""Writes one benchmark's results into BENCHMARKS.md, replacing that benchmark's previous section."""

import datetime
import os
import platform
import re
import shlex
import sys

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "BENCHMARKS.md")
HEADER = (
    "# Benchmarks\n\n"
    "Every section is written by the script it names (`bench/*.py`), with the command, date and\n"
    "machine. Figures compared side by side were measured in the same process.\n"
)


REPORTED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_flag_set():
    """The ISA flags /proc/cpuinfo lists (Linux), or None where it cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            return set(next((line.split(":", 1)[1].split() for line in f
                             if line.startswith("flags")), []))
    except OSError:
        return None


def cpu_flags():
    """Which of the wide-vector / bf16 ISA flags the CPU has, for the reports.

    The machines change between sessions (an AVX-512 + bf16 one on 2026-12-01, an AVX2-only
    one on 2026-12-02, both "AMD EPYC"); matmul rates and bf16 speed-ups differ several-fold.
    """
    flags = cpu_flag_set()
    if flags is None:
        return "not readable"
    return ", ".join(f"{w}: {'yes' if w in flags else 'no'}" for w in REPORTED_FLAGS)


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores visible ({cpu_flags()}), "
            f"Python {platform.python_version()}")


def _shown_argument(argument):
    """`argument` quoted for a shell, a path under the home directory written `~/...`: the
    report names no machine's paths."""
    home = os.path.expanduser("~")
    if home not in ("~", os.sep) and argument.startswith(home + os.sep):
        return "~/" + shlex.quote(argument[len(home) + 1:])
    return shlex.quote(argument)


# A paragraph a person wrote into a section ("Note (added by hand, DATE): ...", "Note 2
# (added by hand ...)"). Regenerating a section keeps these: they record what the figures
# cannot (how a run was made, what it means), and rerunning a script must not erase them.
HAND_NOTE = re.compile(r"^Note( \d+)? \(added by hand\b.*?(?=\n\s*\n|\Z)", re.S | re.M)


def hand_notes(section_text):
    """The hand-written note paragraphs of a section's text, in order."""
    return [m.group(0).rstrip() for m in HAND_NOTE.finditer(section_text)]


def write_section(name, title, body):
    """Replaces (or appends) the section `name` of BENCHMARKS.md with `body` plus provenance.

    Hand-written notes of the old section (paragraphs starting "Note (added by hand") that
    the new body does not already hold are kept, after it."""
    command = "python " + " ".join(_shown_argument(a) for a in [os.path.relpath(sys.argv[0])] + sys.argv[1:])
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = open(BENCHMARKS).read() if os.path.exists(BENCHMARKS) else HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->\n", re.S)
    old = pattern.search(text)
    body = body.rstrip()
    for note in hand_notes(old.group(0)[: -len(f"<!-- /bench:{name} -->\n")]) if old else []:
        if note not in body:
            body += "\n\n" + note
    section = (
        f"<!-- bench:{name} -->\n## {title}\n\n"
        f"Command: `{command}`  \nDate: {stamp}  \nMachine: {machine()}\n\n"
        f"{body}\n<!-- /bench:{name} -->\n"
    )
    if old:
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip() + "\n\n" + section
    from glomo_tf.files.atomic_write import atomic_write

    with atomic_write(BENCHMARKS) as f:
        f.write(text)
    print(section)


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
