"""Coverage report of a target dataset: which expressions and head poses it contains.

A person-specific decoder renders what it has seen; combinations absent from the data (eyes
closed while laughing, a head turned further than ever recorded) come out as the nearest seen
expression. This report names such gaps in plain words so the user can record more. It also
counts the frames where a hand covers the face and names the parts covered (``latent.occlusion``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentcam.facekit.blendshapes import GROUPS, indices

# A group counts as covered when at least MIN_FRAMES frames reach its threshold (score 0..1).
MIN_FRAMES = 3
OPEN_MOUTH = 0.35        # jawOpen (mean of the mouth_open group)
SMILE = 0.4              # mouthSmileLeft/Right mean
FROWN = 0.25
PUCKER = 0.35
EYES_CLOSED = 0.5        # eyeBlinkLeft/Right mean
EYES_WIDE = 0.3
BROWS_UP = 0.35
BROWS_DOWN = 0.3
GAZE = 0.4               # strongest gaze blendshape of the group
# Head pose (degrees). yaw > 0: face turned to the subject's left; pitch > 0: chin up;
# roll > 0: head tilted counter-clockwise in the image.
TURN_DEG = 10.0
NOD_DEG = 8.0
TILT_DEG = 8.0

# group → (threshold, reducer over the group's blendshapes, the gap's wording)
GROUP_CHECKS: dict[str, tuple[float, str, str]] = {
    "mouth_open": (OPEN_MOUTH, "mean", "no open-mouth frames"),
    "smile": (SMILE, "mean", "no smiling frames"),
    "frown": (FROWN, "mean", "no frowning (mouth corners down) frames"),
    "pucker": (PUCKER, "max", "no pucker/kiss-mouth frames"),
    "blink": (EYES_CLOSED, "mean", "eyes never closed"),
    "eyes_wide": (EYES_WIDE, "mean", "eyes never opened wide"),
    "brows_up": (BROWS_UP, "max", "brows never raised"),
    "brows_down": (BROWS_DOWN, "mean", "brows never lowered"),
    "gaze_horizontal": (GAZE, "max", "eyes never look sideways"),
    "gaze_vertical": (GAZE, "max", "eyes never look up or down"),
}
# Combinations: (group a, group b, wording when never seen together).
COMBINATIONS: tuple[tuple[str, str, str], ...] = (
    ("blink", "smile", "eyes never closed while smiling"),
    ("blink", "mouth_open", "eyes never closed while the mouth is open"),
    ("mouth_open", "smile", "never smiling with an open mouth (laughing)"),
    ("brows_up", "mouth_open", "brows never raised with an open mouth (surprise)"),
)


def group_scores(blendshapes: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame score (N,) of each group in ``GROUPS``, reduced as ``GROUP_CHECKS`` says."""
    b = np.asarray(blendshapes, dtype=np.float32)
    out = {}
    for group, names in GROUPS.items():
        values = b[:, indices(names)]
        reducer = GROUP_CHECKS.get(group, (0, "mean", ""))[1]
        out[group] = values.max(axis=1) if reducer == "max" else values.mean(axis=1)
    return out


@dataclass(frozen=True)
class CoverageReport:
    frames: int
    ranges: dict[str, tuple[float, float]]   # group or yaw/pitch/roll → (min, max)
    counts: dict[str, int]                   # group → frames at or above its threshold
    gaps: tuple[str, ...]                    # plain-words gaps, empty when nothing is missing
    # Hands over the face (``latent.occlusion.summarise``); None: the dataset was not checked.
    occlusion: dict | None = None

    def occlusion_text(self) -> str:
        """One paragraph on occluded frames and the face parts covered."""
        o = self.occlusion
        if o is None:
            return ("Occlusion: not checked (this dataset was built before latentcam looked "
                    "for hands over the face; rebuild it with `latentcam prepare --force` to "
                    "check). All frames are treated as unoccluded.")
        if not o["occluded"]:
            return f"Occlusion: no hand covers the face in any of the {o['frames']} frames."
        parts = ", ".join(f"{p} {n}" for p, n in sorted(o["parts"].items(), key=lambda kv: -kv[1])
                          if n)
        return (f"Occlusion: a hand covers the face in {o['occluded']} of {o['frames']} frames "
                f"({o['occluded'] / o['frames']:.0%}); frames per covered part: {parts}. "
                "Training ignores the covered pixels; reference textures come from the other "
                "frames. Record more with the face uncovered.")

    def text(self) -> str:
        lines = [f"Coverage of {self.frames} frames"]
        for name, (lo, hi) in self.ranges.items():
            if name in self.counts:
                thr = GROUP_CHECKS[name][0]
                lines.append(f"  {name:<16} {lo:5.2f} .. {hi:5.2f}   "
                             f"{self.counts[name]:4d} frames >= {thr:.2f}")
            else:
                lines.append(f"  {name:<16} {lo:+6.1f}° .. {hi:+6.1f}°")
        if self.gaps:
            lines.append("Gaps (record more of these for a better target):")
            lines += [f"  - {g}" for g in self.gaps]
        else:
            lines.append("No gaps found.")
        lines.append(self.occlusion_text())
        return "\n".join(lines)


def analyse(blendshapes: np.ndarray, pose: np.ndarray, occlusion: dict | None = None
            ) -> CoverageReport:
    """Ranges and named gaps from (N, 52) blendshapes and (N, 3) yaw/pitch/roll degrees;
    ``occlusion`` (``latent.occlusion.summarise``) is carried into the report."""
    b = np.asarray(blendshapes, dtype=np.float32)
    p = np.asarray(pose, dtype=np.float32).reshape(-1, 3)
    if b.ndim != 2 or b.shape[0] != p.shape[0] or b.shape[0] == 0:
        raise ValueError(f"expected (N,52) blendshapes and (N,3) pose with N>0, got {b.shape} and {p.shape}")
    scores = group_scores(b)
    ranges: dict[str, tuple[float, float]] = {}
    counts: dict[str, int] = {}
    gaps: list[str] = []
    hit: dict[str, np.ndarray] = {}
    for group, (thr, _, wording) in GROUP_CHECKS.items():
        s = scores[group]
        ranges[group] = (float(s.min()), float(s.max()))
        hit[group] = s >= thr
        counts[group] = int(hit[group].sum())
        if counts[group] < MIN_FRAMES:
            gaps.append(wording)
    for a, c, wording in COMBINATIONS:
        both = int((hit[a] & hit[c]).sum())
        # Only name the combination when each part exists alone (otherwise it is implied).
        if both < MIN_FRAMES and counts[a] >= MIN_FRAMES and counts[c] >= MIN_FRAMES:
            gaps.append(wording)
    for k, name in enumerate(("yaw", "pitch", "roll")):
        ranges[name] = (float(p[:, k].min()), float(p[:, k].max()))
    pose_checks = (
        (0, +1, TURN_DEG, "head never turned left beyond {:.0f}°"),
        (0, -1, TURN_DEG, "head never turned right beyond {:.0f}°"),
        (1, +1, NOD_DEG, "head never tilted up beyond {:.0f}°"),
        (1, -1, NOD_DEG, "head never tilted down beyond {:.0f}°"),
        (2, +1, TILT_DEG, "head never tilted sideways (counter-clockwise) beyond {:.0f}°"),
        (2, -1, TILT_DEG, "head never tilted sideways (clockwise) beyond {:.0f}°"),
    )
    for k, sign, deg, wording in pose_checks:
        if int((sign * p[:, k] >= deg).sum()) < MIN_FRAMES:
            gaps.append(wording.format(deg))
    return CoverageReport(int(b.shape[0]), ranges, counts, tuple(gaps), occlusion)


def plot(report: CoverageReport, blendshapes: np.ndarray, pose: np.ndarray, path: Path,
         title: str = "") -> None:
    """Write a PNG: a histogram per blendshape group and per head angle, gaps listed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scores = group_scores(blendshapes)
    p = np.asarray(pose, dtype=np.float32).reshape(-1, 3)
    fig = Figure(figsize=(16, 12), dpi=80)
    FigureCanvasAgg(fig)
    axes = fig.subplots(4, 4).ravel()
    for ax, (group, (thr, _, _)) in zip(axes, GROUP_CHECKS.items()):
        ax.hist(scores[group], bins=np.linspace(0, 1, 21), color="#4477aa")
        ax.axvline(thr, color="#cc3311", ls="--", lw=1)
        lo, hi = report.ranges[group]
        ax.set_title(f"{group}: {lo:.2f}..{hi:.2f} ({report.counts[group]} ≥ {thr})", fontsize=9)
        ax.set_xlim(0, 1)
    limits = (TURN_DEG, NOD_DEG, TILT_DEG)
    for k, name in enumerate(("yaw", "pitch", "roll")):
        ax = axes[len(GROUP_CHECKS) + k]
        ax.hist(p[:, k], bins=np.linspace(-40, 40, 33), color="#228833")
        for x in (-limits[k], limits[k]):
            ax.axvline(x, color="#cc3311", ls="--", lw=1)
        lo, hi = report.ranges[name]
        ax.set_title(f"{name}: {lo:+.1f}°..{hi:+.1f}°", fontsize=9)
    for ax in axes[len(GROUP_CHECKS) + 3:]:
        ax.axis("off")
    gap_text = "\n".join(report.gaps) if report.gaps else "no gaps"
    axes[-1].text(0, 1, "Gaps:\n" + gap_text + "\n\n" + report.occlusion_text(), va="top",
                  fontsize=9, wrap=True)
    fig.suptitle(title or f"Coverage of {report.frames} frames")
    fig.tight_layout()
    fig.savefig(str(path))


def write_report(dataset, out_dir: str | Path) -> CoverageReport:
    """Write ``coverage.png`` and ``coverage.txt`` for a loaded ``Dataset`` into ``out_dir``."""
    from .occlusion import summarise

    out_dir = Path(out_dir)
    occlusion = (summarise(dataset.occluded_parts, dataset.occluded_fraction)
                 if dataset.occlusion_checked else None)
    report = analyse(dataset.blendshapes, dataset.pose, occlusion)
    (out_dir / "coverage.txt").write_text(report.text() + "\n", encoding="utf-8")
    source = dataset.manifest.get("source", {}).get("path", "")
    plot(report, dataset.blendshapes, dataset.pose, out_dir / "coverage.png",
         title=f"Coverage of {report.frames} frames of {source}")
    return report
