"""Engine cache: keys, and stale / foreign / corrupt engines discarded (never run) and rebuilt.

Uses real TensorRT-RTX engine bytes built on this CPU-only machine from the project's decoder
class (64² output, so the build takes well under a second).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
trt = pytest.importorskip("tensorrt_rtx")

from latentcam.engines.cache import ENGINE_FILE, META_FILE, EngineCache, EngineKey, default_cache_root
from latentcam.engines.model import DecoderModel
from latentcam.engines.tensorrt_build import build_engine, engine_onnx, header_problem, parse_archs


@pytest.fixture(scope="module")
def real_engine(tmp_path_factory) -> tuple[DecoderModel, bytes]:
    from latentcam.latent.decoder import Decoder
    from latentcam.latent.export import export_decoder_onnx
    from latentcam.latent.presets import get_preset

    torch.manual_seed(0)
    decoder = Decoder(get_preset("cpu", size=64).decoder).eval()
    d = tmp_path_factory.mktemp("small")
    export_decoder_onnx(decoder, d / "decoder.onnx")
    model = DecoderModel.from_onnx(d / "decoder.onnx", torch_factory=lambda: decoder)
    onnx_bytes, _ = engine_onnx(model, "fp32", d)
    built = build_engine(trt, onnx_bytes, archs=["sm_86"], rtx=True, precision="fp32")
    return model, built.data


@pytest.fixture
def key(real_engine) -> EngineKey:
    model, _ = real_engine
    return EngineKey(model.sha256, "tensorrt-rtx", trt.__version__, "sm_86", "fp32")


def test_key_covers_model_backend_version_gpu_precision(key):
    variants = [replace(key, model_sha256="0" * 64), replace(key, backend="tensorrt"),
                replace(key, backend_version="0.0.1"), replace(key, target="sm_89"),
                replace(key, precision="fp16"), replace(key, export_format="other")]
    names = {key.dirname()} | {v.dirname() for v in variants}
    assert len(names) == len(variants) + 1
    assert key.dirname() == replace(key).dirname()              # stable
    assert key.dirname().startswith(key.model_sha256[:12] + "-tensorrt-rtx-fp32-sm_86-")


def test_default_root_is_the_user_cache_dir():
    import platformdirs

    assert default_cache_root() == platformdirs.user_cache_path("latentcam", appauthor=False) / "engines"


def test_store_then_load_round_trip(tmp_path, key, real_engine):
    _, data = real_engine
    cache = EngineCache(tmp_path)
    assert cache.load(key) is None
    path = cache.store(key, data)
    assert path.read_bytes() == data and cache.load(key) == data
    meta = json.loads((path.parent / META_FILE).read_text())
    assert meta["key"]["target"] == "sm_86" and meta["bytes"] == len(data)
    assert cache.runtime_cache_path(key).parent == path.parent
    assert [e["key"]["backend"] for e in cache.entries()] == ["tensorrt-rtx"]


def test_newer_backend_version_or_other_gpu_misses_and_rebuilds(tmp_path, key, real_engine):
    _, data = real_engine
    cache = EngineCache(tmp_path)
    cache.store(key, data)
    builds = []
    for other in (replace(key, backend_version="9.9.9"), replace(key, target="sm_89")):
        got, built = cache.get_or_build(other, lambda: builds.append(1) or b"rebuilt")
        assert built and got == b"rebuilt"
    assert len(builds) == 2
    assert cache.get_or_build(key, lambda: pytest.fail("must not rebuild a valid engine"))[0] == data


def test_foreign_engine_is_discarded_not_run(tmp_path, key, real_engine):
    _, data = real_engine
    cache = EngineCache(tmp_path)
    other = replace(key, target="sm_89")
    cache.store(other, data)
    cache.entry_dir(other).rename(cache.entry_dir(key))       # an engine for another GPU, misplaced
    with pytest.warns(RuntimeWarning, match="foreign engine"):
        got, built = cache.get_or_build(key, lambda: b"fresh engine")
    assert built and got == b"fresh engine"
    assert json.loads((cache.entry_dir(key) / META_FILE).read_text())["key"]["target"] == "sm_86"


@pytest.mark.parametrize("damage", ["flip", "truncate", "meta"])
def test_corrupt_engine_is_discarded_with_warning(tmp_path, key, real_engine, damage):
    _, data = real_engine
    cache = EngineCache(tmp_path)
    path = cache.store(key, data)
    if damage == "flip":
        raw = bytearray(data)
        raw[len(raw) // 2] ^= 0xFF
        path.write_bytes(bytes(raw))
    elif damage == "truncate":
        path.write_bytes(data[: len(data) // 3])
    else:
        (path.parent / META_FILE).write_text("{not json")
    with pytest.warns(RuntimeWarning, match="discarding cached engine"):
        assert cache.load(key) is None
    assert not cache.entry_dir(key).exists()


def test_tensorrt_rtx_header_check_rejects_a_malformed_engine(real_engine, tmp_path, key):
    """``IRuntime.getEngineValidity`` reads the header without a GPU: garbage is MALFORMED_ENGINE."""
    _, data = real_engine
    garbage = b"\x00" * 64 + data[64:]
    problem = header_problem(trt, garbage)
    assert problem is not None and "MALFORMED_ENGINE" in problem
    assert "MALFORMED_ENGINE" not in (header_problem(trt, data) or "")   # a real engine's header parses
    # a consistent cache entry (hash matches) whose header the runtime rejects is stale: rebuilt
    cache = EngineCache(tmp_path)
    cache.store(key, garbage)
    with pytest.warns(RuntimeWarning, match="stale engine.*MALFORMED_ENGINE"):
        got, built = cache.get_or_build(key, lambda: data, lambda b: header_problem(trt, b))
    assert built and got == data


def test_clear(tmp_path, key, real_engine):
    cache = EngineCache(tmp_path)
    cache.store(key, real_engine[1])
    cache.store(replace(key, precision="fp16"), real_engine[1])
    assert cache.clear() == 2 and cache.entries() == []


def test_parse_archs():
    assert parse_archs("sm_86, 89,sm_120,sm_86") == ["sm_86", "sm_89", "sm_120"]
    assert parse_archs("8.6") == ["sm_86"]
    with pytest.raises(ValueError, match="Hopper"):
        parse_archs("sm_90")
    with pytest.raises(ValueError, match="no architecture"):
        parse_archs(" , ")


def test_runtime_cache_alone_is_not_an_engine(tmp_path, key, real_engine):
    """The TensorRT-RTX runtime cache lives beside the engine; on its own it is no cache hit and
    no corruption either, and storing the engine keeps it."""
    import warnings

    cache = EngineCache(tmp_path)
    rc = cache.runtime_cache_path(key)
    rc.parent.mkdir(parents=True)
    rc.write_bytes(b"jit kernels")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.load(key) is None
    cache.store(key, real_engine[1])
    assert cache.load(key) == real_engine[1] and rc.read_bytes() == b"jit kernels"
