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


@pytest.mark.parametrize("change", ["backend_version", "target", "export_format"])
def test_stale_engine_for_another_version_or_gpu_is_deleted_with_a_warning_and_rebuilt(
        tmp_path, key, real_engine, change):
    """README: a stale engine (other TensorRT version or GPU) is deleted with a warning and rebuilt."""
    _, data = real_engine
    cache = EngineCache(tmp_path)
    cache.store(key, data)
    now = replace(key, **{change: {"backend_version": "9.9.9", "target": "sm_89",
                                   "export_format": "other"}[change]})
    with pytest.warns(RuntimeWarning, match="stale engine"):
        got, built = cache.get_or_build(now, lambda: b"rebuilt")
    assert built and got == b"rebuilt"
    assert not cache.entry_dir(key).exists()                      # the old file is gone
    assert [e["key"][change] for e in cache.entries()] == [getattr(now, change)]
    assert cache.get_or_build(now, lambda: pytest.fail("must not rebuild a valid engine"))[0] == b"rebuilt"


def test_engines_for_every_local_gpu_are_kept(tmp_path, key, real_engine):
    _, data = real_engine
    cache = EngineCache(tmp_path)
    cache.store(key, data)
    other_gpu = replace(key, target="sm_89")
    cache.get_or_build(other_gpu, lambda: b"for the second GPU", keep_targets={"sm_86", "sm_89"})
    assert cache.load(key) == data and cache.load(other_gpu) == b"for the second GPU"
    unrelated = replace(key, model_sha256="1" * 64, backend_version="9.9.9")
    cache.get_or_build(unrelated, lambda: b"another decoder")
    assert cache.load(key) == data                                 # another decoder's engines stay


def test_a_cached_engine_the_runtime_cannot_load_is_deleted_and_rebuilt_not_refused(tmp_path, key, real_engine):
    """Header fine, deserialisation fails (e.g. a driver change): rebuilt once, with a warning."""
    _, data = real_engine
    cache = EngineCache(tmp_path)
    cache.store(key, b"an engine this runtime rejects")
    loads = []

    def deserialize(blob):
        loads.append(blob)
        return None if blob == b"an engine this runtime rejects" else ("engine", blob)

    with pytest.warns(RuntimeWarning, match="stale engine: the runtime could not load it"):
        engine, built = cache.open(key, lambda: data, deserialize)
    assert built and engine == ("engine", data) and len(loads) == 2
    assert cache.load(key) == data


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
