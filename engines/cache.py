"""Engine cache under the user cache directory, keyed so that a stale or foreign engine is never run.

Layout: ``<root>/<model12>-<backend>-<precision>-<target>-<digest12>/`` holding ``engine.plan``,
``meta.json`` (the full key, the engine's sha256 and size) and, for TensorRT-RTX, ``runtime.cache``
(its JIT kernel cache) beside the engine under the same key. Anything that does not match on
load — another key in the meta (foreign), a missing or unreadable meta, a hash mismatch (corrupt),
or a header the runtime rejects (stale: other TensorRT version or GPU) — is deleted with a
warning and the caller rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, TypeVar

log = logging.getLogger("latentcam.engines")
T = TypeVar("T")

#: Bump when the exported graph changes in a way that invalidates built engines
#: (opset, post-processing appended to the graph, I/O names).
EXPORT_FORMAT = "opset17-bgra-u8-v2"   # v2: fp16 graphs take the bundle's input name ("z")
ENGINE_FILE = "engine.plan"
META_FILE = "meta.json"
RUNTIME_CACHE_FILE = "runtime.cache"


def default_cache_root() -> Path:
    from latentcam.facekit.user_dirs import user_cache_dir

    return user_cache_dir() / "engines"


def prebuilt_dir(source_dir: Path, model_name: str, model_sha256: str) -> Path:
    """Where ahead-of-time engines (``latentcam build-engine``) for a decoder live.

    A user's bundle keeps them beside it (``<bundle>/engines``, shipped with it). A bundle inside
    the installed latentcam package (the embedded default target) is never written to — that is
    site-packages when installed from a wheel — so its engines go to the user cache instead.
    """
    import latentcam

    package = Path(latentcam.__file__).resolve().parent
    if Path(source_dir).resolve().is_relative_to(package):
        return default_cache_root().parent / "prebuilt" / f"{model_name}-{model_sha256[:12]}"
    return Path(source_dir) / "engines"


@dataclass(frozen=True)
class EngineKey:
    model_sha256: str          # sha256 of the fp32 reference decoder.onnx
    backend: str               # "tensorrt" or "tensorrt-rtx"
    backend_version: str       # e.g. tensorrt_rtx.__version__
    target: str                # GPU compute capability, e.g. "sm_86"
    precision: str             # "fp16" or "fp32"
    export_format: str = EXPORT_FORMAT

    def digest(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def dirname(self) -> str:
        return (f"{self.model_sha256[:12]}-{self.backend}-{self.precision}-{self.target}-"
                f"{self.digest()[:12]}")


class EngineCache:
    """Serialised engines on disk. ``load`` returns verified bytes or None; ``store`` is atomic."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else default_cache_root()

    def entry_dir(self, key: EngineKey) -> Path:
        return self.root / key.dirname()

    def runtime_cache_path(self, key: EngineKey) -> Path:
        return self.entry_dir(key) / RUNTIME_CACHE_FILE

    def load(self, key: EngineKey, validate: Callable[[bytes], str | None] | None = None) -> bytes | None:
        """The engine for ``key``, or None (missing, or discarded as foreign/corrupt/stale).

        ``validate(engine_bytes)`` returns None when the runtime accepts the engine's header,
        else the reason (e.g. TensorRT-RTX ``getEngineValidity``).
        """
        entry = self.entry_dir(key)
        if not (entry / ENGINE_FILE).exists() and not (entry / META_FILE).exists():
            return None   # nothing cached (the directory may hold only a runtime cache)
        try:
            meta = json.loads((entry / META_FILE).read_text())
        except (OSError, ValueError) as exc:
            return self._discard(entry, f"unreadable metadata ({exc})")
        if meta.get("key") != asdict(key):
            return self._discard(entry, f"foreign engine: built for {meta.get('key')}, wanted {asdict(key)}")
        try:
            data = (entry / ENGINE_FILE).read_bytes()
        except OSError as exc:
            return self._discard(entry, f"engine file unreadable ({exc})")
        if len(data) != meta.get("bytes") or hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            return self._discard(entry, "corrupt engine: size or sha256 does not match its metadata")
        if validate is not None:
            reason = validate(data)
            if reason is not None:
                return self._discard(entry, f"stale engine: {reason}")
        return data

    def store(self, key: EngineKey, engine: bytes, **extra) -> Path:
        entry = self.entry_dir(key)
        entry.mkdir(parents=True, exist_ok=True)
        meta = {"key": asdict(key), "sha256": hashlib.sha256(engine).hexdigest(), "bytes": len(engine),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}
        _atomic_write(entry / ENGINE_FILE, engine)
        _atomic_write(entry / META_FILE, json.dumps(meta, indent=2).encode())
        return entry / ENGINE_FILE

    def get_or_build(self, key: EngineKey, build: Callable[[], bytes],
                     validate: Callable[[bytes], str | None] | None = None,
                     keep_targets: frozenset[str] | set[str] | None = None) -> tuple[bytes, bool]:
        """The cached engine for ``key`` if it passes every check, else ``build()`` stored under
        ``key``. Returns ``(engine bytes, built_now)``.

        On a miss, engines of the same decoder, backend and precision built for another backend
        version, or for a GPU architecture not in ``keep_targets`` (default: ``key.target``; pass
        every local GPU's so a two-GPU machine keeps both), are stale: deleted with a warning.
        """
        data = self.load(key, validate)
        if data is not None:
            return data, False
        self.discard_stale(key, keep_targets)
        data = build()
        self.store(key, data)
        return data, True

    def open(self, key: EngineKey, build: Callable[[], bytes], deserialize: Callable[[bytes], T | None],
             validate: Callable[[bytes], str | None] | None = None,
             keep_targets: frozenset[str] | set[str] | None = None) -> tuple[T | None, bool]:
        """``deserialize`` the engine for ``key`` (``get_or_build``). A cached engine the runtime
        cannot load (its header passed, the engine did not) is stale: deleted with a warning and
        rebuilt once. Returns ``(deserialized or None when even a fresh build fails, built_now)``."""
        data, built = self.get_or_build(key, build, validate, keep_targets)
        engine = deserialize(data)
        if engine is None and not built:
            self.discard(key, "stale engine: the runtime could not load it")
            data = build()
            self.store(key, data)
            engine, built = deserialize(data), True
        return engine, built

    def discard_stale(self, key: EngineKey, keep_targets: frozenset[str] | set[str] | None = None) -> int:
        """Delete (with a warning) entries of ``key``'s decoder, backend and precision built for
        another backend version or export format, or for a target not in ``keep_targets``."""
        keep = set(keep_targets) if keep_targets is not None else {key.target}
        want = asdict(key)
        n = 0
        if not self.root.is_dir():
            return 0
        for entry in sorted(self.root.iterdir()):
            if entry == self.entry_dir(key) or not entry.is_dir():
                continue
            try:
                other = json.loads((entry / META_FILE).read_text())["key"]
            except (OSError, ValueError, KeyError, TypeError):
                continue   # not an engine entry (e.g. the exported ONNX folder)
            if any(other.get(f) != want[f] for f in ("model_sha256", "backend", "precision")):
                continue
            if (other.get("backend_version") != key.backend_version
                    or other.get("export_format") != key.export_format):
                why = (f"stale engine: built with {other.get('backend')} {other.get('backend_version')} "
                       f"(format {other.get('export_format')}), this is {key.backend_version} "
                       f"(format {key.export_format})")
            elif other.get("target") not in keep:
                why = f"stale engine: built for {other.get('target')}, this machine's GPU is {key.target}"
            else:
                continue
            self._discard(entry, why)
            n += 1
        return n

    def discard(self, key: EngineKey, why: str) -> None:
        """Delete ``key``'s entry with a warning saying ``why`` (it will be rebuilt)."""
        self._discard(self.entry_dir(key), why)

    def entries(self) -> list[dict]:
        """Metadata of every readable entry (for ``latentcam engines --cache``)."""
        out = []
        if self.root.is_dir():
            for d in sorted(self.root.iterdir()):
                try:
                    meta = json.loads((d / META_FILE).read_text())
                except (OSError, ValueError):
                    continue
                out.append({"dir": str(d), **meta})
        return out

    def clear(self) -> int:
        """Delete every entry; returns how many."""
        n = 0
        if self.root.is_dir():
            for d in self.root.iterdir():
                if d.is_dir():
                    n += (d / META_FILE).is_file()
                    shutil.rmtree(d, ignore_errors=True)   # engines and exported fp16 graphs
        return n

    def _discard(self, entry: Path, why: str) -> None:
        message = f"discarding cached engine {entry.name}: {why}; it will be rebuilt"
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        log.warning(message)
        shutil.rmtree(entry, ignore_errors=True)
        return None


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
