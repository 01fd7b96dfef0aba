"""latentcam: real-time webcam face reenactment to a virtual camera."""

__version__ = "0.1.0"
