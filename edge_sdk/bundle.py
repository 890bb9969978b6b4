"""Load and verify a model bundle: a folder with ``manifest.json`` and the model files.

Loading checks the schema and every model's sha256 *before* any model is opened, so a truncated
copy on a scanner's flash or a swapped file is caught with a message naming the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from edge_sdk.errors import BundleError
from edge_sdk.jsoncheck import MAX_JSON_BYTES, load_json
from edge_sdk.manifest import ArtifactSpec, Manifest, ModelSpec

MANIFEST_NAME = "manifest.json"
_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """Return the lowercase hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _inside(root: Path, relative: str, what: str) -> Path:
    """Resolve ``relative`` under ``root`` and refuse anything that escapes it (``..``, links)."""
    if Path(relative).is_absolute():
        raise BundleError(
            f"bundle: {what} path '{relative}' is absolute; expected a path relative to the "
            f"bundle directory {root}. Fix: store the file inside the bundle and name it relatively"
        )
    try:
        path = (root / relative).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte
        raise BundleError(
            f"bundle: {what} path '{relative}' cannot be resolved ({exc}). Fix: store the file "
            "itself inside the bundle directory, not a link"
        ) from exc
    if not path.is_relative_to(root):
        raise BundleError(
            f"bundle: {what} path '{relative}' resolves to {path}, outside the bundle directory "
            f"{root}. Fix: keep every model file inside the bundle directory"
        )
    return path


@dataclass(frozen=True)
class Bundle:
    """A verified bundle on disk.

    Attributes:
        root: The bundle directory (resolved).
        manifest: The parsed manifest.
        digest: sha256 of ``manifest.json``; since the manifest holds every file's sha256, this
            one value identifies the whole bundle (reported by ``eval`` and benchmarks).
    """

    root: Path
    manifest: Manifest
    digest: str

    def model_path(self, role: str) -> Path:
        """Absolute path of the model file for ``role`` ('segmenter' or 'classifier')."""
        spec = self.manifest.models.get(role)
        if spec is None:
            raise BundleError(f"bundle: unknown model role {role!r}; expected one of "
                              f"{sorted(self.manifest.models)}")
        return _inside(self.root, spec.file, role)

    def artifact_path(self, role: str, artifact: ArtifactSpec) -> Path:
        """Absolute path of one of a net's artifacts (checked to stay inside the bundle)."""
        return _inside(self.root, artifact.file, f"{role} {artifact.kind}")

    def onnx_for(self, role: str, target: str) -> tuple[Path, str]:
        """The ONNX file (and its precision) of ``role`` that serves ``target``.

        A model-family bundle carries each net for several targets (``onnx`` artifacts with
        ``meta.target``, e.g. ``int8-trt`` or ``fp32``); a backend asks for its own and gets
        the main file when the bundle has no file for that target.
        """
        spec = self.manifest.models[role]
        for artifact in spec.artifacts_of("onnx"):
            if artifact.meta.get("target") == target:
                return (self.artifact_path(role, artifact),
                        str(artifact.meta.get("precision", spec.precision)))
        return self.model_path(role), spec.precision


def _verify_file(root: Path, relative: str, sha256: str, what: str) -> None:
    path = _inside(root, relative, what)
    if not path.is_file():
        raise BundleError(
            f"bundle: the {what} file '{relative}' is missing from {root}. "
            "Fix: copy the complete bundle directory again"
        )
    actual = file_sha256(path)
    if actual != sha256:
        raise BundleError(
            f"bundle: the {what} file '{relative}' has sha256 {actual}, expected "
            f"{sha256} (size {path.stat().st_size} bytes): the file is truncated or was "
            "altered. Fix: copy the bundle again from its release; if you changed the model on "
            "purpose, rewrite the manifest with edge_sdk.write_bundle_manifest"
        )


def _verify_model(root: Path, spec: ModelSpec) -> None:
    _verify_file(root, spec.file, spec.sha256, spec.role)
    for artifact in spec.artifacts:
        _verify_file(root, artifact.file, artifact.sha256, f"{spec.role} {artifact.kind}")


def _read_manifest(path: Path) -> bytes:
    """The bytes of ``manifest.json``: a regular file in the bundle itself, bounded in size.

    A link is refused even when it points inside: the manifest is what every digest is checked
    against, so it must be the bundle's own file, not one that can be swapped from elsewhere.
    """
    fix = "Fix: point to a bundle directory written by the export toolchain"
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise BundleError(f"bundle: {path} is missing. {fix}") from None
    except OSError as exc:
        raise BundleError(f"bundle: {path} cannot be read ({exc}). {fix}") from exc
    if stat.S_ISLNK(info.st_mode):
        raise BundleError(f"bundle: {path} is a symbolic link; expected a regular file inside "
                          f"the bundle. Fix: copy the manifest into the bundle directory")
    if not stat.S_ISREG(info.st_mode):
        raise BundleError(f"bundle: {path} is not a regular file. {fix}")
    if info.st_size > MAX_JSON_BYTES:
        raise BundleError(f"bundle: {path} is {info.st_size} bytes; expected at most "
                          f"{MAX_JSON_BYTES}. {fix}")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise BundleError(f"bundle: {path} cannot be opened ({exc}). {fix}") from exc
    with os.fdopen(fd, "rb") as handle:
        return handle.read(MAX_JSON_BYTES + 1)


def load_bundle(path: str | Path) -> Bundle:
    """Read ``manifest.json`` in ``path``, validate it and verify every model's sha256.

    Args:
        path: The bundle directory.

    Returns:
        The verified :class:`Bundle`.

    Raises:
        BundleError: the directory or manifest is missing or malformed, the schema version is
            unknown, a file is missing/altered, or a path escapes the bundle directory.
    """
    try:
        root = Path(path).expanduser().resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte
        raise BundleError(f"bundle: {path!r} cannot be resolved ({exc}); expected a bundle "
                          "directory. Fix: pass the directory itself") from exc
    manifest_path = root / MANIFEST_NAME
    if not root.is_dir():
        raise BundleError(f"bundle: {root} is not a directory; expected a bundle directory "
                          f"holding {MANIFEST_NAME} and the model files. Fix: pass --bundle DIR")
    raw = _read_manifest(manifest_path)
    data = load_json(raw, str(manifest_path))
    manifest = Manifest.from_dict(data)
    for spec in manifest.models.values():
        _verify_model(root, spec)
    return Bundle(root=root, manifest=manifest, digest=hashlib.sha256(raw).hexdigest())


def write_bundle_manifest(root: str | Path, manifest: Manifest) -> Bundle:
    """Write ``manifest.json`` into ``root`` with each model's sha256 computed from its file.

    The sha256 fields of ``manifest`` are ignored and replaced by the files' real digests, so a
    writer can pass placeholders. The bundle is loaded back (and so verified) before returning.

    Args:
        root: The bundle directory, already holding the model files.
        manifest: The manifest to write.

    Returns:
        The written bundle, verified.
    """
    root = Path(root).resolve()
    specs = {}
    for role, spec in manifest.models.items():
        path = _inside(root, spec.file, role)
        if not path.is_file():
            raise BundleError(f"bundle: cannot write the manifest: {path} does not exist")
        artifacts = tuple(
            dataclasses.replace(a, sha256=file_sha256(_inside(root, a.file, f"{role} {a.kind}")))
            for a in spec.artifacts
        )
        specs[role] = dataclasses.replace(spec, sha256=file_sha256(path), artifacts=artifacts)
    final = dataclasses.replace(manifest, segmenter=specs["segmenter"],
                                classifier=specs["classifier"])
    text = json.dumps(final.to_dict(), indent=2, sort_keys=False) + "\n"
    (root / MANIFEST_NAME).write_text(text, encoding="utf-8")
    return load_bundle(root)


def default_bundle_path() -> Path:
    """The bundle shipped inside the package (``edge_sdk/bundles/default``).

    Raises:
        BundleError: this installation ships no default bundle.
    """
    path = Path(__file__).resolve().parent / "bundles" / "default"
    if not (path / MANIFEST_NAME).is_file():
        raise BundleError(
            f"no default bundle is shipped at {path}. Fix: pass --bundle DIR (a test bundle: "
            "python -m edge_sdk.testing OUT_DIR)"
        )
    return path
