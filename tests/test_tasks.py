"""Built-in task specs and custom tasks from TOML."""

from __future__ import annotations

from pathlib import Path

import pytest
from alchemist_engine.labelers import TaskError, builtin_tasks, get_task, load_task_file


def test_builtin_tasks_follow_the_paper_ids() -> None:
    assert set(builtin_tasks()) >= {"youtube", "sms", "imdb", "yelp", "agnews", "medabs", "cancer", "finance", "french"}
    assert get_task("youtube").classes == {0: "ham", 1: "spam"}
    assert get_task("sms").positive_class == 1 and get_task("sms").metric == "f1"
    assert get_task("imdb").classes == {0: "negative", 1: "positive"}
    for name in ("finance", "french"):
        assert get_task(name).classes == {0: "negative", 1: "neutral", 2: "positive"}
    assert "1 for spam" in get_task("youtube").labeling_instruction()


def test_custom_task_file(tmp_path: Path) -> None:
    f = tmp_path / "tasks.toml"
    f.write_text('[tasks.tickets]\nmission = "Route tickets."\nclasses = ["billing", "bug", "other"]\n')
    t = get_task("tickets", f)
    assert t.classes == {0: "billing", 1: "bug", 2: "other"} and t.cardinality == 3
    with pytest.raises(TaskError, match="no task named 'nope'"):
        get_task("nope", f)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[tasks.t]\nclasses = ['a', 'b']\n", "needs a 'mission'"),
        ("[tasks.t]\nmission = 'm'\n", "needs 'classes'"),
        ("[tasks.t]\nmission = 'm'\nclasses = ['a']\n", "class ids must be 0..k-1 with k >= 2"),
        ("[tasks.t]\nmission = 'm'\nclasses = ['a', 'b']\ncolour = 1\n", "unknown keys ['colour']"),
        ("[tasks.t\n", "not valid TOML"),
    ],
)
def test_bad_task_files(tmp_path: Path, body: str, message: str) -> None:
    f = tmp_path / "t.toml"
    f.write_text(body)
    with pytest.raises(TaskError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        load_task_file(f)


def test_unknown_builtin_says_what_to_do() -> None:
    with pytest.raises(TaskError, match="--task-file"):
        get_task("nope")
