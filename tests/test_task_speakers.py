"""`rnnlab task speakers`: the .ts reader (good and malformed text), the pinned archive, the run."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

import rnnlab.datasets.japanese_vowels as jv
from rnnlab.cli import main
from rnnlab.datasets import DatasetError
from rnnlab.tasks import speakers

GOOD = """# a comment
@problemName Toy
@timeStamps false
@univariate false
@dimensions 2
@equalLength false
@classLabel true a b

@data
1.0,2.0,3.0:4.0,5.0,6.0:a
-1.5,2.5:0.5,0.25:b
"""


def test_parse_ts_reads_series_labels_and_classes():
    d = jv.parse_ts(GOOD)
    assert d.name == "Toy" and d.classes == ("a", "b") and d.dimensions == 2
    np.testing.assert_array_equal(d.series[0], [[1, 4], [2, 5], [3, 6]])  # (T, D)
    np.testing.assert_array_equal(d.series[1], [[-1.5, 0.5], [2.5, 0.25]])
    np.testing.assert_array_equal(d.labels, [0, 1])


@pytest.mark.parametrize(
    "line, why",
    [
        ("1.0,2.0:4.0,5.0,6.0:a", "dimensions of different lengths"),
        ("1.0,2.0:a", "expected 2 dimensions"),
        ("1.0,x:4.0,5.0:a", "not a number"),
        ("1.0,2.0:4.0,5.0:c", "class label 'c'"),
        ("1.0,?:4.0,5.0:a", "missing values"),
        ("1.0,nan:4.0,5.0:b", "non-finite values"),
    ],
)
def test_parse_ts_names_the_malformed_line(line, why):
    text = GOOD.replace("-1.5,2.5:0.5,0.25:b", line)
    with pytest.raises(DatasetError, match=f"toy.ts, line 11: {why}"):
        jv.parse_ts(text, "toy.ts")


def test_parse_ts_header_errors():
    with pytest.raises(DatasetError, match="line 1: expected a @keyword"):
        jv.parse_ts("1,2:3,4:a\n")
    with pytest.raises(DatasetError, match="line 2: @data before"):
        jv.parse_ts("@dimensions 2\n@data\n")
    with pytest.raises(DatasetError, match="line 1: expected '@classLabel true"):
        jv.parse_ts("@classLabel false\n")
    with pytest.raises(DatasetError, match="no @data section"):
        jv.parse_ts("@classLabel true a\n")
    with pytest.raises(DatasetError, match="holds no series"):
        jv.parse_ts("@classLabel true a\n@data\n")


def test_read_archive_refuses_an_archive_without_the_files(tmp_path):
    path = tmp_path / "fake.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("sktime/__init__.py", "")
    with pytest.raises(DatasetError, match="has no sktime/datasets/data/JapaneseVowels"):
        jv.read_archive(path)
    path.write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="cannot read"):
        jv.read_archive(path)


@pytest.fixture(scope="module")
def data():
    return jv.load_japanese_vowels()  # pinned sktime wheel, verified by sha256


@pytest.mark.network
def test_the_pinned_data_is_the_uci_set(data):
    assert len(data.train.series) == 270 and len(data.test.series) == 370
    assert data.train.classes == tuple(str(k) for k in range(1, 10))
    assert data.train.dimensions == 12
    lengths = [len(s) for s in data.train.series + data.test.series]
    assert min(lengths) == 7 and max(lengths) == 29
    assert np.bincount(data.train.labels).tolist() == [30] * 9
    assert np.bincount(data.test.labels).tolist() == [31, 35, 88, 44, 29, 24, 40, 50, 29]


def test_helpers():
    y = np.repeat(np.arange(3), 5)
    keep, held = speakers.stratified_holdout(y, 2, seed=0)
    assert np.bincount(y[held]).tolist() == [2, 2, 2] and len(keep) + len(held) == 15
    with pytest.raises(ValueError, match="need more than"):
        speakers.stratified_holdout(y, 5, seed=0)
    series = [np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[5.0, 5.0]])]
    mean, _, scaled = speakers.standardise(series)
    np.testing.assert_allclose(mean, [3.0, 4.0])
    np.testing.assert_allclose(np.concatenate(scaled).std(axis=0), [1.0, 1.0])
    with pytest.raises(ValueError, match="read as padding"):
        speakers.standardise([np.array([[1.0, 1.0], [3.0, 3.0]]), np.array([[2.0, 2.0]])])
    x = speakers.pad_frames(series, np.array([1, 0]))
    assert x.shape == (2, 2, 2) and not x[0, 1].any()
    toy = [np.full((3, 2), float(k)) + 0.1 * np.arange(3)[:, None] for k in range(4)]
    assert speakers.summary_1nn(toy, np.arange(4), [t + 0.01 for t in toy]).tolist() == [0, 1, 2, 3]


@pytest.mark.network
def test_run_beats_the_majority_and_writes_the_results(data, tmp_path):
    s = speakers.SpeakerTaskSettings(units=24, max_epochs=25, patience=25)
    record = speakers.run_speakers(data, s, seconds=10, out=tmp_path)
    m = record["metrics"]
    assert record["baselines"]["majority"]["accuracy"] == pytest.approx(31 / 370)
    assert m["accuracy"] > 0.8  # 9 speakers: chance is 0.11
    saved = json.loads((tmp_path / "results.json").read_text())
    assert set(saved) == {"task", "metrics", "baselines", "config", "seconds", "examples"}
    assert saved["task"] == "speakers" and len(saved["metrics"]["confusion"]) == 9
    assert saved["config"]["class_balance"]["test"]["imbalanced"]
    assert "imbalanced" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "model.safetensors").is_file()


def test_cli_refuses_a_used_out_dir(tmp_path):
    (tmp_path / "results.json").write_text("{}")
    result = CliRunner().invoke(main, ["task", "speakers", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "already holds a run" in result.output
    result = CliRunner().invoke(main, ["task", "speakers", "--cell", "jordan"])
    assert result.exit_code == 2


def test_classify_refuses_a_speakers_model(data, tmp_path):
    s = speakers.SpeakerTaskSettings(units=4, max_epochs=1)
    speakers.run_speakers(data, s, seconds=2, out=tmp_path)
    result = CliRunner().invoke(main, ["classify", "--model", str(tmp_path), "good"])
    assert result.exit_code == 1 and "expected a sentiment model" in result.output
    assert "'speakers'" in result.output


def test_any_family_a_layer_can_be_made_of_serves():
    """--cell takes the registry's families (issue 17's minGRU here) through layer_for_cell."""
    s = speakers.SpeakerTaskSettings(cell="mingru", units=16, max_epochs=1)
    model = speakers.build_model(12, 9, s)
    assert type(model.layers[1]).__name__ == "MinGRU"
    x = np.random.default_rng(0).standard_normal((3, 7, 12)).astype(np.float32)
    p = model.predict(x)
    assert p.shape == (3, 9) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
