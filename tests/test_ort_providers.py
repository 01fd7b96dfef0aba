"""The onnxruntime engine on the execution providers of the installed ONNX Runtime.

Everything runs the real ONNX Runtime API on a real decoder (the embedded default target's
``decoder.onnx``). This machine's ONNX Runtime is the CPU wheel: it offers the CPU (and Azure, a
remote-inference provider latentcam never picks). What cannot exist here is an accelerator, so two
seams stand in for one, each as narrow as it gets: the list of providers the installed wheel claims
(``onnx_session.available_providers``) and, for the refusal path, the session that answers for the
accelerated provider (``onnx_session.provider_session``) — a real ONNX Runtime CPU session of a
*different* real model, so the real warm-up comparison has to find the difference and refuse it.
No torch needed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from latentcam.engines import (BackendOptions, BackendUnavailable, DecoderModel, EngineRefused,
                               load_backend)
from latentcam.engines.decoder_backend import WARMUP_TOLERANCE_LEVELS
from latentcam.engines.export import check_codes
from latentcam.engines.ort_backend import OnnxRuntimeBackend, reference_images
from latentcam.latent import onnx_session
from latentcam.latent.onnx_session import (CPU, PROVIDERS, ProviderInactive,
                                           provider, provider_session, provider_setup)

DECODER = Path(__file__).resolve().parent.parent / "latentcam" / "assets" / "default_target" / "decoder.onnx"
CLI = [sys.executable, "-m", "latentcam"]


@pytest.fixture(scope="module")
def model() -> DecoderModel:
    return DecoderModel.from_onnx(DECODER)


@pytest.fixture(scope="module")
def codes(model) -> np.ndarray:
    return check_codes(model.code_dim, 3, seed=5)


def _opts(tmp_path, **kw) -> BackendOptions:
    return BackendOptions(threads=1, verbose=True, cache_dir=tmp_path / "engines", **kw)


def _max_diff(backend, model, codes) -> int:
    refs = reference_images(model, codes)
    return max(int(np.abs(backend.run(c).astype(np.int16) - r.astype(np.int16)).max())
               for c, r in zip(codes, refs))


# --- choosing a provider --------------------------------------------------------------------------
def choose_provider(requested, available):
    """The first provider the engine would try for ``requested``, and why the request could not
    be honoured (None when it can be tried)."""
    candidates, why = onnx_session.provider_candidates(requested, available)
    return candidates[0], why


def test_auto_takes_the_first_offered_provider_in_preference_order():
    here = ort.get_available_providers()
    assert CPU in here
    assert choose_provider("auto", here) == (provider("cpu"), None)     # Azure is never picked
    offered = ["DmlExecutionProvider", "CPUExecutionProvider"]
    assert choose_provider("auto", offered)[0].key == "directml"
    gpu_wheel = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_provider("auto", gpu_wheel)[0].key == "tensorrt"
    assert choose_provider("cuda", gpu_wheel) == (provider("cuda"), None)
    assert choose_provider("auto", ["CoreMLExecutionProvider", CPU])[0].key == "coreml"
    assert choose_provider("auto", ["OpenVINOExecutionProvider", CPU])[0].key == "openvino"
    amd = ["ROCMExecutionProvider", "MIGraphXExecutionProvider", CPU]
    assert [p.key for p in onnx_session.provider_candidates("auto", amd)[0]] == ["migraphx", "rocm", "cpu"]
    assert [p.key for p in onnx_session.provider_candidates("rocm", amd)[0]] == ["rocm", "cpu"]
    assert [p.key for p in onnx_session.provider_candidates("cpu", amd)[0]] == ["cpu"]
    assert [p.key for p in PROVIDERS][-1] == "cpu"
    with pytest.raises(ValueError, match="unknown ONNX Runtime provider 'metal'; choose one of auto, tensorrt"):
        choose_provider("metal", here)


def test_a_named_provider_the_installed_runtime_lacks_gives_the_cpu_and_names_the_package():
    chosen, why = choose_provider("directml", ort.get_available_providers())
    assert chosen.is_cpu
    assert why.startswith("not offered by the installed ONNX Runtime, which offers: cpu; directml (DirectX 12")
    assert "onnxruntime-directml" in why and "pip uninstall onnxruntime" in why
    candidates, why = onnx_session.provider_candidates("coreml", ort.get_available_providers())
    assert [p.key for p in candidates] == ["cpu"] and "standard onnxruntime wheel on macOS" in why
    assert "pip uninstall" not in why                                 # Core ML needs no other package


def test_cpu_path_is_unchanged_and_exact(model, codes, tmp_path):
    """Default options here: the CPU provider, labelled as before, bit-exact with the reference."""
    with load_backend("onnxruntime", model, _opts(tmp_path)) as backend:
        assert (backend.provider, backend.device, backend.precision) == (CPU, "cpu (1 threads)", "fp32")
        assert backend.load_notes == ()
        assert _max_diff(backend, model, codes) == 0
    assert not (tmp_path / "engines").exists(), "the CPU provider writes no cache"


def test_requested_provider_not_offered_falls_back_to_cpu_with_a_message(model, codes, tmp_path, capsys):
    with load_backend("onnxruntime", model, _opts(tmp_path, ort_provider="openvino")) as backend:
        assert backend.provider == CPU and backend.device.startswith("cpu")
        assert _max_diff(backend, model, codes) == 0                   # and it still works
        assert any("openvino" in note for note in backend.load_notes)
    err = capsys.readouterr().err
    assert "[engines] onnxruntime: provider openvino not used — not offered by the installed ONNX Runtime" in err
    assert "onnxruntime-openvino" in err


def test_a_provider_onnxruntime_silently_drops_is_detected(model):
    """The real CPU wheel asked for CUDA creates a CPU session with only a Python warning."""
    setup = provider_setup(provider("cuda"))
    assert setup.providers[0][0] == "CUDAExecutionProvider" and setup.providers[-1] == CPU
    with pytest.raises(ProviderInactive, match="did not activate CUDAExecutionProvider "
                                               r"\(it runs on CPUExecutionProvider\)"):
        provider_session(DECODER.read_bytes(), setup)


def test_offered_providers_that_do_not_start_are_passed_over(model, codes, tmp_path, monkeypatch, capsys):
    """The wheel claims TensorRT and CUDA (as onnxruntime-gpu does whether or not the TensorRT
    libraries, the driver or a GPU are there); the real session creation drops each, and the
    backend says so for each and ends on the CPU."""
    monkeypatch.setattr(onnx_session, "available_providers",
                        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", CPU])
    with load_backend("onnxruntime", model, _opts(tmp_path)) as backend:
        assert backend.provider == CPU
        assert _max_diff(backend, model, codes) == 0
        assert [n.split(":")[0] for n in backend.load_notes] == ["onnxruntime provider tensorrt",
                                                                 "onnxruntime provider cuda"]
    err = capsys.readouterr().err
    for key, name in (("tensorrt", "TensorrtExecutionProvider"), ("cuda", "CUDAExecutionProvider")):
        assert (f"provider {key} not used — could not start: ProviderInactive: ONNX Runtime did not "
                f"activate {name}") in err


# --- the warm-up check of an accelerated provider against the CPU ---------------------------------
def _perturbed_decoder(tmp_path) -> bytes:
    """The same decoder with 0.1 added to its output image (after the sigmoid): a real, different
    model whatever the decoder's design."""
    onnx = pytest.importorskip("onnx")
    from onnx import helper, numpy_helper

    graph = onnx.load(str(DECODER))
    out = graph.graph.output[0].name
    producer = next(n for n in graph.graph.node if out in n.output)
    producer.output[list(producer.output).index(out)] = out + "_unshifted"
    graph.graph.initializer.append(numpy_helper.from_array(np.array(0.1, np.float32), "test_shift"))
    graph.graph.node.append(helper.make_node("Add", [out + "_unshifted", "test_shift"], [out]))
    return graph.SerializeToString()


def _answer_for_accelerator(monkeypatch, answers: dict[str, bytes | None]):
    """The providers in ``answers`` are offered (in that order, then the CPU), and each one's
    session is a real CPU session of the model bytes given (the real decoder for None). Returns
    the setups the backend asked for."""
    asked = []

    def session(model, setup, threads=1, **kw):
        first = setup.providers[0] if isinstance(setup.providers[0], str) else setup.providers[0][0]
        asked.append(setup)
        return onnx_session.cpu_session(answers[first] or model, threads)

    monkeypatch.setattr(onnx_session, "available_providers", lambda: [*answers, CPU])
    monkeypatch.setattr(onnx_session, "provider_session", session)
    return asked


def test_validation_refuses_a_provider_that_computes_a_different_image(model, codes, tmp_path,
                                                                        monkeypatch, capsys):
    asked = _answer_for_accelerator(monkeypatch, {"DmlExecutionProvider": _perturbed_decoder(tmp_path)})
    with load_backend("onnxruntime", model, _opts(tmp_path)) as backend:
        assert len(asked) == 1 and asked[0].mem_pattern is False      # DirectML's session options
        assert backend.provider == CPU and backend.device == "cpu (1 threads)"
        assert _max_diff(backend, model, codes) == 0                   # the CPU answers now
        assert any("refused" in note for note in backend.load_notes)
    err = capsys.readouterr().err
    assert "provider directml not used — refused: onnxruntime (fp32, directml:0) output differs from " \
           "the ONNX Runtime CPU reference by" in err
    assert f"(tolerance {WARMUP_TOLERANCE_LEVELS['fp32']})" in err


def test_validation_uses_the_half_precision_tolerance_where_the_provider_computes_fp16(
        model, tmp_path, monkeypatch, capsys):
    _answer_for_accelerator(monkeypatch, {"TensorrtExecutionProvider": _perturbed_decoder(tmp_path)})
    with load_backend("onnxruntime", model, _opts(tmp_path, precision="auto")) as backend:
        assert backend.provider == CPU
    err = capsys.readouterr().err
    assert "onnxruntime (fp16, tensorrt:0) output differs" in err
    assert f"(tolerance {WARMUP_TOLERANCE_LEVELS['fp16']})" in err


def test_validation_accepts_a_provider_that_matches_the_cpu(model, codes, tmp_path, monkeypatch, capsys):
    asked = _answer_for_accelerator(monkeypatch, {"CUDAExecutionProvider": None})
    with load_backend("onnxruntime", model, _opts(tmp_path, device_index=1)) as backend:
        assert (backend.provider, backend.device, backend.precision) == ("CUDAExecutionProvider", "cuda:1", "fp32")
        assert asked[0].providers[0] == ("CUDAExecutionProvider", {"device_id": 1, "use_tf32": 0})
        assert _max_diff(backend, model, codes) == 0
    assert not (tmp_path / "engines").exists(), "CUDA compiles nothing to keep"
    assert "[engines]" not in capsys.readouterr().err


def test_a_refused_provider_hands_over_to_the_next_one_offered(model, codes, tmp_path, monkeypatch, capsys):
    asked = _answer_for_accelerator(monkeypatch, {"TensorrtExecutionProvider": _perturbed_decoder(tmp_path),
                                                  "CUDAExecutionProvider": None})
    with load_backend("onnxruntime", model, _opts(tmp_path)) as backend:
        assert [a.device for a in asked] == ["tensorrt:0", "cuda:0"]
        assert (backend.provider, backend.device) == ("CUDAExecutionProvider", "cuda:0")
        assert _max_diff(backend, model, codes) == 0
    assert "provider tensorrt not used — refused" in capsys.readouterr().err


def test_tensorrt_keeps_its_engines_in_latentcams_cache(model, tmp_path, monkeypatch):
    asked = _answer_for_accelerator(monkeypatch, {"TensorrtExecutionProvider": None})
    with load_backend("onnxruntime", model, _opts(tmp_path, precision="fp32")) as backend:
        assert backend.provider == "TensorrtExecutionProvider" and backend.precision == "fp32"
    trt = dict(asked[0].providers[0][1])
    folder = Path(trt["trt_engine_cache_path"])
    assert folder.is_dir() and folder.parent == tmp_path / "engines"
    assert folder.name == f"{model.sha256[:12]}-ort-tensorrt-{ort.__version__}"
    assert trt["trt_fp16_enable"] is False and trt["trt_engine_cache_enable"] is True
    assert asked[0].providers[1][0] == "CUDAExecutionProvider"        # for nodes TensorRT cannot take


def test_without_fallback_a_provider_problem_is_an_error(model, tmp_path, monkeypatch):
    with pytest.raises(BackendUnavailable, match="onnxruntime provider openvino: not offered"):
        load_backend("onnxruntime", model, _opts(tmp_path, ort_provider="openvino", fallback=False))
    _answer_for_accelerator(monkeypatch, {"CUDAExecutionProvider": _perturbed_decoder(tmp_path)})
    with pytest.raises(EngineRefused, match=r"provider cuda: refused: .* by \d+ levels \(tolerance 2\)"):
        load_backend("onnxruntime", model, _opts(tmp_path, fallback=False))


def test_bad_provider_option_is_refused_before_loading(model):
    with pytest.raises(ValueError, match="ort_provider must be one of auto, tensorrt, cuda"):
        load_backend("onnxruntime", model, BackendOptions(ort_provider="gpu"))
    from latentcam.realtime.bench import BenchOptions

    with pytest.raises(ValueError, match="--ort-provider must be one of auto, tensorrt, cuda"):
        BenchOptions(clip=DECODER, ort_provider="gpu").validate()


# --- what users see -------------------------------------------------------------------------------
def test_engines_lists_the_providers_of_the_installed_onnxruntime(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from latentcam.cli import build_app

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    res = CliRunner().invoke(build_app(), ["engines"])
    assert res.exit_code == 0, res.output
    offered = ort.get_available_providers()
    assert f"ONNX Runtime {ort.__version__}" in res.output
    assert f"offers: {', '.join(offered)}" in res.output
    lines = {line.split()[0]: line for line in res.output.splitlines()[1:] if line.startswith("    ")}
    assert list(lines) == [p.key for p in PROVIDERS]
    for p in PROVIDERS:
        assert ("not offered" in lines[p.key]) == (p.ort_name not in offered), lines[p.key]
    assert lines["cpu"].endswith("offered")
    tries, _ = onnx_session.provider_candidates("auto", offered)
    assert f"--ort-provider auto tries: {' → '.join(p.key for p in tries)}" in res.output
    assert "onnxruntime-directml" in lines["directml"]
    if "AzureExecutionProvider" in offered:
        assert "not used by latentcam: AzureExecutionProvider" in res.output


def test_doctor_names_the_providers_and_the_order_auto_tries(monkeypatch):
    from latentcam.doctor import check_onnxruntime_package, check_ort_providers

    offered, auto = check_ort_providers()
    assert offered.detail == ", ".join(ort.get_available_providers())
    assert auto.detail == "cpu" and "latentcam engines" in auto.fix
    package = check_onnxruntime_package()
    assert package.ok and package.detail == f"onnxruntime {ort.__version__}"
    # what onnxruntime-gpu reports, and what pip leaves after `latentcam[ort-cuda]` without the swap
    monkeypatch.setattr(onnx_session, "available_providers",
                        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", CPU])
    assert check_ort_providers()[1].detail == "tensorrt → cuda → cpu (NVIDIA GPUs through TensorRT first)"
    monkeypatch.setattr(onnx_session, "installed_ort_packages",
                        lambda: [("onnxruntime", "1.32.0"), ("onnxruntime-gpu", "1.31.1")])
    both = check_onnxruntime_package()
    assert both.ok is False and "overwrite each other" in both.detail
    assert both.fix == "keep one: pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu"


def test_live_takes_the_provider_flag_and_says_why_it_used_the_cpu(single_face_clip):
    """The flag travels CLI → config → BackendOptions → backend in a real `latentcam live`."""
    r = subprocess.run(CLI + ["live", "--source", str(single_face_clip), "--fast", "--max-frames", "3",
                              "--engine", "onnxruntime", "--ort-provider", "coreml"],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "provider coreml not used — not offered by the installed ONNX Runtime" in r.stderr
    r = subprocess.run(CLI + ["live", "--ort-provider", "metal"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "engine.ort_provider must be one of auto, tensorrt" in r.stderr
