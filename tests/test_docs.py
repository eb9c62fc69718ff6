"""The README's Python examples run as written and learn their tasks."""

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


def test_readme_recipe_example_runs_on_a_small_corpus(tmp_path, monkeypatch, capsys):
    """The second example, as written, with a small generated corpus for Shakespeare (no
    download) and a 2-second budget for its 300."""
    import numpy as np

    import rnnlab
    import rnnlab.datasets
    from rnnlab.datasets import Document, TextCorpus

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2 and "train_char_lm(load_shakespeare()" in blocks[1]
    assert "seconds=300" in blocks[1]
    code = blocks[1].replace("seconds=300", "seconds=2")
    rng = np.random.default_rng(0)
    words = "ROMEO: JULIET: the night shall speak to thee my lord".split()
    docs = [
        Document(f"play{i}", "\n".join(" ".join(rng.choice(words, size=6)) for _ in range(300)))
        for i in range(5)
    ]
    monkeypatch.setattr(
        rnnlab.datasets, "load_shakespeare", lambda: TextCorpus("shakespeare", docs[:4], docs[4:])
    )
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # our own README, not user input
    out = capsys.readouterr().out
    run = namespace["run"]
    assert f"{run.val_loss:.3f} nats/char" in out and "data: shakespeare" in out
    model = rnnlab.load_model(tmp_path / "lstm.safetensors")
    assert model.metadata["validation_loss"] == round(run.val_loss, 4)
