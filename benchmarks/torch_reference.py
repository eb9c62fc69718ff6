"""The torch side of `rnnlab bench`: torch.nn.RNN / LSTM / GRU and torch.mm, float32, CPU.

rnnlab itself never imports torch. `rnnlab.bench.load_reference()` loads this file by path from
the source checkout (or `rnnlab bench --reference PATH` loads another file defining `load()`);
`load()` returns an object with the `rnnlab.bench.Reference` protocol. torch runs on as many
threads as the process may use (os.cpu_count()), like rnnlab's kernels.

    torch.nn.LSTM (float32, CPU)  one oneDNN `rnn` primitive per call (JIT for this CPU)
    torch.nn.GRU / torch.nn.RNN   ATen time loops over MKL's SGEMM (addmm / mm per step)
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch

MODULES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


class TorchReference:
    """torch.nn layers and torch.mm on NumPy inputs (shared memory, no copies)."""

    name = "torch"

    def __init__(self, threads: int | None = None):
        self.version = torch.__version__
        self.set_threads(threads or os.cpu_count() or 1)

    @staticmethod
    def set_threads(n: int) -> None:
        """torch's intra-op threads (the bench uses all CPUs; profiles compare 1 and 2)."""
        torch.set_num_threads(n)

    def module(self, cell: str, input_size: int, hidden: int) -> torch.nn.Module:
        """A float32 batch-first torch.nn.RNN (tanh) / LSTM / GRU with torch's own init."""
        if cell not in MODULES:
            raise ValueError(f"torch reference: expected a cell from {list(MODULES)}, got {cell!r}")
        return MODULES[cell](input_size, hidden, batch_first=True)

    def layer_call(
        self, cell: str, x: np.ndarray, dy: np.ndarray, hidden: int, train: bool
    ) -> Callable[[], object]:
        """x (B, T, I), dy (B, T, H): forward + backward of dy to all gradients when train,
        else the forward under torch.no_grad()."""
        module = self.module(cell, x.shape[2], hidden)
        tx = torch.from_numpy(x).requires_grad_(train)
        tdy = torch.from_numpy(dy)
        if train:

            def call():
                out, _ = module(tx)
                out.backward(tdy)

        else:

            def call():
                with torch.no_grad():
                    module(tx)

        return call

    def gemm_call(self, a: np.ndarray, b: np.ndarray) -> Callable[[], object]:
        """a @ b by torch.mm into a preallocated float32 output."""
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        out = torch.empty((a.shape[0], b.shape[1]), dtype=torch.float32)
        return lambda: torch.mm(ta, tb, out=out)


def load() -> TorchReference:
    """The reference `rnnlab.bench.load_reference` asks for."""
    return TorchReference()
