"""A catalogue of classic mistakes, and the proof that the exercises' checks catch each one.

Each `Mistake` is a small edit of an exercise's solution as it stands in the instructor notebook
(the cell whose metadata says ``{"exercise": id, "role": "answer"}``): the kind of slip a real
student makes. `run_catalogue` applies every edit, runs the exercise's check on the result and
asks for *that mistake's own diagnosis*, not just "wrong". An edit that no longer applies (the
solution was reworded) counts as not caught, so the catalogue cannot silently go stale.

`verify_exercises` runs every check on the instructor's solution (must pass) and on the student
edition's stub (must say "not attempted yet").

This is an instructor tool: the edits quote the solutions, so the student edition leaves it out.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from .checks import EXERCISES, NOT_ATTEMPTED, PASSED, CheckResult, run_check
from .notebook_cells import find_cells


@dataclass(frozen=True)
class Mistake:
    """One classic mistake: its name, the exercise, the edits (old → new) and the diagnosis expected."""

    name: str
    exercise: str
    edits: tuple[tuple[str, str], ...]
    diagnosis: str


def _m(name: str, exercise: str, diagnosis: str, *edits: tuple[str, str]) -> Mistake:
    return Mistake(name, exercise, tuple(edits), diagnosis)


CATALOGUE: tuple[Mistake, ...] = (
    _m("iterations per epoch with floor instead of ceil", "01.1", "floor",
       ("else math.ceil(n_images / batch_size)", "else n_images // batch_size")),
    _m("iterations per epoch as 4200/32 rounded", "01.1", "rounded",
       ("else math.ceil(n_images / batch_size)", "else round(n_images / batch_size)")),
    _m("drop_last ignored", "01.1", "drop_last ignored",
       ("n_images // batch_size if drop_last else ", "")),
    _m("step 264 taken for the first step of epoch 3", "01.3", "off by one epoch",
       ("epoch_of_step_264 = 2", "epoch_of_step_264 = 3"), ("images_in_step_264 = 8", "images_in_step_264 = 32")),
    _m("iterations read as passes over the data", "01.2", "iterations as epochs",
       ("times_each_image_seen = 1", "times_each_image_seen = 132")),
    _m("missing zero_grad", "01.4", "missing zero_grad", ("    optimizer.zero_grad()\n", "")),
    _m("softmax applied before cross_entropy (softmax twice)", "01.4", "softmax before cross_entropy",
       ("F.cross_entropy(model(images), labels)", "F.cross_entropy(torch.softmax(model(images), dim=1), labels)")),
    _m("missing optimizer.step()", "01.4", "no step", ("    optimizer.step()\n", "")),
    _m("argmax over the batch dimension", "02.1", "argmax over batch", ("argmax(dim=1)", "argmax(dim=0)")),
    _m("evaluating without model.eval()", "02.1", "no eval", ("    model.eval()\n", "")),
    _m("threshold chosen on the test set", "02.2", "threshold on test",
       ('threshold_split = "val"', 'threshold_split = "test"')),
    _m("threshold chosen on the training set", "02.2", "threshold on train",
       ('threshold_split = "val"', 'threshold_split = "train"')),
    _m("P(car) with the logit difference reversed", "03.1", "sign flipped",
       ("logits[:, 1] - logits[:, 0]", "logits[:, 0] - logits[:, 1]")),
    _m("temperature multiplies the logits", "03.2", "multiplied", ("logits / T", "logits * T")),
    _m("temperature chosen by accuracy", "03.2", "by accuracy",
       ("F.cross_entropy(logits / T, labels)", "((logits / T).argmax(1) == labels).float().mean()"),
       ("losses.argmin()", "losses.argmax()")),
    _m("softmax without subtracting the max (overflow)", "03.3", "overflow",
       ("torch.exp(z - z.max(dim=-1, keepdim=True).values)", "torch.exp(z)")),
    _m("softmax subtracting one max for the whole batch", "03.3", "global max",
       ("z.max(dim=-1, keepdim=True).values", "z.max()")),
    _m("softmax applied twice", "03.3", "softmax twice",
       ("return e / e.sum(dim=-1, keepdim=True)", "return torch.softmax(e / e.sum(dim=-1, keepdim=True), dim=-1)")),
    _m("softmax normalised over the batch dimension", "03.3", "wrong dim",
       ("e / e.sum(dim=-1, keepdim=True)", "e / e.sum(dim=0, keepdim=True)")),
    _m("cross-entropy fed probabilities instead of logits", "04.1", "probabilities fed",
       ("log_p = logits - torch.logsumexp(logits, dim=1, keepdim=True)",
        "p = torch.softmax(logits, dim=1)\n    log_p = p - torch.logsumexp(p, dim=1, keepdim=True)")),
    _m("cross-entropy summed instead of averaged", "04.1", "sum not mean", (".mean()", ".sum()")),
    _m("cross-entropy as log(softmax) without log-sum-exp", "04.1", "unstable",
       ("log_p = logits - torch.logsumexp(logits, dim=1, keepdim=True)",
        "log_p = torch.log(torch.exp(logits) / torch.exp(logits).sum(dim=1, keepdim=True))")),
    _m("gradient of a mean loss without 1/N", "04.2", "missing 1/N", (" / len(labels)", "")),
    _m("gradient y − p instead of p − y", "04.2", "sign",
       ("(torch.softmax(logits, dim=1) - one_hot)", "(one_hot - torch.softmax(logits, dim=1))")),
    _m("L2 on logits without softmax", "04.3", "l2 on logits", ("torch.softmax(logits, dim=1) - one_hot", "logits - one_hot")),
    _m("'a larger step compensates small gradients' under Adam", "04.4", "adam compensates",
       ("adam_step_shrinks_with_gradient = False", "adam_step_shrinks_with_gradient = True")),
    _m("validation images leaking into training", "05.1", "leak",
       ("return order[n_val:], order[:n_val]", "return order, order[:n_val]")),
    _m("accuracy read against 0.5 instead of the majority baseline", "05.2", "chance baseline",
       ("float(counts.max()) / len(labels)", "0.5")),
    _m("epoch chosen by training loss", "05.3", "by training loss", ("torch.tensor(val_loss)", "torch.tensor(train_loss)")),
    _m("epoch counted from 0", "05.3", "zero-based", (".argmin()) + 1", ".argmin())")),
    _m("a training/validation gap read as always bad", "05.4", "gap always bad",
       ("large_gap_always_bad = False", "large_gap_always_bad = True")),
    _m("balanced accuracy computed as plain accuracy", "06.1", "plain accuracy",
       ("return float(np.mean(recalls))", "return float(np.mean(predicted == labels))")),
    _m("ROC AUC computed from hard labels", "06.1", "auc from hard labels",
       ("roc_auc_score(labels, p_car)", "roc_auc_score(labels, p_car > 0.5)")),
    _m("McNemar counting agreements instead of disagreements", "06.2", "agreements counted",
       ("int(np.sum(a & ~b)), int(np.sum(~a & b))", "int(np.sum(a & b)), int(np.sum(~a & ~b))")),
    _m("McNemar p one-sided", "06.2", "one-sided", ("min(1.0, 2 * tail)", "min(1.0, tail)")),
    _m("accuracy difference read in points, not images", "06.4", "points not images",
       ("difference_in_images = 0.002 * 1345", "difference_in_images = 0.2")),
)


@dataclass(frozen=True)
class MutantResult:
    mistake: Mistake
    caught: bool
    result: CheckResult | None
    problem: str = ""  # why it counts as not caught, beyond the check's own message

    @property
    def message(self) -> str:
        return self.problem or (self.result.message if self.result else "")


@dataclass(frozen=True)
class SolutionCode:
    """What the mutants start from: the setup cells and each exercise's answer cell."""

    setup: dict[str, str]  # notebook id -> setup source
    answers: dict[str, str]  # exercise id -> answer source

    def before(self, exercise_id: str) -> list[str]:
        """The answer cells of the same notebook that come before this exercise (in id order):
        a later exercise may use an earlier one's function, as in the notebook."""
        nb = exercise_id.split(".")[0]
        return [src for ex, src in sorted(self.answers.items()) if ex.split(".")[0] == nb and ex < exercise_id]


def load_solutions(root: str | Path) -> SolutionCode:
    """Read the setup and answer cells of the instructor notebooks in `root`/notebooks."""
    notebooks = sorted(Path(root, "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise ValueError(f"{root}/notebooks has no course notebooks: `checks` needs the instructor checkout")
    setup, answers = {}, {}
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        cells = find_cells(nb, path.name)
        if cells.notebook is None:
            continue
        setup[cells.notebook] = "\n".join(nb.cells[i].source for i in cells.setup)
        answers.update({ex: nb.cells[i].source for ex, i in cells.answers.items()})
    return SolutionCode(setup, answers)


def run_answer(code: SolutionCode, source: str, exercise_id: str) -> CheckResult:
    """Execute the notebook's setup, the earlier answers and this answer source in a fresh
    namespace, then check the exercise's answers."""
    ex = EXERCISES[exercise_id]
    namespace: dict[str, Any] = {"__name__": "__exercise__"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code.setup.get(ex.notebook, ""), f"<setup {ex.notebook}>", "exec"), namespace)
        for earlier in code.before(exercise_id):
            exec(compile(earlier, "<earlier exercise>", "exec"), namespace)
        exec(compile(source, f"<exercise {exercise_id}>", "exec"), namespace)
    return run_check(exercise_id, *(namespace.get(name, ...) for name in ex.answers))


def apply(mistake: Mistake, source: str) -> str:
    """The solution with the mistake made; ValueError when an edit no longer applies."""
    for old, new in mistake.edits:
        if source.count(old) != 1:
            raise ValueError(f"edit {old!r} matches {source.count(old)} times in the solution of {mistake.exercise}")
        source = source.replace(old, new)
    return source


def run_catalogue(code: SolutionCode, catalogue: tuple[Mistake, ...] = CATALOGUE) -> list[MutantResult]:
    out = []
    for m in catalogue:
        if m.exercise not in code.answers:
            out.append(MutantResult(m, False, None, f"exercise {m.exercise} has no answer cell"))
            continue
        try:
            mutated = apply(m, code.answers[m.exercise])
        except ValueError as exc:
            out.append(MutantResult(m, False, None, str(exc)))
            continue
        result = run_answer(code, mutated, m.exercise)
        if result.status != "wrong":
            out.append(MutantResult(m, False, result, f"the check said {result.status!r}"))
        elif result.diagnosis != m.diagnosis:
            out.append(MutantResult(m, False, result, f"diagnosed as {result.diagnosis!r}, not "
                                    f"{m.diagnosis!r}: {result.message}"))
        else:
            out.append(MutantResult(m, True, result))
    return out


@dataclass(frozen=True)
class ExerciseVerdict:
    exercise: str
    solution: CheckResult
    stub: CheckResult

    @property
    def ok(self) -> bool:
        return self.solution.status == PASSED and self.stub.status == NOT_ATTEMPTED


def verify_exercises(code: SolutionCode) -> list[ExerciseVerdict]:
    """Every registered check on its solution (must pass) and on the student stub (not attempted)."""
    from .student import stub_source

    out = []
    for ex_id, ex in EXERCISES.items():
        source = code.answers.get(ex_id)
        if source is None:
            missing = CheckResult(ex_id, "wrong", "no answer cell in the notebooks", "missing")
            out.append(ExerciseVerdict(ex_id, missing, missing))
            continue
        stub, _, _ = stub_source(source, f"exercise {ex_id}")
        out.append(ExerciseVerdict(ex_id, run_answer(code, source, ex_id), run_answer(code, stub, ex_id)))
    return out


def format_mutants(results: list[MutantResult]) -> str:
    rows = [("mistake", "exercise", "caught?", "message the student sees")]
    rows += [(r.mistake.name, r.mistake.exercise, "yes" if r.caught else "NO", r.message) for r in results]
    w0, w1 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    lines = [f"{a:<{w0}}  {b:<{w1}}  {c:<7}  {d}" for a, b, c, d in rows]
    caught = sum(r.caught for r in results)
    lines.append(f"caught {caught} of {len(results)} mistakes")
    return "\n".join(lines)


def format_exercises(verdicts: list[ExerciseVerdict]) -> str:
    lines = []
    for v in verdicts:
        state = "ok" if v.ok else "PROBLEM"
        lines.append(f"{v.exercise}  {state:<7}  solution: {v.solution.status}; stub: {v.stub.status}"
                     + ("" if v.ok else f"  ({v.solution.message or v.stub.message})"))
    lines.append(f"{sum(v.ok for v in verdicts)} of {len(verdicts)} exercises: solution passes, stub not attempted")
    return "\n".join(lines)
