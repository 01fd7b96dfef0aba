"""Helpers for the latent tests (no tests here): build a small dataset directory in the
``latentcam prepare`` format from a real clip with the real MediaPipe tracker, so the latent
tests do not depend on the dataset builder's progress."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np


def build_dataset(video: Path, out: Path, size: int = 128, max_frames: int | None = None) -> Path:
    from safetensors.numpy import save_file

    from latentcam.facekit import landmarks as lm
    from latentcam.facekit.geometry import (alignment_matrix, canonicalize, head_pose,
                                            transform_points, warp_to_crop)
    from latentcam.facekit.tracker import FaceTracker

    (out / "crops").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    cols: dict[str, list] = {k: [] for k in ("frame_index", "landmarks_px", "crop_landmarks",
                                              "canonical", "blendshapes", "pose", "alignment")}
    cap = cv2.VideoCapture(str(video))
    background = None
    with FaceTracker() as tracker:
        i = 0
        while max_frames is None or i < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            res = tracker.track(frame, i, i / 30.0)
            if res.face is not None:
                n = len(cols["frame_index"])
                m = alignment_matrix(res.face.landmarks_px, size)
                crop = warp_to_crop(frame, m, size)
                cl = transform_points(res.face.landmarks_px, m)
                mask = np.zeros((size, size), np.uint8)
                hull = cv2.convexHull(cl[list(lm.FACE_OVAL), :2].astype(np.float32)).astype(np.int32)
                cv2.fillConvexPoly(mask, hull, 255)
                mask = cv2.GaussianBlur(mask, (0, 0), size / 128)
                cv2.imwrite(str(out / "crops" / f"{n:06d}.png"), crop)
                cv2.imwrite(str(out / "masks" / f"{n:06d}.png"), mask)
                cols["frame_index"].append(i)
                cols["landmarks_px"].append(res.face.landmarks_px)
                cols["crop_landmarks"].append(cl.astype(np.float32))
                cols["canonical"].append(canonicalize(res.face.landmarks_px).points)
                cols["blendshapes"].append(res.face.blendshapes)
                cols["pose"].append(np.array(head_pose(res.face.head_transform), np.float32))
                cols["alignment"].append(m.astype(np.float32))
                if background is None:
                    background = (frame, m)
            i += 1
    cap.release()
    # C-contiguous: safetensors writes raw memory, and canonicalize returns transposed arrays.
    arrays = {k: np.ascontiguousarray(np.stack(v).astype(np.int64 if k == "frame_index" else np.float32))
              for k, v in cols.items()}
    save_file(arrays, str(out / "observations.safetensors"))
    cv2.imwrite(str(out / "background.png"), background[0])
    manifest = {"format": "latentcam-dataset", "version": 1, "crop_size": size,
                "frames": len(arrays["frame_index"]), "skipped_no_face": 0,
                "source": {"kind": "video", "path": video.name}, "synthetic": False,
                "background_frame": 0, "background_alignment": background[1].tolist()}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return out
