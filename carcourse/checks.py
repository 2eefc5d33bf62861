"""Self-checks for the notebooks' exercises.

In the cell after an answer the student runs, e.g. ``check("01.1", steps_per_epoch, last_batch_size)``
and reads one line:

* ``Exercise 01.1: passed.`` on a right answer;
* ``Exercise 01.1: not attempted yet ...`` while the stub (``...`` or ``NotImplementedError``)
  is still there, with no traceback;
* ``Exercise 01.1: not yet right: <what is wrong> Hint: <where to look>`` on a wrong answer. The
  message names the specific mistake when it recognises one (each classic mistake of
  `carcourse.mistakes` has its own diagnosis) and never prints the solution.

Checks test behaviour, not text: functions are called on fresh inputs and compared with PyTorch's
autograd, scikit-learn or invariants, so a right answer written differently passes. Free-text
explanations are not checked (the exercise text says so).

`run_check` returns a `CheckResult` instead of printing, for tools (grading, the mutant table).
`record` is what the grader's own check cells call: it appends the result as one JSON line to the
file named by ``CARCOURSE_GRADE_LOG`` (this is how `carcourse.grading` collects results from an
executed submission).
"""
from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PASSED, NOT_ATTEMPTED, WRONG = "passed", "not attempted", "wrong"
GRADE_LOG_ENV = "CARCOURSE_GRADE_LOG"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: status, the mistake recognised (``diagnosis``) and the message."""

    exercise: str
    status: str
    message: str
    diagnosis: str = ""

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def line(self) -> str:
        """The one line a student sees."""
        if self.status == PASSED:
            return f"Exercise {self.exercise}: passed." + (f" {self.message}" if self.message else "")
        if self.status == NOT_ATTEMPTED:
            return (f"Exercise {self.exercise}: not attempted yet ({self.message}). Replace the stub "
                    "with your answer and run this cell again.")
        return f"Exercise {self.exercise}: not yet right: {self.message}"


class NotAttempted(Exception):
    """The answer is still the stub."""


class Wrong(Exception):
    """A wrong answer: ``diagnosis`` names the mistake (a short key), the text explains it."""

    def __init__(self, diagnosis: str, what: str, hint: str = ""):
        super().__init__(what)
        self.diagnosis, self.what, self.hint = diagnosis, what, hint

    def text(self) -> str:
        return self.what + (f" Hint: {self.hint}" if self.hint else "")


@dataclass(frozen=True)
class Exercise:
    """One checked exercise: its id ("NN.k"), the names the check takes, and the check itself."""

    id: str
    title: str
    answers: tuple[str, ...]
    verify: Callable[..., str]  # raises NotAttempted / Wrong; returns an optional short note

    @property
    def notebook(self) -> str:
        return self.id.split(".")[0]

    def call_source(self) -> str:
        """The check call a notebook carries after the answer cell."""
        return f'check("{self.id}", {", ".join(self.answers)})'


EXERCISES: dict[str, Exercise] = {}


def exercise(id: str, title: str, *answers: str) -> Callable[[Callable[..., str]], Callable[..., str]]:
    def register(fn: Callable[..., str]) -> Callable[..., str]:
        if id in EXERCISES:
            raise ValueError(f"exercise {id} registered twice")
        EXERCISES[id] = Exercise(id, title, answers, fn)
        return fn
    return register


def exercises_of(notebook: str) -> list[Exercise]:
    """The checked exercises of one notebook ("01" … "06"), in order."""
    return [e for e in EXERCISES.values() if e.notebook == notebook]


def run_check(exercise_id: str, *answers: Any) -> CheckResult:
    """Check the answers to one exercise and return the result (nothing printed)."""
    ex = EXERCISES.get(str(exercise_id))
    if ex is None:
        known = ", ".join(EXERCISES)
        return CheckResult(str(exercise_id), WRONG, f"there is no exercise {exercise_id!r} (known: {known}).",
                           "unknown exercise")
    if len(answers) != len(ex.answers):
        return CheckResult(ex.id, WRONG, f"the check takes {len(ex.answers)} answer(s), "
                           f"({', '.join(ex.answers)}), but got {len(answers)}.", "wrong call")
    try:
        with torch.random.fork_rng(devices=[]):  # checks draw their own inputs: leave the student's RNG alone
            note = ex.verify(*answers) or ""
    except NotAttempted as exc:
        return CheckResult(ex.id, NOT_ATTEMPTED, str(exc) or "the stub is still there")
    except Wrong as exc:
        return CheckResult(ex.id, WRONG, exc.text(), exc.diagnosis)
    return CheckResult(ex.id, PASSED, note)


def check(exercise_id: str, *answers: Any) -> None:
    """Check the answers to one exercise and print one line saying how it went."""
    print(run_check(exercise_id, *answers).line())


def record(exercise_id: str, answers: Callable[[], tuple[Any, ...]], where: str = "") -> None:
    """Used by the grader's own check cells: like `check`, but the answers come from a function so
    that an answer the submission never defined is reported instead of raising NameError; `where`
    says which of the grader's cells ran it (after the answer cell, or at the end)."""
    try:
        values = answers()
    except NameError as exc:
        result = CheckResult(str(exercise_id), NOT_ATTEMPTED, f"{exc}; the answer cell was deleted, "
                             "renamed or not run", "missing")
    else:
        result = run_check(exercise_id, *values)
    print(result.line())
    path = os.environ.get(GRADE_LOG_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({**asdict(result), "where": where}) + "\n")


# ---------------------------------------------------------------- helpers for the checks

def _value(x: Any, name: str) -> Any:
    if x is ... or x is None:
        raise NotAttempted(f"`{name}` is still `...`")
    return x


def _call(fn: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call the student's function: a stub raises NotAttempted, any other error becomes Wrong."""
    _value(fn, name)
    if not callable(fn):
        raise Wrong("not a function", f"`{name}` should be a function, but it is a {type(fn).__name__}.")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise NotAttempted(f"`{name}` still raises NotImplementedError") from None
    except (NotAttempted, Wrong):
        raise
    except Exception as exc:  # the student's bug: name it, no traceback
        raise Wrong("raised", f"`{name}` raised {type(exc).__name__}: {exc}.",
                    "run it on a small input in a cell of its own to see where.") from None


def _tensor(x: Any, name: str) -> torch.Tensor:
    try:
        return torch.as_tensor(np.asarray(x.detach() if isinstance(x, torch.Tensor) else x), dtype=torch.float64)
    except Exception:
        raise Wrong("not a number", f"`{name}` returned {type(x).__name__}, not numbers.") from None


def _number(x: Any, name: str) -> float:
    t = _tensor(x, name)
    if t.numel() != 1:
        raise Wrong("not a scalar", f"`{name}` returned {t.numel()} numbers where one was expected "
                    f"(shape {tuple(t.shape)}).", "reduce to one number (e.g. a mean).")
    return float(t.reshape(()))


def _close(a: float | torch.Tensor, b: float | torch.Tensor, tol: float = 1e-6) -> bool:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=tol, atol=tol))


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- 01 epochs and iterations

_STEP_CASES = [(4200, 32), (4200, 64), (4096, 64), (1000, 300), (50, 7), (10, 10), (1345, 512)]


@exercise("01.1", "steps per epoch and the last batch", "steps_per_epoch", "last_batch_size")
def _check_01_1(steps_per_epoch: Any, last_batch_size: Any) -> str:
    for n, b in _STEP_CASES:
        got = _call(steps_per_epoch, "steps_per_epoch", n, b)
        if not isinstance(got, (int, np.integer)) or isinstance(got, bool):
            raise Wrong("not an integer", f"steps_per_epoch({n}, {b}) returned {got!r}, not an int.",
                        "a number of optimizer steps is a whole number.")
    got = {(n, b): _call(steps_per_epoch, "steps_per_epoch", n, b) for n, b in _STEP_CASES}
    want = {(n, b): math.ceil(n / b) for n, b in _STEP_CASES}
    if got != want:
        if all(got[k] == k[0] // k[1] for k in got):
            raise Wrong("floor", "your step count rounds down (floor): it loses the last, smaller batch "
                        f"(e.g. steps_per_epoch(4200, 32) = {got[(4200, 32)]}).",
                        "with drop_last=False the remaining images still form one more batch.")
        if all(got[k] == round(k[0] / k[1]) for k in got):
            raise Wrong("rounded", "your step count rounds N/B to the nearest integer: right for "
                        "4200/64, wrong for 4200/32.", "any remainder, however small, is one more batch.")
        (n, b) = next(k for k in got if got[k] != want[k])
        raise Wrong("steps", f"steps_per_epoch({n}, {b}) = {got[(n, b)]} is not the number of batches.",
                    "count full batches, then the leftover one.")
    dropped = {(n, b): _call(steps_per_epoch, "steps_per_epoch", n, b, drop_last=True) for n, b in _STEP_CASES}
    if dropped != {(n, b): n // b for n, b in _STEP_CASES}:
        raise Wrong("drop_last ignored", "with drop_last=True your step counts are wrong: the last, "
                    "incomplete batch is dropped then.", "drop_last=True keeps only full batches.")
    for (n, b) in _STEP_CASES:
        last = _call(last_batch_size, "last_batch_size", n, b)
        if n % b == 0 and last == 0:
            raise Wrong("remainder", f"last_batch_size({n}, {b}) = 0: when N is a multiple of B the last "
                        "batch is a full one, not empty.", "N % B alone is not the answer.")
        if last != (n % b or b):
            raise Wrong("last batch", f"last_batch_size({n}, {b}) = {last!r} is not the size of the last batch.",
                        "what is left after the full batches?")
    return ""


@exercise("01.2", "iterations are not passes over the data", "times_each_image_seen", "weight_updates")
def _check_01_2(times_each_image_seen: Any, weight_updates: Any) -> str:
    seen, updates = _value(times_each_image_seen, "times_each_image_seen"), _value(weight_updates, "weight_updates")
    if seen == 132:
        raise Wrong("iterations as epochs", "132 iterations are not 132 passes over the data: each iteration "
                    "sees one mini-batch, not the whole set.", "how many mini-batches make one epoch?")
    if seen != 1:
        raise Wrong("times seen", f"times_each_image_seen = {seen!r} is not right.",
                    "132 mini-batches of 32 (the last of 8) cover 4200 images how often?")
    if updates != 132:
        raise Wrong("updates", f"weight_updates = {updates!r} is not right.",
                    "one iteration = one optimizer step = one update of the weights.")
    return ""


@exercise("01.3", "what step 264 is", "epoch_of_step_264", "images_in_step_264")
def _check_01_3(epoch_of_step_264: Any, images_in_step_264: Any) -> str:
    epoch, images = _value(epoch_of_step_264, "epoch_of_step_264"), _value(images_in_step_264, "images_in_step_264")
    if epoch == 3 and images == 32:
        raise Wrong("off by one epoch", "step 264 is not the first step of epoch 3: counting steps and "
                    "epochs from 1, as the notebook does, step 132·k is the last step of epoch k.",
                    "which step numbers belong to epoch 2?")
    if epoch != 2:
        raise Wrong("epoch", f"epoch_of_step_264 = {epoch!r} is not right.", "264 = 2 × 132.")
    if images != 8:
        raise Wrong("batch size", f"images_in_step_264 = {images!r} is not right.",
                    "what is the size of an epoch's last batch with 4200 images at batch 32?")
    return ""


def _tiny_classifier(seed: int, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(6, 16), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(16, 2))
    return nn.Sequential(*layers).double()


def _reference_steps(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], *, zero_grad: bool = True,
                     softmax_first: bool = False) -> list[float]:
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for x, y in batches:
        if zero_grad:
            opt.zero_grad()
        out = model(x)
        loss = F.cross_entropy(torch.softmax(out, 1) if softmax_first else out, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.allclose(p, q, atol=1e-9) for p, q in zip(a.parameters(), b.parameters()))


@exercise("01.4", "one training step by hand", "train_step")
def _check_01_4(train_step: Any) -> str:
    g = _rng(14)
    batches = [(torch.randn(8, 6, generator=g, dtype=torch.float64), torch.randint(0, 2, (8,), generator=g))
               for _ in range(3)]
    start = _tiny_classifier(1)
    model = copy.deepcopy(start)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for i, (x, y) in enumerate(batches):
        loss = _call(train_step, "train_step", model, x, y, opt)
        try:
            losses.append(float(loss.detach() if isinstance(loss, torch.Tensor) else loss))
        except (TypeError, ValueError):
            raise Wrong("no loss", f"train_step returned {type(loss).__name__}, not the batch's loss.",
                        "return the loss (a number or a 0-d tensor).") from None
        if i == 0 and _same_weights(model, start):
            if all(p.grad is None for p in model.parameters()):
                raise Wrong("no backward", "the weights did not change and no gradient was computed.",
                            "call loss.backward() before optimizer.step().")
            raise Wrong("no step", "gradients were computed but the weights did not change.",
                        "gradients alone do not move the weights: the optimizer applies them, after backward "
                        "(and nothing may clear them in between).")
    right = copy.deepcopy(start)
    want = _reference_steps(right, batches)
    if _same_weights(model, right) and _close(torch.tensor(losses), torch.tensor(want), 1e-6):
        return ""
    accumulated = copy.deepcopy(start)
    _reference_steps(accumulated, batches, zero_grad=False)
    if _same_weights(model, accumulated):
        raise Wrong("missing zero_grad", "from the second step on your updates are too large: the gradients of "
                    "earlier batches are added to this batch's.", "PyTorch accumulates .grad until you reset it.")
    softmaxed = copy.deepcopy(start)
    soft_losses = _reference_steps(softmaxed, batches, softmax_first=True)
    if _same_weights(model, softmaxed) or _close(torch.tensor(losses), torch.tensor(soft_losses), 1e-6):
        raise Wrong("softmax before cross_entropy", "your loss is computed on softmax probabilities: "
                    "F.cross_entropy applies (log-)softmax itself, so softmax runs twice and the gradients shrink.",
                    "give cross_entropy the raw logits.")
    if not _close(torch.tensor(losses[:1]), torch.tensor(want[:1]), 1e-6):
        raise Wrong("loss", "the loss your step returns is not the cross-entropy of this batch.",
                    "mean cross-entropy of model(images) against labels, before the update.")
    raise Wrong("update", "after three steps your weights differ from three plain SGD steps.",
                "order: zero_grad, forward, loss, backward, step.")


# ---------------------------------------------------------------- 02 logits and the decision

@exercise("02.1", "predict classes from a model", "predict_classes")
def _check_02_1(predict_classes: Any) -> str:
    model = _tiny_classifier(2, dropout=0.5)
    model.train()  # as left behind by training
    x = torch.randn(37, 6, generator=_rng(21), dtype=torch.float64)
    got = _call(predict_classes, "predict_classes", model, x)
    if isinstance(got, tuple):
        raise Wrong("max tuple", "you returned a tuple: torch.max(…, dim) gives (values, indices).",
                    "the class is the index.")
    t = _tensor(got, "predict_classes")
    if t.shape == (2,):
        raise Wrong("argmax over batch", f"for 37 images you returned 2 numbers: the argmax ran over the "
                    "batch dimension (dim 0), picking an image per class.", "the classes are dimension 1.")
    if t.shape != (37,):
        raise Wrong("shape", f"for 37 images you returned shape {tuple(t.shape)}; one class index per image "
                    "was expected.", "argmax over the class dimension.")
    if not torch.all((t == 0) | (t == 1)):
        raise Wrong("not indices", "your values are not class indices (0 or 1): are they logits or "
                    "probabilities?", "take the index of the largest logit, not its value.")
    model.eval()
    with torch.no_grad():
        want = model(x).argmax(1)
    if not torch.equal(t.long(), want):
        if _was_left_training(predict_classes, x):
            raise Wrong("no eval", "your predictions change from call to call: dropout is still active "
                        "because the model is in training mode.", "call model.eval() before predicting.")
        raise Wrong("decision", "some of your predicted classes differ from the model's decision.",
                    "argmax of the logits over the class dimension.")
    return ""


def _was_left_training(predict_classes: Any, x: torch.Tensor) -> bool:
    model = _tiny_classifier(2, dropout=0.5)
    model.train()
    _call(predict_classes, "predict_classes", model, x)
    return model.training


@exercise("02.2", "a threshold chosen on the right split", "best_threshold", "threshold_split")
def _check_02_2(best_threshold: Any, threshold_split: Any) -> str:
    g = _rng(22)
    labels = (torch.rand(400, generator=g) < 0.3).long()
    p_car = torch.where(labels == 1, 0.55 + 0.45 * torch.rand(400, generator=g), 0.85 * torch.rand(400, generator=g))
    t = _number(_call(best_threshold, "best_threshold", p_car.clone(), labels.clone()), "best_threshold")
    accuracy = lambda thr: float(((p_car > thr).long() == labels).double().mean())
    best = max(accuracy(float(v)) for v in torch.cat([p_car, torch.tensor([0.0, 1.0])]))
    if accuracy(t) < best - 0.02:
        if abs(t - 0.5) < 1e-9:
            raise Wrong("default threshold", "you returned 0.5, the default: here a different threshold is "
                        "more accurate.", "try many thresholds and keep the most accurate.")
        raise Wrong("threshold", f"at your threshold {t:.3f} the accuracy is {accuracy(t):.3f}; another "
                    "threshold does better on the same data.", "compare the accuracy of many candidate thresholds.")
    split = str(_value(threshold_split, "threshold_split")).strip().lower()
    if split.startswith("test"):
        raise Wrong("threshold on test", "choosing the threshold on the test set makes the test score an "
                    "optimistic, tuned number: the test set must stay unseen by every choice.",
                    "which split is meant for choices like this?")
    if split.startswith("train"):
        raise Wrong("threshold on train", "the model has learnt its training images, so its probabilities "
                    "there are over-confident: a threshold chosen on them does not carry over to new images.",
                    "choose on a split the model never learnt from, and that no later score depends on.")
    if not split.startswith("val"):
        raise Wrong("split", f"threshold_split = {threshold_split!r}: name the split ('train', 'val' or 'test').",
                    "which split is meant for choices like this?")
    return ""


@exercise("02.3", "a tie between the logits", "tie_decision", "tie_p_car")
def _check_02_3(tie_decision: Any, tie_p_car: Any) -> str:
    decision, p = _value(tie_decision, "tie_decision"), _value(tie_p_car, "tie_p_car")
    if decision != int(torch.tensor([2.0, 2.0]).argmax()):
        raise Wrong("tie-break", f"tie_decision = {decision!r}: what does argmax return when two entries are equal?",
                    "try torch.tensor([2.0, 2.0]).argmax().")
    if not isinstance(p, (int, float)) or abs(float(p) - 0.5) > 1e-9:
        raise Wrong("tie probability", f"tie_p_car = {p!r} is not right.", "σ(z_car − z_notcar) with equal logits.")
    return ""


# ---------------------------------------------------------------- 03 softmax

def _logits(seed: int, n: int = 50, c: int = 2, scale: float = 3.0) -> torch.Tensor:
    return scale * torch.randn(n, c, generator=_rng(seed), dtype=torch.float64)


@exercise("03.1", "P(car) with the logistic function", "p_car_from_logits")
def _check_03_1(p_car_from_logits: Any) -> str:
    z = _logits(31)
    t = _tensor(_call(p_car_from_logits, "p_car_from_logits", z.clone()), "p_car_from_logits").reshape(-1)
    if t.shape != (50,):
        raise Wrong("shape", f"for 50 images you returned {t.numel()} numbers.", "one P(car) per image.")
    if _close(t, torch.softmax(z, 1)[:, 1]):
        return ""
    if _close(t, torch.softmax(z, 1)[:, 0]):
        raise Wrong("sign flipped", "your values are P(not-car): the difference is the wrong way round.",
                    "the car logit comes first in the difference.")
    if _close(t, torch.sigmoid(z[:, 1])):
        raise Wrong("one logit", "your values use only the car logit: σ(z_car) ignores the not-car logit.",
                    "softmax depends on the difference of the two logits.")
    raise Wrong("p_car", "your values differ from softmax(logits)[:, 1].", "σ applied to a difference of logits.")


@exercise("03.2", "temperature scaling", "fit_temperature", "accuracy_changes_with_t")
def _check_03_2(fit_temperature: Any, accuracy_changes_with_t: Any) -> str:
    g = _rng(32)
    z = 4 * torch.randn(3000, 2, generator=g, dtype=torch.float64)
    labels = torch.multinomial(torch.softmax(z / 1.6, 1), 1, generator=g).squeeze(1)
    temps = torch.linspace(0.5, 3.0, 26, dtype=torch.float64)
    t = _number(_call(fit_temperature, "fit_temperature", z.clone(), labels.clone(), temps.clone()), "fit_temperature")
    nll = torch.stack([F.cross_entropy(z / T, labels) for T in temps])
    want = float(temps[int(nll.argmin())])
    if abs(t - want) > 1e-6:
        by_product = float(temps[int(torch.stack([F.cross_entropy(z * T, labels) for T in temps]).argmin())])
        if abs(t - float(temps[0])) < 1e-6:
            raise Wrong("by accuracy", "you returned the first temperature of the list: accuracy (or any decision-based "
                        "score) is the same for every T, so it cannot choose one.", "choose T by cross-entropy.")
        if abs(t - by_product) < 1e-6:
            raise Wrong("multiplied", "your temperature multiplies the logits: temperature scaling divides them.",
                        "softmax(z / T).")
        raise Wrong("temperature", f"T = {t:.2f} does not minimise the cross-entropy over the candidates.",
                    "cross-entropy of logits / T for every T in temps; keep the lowest.")
    if _value(accuracy_changes_with_t, "accuracy_changes_with_t") is not False:
        raise Wrong("accuracy changes", "accuracy_changes_with_t: dividing both logits by the same T > 0 keeps "
                    "their order.", "does argmax(z / T) differ from argmax(z)?")
    return ""


@exercise("03.3", "a numerically stable softmax", "stable_softmax")
def _check_03_3(stable_softmax: Any) -> str:
    def run(z: torch.Tensor) -> torch.Tensor:
        out = _tensor(_call(stable_softmax, "stable_softmax", z.clone()), "stable_softmax")
        if out.shape != z.shape:
            raise Wrong("shape", f"for input shape {tuple(z.shape)} you returned {tuple(out.shape)}.",
                        "softmax keeps the shape.")
        return out

    z = _logits(33, n=6, c=3, scale=2.0)
    out = run(z)
    if not _close(out, torch.softmax(z, -1)):
        if _close(out, torch.softmax(torch.softmax(z, -1), -1)):
            raise Wrong("softmax twice", "your values are too close to uniform: softmax was applied to "
                        "probabilities (twice).", "apply it once, to the logits.")
        if _close(out.sum(0), torch.ones(z.shape[1], dtype=out.dtype)):
            raise Wrong("wrong dim", "your columns sum to 1, not each row: you normalised over the batch.",
                        "softmax over the last dimension (the classes).")
        raise Wrong("softmax", "your values differ from torch.softmax on small logits.", "exp, then divide by the row's sum.")
    for row in ([[1000.0, 1001.0]], [[-1000.0, -1001.0]]):  # one image at a time: overflow or not
        big = torch.tensor(row, dtype=torch.float64)
        out = run(big)
        if not torch.isfinite(out).all():
            raise Wrong("overflow", "for logits like (1000, 1001) you get nan: exp(1000) overflows to inf, and "
                        "inf/inf is nan.", "softmax(z) = softmax(z − c) for any constant c.")
        if not _close(out, torch.softmax(big, -1)):
            raise Wrong("large logits", "for large logits your values are wrong.", "subtract the row's maximum first.")
    mixed = torch.tensor([[1000.0, 999.0], [0.0, 1.0], [-1000.0, -1001.0]], dtype=torch.float64)
    out = run(mixed)
    if not (torch.isfinite(out).all() and _close(out, torch.softmax(mixed, -1))):
        raise Wrong("global max", "each row alone works, but rows on different scales in one batch break your softmax: "
                    "you subtract one maximum for the whole batch, and a row far below it underflows to 0/0.",
                    "subtract each row's own maximum (keepdim=True).")
    return ""


# ---------------------------------------------------------------- 04 cross-entropy and L2

def _ce_inputs(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = _rng(seed)
    out = []
    for n, c, scale in ((40, 2, 2.0), (25, 3, 3.0), (10, 2, 400.0)):
        out.append((scale * torch.randn(n, c, generator=g, dtype=torch.float64), torch.randint(0, c, (n,), generator=g)))
    return out


@exercise("04.1", "cross-entropy by hand", "cross_entropy")
def _check_04_1(cross_entropy: Any) -> str:
    for i, (z, y) in enumerate(_ce_inputs(41)):
        got = _number(_call(cross_entropy, "cross_entropy", z.clone(), y.clone()), "cross_entropy")
        want = float(F.cross_entropy(z, y))
        if _close(got, want):
            continue
        if _close(got, float(F.cross_entropy(torch.softmax(z, 1), y))):
            raise Wrong("probabilities fed", "your loss is the cross-entropy of probabilities: the log-softmax "
                        "was applied to softmax outputs instead of to the logits.", "the input is logits; take log-softmax once.")
        if _close(got, want * len(y)):
            raise Wrong("sum not mean", f"your loss is {len(y)} times too large: a sum over the batch, not a mean.",
                        "average over the images.")
        if _close(got, -want):
            raise Wrong("sign", "your loss has the wrong sign.", "cross-entropy is minus the log-probability of the true class.")
        if i == 2 and not math.isfinite(got):
            raise Wrong("unstable", "for large logits your loss is inf or nan: log(softmax) underflows to log(0).",
                        "compute log-softmax as z − logsumexp(z), which never takes log(0).")
        raise Wrong("cross-entropy", f"your loss differs from F.cross_entropy on {len(y)} images with "
                    f"{z.shape[1]} classes.", "mean over images of −log softmax(z)[true class].")
    return ""


@exercise("04.2", "the gradient of cross-entropy", "cross_entropy_grad")
def _check_04_2(cross_entropy_grad: Any) -> str:
    for z, y in _ce_inputs(42)[:2]:
        got = _tensor(_call(cross_entropy_grad, "cross_entropy_grad", z.clone(), y.clone()), "cross_entropy_grad")
        leaf = z.clone().requires_grad_(True)
        F.cross_entropy(leaf, y).backward()
        want = leaf.grad
        if got.shape != want.shape:
            raise Wrong("shape", f"the gradient should have the logits' shape {tuple(z.shape)}, not {tuple(got.shape)}.",
                        "one partial derivative per logit.")
        if _close(got, want):
            continue
        if _close(got, want * len(y)):
            raise Wrong("missing 1/N", "your gradient is N times too large: the loss is a mean over the batch.",
                        "divide by the number of images.")
        if _close(got, -want):
            raise Wrong("sign", "your gradient has the wrong sign.", "probabilities minus one-hot, not the other way round.")
        if _close(got, torch.softmax(z, 1) / len(y)):
            raise Wrong("no one-hot", "your gradient is the softmax alone: the true class's −1 is missing.",
                        "subtract the one-hot target.")
        raise Wrong("gradient", "your gradient differs from autograd's.", "compare with z.requires_grad_() + backward() on a tiny example.")
    return ""


@exercise("04.3", "the L2 loss on softmax outputs", "l2_loss")
def _check_04_3(l2_loss: Any) -> str:
    for z, y in _ce_inputs(43)[:2]:
        got = _number(_call(l2_loss, "l2_loss", z.clone(), y.clone()), "l2_loss")
        target = F.one_hot(y, z.shape[1]).double()
        want = float(((torch.softmax(z, 1) - target) ** 2).sum(1).mean())
        if _close(got, want):
            continue
        if _close(got, float(((z - target) ** 2).sum(1).mean())) or _close(got, float(((z - target) ** 2).mean())):
            raise Wrong("l2 on logits", "your loss compares the raw logits with 0/1 targets: logits are not "
                        "probabilities, and a confident right logit of 5 would count as an error of 4.",
                        "apply softmax first.")
        if _close(got, want / z.shape[1]):
            raise Wrong("mean over classes", "your loss also averages over the classes (F.mse_loss's default): "
                        "this course sums over classes and averages over images, like TrainConfig(loss='mse').",
                        "sum over dim 1, then mean.")
        raise Wrong("l2", "your loss differs from the squared distance between softmax output and one-hot target.",
                    "(softmax(z) − one_hot(y))², summed over classes, mean over images.")
    return ""


@exercise("04.4", "what Adam does to the step", "adam_step_scales_with_lr", "adam_step_shrinks_with_gradient")
def _check_04_4(adam_step_scales_with_lr: Any, adam_step_shrinks_with_gradient: Any) -> str:
    lr_answer = _value(adam_step_scales_with_lr, "adam_step_scales_with_lr")
    grad_answer = _value(adam_step_shrinks_with_gradient, "adam_step_shrinks_with_gradient")
    if not isinstance(lr_answer, bool) or not isinstance(grad_answer, bool):
        raise Wrong("not a bool", "answer both with True or False.", "")
    if grad_answer:
        raise Wrong("adam compensates", "Adam divides each step by the running size of the gradient, so a gradient "
                    "10× smaller gives about the same step: small gradients are not what slows L2 down under Adam, and "
                    "a larger learning rate does not 'compensate' them.",
                    "try one Adam step on a parameter with gradient 1e-3 and with gradient 1.")
    if not lr_answer:
        raise Wrong("lr", "adam_step_scales_with_lr: how does the learning rate enter Adam's update?",
                    "the update is lr × (a ratio of gradient moments).")
    return ""


# ---------------------------------------------------------------- 05 overfitting

def _indices(x: Any, name: str) -> list[int]:
    try:
        return [int(i) for i in (x.tolist() if hasattr(x, "tolist") else list(x))]
    except (TypeError, ValueError):
        raise Wrong("not indices", f"{name} should be a list or tensor of image indices.", "") from None


@exercise("05.1", "a train/validation split without leaks", "train_val_split")
def _check_05_1(train_val_split: Any) -> str:
    def split(n: int, frac: float, seed: int) -> tuple[list[int], list[int]]:
        out = _call(train_val_split, "train_val_split", n, frac, seed)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise Wrong("return", "train_val_split should return two index collections: (train, val).", "")
        return _indices(out[0], "train"), _indices(out[1], "val")

    n, frac = 200, 0.25
    train, val = split(n, frac, 0)
    both = set(train) & set(val)
    if both:
        raise Wrong("leak", f"{len(both)} images are in both training and validation: the model is then scored "
                    "on images it learnt from, which measures memory, not generalisation.",
                    "take the validation images out of the training set.")
    if sorted(train + val) != list(range(n)):
        raise Wrong("lost images", "together train and val should hold each of the n images exactly once.", "")
    if abs(len(val) - frac * n) > 1:
        raise Wrong("size", f"val has {len(val)} of {n} images for val_fraction={frac}.", "")
    again, other = split(n, frac, 0), split(n, frac, 1)
    if sorted(again[1]) != sorted(val):
        raise Wrong("not reproducible", "the same seed gave a different split: the split uses the global random state.",
                    "draw from torch.Generator().manual_seed(seed).")
    if sorted(other[1]) == sorted(val):
        raise Wrong("seed ignored", "seeds 0 and 1 give the same split.", "shuffle with the seed.")
    if sorted(val) == list(range(n - len(val), n)) or sorted(val) == list(range(len(val))):
        raise Wrong("not shuffled", "val is a block at one end of the data: data stored in order (e.g. by class) "
                    "would give a biased validation set.", "shuffle before splitting.")
    return ""


@exercise("05.2", "accuracy against the majority-class baseline", "beats_majority")
def _check_05_2(beats_majority: Any) -> str:
    imbalanced = torch.tensor([0] * 70 + [1] * 30)
    cases = [(imbalanced, 0.65, False), (imbalanced, 0.75, True), (1 - imbalanced, 0.65, False),
             (torch.tensor([0] * 50 + [1] * 50), 0.55, True)]
    for labels, acc, want in cases:
        got = _call(beats_majority, "beats_majority", acc, labels.clone())
        if bool(got) == want:
            continue
        if acc == 0.65 and got:
            raise Wrong("chance baseline", "accuracy 0.65 on labels that are 70 % one class does not beat anything: "
                        "0.5 is chance only for balanced classes.", "compare with always predicting the commonest class.")
        raise Wrong("baseline", f"beats_majority({acc}, labels with {int(labels.sum())} of {len(labels)} cars) "
                    f"returned {got!r}.", "the baseline is the share of the commonest class.")
    return ""


@exercise("05.3", "the epoch to keep", "pick_epoch")
def _check_05_3(pick_epoch: Any) -> str:
    train_loss = [0.69, 0.52, 0.41, 0.30, 0.21, 0.13, 0.08]
    val_loss = [0.68, 0.55, 0.47, 0.45, 0.49, 0.56, 0.64]
    got = _call(pick_epoch, "pick_epoch", list(train_loss), list(val_loss))
    if got == 4:
        return ""
    if got == 7:
        raise Wrong("by training loss", "you kept the last epoch, where the training loss is lowest: training loss "
                    "keeps falling while the model memorises.", "choose on the validation split.")
    if got == 3:
        raise Wrong("zero-based", "off by one: epochs are counted from 1 in this course (a Python index starts at 0).", "")
    raise Wrong("epoch", f"pick_epoch returned {got!r}.", "which epoch has the lowest validation loss?")


@exercise("05.4", "is a large gap always bad?", "large_gap_always_bad")
def _check_05_4(large_gap_always_bad: Any) -> str:
    answer = _value(large_gap_always_bad, "large_gap_always_bad")
    if answer is True:
        raise Wrong("gap always bad", "compare a model at 99 % training / 84 % validation accuracy with one at "
                    "70 % / 70 %: which would you deploy?", "models are chosen on validation performance.")
    if answer is not False:
        raise Wrong("not a bool", "answer with True or False.", "")
    return ""


# ---------------------------------------------------------------- 06 CNN vs ResNet18

def _binary_case(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    g = _rng(seed)
    labels = (torch.rand(n, generator=g) < 0.3).long()
    p_car = torch.clamp(0.35 * labels + 0.65 * torch.rand(n, generator=g), 0, 1)
    return labels.numpy(), p_car.double().numpy()


@exercise("06.1", "balanced accuracy and ROC AUC", "balanced_accuracy", "roc_auc")
def _check_06_1(balanced_accuracy: Any, roc_auc: Any) -> str:
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    labels, p_car = _binary_case(61)
    predicted = (p_car > 0.5).astype(int)
    got = _number(_call(balanced_accuracy, "balanced_accuracy", labels.copy(), predicted.copy()), "balanced_accuracy")
    want = balanced_accuracy_score(labels, predicted)
    if not _close(got, want):
        if _close(got, float((labels == predicted).mean())):
            raise Wrong("plain accuracy", "that is plain accuracy, which the commoner class dominates.",
                        "average the recall of each class.")
        raise Wrong("balanced accuracy", "your balanced accuracy differs from scikit-learn's.",
                    "mean of the per-class recalls.")
    if not _close(got, roc_auc_score(labels, predicted)):
        raise Wrong("invariant", "balanced accuracy should equal the ROC AUC of the hard 0/1 predictions.", "")
    auc = _number(_call(roc_auc, "roc_auc", labels.copy(), p_car.copy()), "roc_auc")
    if _close(auc, roc_auc_score(labels, p_car)):
        return ""
    if _close(auc, roc_auc_score(labels, predicted)) or _close(auc, roc_auc_score(labels, p_car > 0.5)):
        raise Wrong("auc from hard labels", "your ROC AUC is computed from hard 0/1 predictions: that is balanced "
                    "accuracy (one threshold), not the ranking over all thresholds.", "use P(car) as the score.")
    raise Wrong("roc auc", "your ROC AUC differs from scikit-learn's roc_auc_score on P(car).", "")


def _mcnemar_reference(b: int, c: int) -> float:
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2 ** n)


@exercise("06.2", "McNemar's exact test", "discordant", "mcnemar_p")
def _check_06_2(discordant: Any, mcnemar_p: Any) -> str:
    g = np.random.default_rng(62)
    a, bb = g.random(200) < 0.9, g.random(200) < 0.85
    got = _call(discordant, "discordant", a.copy(), bb.copy())
    try:
        b, c = (int(v) for v in got)
    except (TypeError, ValueError):
        raise Wrong("return", "discordant should return two counts (b, c).", "") from None
    want = (int(np.sum(a & ~bb)), int(np.sum(~a & bb)))
    if (b, c) != want:
        if {b, c} & {int(np.sum(a & bb)), int(np.sum(~a & ~bb))}:
            raise Wrong("agreements counted", "you counted images where both models agree: McNemar uses only the "
                        "images where they disagree.", "b = A right and B wrong; c = A wrong and B right.")
        if (b, c) == want[::-1]:
            raise Wrong("b c swapped", "b and c are swapped.", "b = A right and B wrong.")
        raise Wrong("counts", f"discordant returned ({b}, {c}).", "b = A right and B wrong; c = A wrong and B right.")
    for b, c in ((25, 42), (10, 10), (3, 0), (0, 0), (60, 31)):
        p = _number(_call(mcnemar_p, "mcnemar_p", b, c), "mcnemar_p")
        ref = _mcnemar_reference(b, c)
        if _close(p, ref, 1e-9):
            continue
        if p > 1:
            raise Wrong("p above 1", f"mcnemar_p({b}, {c}) = {p:.3f} > 1.", "a doubled tail can exceed 1: cap it.")
        if b + c and _close(p, ref / 2, 1e-9):
            raise Wrong("one-sided", "your p-values are half the two-sided ones: only one tail is counted.",
                        "neither model is favoured in advance: double the tail.")
        raise Wrong("p", f"mcnemar_p({b}, {c}) is not the exact two-sided p.",
                    "under 'equally good', b ~ Binomial(b + c, 1/2).")
    return ""


@exercise("06.3", "how many more images for p < 0.05", "images_needed")
def _check_06_3(images_needed: Any) -> str:
    for b, c in ((25, 30), (10, 10), (40, 12)):
        got = _call(images_needed, "images_needed", b, c)
        k = 0
        while _mcnemar_reference(b, c + k) >= 0.05:
            k += 1
        if got != k:
            if got == k - 1 or got == k + 1:
                raise Wrong("off by one", f"images_needed({b}, {c}) = {got!r} is one off.", "p < 0.05, strictly.")
            raise Wrong("count", f"images_needed({b}, {c}) = {got!r} is not right.",
                        "add images to c one at a time until the exact p drops below 0.05.")
    return ""


@exercise("06.4", "what 0.2 points of accuracy are", "difference_in_images")
def _check_06_4(difference_in_images: Any) -> str:
    got = _number(_value(difference_in_images, "difference_in_images"), "difference_in_images")
    if abs(got - 0.2) < 1e-9 or abs(got - 0.002) < 1e-9:
        raise Wrong("points not images", "that is the difference as a fraction or in points; how many test "
                    "images is it?", "multiply by the number of test images, 1345.")
    if abs(got - 0.002 * 1345) > 0.5:
        raise Wrong("images", f"difference_in_images = {got:g} is not right.", "0.2 % of 1345 images.")
    return ""
