"""End to end: a char-LSTM trained on Shakespeare by rnnlab and by an equivalent PyTorch loop.

    python benchmarks/bench_train.py [--windows 200] [--rounds 4] [--budget 150] [--json F]

Both sides train Embedding(V, 64) → LSTM(256) → Linear(V) with softmax cross-entropy, Adam
(lr 2e-3) and global-norm clipping at 5, by truncated BPTT over the SAME 32 parallel streams
(k1 = 64, state carried between windows, reset at document and segment starts), float32.

1. Throughput: training tokens/s, measured in interleaved rounds (rnnlab `windows` windows,
   torch `windows` windows, repeated `rounds` times); medians.
2. Time to validation loss 1.9 nats/char on the first 60,000 characters of the validation
   plays (evaluated every 100 updates, evaluation time excluded), each side trained for at
   most `budget` seconds, one after the other.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from rnnlab.datasets import CharVocab, load_shakespeare
from rnnlab.training import TBPTTTrainer
from rnnlab.training.charlm import CharLMSettings, build_model, evaluation_streams, streams_for

TARGET = 1.9


class TorchCharLM:
    """The same model and TBPTT loop in PyTorch."""

    def __init__(self, vocab_size: int, s: CharLMSettings, seed: int = 0):
        import torch

        torch.manual_seed(seed)
        self.torch = torch
        self.emb = torch.nn.Embedding(vocab_size, s.embedding)
        self.lstm = torch.nn.LSTM(s.embedding, s.units, batch_first=True)
        self.out = torch.nn.Linear(s.units, vocab_size)
        self.params = [*self.emb.parameters(), *self.lstm.parameters(), *self.out.parameters()]
        self.opt = torch.optim.Adam(self.params, lr=s.learning_rate)
        self.clip = s.clipnorm
        self.state = None

    def _window(self, streams, p, k1, state):
        torch = self.torch
        x = torch.from_numpy(streams.inputs[:, p : p + k1])
        y = torch.from_numpy(streams.targets[:, p : p + k1])
        valid = torch.from_numpy(streams.valid[:, p : p + k1])
        fresh = torch.from_numpy(streams.starts[:, p])
        B, H = x.shape[0], self.lstm.hidden_size
        if state is None:
            state = (torch.zeros(1, B, H), torch.zeros(1, B, H))
        keep = (~fresh).float()[None, :, None]
        state = (state[0] * keep, state[1] * keep)
        # masked (padding) steps: run them, but exclude them from the loss; padding only ends
        # a fragment, and the next window starts afresh, as on the rnnlab side
        h, new_state = self.lstm(self.emb(x), state)
        logits = self.out(h)
        loss = (
            torch.nn.functional.cross_entropy(logits[valid], y[valid])
            if valid.any()
            else logits.sum() * 0
        )
        return loss, (new_state[0].detach(), new_state[1].detach()), int(valid.sum())

    def train_window(self, streams, p, k1):
        loss, self.state, n = self._window(streams, p, k1, self.state)
        self.opt.zero_grad()
        loss.backward()
        self.torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        return float(loss.detach()), n

    def evaluate(self, streams):
        torch = self.torch
        total, count, state = 0.0, 0, None
        with torch.no_grad():
            for p in range(0, streams.length, streams.k1):
                loss, state, n = self._window(streams, p, streams.k1, state)
                total += float(loss) * n
                count += n
        return total / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--budget", type=float, default=150.0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    corpus = load_shakespeare()
    train = [d.text for d in corpus.train]
    val = [d.text for d in corpus.validation]
    vocab = CharVocab.from_text(corpus.text("train") + corpus.text("validation"))
    s = CharLMSettings()
    streams = streams_for(train, vocab, s.batch_size, s.k1, s.segment_length)
    head, total = [], 0
    for d in val:
        head.append(d[: 60_000 - total])
        total += len(head[-1])
        if total >= 60_000:
            break
    probe = evaluation_streams(head, vocab, n_streams=8, k1=256)

    ours = TBPTTTrainer(build_model(len(vocab), s), s.k1)
    theirs = TorchCharLM(len(vocab), s)
    rates = {"rnnlab": [], "torch": []}
    window = 0
    for _ in range(args.rounds):
        for name, step in (
            ("rnnlab", lambda p: ours.train_window(streams, p)),
            ("torch", lambda p: theirs.train_window(streams, p, s.k1)),
        ):
            t0, tokens = time.perf_counter(), 0
            for w in range(window, window + args.windows):
                tokens += step((w % streams.n_windows) * s.k1)[1]
            rates[name].append(tokens / (time.perf_counter() - t0))
        window += args.windows
    med = {k: statistics.median(v) for k, v in rates.items()}
    print("| side | training tokens/s (median of rounds) |\n|---|---|")
    for k, v in med.items():
        print(f"| {k} | {v:,.0f} |")
    print(f"ratio rnnlab / torch: {med['rnnlab'] / med['torch']:.2f}")

    reach = {}
    for name in ("rnnlab", "torch"):
        trainer = (
            TBPTTTrainer(build_model(len(vocab), s), s.k1)
            if name == "rnnlab"
            else TorchCharLM(len(vocab), s)
        )
        train_seconds, steps, reached, loss = 0.0, 0, None, float("nan")
        while train_seconds < args.budget:
            t0 = time.perf_counter()
            for _ in range(100):
                p = (steps % streams.n_windows) * s.k1
                if name == "rnnlab":
                    trainer.train_window(streams, p)
                else:
                    trainer.train_window(streams, p, s.k1)
                steps += 1
            train_seconds += time.perf_counter() - t0
            loss = trainer.evaluate(probe)
            if loss <= TARGET:
                reached = train_seconds
                break
        reach[name] = {"seconds": reached, "steps": steps, "probe_loss": loss}
        print(
            f"{name}: probe loss {loss:.3f} after {steps} updates, {train_seconds:.1f} s "
            f"of training; reached {TARGET}: "
            f"{'no' if reached is None else f'after {reached:.1f} s'}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {"tokens_per_s": med, "rounds": rates, "time_to_target": reach, "target": TARGET},
                fh,
                indent=2,
            )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
