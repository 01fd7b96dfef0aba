"""Latent exploration: renders along the main directions of a target's code space.

The bundle stores the codes of its training frames and their PCA (``latent.safetensors``).
``explore`` draws one row per principal direction — the mean code moved from −span to +span
standard deviations along it — and an interpolation strip between two training frames' codes.
ONNX Runtime only (no torch).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .bundle import TargetBundle
from .renderer import BundleRenderer, RendererOptions


@dataclass(frozen=True)
class ExploreOptions:
    directions: int = 6            # principal directions (rows)
    steps: int = 7                 # renders per row
    span: float = 2.5              # ± standard deviations along each direction
    pair: tuple[int, int] | None = None  # training-frame positions to interpolate (default: the
                                         # two frames farthest apart along the first direction)
    tile: int = 128                # pixels per tile in the PNG
    threads: int = 2


def _tile(bgra: np.ndarray, size: int, label: str) -> np.ndarray:
    bgr = bgra[..., :3].astype(np.float32)
    a = bgra[..., 3:].astype(np.float32) / 255.0
    comp = (bgr * a + 96.0 * (1 - a)).astype(np.uint8)
    comp = cv2.resize(comp, (size, size), interpolation=cv2.INTER_AREA)
    cv2.putText(comp, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
    return comp


def explore(bundle_dir: Path, out_png: Path, options: ExploreOptions = ExploreOptions()) -> Path:
    """Write the PCA grid + interpolation strip PNG; returns its path."""
    bundle = TargetBundle.load(bundle_dir)
    stats = bundle.latent_stats()
    codes, mean = stats["codes"], stats["codes_mean"]
    comps, var = stats["components"], stats["explained_variance"]
    k = min(options.directions, len(comps))
    if k == 0:
        raise ValueError(f"{bundle_dir}: the bundle stores no code directions (trained on one frame?)")
    ts = np.linspace(-options.span, options.span, options.steps)
    rows = []
    with BundleRenderer(bundle, RendererOptions(options.threads)) as r:
        total = float(var.sum()) or 1.0
        for d in range(k):
            sd = float(np.sqrt(var[d]))
            tiles = [_tile(r.decode(mean + t * sd * comps[d]), options.tile,
                           f"PC{d + 1} {t:+.1f}sd" + (f" ({var[d] / total:.0%})" if t == ts[0] else ""))
                     for t in ts]
            rows.append(np.concatenate(tiles, axis=1))
        if options.pair is not None:
            a, b = options.pair
            for i in (a, b):
                if not 0 <= i < len(codes):
                    raise ValueError(f"frame position {i} is outside the {len(codes)} training codes")
        else:
            proj = (codes - mean) @ comps[0]
            a, b = int(proj.argmin()), int(proj.argmax())
        fidx = stats.get("frame_index", np.arange(len(codes)))
        tiles = [_tile(r.decode((1 - w) * codes[a] + w * codes[b]), options.tile,
                       f"{int(fidx[a])}->{int(fidx[b])} {w:.2f}")
                 for w in np.linspace(0, 1, options.steps)]
        rows.append(np.concatenate(tiles, axis=1))
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out_png), np.concatenate(rows, axis=0)):
        raise OSError(f"could not write {out_png}")
    return out_png
