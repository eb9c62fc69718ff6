"""A Turing machine that decides whether a string of parentheses is balanced.

The network of the `turing-parentheses` task watches this machine's finite-state controller
and must learn to act like it. The machine (after the classic crossing-out procedure):

Tape alphabet: ``A`` (end marker, one at each end of the input), ``(``, ``)``, ``X`` (a
crossed-out parenthesis). A tape for the string w is ``A w A``; the head starts on the first
symbol of w, in state R.

Controller states: R (seek right for the leftmost ``)``), L (seek left for its ``(``), C (the
right end was reached: check leftwards that no ``(`` is left), and the halting verdicts
YES (balanced) and NO (unbalanced).

One step: read the symbol under the head; act — write (the symbol stays, or becomes ``X``),
move one cell left or right (or, on halting, stop), enter the next state. The full table:

    state  read   write  move   next
    R      (      (      right  R
    R      X      X      right  R
    R      )      X      left   L      cross out the leftmost ")" ...
    R      A      A      left   C      no ")" left: check for a leftover "("
    L      X      X      left   L
    L      (      X      right  R      ... and the nearest "(" to its left
    L      A      A      stop   NO     a ")" without its "("
    C      X      X      left   C
    C      (      (      stop   NO     a "(" without its ")"
    C      A      A      stop   YES

(L never reads ``)``: every ``)`` left of the head is crossed out; C never reads ``)``: the R
pass crossed out all of them.) On YES or NO the machine halts and the next step is the first
step on a fresh tape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SYMBOLS = ("(", ")", "X", "A")  # input line i is on when SYMBOLS[i] is read
VERDICTS = ("YES", "NO")

# (state, read) -> (write, move_right, next state); move_right is None when the machine halts
TRANSITIONS: dict[tuple[str, str], tuple[str, bool | None, str]] = {
    ("R", "("): ("(", True, "R"),
    ("R", "X"): ("X", True, "R"),
    ("R", ")"): ("X", False, "L"),
    ("R", "A"): ("A", False, "C"),
    ("L", "X"): ("X", False, "L"),
    ("L", "("): ("X", True, "R"),
    ("L", "A"): ("A", None, "NO"),
    ("C", "X"): ("X", False, "C"),
    ("C", "("): ("(", None, "NO"),
    ("C", "A"): ("A", None, "YES"),
}


@dataclass(frozen=True)
class Action:
    """What the controller did on one step: the symbol it read and its response."""

    read: str
    state: str
    write: str
    move_right: bool | None  # None: the machine halts on this step
    next_state: str


def run_machine(string: str, max_steps: int = 100_000) -> list[Action]:
    """Run the machine on ``A string A``; return every step up to and including the halt."""
    if not string or set(string) - {"(", ")"}:
        raise ValueError(f"run_machine: expected a non-empty string of '(' and ')', got {string!r}")
    tape = ["A", *string, "A"]
    head, state = 1, "R"
    actions: list[Action] = []
    while state not in VERDICTS:
        if len(actions) >= max_steps:
            raise RuntimeError(f"run_machine: no halt after {max_steps} steps on {string!r}")
        read = tape[head]
        write, move_right, nxt = TRANSITIONS[(state, read)]
        actions.append(Action(read, state, write, move_right, nxt))
        tape[head] = write
        if move_right is not None:
            head += 1 if move_right else -1
        state = nxt
    return actions


def is_balanced(string: str) -> bool:
    """The reference answer, by a counter (independent of the machine)."""
    depth = 0
    for ch in string:
        depth += 1 if ch == "(" else -1
        if depth < 0:
            return False
    return depth == 0


def random_string(rng: np.random.Generator, max_length: int) -> str:
    """Half the time a random balanced string, otherwise uniformly random parentheses.

    Lengths are uniform in 1..max_length (balanced ones: the even lengths 2..max_length).
    """
    if rng.random() < 0.5:
        pairs = int(rng.integers(1, max_length // 2 + 1))
        out, opened, closed = [], 0, 0
        while closed < pairs:  # a uniformly chosen legal move at each point
            can_open, can_close = opened < pairs, closed < opened
            if can_open and (not can_close or rng.random() < 0.5):
                out.append("(")
                opened += 1
            else:
                out.append(")")
                closed += 1
        return "".join(out)
    length = int(rng.integers(1, max_length + 1))
    return "".join("()"[int(b)] for b in rng.integers(0, 2, length))
