"""`rnnlab task sentiment`, `rnnlab classify` and what they share: pooling layers, metrics, folds,
baselines, the results.json shape, the error paths."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import rnnlab.datasets
from rnnlab.cli import main
from rnnlab.datasets.sentiment import SentimentDataset, Snippet, WordVocab
from rnnlab.gradcheck import check_layer
from rnnlab.layers import GlobalAveragePooling1D, GlobalMaxPooling1D
from rnnlab.tasks import classification as cls
from rnnlab.tasks import classify as clf
from rnnlab.tasks import sentiment as task
from rnnlab.tasks import text_baselines

POSITIVE = "great wonderful good funny moving brilliant charming superb".split()
NEGATIVE = "bad awful dull boring tedious terrible weak clumsy".split()
FILLER = "the a film movie plot story was is and it of this acting script quite".split()


def synthetic(n: int, seed: int) -> list[Snippet]:
    """Sentences of filler words with one or two sentiment words of the label's side."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = int(rng.integers(2))
        words = list(rng.choice(FILLER, size=int(rng.integers(3, 9))))
        for _ in range(int(rng.integers(1, 3))):
            pos = int(rng.integers(len(words) + 1))
            words.insert(pos, str(rng.choice(POSITIVE if label else NEGATIVE)))
        out.append(Snippet(i, " ".join(words), 2.0 if label else -2.0, label))
    return out


@pytest.fixture(scope="module")
def data() -> SentimentDataset:
    snippets = synthetic(700, seed=1)
    return SentimentDataset("synthetic", snippets[:560], snippets[560:])


SMALL = dict(
    units=12, embedding=12, max_epochs=8, patience=3, batch_size=16, dropout=0.1, restarts=1
)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("sentiment")
    record = task.run_sentiment(data, task.SentimentTaskSettings(**SMALL), seconds=20, out=out)
    return out, record


# -- pooling layers -----------------------------------------------------------------------------
@pytest.mark.parametrize("layer_type", [GlobalAveragePooling1D, GlobalMaxPooling1D])
def test_pooling_gradients_with_a_mask(layer_type, rng):
    x = rng.standard_normal((3, 5, 4))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=bool)
    report = check_layer(layer_type(dtype="float64"), x, mask=mask)
    assert report.ok, str(report)


def test_pooling_values_ignore_padding_and_empty_rows_give_zero(rng):
    x = rng.standard_normal((2, 4, 3))
    x[0, 2:] = 100.0  # padding that must not count
    mask = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], dtype=bool)
    mean = GlobalAveragePooling1D(dtype="float64").forward(x, mask=mask)
    top = GlobalMaxPooling1D(dtype="float64").forward(x, mask=mask)
    np.testing.assert_allclose(mean[0], x[0, :2].mean(axis=0))
    np.testing.assert_allclose(top[0], x[0, :2].max(axis=0))
    assert not mean[1].any() and not top[1].any()
    np.testing.assert_allclose(GlobalAveragePooling1D().forward(x).astype(float), x.mean(1), 1e-6)
    with pytest.raises(ValueError, match="bool mask of shape"):
        GlobalMaxPooling1D().forward(x, mask=np.ones((2, 3), dtype=bool))
    with pytest.raises(ValueError, match="batch, time, features"):
        GlobalMaxPooling1D().forward(x[0])


# -- metrics, folds ------------------------------------------------------------------------------
def test_metrics_match_scikit_learn(rng):
    from sklearn.metrics import confusion_matrix, f1_score

    y = rng.integers(0, 4, size=200)
    p = np.where(rng.random(200) < 0.6, y, rng.integers(0, 4, size=200))
    p[p == 3] = 2  # a class never predicted
    m = cls.classification_metrics(y, p, 4)
    assert m["confusion"] == confusion_matrix(y, p, labels=range(4)).tolist()
    assert m["macro_f1"] == pytest.approx(f1_score(y, p, average="macro", zero_division=0))
    assert m["accuracy"] == pytest.approx((y == p).mean())
    with pytest.raises(ValueError, match="outside"):
        cls.confusion_matrix([0, 5], [0, 1], 2)
    with pytest.raises(ValueError, match="as many predictions"):
        cls.confusion_matrix([0, 1], [0], 2)


def test_class_balance_reports_imbalance():
    b = cls.class_balance([0] * 80 + [1] * 20, ["negative", "positive"])
    assert b["imbalanced"] and b["majority"] == "negative" and b["majority_share"] == 0.8
    assert not cls.class_balance([0, 1, 1, 0], ["n", "p"])["imbalanced"]
    assert "imbalanced" in cls.balance_line("test", b)


def test_cv_folds_are_disjoint_and_cover():
    folds = task.cv_folds(1003, 10, seed=3)
    assert len(folds) == 10
    joined = np.concatenate(folds)
    assert len(joined) == 1003 and set(joined.tolist()) == set(range(1003))
    assert max(len(f) for f in folds) - min(len(f) for f in folds) <= 1
    assert not np.array_equal(folds[0], task.cv_folds(1003, 10, seed=4)[0])
    keep, held = task.holdout(100, 0.1, seed=0)
    assert len(held) == 10 and not set(keep) & set(held) and len(keep) + len(held) == 100
    with pytest.raises(ValueError, match="folds"):
        task.cv_folds(10, 1)


def test_settings_refuse_bad_values():
    for bad in (dict(cell="jordan"), dict(pooling="sum"), dict(cv=1), dict(dropout=1.5)):
        with pytest.raises(ValueError):
            task.SentimentTaskSettings(**bad).validate()


# -- the run -------------------------------------------------------------------------------------
def test_run_beats_majority_and_computes_the_baselines(finished_run, data):
    _, record = finished_run
    m, b = record["metrics"], record["baselines"]
    assert set(b) == {"majority", "vader", "bow_logistic"}
    assert b["majority"]["accuracy"] < 0.6
    assert m["accuracy"] > b["majority"]["accuracy"] + 0.25
    assert b["bow_logistic"]["accuracy"] > 0.9  # the words decide the label
    assert b["vader"]["accuracy"] > 0.7  # VADER knows "great", "awful", ...
    assert sum(map(sum, m["confusion"])) == len(data.validation)
    balance = record["config"]["class_balance"]
    assert set(balance) == {"train", "validation", "test"}
    assert sum(balance["test"]["counts"].values()) == len(data.validation)


def test_results_json_shape_and_report(finished_run):
    out, _ = finished_run
    saved = json.loads((out / "results.json").read_text())
    assert set(saved) == {"task", "metrics", "baselines", "config", "seconds", "examples"}
    assert saved["task"] == "sentiment"
    assert {"accuracy", "macro_f1", "confusion"} <= set(saved["metrics"])
    for name in ("majority", "vader", "bow_logistic"):
        assert 0 <= saved["baselines"][name]["accuracy"] <= 1
    assert saved["examples"] and {"text", "label", "p_positive"} <= set(saved["examples"][0])
    text = (out / "report.md").read_text()
    assert "bow_logistic" in text and "RAE" in text and "Class balance" in text


def test_cross_validation_protocol(data):
    s = task.SentimentTaskSettings(**{**SMALL, "max_epochs": 2}, cv=3)
    record = task.run_sentiment(data, s, seconds=6)
    m = record["metrics"]
    assert len(m["folds"]) == 3 and m["accuracy"] == pytest.approx(np.mean(m["folds"]))
    assert sum(map(sum, m["confusion"])) == len(data.train) + len(data.validation)
    assert "accuracy_std" in record["baselines"]["majority"]


def test_restarts_make_an_ensemble_that_classify_reproduces(data, tmp_path):
    s = task.SentimentTaskSettings(**{**SMALL, "restarts": 3, "max_epochs": 2})
    record = task.run_sentiment(data, s, seconds=60, out=tmp_path)
    fit, m = record["config"]["fit"][0], record["metrics"]
    assert fit["members"] == len(fit["restarts"]) == len(m["members"]) == 3
    assert fit["val_accuracy"] == max(fit["restarts"])
    best = clf.load_sentiment_model(tmp_path)  # the best single one on validation
    assert best.metadata["test_accuracy"] == round(m["best_single"], 4)
    members = clf.load_sentiment_models(tmp_path)
    assert [x.metadata["member"] for x in members] == [0, 1, 2]
    text = "the story was dull but the acting brilliant"
    c = clf.classify_text(members, text)
    ids, _ = WordVocab.from_config(members[0].metadata["words"]).encode(c.words)
    mean = np.mean([clf.prefix_probabilities(x, ids) for x in members], axis=0)
    np.testing.assert_allclose(c.prefix_p, mean, atol=1e-12)
    # the reported accuracy is the ensemble's: rebuild it from the saved members
    test = data.validation
    p = np.mean([[clf.classify_text(x, t.text).prefix_p[-1] for t in test] for x in members], 0)
    assert m["accuracy"] == pytest.approx(np.mean((p > 0.5) == data.labels("validation")))


def test_missing_optional_dependency_skips_the_baseline(data, monkeypatch):
    def missing(*args, **kwargs):
        raise text_baselines.MissingDependency("the VADER baseline needs vaderSentiment")

    monkeypatch.setattr(text_baselines, "vader_scores", missing)
    s = task.SentimentTaskSettings(**{**SMALL, "max_epochs": 1})
    record = task.run_sentiment(data, s, seconds=3)
    assert "vader" not in record["baselines"]
    assert "vaderSentiment" in record["config"]["baseline_notes"]["vader"]["skipped"]
    assert "Baselines not computed" in task.report(record)


# -- classify ------------------------------------------------------------------------------------
def test_classify_prefixes_are_the_model_on_each_prefix(finished_run):
    out, _ = finished_run
    model = clf.load_sentiment_model(out)
    c = clf.classify_text(model, "the plot was awful and the acting dull")
    assert len(c.prefix_p) == len(c.words) == 8
    words = model.metadata["words"]["words"]
    for t in (1, 4, 8):
        ids = np.array([[words.index(w) + 2 for w in c.words[:t]]])
        assert c.prefix_p[t - 1] == pytest.approx(float(model.predict(ids)[0, 0]), abs=1e-6)
    assert sum(c.contributions) == pytest.approx(c.prefix_p[-1] - 0.5)
    assert c.label == "negative" and c.probability > 0.5
    assert clf.classify_text(model, "a wonderful and funny film").label == "positive"


def test_classify_cli_and_its_errors(finished_run, tmp_path):
    out, _ = finished_run
    runner = CliRunner()
    ok = runner.invoke(main, ["classify", "--model", str(out), "a brilliant zorblax film"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("positive") and "zorblax (?)" in ok.output
    empty = runner.invoke(main, ["classify", "--model", str(out), "  ...  "])
    assert empty.exit_code == 1 and "no words" in empty.output
    unknown = runner.invoke(main, ["classify", "--model", str(out), "zorblax quux"])
    assert unknown.exit_code == 1 and "none of the words" in unknown.output
    assert "0.5" in unknown.output  # says why it does not answer 0.5
    nothing = runner.invoke(main, ["classify", "--model", str(tmp_path), "good"])
    assert nothing.exit_code == 1 and "no model.safetensors" in nothing.output


def test_task_cli_writes_the_run_and_refuses_bad_options(data, tmp_path, monkeypatch):
    monkeypatch.setattr(rnnlab.datasets, "load_vader_movies", lambda progress=None: data)
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["task", "sentiment", "--seconds", "3", "--units", "8", "--out", str(out)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output and "bow_logistic" in result.output
    assert (out / "model.safetensors").is_file() and (out / "report.md").is_file()
    again = runner.invoke(main, args)
    assert again.exit_code == 1 and "already holds a run" in again.output
    bad = runner.invoke(main, ["task", "sentiment", "--cv", "1", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "at least 2 folds" in bad.output
    bad = runner.invoke(main, ["task", "sentiment", "--pooling", "sum"])
    assert bad.exit_code == 2 and "sum" in bad.output
