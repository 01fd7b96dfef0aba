"""The learned target model: encoder features, networks, training, bundles, evaluation.

Torch-free on import. The live CPU path needs only ``expression_features`` and ``TargetBundle``
(+ ONNX Runtime); training/export modules (``train``, ``export``, the networks) import torch.
"""

from .bundle import BundleError, TargetBundle
from .features import FEATURE_SIZE, expression_features, expression_features_batch

__all__ = ["BundleError", "TargetBundle", "FEATURE_SIZE", "expression_features",
           "expression_features_batch"]
