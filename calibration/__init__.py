"""Calibration and retargeting: fit a driver's face to the target's.

``NeutralCapture`` records the driver's relaxed face, ``RangeCapture`` the expression ranges of
guided steps, ``CalibrationProfile`` stores both as versioned JSON, and ``Retargeter`` turns each
live ``FaceObservation`` into a ``RetargetedFace`` shaped like the target. Imports only facekit.

Live use::

    target = TargetGeometry.from_manifest(bundle.manifest)
    profile = CalibrationProfile.load(path) if path else None      # None: self-calibrates
    retargeter = Retargeter(profile, target, RetargetOptions(mirror=False))
    face = retargeter.process(track.face, track.capture_time)       # RetargetedFace | None
    for event in retargeter.poll_events(): print(event.message)     # "self-calibrated: ..."
    retargeter.feedback                                             # "hold still" while capturing
    retargeter.recalibrate()                                        # the "reset reference pose" key

A whole calibration run from a camera or clip: ``calibration.session.run_calibration``.
"""

from .neutral import CaptureFeedback, NeutralCapture, NeutralCaptureOptions, NeutralResult
from .profile import CalibrationProfile, ProfileError
from .ranges import GUIDED_STEPS, GuidedStep, RangeCapture
from .retarget import (CalibrationEvent, RetargetedFace, Retargeter, RetargetMode, RetargetOptions,
                       RetargetState)
from .target import TargetGeometry, TargetGeometryError

__all__ = [
    "CaptureFeedback", "NeutralCapture", "NeutralCaptureOptions", "NeutralResult",
    "CalibrationProfile", "ProfileError", "GUIDED_STEPS", "GuidedStep", "RangeCapture",
    "CalibrationEvent", "RetargetedFace", "Retargeter", "RetargetMode", "RetargetOptions",
    "RetargetState", "TargetGeometry", "TargetGeometryError",
]
