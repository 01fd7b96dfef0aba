"""Test helpers (no tests here): shared by the test modules, built on the project's own code.

``bundles``: a real target bundle; ``datasets``: dataset folders made by ``latentcam prepare``'s
code; ``tracking``: a clip tracked by the real MediaPipe tracker; ``camera``: the one fake camera
device (under the real ``CameraSource``); ``virtualcam``: a pyvirtualcam backend that keeps frames; ``sinks``: a sink that keeps frames;
``networks``: random weights that make every output depend on the input.
Session-wide fixtures built from them live in ``tests/conftest.py``.
"""
