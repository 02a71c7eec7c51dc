"""Git-backed labeler registry and content-addressed artifact cache.

``store`` never imports ``sandbox`` (and vice versa); only ``store.registry`` imports git.
"""

from .cache import ArtifactCache
from .ids import make_id, program_word
from .lock import RegistryLock
from .records import (
    CommitInfo,
    CommitView,
    DiffReport,
    FsckReport,
    LabelerChange,
    LabelerView,
    labeler_row,
)
from .registry import MARKER, LabelerRegistry, lock_path

__all__ = [
    "MARKER",
    "ArtifactCache",
    "CommitInfo",
    "CommitView",
    "DiffReport",
    "FsckReport",
    "LabelerChange",
    "LabelerRegistry",
    "LabelerView",
    "RegistryLock",
    "lock_path",
    "labeler_row",
    "make_id",
    "program_word",
]
