"""Secret references, resolved at use: ``{env: NAME}`` or ``{file: PATH}`` (first line, newline stripped)."""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.core.spec import EnvRef, FileRef
from reconciler.errors import SecretError

__all__ = ["MAX_SECRET_FILE", "resolve_secret", "secret_file_path"]

MAX_SECRET_FILE = 64 * 1024


def secret_file_path(ref: FileRef, base_dir: Path) -> Path:
    """The file a ``{file: PATH}`` reference names; relative paths are relative to ``base_dir``."""
    path = Path(ref.file)
    return path if path.is_absolute() else base_dir / path


def resolve_secret(ref: EnvRef | FileRef, base_dir: Path) -> str:
    """The secret's value. Raises :class:`~reconciler.errors.SecretError` (which never contains the value) when the
    variable is unset or empty, or the file is missing, unreadable, not UTF-8 text or empty."""
    if isinstance(ref, EnvRef):
        value = os.environ.get(ref.env)
        if value is None:
            raise SecretError(f"environment variable {ref.env} is not set")
        if not value:
            raise SecretError(f"environment variable {ref.env} is set but empty")
        return value
    path = secret_file_path(ref, base_dir)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SECRET_FILE + 1)
    except OSError as exc:
        raise SecretError(f"cannot read secret file {path}: {exc.strerror or type(exc).__name__}") from exc
    if len(data) > MAX_SECRET_FILE:
        raise SecretError(f"secret file {path} is larger than {MAX_SECRET_FILE} bytes: is it the right file?")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SecretError(f"secret file {path} is not UTF-8 text") from None
    value = text.split("\n", 1)[0].rstrip("\r")
    if not value:
        raise SecretError(f"secret file {path} is empty (its first line is the secret)")
    return value
