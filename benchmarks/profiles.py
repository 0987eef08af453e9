"""Read py-spy's collapsed stacks (`py-spy record --format raw --threads`) into the tables of
docs/grpc-performance.md: each thread's share of the samples, and the frames that take the most samples, by
themselves (self) and with what they call (inclusive).

Run: python -m benchmarks.profiles <profile.raw> [more.raw ...] [--top N]"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# py-spy names a thread's root frame "thread (<id>): <name>" (or "process <pid>:..." with --subprocesses).
THREAD_ROOT = re.compile(r"^thread \(0x[0-9A-Fa-f]+\)|^thread \(\d+\)")
THREAD_NAME = re.compile(r"^thread \([^)]*\):? ?(.*)$")


@dataclass
class Profile:
    """Sample counts of one profile: per thread, per frame by itself, per frame with its callees."""

    samples: int
    threads: Counter
    self_frames: Counter
    inclusive_frames: Counter


def read_profile(text: str) -> Profile:
    """Count the samples of py-spy's raw format: one line per distinct stack, `root;...;leaf <count>`."""
    threads, self_frames, inclusive = Counter(), Counter(), Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack:
            continue
        n = int(count)
        samples += n
        frames = stack.split(";")
        if THREAD_ROOT.match(frames[0]):
            threads[thread_name(frames[0])] += n
            frames = frames[1:] or frames
        self_frames[frames[-1]] += n
        for frame in set(frames):  # a recursive frame counts once per sample
            inclusive[frame] += n
    return Profile(samples, threads, self_frames, inclusive)


def thread_name(root: str) -> str:
    """`thread (123): grpc` -> `grpc`; a thread's id changes from run to run, its name does not."""
    match = THREAD_NAME.match(root)
    return (match.group(1) if match else root) or root


def top_table(counts: Counter, samples: int, top: int, title: str) -> str:
    """A Markdown table of the `top` largest counts with their share of `samples`."""
    rows = [f"| {title} | share |", "|---|---:|"]
    for frame, n in counts.most_common(top):
        rows.append(f"| `{frame}` | {100.0 * n / samples:.1f} % |")
    return "\n".join(rows)


def summarize(path: Path, top: int) -> str:
    profile = read_profile(path.read_text())
    if not profile.samples:
        return f"### {path.name}\n\nno samples"
    return "\n\n".join(
        (
            f"### {path.name} ({profile.samples} samples)",
            top_table(profile.threads, profile.samples, top, "thread"),
            top_table(profile.self_frames, profile.samples, top, "frame (self)"),
            top_table(profile.inclusive_frames, profile.samples, top, "frame (inclusive)"),
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=12)
    arguments = parser.parse_args()
    print("\n\n".join(summarize(path, arguments.top) for path in arguments.profiles))  # noqa: T201


if __name__ == "__main__":
    main()
