"""Execute a notebook top to bottom in a real Jupyter kernel (nbclient).

Used by the demo and the tests on the course's own notebooks (the solved copy
and the release). Student notebooks are never run in the grader's process:
nbclient starts a separate kernel process, and graded code runs in the
sandbox (see the grader).
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from traitlets.config import Config

from autograder.scratch import socket_parent

# A printed check is a line "<label> error: <number>" or "<label> difference: <number>",
# as the course's notebooks print relative errors ("dx error:  3.1e-09").
CHECK_LINE = re.compile(r"^(?P<label>.+?) (?:error|difference):\s+(?P<value>\S+)$")


def stream_text(cell, name: str = "stdout") -> str:
    """All that one executed cell wrote to the stream ``name`` (``"stdout"`` or ``"stderr"``)."""
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == name)


@dataclass
class NotebookRun:
    """What one execution of a notebook did.

    Attributes
    ----------
    notebook : nbformat.NotebookNode
        The notebook with the outputs of every cell that ran.
    error_name : str or None
        The exception class of the first failing cell (``"NotImplementedError"``), if any.
    error_cell : str or None
        The id of that cell.
    cells_run : int
        How many code cells ran (the failing one included).
    seconds : float
        Wall time of the execution, kernel start included.
    """

    notebook: nbformat.NotebookNode
    error_name: str | None
    error_cell: str | None
    cells_run: int
    seconds: float

    def printed(self) -> list[str]:
        """Every line the executed cells printed to stdout, in order."""
        return [line for cell in self.notebook.cells for line in stream_text(cell).splitlines()]

    def checks(self) -> dict[str, list[float]]:
        """Every printed check, as ``{label: [values in order]}``."""
        found: dict[str, list[float]] = {}
        for line in self.printed():
            match = CHECK_LINE.match(line.strip())
            if match:
                found.setdefault(match["label"], []).append(float(match["value"]))
        return found


def run_notebook(path: Path, cwd: Path, env: dict | None = None, cell_timeout: int = 600) -> NotebookRun:
    """Run ``path`` with ``cwd`` as the kernel's working folder, stopping at the first error.

    Parameters
    ----------
    path : Path
        The ``.ipynb`` file.
    cwd : Path
        The kernel's working directory (the assignment folder, so that
        ``import nnl`` and ``import utils`` resolve there).
    env : dict, optional
        The kernel's full environment (default: this process's).
    cell_timeout : int
        Seconds one cell may run before it counts as failed.

    Returns
    -------
    NotebookRun
    """
    nb = nbformat.read(path, as_version=4)
    # IPC sockets in a private folder rather than TCP ports on localhost: no other local user can
    # connect to the kernel, and ipykernel has no plain-text warning to print. The socket path must
    # be absolute: the kernel runs in ``cwd``, this process elsewhere; and short (a deep TMPDIR's is not).
    sockets = tempfile.TemporaryDirectory(prefix="kit-kernel-", dir=socket_parent(len("kernel-65535")))
    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = os.path.join(sockets.name, "kernel")
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", config=config,
                            resources={"metadata": {"path": str(cwd)}})
    start = time.perf_counter()
    error_name = error_cell = None
    try:
        client.execute(**({"env": env} if env is not None else {}))
    except CellExecutionError as err:
        error_name = err.ename
    except (CellTimeoutError, DeadKernelError) as err:
        error_name = type(err).__name__
    finally:
        sockets.cleanup()
    executed = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count") is not None]
    if error_name is not None:
        failing = [c for c in nb.cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
        error_cell = failing[0].get("id") if failing else None
    return NotebookRun(nb, error_name, error_cell, len(executed), time.perf_counter() - start)
