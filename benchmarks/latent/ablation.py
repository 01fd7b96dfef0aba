"""Held-out ablation: train variants on the first 80 % of a clip, evaluate on the last 20 %.

    .venv/bin/python benchmarks/latent/ablation.py                 # prepare, train, evaluate
    .venv/bin/python benchmarks/latent/ablation.py --phase eval    # re-evaluate trained variants

Writes ``benchmarks/latent/ablation_<clip><tag>.json`` and ``.md``; the discussion at the end of
the markdown comes from ``NOTES`` (edit it when the numbers change). Images from the third-party
clip go to the work directory (default ``.cache/bench/latent``), never the repo.
Each variant is trained with the same seed, steps, size and data; a variant is skipped when its
bundle already exists (delete it to retrain).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

# name → (description, TrainOptions overrides relative to the current training defaults)
VARIANTS: dict[str, tuple[str, dict]] = {
    "plain": ("plain autoencoder: no region mixing, no input jitter, single-branch encoder, "
              "no VAE, no GAN, no warp", dict(region_mix=0.0, jitter_cm=0.0, rigid_jitter=0.0,
                                              factorized=False, vae=False, gan=False, warp=False)),
    "measures": ("generalisation measures (region mixing 0.5, input jitter, factorised encoder) "
                 "+ VAE, no GAN, no warp", dict(vae=True, gan=False, warp=False)),
    "measures+gan": ("the same + hinge GAN and feature matching, no warp",
                     dict(vae=True, gan=True, warp=False)),
    "warp": ("generalisation measures + warping decoder (texture + displacement field), "
             "no VAE, no GAN", dict(vae=False, gan=False, warp=True)),
    "warp+vae": ("the same + VAE", dict(vae=True, gan=False, warp=True)),
    "warp+vae+gan": ("the same + VAE + hinge GAN and feature matching",
                     dict(vae=True, gan=True, warp=True)),
}


def default_variant() -> str:
    """The variant that `latentcam train` runs with its default options."""
    from latentcam.latent.train import TrainOptions

    defaults = TrainOptions(Path(), Path())
    matches = [name for name, (_, over) in VARIANTS.items()
               if all(getattr(defaults, k) == v for k, v in over.items())
               and all(k in over for k in ("gan", "vae", "warp"))]
    if len(matches) != 1:
        raise RuntimeError(f"no single variant matches the training defaults: {matches}")
    return matches[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, default=REPO / ".cache/testdata/single_face.mp4")
    ap.add_argument("--work", type=Path, default=REPO / ".cache/bench/latent")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--train-fraction", type=float, default=0.8)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--machine", default="",
                    help="anything to add to the measured machine description in the report")
    ap.add_argument("--phase", choices=("train", "eval", "all"), default="all")
    ap.add_argument("--tag", default="", help="appended to the report's name, e.g. _400steps")
    a = ap.parse_args()

    from latentcam.latent.training_data import load_training_data

    data_dir = a.work / f"data_{a.clip.stem}"
    if not (data_dir / "manifest.json").is_file():
        subprocess.run([sys.executable, "-m", "latentcam", "prepare", str(a.clip), "--out",
                        str(data_dir)], check=True)
    n = len(load_training_data(data_dir, 64))
    cut = int(round(a.train_fraction * n))
    names = [v for v in a.variants.split(",") if v]
    timings = {}
    if a.phase in ("train", "all"):
        from latentcam.latent.train import TrainOptions, train
        for name in names:
            out = a.work / f"{a.clip.stem}_{name}"
            if (out / "manifest.json").is_file():
                continue
            opts = TrainOptions(data_dir, out, size=a.size, steps=a.steps, frames=f"0:{cut}",
                                sample_every=max(100, a.steps // 4), checkpoint_every=100,
                                name=f"{a.clip.stem}-{name}", progress=False,
                                **VARIANTS[name][1])
            t = time.perf_counter()
            train(opts)
            timings[name] = time.perf_counter() - t
            print(f"trained {name} in {timings[name]:.0f} s", flush=True)
    if a.phase in ("eval", "all"):
        evaluate(a, data_dir, names, cut, n)


def _machine(extra: str) -> str:
    """CPU, cores and the measured load (never a fixed claim about other jobs)."""
    import os

    from latentcam.realtime.bench import load_state, machine_info

    info = machine_info()
    load = [list(os.getloadavg())] if hasattr(os, "getloadavg") else []
    text = f"{info['logical_cores']} CPU cores ({info['cpu']}), {load_state(load, info['logical_cores'])} at evaluation"
    return f"{text}; {extra}" if extra else text


def evaluate(a, data_dir: Path, names: list[str], cut: int, n: int) -> None:
    from latentcam.latent.evaluate import EvalOptions, evaluate_self

    results = {"clip": a.clip.name, "frames": n, "train_frames": f"0:{cut}",
               "heldout_frames": f"{cut}:{n}", "size": a.size, "steps": a.steps,
               "machine": _machine(a.machine),
               "variants": {}}
    for name in names:
        bundle = a.work / f"{a.clip.stem}_{name}"
        if not (bundle / "manifest.json").is_file():
            print(f"skip {name}: not trained")
            continue
        # Dataset frames are the clip's frames with a face, in order; map the cut to the clip.
        from safetensors.numpy import load_file
        fidx = load_file(str(data_dir / "observations.safetensors"))["frame_index"]
        first_held = int(fidx[cut]) if cut < n else int(fidx[-1]) + 1
        report = evaluate_self(bundle, a.clip, EvalOptions(frames=f"{first_held}:",
                                                           train_data=data_dir,
                                                           train_frames=f"0:{cut}",
                                                           out_dir=a.work / f"eval_{name}"))
        manifest = json.loads((bundle / "manifest.json").read_text())
        results["variants"][name] = {"description": VARIANTS[name][0],
                                     "train_seconds": manifest["provenance"]["training"]["seconds_this_run"],
                                     "final_losses": manifest["provenance"]["training"]["final_losses"],
                                     **report}
    stem = {"single_face": "single_face", "WolfgangLanger_Pexels": "wolfgang"}.get(a.clip.stem, a.clip.stem)
    report = f"ablation_{stem}{a.tag}"
    results["report"] = report
    (HERE / f"{report}.json").write_text(json.dumps(results, indent=1))
    (HERE / f"{report}.md").write_text(_markdown(results))
    print(_markdown(results))


def _row(label: str, m: dict) -> str:
    bs = m.get("blendshape_mae", {})
    g = lambda v, p=3: "–" if v is None or v != v else f"{v:.{p}f}"  # noqa: E731
    return (f"| {label} | {g(m['face_ssim'])} | {g(m['face_psnr'], 2)} | {g(m['crop_ssim'])} | "
            f"{g(bs.get('mouth'))} / {g(bs.get('eyes'))} / {g(bs.get('brows'))} | {g(bs.get('all'))} | "
            f"{g(m.get('landmark_error_iod'))} | {g(m.get('jitter_ratio'), 2)} |")


def _verdict(r: dict) -> list[str]:
    name = default_variant()
    v = r["variants"].get(name)
    if not v or not v.get("nearest_frame"):
        return []
    m, b = v["model"], v["nearest_frame"]
    out = [f"## The default ({name}) vs the nearest-training-frame baseline", ""]
    ds = m["face_ssim"] - b["face_ssim"]
    out.append(f"- face SSIM: default {m['face_ssim']:.3f} vs nearest {b['face_ssim']:.3f} "
               f"({'beats' if ds > 0 else 'LOSES TO'} the baseline by {abs(ds):.3f})")
    for reg in ("mouth", "eyes", "brows", "all"):
        a, c = m["blendshape_mae"][reg], b["blendshape_mae"][reg]
        out.append(f"- blendshape MAE {reg}: default {a:.3f} vs nearest {c:.3f} "
                   f"({'better' if a < c else 'WORSE'})")
    return out + [""]


def _markdown(r: dict) -> str:
    rows = ["| variant | face SSIM | face PSNR | crop SSIM | blendshape MAE mouth / eyes / brows | "
            "blendshape MAE all | landmark err (IOD) | jitter ratio |",
            "|---|---|---|---|---|---|---|---|"]
    first = next(iter(r["variants"].values()), None)
    for name, v in r["variants"].items():
        rows.append(_row(name, v["model"]))
    if first:   # the baselines do not depend on the variant: report them once
        for key, label in (("nearest_frame", "baseline: nearest training frame"),
                           ("photo_warp", "baseline: one-photo warp")):
            if first.get(key):
                rows.append(_row(label, first[key]))
    desc = "\n".join(f"- **{k}**: {v['description']} (trained {v['train_seconds']:.0f} s)"
                     for k, v in r["variants"].items())
    return (f"# Held-out self-reenactment ablation ({r['clip']})\n\n"
            f"Trained on dataset frames {r['train_frames']} of {r['frames']}, evaluated on the "
            f"remaining {r['heldout_frames']} (later in time); {r['size']}² crops, {r['steps']} "
            f"steps of batch 16, same seed. Machine: {r['machine']} — training times are not "
            f"comparable across runs.\n\n{desc}\n\n" + "\n".join(rows) + "\n\n"
            "face = inside the face mask; blendshape MAE = mean |re-tracked real crop − re-tracked "
            "render| over `REGION_GROUPS` (both re-tracked at 256² by MediaPipe); landmark error = "
            "mean re-tracked landmark distance / inter-ocular distance; jitter ratio = "
            "frame-to-frame landmark motion of the render / of the real crop (1.0 = as steady as "
            "the real video).\n\n" + "\n".join(_verdict(r)) + "\n" + NOTES.get(r["report"], ""))


#: Discussion appended to a report, by report name; written by whoever ran it, from its numbers.
NOTES: dict[str, str] = {
    "ablation_single_face": """## Reading these numbers

- `single_face.mp4` is 2.4 s long: its last 20 % (frames 58–71) hold the same smile as the
  training part, so copying the nearest real training frame is a very strong baseline here
  (a sharp real photograph of almost the same expression). 14 held-out frames of one clip are
  weak evidence; treat face-SSIM differences below ~0.005 as noise.
- At 2000 steps every variant without the GAN beats the nearest frame on face SSIM (0.941–0.945
  vs 0.936); they differ in expression accuracy. The warping decoder has the lowest blendshape
  error (0.011 vs 0.013 `measures`, 0.017 `plain`, 0.015 nearest frame), the lowest landmark
  error and renders as steady as the video (jitter 1.0). Its larger advantage is at small
  budgets, where a plain decoder is still blurry: `ablation_single_face_400steps.md`.
- The GAN (hinge + feature matching, from 30 % of the steps) made held-out frames worse in both
  pairs (`measures` → `measures+gan`: 0.941 → 0.935; `warp+vae` → `warp+vae+gan`: 0.945 →
  0.937) and takes about twice the time per step on a CPU. It is **off** by default
  (`latentcam train --gan` turns it on, e.g. for long GPU runs, where it has not been measured).
- The VAE (KL 1e-3, mean used live) changed nothing measurable (`warp` vs `warp+vae`: 0.944 vs
  0.945 face SSIM, 0.011 blendshape error both). It did not earn its place and is **off** by
  default (`--vae` turns it on).
- Defaults since this run: region mixing, input jitter, factorised encoder, warping decoder; no
  GAN, no VAE (the `warp` row).
""",
    "ablation_single_face_400steps": """## Reading these numbers

- The same split as `ablation_single_face.md`, at a fifth of the training (400 steps, a few
  minutes on 2 CPU cores). Here the decoders without a texture are still blurry: face SSIM
  0.912–0.914, well below copying the nearest training frame (0.936). The warping decoder is
  already level with that baseline (0.936, blendshape error 0.015 vs 0.015) because skin, eyes
  and hair come from its texture from the first step; only the expression has to be learned.
- This is why the warp is the default even though, at 2000 steps, its lead on face SSIM is within
  noise: people training on a laptop stop early.
""",
    "ablation_wolfgang_2000steps": """## Reading these numbers

- The harder clip: the held-out 20 % (frames 378–471) hold expressions the training part never
  showed. At 2000 CPU steps the warping decoder (the training default) leads clearly on face
  SSIM (0.688 vs 0.639 plain, 0.609 nearest frame) and landmark error (0.038 vs 0.052 / 0.057),
  and halves the plain decoder's mouth blendshape error (0.077 vs 0.152).
- On blendshape error overall it ties the nearest-frame baseline (0.072 vs 0.071): better on the
  eyes (0.047 vs 0.077), worse on the mouth and brows. Unseen expressions remain the hard part,
  as DESIGN.md's fidelity study found; more varied target footage is what helps most.
- 94 held-out frames of one clip, one seed; same machine and settings as
  `ablation_single_face.md`.
""",
}


if __name__ == "__main__":
    main()
