"""`rnnlab info` without a file: the CPU and every kernel entry, serving or why not."""

from __future__ import annotations

from click.testing import CliRunner

from rnnlab import native
from rnnlab.cli import main


def test_info_lists_every_kernel_and_why_not():
    try:
        native.set_enabled(True)
        result = CliRunner().invoke(main, ["info"])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0].startswith("CPU: ") and lines[1].startswith("kernels: ")
        assert lines[1] == f"kernels: {native.describe()}; {native.num_threads()} threads"
        assert f"path {native.isa()} (" in lines[1] and "CPU features: " in lines[1]
        for (what, status), line in zip(native.report(), lines[2:], strict=True):
            assert line.split() == [*what.split(), *status.split()]
        native.set_enabled(False)
        off = CliRunner().invoke(main, ["info"]).output.splitlines()[2:]
        assert len(off) == len(native.KERNELS)
        assert all(
            line.endswith("off: disabled by rnnlab.native.set_enabled(False)") for line in off
        )
    finally:
        native.set_enabled(True)
