"""How busy the machine's cores are while a command runs: is it waiting, or out of CPU?

Runs COMMAND, samples the machine-wide CPU counters of ``/proc/stat`` every
``--every`` seconds, and prints the command's wall time, the CPU seconds the
whole machine used meanwhile (every process: a grading server's forked
gradings and their sandboxes included, which ``/usr/bin/time`` does not count)
and a timeline of the cores busy in each interval. Run it on an otherwise idle
machine: other programs' CPU counts too.

Usage: python benchmarks/cpu_busy.py [--every S] -- COMMAND [ARG ...]

Example: python benchmarks/cpu_busy.py -- python -m autograder grade-all CLASS --assignment cnn --out OUT
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from machine import cpu_model


def busy_ticks() -> tuple[int, int]:
    """``(busy, total)`` clock ticks of all cores since boot (user, nice, system, irq, softirq are busy)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq = fields[:7]
    steal = fields[7] if len(fields) > 7 else 0
    return user + nice + system + irq + softirq, user + nice + system + idle + iowait + irq + softirq + steal


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=float, default=0.25, help="seconds between samples (default: %(default)s)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run (after --)")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    cores = os.cpu_count() or 1
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    first = previous = busy_ticks()
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    timeline = []
    while True:
        try:  # wakes at the command's end, so the wall time is not rounded up to a sample
            process.wait(timeout=args.every)
        except subprocess.TimeoutExpired:
            pass
        current = busy_ticks()
        elapsed = max(1, current[1] - previous[1])
        timeline.append((time.perf_counter() - start, cores * (current[0] - previous[0]) / elapsed))
        previous = current
        if process.returncode is not None:
            break
    wall = time.perf_counter() - start
    last = previous
    cpu = (last[0] - first[0]) / ticks_per_second
    print(f"{cpu_model()}, {cores} cores; exit status {process.returncode}")
    print(f"wall {wall:.2f} s, machine-wide CPU {cpu:.2f} s ({cpu / wall:.2f} of {cores} cores on average)")
    print("cores busy, by time since the start (s:cores): "
          + " ".join(f"{at:.1f}:{cores_busy:.1f}" for at, cores_busy in timeline))
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
