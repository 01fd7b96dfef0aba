"""Provenance: an invisible watermark in every frame, Content Credentials (C2PA) on every file,
signed target bundles, and the checks that read them back (``latentcam verify``).

Torch-free; imports only the base layer. Heavy parts (c2pa, cryptography) load on first use.
"""

from .watermark import (Detection, WatermarkDetector, WatermarkEmbedder, WatermarkError, WatermarkOptions,
                        bundle_id_from_manifest)

__all__ = [
    "Detection", "WatermarkDetector", "WatermarkEmbedder", "WatermarkError", "WatermarkOptions",
    "bundle_id_from_manifest",
]
