"""The online-vs-BPTT comparison: the stream, the runner's bookkeeping, its errors."""

import numpy as np
import pytest

from rnnlab.online import compare


def test_delayed_xor_stream():
    x, target, mask = compare.delayed_xor_stream(50, 3, seed=1)
    assert x.shape == (50, 2) and target.shape == (50, 1) and mask.shape == (50,)
    assert not mask[:3].any() and mask[3:].all()
    for t in range(3, 50):
        assert target[t, 0] == float(int(x[t - 3, 0]) ^ int(x[t - 3, 1]))


def test_every_learner_runs_from_the_same_weights():
    results = compare.run(steps=1100, units=4, delay=2, seed=0, curve_every=100)
    assert [r.learner for r in results] == list(compare.LEARNERS)
    for r in results:
        assert np.isfinite(r.final_loss) and 0 <= r.final_accuracy <= 1
        assert r.memory_bytes > 0 and r.ms_per_step > 0
        assert r.curve_steps[0] == 100 and len(r.curve_steps) == len(r.curve_loss) == 11
    memory = {r.learner: r.memory_bytes for r in results}
    assert memory["rtrl"] > memory["snap1"] and memory["rtrl"] > memory["uoro"]
    text = compare.table(results)
    assert text.count("\n") == len(results) + 1 and "exact RTRL" in text


def test_rtrl_solves_the_task():
    """The documented outcome, at a reduced length: exact RTRL reaches 100% on delayed XOR."""
    (rtrl,) = compare.run(learners=["rtrl"], steps=12000, units=16, delay=2, seed=0)
    assert rtrl.final_accuracy > 0.98


def test_errors():
    with pytest.raises(ValueError, match="expected steps ≥ 1002"):
        compare.run(steps=500)
    with pytest.raises(ValueError, match="expected learners from"):
        compare.run(learners=["adam"], steps=1100)


def test_cli_json_and_figure(tmp_path):
    import json

    from click.testing import CliRunner

    from rnnlab.cli import main

    out = tmp_path / "curves.png"
    result = CliRunner().invoke(
        main,
        [
            "experiment",
            "online-vs-bptt",
            "--steps",
            "1100",
            "--units",
            "4",
            "--learners",
            "rtrl,uoro",
            "--json",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["learner"] for r in rows] == ["rtrl", "uoro"]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = CliRunner().invoke(main, ["experiment", "online-vs-bptt", "--learners", "sgd"])
    assert bad.exit_code == 2 and "expected a comma-separated list" in bad.output
