"""The run machinery every `rnnlab task` shares: budget, progress, out dir, results.json."""

import io
import json
import math

import numpy as np
import pytest

from rnnlab.tasks import run


def test_budget_counts_spent_seconds_and_expires():
    b = run.Budget(100, spent=99.9999)
    assert b.elapsed() >= 99.9999
    assert 0 <= b.remaining() <= 0.0001
    b = run.Budget(0.001)
    while not b.expired():
        pass
    assert b.fraction() == 1.0 and b.remaining() == 0.0
    for bad in (0, -1, math.nan, "10"):
        with pytest.raises(ValueError, match="positive number of seconds"):
            run.Budget(bad)
    with pytest.raises(ValueError, match="spent"):
        run.Budget(10, spent=-1)


def test_progress_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    p = run.ProgressLine(run.Budget(60), "g2p", stream=stream, every=0.0)
    p.update(step=3, loss=1.234567)
    p.update(step=4, loss=1.0)
    p.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("g2p") and "loss 1.235" in lines[0]
    assert "\r" not in stream.getvalue()


def test_progress_redraws_in_place_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    p = run.ProgressLine(run.Budget(60), "translate", stream=stream)
    p.update(step=1)
    p.close()
    text = stream.getvalue()
    assert text.startswith("\r\033[K") and "[" in text and text.endswith("\n")


def test_prepare_out_refuses_to_overwrite_and_resume_needs_a_run(tmp_path):
    out = run.prepare_out(tmp_path / "a", resume=False)
    assert out.is_dir()
    with pytest.raises(ValueError, match="holds no earlier run"):
        run.prepare_out(out, resume=True)
    run.write_results(out, task="t", metrics={"accuracy": 0.5}, config={}, seconds=1)
    with pytest.raises(ValueError, match="already holds a run"):
        run.prepare_out(out, resume=False)
    assert run.prepare_out(out, resume=True) == out
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="expected a directory"):
        run.prepare_out(tmp_path / "f", resume=False)


def test_results_round_trip_in_the_convention(tmp_path):
    path = run.write_results(
        tmp_path,
        task="forecast",
        metrics={"co2": {"lstm": {"mase": np.float32(0.5)}}},
        baselines={"co2": {"seasonal_naive": {"mase": 1.0}}},
        config={"horizon": np.int64(12), "sizes": np.arange(2)},
        seconds=3.5,
        examples=[{"x": "a"}],
    )
    record = json.loads(path.read_text())
    assert record == run.read_results(tmp_path)
    assert record["metrics"]["co2"]["lstm"]["mase"] == 0.5
    assert record["config"] == {"horizon": 12, "sizes": [0, 1]}
    assert set(record) == {"task", "metrics", "baselines", "config", "seconds", "examples"}


@pytest.mark.parametrize(
    "metrics, match",
    [
        ({"bleu": math.nan}, r"metrics\.bleu: expected a finite number"),
        ({"lstm": {"mase": np.inf}}, r"metrics\.lstm\.mase"),
        ({"BLEU": 1.0}, "lower case"),
        ({}, "non-empty"),
    ],
)
def test_bad_results_are_refused_and_nothing_is_written(tmp_path, metrics, match):
    with pytest.raises(ValueError, match=match):
        run.write_results(tmp_path, task="t", metrics=metrics, config={}, seconds=1)
    assert not (tmp_path / run.RESULTS_NAME).exists()


def test_read_results_names_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results"):
        run.read_results(tmp_path)
    (tmp_path / run.RESULTS_NAME).write_text("{not json")
    with pytest.raises(ValueError, match="not a results file"):
        run.read_results(tmp_path)
    (tmp_path / run.RESULTS_NAME).write_text('{"task": "x"}')
    with pytest.raises(ValueError, match="missing metrics"):
        run.read_results(tmp_path)


def test_report_and_table(tmp_path):
    table = run.markdown_table(["model", "mase"], [["lstm", 0.123456], ["naive", 1]])
    assert table.splitlines()[2] == "| lstm | 0.1235 |"
    path = run.write_report(tmp_path, "# r\n\n" + table)
    assert path.read_text().endswith("| naive | 1 |\n")
    with pytest.raises(ValueError, match="row of 1 cells"):
        run.markdown_table(["a", "b"], [["x"]])
    with pytest.raises(ValueError, match="Markdown text"):
        run.write_report(tmp_path, "  ")
