"""The README's Python example runs as written and learns its task."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "README.md has no Python example"
    monkeypatch.chdir(tmp_path)
    import rnnlab

    monkeypatch.setattr(rnnlab.config, "_rng", rnnlab.config._rng)  # the example reseeds it
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # our own README, not user input
    model = namespace["model"]
    x, y = namespace["x"], namespace["y"]
    accuracy = float((model.predict(x).argmax(axis=1) == y).mean())
    assert accuracy > 0.9
    assert (tmp_path / "sum-sign.safetensors").exists()
    assert "Total params" in capsys.readouterr().out
