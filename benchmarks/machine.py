"""The machine a benchmark runs on: the CPU's model as `lscpu` names it, the load, the BLAS's threads.

Imports no numpy: :func:`pin_blas_threads` must run before numpy is imported.
"""
import argparse
import os
import platform
import subprocess


def cpu_model() -> str:
    """The CPU's model name as `lscpu` gives it (the processor's name from `platform` without lscpu)."""
    try:
        listing = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return f"{platform.processor() or 'unknown CPU'} (no lscpu)"
    for line in listing.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` shows them."""
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def pin_blas_threads(argv) -> int:
    """The --threads value of argv (default: the cores this process may use), given to every BLAS.

    The BLAS under numpy fixes its thread count when it is loaded: call this before numpy is imported.
    The rest of argv is left for the benchmark's own parser (which should accept --threads too).
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    threads = parser.parse_known_args(argv)[0].threads
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    return threads
