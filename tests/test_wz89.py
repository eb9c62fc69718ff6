"""Williams & Zipser (1989) reproduction: task streams, success criteria, RTRL runs, CLI."""

import itertools
import json

import numpy as np
import pytest
from click.testing import CliRunner

from rnnlab.experiments import TASK_NAMES, get_task, run
from rnnlab.experiments import streams as st
from rnnlab.experiments.cli import experiment
from rnnlab.experiments.criteria import (
    Oscillation,
    StreakMonitor,
    binary_criterion_holds,
    oscillation_rms,
)
from rnnlab.experiments.turing import is_balanced, random_string, run_machine
from rnnlab.online import FullyRecurrentNet


def _take(stream, T):
    x, d, mask = zip(*itertools.islice(stream, T), strict=True)
    return np.array(x), np.array(d), np.array(mask)


# -- streams, each against an independent computation ------------------------------------------
@pytest.mark.parametrize("tau", [2, 3, 4])
def test_pipelined_xor_targets_the_xor_tau_paper_steps_back(tau):
    x, d, mask = _take(st.pipelined_xor(np.random.default_rng(0), delay=tau), 300)
    assert set(np.unique(x)) == {0.0, 1.0}
    lag = tau - 1  # rnnlab's y(t) is the paper's y(t+1)
    assert not mask[:lag].any() and mask[lag:].all()
    expected = np.logical_xor(x[:-lag, 0], x[:-lag, 1])
    np.testing.assert_array_equal(d[lag:, 0], expected)


def _recognise(symbols):
    """1 where a b comes with an a since the previous b: by searching backwards."""
    out = []
    for t, s in enumerate(symbols):
        before = list(symbols[:t])
        last_a = max((i for i, v in enumerate(before) if v == 0), default=-1)
        last_b = max((i for i, v in enumerate(before) if v == 1), default=-1)
        out.append(float(s == 1 and last_a > last_b))
    return out


def test_sequence_recognition_targets():
    assert _recognise([0, 2, 0, 1, 1]) == [0, 0, 0, 1, 0]  # "a c a b b", the docstring's
    x, d, mask = _take(st.sequence_recognition(np.random.default_rng(1), n_symbols=4), 400)
    assert np.all(x.sum(axis=1) == 1) and mask.all()
    assert d[:, 0].tolist() == _recognise(x.argmax(axis=1).tolist())
    assert 10 < d.sum() < 100


def test_delayed_nonmatch_targets():
    x, d, mask = _take(st.delayed_nonmatch(np.random.default_rng(2)), 500)
    p, c = x[:, 0], x[:, 1]
    for t in range(1, 500):
        cues = np.flatnonzero(c[: t - 1])  # cue steps strictly before the probe at t − 1
        has_target = c[t - 1] == 0 and cues.size > 0
        assert mask[t, 0] == has_target
        if has_target:
            assert d[t, 0] == float(p[t - 1] != p[cues[-1]])
    assert not mask[0].any() and 150 < mask.sum() < 400


def test_turing_machine_traces_by_hand():
    def trace(s):
        return [(a.state, a.read, a.write, a.move_right, a.next_state) for a in run_machine(s)]

    assert trace("()") == [
        ("R", "(", "(", True, "R"),
        ("R", ")", "X", False, "L"),
        ("L", "(", "X", True, "R"),
        ("R", "X", "X", True, "R"),
        ("R", "A", "A", False, "C"),
        ("C", "X", "X", False, "C"),
        ("C", "X", "X", False, "C"),
        ("C", "A", "A", None, "YES"),
    ]
    assert trace(")(") == [("R", ")", "X", False, "L"), ("L", "A", "A", None, "NO")]
    assert trace("(") == [
        ("R", "(", "(", True, "R"),
        ("R", "A", "A", False, "C"),
        ("C", "(", "(", None, "NO"),
    ]


def test_turing_machine_decides_balance_for_every_short_string():
    for n in range(1, 9):
        for chars in itertools.product("()", repeat=n):
            s = "".join(chars)
            assert (run_machine(s)[-1].next_state == "YES") == is_balanced(s), s


def test_turing_stream_follows_the_machine():
    stream = st.turing_parentheses(np.random.default_rng(3), max_length=6)
    strings = np.random.default_rng(3)  # the stream draws its strings from the same sequence
    balanced = 0
    for _ in range(40):
        s = random_string(strings, 6)
        actions = run_machine(s)
        x, d, mask = _take(stream, len(actions))
        assert ["()XA"[i] for i in x.argmax(axis=1)] == [a.read for a in actions]
        assert d[:-1, 2].sum() == 0 and d[-1, 2] == 1  # halt only on the last step
        assert d[-1, 3] == float(is_balanced(s)) and d[:-1, 3].sum() == 0
        assert not mask[-1, 0] and mask[:-1].all()  # no move target when halting
        assert d[:-1, 0].tolist() == [float(a.move_right) for a in actions[:-1]]
        assert d[:, 1].tolist() == [float(a.write != a.read) for a in actions]
        balanced += is_balanced(s)
    assert 10 < balanced < 35


def test_oscillator_stream():
    x, d, mask = _take(st.oscillator((0.0, 0.0, 1.0, 1.0)), 12)
    assert np.all(x == 0) and mask.all()
    assert d[:, 0].tolist() == [0, 0, 1, 1] * 3
    sine = get_task("oscillate-sine").oscillation.cycle
    assert len(sine) == 25 and max(sine) == pytest.approx(0.9, abs=0.01)


# -- criteria: accept a perfect predictor, reject bad ones -------------------------------------
@pytest.mark.parametrize(
    "name", ["pipelined-xor", "sequence-recognition", "delayed-nonmatch", "turing-parentheses"]
)
def test_binary_criterion_accepts_perfect_and_rejects_bad(name):
    task = get_task(name)
    _, d, mask = _take(task.make_stream(np.random.default_rng(4)), 3000)
    perfect = np.where(d > 0.5, 0.9, 0.1)
    assert binary_criterion_holds(perfect, d, mask, task.window)
    assert not binary_criterion_holds(1 - perfect, d, mask, task.window)
    assert not binary_criterion_holds(np.full_like(d, 0.5), d, mask, task.window)
    one_slip = perfect.copy()
    t = np.flatnonzero(mask.any(axis=1))[-5]
    one_slip[t] = 1 - one_slip[t]
    assert not binary_criterion_holds(one_slip, d, mask, task.window)
    # the step-by-step monitor agrees with the array version at the end of the stream
    for y, holds in ((perfect, True), (one_slip, False)):
        monitor = StreakMonitor(task.window)
        seen = [monitor.observe(*step) for step in zip(y, d, mask, strict=True)]
        assert seen[-1] is holds


def test_binary_criterion_needs_a_full_window():
    d = np.ones((10, 1))
    assert not binary_criterion_holds(d, d, np.ones((10, 1), bool), window=11)
    assert binary_criterion_holds(d, d, np.ones((10, 1), bool), window=10)


@pytest.mark.parametrize("name", ["oscillate-0101", "oscillate-00110011", "oscillate-sine"])
def test_oscillation_rms_accepts_the_cycle_at_any_phase_and_rejects_bad(name):
    cycle = np.array(get_task(name).oscillation.cycle)
    P = cycle.size
    assert oscillation_rms(np.roll(np.tile(cycle, 2), 1), cycle) < 1e-12
    assert oscillation_rms(np.full(2 * P, cycle.mean()), cycle) > 0.2
    assert oscillation_rms(np.tile(cycle, 2) * 0.5 + 0.25, cycle) > 0.1  # too small
    wrong_period = np.repeat(cycle, 2)  # period 2P, two periods of it would be 4P steps
    assert oscillation_rms(wrong_period, cycle) > 0.1


def test_free_running_criterion_on_hand_made_networks():
    osc = Oscillation((0.0, 1.0))
    net = FullyRecurrentNet(1, 1, seed=0)
    net.W[:] = [[0.0, 5.0, -10.0]]  # y(t) = f(5 − 10 y(t−1)): 0.99, 0.007, 0.99, ...
    assert osc.holds(net, np.array([0.2]))
    assert osc.test_rms(net, np.array([0.2])) < 0.02
    net.W[:] = [[0.0, 5.0, 0.0]]  # stuck at f(5)
    assert not osc.holds(net, np.array([0.2]))
    net.W[:] = [[0.0, 1.0, -2.0]]  # a damped oscillation that dies out at y ≈ 0.5
    assert not osc.holds(net, np.array([1.0]))


# -- RTRL learns the easy tasks -------------------------------------------------------------------
def test_rtrl_learns_to_oscillate_0101_with_teacher_forcing():
    result = run(get_task("oscillate-0101"), seed=0, teacher_forcing=True, max_steps=5000)
    assert result["solved"] and result["steps"] <= 5000
    assert set(result) >= {"task", "units", "teacher_forcing", "seed", "solved", "steps", "seconds"}
    assert result["units"] == 1 and result["teacher_forcing"] is True


def test_oscillate_0101_without_teacher_forcing_stops_at_the_budget():
    result = run(get_task("oscillate-0101"), seed=0, teacher_forcing=False, max_steps=3000)
    assert not result["solved"] and result["steps"] == 3000


def test_rtrl_learns_pipelined_xor_with_three_units():
    result = run(get_task("pipelined-xor"), seed=0, max_steps=20_000)
    assert result["solved"] and result["units"] == 3 and result["options"] == {"delay": 2}
    assert 1000 <= result["steps"] < 20_000


def test_rtrl_learns_sequence_recognition_with_two_units():
    result = run(get_task("sequence-recognition"), seed=1, max_steps=20_000)
    assert result["solved"] and result["units"] == 2


def test_runs_are_reproducible():
    task = get_task("pipelined-xor")
    a, b = (run(task, seed=5, max_steps=2000) for _ in range(2))
    assert (a["solved"], a["steps"]) == (b["solved"], b["steps"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown task"):
        get_task("xor")
    with pytest.raises(ValueError, match="delay"):
        get_task("pipelined-xor", delay=5)
    with pytest.raises(ValueError, match="pipelined-xor only"):
        get_task("oscillate-sine", delay=2)
    with pytest.raises(ValueError, match="units"):
        run(get_task("turing-parentheses"), units=3)
    with pytest.raises(ValueError, match="max_steps"):
        run(get_task("oscillate-0101"), max_steps=0)
    with pytest.raises(ValueError, match="cue_probability"):
        next(st.delayed_nonmatch(np.random.default_rng(0), cue_probability=1.5))
    with pytest.raises(ValueError, match="string"):
        run_machine("(a)")


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_json_has_the_required_keys():
    result = CliRunner().invoke(
        experiment,
        ["wz89", "--task", "oscillate-0101", "--seeds", "2", "--max-steps", "2000", "--json"],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["task"], r["teacher_forcing"]) for r in rows] == [
        ("oscillate-0101", False),
        ("oscillate-0101", True),
    ]
    for row in rows:
        assert set(row) >= {
            "task",
            "units",
            "teacher_forcing",
            "seeds",
            "solved",
            "median_steps",
            "seconds",
        }
        assert row["seeds"] == 2 and row["units"] == 1
    assert rows[1]["solved"] == 2 and rows[1]["median_steps"] > 0
    assert rows[0]["solved"] == 0 and rows[0]["median_steps"] is None


def test_cli_table_and_options():
    result = CliRunner().invoke(
        experiment,
        [
            "wz89",
            "--task",
            "pipelined-xor",
            "--delay",
            "2",
            "--seeds",
            "1",
            "--units",
            "3",
            "--no-teacher-forcing",
            "--max-steps",
            "500",
        ],
    )
    assert result.exit_code == 0, result.output
    header, row = result.output.strip().splitlines()
    assert "median steps" in header and row.split()[:4] == ["pipelined-xor", "τ=2", "3", "no"]
    assert "0/1" in row


@pytest.mark.parametrize(
    "args",
    [
        ["--task", "no-such-task"],
        ["--seeds", "0"],
        ["--units", "3"],  # needs --task
        ["--task", "oscillate-sine", "--delay", "3"],
        ["--task", "pipelined-xor", "--delay", "7"],
        ["--task", "turing-parentheses", "--units", "2"],
        ["--task", "oscillate-0101", "--max-steps", "-5"],
        ["--task", "oscillate-0101", "--learning-rate", "0"],
    ],
)
def test_cli_bad_options_exit_2(args):
    result = CliRunner().invoke(experiment, ["wz89", *args])
    assert result.exit_code == 2, result.output
    assert "Error" in result.output


def test_task_names_are_the_papers_seven():
    assert TASK_NAMES == (
        "pipelined-xor",
        "sequence-recognition",
        "delayed-nonmatch",
        "turing-parentheses",
        "oscillate-0101",
        "oscillate-00110011",
        "oscillate-sine",
    )
