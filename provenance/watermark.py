"""Invisible watermark: a 64-bit codeword spread over the brightness of every frame.

The frame is divided into a grid of *chips* whose size follows the frame height (``rows``
chips from top to bottom: 8×8 pixels at 1280×720, 4×4 at 640×360), so the mark survives
uniform rescaling. Each chip carries one coded bit, multiplied by a key-dependent ±1 carrier
and spread so that every bit sits on ~225 chips scattered over the whole frame. Embedding adds
the same grey-level pattern (peak ±``strength``, chips blended bilinearly so that no block
edges show on flat areas) to B, G and R: a pure luma change, nothing for chroma subsampling to
lose. The pattern is precomputed once per frame size; a frame costs two saturating additions.

Detection averages the grey image over each chip, removes each chip's 3×3 neighbourhood mean
(most of the picture's own content, which is smooth at chip scale), down-weights textured
neighbourhoods and correlates with the carriers: one normalised soft value per coded bit.
Several frames of a video can be summed before decoding (``WatermarkDetector.decode`` of
summed ``soft_bits``). Method and settings were chosen by ``benchmarks/provenance/watermark.py``.

Codeword (64 bits, most significant first): a 16-bit latentcam marker, the 32-bit bundle id
and a CRC-16 over both. Decoding accepts a word only when marker and CRC match after at most
two flips among its six least reliable bits (Chase decoding: 22 candidates, so a random word
passes with probability 22·2⁻³² ≈ 5·10⁻⁹) *and* the mean reliability exceeds
``min_confidence``; unmarked frames average about 0.8 (the mean |z| of white noise).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np

from latentcam.facekit.errors import InputError


MARKER = 0x4C43          # "LC": latentcam
CODE_BITS = 64           # 16 marker + 32 bundle id + 16 CRC
_KEY = b"latentcam-watermark-v1"
_CHASE_WEAK_BITS = 6     # bits considered for flipping
_CHASE_MAX_FLIPS = 2


class WatermarkError(InputError, ValueError):
    """A frame or payload the watermark cannot work with."""


@dataclass(frozen=True)
class WatermarkOptions:
    """How the mark is laid out and when a detection counts."""

    rows: int = 90                 # chip rows whatever the frame height (8 px chips at 720p)
    strength: float = 2.0          # peak ± grey levels (PSNR ≈ 45 dB smooth, 42 dB square chips)
    min_confidence: float = 1.5    # mean per-bit |z| needed besides marker + CRC (noise ≈ 0.8)
    whiten: bool = True            # detector: weight chips by inverse local residual energy
    smooth: bool = True            # embedder: chips blend bilinearly (square blocks show on flat areas)


@dataclass(frozen=True)
class Detection:
    """What ``WatermarkDetector`` read from one frame (or from several frames summed)."""

    found: bool
    bundle_id: int | None          # the 32-bit id when found
    confidence: float              # mean |z| over the 64 coded bits; ≈ 0.8 without a mark
    corrected_bits: int = 0        # bits flipped by Chase decoding to pass the CRC

    @property
    def bundle_id_hex(self) -> str | None:
        return None if self.bundle_id is None else f"{self.bundle_id:08x}"


def bundle_id_from_manifest(manifest_path: Path | str) -> int:
    """The 32-bit watermark id of a target bundle: the first 4 bytes of its manifest's sha256."""
    data = Path(manifest_path).read_bytes()
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "big")


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def encode_payload(bundle_id: int) -> np.ndarray:
    """The 64 coded bits (uint8 0/1) carrying ``bundle_id``."""
    if not 0 <= int(bundle_id) < 1 << 32:
        raise WatermarkError(f"bundle id {bundle_id} does not fit in 32 bits")
    head = (MARKER << 32) | int(bundle_id)
    word = (head << 16) | crc16(head.to_bytes(6, "big"))
    return np.array([(word >> (CODE_BITS - 1 - i)) & 1 for i in range(CODE_BITS)], dtype=np.uint8)


def check_codeword(bits: np.ndarray) -> int | None:
    """The bundle id if ``bits`` is a valid codeword, else None."""
    word = 0
    for b in bits:
        word = (word << 1) | int(b)
    head, crc = word >> 16, word & 0xFFFF
    if head >> 32 != MARKER or crc16(head.to_bytes(6, "big")) != crc:
        return None
    return head & 0xFFFFFFFF


@dataclass(frozen=True)
class _ChipLayout:
    carrier: np.ndarray    # (rows, cols) float32 ±1
    bit_of: np.ndarray     # (rows, cols) int: which coded bit each chip carries
    counts: np.ndarray     # (64,) chips per bit


_LAYOUTS: dict[tuple[int, int], _ChipLayout] = {}


def _grid_cols(rows: int, width: int, height: int) -> int:
    return max(1, int(round(rows * width / height)))


def _layout(rows: int, cols: int) -> _ChipLayout:
    """Carrier and bit assignment for a chip grid; a fixed (rows × 4·rows) table cropped to cols,
    so every aspect ratio up to 4:1 shares the same key-derived chips."""
    key = (rows, cols)
    if key not in _LAYOUTS:
        if cols > 4 * rows:
            raise WatermarkError(f"frame aspect ratio above 4:1 ({cols}×{rows} chips) is not supported")
        seed = int.from_bytes(hashlib.sha256(_KEY + rows.to_bytes(4, "big")).digest()[:8], "big")
        rng = np.random.default_rng(seed)
        full_cols = 4 * rows
        carrier = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(rows, full_cols))
        bit_of = rng.permutation(np.arange(rows * full_cols) % CODE_BITS).reshape(rows, full_cols)
        carrier, bit_of = np.ascontiguousarray(carrier[:, :cols]), np.ascontiguousarray(bit_of[:, :cols])
        counts = np.bincount(bit_of.ravel(), minlength=CODE_BITS)
        _LAYOUTS[key] = _ChipLayout(carrier, bit_of, counts)
    return _LAYOUTS[key]


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise WatermarkError(f"expected an H×W×3 uint8 BGR frame, got shape {shape} dtype {dtype}")


class WatermarkEmbedder:
    """Adds the mark for one bundle id to BGR uint8 frames; the pattern is built once per size."""

    def __init__(self, bundle_id: int, options: WatermarkOptions = WatermarkOptions()):
        self.bundle_id = int(bundle_id)
        self.options = options
        self._signs = encode_payload(self.bundle_id).astype(np.float32) * 2 - 1
        self._patterns: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def _pattern(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        if (height, width) not in self._patterns:
            rows = self.options.rows
            if height < rows:
                raise WatermarkError(f"frame height {height} is below the {rows} chip rows of the mark")
            lay = _layout(rows, _grid_cols(rows, width, height))
            chips = lay.carrier * self._signs[lay.bit_of] * self.options.strength
            full = cv2.resize(chips, (width, height),
                              interpolation=cv2.INTER_LINEAR if self.options.smooth else cv2.INTER_NEAREST)
            full = np.rint(full)
            pos = np.repeat(np.clip(full, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
            neg = np.repeat(np.clip(-full, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
            self._patterns = {(height, width): (pos, neg)}   # keep one size: the live output's
        return self._patterns[(height, width)]

    def embed(self, frame: np.ndarray, *, inplace: bool = False) -> np.ndarray:
        """The marked frame (a new array, or ``frame`` itself when ``inplace``)."""
        _check_frame(frame)
        pos, neg = self._pattern(frame.shape[0], frame.shape[1])
        out = frame if inplace else np.empty_like(frame)
        cv2.add(frame, pos, dst=out)
        cv2.subtract(out, neg, dst=out)
        return out


class WatermarkDetector:
    """Reads the mark back from BGR uint8 frames of any size with the embedder's aspect ratio."""

    def __init__(self, options: WatermarkOptions = WatermarkOptions()):
        self.options = options

    def soft_bits(self, frame: np.ndarray) -> np.ndarray:
        """(64,) float: each coded bit's normalised correlation (z-score; sign = bit value).

        Sums of these over frames of one video, divided by sqrt(frame count), stay z-scores.
        """
        _check_frame(frame)
        height, width = frame.shape[:2]
        rows = self.options.rows
        if height < rows:
            raise WatermarkError(f"frame height {height} is below the {rows} chip rows of the mark")
        lay = _layout(rows, _grid_cols(rows, width, height))
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
        chips = cv2.resize(gray, lay.carrier.shape[::-1], interpolation=cv2.INTER_AREA)
        residual = chips - cv2.blur(chips, (3, 3), borderType=cv2.BORDER_REFLECT)
        # Textured chips carry more picture than mark: weight each by its 5×5 neighbourhood's
        # inverse residual energy (local whitening), floored at the mark's own energy. On the sample
        # clips at 720p this lifts the median |z| from 1.9 to 7.0 (1.6 to 6.4 after H.264 at
        # 2 Mbit/s) and the share of frames found from 56 % to 100 % (benchmarks/provenance/watermark.md).
        if self.options.whiten:
            local = cv2.blur(residual * residual, (5, 5), borderType=cv2.BORDER_REFLECT)
            residual = residual / (local + self.options.strength ** 2)
        weighted = (residual * lay.carrier).ravel()
        corr = np.bincount(lay.bit_of.ravel(), weights=weighted, minlength=CODE_BITS)
        energy = np.bincount(lay.bit_of.ravel(), weights=(residual * residual).ravel(), minlength=CODE_BITS)
        return corr / np.sqrt(np.maximum(energy, 1e-6))

    def decode(self, z: np.ndarray) -> Detection:
        """Decode 64 soft values (one frame's, or several frames' summed and rescaled)."""
        z = np.asarray(z, dtype=np.float64)
        confidence = float(np.mean(np.abs(z)))
        bits = (z > 0).astype(np.uint8)
        if confidence >= self.options.min_confidence:
            weakest = np.argsort(np.abs(z))[:_CHASE_WEAK_BITS]
            for flips in range(_CHASE_MAX_FLIPS + 1):
                for idx in combinations(weakest, flips):
                    trial = bits.copy()
                    trial[list(idx)] ^= 1
                    bundle_id = check_codeword(trial)
                    if bundle_id is not None:
                        return Detection(True, bundle_id, confidence, flips)
        return Detection(False, None, confidence)

    def detect(self, frame: np.ndarray) -> Detection:
        return self.decode(self.soft_bits(frame))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images in dB (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)
