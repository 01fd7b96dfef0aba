"""One-photo targets: synthesise a training set by warping one portrait along the face mesh.

The portrait is tracked once (IMAGE mode). Real driver clips are tracked (VIDEO mode); each
driver frame's expression is taken as a *deviation* from that driver's own neutral face in the
canonical face frame (so the driver's identity does not leak), added to the portrait's canonical
landmarks, optionally rotated by a small head turn, and mapped back into the portrait's image
with the portrait's own pose and scale. The portrait is then warped piecewise-affinely from its
landmarks to the new ones over MediaPipe's 468-vertex triangulated mesh, extended by rings of
triangles around the face so hair, neck and background follow smoothly. The mouth opening is
filled with a synthesised interior (``mouth.py``); a closing eye gets a painted lid (``eyelids.py``).

Variety beyond what the drivers show: the eyes and brows of a frame may come from a different
driver frame than its mouth (so "eyes closed while smiling" exists even if no driver did it);
small random head rotations are added; the jaw is opened by rotating the mandible's landmarks
about the jaw joints (the sample drivers laugh with stretched lips but hardly drop the jaw);
some frames pucker the lips (``pucker_lips``: narrowed, rounded and pushed forward — the sample
drivers hardly pucker, and without such frames the target cannot show an "oo" mouth at all);
and the portrait's own expression (a photo smile) is partly or fully removed in some frames,
using a blendshape → landmark regression fitted on the drivers, with lips parted in the photo
brought together (``close_lips``; frame 1 is fully relaxed: the target's neutral face).
Frame 0 is the portrait itself. Every frame's recipe is recorded in the manifest.

The synthesised frames are then tracked again by ``prepare`` (IMAGE mode): the dataset's
landmarks, blendshapes, crops and masks are MediaPipe's view of the synthetic image, exactly
as for a video; frames that do not re-track are skipped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from latentcam.facekit.blendshapes import GROUPS, indices
from latentcam.facekit.canonical import load_canonical_face
from latentcam.facekit.geometry import alignment_matrix, canonicalize, euler_to_rotation, head_pose
from latentcam.facekit.hashing import sha256_file
from latentcam.facekit.landmarks import (FACE_OVAL, LEFT_EYE, LEFT_EYE_BOTTOM, LEFT_EYE_TOP,
                                        LEFT_LID_PAIRS, LIPS_INNER, LIPS_OUTER, NUM_LANDMARKS,
                                        RIGHT_EYE, RIGHT_EYE_BOTTOM, RIGHT_EYE_TOP, RIGHT_LID_PAIRS)

from .dataset import DatasetError, SourceFrame, neutral_score
from .eyelids import EyelidStyle, eyelid_style_from_photo, paint_eyelids
from .mouth import LOWER_INNER, UPPER_INNER, MouthStyle, mouth_style_from_photo, render_mouth

# Bumped whenever the synthesis changes its output, so an old dataset is not taken as current.
SYNTHESIS_VERSION = 4

# Region mixing: canonical y (cm, +up) where the face changes from "mouth" to "eyes" driver.
REGION_SPLIT_Y = (-1.2, 0.6)
# Blendshapes describing the eye region (for picking diverse eye/brow states to mix in).
EYE_REGION_BLENDSHAPES = (GROUPS["blink"] + GROUPS["eyes_wide"] + GROUPS["brows_up"]
                          + GROUPS["brows_down"] + ("eyeSquintLeft", "eyeSquintRight"))
# Lid travel is a little amplified (and then stopped where the lids meet): the portrait's small
# face makes a 90 % closure read as half-open after re-tracking.
EYE_CLOSURE_GAIN = 1.25
EYE_RADIUS_CM = 1.6          # eye-opening scaling affects points within ~this of the eye centre
# Rings of warp control points around the face oval: (scale about the oval centre, fraction of
# the nearest oval point's displacement they follow). The last ring lies outside the image.
RINGS = ((1.3, 0.55), (1.8, 0.2))
# Jaw articulation (the driver clips barely drop the jaw: laughing there stretches the lips
# apart instead). The mandible rotates about the temporomandibular joints; in the canonical
# frame (cm, +y up, +z to viewer) their axis runs along x through JAW_HINGE_YZ. Each point
# follows with a weight: 1 below the mouth line (lower lip, chin, jaw), 0 above it (upper lip,
# cheeks, skull), with a transition that is sharp between the lips and soft towards the ears.
JAW_HINGE_YZ = (0.0, -4.0)
JAW_SOFTNESS_CM = (0.06, 1.2)      # transition width at the midline / beyond the mouth corners
JAW_OPEN_DEG = (4.0, 24.0)         # range of added jaw rotation
RELAX_RIDGE = 0.01                 # ridge strength (per frame) of the expression regression
# Closing parted lips (``close_lips``): the lower lip rises by this share of the gap, the upper
# lip comes down by the rest; the skin around the mouth follows within an ellipse about the
# mouth centre of these canonical half-axes (cm), fading as a Gaussian.
LOWER_LIP_SHARE = 0.6
LIP_CLOSE_REACH_CM = (3.0, 1.6)
# Puckering (``pucker_lips``): strength k narrows the mouth region by up to k of its width about
# the mouth centre, rounds it (height grows by PUCKER_ROUND · k) and pushes it forward by
# PUCKER_FORWARD_CM · k, all fading as a Gaussian with these reaches in mouth half-widths
# (across, up/down). What MediaPipe reads back per strength, on the astronaut:
# benchmarks/latent/pucker_synthesis.md.
PUCKER_STRENGTH = (0.2, 0.55)
PUCKER_ROUND = 0.6
PUCKER_FORWARD_CM = 2.0
PUCKER_REACH = (1.2, 0.8)


def default_driver_clips() -> list[Path]:
    """The sample clips (``latentcam samples``) used when no --drivers are given."""
    from latentcam.facekit.samples import DRIVER_CLIPS, require_samples

    return require_samples(DRIVER_CLIPS, "prepare --photo without --drivers",
                           "pass your own clips with --drivers CLIP (videos of a person making varied "
                           "expressions), or record yours with --drivers-camera")


@dataclass(frozen=True)
class PortraitLimits:
    """What a portrait must satisfy before anything else is read (checked by ``load_portrait``)."""

    max_faces_seen: int = 5        # the tracker looks for this many faces (MediaPipe finds fewer
                                   # with num_faces=2: 1 of the 5 in multi_face.jpg, 2 with 5)
    rival_face_ratio: float = 1 / 3  # another face at least this wide (vs the main one) counts
    max_upscale: float = 4.0       # the face may be enlarged at most this much to the crop size
    max_yaw_deg: float = 25.0      # |yaw| beyond this: the synthesis (which adds up to 18° of
    max_pitch_deg: float = 30.0    # turn) would show the far side; MediaPipe reads frontal
                                   # photos at +3..+15° pitch (astronaut 14.9°)


@dataclass(frozen=True)
class Portrait:
    """A checked portrait: the image at the working scale and its tracked face."""

    path: Path
    image: np.ndarray              # BGR, rescaled by work_scale
    face: object                   # FaceObservation in ``image``
    sha256: str
    work_scale: float
    pose: np.ndarray               # (3,) yaw/pitch/roll degrees


def load_portrait(photo: str | Path, crop_size: int = 256,
                  limits: PortraitLimits = PortraitLimits()) -> Portrait:
    """Read and check a portrait: it exists and decodes, shows exactly one face, that face is
    large enough for ``crop_size`` crops and not strongly turned. Raises ``DatasetError`` saying
    what to change. Cheap (one image tracked), so it runs before any driver clip is read."""
    from latentcam.facekit.tracker import FaceTracker, TrackerOptions, TrackingMode

    path = Path(photo)
    if not path.is_file():
        raise DatasetError(f"photo not found: {path}. Check the path.")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot read photo {path}: not an image OpenCV can decode "
                           "(use a JPEG or PNG).")
    with FaceTracker(TrackerOptions(mode=TrackingMode.IMAGE, max_faces=limits.max_faces_seen)) as tracker:
        faces = tracker.faces(image)
        if not faces:
            raise DatasetError(f"no face found in photo {path}. Use a frontal, well-lit "
                               "portrait where the face is clearly visible.")
        face = faces[0]
        width = face.bbox[2] - face.bbox[0]
        rivals = [f for f in faces if f is not face and f.bbox[2] - f.bbox[0] >= width * limits.rival_face_ratio]
        if rivals:
            raise DatasetError(f"the photo {path} shows {len(rivals) + 1} faces; a one-photo target "
                               "needs exactly one. Crop the photo to the one person.")
        yaw, pitch, _ = head_pose(face.head_transform)
        if abs(yaw) > limits.max_yaw_deg or abs(pitch) > limits.max_pitch_deg:
            raise DatasetError(
                f"the face in {path} is turned too far (yaw {yaw:+.0f}°, pitch {pitch:+.0f}°; at most "
                f"±{limits.max_yaw_deg:.0f}° and ±{limits.max_pitch_deg:.0f}°). Use a photo where "
                "the person looks into the camera.")
        # Work at the crop's scale: the warp and the mouth are then drawn at the resolution the
        # crops will have (a small face is enlarged once, a large photo reduced).
        m = alignment_matrix(face.landmarks_px, crop_size)
        scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
        if scale > limits.max_upscale:
            need = int(np.ceil(width * scale / limits.max_upscale))
            raise DatasetError(
                f"the face in {path} is too small ({width:.0f} px wide; at least {need} px is needed "
                f"for {crop_size}² crops, twice that for sharp ones). Use a larger or closer photo.")
        scale = max(scale, 0.25)
        if abs(scale - 1.0) > 0.05:
            interp = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=interp)
            face = tracker.track(image).face
            if face is None:
                raise DatasetError(f"the face in {path} is lost after rescaling; use a "
                                   "larger, sharper portrait.")
        else:
            scale = 1.0
    return Portrait(path, image, face, sha256_file(path), scale,
                    np.asarray(head_pose(face.head_transform), np.float32))


@dataclass(frozen=True)
class PhotoOptions:
    frames: int = 480                      # synthetic frames to generate
    seed: int = 0
    crop_size: int = 256                   # the dataset's crop size (sets the working scale)
    max_driver_frames: int | None = None   # per clip (None: all frames)
    mix_regions: float = 0.4               # fraction of frames whose eyes come from another frame
    jaw_fraction: float = 0.4              # fraction of frames with an added jaw opening
    relax_fraction: float = 0.6            # fraction of frames with the portrait's own
                                           # expression (e.g. its smile) partly removed
    relax_range: tuple[float, float] = (0.6, 1.0)   # how much of it is removed in those frames
    pucker_fraction: float = 0.12          # fraction of frames with puckered lips
    jitter_deg: tuple[float, float, float] = (6.0, 4.0, 3.0)       # random yaw/pitch/roll sd
    max_turn_deg: tuple[float, float, float] = (18.0, 12.0, 10.0)  # clamp of the total turn
    expression_gain: float = 1.0           # scale of the transferred deviations


@dataclass(frozen=True)
class DriverTrack:
    """A tracked driver clip, reduced to what the synthesis needs."""

    name: str
    sha256: str
    frame_index: np.ndarray     # (M,) int64 source frame numbers
    canonical: np.ndarray       # (M, 478, 3) float32
    blendshapes: np.ndarray     # (M, 52)
    pose: np.ndarray            # (M, 3) yaw/pitch/roll degrees
    neutral: np.ndarray         # (478, 3) the driver's own neutral face (canonical)
    neutral_pose: np.ndarray    # (3,)


def track_driver(path: Path, max_frames: int | None = None) -> DriverTrack:
    """Track a driver clip (VIDEO mode) and find its neutral face (median of its 5 most
    neutral frames)."""
    from latentcam.facekit.tracker import FaceTracker, TrackerOptions

    from .dataset import VideoSource

    source = VideoSource(path)
    idx, canon, bs, pose = [], [], [], []
    with FaceTracker(TrackerOptions()) as tracker:
        for frame in source.frames(0):
            face = tracker.track(frame.image, frame.index, frame.time_s).face
            if face is not None:
                idx.append(frame.index)
                canon.append(canonicalize(face.landmarks_px).points)
                bs.append(face.blendshapes)
                pose.append(head_pose(face.head_transform))
            if max_frames is not None and len(idx) >= max_frames:
                break
    if not idx:
        raise DatasetError(f"driver clip {path} has no trackable face; choose another clip.")
    canon_a = np.array(canon, np.float32)
    bs_a = np.array(bs, np.float32)
    pose_a = np.array(pose, np.float32)
    calm = np.argsort(neutral_score(bs_a, pose_a))[:5]
    return DriverTrack(path.name, source.sha256, np.array(idx, np.int64), canon_a, bs_a, pose_a,
                       np.median(canon_a[calm], axis=0), np.median(pose_a[calm], axis=0))


def expression_offset(drivers: Sequence[DriverTrack], blendshapes: np.ndarray,
                      ridge: float = RELAX_RIDGE) -> np.ndarray:
    """(478, 3) canonical deformation that the expression ``blendshapes`` (52,) causes,
    predicted by a ridge regression blendshapes → landmark deviations fitted on the drivers'
    real tracked frames. Subtracting it from a portrait relaxes the portrait's own expression
    (a smiling photo gets a neutral mouth), so the dataset is not stuck at the photo's smile."""
    from .dataset import EXPRESSION_INDICES

    x = np.vstack([d.blendshapes[:, EXPRESSION_INDICES] for d in drivers]).astype(np.float64)
    y = np.vstack([(d.canonical - d.neutral).reshape(len(d.frame_index), -1) for d in drivers])
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - x_mean, y - y_mean
    coef = np.linalg.solve(xc.T @ xc + ridge * len(x) * np.eye(x.shape[1]), xc.T @ yc)
    own = np.asarray(blendshapes, np.float64)[EXPRESSION_INDICES]
    # Predicted deformation at ``own`` minus that at all-zero (neutral) blendshapes.
    return (own @ coef).reshape(NUM_LANDMARKS, 3)


def close_lips(points: np.ndarray) -> np.ndarray:
    """Canonical ``points`` (478, 3) with parted lips brought together where they are apart.

    A portrait that smiles with its teeth showing would otherwise keep its lips apart in every
    relaxed frame, and a driver's neutral face would render as a grin.

    Each inner-lip pair (upper, lower) closes its own gap: the lower lip rises by
    ``LOWER_LIP_SHARE`` of it, the upper lip comes down by the rest, and the skin around the
    mouth follows with the gap at its column, fading with the distance from the mouth
    (``LIP_CLOSE_REACH_CM``). Lips already closed are left as they are; the teeth between
    parted lips are squeezed out of sight by the warp.
    """
    out = np.asarray(points, np.float64).copy()
    upper, lower = np.array(UPPER_INNER[1:-1]), np.array(LOWER_INNER[1:-1])
    gap = np.maximum(out[upper, 1] - out[lower, 1], 0.0)         # +y is up: > 0 when parted
    if not gap.any():
        return out
    order = np.argsort(out[upper, 0])
    column_gap = np.interp(out[:, 0], out[upper, 0][order], gap[order], left=0.0, right=0.0)
    centre = out[list(LIPS_INNER)].mean(axis=0)
    reach = np.exp(-np.sum(((out[:, :2] - centre[:2]) / np.array(LIP_CLOSE_REACH_CM)) ** 2, axis=1))
    mouth_line = (out[upper, 1].mean() + out[lower, 1].mean()) / 2.0
    share = np.where(out[:, 1] < mouth_line, LOWER_LIP_SHARE, -(1.0 - LOWER_LIP_SHARE))
    shift = share * column_gap * reach
    shift[upper] = -(1.0 - LOWER_LIP_SHARE) * gap
    shift[lower] = LOWER_LIP_SHARE * gap
    out[:, 1] += shift
    return out


def pucker_lips(points: np.ndarray, strength: float) -> np.ndarray:
    """Canonical ``points`` (478, 3) with the lips puckered by ``strength`` (0 = unchanged):
    the mouth region drawn together towards the mouth centre, rounded and pushed forward
    (constants ``PUCKER_*``); the face away from the mouth does not move."""
    out = np.asarray(points, np.float64).copy()
    if strength <= 0.0:
        return out
    lips = out[list(LIPS_OUTER)]
    centre = lips.mean(axis=0)
    half_width = float(np.ptp(lips[:, 0])) / 2.0
    reach = half_width * np.array(PUCKER_REACH)
    w = strength * np.exp(-np.sum(((out[:, :2] - centre[:2]) / reach) ** 2, axis=1))
    out[:, 0] = centre[0] + (out[:, 0] - centre[0]) * (1.0 - w)
    out[:, 1] = centre[1] + (out[:, 1] - centre[1]) * (1.0 + PUCKER_ROUND * w)
    out[:, 2] += PUCKER_FORWARD_CM * w
    return out


def jaw_weights() -> np.ndarray:
    """(478, 1) how much each landmark follows the mandible (from the canonical face model,
    whose lips are slightly apart, so upper and lower lip separate cleanly)."""

    v = load_canonical_face().vertices.astype(np.float64)
    upper, lower = v[list(UPPER_INNER)], v[list(LOWER_INNER)]
    line_x = (upper[:, 0] + lower[:, 0]) / 2.0
    line_y = (upper[:, 1] + lower[:, 1]) / 2.0
    order = np.argsort(line_x)
    y_line = np.interp(v[:, 0], line_x[order], line_y[order])      # flat beyond the corners
    corner = float(np.abs(line_x).max())
    lateral = np.clip((np.abs(v[:, 0]) - corner * 0.8) / (corner * 0.8), 0.0, 1.0)
    soft = JAW_SOFTNESS_CM[0] + (JAW_SOFTNESS_CM[1] - JAW_SOFTNESS_CM[0]) * lateral
    w = 1.0 / (1.0 + np.exp(-(y_line - v[:, 1]) / soft))
    out = np.zeros((NUM_LANDMARKS, 1))
    out[:len(w), 0] = w                                               # iris points: skull
    return out


def open_jaw(points: np.ndarray, weights: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate the mandible part of canonical ``points`` open by ``degrees`` about the TMJ axis."""
    a = np.radians(degrees)
    hy, hz = JAW_HINGE_YZ
    dy, dz = points[:, 1] - hy, points[:, 2] - hz
    rotated = points.copy()
    rotated[:, 1] = hy + dy * np.cos(a) - dz * np.sin(a)
    rotated[:, 2] = hz + dy * np.sin(a) + dz * np.cos(a)
    return points + weights * (rotated - points)


def _ring_topology(loops: int, n: int) -> np.ndarray:
    """Triangles joining consecutive closed loops of ``n`` points (loop k at offset k*n)."""
    tris = []
    for k in range(loops - 1):
        a, b = k * n, (k + 1) * n
        for i in range(n):
            j = (i + 1) % n
            tris.append((a + i, a + j, b + j))
            tris.append((a + i, b + j, b + i))
    return np.array(tris, np.int32)


class PhotoRig:
    """The tracked portrait and its warp: ``render(target_landmarks)`` → a synthetic frame."""

    def __init__(self, image: np.ndarray, landmarks_px: np.ndarray):
        self.image = image
        self.landmarks = np.asarray(landmarks_px, np.float64)
        self.pose = canonicalize(self.landmarks)
        face = load_canonical_face()
        inner = set(LIPS_INNER)
        # The mesh triangulates the mouth opening; those triangles are replaced by the mouth.
        self.mesh_triangles = np.array([t for t in face.triangles if not all(v in inner for v in t)],
                                       np.int32)
        oval = self.landmarks[list(FACE_OVAL), :2]
        self.oval_centre = oval.mean(axis=0)
        h, w = image.shape[:2]
        far = 2.0 * float(np.hypot(h, w))
        dirs = oval - self.oval_centre
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        rings = [oval] + [self.oval_centre + s * (oval - self.oval_centre) for s, _ in RINGS]
        rings.append(self.oval_centre + far * dirs)
        self.ring_points = np.vstack(rings)                  # (L*36, 2)
        self.ring_follow = np.array([1.0] + [f for _, f in RINGS] + [0.0])
        self.ring_triangles = _ring_topology(len(rings), len(FACE_OVAL))
        self.style: MouthStyle = mouth_style_from_photo(image, self.landmarks)
        self.eyelids: EyelidStyle = eyelid_style_from_photo(image, self.landmarks)

    # --- geometry ----------------------------------------------------------------------------
    def landmarks_from_canonical(self, points: np.ndarray) -> np.ndarray:
        """Canonical-frame points → this portrait's image pixels (its pose and scale)."""
        p = self.pose
        model = (p.rotation.T @ (np.asarray(points, np.float64) - p.translation).T).T / p.scale
        model[:, 1] *= -1.0
        model[:, 2] *= -1.0
        return model

    def _ring_positions(self, target_px: np.ndarray) -> np.ndarray:
        n = len(FACE_OVAL)
        disp = target_px[list(FACE_OVAL), :2] - self.landmarks[list(FACE_OVAL), :2]
        out = self.ring_points.copy()
        for k, follow in enumerate(self.ring_follow):
            out[k * n:(k + 1) * n] += follow * disp
        return out

    # --- rendering ---------------------------------------------------------------------------
    def render(self, target_px: np.ndarray) -> np.ndarray:
        """Warp the portrait so that its landmarks move to ``target_px`` (478, 3)."""
        h, w = self.image.shape[:2]
        target_px = np.asarray(target_px, np.float64)
        src = np.vstack([self.landmarks[:, :2], self.ring_points])
        dst = np.vstack([target_px[:, :2], self._ring_positions(target_px)])
        offset = NUM_LANDMARKS
        # Draw order: rings (behind), then mesh triangles far-to-near (image z grows away).
        mesh = self.mesh_triangles
        depth = target_px[mesh, 2].mean(axis=1)
        tris = np.vstack([self.ring_triangles + offset, mesh[np.argsort(-depth)]])
        # Inverse affine per triangle (target → source): A = S @ inv(T) with homogeneous T.
        t_h = np.concatenate([dst[tris], np.ones((len(tris), 3, 1))], axis=2)   # (T, 3, 3)
        s_xy = src[tris]                                                        # (T, 3, 2)
        det = np.linalg.det(t_h)
        ok = np.abs(det) > 1e-2   # twice the area in px²: skip collapsed triangles
        inv = np.zeros_like(t_h)
        inv[ok] = np.linalg.inv(t_h[ok])
        affine = np.einsum("tik,tkj->tij", inv, s_xy).transpose(0, 2, 1)        # (T, 2, 3)
        ids = np.full((h, w), -1, np.int32)
        fixed = np.round(dst[tris] * 16).astype(np.int32)
        for k in np.flatnonzero(ok):
            cv2.fillConvexPoly(ids, fixed[k], int(k), lineType=cv2.LINE_8, shift=4)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        a = affine[np.maximum(ids, 0)].astype(np.float32)
        map_x = a[..., 0, 0] * xs + a[..., 0, 1] * ys + a[..., 0, 2]
        map_y = a[..., 1, 0] * xs + a[..., 1, 1] * ys + a[..., 1, 2]
        hole = ids < 0
        map_x[hole] = xs[hole]
        map_y[hole] = ys[hole]
        np.clip(map_x, -1, w, out=map_x)   # far-out coordinates make remap's border handling slow
        np.clip(map_y, -1, h, out=map_y)
        out = cv2.remap(self.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        paint_eyelids(out, self.landmarks, target_px, self.eyelids)
        layer, alpha, (x0, y0) = render_mouth((h, w), target_px, self.style)
        if alpha.size:
            roi = out[y0:y0 + alpha.shape[0], x0:x0 + alpha.shape[1]].astype(np.float32)
            a3 = alpha[..., None]
            out[y0:y0 + alpha.shape[0], x0:x0 + alpha.shape[1]] = np.clip(
                roi * (1 - a3) + layer * a3, 0, 255).astype(np.uint8)
        return out


@dataclass(frozen=True)
class Recipe:
    """How one synthetic frame is made (recorded in the manifest)."""

    mouth: tuple[int, int]       # (driver number, row in that driver's track) for the lower face
    eyes: tuple[int, int]        # same for the eyes and brows
    turn: tuple[float, float, float]  # yaw/pitch/roll degrees added to the portrait's pose
    jaw_deg: float = 0.0              # added jaw rotation (mouth opening), degrees
    relax: float = 0.0                # fraction of the portrait's own expression removed
    pucker: float = 0.0               # lip pucker strength (``pucker_lips``)


def _diverse_pool(drivers: Sequence[DriverTrack], k: int, rng: np.random.Generator,
                  columns: np.ndarray) -> list[tuple[int, int]]:
    """Farthest-point sample of driver frames over the blendshape ``columns`` (most neutral
    frame first), so rare expressions are as likely as the common ones."""
    keys = [(d, r) for d, tr in enumerate(drivers) for r in range(len(tr.frame_index))]
    feats = np.vstack([tr.blendshapes[:, columns] for tr in drivers])
    scores = np.concatenate([neutral_score(tr.blendshapes, tr.pose) for tr in drivers])
    chosen = [int(np.argmin(scores))]
    dist = np.linalg.norm(feats - feats[chosen[0]], axis=1)
    while len(chosen) < min(k, len(keys)):
        nxt = int(np.argmax(dist + 1e-4 * rng.random(len(dist))))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(feats - feats[nxt], axis=1))
    return [keys[i] for i in chosen]


def make_recipes(drivers: Sequence[DriverTrack], options: PhotoOptions) -> list[Recipe]:
    """Frame 0 is the portrait itself; the rest cycle through a diverse pool of driver frames."""
    from .dataset import EXPRESSION_INDICES

    rng = np.random.default_rng(options.seed)
    pool = _diverse_pool(drivers, options.frames, rng, EXPRESSION_INDICES)
    # Eyes and brows of mixed frames come from a pool that is diverse in the eye region alone.
    eye_pool = _diverse_pool(drivers, options.frames, rng, np.array(indices(EYE_REGION_BLENDSHAPES)))
    recipes = [Recipe(pool[0], pool[0], (0.0, 0.0, 0.0))]
    for i in range(1, options.frames):
        mouth = pool[i % len(pool)]
        eyes = mouth
        if rng.random() < options.mix_regions:
            eyes = eye_pool[int(rng.integers(len(eye_pool)))]
        d, r = mouth
        rel = drivers[d].pose[r] - drivers[d].neutral_pose
        turn = rel + rng.normal(0.0, 1.0, 3) * np.array(options.jitter_deg)
        turn = np.clip(turn, -np.array(options.max_turn_deg), np.array(options.max_turn_deg))
        jaw = float(rng.uniform(*JAW_OPEN_DEG)) if rng.random() < options.jaw_fraction else 0.0
        relax = float(rng.uniform(*options.relax_range)) if rng.random() < options.relax_fraction else 0.0
        if i == 1:   # the portrait with its own expression removed: a neutral reference frame
            mouth, eyes, turn, jaw, relax = pool[0], pool[0], np.zeros(3), 0.0, 1.0
        recipes.append(Recipe(mouth, eyes, tuple(float(round(x, 2)) for x in turn), round(jaw, 2),
                              round(relax, 2)))
    # Puckered frames: a relaxed, closed mouth (the calmest driver frame's) puckered; their eyes,
    # brows and turn stay as drawn. A separate random stream, so the other frames are the same
    # recipes as without puckers.
    pucker_rng = np.random.default_rng([options.seed, 1])
    for i in range(2, len(recipes)):
        if pucker_rng.random() < options.pucker_fraction:
            k = round(float(pucker_rng.uniform(*PUCKER_STRENGTH)), 2)
            recipes[i] = replace(recipes[i], mouth=pool[0], jaw_deg=0.0, relax=1.0, pucker=k)
    return recipes


class PhotoSource:
    """``DatasetSource`` for ``dataset.prepare``: synthetic frames of one portrait."""

    tracking_mode = "image"
    fps = 30.0
    background_frame = 0     # frame 0 is the portrait itself: the background plate
    neutral_frame = 1        # frame 1 is the relaxed portrait: the target's neutral face

    def __init__(self, photo: "str | Path | Portrait", drivers: Sequence[str | Path],
                 options: PhotoOptions = PhotoOptions()):
        """``photo``: a path (checked by ``load_portrait``) or a ``Portrait`` checked already."""
        self.options = options
        if options.frames < 1:
            raise DatasetError(f"--frames must be >= 1, got {options.frames}")
        portrait = photo if isinstance(photo, Portrait) else load_portrait(photo, options.crop_size)
        self.path = portrait.path
        self.sha256 = portrait.sha256
        self.work_scale = portrait.work_scale
        image, face = portrait.image, portrait.face
        self.photo_pose = head_pose(face.head_transform)
        self.rig = PhotoRig(image, face.landmarks_px)
        self.drivers = [track_driver(Path(d), options.max_driver_frames) for d in drivers]
        if not self.drivers:
            raise DatasetError("no driver clips given; pass --drivers CLIP.")
        self.recipes = make_recipes(self.drivers, options)
        self._canon = self.rig.pose.points.astype(np.float64)
        y = self._canon[:, 1]
        lo, hi = REGION_SPLIT_Y
        self._upper_weight = np.clip((y - lo) / (hi - lo), 0.0, 1.0)[:, None]
        self._jaw_weight = jaw_weights()
        # The portrait with its own expression removed and its lips closed (frame 1; relaxed
        # frames move part of the way there).
        relaxed = close_lips(self._canon - expression_offset(self.drivers, face.blendshapes))
        self._own_expression = self._canon - relaxed

    # --- DatasetSource -------------------------------------------------------------------------
    def count(self) -> int:
        return len(self.recipes)

    def frames(self, start: int = 0) -> Iterator[SourceFrame]:
        for i in range(start, len(self.recipes)):
            yield SourceFrame(i, self.render(i), i / self.fps)

    def frame(self, index: int) -> np.ndarray:
        return self.render(index)

    def describe(self) -> dict:
        return {"kind": "photo", "path": self.path.name, "sha256": self.sha256,
                "synthesis_version": SYNTHESIS_VERSION,
                "work_scale": round(self.work_scale, 4),
                "width": int(self.rig.image.shape[1]), "height": int(self.rig.image.shape[0]),
                "frames": len(self.recipes), "seed": self.options.seed,
                "drivers": [{"clip": d.name, "sha256": d.sha256} for d in self.drivers],
                "max_driver_frames": self.options.max_driver_frames}

    def manifest_extra(self, kept_frame_index: np.ndarray) -> dict:
        used: dict[int, set[int]] = {d: set() for d in range(len(self.drivers))}
        rows = []
        for i in kept_frame_index:
            r = self.recipes[int(i)]
            for d, row in (r.mouth, r.eyes):
                used[d].add(int(self.drivers[d].frame_index[row]))
            rows.append([int(i), r.mouth[0], int(self.drivers[r.mouth[0]].frame_index[r.mouth[1]]),
                         r.eyes[0], int(self.drivers[r.eyes[0]].frame_index[r.eyes[1]]), *r.turn,
                         r.jaw_deg, r.relax, r.pucker])
        return {
            "neutral_frame": self.neutral_frame,
            "photo": {"path": self.path.name, "sha256": self.sha256,
                      "work_scale": self.work_scale, "pose": [round(float(x), 2) for x in self.photo_pose]},
            "drivers": [{"clip": d.name, "sha256": d.sha256, "frames_used": sorted(used[k])}
                        for k, d in enumerate(self.drivers)],
            "synthesis": {
                "method": "piecewise-affine warp of the portrait over the 468-vertex MediaPipe "
                          "mesh to driver expression deviations (canonical frame) + head turns; "
                          "synthesised mouth interior (latent/mouth.py)",
                "crops": "re-tracked: every synthetic frame is tracked again by MediaPipe "
                         "(IMAGE mode); frames that do not re-track are skipped",
                "columns": ["frame", "mouth_driver", "mouth_frame", "eyes_driver", "eyes_frame",
                            "yaw", "pitch", "roll", "jaw_deg", "relax", "pucker"],
                "rows": rows,
            },
        }

    # --- synthesis ---------------------------------------------------------------------------
    @property
    def neutral_canonical(self) -> np.ndarray:
        """The portrait's canonical landmarks with its own expression removed and its lips closed
        (frame 1 before the small deviation of the driver frame it borrows)."""
        return self._canon - self._own_expression

    def target_canonical(self, i: int) -> np.ndarray:
        """The portrait's canonical landmarks with recipe ``i``'s expression and turn."""
        r = self.recipes[i]
        dm, rm = r.mouth
        de, re_ = r.eyes
        mouth_delta = self.drivers[dm].canonical[rm] - self.drivers[dm].neutral
        eyes_delta = self.drivers[de].canonical[re_] - self.drivers[de].neutral
        eyes_delta = self._scale_eyes(eyes_delta, self.drivers[de])
        delta = (1 - self._upper_weight) * mouth_delta + self._upper_weight * eyes_delta
        points = self._canon - r.relax * self._own_expression + self.options.expression_gain * delta
        self._stop_lid_crossing(points)
        if r.jaw_deg:
            points = open_jaw(points, self._jaw_weight, r.jaw_deg)
        points = pucker_lips(points, r.pucker)
        rot = euler_to_rotation(*r.turn)
        return points @ rot.T

    def target_landmarks(self, i: int) -> np.ndarray:
        return self.landmarks_from_canonical(self.target_canonical(i))

    def landmarks_from_canonical(self, points: np.ndarray) -> np.ndarray:
        return self.rig.landmarks_from_canonical(points)

    def render(self, i: int) -> np.ndarray:
        if i == 0:
            return self.rig.image.copy()
        return self.rig.render(self.target_landmarks(i))

    def _scale_eyes(self, delta: np.ndarray, driver: DriverTrack) -> np.ndarray:
        """Scale lid motion by the portrait's eye opening over the driver's, so a full blink
        closes the portrait's eye instead of pushing the lid through it."""
        out = delta.copy()
        for (top, bottom), contour in (((RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM), RIGHT_EYE),
                                       ((LEFT_EYE_TOP, LEFT_EYE_BOTTOM), LEFT_EYE)):
            mine = self._canon[top, 1] - self._canon[bottom, 1]
            theirs = driver.neutral[top, 1] - driver.neutral[bottom, 1]
            ratio = float(np.clip(mine / theirs, 0.4, 1.5)) if theirs > 1e-3 else 1.0
            centre = self._canon[list(contour)].mean(axis=0)
            dist = np.linalg.norm(self._canon - centre, axis=1)
            weight = np.exp(-(dist / EYE_RADIUS_CM) ** 2)
            gain = ratio * EYE_CLOSURE_GAIN
            out[:, 1] *= 1.0 + (gain - 1.0) * weight
        return out

    @staticmethod
    def _stop_lid_crossing(points: np.ndarray) -> None:
        for pairs in (RIGHT_LID_PAIRS, LEFT_LID_PAIRS):
            for top, bottom in pairs:
                if points[top, 1] < points[bottom, 1]:
                    mid = (points[top, 1] + points[bottom, 1]) / 2.0
                    points[top, 1] = points[bottom, 1] = mid
