"""Text that fits the terminal: prose and shell commands wrapped to its width (80 columns when the
output is not a terminal), long values continued on indented lines, never cut.

A wrapped command still works when pasted: its lines end in `` \\`` outside quotes, and a JSON
argument (a counterexample) breaks only after a comma inside its quotes, where the new line and the
indent are JSON whitespace.
"""

from __future__ import annotations

import os
import shlex
import sys
import textwrap


def terminal_width() -> int:
    """The columns output may use: the terminal's, 80 when stdout is not one (a file, a pipe)."""
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns if sys.stdout.isatty() else 80
    except (OSError, ValueError):
        return 80


def wrap(text: str, head: str = "", indent: int | None = None, width: int | None = None) -> list[str]:
    """``head`` + ``text`` in lines of at most ``width`` columns (words are never broken), continued
    lines indented by ``indent`` (default: the head's indent + 4)."""
    width = width or terminal_width()
    indent = len(head) - len(head.lstrip()) + 4 if indent is None else indent
    return textwrap.wrap(head + text, width=width, subsequent_indent=" " * indent, break_long_words=False,
                         break_on_hyphens=False) or [head.rstrip()]


def wrap_command(command: str, head: str = "", indent: int | None = None, width: int | None = None) -> list[str]:
    """A shell command as lines of at most ``width`` columns that paste back into one command."""
    width = width or terminal_width()
    indent = len(head) - len(head.lstrip()) + 4 if indent is None else indent
    pad = " " * indent
    lines, line = [], head
    for word in (shlex.quote(arg) for arg in shlex.split(command)):
        if line.strip() and len(line) + 1 + len(word) + 2 > width:
            lines.append(line + " \\")
            line = pad if len(pad) + len(word) <= width else " " * 4  # a long path: as far left as it takes
        fits = len(line) + 1 + len(word) <= width
        for piece in [word] if fits else _pieces(word, width - len(pad), width - len(line) - 1):
            if piece is None:  # a break inside a quoted JSON argument
                lines.append(line)
                line = pad
            else:
                line += ("" if line.endswith(" ") or not line.strip() else " ") + piece
    lines.append(line)
    return lines


def _pieces(word: str, room: int, first_room: int) -> list[str | None]:
    """A quoted JSON word split after its commas into pieces that fit ``room`` (the first ``first_room``);
    None marks a line break (inside the quotes: JSON whitespace)."""
    if not (word.startswith("'") and word.endswith("'")):
        return [word]
    parts = word.split(", ")
    pieces: list[str | None] = []
    current, limit = parts[0], first_room
    for part in parts[1:]:
        if len(current) + 2 + len(part) > limit:
            pieces += [current + ",", None]
            current, limit = part, room
        else:
            current += ", " + part
    return pieces + [current]
