"""MediaPipe's canonical face model, read from the verified ``face_landmarker.task`` bundle.

The bundle's ``geometry_pipeline_metadata_landmarks.binarypb`` holds the 468-vertex canonical
face mesh (centimetres, +y up, +z towards the viewer), its triangles, and the weighted
Procrustes landmark basis MediaPipe itself uses to estimate head pose. We decode the few
protobuf fields we need with a tiny wire-format reader, so no generated proto module is needed.
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .model_file import FACE_MODEL_PATH, ModelFileError, verify_face_model

_METADATA_NAME = "geometry_pipeline_metadata_landmarks.binarypb"


@dataclass(frozen=True)
class CanonicalFace:
    vertices: np.ndarray         # (468, 3) float32, centimetres, +y up
    uv: np.ndarray               # (468, 2) float32 texture coordinates
    triangles: np.ndarray        # (T, 3) int32 vertex indices
    basis_ids: np.ndarray        # (K,) int32 landmark ids of the Procrustes basis
    basis_weights: np.ndarray    # (K,) float32 weights of those landmarks


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def _fields(buf: bytes):
    """Yield (field number, wire type, value) for a protobuf message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            length, i = _varint(buf, i)
            value, i = buf[i:i + length], i + length
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _floats(values: list[bytes]) -> np.ndarray:
    return np.array([struct.unpack("<f", v)[0] for v in values], dtype=np.float32)


def parse_geometry_metadata(buf: bytes) -> CanonicalFace:
    vertex_values: list[bytes] = []
    index_values: list[int] = []
    ids: list[int] = []
    weights: list[float] = []
    for number, wire, value in _fields(buf):
        if number == 1:  # canonical_mesh: Mesh3d
            for n2, w2, v2 in _fields(value):
                if n2 == 3 and w2 == 5:
                    vertex_values.append(v2)
                elif n2 == 3 and w2 == 2:  # packed floats
                    vertex_values.extend(v2[k:k + 4] for k in range(0, len(v2), 4))
                elif n2 == 4 and w2 == 0:
                    index_values.append(v2)
                elif n2 == 4 and w2 == 2:  # packed varints
                    j = 0
                    while j < len(v2):
                        x, j = _varint(v2, j)
                        index_values.append(x)
        elif number == 2:  # procrustes_landmark_basis: WeightedLandmarkRef
            landmark_id, weight = 0, 0.0
            for n2, _, v2 in _fields(value):
                if n2 == 1:
                    landmark_id = v2
                elif n2 == 2:
                    weight = struct.unpack("<f", v2)[0]
            ids.append(landmark_id)
            weights.append(weight)
    vertex_buffer = _floats(vertex_values).reshape(-1, 5)  # x, y, z, u, v
    return CanonicalFace(
        vertices=vertex_buffer[:, :3].copy(),
        uv=vertex_buffer[:, 3:].copy(),
        triangles=np.array(index_values, dtype=np.int32).reshape(-1, 3),
        basis_ids=np.array(ids, dtype=np.int32),
        basis_weights=np.array(weights, dtype=np.float32),
    )


@lru_cache(maxsize=4)
def load_canonical_face(model_path: Path = FACE_MODEL_PATH) -> CanonicalFace:
    """The canonical face from the (verified) model bundle."""
    data = verify_face_model(model_path)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as bundle:
            face = parse_geometry_metadata(bundle.read(_METADATA_NAME))
    except (KeyError, zipfile.BadZipFile, ValueError, IndexError, struct.error) as exc:
        raise ModelFileError(f"face model {model_path}: cannot read {_METADATA_NAME}: {exc}") from exc
    if face.vertices.shape != (468, 3):
        raise ModelFileError(f"face model {model_path}: canonical mesh has shape {face.vertices.shape}")
    return face
