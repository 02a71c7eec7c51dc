"""Synthesis: prompt -> reply -> programs -> dedupe -> validate -> dry run -> one commit.

Three modes (the ALCHEmist paper's names):

* ``scriptorium``   -- the code model writes labelers from the task alone.
* ``alchemist``     -- a (prior) model first writes prior knowledge of a kind
  (heuristics, keywords, description, examples; ``all`` cycles them), then the code
  model writes labelers with that knowledge in its prompt.
* ``alchemist-rag`` -- the prior knowledge is written from passages retrieved from the
  user's documents (:mod:`engine.rag`); the passages go into each labeler's metadata.

Call keys: code call for program ``i`` uses ``seed=i``; the prior call of kind ``K`` uses
``seed=PRIOR_KINDS.index(K)``. These seeds key replay recordings (see
:func:`providers.recording_key`) and, for OpenAI, make sampling reproducible.

A provider failure in the middle of a run does not lose what was paid for: programs
already accepted are committed, the run's progress is saved in ``state_dir``, and
rerunning the same command continues with the samples not yet done.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..labelers import (
    ABSTAIN,
    BudgetExceeded,
    LabelerSpec,
    ProviderError,
    TaskError,
    TaskSpec,
)
from . import prompts
from .cost import Budget, PriceTable, append_spend, estimate_tokens
from .extract import extract_programs, normalized_hash
from .providers import Completion, Provider, RecordProvider, complete_many

if TYPE_CHECKING:
    from ..sandbox import Runner
    from .rag import KnowledgeBase

MODES = ("scriptorium", "alchemist", "alchemist-rag")
PRIOR_CHOICES = (*prompts.PRIOR_KINDS, "all")
DEFAULT_TEMPERATURE = 0.8
DEFAULT_MAX_TOKENS = 1024
PRIOR_MAX_TOKENS = 768
DEFAULT_TOP_K = 4


@dataclass
class Rejection:
    """A program (or a reply) that did not make it, and why."""

    sample: int
    stage: str  # "reply" | "duplicate" | "validate" | "dry_run"
    reason: str
    source: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample": self.sample,
            "stage": self.stage,
            "reason": self.reason,
            "source": self.source,
            **({"detail": self.detail} if self.detail else {}),
        }


@dataclass
class SynthResult:
    task: str
    mode: str
    model: str
    provider: str
    accepted: list[LabelerSpec] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    commit: str | None = None
    stopped: str | None = None  # "budget" when the budget guard ended the run early
    error: str | None = None  # the provider error that ended the run, if any
    resumed: int = 0  # samples skipped because an earlier, interrupted run did them

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "mode": self.mode,
            "model": self.model,
            "provider": self.provider,
            "accepted": [
                {
                    "id": lf.id,
                    "sample": lf.metadata.get("sample"),
                    "prior_kind": lf.metadata.get("prior_kind"),
                    "cost_usd": lf.metadata.get("cost_usd"),
                    "source": lf.source,
                }
                for lf in self.accepted
            ],
            "rejected": [r.to_dict() for r in self.rejected],
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 8),
            "calls": self.calls,
            "commit": self.commit,
            "stopped": self.stopped,
            "error": self.error,
            "resumed": self.resumed,
        }


# ---------------------------------------------------------------- planning


@dataclass
class PlannedCall:
    """One API call a run will make: what :func:`plan_prompts` shows and recordings key."""

    kind: str  # "prior" | "code"
    sample: int | None  # program index for code calls
    seed: int
    model: str
    messages: list[dict[str, str]]
    template_id: str
    prior_kind: str | None = None
    passages: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Planner:
    """Renders the prompts of a run; shared by synthesis, --print-prompts and recordings."""

    def __init__(
        self,
        task: TaskSpec,
        *,
        mode: str,
        model: str,
        prior: str | None,
        prior_model: str | None,
        mission: str | None,
        prior_query: str | None,
        kb: KnowledgeBase | None,
        top_k: int,
    ) -> None:
        if mode not in MODES:
            raise TaskError(f"unknown mode {mode!r}: choose {', '.join(MODES)}")
        if mode != "scriptorium":
            prior = prior or "all"
            if prior not in PRIOR_CHOICES:
                raise TaskError(f"unknown --prior {prior!r}: choose {', '.join(PRIOR_CHOICES)}")
        if mode == "alchemist-rag" and kb is None:
            raise TaskError("mode alchemist-rag needs documents: pass --kb PATH")
        if mode != "alchemist-rag" and kb is not None:
            raise TaskError(f"--kb is only used by --mode alchemist-rag (this run is {mode})")
        if mode == "scriptorium" and (prior or prior_model or prior_query):
            raise TaskError("--prior, --prior-model and --prior-query need --mode alchemist "
                            "or alchemist-rag; scriptorium writes no prior knowledge")
        self.task, self.mode, self.model = task, mode, model
        self.prior = prior if mode != "scriptorium" else None
        self.prior_model = prior_model or model
        self.mission, self.prior_query, self.kb, self.top_k = mission, prior_query, kb, top_k
        self.values = prompts.task_values(task, mission)

    def kind(self, sample: int) -> str | None:
        if self.prior is None:
            return None
        if self.prior == "all":
            return prompts.PRIOR_KINDS[sample % len(prompts.PRIOR_KINDS)]
        return self.prior

    def prior_call(self, kind: str) -> PlannedCall:
        query = prompts.prior_query(kind, self.task, self.prior_query)
        seed = prompts.PRIOR_KINDS.index(kind)
        if self.mode == "alchemist-rag":
            assert self.kb is not None
            found = self.kb.retrieve(f"{self.values['mission']} {query}", k=self.top_k)
            block = "\n\n".join(f"[{j + 1}] ({p.source}) {p.text}" for j, p in enumerate(found))
            tpl = prompts.template("rag_prior")
            msgs = tpl.render(**self.values, query=query, passages=block)
            return PlannedCall("prior", None, seed, self.prior_model, msgs, tpl.id, kind,
                               [p.to_dict() for p in found])
        tpl = prompts.template("prior")
        msgs = tpl.render(**self.values, query=query)
        return PlannedCall("prior", None, seed, self.prior_model, msgs, tpl.id, kind)

    def code_call(self, sample: int, prior_text: str | None) -> PlannedCall:
        kind = self.kind(sample)
        hint = prompts.diversity_hint(sample)
        if kind is None:
            tpl = prompts.template("scriptorium")
            msgs = tpl.render(**self.values, diversity=hint)
        else:
            tpl = prompts.template("alchemist")
            label = kind + (", from the user's documents" if self.mode == "alchemist-rag" else "")
            msgs = tpl.render(**self.values, diversity=hint, prior_kind=label,
                              prior=(prior_text or "").strip())
        return PlannedCall("code", sample, sample, self.model, msgs, tpl.id, kind)


def plan_prompts(
    task: TaskSpec,
    *,
    mode: str = "scriptorium",
    model: str,
    n: int,
    prior: str | None = None,
    prior_model: str | None = None,
    mission: str | None = None,
    prior_query: str | None = None,
    kb: KnowledgeBase | None = None,
    top_k: int = DEFAULT_TOP_K,
    priors: dict[str, str] | None = None,
) -> list[PlannedCall]:
    """The exact calls a run will make, in order. Code prompts of the alchemist modes
    embed the prior call's reply: pass it in ``priors`` (kind -> text), else a
    placeholder ``<reply to the KIND prior call>`` stands in."""
    plan = _Planner(task, mode=mode, model=model, prior=prior, prior_model=prior_model,
                    mission=mission, prior_query=prior_query, kb=kb, top_k=top_k)
    calls: list[PlannedCall] = []
    seen: set[str] = set()
    for i in range(n):
        kind = plan.kind(i)
        if kind is not None and kind not in seen:
            seen.add(kind)
            calls.append(plan.prior_call(kind))
        text = None if kind is None else (priors or {}).get(kind, f"<reply to the {kind} prior call>")
        calls.append(plan.code_call(i, text))
    return calls


# ---------------------------------------------------------------- checking


class _Checker:
    """dedupe -> validate -> dry run for candidate programs; collects reasons."""

    def __init__(
        self,
        task: TaskSpec,
        *,
        sample_texts: Sequence[str],
        runner: Runner | None,
        registry: Any,
    ) -> None:
        self.task = task
        self.sample_texts = list(sample_texts)
        self.runner = runner
        self.registry = registry
        self.seen: dict[str, str] = {}  # normalized hash -> labeler id (or "sample N")
        self.taken: set[str] = set()
        if registry is not None:
            for lf in registry.labelers(task=task.name, include_disabled=True):
                self.seen[normalized_hash(lf.source)] = lf.id
                self.taken.add(lf.id)

    def check(
        self, source: str, sample: int, *, dry: bool = True
    ) -> tuple[LabelerSpec | None, Rejection | None, dict[str, Any]]:
        """Dedupe and validate ``source``; dry-run it too unless ``dry`` is False (the
        caller then dry-runs a batch with :meth:`dry_run_batch`)."""
        from ..sandbox import dry_run, get_runner, validate

        h = normalized_hash(source)
        if h in self.seen:
            return None, Rejection(
                sample, "duplicate",
                f"duplicate of {self.seen[h]} (same program modulo formatting and local names)",
                source,
            ), {}
        report = validate(source)
        vdict = report.to_dict()
        if not report.ok:
            self.seen[h] = f"rejected sample {sample}"
            return None, Rejection(sample, "validate", report.summary(), source, {"validation": vdict}), vdict
        if self.registry is not None:
            lid = self.registry.new_id(self.task.name, source, self.taken)
        else:
            lid = f"{self.task.name}-{h[:8]}"
        spec = LabelerSpec(id=lid, task=self.task.name, source=source)
        if dry and self.sample_texts:
            if self.runner is None:
                self.runner = get_runner(None)
            reason = dry_run(spec, self.sample_texts, cardinality=self.task.cardinality, runner=self.runner)
            if reason is not None:
                self.seen[h] = f"rejected sample {sample}"
                return None, Rejection(sample, "dry_run", reason, source, {"validation": vdict}), vdict
        self.seen[h] = lid
        self.taken.add(lid)
        spec.metadata["normalized_hash"] = h
        return spec, None, vdict

    def dry_run_batch(self, specs: Sequence[LabelerSpec]) -> dict[str, str | None]:
        """Run every program on the sample in ONE sandbox apply (one worker start, not
        one per program); the supervisor isolates faults per labeler, so one bad program
        cannot change another's verdict. id -> None (clean) or the reason."""
        if not specs or not self.sample_texts:
            return {s.id: None for s in specs}
        import pyarrow as pa

        from ..sandbox import get_runner

        if self.runner is None:
            self.runner = get_runner(None)
        res = self.runner.apply(list(specs), pa.array(self.sample_texts, pa.large_string()),
                                cardinality=self.task.cardinality, lower=False)
        out: dict[str, str | None] = {}
        for spec in specs:
            fault = res.faults.get(spec.id)
            out[spec.id] = None if fault is None else (
                f"{fault.first_error} ({fault.count} faults on {len(self.sample_texts)} sample rows)")
            if fault is not None:
                self.seen[spec.metadata["normalized_hash"]] = f"{spec.id} (which failed its dry run)"
        return out


# ---------------------------------------------------------------- the run


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def synthesize(
    task: TaskSpec,
    *,
    provider: Provider,
    model: str,
    mode: str = "scriptorium",
    n: int = 5,
    prior: str | None = None,
    prior_model: str | None = None,
    kb: KnowledgeBase | None = None,
    sample_texts: Sequence[str] = (),
    runner: Runner | None = None,
    registry: Any = None,
    budget_usd: float | None = None,
    prices: PriceTable | None = None,
    mission: str | None = None,
    prior_query: str | None = None,
    temperature: float = DEFAULT_TEMPERATURE,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    prior_max_tokens: int = PRIOR_MAX_TOKENS,
    top_k: int = DEFAULT_TOP_K,
    state_dir: Path | None = None,
    ledger: Path | None = None,
    concurrency: int = 1,
    log: Callable[[str], None] | None = None,
) -> SynthResult:
    """Write ``n`` labelers for ``task`` with ``provider``/``model``; commit the accepted ones once.

    ``registry`` is a :class:`store.LabelerRegistry` (``None``: nothing is committed).
    ``sample_texts`` is the dry-run sample (empty: no dry run). ``runner`` is the sandbox
    runner for dry runs (default: the strongest available). ``concurrency`` code calls
    are in flight at once (prior calls are made first, one per kind).
    """
    say = log or (lambda _m: None)
    if n < 1:
        raise TaskError("-n must be at least 1")
    plan = _Planner(task, mode=mode, model=model, prior=prior, prior_model=prior_model,
                    mission=mission, prior_query=prior_query, kb=kb, top_k=top_k)
    prices = prices or PriceTable.load()
    budget = Budget(budget_usd, prices)
    pname = getattr(provider, "name", type(provider).__name__)
    result = SynthResult(task=task.name, mode=mode, model=model, provider=pname)
    checker = _Checker(task, sample_texts=sample_texts, runner=runner, registry=registry)

    fp = _fingerprint(task.name, mode, model, plan.prior_model, plan.prior, n, mission, prior_query,
                      kb.fingerprint if kb is not None else None, temperature)
    state_path = state_dir / f"synth-{fp}.json" if state_dir is not None else None
    state: dict[str, Any] = {"done": [], "priors": {}}
    if state_path is not None and state_path.exists():
        state = json.loads(state_path.read_text(encoding="utf-8"))
        result.resumed = len(state["done"])
        say(f"continuing an interrupted run: {result.resumed} of {n} samples already done")

    priors: dict[str, dict[str, Any]] = state["priors"]

    def call(pc: PlannedCall, max_tok: int) -> tuple[Completion, float | None]:
        budget.check(pc.model, pc.messages, max_tok)
        done = provider.complete(pc.messages, model=pc.model, temperature=temperature,
                                 max_tokens=max_tok, seed=pc.seed)
        return done, account(pc, done, max_tok)

    def account(pc: PlannedCall, done: Completion, max_tok: int = max_tokens) -> float | None:
        cost = prices.cost(done.model, done.input_tokens, done.output_tokens)
        if cost is None:
            cost = prices.cost(pc.model, done.input_tokens, done.output_tokens)
        if done.usage_estimated:  # no usage from the server: count the worst case
            budget.add(budget.worst(pc.model, pc.messages, max_tok))
        else:
            budget.add(cost)
        result.calls += 1
        result.input_tokens += done.input_tokens
        result.output_tokens += done.output_tokens
        result.cost_usd += cost or 0.0
        return cost

    def get_prior(kind: str) -> dict[str, Any]:
        if kind not in priors:
            pc = plan.prior_call(kind)
            done, cost = call(pc, prior_max_tokens)
            priors[kind] = {
                "text": done.text, "template_id": pc.template_id, "model": done.model,
                "input_tokens": done.input_tokens, "output_tokens": done.output_tokens,
                "cost_usd": cost, "passages": pc.passages, "prompt": pc.messages,
            }
            say(f"prior knowledge ({kind}) from {done.model}: {done.output_tokens} tokens")
        return priors[kind]

    pending: list[LabelerSpec] = []  # validated, awaiting the batched dry run

    def process(i: int, pc: PlannedCall, pri: dict[str, Any] | None, done: Completion,
                cost: float | None) -> None:
        found = extract_programs(done.text)
        if not found:
            result.rejected.append(Rejection(i, "reply", "the reply contains no Python code "
                                             "defining label_function", done.text[:2000]))
        for source in found:
            spec, rej, vdict = checker.check(source, i, dry=False)
            if rej is not None:
                result.rejected.append(rej)
                continue
            assert spec is not None
            spec.metadata.update({
                "task": task.name, "mode": mode, "prior_kind": pc.prior_kind,
                "prompt": pc.messages, "template_id": pc.template_id,
                "prior": ({k: pri[k] for k in ("text", "template_id", "model", "cost_usd")}
                          if pri else None),
                "passages": pri["passages"] if pri else [],
                "provider": pname, "model": done.model, "temperature": temperature,
                "seed": pc.seed, "sample": i,
                "input_tokens": done.input_tokens, "output_tokens": done.output_tokens,
                "cost_usd": cost, "price_known": cost is not None,
                "usage_estimated": done.usage_estimated,
                "created": _now(), "validation": vdict, "parent": None,
                "run": fp,
            })
            pending.append(spec)
        state["done"].append(i)
        say(f"sample {i}: {len(found)} program(s); {len(pending)} passed validation so far")

    todo = [i for i in range(n) if i not in state["done"]]
    try:
        # Windows of `concurrency` code calls in flight; replies are processed in sample
        # order, so ids, dedupe and the commit do not depend on which call returns first.
        for start in range(0, len(todo), max(1, concurrency)):
            window = []
            for i in todo[start:start + max(1, concurrency)]:
                kind = plan.kind(i)
                pri = get_prior(kind) if kind is not None else None
                window.append((i, plan.code_call(i, pri["text"] if pri else None), pri))
            reserved = 0.0
            fits = []
            over: BudgetExceeded | None = None
            for item in window:  # reserve each call's worst case before any is sent
                try:
                    reserved += budget.check(item[1].model, item[1].messages, max_tokens,
                                             reserved=reserved)
                except BudgetExceeded as exc:
                    over = exc
                    break
                fits.append(item)
            outcomes = complete_many(
                provider, [(pc.messages, pc.model, pc.seed) for _, pc, _ in fits],
                temperature=temperature, max_tokens=max_tokens, concurrency=concurrency)
            failure: ProviderError | None = None
            for (i, pc, pri), out in zip(fits, outcomes, strict=True):
                if isinstance(out, ProviderError):
                    failure = failure or out
                    continue
                process(i, pc, pri, out, account(pc, out))
            if failure is not None:
                raise failure
            if over is not None:
                raise over
    except BudgetExceeded as exc:
        result.stopped = "budget"
        result.error = None
        say(f"stopped: {exc}")
    except ProviderError as exc:
        result.error = str(exc)
        say(f"provider error, committing what was received: {exc}")
    finally:
        _settle(result, checker, pending, state, say)
        _finish(result, registry, state_path, state, n, ledger)
    return result


def _settle(result: SynthResult, checker: _Checker, pending: list[LabelerSpec],
            state: dict[str, Any], say: Callable[[str], None]) -> None:
    """Dry-run the validated programs in one batch; accept the clean ones."""
    from ..labelers import AlchemistError

    try:
        verdicts = checker.dry_run_batch(pending)
    except AlchemistError as exc:
        # Machinery fault: commit nothing unverified, and let a rerun redo these samples.
        undone = {lf.metadata["sample"] for lf in pending}
        state["done"] = [i for i in state["done"] if i not in undone]
        result.error = f"dry run could not run: {exc}"
        say(result.error)
        return
    for lf in pending:
        reason = verdicts[lf.id]
        if reason is None:
            result.accepted.append(lf)
        else:
            result.rejected.append(Rejection(lf.metadata["sample"], "dry_run", reason, lf.source,
                                             {"validation": lf.metadata["validation"]}))
    result.rejected.sort(key=lambda r: r.sample)


def _finish(result: SynthResult, registry: Any, state_path: Path | None, state: dict[str, Any],
            n: int, ledger: Path | None) -> None:
    if result.accepted and registry is not None:
        cost = f"${result.cost_usd:.4f}"
        msg = (f"synth {result.task}: mode {result.mode}, model {result.model} ({result.provider}), "
               f"{len(result.accepted)} accepted, {len(result.rejected)} rejected, cost {cost}"
               f" ({result.input_tokens}+{result.output_tokens} tokens)"
               + (f"; stopped early: {result.stopped or result.error}" if result.stopped or result.error else ""))
        result.commit = registry.commit(result.accepted, msg)
    if state_path is not None:
        unfinished = result.error is not None or result.stopped is not None
        if unfinished and len(state["done"]) < n:
            state_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = state_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state), encoding="utf-8")
            os.replace(tmp, state_path)
        elif state_path.exists():
            state_path.unlink()
    if ledger is not None and result.calls:
        append_spend(ledger, {
            "kind": "synth", "task": result.task, "mode": result.mode, "model": result.model,
            "provider": result.provider, "calls": result.calls,
            "input_tokens": result.input_tokens, "output_tokens": result.output_tokens,
            "cost_usd": result.cost_usd, "accepted": len(result.accepted),
            "rejected": len(result.rejected), "commit": result.commit,
        })


# ---------------------------------------------------------------- recordings for demos


class _Scripted:
    """A provider answering from given texts, token usage estimated (for recordings)."""

    name = "scripted"

    def __init__(self, replies: dict[str, str], model: str) -> None:
        self.replies = replies
        self.model = model

    def complete(self, messages: list[dict[str, str]], *, model: str, temperature: float,
                 max_tokens: int, seed: int | None) -> Completion:
        from .providers import recording_key

        text = self.replies[recording_key(model, messages, seed)]
        tin = sum(estimate_tokens(m["content"]) + 4 for m in messages) + 3
        return Completion(text, tin, estimate_tokens(text), model, "scripted")


def write_recordings(
    path: str | Path,
    task: TaskSpec,
    code_replies: Sequence[str],
    *,
    model: str,
    mode: str = "scriptorium",
    prior: str | None = None,
    prior_replies: dict[str, str] | None = None,
    prior_model: str | None = None,
    mission: str | None = None,
    prior_query: str | None = None,
    kb: KnowledgeBase | None = None,
    top_k: int = DEFAULT_TOP_K,
) -> Path:
    """Write a replay recordings file in which program ``i`` of the run is ``code_replies[i]``.

    Token usage is estimated (ceil(chars/4) per message + 4, +3 per prompt; reply
    ceil(chars/4)), as documented in docs/synthesis.md. The run must then be made with
    the same task, mode, model, n = len(code_replies), prior and mission.
    """
    from .providers import recording_key

    calls = plan_prompts(task, mode=mode, model=model, n=len(code_replies), prior=prior,
                         prior_model=prior_model, mission=mission, prior_query=prior_query,
                         kb=kb, top_k=top_k, priors=prior_replies)
    table: dict[str, str] = {}
    for c in calls:
        if c.kind == "prior":
            assert c.prior_kind is not None
            if not prior_replies or c.prior_kind not in prior_replies:
                raise TaskError(f"write_recordings: no prior reply for kind {c.prior_kind!r}")
            table[recording_key(c.model, c.messages, c.seed)] = prior_replies[c.prior_kind]
        else:
            assert c.sample is not None
            table[recording_key(c.model, c.messages, c.seed)] = code_replies[c.sample]
    out = Path(path)
    if out.exists():
        out.unlink()
    rec = RecordProvider(_Scripted(table, model), out)
    for c in calls:
        rec.complete(c.messages, model=c.model, temperature=0.0, max_tokens=1, seed=c.seed)
    return out


# ---------------------------------------------------------------- refinement


@dataclass
class DevScore:
    rows: int
    coverage: float
    accuracy: float | None
    mistakes: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def score_on_dev(labeler: LabelerSpec, texts: Sequence[str], labels: Sequence[int], *,
                 cardinality: int, runner: Runner, max_mistakes: int = 5) -> DevScore:
    """Coverage and accuracy (on the rows it votes on) of one labeler, run in the sandbox."""
    import pyarrow as pa

    res = runner.apply([labeler], pa.array(list(texts), pa.string()), cardinality=cardinality)
    votes = [int(v) for v in res.matrix[:, 0]]
    voted = [(v, y, t) for v, y, t in zip(votes, labels, texts, strict=True) if v != ABSTAIN]
    right = sum(1 for v, y, _ in voted if v == y)
    wrong = [{"text": t[:500], "vote": v, "label": y} for v, y, t in voted if v != y]
    return DevScore(
        rows=len(votes),
        coverage=len(voted) / len(votes) if votes else 0.0,
        accuracy=right / len(voted) if voted else None,
        mistakes=wrong[:max_mistakes],
    )


def refine(
    task: TaskSpec,
    labeler: LabelerSpec,
    dev_texts: Sequence[str],
    dev_labels: Sequence[int],
    *,
    provider: Provider,
    model: str,
    runner: Runner,
    registry: Any = None,
    budget_usd: float | None = None,
    prices: PriceTable | None = None,
    mission: str | None = None,
    temperature: float = 0.2,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    ledger: Path | None = None,
) -> SynthResult:
    """Show the model ``labeler`` with its dev-set accuracy, coverage and mistakes; commit
    the improved program as a child version (``parent`` in its metadata)."""
    prices = prices or PriceTable.load()
    pname = getattr(provider, "name", type(provider).__name__)
    result = SynthResult(task=task.name, mode="refine", model=model, provider=pname)
    pairs = [(t, int(y)) for t, y in zip(dev_texts, dev_labels, strict=True) if int(y) >= 0]
    if not pairs:
        raise TaskError("the dev set has no labeled rows (label >= 0): refine needs gold labels")
    texts = [t for t, _ in pairs]
    labels = [y for _, y in pairs]
    before = score_on_dev(labeler, texts, labels, cardinality=task.cardinality, runner=runner)
    names = task.classes
    mistakes = "\n".join(
        f"- [{names.get(m['label'], m['label'])}; it returned {m['vote']}] {m['text']!r}"
        for m in before.mistakes
    ) or "(none: improve coverage without losing accuracy)"
    tpl = prompts.template("refine")
    msgs = tpl.render(**prompts.task_values(task, mission), source=labeler.source.strip(),
                      dev_rows=before.rows, coverage=f"{before.coverage:.1%}",
                      accuracy="n/a" if before.accuracy is None else f"{before.accuracy:.1%}",
                      mistakes=mistakes)
    budget = Budget(budget_usd, prices)
    checker = _Checker(task, sample_texts=texts[:200], runner=runner, registry=registry)
    try:
        budget.check(model, msgs, max_tokens)
        done = provider.complete(msgs, model=model, temperature=temperature,
                                 max_tokens=max_tokens, seed=0)
    except BudgetExceeded as exc:
        result.stopped = "budget"
        result.error = str(exc)
        return result
    cost = prices.cost(done.model, done.input_tokens, done.output_tokens)
    if cost is None:
        cost = prices.cost(model, done.input_tokens, done.output_tokens)
    result.calls, result.input_tokens, result.output_tokens = 1, done.input_tokens, done.output_tokens
    result.cost_usd = cost or 0.0
    found = extract_programs(done.text)
    if not found:
        result.rejected.append(Rejection(0, "reply", "the reply contains no Python code defining "
                                         "label_function", done.text[:2000]))
    for source in found[:1]:
        spec, rej, vdict = checker.check(source, 0)
        if rej is not None:
            result.rejected.append(rej)
            continue
        assert spec is not None
        after = score_on_dev(spec, texts, labels, cardinality=task.cardinality, runner=runner)
        spec.metadata.update({
            "task": task.name, "mode": "refine", "prior_kind": None,
            "prompt": msgs, "template_id": tpl.id, "prior": None, "passages": [],
            "provider": pname, "model": done.model, "temperature": temperature, "seed": 0,
            "sample": 0, "input_tokens": done.input_tokens, "output_tokens": done.output_tokens,
            "cost_usd": cost, "price_known": cost is not None, "created": _now(),
            "validation": vdict, "parent": labeler.id, "parent_hash": labeler.content_hash,
            "dev_before": before.to_dict(), "dev_after": after.to_dict(),
        })
        result.accepted.append(spec)
    if result.accepted and registry is not None:
        child = result.accepted[0]
        b, a = before.accuracy, child.metadata["dev_after"]["accuracy"]
        result.commit = registry.commit(
            result.accepted,
            f"refine {labeler.id} -> {child.id} ({model}, {pname}): dev accuracy "
            f"{'n/a' if b is None else f'{b:.3f}'} -> {'n/a' if a is None else f'{a:.3f}'}, "
            f"coverage {before.coverage:.3f} -> {child.metadata['dev_after']['coverage']:.3f}, "
            f"cost ${result.cost_usd:.4f}",
        )
    if ledger is not None:
        append_spend(ledger, {
            "kind": "refine", "task": task.name, "mode": "refine", "model": model,
            "provider": pname, "calls": 1, "input_tokens": result.input_tokens,
            "output_tokens": result.output_tokens, "cost_usd": result.cost_usd,
            "accepted": len(result.accepted), "rejected": len(result.rejected),
            "commit": result.commit,
        })
    return result


# ---------------------------------------------------------------- workspace glue

#: Rows of the data the dry run executes every program on (deterministic stride sample).
DRY_RUN_ROWS = 200


def dry_run_sample(table: Any, k: int = DRY_RUN_ROWS) -> list[str]:
    """Up to ``k`` texts spread over the train split (all rows if there is no train split)."""
    texts = table["text"].to_pylist()
    splits = table["split"].to_pylist()
    pool = [t for t, s in zip(texts, splits, strict=True) if s == "train"] or texts
    step = max(1, len(pool) // k)
    return pool[::step][:k]


def workspace_synth(
    ws: Any,
    *,
    task: str | None,
    data: str | Path | None,
    provider: str,
    model: str,
    mode: str = "scriptorium",
    n: int = 5,
    prior: str | None = None,
    prior_model: str | None = None,
    base_url: str | None = None,
    recordings: str | Path | None = None,
    record_provider: str | None = None,
    budget_usd: float | None = None,
    kb: str | Path | None = None,
    refine_labeler: str | None = None,
    dev: str | Path | None = None,
    mission: str | None = None,
    prior_query: str | None = None,
    runner: str | None = None,
    prices: str | Path | None = None,
    temperature: float = DEFAULT_TEMPERATURE,
    top_k: int = DEFAULT_TOP_K,
    concurrency: int = 4,
    log: Callable[[str], None] | None = None,
) -> SynthResult:
    """``Workspace.synth``: resolve names and paths, then :func:`synthesize` or :func:`refine`."""
    from ..sandbox import get_runner
    from .data import load_dataset
    from .providers import get_provider

    spec = ws.task(task, data)
    table = load_dataset(data, task=spec) if data is not None else None
    price_table = PriceTable.load(prices)
    prov = get_provider(provider, base_url=base_url, recordings=recordings,
                        record_provider=record_provider)
    run = get_runner(runner)
    ledger = ws.root / "spend.jsonl"
    if refine_labeler is not None:
        if dev is None:
            raise TaskError("--refine needs --dev PATH: a small labeled dev set")
        found = [lf for lf in ws.registry.labelers(task=spec.name, include_disabled=True)
                 if lf.id == refine_labeler]
        if not found:
            raise TaskError(f"no labeler {refine_labeler!r} for task {spec.name!r} in the registry "
                            "(see `alchemist-engine labelers`)")
        dev_table = load_dataset(dev, task=spec)
        return refine(spec, found[0], dev_table["text"].to_pylist(), dev_table["label"].to_pylist(),
                      provider=prov, model=model, runner=run, registry=ws.registry,
                      budget_usd=budget_usd, prices=price_table, mission=mission, ledger=ledger)
    if table is None:
        raise TaskError("synth needs --data PATH: programs are dry-run on a sample of it")
    knowledge = None
    if kb is not None:
        from .rag import KnowledgeBase

        knowledge = KnowledgeBase.build(kb, cache_dir=ws.root / "kb")
    return synthesize(
        spec, provider=prov, model=model, mode=mode, n=n, prior=prior, prior_model=prior_model,
        kb=knowledge, sample_texts=dry_run_sample(table), runner=run, registry=ws.registry,
        budget_usd=budget_usd, prices=price_table, mission=mission, prior_query=prior_query,
        temperature=temperature, top_k=top_k, state_dir=ws.root / "synth-state", ledger=ledger,
        concurrency=concurrency, log=log,
    )


def workspace_plan(
    ws: Any,
    *,
    task: str | None,
    data: str | Path | None = None,
    model: str,
    mode: str = "scriptorium",
    n: int = 5,
    prior: str | None = None,
    prior_model: str | None = None,
    kb: str | Path | None = None,
    mission: str | None = None,
    prior_query: str | None = None,
    top_k: int = DEFAULT_TOP_K,
) -> list[PlannedCall]:
    """``synth --print-prompts``: the calls a run would make, without making any."""
    spec = ws.task(task, data)
    knowledge = None
    if kb is not None:
        from .rag import KnowledgeBase

        knowledge = KnowledgeBase.build(kb, cache_dir=ws.root / "kb")
    return plan_prompts(spec, mode=mode, model=model, n=n, prior=prior, prior_model=prior_model,
                        mission=mission, prior_query=prior_query, kb=knowledge, top_k=top_k)
