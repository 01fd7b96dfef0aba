"""A real target bundle for the live-path tests: the embedded default target (checked to load),
or, when a checkout lacks it, one trained for a few steps on a clip and cached under ``.cache/``."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUNDLE_CACHE = REPO / ".cache" / "realtime_test_target"


def build_test_bundle(clip: Path, steps: int = 4) -> Path:
    """A real target bundle (see the module docstring)."""
    from latentcam.latent.bundle import BundleError, TargetBundle
    from latentcam.realtime.target import default_target_dir

    embedded = default_target_dir()
    if (embedded / "manifest.json").is_file():
        TargetBundle.load(embedded)          # a broken embedded target must fail loudly
        return embedded
    out = BUNDLE_CACHE / "target"
    try:
        TargetBundle.load(out)
        return out
    except BundleError:
        pass
    from latentcam.latent.dataset import PrepareOptions, VideoSource, prepare
    from latentcam.latent.train import TrainOptions, train

    data = BUNDLE_CACHE / "data"
    prepare(VideoSource(clip), data, PrepareOptions(size=256), coverage=False)
    train(TrainOptions(data_dir=data, out_dir=out, preset="cpu", steps=steps, batch_size=4,
                       progress=False, sample_every=10_000, checkpoint_every=10_000,
                       name="realtime-test"))
    TargetBundle.load(out)
    return out
