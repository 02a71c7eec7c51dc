"""Pure vocabulary shared by every layer: errors, ABSTAIN, task and labeler specs."""

from .errors import (
    AlchemistError,
    BudgetExceeded,
    DataError,
    MissingRecording,
    ModelError,
    ProviderError,
    RegistryError,
    SandboxError,
    TaskError,
)
from .spec import ABSTAIN, ENTRY_POINT, SCHEMA_VERSION, LabelerSpec, TaskSpec, content_hash
from .tasks import builtin_tasks, get_task, load_task_file

__all__ = [
    "ABSTAIN",
    "ENTRY_POINT",
    "SCHEMA_VERSION",
    "AlchemistError",
    "BudgetExceeded",
    "DataError",
    "LabelerSpec",
    "MissingRecording",
    "ModelError",
    "ProviderError",
    "RegistryError",
    "SandboxError",
    "TaskError",
    "TaskSpec",
    "builtin_tasks",
    "content_hash",
    "get_task",
    "load_task_file",
]
