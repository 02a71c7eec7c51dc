"""Built-in task specs (the ALCHEmist paper's datasets) and custom tasks from TOML.

Class ids follow the paper's prompts: spam=1 / ham=0; sentiment negative=0 ...
positive; finance and french negative=0, neutral=1, positive=2.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from .errors import TaskError
from .spec import TaskSpec

_BUILTIN: dict[str, TaskSpec] = {
    t.name: t
    for t in [
        TaskSpec(
            name="youtube",
            classes={0: "ham", 1: "spam"},
            mission="Classify YouTube comments as spam or ham (a genuine comment).",
            input_description="a YouTube comment",
        ),
        TaskSpec(
            name="sms",
            classes={0: "ham", 1: "spam"},
            mission="Classify SMS text messages as spam or ham (a normal message).",
            input_description="an SMS message",
            positive_class=1,
            metric="f1",
        ),
        TaskSpec(
            name="imdb",
            classes={0: "negative", 1: "positive"},
            mission="Classify the sentiment of IMDB movie reviews as negative or positive.",
            input_description="a movie review",
        ),
        TaskSpec(
            name="yelp",
            classes={0: "negative", 1: "positive"},
            mission="Classify the sentiment of Yelp business reviews as negative or positive.",
            input_description="a Yelp review",
        ),
        TaskSpec(
            name="agnews",
            classes={0: "world", 1: "sports", 2: "business", 3: "sci/tech"},
            mission="Classify news articles by topic: world, sports, business or sci/tech.",
            input_description="a news article",
        ),
        TaskSpec(
            name="medabs",
            classes={
                0: "neoplasms",
                1: "digestive system diseases",
                2: "nervous system diseases",
                3: "cardiovascular diseases",
                4: "general pathological conditions",
            },
            mission="Classify medical abstracts by the kind of condition they describe.",
            input_description="a medical abstract",
        ),
        TaskSpec(
            name="cancer",
            classes={0: "colon cancer", 1: "lung cancer", 2: "thyroid cancer"},
            mission="Classify biomedical publications by the cancer type they study.",
            input_description="a biomedical publication",
        ),
        TaskSpec(
            name="finance",
            classes={0: "negative", 1: "neutral", 2: "positive"},
            mission="Classify the sentiment of financial news sentences.",
            input_description="a financial news sentence",
        ),
        TaskSpec(
            name="french",
            classes={0: "negative", 1: "neutral", 2: "positive"},
            mission="Classify the sentiment of French book reviews.",
            input_description="a French book review",
        ),
    ]
}


def builtin_tasks() -> list[str]:
    return sorted(_BUILTIN)


def get_task(name: str, task_file: str | Path | None = None) -> TaskSpec:
    """The task called ``name``: from ``task_file`` when given, else built in."""
    if task_file is not None:
        tasks = load_task_file(task_file)
        if name in tasks:
            return tasks[name]
        raise TaskError(f"{task_file}: no task named {name!r} (it defines {sorted(tasks)})")
    try:
        return _BUILTIN[name]
    except KeyError:
        raise TaskError(
            f"unknown task {name!r}: built-in tasks are {', '.join(builtin_tasks())}; "
            "define your own in a TOML file and pass --task-file"
        ) from None


def load_task_file(path: str | Path) -> dict[str, TaskSpec]:
    """Parse a TOML file of ``[tasks.NAME]`` tables (or one top-level task).

    Example::

        [tasks.tickets]
        mission = "Route support tickets."
        classes = ["billing", "bug", "other"]     # ids 0..k-1 in this order
        input_description = "a support ticket"
        positive_class = 1                          # optional: binary F1
    """
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaskError(f"{p}: task file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TaskError(f"{p}: not valid TOML: {exc}") from exc
    tables = doc.get("tasks", {"name" in doc and doc["name"] or p.stem: doc})
    out: dict[str, TaskSpec] = {}
    for name, t in tables.items():
        if not isinstance(t, dict):
            raise TaskError(f"{p}: [tasks.{name}] must be a table")
        classes = t.get("classes")
        if isinstance(classes, list):
            cmap = {i: str(c) for i, c in enumerate(classes)}
        elif isinstance(classes, dict):
            try:
                cmap = {int(k): str(v) for k, v in classes.items()}
            except ValueError:
                raise TaskError(f"{p}: task {name!r}: class ids must be integers") from None
        else:
            raise TaskError(f"{p}: task {name!r} needs 'classes' (a list of names)")
        if "mission" not in t:
            raise TaskError(f"{p}: task {name!r} needs a 'mission' statement")
        unknown = set(t) - {
            "name", "classes", "mission", "input_field", "input_description",
            "positive_class", "metric", "prior_query",
        }
        if unknown:
            raise TaskError(f"{p}: task {name!r}: unknown keys {sorted(unknown)}")
        try:
            out[str(t.get("name", name))] = TaskSpec(
                name=str(t.get("name", name)),
                classes=cmap,
                mission=str(t["mission"]),
                input_field=str(t.get("input_field", "text")),
                input_description=str(t.get("input_description", "a text")),
                positive_class=t.get("positive_class"),
                metric=str(t.get("metric", "f1" if "positive_class" in t else "accuracy")),
                prior_query=t.get("prior_query"),
            )
        except ValueError as exc:
            raise TaskError(f"{p}: {exc}") from exc
    return out
