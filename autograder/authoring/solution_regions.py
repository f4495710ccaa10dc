"""Solution regions: the one text pass behind stubs, solved copies and leak checks.

A solution region is the lines between a line containing the begin delimiter
(``### BEGIN SOLUTION``) and a line containing the end delimiter
(``### END SOLUTION``). The same markers work in notebook cells and in ``.py``
files, and the delimiters and stub text are nbgrader's own
(``ClearSolutions.begin_solution_delimeter``, ``end_solution_delimeter``,
``code_stub``), so the course's ``course_settings.py`` configures both.

Like nbgrader's ``ClearSolutions._replace_solution_region`` this is a line
scanner that keeps the stub at the marker's indentation; unlike it, a stray
end marker is an error too, and every error names the file and line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

BEGIN = "BEGIN SOLUTION"
END = "END SOLUTION"
PYTHON_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


class SolutionRegionError(ValueError):
    """A file's solution markers do not pair up (nested, unclosed or stray)."""


@dataclass(frozen=True)
class Region:
    """One solution region of a text.

    Attributes
    ----------
    begin_line, end_line : int
        1-based line numbers of the begin and end markers.
    lines : tuple of str
        The lines strictly between the markers.
    """

    begin_line: int
    end_line: int
    lines: tuple[str, ...]


def find_regions(text: str, *, name: str = "<text>", begin: str = BEGIN, end: str = END) -> list[Region]:
    """List the solution regions of ``text``.

    Parameters
    ----------
    text : str
        A Python module or a notebook cell's source.
    name : str
        What to call the text in errors (a file path, ``notebook.ipynb[cell-id]``).
    begin, end : str
        The delimiters; a line containing one of them is a marker line.

    Returns
    -------
    list of Region
        In order of appearance.

    Raises
    ------
    SolutionRegionError
        On a begin marker inside a region, an end marker outside one, or a
        region left open at the end of the text.
    """
    regions: list[Region] = []
    open_at = None
    body: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if begin in line:
            if open_at is not None:
                raise SolutionRegionError(
                    f"{name}:{number}: nested '{begin}' (the region opened at line {open_at} is not closed)")
            open_at, body = number, []
        elif end in line:
            if open_at is None:
                raise SolutionRegionError(f"{name}:{number}: '{end}' without a matching '{begin}'")
            regions.append(Region(open_at, number, tuple(body)))
            open_at = None
        elif open_at is not None:
            body.append(line)
    if open_at is not None:
        raise SolutionRegionError(f"{name}:{open_at}: '{begin}' has no matching '{end}'")
    return regions


def replace_regions(text: str, stub: str | None, *, name: str = "<text>",
                    begin: str = BEGIN, end: str = END) -> str:
    """Replace every solution region of ``text``.

    Parameters
    ----------
    text : str
        A Python module or a cell's source.
    stub : str or None
        The stub to put in place of each region, indented like its begin
        marker (the student release). ``None`` keeps the solution and drops
        only the marker lines (the private solved copy).
    name, begin, end
        As in :func:`find_regions`.

    Returns
    -------
    str
        The new text; identical to ``text`` when it has no region.
    """
    regions = find_regions(text, name=name, begin=begin, end=end)
    if not regions:
        return text
    lines = text.split("\n")
    out: list[str] = []
    cursor = 0
    for region in regions:
        out.extend(lines[cursor:region.begin_line - 1])
        if stub is None:
            out.extend(region.lines)
        else:
            indent = re.match(r"\s*", lines[region.begin_line - 1]).group(0)
            out.extend(indent + stub_line for stub_line in stub.split("\n"))
        cursor = region.end_line
    out.extend(lines[cursor:])
    return "\n".join(out)


# Lines that carry no solution even when they sit inside a region.
_STRUCTURAL = re.compile(r"^(else:|try:|finally:|pass|continue|break|[\)\]\}]+[,:]?)$")


def telling_lines(region: Region) -> list[str]:
    """The lines of a region that would give its solution away.

    Blank lines, comment lines and structural lines (``else:``, ``pass``, a
    closing bracket) are left out: they say nothing about the solution.

    Returns
    -------
    list of str
        Stripped lines, in order.
    """
    kept = []
    for line in region.lines:
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and not _STRUCTURAL.match(stripped):
            kept.append(stripped)
    return kept
