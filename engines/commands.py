"""CLI commands of this subpackage (registered by latentcam.cli): ``build-engine`` and ``engines``."""

from __future__ import annotations

from pathlib import Path

import typer


def _decoder_model(target: Path):
    from .model import DecoderModel

    if target.suffix == ".onnx":
        return DecoderModel.from_onnx(target)
    if not (target / "manifest.json").is_file():
        raise typer.BadParameter(f"{target} is not a target bundle (no manifest.json) or a decoder .onnx",
                                 param_hint="TARGET_DIR")
    return DecoderModel.from_bundle(target)


def build_engine_command(
    target: Path = typer.Argument(..., metavar="TARGET_DIR", help="Target bundle directory (or a decoder .onnx file)."),
    engine: str = typer.Option("tensorrt-rtx", "--engine",
                               help="tensorrt-rtx (ahead of time, no GPU needed) or tensorrt (local GPU)."),
    arch: str = typer.Option("sm_75,sm_86,sm_89,sm_120", "--arch",
                             help="Comma-separated GPU architectures for tensorrt-rtx, e.g. sm_86,sm_89."),
    precision: str = typer.Option("fp16", "--precision", help="fp16 or fp32 (sm_75 is always fp16)."),
    out: Path | None = typer.Option(None, "--out", help="Output directory (default: TARGET_DIR/engines; "
                                    "for the embedded default target, the user cache)."),
) -> None:
    """Build TensorRT-RTX engines ahead of time for chosen GPU generations (no GPU needed)."""
    from latentcam.facekit.errors import options_checked

    from .aot import BuildOptions, build_engines
    from .cache import prebuilt_dir
    from .tensorrt_build import parse_archs

    if engine not in ("tensorrt-rtx", "tensorrt"):
        raise typer.BadParameter("choose tensorrt-rtx or tensorrt", param_hint="--engine")
    if precision not in ("fp16", "fp32"):
        raise typer.BadParameter("choose fp16 or fp32", param_hint="--precision")
    try:
        archs = tuple(parse_archs(arch)) if engine == "tensorrt-rtx" else ()
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--arch") from None
    model = _decoder_model(target)
    out_dir = out if out is not None else prebuilt_dir(
        target.parent if target.suffix == ".onnx" else target, model.name, model.sha256)
    with options_checked():   # EngineError (no TensorRT, no GPU) → latentcam.cli, exit 1
        record = build_engines(model, out_dir, BuildOptions(engine=engine, archs=archs, precision=precision))
    typer.echo(f"{record['backend']} {record['backend_version']} engines for {record['model']} "
               f"(code {record['code_dim']} → {record['size']}²):")
    for e in record["engines"]:
        note = f"  ({e['note']})" if e["note"] else ""
        typer.echo(f"  {', '.join(e['archs']):<8} {e['precision']}  {e['bytes'] / 2**20:7.2f} MiB  "
                   f"{e['build_seconds']:.2f} s  {e['file']}{note}")
    typer.echo(f"record: {out_dir / 'engines.json'}")


def engines_command(
    cache: bool = typer.Option(False, "--cache", help="List the engine cache."),
    clear_cache: bool = typer.Option(False, "--clear-cache", help="Delete every cached engine."),
) -> None:
    """List decoder backends and whether each can run here (and why not), and the execution
    providers of the installed ONNX Runtime."""
    from .backend import availability
    from .cache import EngineCache
    from .gpu import cuda_devices

    gpus = cuda_devices()
    typer.echo("GPUs: " + (", ".join(f"{g.index}: {g.name} ({g.sm})" for g in gpus) or "none found"))
    for name, reason in availability().items():
        state = "available" if reason is None else "unavailable — " + reason
        if name == "torch" and reason is None and not gpus:
            state += " (CPU fallback only: no CUDA GPU; onnxruntime is faster on CPUs)"
        typer.echo(f"  {name:<13} {state}")
    _echo_ort_providers()
    store = EngineCache()
    if cache:
        typer.echo(f"engine cache: {store.root}")
        for e in store.entries():
            k = e["key"]
            typer.echo(f"  {k['backend']} {k['backend_version']} {k['target']} {k['precision']} "
                       f"model {k['model_sha256'][:12]}  {e['bytes'] / 2**20:.2f} MiB  {e['created']}")
    if clear_cache:
        typer.echo(f"deleted {store.clear()} cached engine(s) from {store.root}")


def _echo_ort_providers() -> None:
    """The execution providers of the installed ONNX Runtime, and the order ``auto`` tries them in."""
    try:
        import onnxruntime as ort
    except ImportError:
        return
    from latentcam.latent.onnx_session import (INSTALL_HINT, PROVIDERS, available_providers,
                                               installed_ort_packages, provider_candidates)

    offered = available_providers()
    packages = installed_ort_packages()
    names = ", ".join(f"{d} {v}" for d, v in packages) or "unknown package"
    typer.echo(f"ONNX Runtime {ort.__version__} ({names}) offers: {', '.join(offered)}")
    typer.echo("  onnxruntime engine providers, most preferred first (--ort-provider, engine.ort_provider):")
    for p in PROVIDERS:
        state = "offered" if p.is_cpu or p.ort_name in offered else f"not offered; comes with {p.package}"
        typer.echo(f"    {p.key:<9} {p.hardware:<56} {state}")
    tries, _ = provider_candidates("auto", offered)
    typer.echo(f"  --ort-provider auto tries: {' → '.join(p.key for p in tries)}"
               + ("" if len(tries) == 1 else " (each checked against the CPU on warm-up)"))
    known = {p.ort_name for p in PROVIDERS}
    if other := [n for n in offered if n not in known]:
        typer.echo(f"  not used by latentcam: {', '.join(other)}")
    if len(packages) > 1:
        typer.echo(f"  warning: {names} are installed together and overwrite each other{INSTALL_HINT}")


def register(app: typer.Typer) -> None:
    """Add this subpackage's commands to ``app``."""
    app.command("build-engine")(build_engine_command)
    app.command("engines")(engines_command)
