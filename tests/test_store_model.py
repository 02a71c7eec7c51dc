"""Model-based check: any sequence of registry writes matches a plain dict, at every revision."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from alchemist_engine.labelers import LabelerSpec
from alchemist_engine.store import LabelerRegistry
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

State = dict[str, tuple[str, bool]]  # id -> (source, enabled)

KEYWORD = st.text(alphabet="abcdefghij xyz", min_size=1, max_size=8)


def program(word: str, label: int) -> str:
    return f"def label_function(text):\n    return {label} if {word!r} in text else -1\n"


class RegistryModel(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="regmodel-"))
        self.reg = LabelerRegistry.open(self.tmp / "registry")
        self.model: State = {}
        self.history: list[tuple[str, State]] = [(self.reg.resolve(), {})]

    def _record(self) -> None:
        sha = self.reg.resolve()
        if sha != self.history[-1][0]:
            self.history.append((sha, dict(self.model)))

    @rule(words=st.lists(st.tuples(KEYWORD, st.integers(0, 1)), min_size=1, max_size=4))
    def add(self, words: list[tuple[str, int]]) -> None:
        specs: list[LabelerSpec] = []
        taken: set[str] = set()
        for w, label in words:
            src = program(w, label)
            lid = self.reg.new_id("youtube", src, taken)
            taken.add(lid)
            specs.append(LabelerSpec(lid, "youtube", src, {"w": w}))
        self.reg.commit(specs, "add")
        for s in specs:
            self.model[s.id] = (s.source, True)
        self._record()

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), word=KEYWORD)
    def change(self, data: st.DataObject, word: str) -> None:
        lid = data.draw(st.sampled_from(sorted(self.model)))
        src = program(word, 1)
        enabled = self.model[lid][1]
        self.reg.commit([LabelerSpec(lid, "youtube", src, {"w": word}, enabled)], "change")
        self.model[lid] = (src, enabled)
        self._record()

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def toggle(self, data: st.DataObject) -> None:
        lid = data.draw(st.sampled_from(sorted(self.model)))
        src, enabled = self.model[lid]
        (self.reg.enable if not enabled else self.reg.disable)(lid)
        self.model[lid] = (src, not enabled)
        self._record()

    @rule(data=st.data())
    def rollback(self, data: st.DataObject) -> None:
        sha, state = data.draw(st.sampled_from(self.history))
        self.reg.rollback(sha)
        self.model = dict(state)
        self._record()

    @invariant()
    def head_matches_model(self) -> None:
        got = {s.id: (s.source, s.enabled) for s in self.reg.labelers(include_disabled=True)}
        assert got == self.model
        assert {s.id for s in self.reg.labelers()} == {i for i, (_, e) in self.model.items() if e}

    @invariant()
    def every_revision_kept_and_diffs_agree(self) -> None:
        first_sha, first = self.history[0]
        for sha, state in self.history:
            got = {s.id: (s.source, s.enabled) for s in self.reg.labelers(sha, include_disabled=True)}
            assert got == state
        last_sha, last = self.history[-1]
        d = self.reg.diff(first_sha, last_sha)
        assert {c.id for c in d.added} == set(last) - set(first)
        assert {c.id for c in d.removed} == set(first) - set(last)

    def teardown(self) -> None:
        if hasattr(self, "reg"):
            assert self.reg.fsck().ok
            shutil.rmtree(self.tmp, ignore_errors=True)


TestRegistryModel = RegistryModel.TestCase
TestRegistryModel.settings = settings(
    max_examples=8, stateful_step_count=8, deadline=None,
    suppress_health_check=[HealthCheck.too_slow], derandomize=True,
)
