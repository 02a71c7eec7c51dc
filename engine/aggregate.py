"""Label models: turn an ``n x m`` vote matrix ``L`` (``-1`` = abstain) into ``n x k`` probabilities.

Every model follows one contract (Snorkel's names, scikit-learn's habits):
``fit(L, *, L_dev=None, Y_dev=None)`` returns ``self``; ``predict_proba(L)`` returns
an ``(n, k)`` float array whose rows sum to 1 (rows where every labeler abstains get
the class prior, uniform unless ``Y_dev`` gave one); ``predict(L)`` breaks ties in
those probabilities with WRENCH's rule (``evaluate.tie_break``: the tied class at
``sha1(str(row)) mod n_tied``), so predictions are deterministic and reproduce
WRENCH's published figures.

Models (``LABEL_MODELS``):

* ``mv``      majority vote (WRENCH's ``MajorityVoting``).
* ``wmv``     weighted majority vote: each labeler's vote weighs
              ``log(acc (k-1) / (1 - acc))`` -- its accuracy on the dev set when
              ``Y_dev`` is given, else its agreement with the others' majority.
* ``ds``      Dawid-Skene: one full confusion matrix per labeler, fitted by EM from
              the majority vote.
* ``snorkel`` Snorkel's matrix-completion LabelModel (Ratner et al. 2019), our own
              numpy implementation of the same objective, initialisation, optimiser
              (SGD, momentum 0.9), clamping and symmetry breaking; it agrees with the
              package's predictions and is an order of magnitude faster and leaner
              at 1M rows because it never materialises the ``n x mk`` float64
              indicator matrix (see docs/benchmarks.md, "Label models").
* ``snorkel-lib`` the snorkel package's LabelModel itself, on CUDA when present.
* ``fs``      FlyingSquid-style triplet method (Fu et al. 2020): closed-form labeler
              accuracies from triples of pairwise agreement rates, one-coin model.
* ``auto``    fits every other model on the train votes alone and keeps the one with
              the best dev-set accuracy (never the test split); needs ``Y_dev``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

from ..labelers import ABSTAIN, ModelError
from .evaluate import score_probs, tie_break


def check_label_matrix(L: Any, cardinality: int, *, name: str = "L") -> np.ndarray:
    """``L`` as a C-contiguous int8 matrix (int16 past 127 classes) with values in
    ``{-1, 0..k-1}``, or ModelError. One dtype keeps the numba kernels to one compile."""
    arr = np.asarray(L)
    if arr.ndim != 2:
        raise ModelError(f"{name} must be a 2-D label matrix (rows x labelers), got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.mod(arr, 1) == 0):
            raise ModelError(f"{name} must hold integer votes (-1 = abstain)")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < ABSTAIN or hi >= cardinality:
            raise ModelError(
                f"{name} holds votes in [{lo}, {hi}] but the task has {cardinality} classes: "
                f"votes must be -1 (abstain) or 0..{cardinality - 1}; check the task's --classes"
            )
    dtype = np.int8 if cardinality <= 127 else np.int16
    return np.ascontiguousarray(arr, dtype=dtype)


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; other values pass through."""
    if device != "auto":
        return device
    import torch  # deferred: the numpy models must not pay torch's import and memory

    return "cuda" if torch.cuda.is_available() else "cpu"


@njit(cache=True, nogil=True)
def _vote_counts_kernel(L: np.ndarray, k: int, w: np.ndarray) -> np.ndarray:  # pragma: no cover
    n, m = L.shape
    out = np.zeros((n, k))
    for i in range(n):
        for j in range(m):
            v = L[i, j]
            if v >= 0:
                out[i, v] += w[j]
    return out


@njit(cache=True, nogil=True)
def _log_linear_kernel(L: np.ndarray, tables: np.ndarray, bias: np.ndarray) -> np.ndarray:  # pragma: no cover
    # softmax_c(bias[c] + sum_j tables[j, L[i, j] + 1, c]), fused: one pass, no n x k temporaries
    n, m = L.shape
    k = bias.shape[0]
    out = np.empty((n, k))
    s = np.empty(k)
    for i in range(n):
        for c in range(k):
            s[c] = bias[c]
        for j in range(m):
            o = L[i, j] + 1
            for c in range(k):
                s[c] += tables[j, o, c]
        mx = s[0]
        for c in range(1, k):
            if s[c] > mx:
                mx = s[c]
        z = 0.0
        for c in range(k):
            s[c] = np.exp(s[c] - mx)
            z += s[c]
        for c in range(k):
            out[i, c] = s[c] / z
    return out


@njit(cache=True, nogil=True)
def _cooccurrence_kernel(L: np.ndarray, k: int) -> np.ndarray:  # pragma: no cover
    n, m = L.shape
    C = np.zeros((m * k, m * k), dtype=np.int64)
    idx = np.empty(m, dtype=np.int64)
    for i in range(n):
        t = 0
        for j in range(m):
            v = L[i, j]
            if v >= 0:
                idx[t] = j * k + v
                t += 1
        for a in range(t):
            for b in range(t):
                C[idx[a], idx[b]] += 1
    return C


@njit(cache=True, nogil=True)
def _confusion_kernel(L: np.ndarray, T: np.ndarray) -> np.ndarray:  # pragma: no cover
    # conf[j, o, c] = sum_i T[i, c] * [L[i, j] + 1 == o]   (o = 0 is abstain)
    n, m = L.shape
    k = T.shape[1]
    conf = np.zeros((m, k + 1, k))
    for i in range(n):
        for j in range(m):
            o = L[i, j] + 1
            for c in range(k):
                conf[j, o, c] += T[i, c]
    return conf


@njit(cache=True, nogil=True)
def _loo_agreement_kernel(L: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    # For each labeler: on rows where it votes and some *other* labeler votes too, how
    # often it agrees with the others' majority (a tie among the others counts as
    # 1/n_tied agreement when its class is among the tied ones: expected agreement
    # under a random tie-break).
    n, m = L.shape
    k = counts.shape[1]
    agree = np.zeros(m)
    decided = np.zeros(m)
    for i in range(n):
        for j in range(m):
            v = L[i, j]
            if v < 0:
                continue
            mx = -1.0
            for c in range(k):
                o = counts[i, c] - (1.0 if c == v else 0.0)
                if o > mx:
                    mx = o
            if mx <= 0:
                continue
            n_tied = 0
            for c in range(k):
                if counts[i, c] - (1.0 if c == v else 0.0) == mx:
                    n_tied += 1
            decided[j] += 1.0
            if counts[i, v] - 1.0 == mx:
                agree[j] += 1.0 / n_tied
    return agree, decided


def vote_counts(L: np.ndarray, cardinality: int, weights: np.ndarray | None = None) -> np.ndarray:
    """``(n, k)`` (weighted) number of votes each row received for each class."""
    m = L.shape[1]
    w = np.ones(m, dtype=np.float64) if weights is None else np.asarray(weights, np.float64)
    return _vote_counts_kernel(L, cardinality, w)


def log_linear_proba(L: np.ndarray, tables: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``softmax(bias + sum_j tables[j, L[:, j] + 1, :])`` per row: the posterior of every
    model here that treats labelers as independent given the class.

    ``tables`` is ``(m, k + 1, k)``; row 0 of each labeler's table is its abstain entry
    (zeros for models that ignore abstains).
    """
    return _log_linear_kernel(
        L, np.ascontiguousarray(tables, dtype=np.float64), np.ascontiguousarray(bias, dtype=np.float64)
    )


def cooccurrence(L: np.ndarray, cardinality: int) -> np.ndarray:
    """``C[j*k+a, l*k+b]`` = rows where labeler j voted a and labeler l voted b.

    One pass over the rows touching only the non-abstain votes: no ``n x mk``
    indicator matrix is built (Snorkel's float64 one is 320 MB at 1M x 20, k=2), and
    no BLAS threads (which thrash on a busy machine).
    """
    return _cooccurrence_kernel(L, cardinality).astype(np.float64)


def _class_prior(Y_dev: Any, cardinality: int) -> np.ndarray:
    """Class balance from dev labels (add-one smoothed so no class is impossible), else uniform."""
    if Y_dev is None:
        return np.full(cardinality, 1.0 / cardinality)
    y = np.asarray(Y_dev, dtype=np.int64)
    counts = np.bincount(y[(y >= 0) & (y < cardinality)], minlength=cardinality).astype(float)
    if np.any(counts == 0):
        counts += 1.0
    return counts / counts.sum()


class LabelModel(ABC):
    """Base of every label model; subclasses implement ``_fit`` and ``predict_proba``."""

    name: str = ""

    def __init__(self, cardinality: int, *, seed: int = 0, device: str = "auto") -> None:
        if cardinality < 2:
            raise ModelError(f"a label model needs at least 2 classes, got {cardinality}")
        self.cardinality = cardinality
        self.seed = seed
        self.device = device
        self.n_labelers: int | None = None

    def fit(self, L: Any, *, L_dev: Any = None, Y_dev: Any = None) -> LabelModel:
        L = check_label_matrix(L, self.cardinality)
        if L_dev is not None:
            L_dev = check_label_matrix(L_dev, self.cardinality, name="L_dev")
            if L_dev.shape[1] != L.shape[1]:
                raise ModelError(
                    f"L_dev has {L_dev.shape[1]} labelers but L has {L.shape[1]}: "
                    "apply the same labelers to both splits"
                )
        if Y_dev is not None:
            Y_dev = np.asarray(Y_dev, dtype=np.int64)
            if L_dev is not None and len(Y_dev) != len(L_dev):
                raise ModelError(f"Y_dev has {len(Y_dev)} labels but L_dev has {len(L_dev)} rows")
        self.n_labelers = L.shape[1]
        self._fit(L, L_dev, Y_dev)
        return self

    @abstractmethod
    def _fit(self, L: np.ndarray, L_dev: np.ndarray | None, Y_dev: np.ndarray | None) -> None: ...

    @abstractmethod
    def _predict_proba(self, L: np.ndarray) -> np.ndarray: ...

    def predict_proba(self, L: Any) -> np.ndarray:
        if self.n_labelers is None:
            raise ModelError(f"label model {self.name!r} is not fitted: call fit(L) first")
        L = check_label_matrix(L, self.cardinality)
        if L.shape[1] != self.n_labelers:
            raise ModelError(
                f"label model {self.name!r} was fitted on {self.n_labelers} labelers "
                f"but L has {L.shape[1]}"
            )
        return self._predict_proba(L)

    def predict(self, L: Any) -> np.ndarray:
        """Hard labels; ties broken by WRENCH's deterministic rule (``evaluate.tie_break``)."""
        return tie_break(self.predict_proba(L))

    def params(self) -> dict[str, Any]:
        """What the model learned, as JSON-ready values (for reports)."""
        return {}


class MajorityVote(LabelModel):
    """Each non-abstaining vote counts one; all-abstain rows are uniform (as WRENCH)."""

    name = "mv"

    def _fit(self, L: np.ndarray, L_dev: np.ndarray | None, Y_dev: np.ndarray | None) -> None:
        pass

    def _predict_proba(self, L: np.ndarray) -> np.ndarray:
        counts = vote_counts(L, self.cardinality)
        counts[counts.sum(axis=1) == 0] = 1.0
        return counts / counts.sum(axis=1, keepdims=True)


class _OneCoinModel(LabelModel):
    """Shared posterior of one-coin models: labeler j is right with probability ``acc[j]``.

    ``P(y | votes) ∝ prior[y] * prod_j (acc_j if vote_j == y else (1 - acc_j)/(k - 1))``,
    i.e. a vote for y adds ``log(acc (k-1) / (1 - acc))`` to y's score.
    """

    acc: np.ndarray
    prior: np.ndarray

    def weights(self) -> np.ndarray:
        k = self.cardinality
        acc = np.clip(self.acc, 1e-3, 1 - 1e-3)
        return np.log(acc * (k - 1) / (1 - acc))

    def _predict_proba(self, L: np.ndarray) -> np.ndarray:
        k = self.cardinality
        tables = np.zeros((len(self.acc), k + 1, k))
        for c in range(k):
            tables[:, c + 1, c] = self.weights()
        return log_linear_proba(L, tables, np.log(self.prior))

    def params(self) -> dict[str, Any]:
        return {"accuracies": [float(a) for a in self.acc], "class_prior": self.prior.tolist()}


class WeightedMajorityVote(_OneCoinModel):
    """Votes weighted by labeler accuracy: measured on dev labels, else agreement with the rest."""

    name = "wmv"

    def _fit(self, L: np.ndarray, L_dev: np.ndarray | None, Y_dev: np.ndarray | None) -> None:
        k = self.cardinality
        # The prior stays uniform: the weights already carry the dev information, and a
        # uniform prior keeps wmv a *vote* (all-abstain rows stay ties, as in mv).
        self.prior = np.full(k, 1.0 / k)
        if L_dev is not None and Y_dev is not None:
            voted = L_dev != ABSTAIN
            right = (L_dev == Y_dev[:, None]) & voted
            # Add-one / add-two smoothing: a labeler that never fired on dev gets
            # accuracy 1/2, not 0/0.
            self.acc = (right.sum(0) + 1.0) / (voted.sum(0) + 2.0)
            return
        agree, decided = _loo_agreement_kernel(L, vote_counts(L, k))
        acc = (agree + 1.0) / (decided + 2.0)
        self.acc = acc


class TripletModel(_OneCoinModel):
    """FlyingSquid-style closed form (Fu et al., ICML 2020), generalised to k classes.

    Under the one-coin model with a uniform class prior, two labelers i, j that both
    vote agree with probability ``1/k + (k-1)/k * a_i a_j`` where
    ``a = (k acc - 1)/(k - 1)``. So ``M_ij = (k agree_ij - 1)/(k - 1) = a_i a_j`` and
    for any third labeler l, ``a_i^2 = M_ij M_il / M_jl``: the median over all triples
    gives ``|a_i|``; like FlyingSquid we take the sign that makes labelers better than
    chance. For k=2 this is exactly FlyingSquid's ``E[l_i l_j] = a_i a_j`` on ±1 votes.
    """

    name = "fs"
    #: Pairs co-voting on fewer rows than this give no usable agreement estimate.
    MIN_OVERLAP = 10
    #: Accuracy assumed for a labeler with no usable triple (Snorkel's prec_init).
    DEFAULT_ACC = 0.7

    def _fit(self, L: np.ndarray, L_dev: np.ndarray | None, Y_dev: np.ndarray | None) -> None:
        k = self.cardinality
        m = L.shape[1]
        self.prior = _class_prior(Y_dev, k)
        C = cooccurrence(L, k).reshape(m, k, m, k)
        both = C.sum(axis=(1, 3))
        agree = np.einsum("iaja->ij", C)
        with np.errstate(divide="ignore", invalid="ignore"):
            M = (k * agree / both - 1.0) / (k - 1)
        valid = (both >= self.MIN_OVERLAP) & ~np.eye(m, dtype=bool) & (np.abs(M) > 1e-3)
        acc = np.full(m, self.DEFAULT_ACC)
        for i in range(m):
            js = np.flatnonzero(valid[i])
            if len(js) < 2:
                continue
            jj, ll = np.meshgrid(js, js, indexing="ij")
            pairs = (jj != ll) & valid[jj, ll]
            if not pairs.any():
                continue
            est = M[i, jj[pairs]] * M[i, ll[pairs]] / M[jj[pairs], ll[pairs]]
            a = float(np.sqrt(np.clip(np.median(est), 0.0, 1.0)))
            acc[i] = (1.0 + (k - 1) * a) / k
        self.acc = np.clip(acc, 1.0 / k + 1e-3, 0.999)


class DawidSkene(LabelModel):
    """Dawid & Skene (1979): a confusion matrix per labeler, fitted by EM (as WRENCH).

    ``P(labeler j outputs o | Y = c)`` for ``o`` in ``{abstain, 0..k-1}``: abstaining
    is an observed outcome, which is what lets unipolar labelers (keyword rules that
    only ever vote one class) inform the other classes. Starts from majority-vote
    posteriors; M-step then E-step until the class marginals and confusion entries
    move less than ``TOL`` in total.
    """

    name = "ds"
    MAX_ITER = 1000
    TOL = 1e-5
    #: Floor under confusion entries before the log: WRENCH multiplies probabilities,
    #: where an unseen outcome is a hard zero; a tiny floor keeps rows normalisable.
    FLOOR = 1e-300

    def _fit(self, L: np.ndarray, L_dev: np.ndarray | None, Y_dev: np.ndarray | None) -> None:
        k = self.cardinality
        n, m = L.shape
        if n == 0:
            raise ModelError("cannot fit Dawid-Skene on an empty label matrix")
        T = MajorityVote(k).fit(L)._predict_proba(L)
        old: tuple[np.ndarray, np.ndarray] | None = None
        self.n_iter = 0
        for it in range(self.MAX_ITER):
            prior = T.sum(axis=0) / n
            conf = _confusion_kernel(L, T)  # then normalised: conf[j, o, c] = P(output o | y = c)
            totals = conf.sum(axis=1, keepdims=True)
            conf = np.divide(conf, totals, out=np.zeros_like(conf), where=totals != 0)
            self.prior = prior
            self.log_tables = np.log(np.maximum(conf, self.FLOOR))
            T = self._predict_proba(L)
            self.n_iter = it + 1
            if old is not None:
                moved = np.abs(prior - old[0]).sum() + np.abs(conf - old[1]).sum()
                if moved < self.TOL:
                    break
            old = (prior, conf)
        self.conf = conf

    def _predict_proba(self, L: np.ndarray) -> np.ndarray:
        prior = np.maximum(self.prior, self.FLOOR)
        return log_linear_proba(L, self.log_tables, np.log(prior))

    def params(self) -> dict[str, Any]:
        k = self.cardinality
        acc = []
        for cj in self.conf:
            voted = cj[1:] * self.prior  # joint P(vote o, y=c) among non-abstain outputs
            acc.append(float(np.trace(voted) / voted.sum()) if voted.sum() > 0 else 1.0 / k)
        return {"class_prior": self.prior.tolist(), "accuracies": acc, "em_iterations": self.n_iter}


class SnorkelModel(LabelModel):
    """Snorkel's LabelModel objective (Ratner et al., AAAI 2019), in numpy.

    Learns ``mu[j*k + a, y] = P(labeler j votes a | Y = y)`` so that the masked
    second moments ``O = E[A^T A]`` of the one-hot votes match ``mu P mu^T`` and the
    first moments match ``mu P 1``; exactly Snorkel's ``_loss_mu`` with analytic
    gradients, its ``prec_init`` initialisation (scaled by the seed's first uniform
    draw, as Snorkel does), SGD with momentum 0.9, the final clamp to
    ``[mu_eps, 1 - mu_eps]`` and the permutation-symmetry break. The statistics are
    a ``mk x mk`` matrix, so after one chunked pass over L the fit costs nothing in n.
    """

    name = "snorkel"

    def __init__(
        self,
        cardinality: int,
        *,
        seed: int = 0,
        device: str = "auto",
        n_epochs: int = 500,
        lr: float = 0.01,
        l2: float = 0.0,
        momentum: float = 0.9,
        prec_init: float = 0.7,
    ) -> None:
        super().__init__(cardinality, seed=seed, device=device)
        self.n_epochs = n_epochs
        self.lr = lr
        self.l2 = l2
        self.momentum = momentum
        self.prec_init = prec_init

    def _fit(self, L: np.ndarray, L_dev: np.ndarray | None, Y_dev: np.ndarray | None) -> None:
        from scipy.optimize import linear_sum_assignment

        n, m = L.shape
        k = self.cardinality
        if m < 3:
            raise ModelError(
                f"the snorkel label model needs at least 3 labelers, got {m}: use mv or wmv"
            )
        if n == 0:
            raise ModelError("cannot fit the snorkel label model on an empty label matrix")
        d = m * k
        p = _class_prior(Y_dev, k) if Y_dev is not None else np.full(k, 1.0 / k)
        moments = cooccurrence(L, k) / n
        mask = np.ones((d, d), dtype=bool)
        for j in range(m):
            mask[j * k : (j + 1) * k, j * k : (j + 1) * k] = False
        lps = np.diag(moments)
        mu_init = np.zeros((d, k))
        for j in range(m):
            for y in range(k):
                mu_init[j * k + y, y] = np.clip(lps[j * k + y] * self.prec_init / p[y], 0, 1)
        mu = mu_init * np.random.RandomState(self.seed).random_sample()
        buf = np.zeros_like(mu)
        diag_O = np.diag(moments).copy()
        for epoch in range(self.n_epochs):
            muP = mu * p  # mu @ diag(p)
            R = np.where(mask, moments - muP @ mu.T, 0.0)
            r = muP.sum(axis=1) - diag_O
            grad = -4.0 * (R @ muP) + 2.0 * r[:, None] * p[None, :]
            if self.l2:
                grad += 2.0 * self.l2 * (mu - mu_init) + self.l2 * mu
            # torch.optim.SGD with momentum, dampening 0: the buffer starts at the first grad
            buf = grad if epoch == 0 else self.momentum * buf + grad
            mu = mu - self.lr * buf
            if not np.all(np.isfinite(mu)):
                raise ModelError(
                    "the snorkel label model diverged (non-finite parameters): lower its learning rate"
                )
        mu_eps = min(0.01, 1 / 10 ** np.ceil(np.log10(n)))
        mu = np.clip(mu, mu_eps, 1 - mu_eps)
        # Break column-permutation symmetry: among classes with equal prior, pick the
        # assignment under which labelers are most often right (Snorkel does this too).
        probs_sum = mu.reshape(m, k, k).sum(axis=0) * p
        Z = np.zeros((k, k))
        groups: dict[float, list[int]] = {}
        for y, f in enumerate(p):
            groups.setdefault(round(float(f), 3), []).append(y)
        for group in groups.values():
            sub = probs_sum[np.ix_(group, group)]
            rows, cols = linear_sum_assignment(-sub.T)
            for a, b in zip(rows, cols, strict=True):
                Z[group[a], group[b]] = 1.0
        self.mu = mu @ Z
        self.p = p
        self.log_tables = np.zeros((m, k + 1, k))
        self.log_tables[:, 1:, :] = np.log(self.mu).reshape(m, k, k)

    def _predict_proba(self, L: np.ndarray) -> np.ndarray:
        return log_linear_proba(L, self.log_tables, np.log(self.p))

    def params(self) -> dict[str, Any]:
        m, k = self.log_tables.shape[0], self.cardinality
        mu = self.mu.reshape(m, k, k)
        # P(vote right | voted), Snorkel's get_weights(): sum_y mu[j,y,y] p_y / P(voted)
        acc = [float(np.sum(np.diag(mu[j]) * self.p) / np.sum(mu[j] * self.p)) for j in range(m)]
        return {"class_prior": self.p.tolist(), "accuracies": acc}


class SnorkelLibModel(LabelModel):
    """The snorkel package's LabelModel (reference implementation); CUDA when present."""

    name = "snorkel-lib"

    def __init__(
        self, cardinality: int, *, seed: int = 0, device: str = "auto", n_epochs: int = 500,
        lr: float = 0.01,
    ) -> None:
        super().__init__(cardinality, seed=seed, device=device)
        self.n_epochs = n_epochs
        self.lr = lr

    def _fit(self, L: np.ndarray, L_dev: np.ndarray | None, Y_dev: np.ndarray | None) -> None:
        from snorkel.labeling.model import LabelModel as _SnorkelLabelModel

        if L.shape[1] < 3:
            raise ModelError(
                f"snorkel's LabelModel needs at least 3 labelers, got {L.shape[1]}: use mv or wmv"
            )
        device = resolve_device(self.device)
        self.model = _SnorkelLabelModel(cardinality=self.cardinality, device=device, verbose=False)
        self.model.fit(
            L.astype(np.int64), Y_dev=Y_dev, n_epochs=self.n_epochs, lr=self.lr, seed=self.seed,
            progress_bar=False,
        )

    def _predict_proba(self, L: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_proba(L.astype(np.int64)), dtype=np.float64)


class AutoModel(LabelModel):
    """Fits each candidate on the train votes alone; keeps the best on (L_dev, Y_dev).

    "Best" is the task's metric (``task.metric``: accuracy, or F1 for tasks such as
    sms where accuracy rewards never predicting spam); accuracy without a task.
    Candidates are fitted without the dev labels so the dev split only judges
    (otherwise wmv, which can learn from dev labels, would be graded on its own
    training data). Ties go to the earlier, simpler candidate.
    """

    name = "auto"
    CANDIDATES = ("mv", "wmv", "ds", "snorkel", "fs")

    def __init__(
        self, cardinality: int, *, seed: int = 0, device: str = "auto", task: Any = None
    ) -> None:
        super().__init__(cardinality, seed=seed, device=device)
        self.task = task

    def _fit(self, L: np.ndarray, L_dev: np.ndarray | None, Y_dev: np.ndarray | None) -> None:
        from ..labelers import TaskSpec

        if L_dev is None or Y_dev is None:
            raise ModelError(
                "label model 'auto' picks by dev-set accuracy and needs L_dev and Y_dev: "
                "give the dataset a labeled valid split, or choose a label model by name"
            )
        task = self.task or TaskSpec(
            name="auto", classes={c: str(c) for c in range(self.cardinality)}, mission=""
        )
        metric = "f1" if task.metric == "f1" else "accuracy"
        self.metric = metric
        self.dev_scores: dict[str, float] = {}
        self.skipped: dict[str, str] = {}
        best: tuple[float, LabelModel] | None = None
        for name in self.CANDIDATES:
            model = get_label_model(name, self.cardinality, seed=self.seed, device=self.device)
            try:
                model.fit(L)
            except ModelError as exc:
                self.skipped[name] = str(exc)
                continue
            acc = score_probs(Y_dev, model.predict_proba(L_dev), task=task)[metric]
            self.dev_scores[name] = acc
            if best is None or acc > best[0]:
                best = (acc, model)
        assert best is not None  # mv never fails
        self.model = best[1]
        #: the picked model's name, e.g. "snorkel" (reports show "auto" as what it chose)
        self.chosen = best[1].name

    def _predict_proba(self, L: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(L)

    def params(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "dev_metric": self.metric,
            "dev_scores": self.dev_scores,
            "skipped": self.skipped,
            **self.model.params(),
        }


LABEL_MODELS: dict[str, Callable[..., LabelModel]] = {
    "mv": MajorityVote,
    "wmv": WeightedMajorityVote,
    "ds": DawidSkene,
    "snorkel": SnorkelModel,
    "snorkel-lib": SnorkelLibModel,
    "fs": TripletModel,
    "auto": AutoModel,
}


def get_label_model(
    name: str, cardinality: int, *, seed: int = 0, device: str = "auto", **options: Any
) -> LabelModel:
    """A fresh, unfitted label model called ``name`` (see ``LABEL_MODELS``)."""
    try:
        factory = LABEL_MODELS[name]
    except KeyError:
        raise ModelError(
            f"unknown label model {name!r}: choose one of {', '.join(LABEL_MODELS)}"
        ) from None
    return factory(cardinality, seed=seed, device=device, **options)
