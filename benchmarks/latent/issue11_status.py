"""Issue #11's measurable targets against the committed result files: met or how far.

    .venv/bin/python benchmarks/latent/issue11_status.py

Measures nothing: it reads the result files the benchmark scripts wrote (named in each row) and
writes ``issue11_status.md`` here, so the table can never disagree with them. Rerun it after any
of those files changes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FIDELITY = {"single_face.mp4": "fidelity_single_face_256px_40min.json",
            "WolfgangLanger_Pexels.mp4": "fidelity_wolfgang_256px_60min.json"}
CROSS = "cross_default_compare.json"
CEILING = "ssim_ceiling_WolfgangLanger_Pexels.json"
REGIONS = ("mouth", "eyes", "brows")
MODEL_NAMES = {"old": "warping decoder", "new": "composed decoder"}
VARIANT_NAMES = {**MODEL_NAMES,
                 "new_jawless": "composed decoder, encoder without the jaw-line points (--no-lower-oval)"}


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _mark(ok: bool) -> str:
    return "met" if ok else "**not met**"


def fidelity_rows() -> list[str]:
    """Item 4, per clip and decoder: face SSIM (≥ 0.78 asked on Wolfgang), blendshape MAE per
    region below the nearest training frame, sharpness ≥ 0.85, jitter ≤ 1.0."""
    rows = []
    for clip, name in FIDELITY.items():
        r = _load(HERE / name)
        nearest = r["metrics"]["nearest_frame"]
        budget = f"{r['size']}², {r['minutes_per_model']:.0f} min per model"
        for model, label in MODEL_NAMES.items():
            m = r["metrics"][model]
            mae = m["blendshape_mae"]
            below = [g for g in REGIONS if mae[g] < nearest["blendshape_mae"][g]]
            ssim = (f"{m['face_ssim']:.3f} (≥ 0.78 asked): {_mark(m['face_ssim'] >= 0.78)}"
                    if clip.startswith("Wolfgang") else f"{m['face_ssim']:.3f} (no number asked)")
            cells = [
                f"{ssim}; nearest frame {nearest['face_ssim']:.3f}",
                " / ".join(f"{mae[g]:.4f} vs {nearest['blendshape_mae'][g]:.4f}" for g in REGIONS)
                + f": {_mark(len(below) == len(REGIONS))}",
                f"{m['sharpness_ratio']:.2f}: {_mark(m['sharpness_ratio'] >= 0.85)}",
                f"{m['jitter_ratio']:.2f}: {_mark(m['jitter_ratio'] <= 1.0)}",
            ]
            rows.append(f"| {clip} | {label} ({budget}) | " + " | ".join(cells) + f" | `{name}` |")
    return rows


def ceiling_rows() -> list[str]:
    """Item 4 on Wolfgang: the model beside what moving training frames reaches (no decoder)."""
    t = _load(HERE / CEILING)["table"]
    names = {"model": "the warping decoder (60 min)",
             "nearest_frame": "nearest training frame (expression features)",
             "nearest_by_landmarks_warped": "nearest warp: the frame with the nearest landmarks, warped onto them",
             "two_nearest_by_landmarks_warped": "the two nearest by landmarks, warped and mixed",
             "best_training_frame_warped": "bound: the answer's pick of 8 look-alike frames, warped"}
    return [f"| {label} | {t[k]['face']:.3f}: {_mark(t[k]['face'] >= 0.78)} | "
            + (" / ".join(f"{t[k]['blendshape_mae'][g]:.3f}" for g in REGIONS) if "blendshape_mae" in t[k] else "–")
            + (f" | {t[k]['jitter_ratio']:.2f}: {_mark(t[k]['jitter_ratio'] <= 1.0)}" if "jitter_ratio" in t[k] else " | –")
            + " |" for k, label in names.items()]


def tried_rows() -> list[str]:
    """Item 4 on Wolfgang: every committed held-out run, each variant's face SSIM (the attempts)."""
    rows = []
    for path in sorted(HERE.glob("ablation_wolfgang*.json")):
        r = _load(path)
        for name, v in r["variants"].items():
            rows.append(f"| `{path.name}` | {r['size']}², {r['steps']} steps | {name}: {v['description']} | "
                        f"{v['model']['face_ssim']:.3f} | {v['nearest_frame']['face_ssim']:.3f} |")
    for path in sorted(HERE.glob("fidelity_wolfgang*.json")):
        r = _load(path)
        for name, m in r["metrics"].items():
            if name != "nearest_frame":
                rows.append(f"| `{path.name}` | {r['size']}², {r['minutes_per_model']:g} min per model | "
                            f"{VARIANT_NAMES.get(name, name)} | {m['face_ssim']:.3f} | "
                            f"{r['metrics']['nearest_frame']['face_ssim']:.3f} |")
    return rows


def ceiling_shown() -> str:
    """The bound for showing training frames unmoved, in words, from the ceiling run."""
    t = _load(HERE / CEILING)["table"]
    best = max(t["best_training_frame"]["face"], t["best_training_frame_per_region"]["face"])
    return (f"showing training frames as they are reaches at most {best:.3f} even when they are "
            f"picked by looking at the answer ({'below' if best < 0.78 else 'at or above'} 0.78)")


def laugh_rows() -> list[str]:
    """Item 2: held-out frames where the driver laughs with closed eyes, rendered so."""
    r = _load(HERE / FIDELITY["WolfgangLanger_Pexels.mp4"])["laugh_closed_eyes"]
    return [f"| {MODEL_NAMES.get(k, k.replace('_', ' '))} | {v['passed']} / {v['of']} |"
            for k, v in r["models"].items()]


def cross_rows() -> list[str]:
    """Item 8: the embedded target (the last bundle of the compare run): the live default and,
    where the run has it, a calibration profile of the clip's own calmest frames."""
    r = _load(HERE / CROSS)
    bundle = list(r["_run"]["bundles"])[-1]
    rows = []
    for key, v in r.items():
        clip, label, driver = key.split(" / ") if key.count(" / ") == 2 else ("", "", "")
        if label != bundle or driver == "raw driver":
            continue
        corr = v["blendshape_correlation"]
        cells = [f"{corr[g]:.3f}: {_mark(corr[g] >= 0.8)}" for g in REGIONS]
        rows.append(f"| {clip} ({bundle}) | {driver} | " + " | ".join(cells) + " |")
    return rows


def pipeline_rows() -> list[str]:
    """Item 5: the CPU pipeline's targets with the embedded target."""
    bench = _load(REPO / "benchmarks/pipeline/bench.json")
    b, lim = bench["targets_cpu"], bench["targets_cpu"]["limits"]
    engine, mode = bench["schedule_choice"]["engine"], bench["schedule_choice"]["mode"]
    # The decoder on its 2 threads alone: the serial run (overlapped, tracking shares the cores).
    decode = bench["runs"][f"{engine}/serial/paced"]["stages_ms"]["decode"]["p50"]
    beside = (f"; {bench['runs'][f'{engine}/{mode}/paced']['stages_ms']['decode']['p50']:.1f} ms in the "
              f"{mode} run the live default chose here, with tracking beside it" if mode != "serial" else "")
    return [f"| e2e p50 {b['p50_ms']:.1f} ms (≤ {lim['p50_ms']:.0f}), p99 {b['p99_ms']:.1f} ms "
            f"(≤ {lim['p99_ms']:.0f}), drops {b['drops']} ({mode} schedule) | "
            f"{_mark(b['p50_ok'] and b['p99_ok'] and b['no_drops'])} | `benchmarks/pipeline/bench.json` |",
            f"| decode p50 {decode:.1f} ms in the serial run (≤ 10 at 256², ONNX Runtime, 2 threads){beside} | "
            f"{_mark(decode <= 10.0)} | `benchmarks/pipeline/bench.json` |"]


def seam_rows() -> list[str]:
    """Item 7: paste mode before (legacy) and after, per clip."""
    r = _load(REPO / "benchmarks/realtime/seams.json")["results"]
    rows = []
    for clip, v in r.items():
        before, after = v["variants"]["paste before"], v["variants"]["paste after"]
        better = (after["colour_de_mean"] < before["colour_de_mean"]
                  and after["added_mean"] < before["added_mean"])
        rows.append(f"| {clip} | {before['colour_de_mean']:.2f} → {after['colour_de_mean']:.2f} | "
                    f"{before['added_mean']:.2f} → {after['added_mean']:.2f} | "
                    f"{'lower after' if better else '**not lower after**'} |")
    return rows


def main() -> None:
    md = ["# Issue #11: targets against the committed results", "",
          f"Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by "
          "`benchmarks/latent/issue11_status.py` from the result files named below (it measures "
          "nothing itself; each file records its machine, versions, date and load).", "",
          "## Item 4: fidelity on unseen frames (train on the earlier 80 %, score the later 20 %)", "",
          "| clip | model (budget) | face SSIM | blendshape MAE mouth / eyes / brows vs nearest frame | "
          "sharpness ≥ 0.85 | jitter ≤ 1.0 | file |",
          "|---|---|---|---|---|---|---|", *fidelity_rows(), "",
          "The issue's protocol is at most 60 minutes per model on 2 cores; these runs trained two or "
          "three models at once on the 2 cores for the minutes in each row (their headers say so).", "",
          f"Where the Wolfgang gap lies (`benchmarks/latent/{CEILING.replace('.json', '.md')}`, same "
          f"held-out frames): {ceiling_shown()}; training frames *moved* onto the held-out face "
          "come closer, though by eye the nearest warp keeps the chosen frame's own expression "
          "where the geometry differs (README, *Training your own target*).", "",
          "| candidate | face SSIM (≥ 0.78 asked) | blendshape MAE mouth / eyes / brows | jitter ≤ 1.0 |",
          "|---|---|---|---|",
          *ceiling_rows(), "",
          "Every held-out run on the Wolfgang clip so far (what was tried for its face SSIM; the "
          "files describe each variant and budget):", "",
          "| file | budget | variant | face SSIM | nearest frame |", "|---|---|---|---|---|", *tried_rows(), "",
          "## Item 2: laughing with closed eyes (Wolfgang, held-out frames; smile and blink ≥ 0.5)", "",
          "| model | passed |", "|---|---|", *laugh_rows(), "",
          "## Item 8: the embedded target driven by other people (≥ 0.8 asked)", "",
          "| clip | driver | mouth r | eyes r | brows r |", "|---|---|---|---|---|", *cross_rows(), "",
          f"From `benchmarks/latent/{CROSS}`.", "",
          "## Item 5: the CPU pipeline with the embedded target (`latentcam bench`, paced 30 fps)", "",
          "| measured | targets | file |", "|---|---|---|", *pipeline_rows(), "",
          "## Item 7: paste mode before → after (`benchmarks/realtime/seams.json`)", "",
          "| clip | colour ΔE to the driver's skin | seam added where the picture is smooth (ΔE) | |",
          "|---|---|---|---|", *seam_rows(), "",
          "Item 9 (the `gpu` preset trained on a GPU) has no result file: no GPU has been lent to "
          "this project's sessions, so it is not measured.", ""]
    (HERE / "issue11_status.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
