"""The feedback of a failed check, as data and as text a student reads without scrolling.

A hidden test's feedback (its ``output`` in the results) is a few lines, one
part each: what was checked, what was found (the measured error), then
``Hint: ...`` and, when the catalogue recognised the mistake,
``Your outputs match a known mistake: ...``::

    conv_forward_naive output (x (2, 2, 7, 6), w (3, 2, 3, 3), stride 2, pad 0):
    12 of 72 values are wrong, the first at index (0, 1, 2, 0), largest relative error 3.1e-01.
    Hint: out[n, f, i, j] = sum(x_padded[n, :, i*stride:i*stride+HH, j*stride:j*stride+WW] * w[f]) + b[f].

`block` lays one test's feedback out as a short labelled block wrapped to a
width (the feedback pages and notebooks show it in a fixed-width box).
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

HINT = "Hint: "
KNOWN_MISTAKE = "Your outputs match a known mistake: "
WIDTH = 78
LABELS = ("Checked", "Found", "Hint", "Mistake")


def compose(what: str, problem: str, hint: str | None = None) -> str:
    """The feedback text of a failed check: what was checked, the problem, the hint, a line each."""
    return f"{what}:\n{problem}" + (f"\n{HINT}{hint}" if hint else "")


def with_mistake(text: str, mistake: str) -> str:
    """``text`` with the line naming a catalogued mistake added."""
    return f"{text}\n{KNOWN_MISTAKE}{mistake}."


def normalize(text: str) -> str:
    """One part per line: a hint or a named mistake written inline starts a line of its own."""
    for marker in (HINT, KNOWN_MISTAKE):
        text = text.replace(f" {marker}", f"\n{marker}")
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


@dataclass(frozen=True)
class Parts:
    """A feedback text taken apart: what was checked, what was found, the hint, the named mistake."""

    checked: str
    found: str
    hint: str
    mistake: str

    @classmethod
    def of(cls, text: str) -> "Parts":
        lines = normalize(text).splitlines()
        hint = " ".join(line[len(HINT):] for line in lines if line.startswith(HINT))
        mistake = " ".join(line[len(KNOWN_MISTAKE):] for line in lines if line.startswith(KNOWN_MISTAKE))
        body = [line for line in lines if not line.startswith((HINT, KNOWN_MISTAKE))]
        if len(body) >= 2 and body[0].endswith(":"):
            return cls(body[0][:-1], " ".join(body[1:]), hint, mistake)
        return cls("", " ".join(body), hint, mistake)


def block(title: str, text: str, width: int = WIDTH, indent: str = "    ") -> str:
    """One failed test's feedback as a labelled block, every line at most ``width`` characters.

    Example
    -------
    ::

        \u2717 test_conv_forward_matches_reference[s2-p0]
            Checked: conv_forward_naive output (x (2, 2, 7, 6), w (3, 2, 3, 3),
                     stride 2, pad 0)
            Found:   12 of 72 values are wrong, the first at index (0, 1, 2, 0),
                     largest relative error 3.1e-01.
            Hint:    out[n, f, i, j] = sum(x_padded[n, :, i*stride:i*stride+HH,
                     j*stride:j*stride+WW] * w[f]) + b[f].
    """
    parts = Parts.of(text)
    label_width = max(len(label) for label in LABELS) + 2
    lines = textwrap.wrap(f"\u2717 {title}", width, subsequent_indent="  ", break_on_hyphens=False)
    mistake = f"your outputs match a known mistake: {parts.mistake}" if parts.mistake else ""
    for label, value in zip(LABELS, (parts.checked, parts.found, parts.hint, mistake)):
        if not value:
            continue
        head = f"{indent}{label + ':':<{label_width}}"
        lines += textwrap.wrap(value, width, initial_indent=head, subsequent_indent=" " * len(head),
                               break_on_hyphens=False, break_long_words=True)
    return "\n".join(lines)


def blocks_of(report: str) -> list[dict[str, str]]:
    """The failed checks of a report made of `block` texts: ``[{"title", "Checked", "Found", ...}]``, unwrapped."""
    found, label = [], None
    for line in report.splitlines():
        if line.startswith("\u2717 "):
            found.append({"title": line[2:].strip()})
            label = "title"
        elif found and line.strip():
            head = line.strip().split(":", 1)[0]
            if head in LABELS and line.startswith("    ") and not line.startswith("     "):
                label = head
                found[-1][label] = line.strip()[len(head) + 1:].strip()
            elif label is not None:
                found[-1][label] = f"{found[-1][label]} {line.strip()}"
        else:
            label = None
    return found
