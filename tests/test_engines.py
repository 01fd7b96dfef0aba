"""engines: export, backends (ONNX Runtime, torch), warm-up check, loader, AOT TensorRT-RTX builds.

All on the project's own decoder class and bundle format (``latent.decoder.Decoder`` written as a
``latent.bundle.TargetBundle``). The weights get a variance-preserving init so the 256² output
spans 0..1 with real spatial structure (a default-init decoder outputs 0.5 ± 0.01, which would make
every parity check pass trivially). GPU tests are marked ``gpu`` and skip with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from latentcam.engines import (AllBackendsFailed, BackendOptions, BackendUnavailable, DecoderModel,
                               EngineError, EngineRefused, availability, load_backend)
from latentcam.engines.backend import backend_class
from latentcam.engines.decoder_backend import WARMUP_TOLERANCE_LEVELS
from latentcam.engines.export import (FP16_MAX_ABS_ERROR, FP32_MAX_ABS_ERROR, ExportOptions,
                                      check_codes, export_decoder)
from latentcam.engines.ort_backend import OnnxRuntimeBackend, reference_images
from latentcam.engines.postprocess import to_bgra_uint8
from latentcam.engines.torch_backend import TorchBackend

from support.networks import spread_init

PRESET = "cpu"
FLOW_SCALE = 0.05   # see bundle_dir
SIZE = 256
NO_GPU = not torch.cuda.is_available()




def _neutral_canonical(testdata: Path) -> np.ndarray:
    import cv2

    from latentcam.facekit.geometry import canonicalize
    from latentcam.facekit.tracker import FaceTracker, TrackerOptions, TrackingMode

    image = cv2.imread(str(testdata / "single_face.jpg"))
    with FaceTracker(TrackerOptions(mode=TrackingMode.IMAGE)) as tracker:
        face = tracker.track(image, 0, 0.0).face
    assert face is not None
    return canonicalize(face.landmarks_px).points


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory, testdata) -> Path:
    """A real target bundle written with latent's own exporter and manifest writer."""
    from dataclasses import asdict

    from safetensors.numpy import save_file

    from latentcam.latent.bundle import BUNDLE_FORMAT, BUNDLE_VERSION, TargetBundle, write_manifest
    from latentcam.latent.decoder import Decoder
    from latentcam.latent.encoder import Encoder
    from latentcam.latent.export import export_decoder_onnx, export_encoder_onnx
    from latentcam.latent.features import FEATURE_SIZE
    from latentcam.latent.presets import get_preset

    out = tmp_path_factory.mktemp("bundle") / "testtarget"
    out.mkdir()
    preset = get_preset(PRESET, size=SIZE, warp=True)      # the decoder `latentcam train` makes
    encoder = spread_init(Encoder(preset.encoder), seed=1)
    decoder = spread_init(Decoder(preset.decoder), seed=2)
    photo = cv2.imread(str(testdata / "astronaut.png"))
    decoder.set_texture(cv2.resize(photo, (SIZE, SIZE), interpolation=cv2.INTER_AREA))
    with torch.no_grad():   # trained decoders move the texture by pixels, not across the crop
        decoder.to_flow.weight.mul_(FLOW_SCALE)
        decoder.to_flow.bias.mul_(FLOW_SCALE)
    weights = {f"encoder.{k}": v.numpy().copy() for k, v in encoder.state_dict().items()}
    weights.update({f"decoder.{k}": v.numpy().copy() for k, v in decoder.state_dict().items()})
    save_file(weights, str(out / "weights.safetensors"))
    codes = check_codes(preset.decoder.code_size, 8, seed=3)[:, 0]
    save_file({"codes": codes, "codes_mean": codes.mean(0), "components": codes[:4],
               "explained_variance": np.ones(4, np.float32), "frame_index": np.arange(8)},
              str(out / "latent.safetensors"))
    export_encoder_onnx(encoder, out / "encoder.onnx")
    export_decoder_onnx(decoder, out / "decoder.onnx")
    write_manifest(out, {
        "format": BUNDLE_FORMAT, "version": BUNDLE_VERSION, "name": "testtarget",
        "resolution": SIZE, "code_size": preset.decoder.code_size, "feature_size": FEATURE_SIZE,
        "preset": PRESET, "networks": {"encoder": asdict(preset.encoder), "decoder": asdict(preset.decoder)},
        "neutral_canonical": _neutral_canonical(testdata).tolist(),
        "pose_range": {"yaw": [-10, 10], "pitch": [-5, 5], "roll": [-3, 3]},
        "files": {"weights": {"name": "weights.safetensors"}, "latent": {"name": "latent.safetensors"},
                  "encoder_onnx": {"name": "encoder.onnx"}, "decoder_onnx": {"name": "decoder.onnx"}},
    })
    TargetBundle.load(out)
    return out


@pytest.fixture(scope="session")
def model(bundle_dir) -> DecoderModel:
    return DecoderModel.from_bundle(bundle_dir)


@pytest.fixture(scope="session")
def reference(model):
    """(codes, torch fp32 outputs (N, 1, 4, S, S)) of the bundle's decoder."""
    codes = check_codes(model.code_dim, 4, seed=11)
    module = model.torch_factory()
    with torch.inference_mode():
        outs = np.stack([module(torch.from_numpy(c)).numpy() for c in codes])
    assert outs.std() > 0.1, "test decoder output must span the range, else parity is meaningless"
    return codes, outs


@pytest.fixture(scope="session")
def fp16_export(model, tmp_path_factory):
    return export_decoder(model.torch_factory(), model.code_dim,
                          tmp_path_factory.mktemp("fp16") / "decoder-fp16.onnx", ExportOptions(precision="fp16"))


OPTS = BackendOptions(threads=2, verbose=False)


# --- export ---------------------------------------------------------------------------------
def test_export_fp32_checked_and_matches_torch(model, tmp_path, reference):
    report = export_decoder(model.torch_factory(), model.code_dim, tmp_path / "d32.onnx")
    assert (report.opset, report.size, report.precision) == (17, SIZE, "fp32")
    assert report.max_abs_error <= FP32_MAX_ABS_ERROR
    graph = onnx.load(str(report.path))
    onnx.checker.check_model(graph, full_check=True)
    dims = [d.dim_value for d in graph.graph.output[0].type.tensor_type.shape.dim]
    assert dims == [1, 4, SIZE, SIZE]           # static shapes


def test_export_fp16_is_strongly_typed(fp16_export, model):
    from onnx import TensorProto

    graph = onnx.load(str(fp16_export.path)).graph
    assert fp16_export.max_abs_error <= FP16_MAX_ABS_ERROR
    # one exporter: the engine graph takes the bundle decoder's I/O names, which engines bind to
    assert (graph.input[0].name, graph.output[0].name) == (model.input_name, model.output_name)
    assert graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert graph.node[0].op_type == "Cast" and graph.node[-1].op_type == "Cast"
    kinds = {t.data_type for t in graph.initializer if t.dims}   # weight tensors
    assert kinds == {TensorProto.FLOAT16}


def test_export_rejects_bad_precision(model, tmp_path):
    with pytest.raises(ValueError, match="precision"):
        export_decoder(model.torch_factory(), model.code_dim, tmp_path / "x.onnx", ExportOptions(precision="int8"))


# --- parity -----------------------------------------------------------------------------------
def _torch_uint8(outs):
    return [to_bgra_uint8(o) for o in outs]


@pytest.mark.parametrize("name", ["onnxruntime", "torch"])
def test_backend_matches_reference_torch(name, model, reference):
    codes, outs = reference
    with load_backend(name, model, BackendOptions(threads=2, verbose=False, fallback=False)) as backend:
        assert backend.name == name and backend.precision == "fp32"
        assert backend.last_gpu_ms is None and backend.device.startswith("cpu")
        expected = _torch_uint8(outs)
        worst = max(int(np.abs(backend.run(c).astype(int) - e.astype(int)).max()) for c, e in zip(codes, expected))
        assert worst <= WARMUP_TOLERANCE_LEVELS["fp32"]
        image = backend.run(codes[1])
        assert image.shape == (SIZE, SIZE, 4) and image.dtype == np.uint8 and image.flags.c_contiguous


def test_uint8_graph_for_gpu_engines_equals_cpu_conversion(model, reference):
    """The conversion appended to the graph TensorRT engines are built from (run here by ONNX
    Runtime) gives exactly what the CPU backend returns."""
    import onnxruntime as ort

    from latentcam.engines.postprocess import UINT8_OUTPUT, append_uint8_output

    codes, _ = reference
    graph = append_uint8_output(onnx.load(str(model.onnx_path)), model.size)
    assert [o.name for o in graph.graph.output] == [UINT8_OUTPUT] and graph.graph.node[-1].op_type == "Cast"
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    with OnnxRuntimeBackend(model, OPTS) as backend:
        for c in codes:
            np.testing.assert_array_equal(session.run(None, {model.input_name: c})[0], backend.run(c))


def test_to_bgra_uint8_rounds_half_up_and_clips():
    x = np.array([0.0, 0.5 / 255, 1.0, 1.2, -0.3, 127.5 / 255], np.float32)
    chw = np.broadcast_to(x, (1, 4, 6, 6)).copy()
    chw[0, 3] = 1.0                                              # alpha plane
    out = to_bgra_uint8(chw)
    assert out.shape == (6, 6, 4) and out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 255, 255, 0, 128])
    assert (out[..., 3] == 255).all()
    kept = chw.copy()
    to_bgra_uint8(chw)
    np.testing.assert_array_equal(chw, kept)                    # input untouched unless inplace
    with pytest.raises(ValueError, match=r"must be \(1, 4, S, S\) BGRA, got shape \(1, 3, 6, 6\)"):
        to_bgra_uint8(chw[:, :3])


def test_fp16_graph_close_to_fp32_torch(fp16_export, reference, model):
    import onnxruntime as ort

    codes, outs = reference
    session = ort.InferenceSession(str(fp16_export.path), providers=["CPUExecutionProvider"])
    err = max(float(np.abs(session.run(None, {model.input_name: c})[0] - o).max()) for c, o in zip(codes, outs))
    assert err <= FP16_MAX_ABS_ERROR


def test_run_rejects_wrong_code_shape(model):
    with OnnxRuntimeBackend(model, OPTS) as backend:
        with pytest.raises(ValueError, match=r"unexpected code shape: \(128,\) != \(1, 128\)"):
            backend.run(np.zeros(128, np.float32))
    with pytest.raises(RuntimeError, match="closed"):
        backend.run(np.zeros((1, 128), np.float32))
    backend.close()   # safe twice


# --- warm-up check and loader ---------------------------------------------------------------
def test_warm_up_refuses_wrong_output_and_loader_falls_back(model, monkeypatch, capsys):
    """Inject a wrong engine output at the narrowest seam: the backend's own inference call."""
    real = TorchBackend._infer

    def off_by_eight(self, code):
        out = real(self, code).astype(np.int16)
        out[..., 2] += 8                                 # red channel off by 8 levels
        return np.clip(out, 0, 255).astype(np.uint8)

    monkeypatch.setattr(TorchBackend, "_infer", off_by_eight)
    backend = TorchBackend(model, OPTS)
    with pytest.raises(EngineRefused, match=r"differs from the ONNX Runtime CPU reference by (8|9) levels \(tolerance 2\)"):
        backend.warm_up()
    backend.close()

    with load_backend("torch", model, BackendOptions(threads=2, verbose=True)) as loaded:
        assert loaded.name == "onnxruntime"
        assert any("torch" in note and "refused" in note for note in loaded.load_notes)
    assert "torch not used" in capsys.readouterr().err

    with pytest.raises(EngineRefused):
        load_backend("torch", model, BackendOptions(threads=2, verbose=False, fallback=False))


def test_warm_up_accepts_output_within_tolerance(model, monkeypatch):
    real = TorchBackend._infer
    monkeypatch.setattr(TorchBackend, "_infer",
                        lambda self, code: np.clip(real(self, code).astype(np.int16) + 1, 0, 255).astype(np.uint8))
    with load_backend("torch", model, BackendOptions(threads=2, verbose=False, fallback=False)) as backend:
        assert backend.name == "torch"


@pytest.mark.skipif(not NO_GPU, reason="checks the GPU-less error path")
def test_gpu_backends_say_why_they_cannot_run_here(model):
    reasons = availability(OPTS)
    assert reasons["onnxruntime"] is None
    assert "pypi.nvidia.com" in reasons["tensorrt"] or "GPU" in reasons["tensorrt"]
    assert "GPU" in reasons["tensorrt-rtx"] or "pip install" in reasons["tensorrt-rtx"]
    with pytest.raises(BackendUnavailable, match="GPU|pip install"):
        load_backend("tensorrt-rtx", model, BackendOptions(verbose=False, fallback=False))
    with pytest.raises(BackendUnavailable, match="fp16 needs a CUDA GPU"):
        load_backend("torch", model, BackendOptions(precision="fp16", verbose=False, fallback=False))


def _fake_gpu(monkeypatch, name, major, minor):
    """Narrowest seam for a GPU that cannot exist here: GPU discovery."""
    from latentcam.engines import tensorrt_backend
    from latentcam.engines.gpu import GpuInfo

    monkeypatch.setattr(tensorrt_backend, "cuda_devices", lambda: [GpuInfo(0, name, major, minor, 80 << 30)])


def test_tensorrt_rtx_refuses_hopper_with_the_alternative(model, monkeypatch):
    pytest.importorskip("tensorrt_rtx")
    pytest.importorskip("cuda.bindings")
    _fake_gpu(monkeypatch, "NVIDIA H100 80GB HBM3", 9, 0)
    with pytest.raises(BackendUnavailable, match=r"H100 80GB HBM3 \(sm_90\) is not supported by TensorRT-RTX.*"
                                                 r"--engine tensorrt.*pypi.nvidia.com"):
        load_backend("tensorrt-rtx", model, BackendOptions(verbose=False, fallback=False))
    with load_backend("tensorrt-rtx", model, OPTS) as backend:        # falls back, says why
        assert backend.name == "onnxruntime" and "sm_90" in backend.load_notes[0]


def test_tensorrt_rtx_turing_needs_fp16(model, monkeypatch):
    pytest.importorskip("tensorrt_rtx")
    pytest.importorskip("cuda.bindings")
    _fake_gpu(monkeypatch, "NVIDIA GeForce RTX 2080", 7, 5)
    with pytest.raises(BackendUnavailable, match="Turing.*--precision fp16"):
        load_backend("tensorrt-rtx", model, BackendOptions(precision="fp32", verbose=False, fallback=False))


def test_cuda_failure_is_reported_and_falls_back(model, monkeypatch):
    """A supported GPU as far as discovery goes, but the real CUDA runtime has no driver here."""
    pytest.importorskip("tensorrt_rtx")
    pytest.importorskip("cuda.bindings")
    if not NO_GPU:
        pytest.skip("checks the driver-less error path")
    _fake_gpu(monkeypatch, "NVIDIA GeForce RTX 4090", 8, 9)
    with pytest.raises(EngineError, match="CUDA cudaSetDevice failed: CUDA driver version is insufficient"):
        load_backend("tensorrt-rtx", model, BackendOptions(verbose=False, fallback=False))


def test_all_backends_failing_lists_each_reason(model, monkeypatch):
    monkeypatch.setattr(OnnxRuntimeBackend, "unavailable_reason",
                        classmethod(lambda cls, options: "onnxruntime is not installed: pip install onnxruntime"))
    with pytest.raises(AllBackendsFailed) as info:
        load_backend("tensorrt-rtx", model, BackendOptions(verbose=False))
    assert set(info.value.reasons) == {"tensorrt-rtx", "onnxruntime"}
    assert "tensorrt-rtx:" in str(info.value) and "pip install onnxruntime" in str(info.value)


def test_unknown_backend_name_and_bad_options(model):
    with pytest.raises(ValueError, match="unknown decoder backend 'cuda'; choose one of auto, onnxruntime"):
        load_backend("cuda", model)
    with pytest.raises(ValueError, match="precision must be auto, fp16 or fp32, got 'fp8'"):
        load_backend("onnxruntime", model, BackendOptions(precision="fp8"))
    with pytest.raises(ValueError, match="threads must be >= 1"):
        load_backend("onnxruntime", model, BackendOptions(threads=0))


def test_gpu_stack_exception_falls_back_with_its_message(model, monkeypatch):
    def crash(self, code):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(TorchBackend, "_infer", crash)
    with load_backend("torch", model, OPTS) as backend:
        assert backend.name == "onnxruntime"
        assert backend.load_notes == ("torch: RuntimeError: CUDA error: an illegal memory access was encountered",)


def test_auto_times_backends_prints_table_and_picks_fastest(model, capsys):
    with load_backend("auto", model, BackendOptions(threads=2, auto_timing_runs=5)) as backend:
        rows = {r.backend: r for r in backend.selection_table}
        timed = [r for r in rows.values() if r.p50_ms is not None]
        assert {"onnxruntime", "torch"} <= {r.backend for r in timed}
        assert backend.name == min(timed, key=lambda r: r.p50_ms).backend
    table = capsys.readouterr().err
    assert "p50 ms" in table and "← selected" in table and "tensorrt-rtx" in table


# --- ahead-of-time TensorRT-RTX -------------------------------------------------------------
def test_tensorrt_rtx_aot_build_on_cpu(model, bundle_dir, tmp_path):
    pytest.importorskip("tensorrt_rtx")
    from latentcam.engines.aot import BuildOptions, build_engines

    out = tmp_path / "engines"
    record = build_engines(model, out, BuildOptions(archs=("sm_75", "sm_86", "sm_120"), precision="fp32"))
    assert record["model_sha256"] == model.sha256 and record["backend"] == "tensorrt-rtx"
    by_arch = {e["archs"][0]: e for e in record["engines"]}
    assert list(by_arch) == ["sm_75", "sm_86", "sm_120"]
    assert by_arch["sm_75"]["precision"] == "fp16" and "Turing" in by_arch["sm_75"]["note"]
    assert by_arch["sm_86"]["precision"] == "fp32"
    for e in record["engines"]:
        data = (out / e["file"]).read_bytes()
        assert len(data) == e["bytes"] > 100_000
    assert json.loads((out / "engines.json").read_text()) == record

    # the runtime picks the shipped engine matching the GPU, and explains when none does
    from latentcam.engines.tensorrt_backend import find_prebuilt

    import tensorrt_rtx
    find = dict(backend="tensorrt-rtx", version=tensorrt_rtx.__version__, model_sha256=model.sha256,
                validate=lambda b: None)
    data, why = find_prebuilt(out, sm="sm_86", precision="fp32", **find)
    assert data == (out / by_arch["sm_86"]["file"]).read_bytes() and why == ""
    data, why = find_prebuilt(out, sm="sm_89", precision="fp32", **find)
    assert data is None and "target sm_120, sm_75, sm_86; this GPU is sm_89" in why
    data, why = find_prebuilt(out, sm="sm_86", precision="fp32", **{**find, "version": "0.1"})
    assert data is None and "this is tensorrt-rtx 0.1" in why
    (out / by_arch["sm_86"]["file"]).write_bytes(b"tampered")
    data, why = find_prebuilt(out, sm="sm_86", precision="fp32", **find)
    assert data is None and "corrupt" in why


def test_build_engine_cli(bundle_dir, tmp_path):
    pytest.importorskip("tensorrt_rtx")
    from typer.testing import CliRunner

    from latentcam.cli import build_app

    runner = CliRunner()
    out = tmp_path / "shipped"
    res = runner.invoke(build_app(), ["build-engine", str(bundle_dir), "--engine", "tensorrt-rtx",
                                      "--arch", "sm_86,89", "--precision", "fp16", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "sm_86" in res.output and "sm_89" in res.output and "MiB" in res.output
    record = json.loads((out / "engines.json").read_text())
    assert [e["archs"] for e in record["engines"]] == [["sm_86"], ["sm_89"]]
    assert all(e["precision"] == "fp16" for e in record["engines"])
    assert (out / record["engines"][0]["onnx"]).is_file()      # the typed fp16 graph ships too

    bad = runner.invoke(build_app(), ["build-engine", str(bundle_dir), "--arch", "sm_90"])
    assert bad.exit_code != 0 and "Hopper" in bad.output
    if NO_GPU:
        local = runner.invoke(build_app(), ["build-engine", str(bundle_dir), "--engine", "tensorrt"])
        assert local.exit_code == 1
        assert "pypi.nvidia.com" in local.output or "no GPU" in local.output or "none here" in local.output


def test_build_engine_on_the_embedded_target_writes_to_the_user_cache(tmp_path, monkeypatch):
    """The embedded default target lives in the installed package (site-packages from a wheel):
    build-engine must not write there, and the backend must find the engines where it wrote."""
    pytest.importorskip("tensorrt_rtx")
    from typer.testing import CliRunner

    from latentcam.cli import build_app
    from latentcam.engines.cache import default_cache_root, prebuilt_dir
    from latentcam.realtime.target import default_target_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))       # platformdirs' user cache on Linux
    embedded = default_target_dir()
    before = sorted(p.name for p in embedded.iterdir())
    res = CliRunner().invoke(build_app(), ["build-engine", str(embedded), "--engine", "tensorrt-rtx",
                                           "--arch", "sm_86", "--precision", "fp32"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in embedded.iterdir()) == before   # the package is untouched
    model = DecoderModel.from_bundle(embedded)
    where = prebuilt_dir(embedded, model.name, model.sha256)
    assert where.is_relative_to(default_cache_root().parent) and default_cache_root().is_relative_to(tmp_path)
    assert (where / "engines.json").is_file() and f"record: {where / 'engines.json'}" in res.output.replace("\n", "")
    assert prebuilt_dir(tmp_path / "mine", "x", "0" * 64) == tmp_path / "mine" / "engines"   # user bundles ship theirs


# --- GPU (skipped here) -----------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(NO_GPU, reason="needs an NVIDIA GPU with CUDA (torch.cuda.is_available() is False)")
def test_torch_cuda_graph_backend(model, reference):
    codes, outs = reference
    with load_backend("torch", model, BackendOptions(verbose=False, fallback=False)) as backend:
        assert backend.precision == "fp16" and backend.device.startswith("cuda")
        assert backend._graph is not None
        expected = _torch_uint8(outs)
        worst = max(int(np.abs(backend.run(c).astype(int) - e.astype(int)).max()) for c, e in zip(codes, expected))
        assert worst <= WARMUP_TOLERANCE_LEVELS["fp16"]
        assert backend.last_gpu_ms is not None and backend.last_gpu_ms > 0


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["tensorrt", "tensorrt-rtx"])
def test_tensorrt_backends_on_gpu(name, model, reference, tmp_path):
    reason = backend_class(name).unavailable_reason(OPTS)
    if reason is not None:
        pytest.skip(reason)
    codes, outs = reference
    opts = BackendOptions(cache_dir=tmp_path, verbose=False, fallback=False)
    with load_backend(name, model, opts) as backend:
        assert backend.precision == "fp16"
        expected = _torch_uint8(outs)
        worst = max(int(np.abs(backend.run(c).astype(int) - e.astype(int)).max()) for c, e in zip(codes, expected))
        assert worst <= WARMUP_TOLERANCE_LEVELS["fp16"]
        assert backend.last_gpu_ms is not None
    with load_backend(name, model, opts) as again:        # second load comes from the cache
        assert again.run(codes[0]).shape == (SIZE, SIZE, 4)
    if name == "tensorrt-rtx":
        assert list(tmp_path.glob("*/runtime.cache")), "runtime cache kept beside the engine"


def test_engines_command_lists_backends_and_cache(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from latentcam.cli import build_app
    from latentcam.engines import default_backend_name

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))       # platformdirs' user cache on Linux
    res = CliRunner().invoke(build_app(), ["engines", "--cache"])
    assert res.exit_code == 0, res.output
    assert "onnxruntime   available" in res.output and "tensorrt-rtx" in res.output
    if NO_GPU:
        assert "GPUs: none found" in res.output and default_backend_name() == "onnxruntime"


def test_cpu_path_runs_without_torch_or_onnx(bundle_dir):
    """`latentcam live --engine onnxruntime` must work where torch and onnx are not installed."""
    import subprocess
    import sys

    code = f"""
import sys
sys.modules['torch'] = None   # any 'import torch' now raises ImportError
sys.modules['onnx'] = None
import cv2
import numpy as np
from latentcam.engines import BackendOptions, availability, load_backend
reasons = availability()
assert 'pip install' in reasons['torch'], reasons
with load_backend('auto', {str(bundle_dir)!r}, BackendOptions(verbose=False)) as b:
    assert b.name == 'onnxruntime', b
    assert b.run(np.zeros((1, b.model.code_dim), np.float32)).shape == ({SIZE}, {SIZE}, 4)
print('ok')
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-2000:]


# --- TensorRT backend plumbing, with the GPU faked at its narrowest seams --------------------------
# What cannot exist here is the GPU: the CUDA runtime calls (cuda-python) and TensorRT's
# deserialise/execute. Those two are replaced by host-memory fakes whose "engine" runs the same
# uint8 graph the real engines are built from, in ONNX Runtime. Everything else is the real code:
# TensorRT-RTX builds (for sm_86, on this CPU), engine cache, prebuilt lookup, buffer binding,
# pinned-memory views, warm-up verification, runtime-cache save/restore and close(). Real GPU
# execution is covered by the gpu-marked tests above.
class _FakeCudart:
    import enum as _enum

    class cudaMemcpyKind(_enum.IntEnum):
        cudaMemcpyHostToDevice = 1
        cudaMemcpyDeviceToHost = 2

    cudaStreamNonBlocking = 1

    class _Stream:
        def __int__(self):
            return 4242

    def __init__(self):
        self.live: dict[int, object] = {}
        self.copies: list[int] = []

    def _alloc(self, n):
        import ctypes
        buf = ctypes.create_string_buffer(n)
        self.live[ctypes.addressof(buf)] = buf
        return 0, ctypes.addressof(buf)

    cudaMalloc = cudaMallocHost = _alloc

    def _free(self, ptr):
        del self.live[ptr]
        return (0,)

    cudaFree = cudaFreeHost = _free

    def cudaMemcpyAsync(self, dst, src, n, kind, stream):
        import ctypes
        ctypes.memmove(dst, src, n)
        self.copies.append(int(kind))
        return (0,)

    def cudaSetDevice(self, i): return (0,)
    def cudaStreamCreateWithFlags(self, flags): return 0, self._Stream()
    def cudaEventCreate(self): return 0, object()
    def cudaEventRecord(self, ev, stream): return (0,)
    def cudaStreamSynchronize(self, stream): return (0,)
    def cudaEventElapsedTime(self, a, b): return 0, 0.25
    def cudaStreamDestroy(self, s): return (0,)
    def cudaEventDestroy(self, e): return (0,)
    def cudaGetErrorString(self, err): return 0, b"fake"


@pytest.fixture
def fake_gpu_trt(model, monkeypatch, tmp_path):
    """Fake sm_86 GPU + CUDA runtime + TensorRT runtime; real TensorRT-RTX builder."""
    trt = pytest.importorskip("tensorrt_rtx")
    import ctypes
    import types

    import onnxruntime as ort

    from latentcam.engines import tensorrt_backend
    from latentcam.engines.gpu import GpuInfo
    from latentcam.engines.postprocess import UINT8_OUTPUT, append_uint8_output
    from latentcam.engines.tensorrt_build import build_engine as real_build

    graph = append_uint8_output(onnx.load(str(model.onnx_path)), model.size).SerializeToString()
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    state = types.SimpleNamespace(builds=0, offset=0, cache_blobs=[], cudart=_FakeCudart())

    class Context:
        def __init__(self):
            self.addr = {}

        def set_tensor_address(self, name, ptr):
            self.addr[name] = ptr

        def execute_async_v3(self, stream):
            assert stream == 4242
            z = np.frombuffer((ctypes.c_uint8 * (model.code_dim * 4)).from_address(self.addr[model.input_name]),
                              np.float32).reshape(1, model.code_dim)
            out = session.run(None, {model.input_name: z})[0].astype(np.int16) + state.offset
            out = np.ascontiguousarray(np.clip(out, 0, 255).astype(np.uint8))
            ctypes.memmove(self.addr[UINT8_OUTPUT], out.ctypes.data, out.nbytes)
            return True

    class RuntimeCache:
        def serialize(self):
            return b"JIT kernels"

        def deserialize(self, blob):
            state.cache_blobs.append(bytes(blob))
            return True

    class Config:
        cuda_graph_strategy = None

        def create_runtime_cache(self):
            return RuntimeCache()

        def set_runtime_cache(self, cache):
            self.cache = cache

    class Engine:
        num_io_tensors = 2

        def get_tensor_name(self, i):
            return [model.input_name, UINT8_OUTPUT][i]

        def create_runtime_config(self):
            return Config()

        def create_execution_context(self, config=None):
            assert config is not None and config.cuda_graph_strategy == trt.CudaGraphStrategy.WHOLE_GRAPH_CAPTURE
            return Context()

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            return Engine() if len(data) > 100_000 else None

        def get_engine_validity(self, data):
            return ((trt.EngineValidity.VALID, 0) if len(data) > 100_000
                    else (trt.EngineValidity.INVALID, int(trt.EngineInvalidityDiagnostics.MALFORMED_ENGINE)))

    fake_trt = types.SimpleNamespace(__version__=trt.__version__, __name__="tensorrt_rtx", Logger=trt.Logger,
                                     Runtime=Runtime, EngineValidity=trt.EngineValidity,
                                     EngineInvalidityDiagnostics=trt.EngineInvalidityDiagnostics,
                                     CudaGraphStrategy=trt.CudaGraphStrategy)

    def build(_trt, onnx_bytes, **kw):      # the real builder, for sm_86 (no GPU to ask for "current")
        state.builds += 1
        return real_build(trt, onnx_bytes, **{**kw, "archs": ["sm_86"]})

    monkeypatch.setattr(tensorrt_backend, "import_trt", lambda name: fake_trt)
    monkeypatch.setattr(tensorrt_backend, "cudart", lambda: state.cudart)
    monkeypatch.setattr(tensorrt_backend, "cuda_devices", lambda: [GpuInfo(0, "NVIDIA GeForce RTX 3080", 8, 6, 10 << 30)])
    monkeypatch.setattr(tensorrt_backend, "build_engine", build)
    state.options = BackendOptions(precision="fp32", cache_dir=tmp_path / "cache", verbose=False, fallback=False)
    return state


def test_tensorrt_plumbing_build_cache_run_and_runtime_cache(fake_gpu_trt, model, reference):
    state = fake_gpu_trt
    codes, _ = reference
    with load_backend("tensorrt-rtx", model, state.options) as backend:      # warm-up verified
        assert (backend.name, backend.precision) == ("tensorrt-rtx", "fp32")
        assert "RTX 3080 (sm_86)" in backend.device and state.builds == 1
        for c in codes:
            np.testing.assert_array_equal(backend.run(c), reference_images(model, c[None])[0])
        assert backend.last_gpu_ms == 0.25
        assert len(state.cudart.live) == 4                   # device in/out, pinned in/out
    assert state.cudart.live == {}                           # close() freed every buffer
    assert set(state.cudart.copies) == {1, 2}                # one H2D and one D2H per call
    entries = list((state.options.cache_dir).glob("*-tensorrt-rtx-fp32-sm_86-*"))
    assert len(entries) == 1 and (entries[0] / "runtime.cache").read_bytes() == b"JIT kernels"

    with load_backend("tensorrt-rtx", model, state.options) as again:        # from the cache
        again.run(codes[0])
    assert state.builds == 1 and state.cache_blobs == [b"JIT kernels"]


def test_tensorrt_plumbing_uses_shipped_engine_for_this_gpu(fake_gpu_trt, bundle_dir, tmp_path):
    import shutil

    from latentcam.engines.aot import BuildOptions, build_engines

    shipped = tmp_path / "target"
    shutil.copytree(bundle_dir, shipped)
    model = DecoderModel.from_bundle(shipped)
    build_engines(model, shipped / "engines", BuildOptions(archs=("sm_86",), precision="fp32"))
    with load_backend("tensorrt-rtx", model, fake_gpu_trt.options) as backend:
        backend.run(np.zeros((1, model.code_dim), np.float32))
    assert fake_gpu_trt.builds == 0                           # nothing built: the shipped engine ran


def test_tensorrt_plumbing_refuses_wrong_engine_output(fake_gpu_trt, model):
    fake_gpu_trt.offset = 12                                   # the "engine" renders 12 levels too bright
    with pytest.raises(EngineRefused, match=r"tensorrt-rtx \(fp32, cuda:0 NVIDIA GeForce RTX 3080"):
        load_backend("tensorrt-rtx", model, fake_gpu_trt.options)
    assert fake_gpu_trt.cudart.live == {}                      # the refused engine was closed
    with load_backend("tensorrt-rtx", model, BackendOptions(**{**fake_gpu_trt.options.__dict__, "fallback": True})) as b:
        assert b.name == "onnxruntime" and "refused" in b.load_notes[0]


def test_fp16_graph_parses_as_fp16_strongly_typed_network(model, fp16_export):
    """TensorRT-RTX takes precision from the ONNX types: every conv of the typed fp16 export is
    HALF in the parsed strongly typed network; the I/O stay float32 → uint8."""
    trt = pytest.importorskip("tensorrt_rtx")
    from latentcam.engines.postprocess import append_uint8_output

    graph = append_uint8_output(onnx.load(str(fp16_export.path)), model.size).SerializeToString()
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    assert trt.OnnxParser(network, logger).parse(graph)
    convs = [network.get_layer(i) for i in range(network.num_layers)
             if network.get_layer(i).type == trt.LayerType.CONVOLUTION]
    assert convs and all(layer.get_output(0).dtype == trt.DataType.HALF for layer in convs)
    assert network.get_input(0).dtype == trt.DataType.FLOAT
    assert network.get_output(0).dtype == trt.DataType.UINT8
    assert tuple(network.get_output(0).shape) == (SIZE, SIZE, 4)
