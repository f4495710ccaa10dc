"""What each benchmark prints about the machine it ran on: the CPU's model as `lscpu` names it, the load."""
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
