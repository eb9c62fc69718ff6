"""`rnnlab forecast` on a user's CSV (errors name the line) and `rnnlab task forecast`."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from rnnlab.cli import main
from rnnlab.forecast import cli as forecast_cli
from rnnlab.forecast.csvinput import CSVError, read_series_csv
from rnnlab.forecast.network import Forecaster, NetConfig, save_forecaster
from rnnlab.forecast.windows import Scaler


def write(tmp_path, text, name="s.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def monthly(n, start_year=2000, value=lambda k: 10 + k % 12 + 0.1 * k):
    lines = ["month,sales"]
    for k in range(n):
        lines.append(f"{start_year + k // 12}-{k % 12 + 1:02d},{value(k)}")
    return "\n".join(lines) + "\n"


def test_csv_parses_dates_of_every_kind(tmp_path):
    s = read_series_csv(write(tmp_path, monthly(30)), "month", ["sales"])
    assert s.values.shape == (30, 1) and s.unit == "month"
    assert s.future_dates(2) == ["2002-07", "2002-08"]
    weekly = "day,v\n" + "".join(f"2024-01-{d:02d},{d}\n" for d in (1, 8, 15, 22, 29))
    s = read_series_csv(write(tmp_path, weekly), "day", ["v"])
    assert s.unit == "week" and s.future_dates(1) == ["2024-02-05"]
    quarters = "q,v\n2020Q3,1\n2020Q4,2\n2021Q1,4\n"
    assert read_series_csv(write(tmp_path, quarters), "q", ["v"]).future_dates(1) == ["2021Q2"]


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "month,sales\n2000-01,1\n2000-13,2\n2000-03,3\n",
            r"line 3: cannot parse the date '2000-13'",
        ),
        (
            "month,sales\n2000-01,1\n2000-02,abc\n2000-03,3\n",
            r"line 3: column 'sales': expected a number, got 'abc'",
        ),
        (
            "month,sales\n2000-01,1\n2000-02,\n2000-03,3\n",
            r"line 3: column 'sales': expected a number, got an empty value",
        ),
        (
            "month,sales\n2000-01,1\n2000-02,2\n2000-04,3\n",
            r"line 4: gap: expected 2000-03 after 2000-02",
        ),
        ("month,sales\n2000-02,1\n2000-01,2\n", r"line 3: the dates must increase"),
        (
            "month,sales\n2000-01,1\n2000-02,2\n",
            r"2 data point\(s\) \(the last data line is line 3\); expected at least 3",
        ),
        (
            "month,sales\n2000-01,4\n2000-02,4\n2000-03,4\n",
            r"column 'sales' is constant \(4 on every line\)",
        ),
        ("date,sales\n2000-01,4\n", r"line 1: no column 'month'"),
        ("month,sales\n2000-01,1,9\n", r"line 2: 3 fields, the header has 2"),
    ],
)
def test_csv_errors_name_the_line(tmp_path, text, message):
    with pytest.raises(CSVError, match=message):
        read_series_csv(write(tmp_path, text), "month", ["sales"])


@pytest.fixture
def model_dir(tmp_path):
    rng = np.random.default_rng(0)
    k = np.arange(120)
    x = (10 + 0.05 * k + np.sin(2 * np.pi * k / 12) + 0.1 * rng.normal(size=120))[:, None]
    sc = Scaler.fit(x, target=0, season=12, log=False, level=False, seasonal=True)
    cfg = NetConfig(window=12, horizon=3, units=8, members=1, max_epochs=2)
    fc = Forecaster(cfg, sc).fit(sc.transform(x), seconds=60)
    out = tmp_path / "run" / "model" / "toy"
    save_forecaster(fc, out, {"series": "toy", "columns": ["sales"], "first_date": "2000-01"})
    return tmp_path / "run"


def test_forecast_command_on_a_csv(tmp_path, model_dir):
    csv = write(tmp_path, monthly(40, start_year=2001))
    result = CliRunner().invoke(
        main,
        [
            "forecast",
            "--model",
            str(model_dir),
            "--csv",
            str(csv),
            "--date-column",
            "month",
            "--value-column",
            "sales",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in result.output.splitlines()[2:]]
    assert [r[0] for r in rows] == ["2004-05", "2004-06", "2004-07"]
    values = np.array([[float(v) for v in r[1:]] for r in rows])
    assert np.all(np.isfinite(values)) and np.all(values[:, 0] <= values[:, 2])
    # bad input: the row is named, a too long horizon and too few points are refused
    bad = write(tmp_path, monthly(40).replace("2000-05,", "2000-5x,"), "bad.csv")
    args = [
        "forecast",
        "--model",
        str(model_dir),
        "--date-column",
        "month",
        "--value-column",
        "sales",
        "--csv",
    ]
    result = CliRunner().invoke(main, [*args, str(bad)])
    assert result.exit_code == 2 and "line 6: cannot parse the date '2000-5x'" in result.output
    result = CliRunner().invoke(main, [*args, str(csv), "--horizon", "4"])
    assert result.exit_code == 2 and "forecasts at most 3 steps" in result.output
    short = write(tmp_path, monthly(10), "short.csv")
    result = CliRunner().invoke(main, [*args, str(short)])
    assert result.exit_code == 2 and "expected at least 14" in result.output
    result = CliRunner().invoke(main, [*args, str(short), "--horizon", "10"])
    assert result.exit_code == 2


def test_phase_offset_lines_up_the_season(tmp_path):
    U = read_series_csv(write(tmp_path, "m,v\n2001-03,1\n2001-04,2\n2001-05,3\n"), "m", ["v"])

    assert forecast_cli.phase_offset("2000-01", U, 12) == 2
    assert forecast_cli.phase_offset("2000", U, 12) == 0  # different kinds of date
    assert forecast_cli.phase_offset(None, U, 12) == 0


def test_task_forecast_writes_results_report_and_pngs(tmp_path, monkeypatch):
    real = forecast_cli.run_series

    def quick(name, **kw):
        kw.update(
            strategies=("direct", "online"),
            baselines=("naive", "seasonal_naive", "drift"),
            members=1,
        )
        return real(name, **kw)

    monkeypatch.setattr(forecast_cli, "run_series", quick)
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main, ["task", "forecast", "--series", "airline", "--seconds", "4", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    record = json.loads((out / "results.json").read_text())
    assert record["task"] == "forecast"
    models = record["metrics"]["airline"]
    assert set(models) == {"naive", "seasonal_naive", "drift", "lstm_direct", "lstm_online"}
    assert set(record["baselines"]["airline"]) == {"naive", "seasonal_naive", "drift"}
    for values in models.values():
        assert {"mase", "smape", "rmse", "coverage", "pinball"} <= set(values)
        assert 0 <= values["coverage"] <= 1 and len(values["mase_by_horizon"]) == 12
    assert (out / "airline-lstm_direct.png").stat().st_size > 1000
    assert (out / "model" / "airline" / "member0.safetensors").is_file()
    report = (out / "report.md").read_text()
    assert "## airline" in report and "seasonal_naive" in report
    # a horizon longer than the data is refused with the reason
    result = CliRunner().invoke(
        main,
        [
            "task",
            "forecast",
            "--series",
            "airline",
            "--horizon",
            "200",
            "--seconds",
            "2",
            "--out",
            str(tmp_path / "b"),
        ],
    )
    assert result.exit_code == 2 and "not shorter than the series (144 points)" in result.output
