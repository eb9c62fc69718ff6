"""The explorer's HTTP API: contract keys, input validation, hostile paths, and load.

Runs against Starlette's TestClient and against a real uvicorn server on 127.0.0.1 (a free
port, in a thread), both over `ExplorerModels.for_tests()`.
"""

from __future__ import annotations

import concurrent.futures
import json
import socket
import statistics
import time
import warnings
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from rnnlab.viz import data as viz_data
from rnnlab.viz.explore import explore
from rnnlab.viz.models import ExplorerModels
from rnnlab.viz.server import (
    MAX_BODY_BYTES,
    STATIC_DIR,
    BackgroundServer,
    bind_socket,
    create_app,
)

with warnings.catch_warnings():  # Starlette 1.x nudges towards httpx2; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

VIEWS = (
    "unroll",
    "hidden-state",
    "weight-sharing",
    "generation",
    "vanishing-gradients",
    "bptt-flow",
    "attention",
    "forecast",
)

# The keys each view's data must carry: what the page's views (viz/static/view-*.js) read.
CONTRACT_KEYS = {
    "unroll": {"view", "tokens", "hidden_size", "vocab_size", "matrices", "steps"},
    "hidden-state": {"view", "words", "known", "units", "h", "prediction", "label_names"},
    "weight-sharing": {"view", "tokens", "loss", "matrices", "params_shared", "params_untied"},
    "generation": {"view", "prime", "temperature", "seed", "steps", "text"},
    "vanishing-gradients": {"view", "length", "spectral_radius", "series"},
    "bptt-flow": {"view", "tokens", "hidden_size", "forward", "backward", "final"},
    "attention": {"view", "models", "model", "beam_width"},
    "forecast": {"view", "runs", "run"},
}
# Small but valid parameters, so the tests stay fast.
SMALL = {
    "unroll": {},
    "hidden-state": {},
    "weight-sharing": {},
    "generation": {"steps": 12},
    "vanishing-gradients": {"length": 12, "units": 8},
    "bptt-flow": {},
    "attention": {},
    "forecast": {},
}


@pytest.fixture(scope="module")
def models():
    return ExplorerModels.for_tests()


@pytest.fixture(scope="module")
def app(models):
    return create_app(models)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture(scope="module")
def live(app):
    with BackgroundServer(app) as server:
        yield server


def post(client, view, params=None, **kwargs):
    return client.post(f"/api/view/{view}", json={} if params is None else params, **kwargs)


def assert_json_error(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    assert isinstance(payload.get("error"), str) and payload["error"], payload
    return payload["error"]


def raw_get(server, target: str, host: str = "127.0.0.1") -> tuple[int, bytes]:
    """Send a request line exactly as written (no client-side URL normalisation)."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("latin-1")
        )
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


# -- the catalogue and the page -----------------------------------------------------------------


def test_views_match_the_contract():
    assert tuple(viz_data.VIEWS) == VIEWS
    choices = next(p for p in explore.params if p.name == "view").type.choices
    assert tuple(choices) == VIEWS


def test_health(client):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "views": list(VIEWS)}


def test_view_list_has_names_titles_and_defaults(client):
    payload = client.get("/api/views").json()
    assert [v["name"] for v in payload["views"]] == list(VIEWS)
    by_name = {v["name"]: v for v in payload["views"]}
    assert by_name["unroll"]["defaults"]["text"] == "hello"
    assert by_name["generation"]["defaults"]["temperature"] == pytest.approx(0.8)
    assert by_name["vanishing-gradients"]["defaults"]["spectral_radius"] == pytest.approx(1.0)
    for view in payload["views"]:
        assert view["title"] and isinstance(view["defaults"], dict)


def test_defaults_from_the_catalogue_are_accepted(client):
    for view in client.get("/api/views").json()["views"]:
        params = {**view["defaults"], **SMALL[view["name"]]}
        response = post(client, view["name"], params)
        assert response.status_code == 200, (view["name"], response.text)


@pytest.mark.parametrize("view", VIEWS)
def test_index_opens_on_each_view(client, view):
    response = client.get(f"/?view={view}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert f'data-view="{view}"' in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_every_static_file_is_served_with_its_type(client):
    files = [p for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert {"index.html", "style.css", "app.js"} <= {p.name for p in files}
    for path in files:
        response = client.get(f"/static/{path.relative_to(STATIC_DIR).as_posix()}")
        assert response.status_code == 200, path
        assert response.content == path.read_bytes()
        if path.suffix == ".js":  # ES modules need a JavaScript MIME type
            assert response.headers["content-type"].startswith("text/javascript")


def test_the_page_loads_nothing_from_elsewhere():
    for path in STATIC_DIR.rglob("*"):
        if path.suffix in {".html", ".js", ".css"}:
            text = path.read_text(encoding="utf-8")
            for marker in ("http://", "https://", "//cdn", "@import"):
                assert marker not in text.replace("http://www.w3.org/2000/svg", ""), (
                    path.name,
                    marker,
                )


# -- each view's data ---------------------------------------------------------------------------


@pytest.mark.parametrize("view", VIEWS)
def test_each_view_returns_the_contract_keys(client, view):
    response = post(client, view, SMALL[view])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    assert payload["view"] == view
    assert CONTRACT_KEYS[view] <= set(payload), CONTRACT_KEYS[view] - set(payload)


def test_unroll_shapes(client):
    payload = post(client, "unroll", {"text": "hello"}).json()
    assert payload["tokens"] == list("hello")
    assert [m["name"] for m in payload["matrices"]] == ["W_xh", "W_hh", "W_hy"]
    H, V = payload["hidden_size"], payload["vocab_size"]
    shapes = {m["name"]: m["shape"] for m in payload["matrices"]}
    assert shapes == {"W_xh": [H, V], "W_hh": [H, H], "W_hy": [V, H]}
    assert [s["t"] for s in payload["steps"]] == list(range(5))
    for step in payload["steps"]:
        assert len(step["h"]) == H and len(step["top"]) == 5
        assert {"char", "p"} <= set(step["top"][0])


def test_generation_echoes_its_parameters(client):
    payload = post(client, "generation", {"temperature": 1.25, "seed": 7, "steps": 9}).json()
    assert payload["temperature"] == pytest.approx(1.25) and payload["seed"] == 7
    assert len(payload["steps"]) == 9
    assert len(payload["steps"][0]["probs"]) == 10
    again = post(client, "generation", {"temperature": 1.25, "seed": 7, "steps": 9}).json()
    assert again["text"] == payload["text"]  # same seed, same text


def test_vanishing_gradients_series(client):
    payload = post(
        client,
        "vanishing-gradients",
        {"init": "random", "spectral_radius": 2.0, "length": 10, "units": 8},
    ).json()
    assert payload["length"] == 10 and payload["spectral_radius"] == pytest.approx(2.0)
    assert {s["cell"] for s in payload["series"]} == {"rnn", "lstm", "gru"}
    for series in payload["series"]:
        assert len(series["norms"]) == 10


def test_bptt_flow_runs_backwards(client):
    payload = post(client, "bptt-flow", {"text": "hello"}).json()
    # T = 4 predictions (h->e, e->l, l->l, l->o), walked backwards
    assert [f["t"] for f in payload["forward"]] == [0, 1, 2, 3]
    assert [b["t"] for b in payload["backward"]] == [3, 2, 1, 0]
    assert payload["hidden_size"] <= 6
    assert payload["final"]["check_vs_layer_backward"] < 1e-4


# -- bad input: 4xx with a message, and the server keeps answering ------------------------------


@pytest.mark.parametrize(
    ("view", "params"),
    [
        ("unroll", {"text": "a" * 65}),
        ("unroll", {"text": ""}),
        ("unroll", {"text": 123}),
        ("hidden-state", {"text": "good " * 70}),
        ("weight-sharing", {"text": "x"}),
        ("generation", {"temperature": 5}),
        ("generation", {"temperature": "hot"}),
        ("generation", {"steps": 0}),
        ("generation", {"steps": 10_000}),
        ("generation", {"seed": -1}),
        ("vanishing-gradients", {"spectral_radius": 50}),
        ("vanishing-gradients", {"length": 100_000}),
        ("vanishing-gradients", {"cells": "rnn; rm -rf /"}),
        ("vanishing-gradients", {"init": "zeros"}),
        ("bptt-flow", {"text": "a" * 13}),
        ("unroll", {"no_such_parameter": 1}),
    ],
)
def test_invalid_parameters_are_400(client, view, params):
    message = assert_json_error(post(client, view, params), 400)
    assert len(message) < 2000
    assert client.get("/api/health").status_code == 200


def test_unknown_view_is_404(client):
    assert "unknown view" in assert_json_error(post(client, "no-such-view"), 404)
    assert_json_error(client.get("/?view=no-such-view"), 404)


def test_malformed_and_unwanted_bodies(client):
    url = "/api/view/unroll"
    headers = {"content-type": "application/json"}
    assert "malformed JSON" in assert_json_error(
        client.post(url, content=b'{"text": "hel', headers=headers), 400
    )
    assert_json_error(client.post(url, content=b'["hello"]', headers=headers), 400)
    assert_json_error(client.post(url, content=b'"hello"', headers=headers), 400)
    assert_json_error(client.post(url, content=b'{"text": NaN}', headers=headers), 400)
    assert_json_error(client.post(url, content=b'{"t": 1e999}', headers=headers), 400)
    assert_json_error(client.post(url, content=b"\xff\xfe", headers=headers), 400)
    deep = b"[" * 5000 + b"]" * 5000
    assert_json_error(client.post(url, content=deep, headers=headers), 400)
    assert_json_error(
        client.post(url, content=b'{"text": "hello"}', headers={"content-type": "text/plain"}), 415
    )
    big = json.dumps({"text": "a" * (MAX_BODY_BYTES + 10)}).encode()
    assert "too large" in assert_json_error(client.post(url, content=big, headers=headers), 413)

    def chunks():  # no Content-Length: the cap must hold while streaming
        for _ in range(40):
            yield b" " * 1024

    assert_json_error(client.post(url, content=chunks(), headers=headers), 413)
    assert client.post(url, content=b"", headers=headers).status_code == 200  # defaults
    assert client.get("/api/health").status_code == 200


def test_wrong_methods_are_405(client):
    assert "not allowed" in assert_json_error(client.get("/api/view/unroll"), 405)
    assert_json_error(client.delete("/"), 405)
    assert_json_error(client.put("/api/health"), 405)
    assert_json_error(client.post("/static/app.js"), 405)
    assert client.get("/api/health").status_code == 200


def test_unknown_paths_are_404(client):
    for path in (
        "/nope",
        "/static/",
        "/static/missing.js",
        "/api",
        "/api/view/",
        "/static/index.html/x",
        "/favicon.ico",
    ):
        assert_json_error(client.get(path), 404)


def test_foreign_host_header_is_refused(client):
    response = client.get("/api/health", headers={"host": "attacker.example"})
    assert "Host" in assert_json_error(response, 400)
    assert client.get("/api/health", headers={"host": "localhost:8765"}).status_code == 200


TRAVERSALS = [
    "/static/../../etc/passwd",
    "/static/../server.py",
    "/static/../../../../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/etc/passwd",
    "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/..%2f..%2fetc%2fpasswd",
    "/static/%2E%2E%2Fserver.py",
    "/static/%252e%252e%252fserver.py",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/..\\..\\etc\\passwd",
    "/static/..%5c..%5cetc%5cpasswd",
    "/static/style.css/../../server.py",
    "/static/./app.js/../../server.py",
    "/static/%00../server.py",
    "/../../etc/passwd",
    "/etc/passwd",
    "//etc/passwd",
    "/static/C:\\Windows\\win.ini",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_path_traversal_is_404_on_the_real_server(live, target):
    status, body = raw_get(live, target)
    assert status in (400, 404), (target, status)
    assert b"root:" not in body and b"import" not in body and b"Starlette" not in body
    if status == 404:
        assert json.loads(body)["error"]
    assert raw_get(live, "/api/health")[0] == 200


def test_absolute_url_in_the_request_line(live):
    status, body = raw_get(live, "http://127.0.0.1/static/../../etc/passwd")
    assert status in (400, 404) and b"root:" not in body
    assert raw_get(live, "/api/health")[0] == 200


# -- a real server under load --------------------------------------------------------------------


def test_concurrent_load_on_the_real_server(live, record_property):
    plan = []
    for i in range(200):
        kind = i % 5
        if kind == 0:
            plan.append(("GET", "api/health", None))
        elif kind == 1:
            plan.append(("POST", "api/view/unroll", {"text": "hello"[: 1 + i % 5]}))
        elif kind == 2:
            plan.append(
                (
                    "POST",
                    "api/view/generation",
                    {"temperature": 0.5 + (i % 7) / 10, "seed": i, "steps": 20},
                )
            )
        elif kind == 3:
            plan.append(("POST", "api/view/bptt-flow", {"text": "hello"}))
        else:
            plan.append(("POST", "api/view/unroll", {"text": "a" * 100}))  # a 400, by design

    def worker(items):
        latencies, failures = [], []
        with httpx.Client(base_url=live.url, timeout=30) as http:
            for method, path, body in items:
                start = time.perf_counter()
                try:
                    r = http.request(method, path, json=body)
                    ok = r.status_code == (400 if body and len(body.get("text", "")) > 64 else 200)
                    ok = ok and isinstance(r.json(), dict)
                except Exception as err:
                    failures.append(f"{path}: {err!r}")
                    continue
                latencies.append(time.perf_counter() - start)
                if not ok:
                    failures.append(f"{path}: {r.status_code} {r.text[:200]}")
        return latencies, failures

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(worker, [plan[k::8] for k in range(8)]))
    wall = time.perf_counter() - started
    latencies = sorted(x for lat, _ in results for x in lat)
    failures = [f for _, fail in results for f in fail]
    assert not failures, failures[:5]
    assert len(latencies) == 200
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000
    record_property("explorer_p50_ms", round(p50, 2))
    record_property("explorer_p99_ms", round(p99, 2))
    print(
        f"\nexplorer load: 200 requests, 8 threads, {wall:.2f} s: "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    assert httpx.get(live.url + "api/health").status_code == 200


# -- the command ---------------------------------------------------------------------------------


def test_explore_reports_a_busy_port(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("no model should be loaded when the port is busy")

    monkeypatch.setattr(ExplorerModels, "load_or_train", classmethod(fail))
    sock = bind_socket("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        result = CliRunner().invoke(explore, ["--port", str(port), "--no-browser"])
    finally:
        sock.close()
    assert result.exit_code != 0
    assert f"port {port} on 127.0.0.1 is busy" in result.output
    assert "--port" in result.output


def test_explore_loads_models_and_serves(monkeypatch):
    import rnnlab.viz.server as server_module

    calls = {}

    def fake_load(cls, model_path=None, home=None, budget_seconds=60, log=print):
        log("using test models")
        calls["model_path"] = model_path
        return ExplorerModels.for_tests()

    def fake_serve(app, sock, *, open_browser, view, log):
        calls.update(open_browser=open_browser, view=view, port=sock.getsockname()[1])
        with TestClient(app, base_url="http://127.0.0.1") as c:
            calls["health"] = c.get("/api/health").status_code

    monkeypatch.setattr(ExplorerModels, "load_or_train", classmethod(fake_load))
    monkeypatch.setattr(server_module, "serve", fake_serve)
    result = CliRunner().invoke(explore, ["--port", "0", "--no-browser", "--view", "generation"])
    assert result.exit_code == 0, result.output
    assert "using test models" in result.output
    assert calls["open_browser"] is False and calls["view"] == "generation"
    assert calls["health"] == 200 and calls["model_path"] is None


def test_explore_help_lists_the_contract_options():
    result = CliRunner().invoke(explore, ["--help"])
    assert result.exit_code == 0
    for option in ("--model", "--port", "--host", "--no-browser"):
        assert option in result.output
    assert "8765" in result.output


def test_static_map_is_built_once(tmp_path):
    (tmp_path / "index.html").write_text("<p>hi</p>")
    app = create_app(ExplorerModels.for_tests(), static_dir=tmp_path)
    (tmp_path / "late.js").write_text("alert(1)")  # appears after start-up: never served
    with TestClient(app, base_url="http://127.0.0.1") as c:
        assert c.get("/static/index.html").text == "<p>hi</p>"
        assert c.get("/static/late.js").status_code == 404
    assert Path(tmp_path / "late.js").exists()


def test_an_engine_failure_is_a_json_500_and_the_server_survives(client, monkeypatch):
    reports = []

    def broken(view, models, params):
        raise RuntimeError("simulated engine bug")

    monkeypatch.setattr(viz_data, "compute", broken)
    app = create_app(ExplorerModels.for_tests(), log=reports.append)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        message = assert_json_error(post(c, "unroll"), 500)
        assert "simulated engine bug" in message
        assert c.get("/api/health").status_code == 200
    assert reports and "RuntimeError" in reports[0]


def test_overflowing_results_become_null_with_a_warning():
    from rnnlab.viz.server import encode_result

    payload = json.loads(encode_result({"view": "x", "norms": [1.0, float("inf"), float("nan")]}))
    assert payload["norms"] == [1.0, None, None]
    assert "overflowed" in payload["warnings"][0]
    assert json.loads(encode_result({"view": "x", "n": 2.5})) == {"view": "x", "n": 2.5}
