"""Checks for lab 04, regularization by hand (``solutions/04_regularization_lab.ipynb``).

Each check runs the student's function on small tensors and compares with PyTorch (``torch.optim.SGD``, ``Adam``,
``AdamW``, ``F.batch_norm``) or with the rule the exercise states. When an answer is wrong it names the classic
mistake that reproduces it: the missing 1/2 of the L2 penalty, decay not scaled by the learning rate, Adam + L2 where
AdamW was asked, Keras's momentum convention, the unbiased variance where the biased one normalises, a
``state_dict()`` kept without copying, bias and variance swapped, a bias per input instead of per output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks.core import (CheckFailed, call_student, expect_close, expect_int, expect_shape, expect_tensor,
                                 expect_true, name_the_mistake, return_hint, run_cases, same_numbers)

__all__ = [
    "check_l2_penalty",
    "check_l2_gradient",
    "check_sgd_step",
    "check_adam_step",
    "check_batch_norm",
    "check_fit_with_early_stopping",
    "check_diagnose",
    "check_parameter_counts",
]


def _seeded(seed: int, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


# ---------------------------------------------------------------- 1. the L2 penalty and its gradient

def check_l2_penalty(l2_penalty: Callable[..., Any]) -> None:
    """Check ``l2_penalty(params, lam)`` = lam / 2 * (sum of every squared entry of every tensor), a tensor autograd
    can differentiate (its gradient is lam * w)."""

    def case(shapes: Sequence[tuple[int, ...]], lam: float, seed: int) -> Callable[[], None]:
        def run() -> None:
            params = [_seeded(seed + i, *shape, scale=0.5).requires_grad_() for i, shape in enumerate(shapes)]
            values = [p.detach() for p in params]
            squares = sum(float((v ** 2).sum()) for v in values)
            expected = lam / 2 * squares
            result = call_student(l2_penalty, list(params), lam)
            if isinstance(result, (int, float)) and not isinstance(result, bool):
                raise CheckFailed(f"l2_penalty returned the Python number {result!r}",
                                  "keep it a tensor (no .item(), no float()), so that loss + penalty can be "
                                  "differentiated by loss.backward().")
            got = expect_tensor(result, "l2_penalty's result", "return the penalty as a tensor (one number).")
            if got.numel() != 1:
                hint = ("Python's sum() over a 2-D tensor adds up its rows and leaves a vector: sum every element "
                        "with (p ** 2).sum()." if got.dim() == 1 else "the penalty is one number: add up every squared entry.")
                expect_shape(got, (), "the penalty", hint)
            value = float(got.detach())
            if not math.isclose(value, expected, rel_tol=1e-4, abs_tol=1e-7):
                hint = name_the_mistake(value, [
                    (lam * squares, "you left out the 1/2: the lecture's penalty is λ/2 · Σ w², so its gradient is exactly λ·w."),
                    (lam / 2 * sum(float(v.abs().sum()) for v in values), "that is the L1 penalty (absolute values); "
                                                                          "the L2 penalty squares the weights."),
                    (lam / 2 * math.sqrt(squares), "you took the norm ‖w‖; the penalty uses its square, Σ w² "
                                                   "(no square root)."),
                    (lam / 2 * sum(float((v ** 2).mean()) for v in values), "add up the squares (sum), do not average "
                                                                            "them (mean)."),
                    (lam / 2 * float((values[0] ** 2).sum()), "include every tensor in params: the biases too, not "
                                                              "only the first tensor."),
                    (squares / 2, "multiply by lam, the importance λ of the penalty."),
                ], atol=1e-6)
                raise CheckFailed(f"l2_penalty gives {value:.6g}, expected {expected:.6g}",
                                  hint or "penalty = lam / 2 * sum of (p ** 2).sum() over every tensor p in params.")
            if lam == 0:
                return
            expect_true(got.requires_grad, "the penalty is not connected to the weights in autograd",
                        "build it from the tensors themselves with torch operations: .item(), .detach(), .numpy() or "
                        "torch.tensor(...) on the way cut the graph, so backward() cannot reach the weights.")
            got.backward()
            for p in params:
                expect_close(p.grad, lam * p.detach(), "the gradient of your penalty", atol=1e-6,
                             hint="the gradient of λ/2 · Σ w² is λ·w: check the 1/2 and the squares.")
        return run

    run_cases("l2_penalty", {
        "a weight matrix and a bias": case([(4, 3), (4,)], 0.1, seed=1),
        "lam = 0 (no penalty)": case([(4, 3), (4,)], 0.0, seed=2),
        "a conv weight (4-D) and its bias": case([(2, 3, 3, 3), (2,)], 0.01, seed=3),
        "three tensors": case([(5,), (3, 2), (2, 2)], 0.5, seed=4),
    })


def check_l2_gradient(l2_gradient: Callable[..., Any]) -> None:
    """Check ``l2_gradient(w, lam)`` = d/dw (lam / 2 * sum w**2) = lam * w, a tensor like w."""

    def case(w: torch.Tensor, lam: float) -> Callable[[], None]:
        def run() -> None:
            expected = lam * w
            got = expect_tensor(call_student(l2_gradient, w.clone(), lam), "l2_gradient's result",
                                "return a tensor like w (lam * w).")
            expect_shape(got, tuple(w.shape), "the gradient", "the gradient has one entry per weight: the shape of w.")
            if same_numbers(got, expected, atol=1e-6):
                return
            hint = name_the_mistake(got, [
                (2 * lam * w, "the 1/2 in λ/2 · Σ w² cancels the 2 that comes from differentiating w²: the gradient is λ·w."),
                (lam * torch.sign(w), "that is the gradient of the L1 penalty λ·Σ|w|; for L2 it is λ·w."),
                (-lam * w, "the gradient points uphill: +λ·w. The minus sign belongs to the update step, w - lr * gradient."),
                (torch.full_like(w, lam), "the gradient depends on the weight: d/dw (λ/2 · w²) = λ·w."),
                (lam / 2 * w ** 2, "that is the penalty of each weight, not its derivative: d/dw (λ/2 · w²) = λ·w."),
                (w, "multiply by lam, the importance λ."),
            ], atol=1e-6)
            expect_close(got, expected, "the gradient", atol=1e-6, hint=hint or "the gradient of λ/2 · Σ w² is λ·w.")
        return run

    run_cases("l2_gradient", {
        "a vector, lam = 0.1": case(torch.tensor([0.5, -2.0, 0.0, 3.0]), 0.1),
        "a matrix, lam = 0.5": case(_seeded(5, 3, 4), 0.5),
        "lam = 0": case(_seeded(6, 5), 0.0),
    })


# ---------------------------------------------------------------- 2. weight decay in an SGD step

def check_sgd_step(sgd_step: Callable[..., Any]) -> None:
    """Check ``sgd_step(w, grad, lr, weight_decay)`` = w - lr * (grad + weight_decay * w), as torch.optim.SGD does;
    a new tensor, w left unchanged."""

    def case(w: torch.Tensor, grad: torch.Tensor, lr: float, weight_decay: float) -> Callable[[], None]:
        def run() -> None:
            p = w.clone().requires_grad_()
            optimizer = torch.optim.SGD([p], lr=lr, weight_decay=weight_decay)
            p.grad = grad.clone()
            optimizer.step()
            expected = p.detach()
            given = w.clone()
            got = expect_tensor(call_student(sgd_step, given, grad.clone(), lr, weight_decay), "sgd_step's result",
                                "return the new weights, a tensor like w.")
            expect_shape(got, tuple(w.shape), "the new weights")
            if not same_numbers(got, expected, atol=1e-6):
                hint = name_the_mistake(got, [
                    (w - lr * grad - weight_decay * w, "the decay is part of the gradient step, so the learning rate scales "
                                                       "it too: w - lr * (grad + weight_decay * w), i.e. w shrinks by "
                                                       "(1 - lr * weight_decay)."),
                    (w - lr * (grad - weight_decay * w), "the sign: decay pulls the weights TOWARDS zero, so ADD "
                                                         "weight_decay * w to the gradient."),
                    (w - lr * (grad + 2 * weight_decay * w), "weight_decay * w is the whole gradient of the penalty "
                                                             "(λ/2 · w² gives λ·w): no factor 2."),
                    (w - lr * grad, "you ignored weight_decay: add weight_decay * w to the gradient."),
                    (w - lr * (grad + weight_decay * grad), "the decay term is weight_decay * w (the weight), not "
                                                            "weight_decay * grad."),
                    (w + lr * (grad + weight_decay * w), "step AGAINST the gradient: w - lr * (...), not w + lr * (...)."),
                ], atol=1e-6)
                expect_close(got, expected, "w_new", atol=1e-6,
                             hint=hint or "w_new = w - lr * (grad + weight_decay * w).")
            expect_true(torch.equal(given, w), "sgd_step changed w in place",
                        "return a new tensor (w - lr * (...)) and leave w as it is; w -= ... overwrites the caller's weights.")
        return run

    run_cases("sgd_step", {
        "lr 0.1, weight decay 0.01": case(torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.3, 0.1, -0.2]), 0.1, 0.01),
        "no weight decay": case(torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.3, 0.1, -0.2]), 0.1, 0.0),
        "strong decay, zero gradient": case(torch.tensor([2.0, -4.0]), torch.zeros(2), 0.5, 0.2),
        "a weight matrix": case(_seeded(7, 3, 4), _seeded(8, 3, 4), 0.05, 0.1),
    })


# ---------------------------------------------------------------- 3. Adam + L2 versus AdamW

def _adam_run(w0: torch.Tensor, grads: Sequence[torch.Tensor], lr: float, weight_decay: float, rule: str,
              betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> torch.Tensor:
    """Adam steps with the decay placed by ``rule``: 'l2' (Adam + L2), 'adamw', or one of the classic wrong ones."""
    w = w0.double().clone()
    m, v = torch.zeros_like(w), torch.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        g = g.double()
        if rule in ("l2", "both"):
            g = g + weight_decay * w
        if rule == "l2_minus":
            g = g - weight_decay * w
        if rule in ("adamw", "both"):
            w = w * (1 - lr * weight_decay)
        if rule == "adamw_no_lr":
            w = w * (1 - weight_decay)
        if rule == "adamw_plus":
            w = w * (1 + lr * weight_decay)
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        w = w - lr * (m / (1 - betas[0] ** t)) / ((v / (1 - betas[1] ** t)).sqrt() + eps)
    return w.float()


def check_adam_step(adam_step: Callable[..., Any]) -> None:
    """Check ``adam_step(w, grad, state, lr, weight_decay, decoupled)`` over several steps against torch.optim.Adam
    (decoupled=False: Adam + L2) and torch.optim.AdamW (decoupled=True); ``state`` is the dict adam_direction keeps."""
    w0 = torch.tensor([1.0, -2.0, 0.5, 3.0])
    # a weight the loss pushes hard back and forth, an idle one, a gently pushed one, a steadily pushed one
    grads = [torch.tensor([10.0 * (-1) ** t, 0.0, 0.3, -1.0]) for t in range(6)]

    def case(decoupled: bool, weight_decay: float, lr: float = 0.01) -> Callable[[], None]:
        def run() -> None:
            p = w0.clone().requires_grad_()
            optimizer = (torch.optim.AdamW if decoupled else torch.optim.Adam)([p], lr=lr, weight_decay=weight_decay)
            for g in grads:
                p.grad = g.clone()
                optimizer.step()
            expected = p.detach()
            state: dict[str, Any] = {}
            w = w0.clone()
            for g in grads:
                w = expect_tensor(call_student(adam_step, w.clone(), g.clone(), state, lr, weight_decay, decoupled),
                                  "adam_step's result", "return the new weights, a tensor like w.")
                expect_shape(w, tuple(w0.shape), "the new weights")
            if same_numbers(w, expected, atol=1e-5):
                return
            steps = state.get("t")
            if isinstance(steps, int) and steps != len(grads):
                raise CheckFailed(f"after {len(grads)} steps adam_direction has counted {steps} steps",
                                  "call adam_direction exactly once per step: it updates the running averages in state, "
                                  "so a second call (or a call in a branch you do not use) advances them twice.")
            text = "AdamW (decoupled=True)" if decoupled else "Adam + L2 (decoupled=False)"
            if decoupled:
                mistakes = [
                    ("l2", "with decoupled=True (AdamW) the decay must not go through adam_direction: shrink w directly, "
                           "w * (1 - lr * weight_decay), and give adam_direction the plain gradient."),
                    ("adamw_no_lr", "AdamW's decay is scaled by the learning rate: w * (1 - lr * weight_decay)."),
                    ("adamw_plus", "decay shrinks the weights: multiply by (1 - lr * weight_decay), not (1 + ...)."),
                    ("both", "AdamW only shrinks w directly; do not also add weight_decay * w to the gradient."),
                ]
            else:
                mistakes = [
                    ("adamw", "with decoupled=False (Adam + L2) the decay is part of the gradient: add weight_decay * w "
                              "to grad BEFORE adam_direction, so it is rescaled like the loss gradient. Shrinking w "
                              "outside adam_direction is AdamW's rule."),
                    ("l2_minus", "decay pulls the weights towards zero: ADD weight_decay * w to the gradient."),
                ]
            hint = name_the_mistake(w, [(lambda r=rule: _adam_run(w0, grads, lr, weight_decay, r), h) for rule, h in mistakes],
                                    atol=1e-5)
            expect_close(w, expected, f"w after {len(grads)} steps of {text}", atol=1e-5,
                         hint=hint or ("AdamW: w = w * (1 - lr * weight_decay), then w - lr * adam_direction(grad, state)."
                                       if decoupled else
                                       "Adam + L2: w - lr * adam_direction(grad + weight_decay * w, state)."))
        return run

    run_cases("adam_step", {
        "Adam + L2 (decoupled=False)": case(False, 0.1),
        "AdamW (decoupled=True)": case(True, 0.1),
        "weight_decay = 0: plain Adam": case(True, 0.0),
        "AdamW, bigger learning rate": case(True, 0.05, lr=0.1),
    })


# ---------------------------------------------------------------- 4. batch normalization

def _bn(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, running_mean: torch.Tensor, running_var: torch.Tensor,
        training: bool, momentum: float, eps: float, *, dims: tuple[int, ...] | None = None, norm_unbiased: bool = False,
        running_unbiased: bool = True, swap_momentum: bool = False, eps_outside: bool = False, affine: bool = True,
        batch_stats_in_eval: bool = False, running_in_training: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batch norm by hand, right by default; each switch turns on one classic mistake."""
    shape = [1, -1] + [1] * (x.dim() - 2)
    dims = tuple(d for d in range(x.dim()) if d != 1) if dims is None else dims
    rm, rv = running_mean.clone(), running_var.clone()
    if training or batch_stats_in_eval:
        mean = x.mean(dim=dims, keepdim=True)
        var = x.var(dim=dims, keepdim=True, unbiased=norm_unbiased)
        if training:
            right = tuple(d for d in range(x.dim()) if d != 1)
            batch_mean, batch_var = x.mean(dim=right), x.var(dim=right, unbiased=running_unbiased)
            new = momentum if not swap_momentum else 1 - momentum
            rm = (1 - new) * rm + new * batch_mean
            rv = (1 - new) * rv + new * batch_var
        if running_in_training:
            mean, var = running_mean.view(shape), running_var.view(shape)
    else:
        mean, var = running_mean.view(shape), running_var.view(shape)
    y = (x - mean) / (var.sqrt() + eps) if eps_outside else (x - mean) / (var + eps).sqrt()
    if affine:
        y = y * gamma.view(shape) + beta.view(shape)
    return y, rm, rv


def _bn_input(n: int, dims: tuple[int, ...], seed: int) -> torch.Tensor:
    """Three channels with different offsets and scales; the last one has a tiny variance (where eps matters)."""
    scale = torch.tensor([1.0, 5.0, 0.003]).view(1, 3, *([1] * len(dims)))
    offset = torch.tensor([0.0, 10.0, 1.0]).view(1, 3, *([1] * len(dims)))
    return _seeded(seed, n, 3, *dims) * scale + offset


def check_batch_norm(batch_norm: Callable[..., Any]) -> None:
    """Check ``batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5)`` ->
    ``(y, running_mean, running_var)`` against ``F.batch_norm`` (one mean and variance per channel, dim 1)."""
    gamma, beta = torch.tensor([1.5, 0.5, 2.0]), torch.tensor([0.1, -0.2, 0.3])
    start_mean, start_var = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([2.0, 0.5, 1.0])

    def student(x: torch.Tensor, rm: torch.Tensor, rv: torch.Tensor, training: bool, momentum: float) -> tuple[torch.Tensor, ...]:
        result = call_student(batch_norm, x.clone(), gamma.clone(), beta.clone(), rm.clone(), rv.clone(), training,
                              momentum=momentum, eps=1e-5)
        if not isinstance(result, (tuple, list)) or len(result) != 3:
            raise CheckFailed(f"batch_norm returned {type(result).__name__}, expected three results",
                              return_hint(result, "return y, running_mean, running_var (a tuple of three tensors)."))
        names = ("y", "running_mean", "running_var")
        return tuple(expect_tensor(r, f"the returned {name}", f"return {name} as a tensor.") for r, name in zip(result, names))

    def compare_y(y: torch.Tensor, x: torch.Tensor, expected: torch.Tensor, training: bool, momentum: float) -> None:
        expect_shape(y, tuple(x.shape), "y", "batch norm keeps the shape of its input.")
        if same_numbers(y, expected, atol=1e-4):
            return
        args = (x, gamma, beta, start_mean, start_var, training, momentum, 1e-5)
        per_sample = tuple(range(1, x.dim()))
        mistakes = [
            (_bn(*args, norm_unbiased=True)[0], "normalise with the BIASED batch variance (divide by m, "
                                                "unbiased=False); the unbiased one (m - 1) is only for running_var."),
            (_bn(*args, eps_outside=True)[0], "eps goes inside the square root: (x - mean) / sqrt(var + eps). "
                                              "Outside, it does not protect a channel whose variance is close to 0."),
            (_bn(*args, dims=per_sample)[0], "those are statistics per image (that is layer normalization): batch norm "
                                             "takes one mean and variance per CHANNEL, over the batch (and the positions)."),
            (_bn(*args, affine=False)[0], "after normalising, scale and shift: y = gamma * x_hat + beta."),
            (_bn(*args, running_in_training=True)[0], "in training, normalise with the statistics of THIS batch; the "
                                                      "running statistics are only for evaluation."),
            (_bn(*args, batch_stats_in_eval=True)[0], "in eval mode normalise with running_mean and running_var, not with "
                                                      "the batch's statistics: at test time there may be a single image."),
        ]
        if x.dim() > 2:
            mistakes.append((_bn(*args, dims=(0,))[0], "one mean per channel over the batch AND the positions: for "
                                                       "N x C x H x W reduce dims (0, 2, 3), not dim 0 alone."))
        hint = name_the_mistake(y, mistakes, atol=1e-4)
        expect_close(y, expected, "y", atol=1e-4,
                     hint=hint or "y = gamma * (x - mean) / sqrt(var + eps) + beta, per channel.")

    def compare_running(got: torch.Tensor, expected: torch.Tensor, start: torch.Tensor, name: str, x: torch.Tensor,
                        momentum: float) -> None:
        expect_shape(got, tuple(expected.shape), name, "one running value per channel.")
        if same_numbers(got, expected, atol=1e-5):
            return
        if same_numbers(got, start, atol=1e-7):
            raise CheckFailed(f"{name} did not change in training mode",
                              "in training, update the running statistics: running = (1 - momentum) * running + "
                              "momentum * (this batch's statistic).")
        args = (x, gamma, beta, start_mean, start_var, True, momentum, 1e-5)
        index = 1 if name == "running_mean" else 2
        hint = name_the_mistake(got, [
            (_bn(*args, swap_momentum=True)[index], "PyTorch's momentum is the weight of the NEW batch: running = "
                                                    "(1 - momentum) * running + momentum * batch (Keras uses the opposite "
                                                    "convention)."),
            (_bn(*args, running_unbiased=False)[index], "PyTorch keeps the UNBIASED variance in running_var (divide by "
                                                        "m - 1, unbiased=True), although it normalises with the biased one."),
        ], atol=1e-5)
        expect_close(got, expected, name, atol=1e-5,
                     hint=hint or "running = (1 - momentum) * running + momentum * batch statistic (unbiased variance).")

    def training_case(x: torch.Tensor, momentum: float, steps: int = 1) -> Callable[[], None]:
        def run() -> None:
            rm, rv = start_mean.clone(), start_var.clone()
            got_rm, got_rv = start_mean.clone(), start_var.clone()
            for _ in range(steps):
                expected_y = F.batch_norm(x, rm, rv, gamma, beta, True, momentum, 1e-5)  # updates rm, rv in place
                y, got_rm, got_rv = student(x, got_rm, got_rv, True, momentum)
                compare_y(y, x, expected_y, True, momentum)
            if steps == 1:
                compare_running(got_rm, rm, start_mean, "running_mean", x, momentum)
                compare_running(got_rv, rv, start_var, "running_var", x, momentum)
            else:
                expect_close(got_rm, rm, f"running_mean after {steps} steps", atol=1e-5,
                             hint="feed the returned running statistics into the next call; each step mixes in "
                                  "momentum * the batch statistic.")
                expect_close(got_rv, rv, f"running_var after {steps} steps", atol=1e-5,
                             hint="feed the returned running statistics into the next call.")
        return run

    def eval_case(x: torch.Tensor) -> Callable[[], None]:
        def run() -> None:
            expected_y = F.batch_norm(x, start_mean.clone(), start_var.clone(), gamma, beta, False, 0.1, 1e-5)
            y, got_rm, got_rv = student(x, start_mean, start_var, False, 0.1)
            compare_y(y, x, expected_y, False, 0.1)
            expect_true(torch.equal(got_rm, start_mean) and torch.equal(got_rv, start_var),
                        "the running statistics changed in eval mode",
                        "in eval mode leave running_mean and running_var as they are: model.eval() freezes them, so "
                        "evaluating never learns from test data.")
        return run

    run_cases("batch_norm", {
        "training, N x C x H x W": training_case(_bn_input(6, (4, 5), seed=9), 0.1),
        "eval (running statistics)": eval_case(_bn_input(6, (4, 5), seed=10)),
        "training, N x C (after a linear layer)": training_case(_bn_input(8, (), seed=11), 0.1),
        "two training steps, momentum 0.3": training_case(_bn_input(5, (3, 3), seed=12), 0.3, steps=2),
    })


# ---------------------------------------------------------------- 5. early stopping

def _early_stopping(losses: Sequence[float], max_epochs: int, patience: int, *, ties_improve: bool = False,
                    previous: bool = False, shift: int = 0, reset: bool = True, stop: bool = True) -> tuple[int, int]:
    """(best epoch, epochs run) of the right rule, or of a classic wrong one (a switch changed)."""
    best, best_epoch, wait, last = math.inf, 0, 0, math.inf
    for epoch in range(1, max_epochs + 1):
        loss = losses[epoch - 1]
        reference = last if previous else best
        improved = loss <= reference if ties_improve else loss < reference
        if improved:
            best, best_epoch = loss, epoch
            if reset:
                wait = 0
        else:
            wait += 1
        last = loss
        if stop and wait >= patience + shift:
            return best_epoch, epoch
    return best_epoch, max_epochs


class _EpochCounter(nn.Module):
    """A model whose weights say which epoch made them (all equal to the epoch number); counts load_state_dict calls."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(3))
        self.loads = 0

    def load_state_dict(self, state_dict: Any, *args: Any, **kwargs: Any) -> Any:
        self.loads += 1
        return super().load_state_dict(state_dict, *args, **kwargs)


def check_fit_with_early_stopping(fit_with_early_stopping: Callable[..., Any]) -> None:
    """Check ``fit_with_early_stopping(model, train_one_epoch, validation_loss, max_epochs, patience)`` ->
    ``(best_epoch, val_losses)``: stop after ``patience`` epochs in a row without a strictly lower validation loss,
    epochs counted from 1, the best epoch's weights restored into ``model``."""

    def case(losses: list[float], max_epochs: int, patience: int) -> Callable[[], None]:
        def run() -> None:
            model = _EpochCounter()
            trained = [0]

            def train_one_epoch() -> None:
                trained[0] += 1
                with torch.no_grad():
                    model.w.add_(1.0)  # in place, like an optimizer step: the weights now say "epoch k"

            def validation_loss() -> float:
                return losses[max(trained[0], 1) - 1]

            best, ran = _early_stopping(losses, max_epochs, patience)
            text = f"validation losses {losses}, patience {patience}"
            result = call_student(fit_with_early_stopping, model, train_one_epoch, validation_loss, max_epochs, patience)
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise CheckFailed(f"fit_with_early_stopping returned {type(result).__name__}, expected two results",
                                  return_hint(result, "return best_epoch, val_losses."))
            got_best = expect_int(result[0], "the returned best epoch", "return the best epoch as an int (1 for the first epoch).")
            variants = [
                (dict(ties_improve=True), "an equal loss is not an improvement: count it as an epoch without "
                                          "improvement (compare with <, not <=)."),
                (dict(previous=True), "compare with the BEST loss so far, not with the previous epoch's: a loss that "
                                      "goes down after a bad epoch may still be worse than the best."),
                (dict(reset=False), "reset the count of epochs without improvement to 0 whenever the loss improves."),
                (dict(shift=1), "off by one: stop as soon as `patience` epochs in a row brought no improvement, not "
                                "one epoch later."),
                (dict(shift=-1), "off by one: allow `patience` epochs without improvement before stopping (stop when "
                                 "the count reaches patience), not patience - 1."),
                (dict(stop=False), "stop early: break out of the loop once `patience` epochs in a row brought no "
                                   "improvement."),
            ]
            outcomes = [(_early_stopping(losses, max_epochs, patience, **switch), hint) for switch, hint in variants]
            if trained[0] != ran:
                hint = next((h for (b, r), h in outcomes if (b, r) == (got_best, trained[0])), None) or \
                    next((h for (b, r), h in outcomes if r == trained[0]), None)
                raise CheckFailed(f"{text}: training ran {trained[0]} epochs, expected {ran} (best epoch {best})",
                                  hint or "after every epoch: if the loss is lower than the best so far, remember it and "
                                          "reset the count; else add 1 to the count and stop when it reaches patience.")
            try:
                val_losses = [float(v) for v in result[1]]
            except (TypeError, ValueError) as err:
                raise CheckFailed("the returned val_losses is not a list of numbers",
                                  "return the list of validation losses, one per epoch run.") from err
            expect_true(val_losses == [float(v) for v in losses[:ran]],
                        f"val_losses is {val_losses}, expected the {ran} losses of the epochs run",
                        "append validation_loss() of every epoch to a list and return it.")
            if got_best != best:
                if got_best == best - 1:
                    hint = "epochs count from 1 here (the first epoch is epoch 1): use range(1, max_epochs + 1)."
                else:
                    hint = next((h for (b, r), h in outcomes if b == got_best), None)
                raise CheckFailed(f"{text}: best epoch {got_best}, expected {best}",
                                  hint or "the best epoch is the one with the lowest validation loss seen before stopping.")
            weights = float(model.w.detach()[0])
            if weights == best:
                return
            if weights == ran and model.loads:
                raise CheckFailed(f"{text}: after restoring, the model holds epoch {ran}'s weights (the last), not "
                                  f"epoch {best}'s",
                                  "model.state_dict() returns references to the live tensors, which the next epochs "
                                  "keep changing: save a copy, copy.deepcopy(model.state_dict()) or {k: v.detach().clone() "
                                  "for k, v in model.state_dict().items()}.")
            if weights == ran:
                raise CheckFailed(f"{text}: the model ends with the last epoch's weights (epoch {ran})",
                                  f"restore the best epoch's weights at the end: keep a copy of them when epoch {best} "
                                  "is validated, then model.load_state_dict(best_state).")
            raise CheckFailed(f"{text}: the model ends with the weights of epoch {weights:g}, expected those of the "
                              f"best epoch {best}",
                              "save a copy of the weights right after validating an epoch that improved, and load it "
                              "when training stops.")
        return run

    run_cases("fit_with_early_stopping", {
        "stops 3 epochs after the best": case([0.9, 0.7, 0.6, 0.65, 0.7, 0.75, 0.8, 0.5], 8, 3),
        "a dip that is not a new best": case([0.9, 0.7, 0.6, 0.65, 0.62, 0.61, 0.7, 0.5], 8, 3),
        "more patience finds a later best": case([0.9, 0.7, 0.6, 0.65, 0.62, 0.61, 0.7, 0.5], 8, 5),
        "an equal loss is no improvement": case([1.0, 0.8, 0.8, 0.8, 0.9, 0.95], 6, 2),
        "improvement resets the count": case([1.0, 0.9, 0.95, 0.8, 0.85, 0.86, 0.7], 7, 2),
        "best in the first epoch, patience 1": case([0.5, 0.6, 0.7, 0.8, 0.9], 5, 1),
        "never stops early": case([0.9, 0.8, 0.7, 0.6], 4, 2),
    })


# ---------------------------------------------------------------- 6. diagnosing learning curves

LABELS = ("high bias", "high variance", "good fit")


def _diagnose(train_error: Sequence[float], val_error: Sequence[float], bayes_error: float, tolerance: float, *,
              pick: Callable[[Sequence[float]], float] = lambda c: c[-1], swap: bool = False, ignore_bayes: bool = False,
              variance_from_bayes: bool = False) -> str:
    """The rule of the exercise (defaults) or a classic wrong one (a switch changed)."""
    train, val = pick(train_error), pick(val_error)
    bias = train - (0.0 if ignore_bayes else bayes_error)
    variance = val - (bayes_error if variance_from_bayes else train)
    if max(bias, variance) <= tolerance:
        return "good fit"
    label = "high bias" if bias >= variance else "high variance"
    if swap:
        label = "high variance" if label == "high bias" else "high bias"
    return label


def check_diagnose(diagnose: Callable[..., Any]) -> None:
    """Check ``diagnose(train_error, val_error, bayes_error, tolerance)`` on learning curves (error per epoch): at the
    last epoch, avoidable bias = train - bayes and variance = val - train; the larger one above tolerance names the
    problem ('high bias' or 'high variance'), else 'good fit'."""
    examples = [
        ("overfitting curves", [0.35, 0.2, 0.1, 0.04, 0.01], [0.3, 0.22, 0.2, 0.21, 0.24], 0.05, 0.02),
        ("underfitting curves", [0.5, 0.4, 0.35, 0.33, 0.32], [0.52, 0.41, 0.36, 0.34, 0.33], 0.05, 0.02),
        ("a good fit", [0.3, 0.15, 0.09, 0.07], [0.32, 0.17, 0.1, 0.08], 0.06, 0.03),
        ("early epochs look different from the end", [0.6, 0.3, 0.1, 0.02], [0.62, 0.33, 0.2, 0.25], 0.05, 0.02),
        ("validation close to training, far from the best", [0.5, 0.35, 0.3], [0.5, 0.36, 0.32], 0.05, 0.02),
        ("a hard task (best possible error 10 %)", [0.4, 0.2, 0.12], [0.42, 0.22, 0.16], 0.10, 0.03),
    ]

    def _answer(train: list[float], val: list[float], bayes: float, tolerance: float) -> str | None:
        """The student's answer, normalised ('High Bias' -> 'high bias'), or None when it crashes or is no string."""
        try:
            result = diagnose(list(train), list(val), bayes, tolerance)
        except Exception:  # the failing case reports crashes itself
            return None
        return " ".join(result.lower().replace("_", " ").split()) if isinstance(result, str) else None

    def case(train: list[float], val: list[float], bayes: float, tolerance: float) -> Callable[[], None]:
        def run() -> None:
            expected = _diagnose(train, val, bayes, tolerance)
            result = call_student(diagnose, list(train), list(val), bayes, tolerance)
            if not isinstance(result, str):
                raise CheckFailed(f"diagnose returned {type(result).__name__}, expected a string",
                                  return_hint(result, f"return one of {', '.join(repr(s) for s in LABELS)}."))
            got = " ".join(result.lower().replace("_", " ").split())
            if got in ("overfitting", "overfit", "underfitting", "underfit"):
                raise CheckFailed(f"diagnose returned {result!r}",
                                  "name the cause, not the symptom: overfitting is 'high variance', underfitting is "
                                  "'high bias'.")
            if got not in LABELS:
                raise CheckFailed(f"diagnose returned {result!r}", f"return one of {', '.join(repr(s) for s in LABELS)}.")
            if got == expected:
                return
            variants = [
                (dict(swap=True), "you swapped the two: high BIAS means the model does not even fit its training data "
                                  "(training error far above the best possible); high VARIANCE means it fits the "
                                  "training data but not new data (validation error far above training error)."),
                (dict(ignore_bayes=True), "measure the bias against the best achievable error, not against 0: "
                                          "avoidable bias = train_error - bayes_error."),
                (dict(variance_from_bayes=True), "variance is the gap between validation and TRAINING error "
                                                 "(val - train), not between validation and the best possible error."),
                (dict(pick=lambda c: c[0]), "judge the curves where they end (the last epoch, curve[-1]): at the start "
                                            "every model is underfit."),
                (dict(pick=lambda c: sum(c) / len(c)), "judge the curves where they end (the last epoch, curve[-1]), "
                                                       "not their average over all epochs."),
            ]
            # the mistake that explains ALL the student's answers, else one that explains this one
            answers = [_answer(*example[1:]) for example in examples]
            hint = next((h for switch, h in variants
                         if all(_diagnose(*example[1:], **switch) == a for example, a in zip(examples, answers))), None) or \
                next((h for switch, h in variants if _diagnose(train, val, bayes, tolerance, **switch) == got), None)
            bias, variance = train[-1] - bayes, val[-1] - train[-1]
            raise CheckFailed(f"diagnose gave {got!r}, expected {expected!r} (at the last epoch: avoidable bias "
                              f"{bias:.2f}, variance {variance:.2f}, tolerance {tolerance})",
                              hint or "bias = train[-1] - bayes_error, variance = val[-1] - train[-1]; the larger one, if "
                                      "above tolerance, names the problem.")
        return run

    run_cases("diagnose", {label: case(train, val, bayes, tol) for label, train, val, bayes, tol in examples})


# ---------------------------------------------------------------- 7. counting parameters

def check_parameter_counts(linear_parameters: Callable[..., Any], conv2d_parameters: Callable[..., Any]) -> None:
    """Check ``linear_parameters(in_features, out_features, bias=True)`` and ``conv2d_parameters(in_channels,
    out_channels, kernel_size, bias=True)`` (kernel_size an int or a pair) against PyTorch's layers."""

    def linear_case(n_in: int, n_out: int, bias: bool) -> Callable[[], None]:
        def run() -> None:
            expected = sum(p.numel() for p in nn.Linear(n_in, n_out, bias=bias).parameters())
            text = f"linear_parameters({n_in}, {n_out}, bias={bias})"
            got = expect_int(call_student(linear_parameters, n_in, n_out, bias=bias), text)
            if got == expected:
                return
            hint = name_the_mistake(got, [
                (n_in * n_out, "add one bias per output unit: + out_features."),
                (n_in * n_out + n_out, "with bias=False the layer has no bias: just in_features * out_features."),
                (n_in * n_out + n_in * bias, "one bias per OUTPUT unit (out_features), not per input."),
            ], atol=0)
            raise CheckFailed(f"{text} is {got:,}, expected {expected:,}",
                              hint or "weights: in_features * out_features; biases: out_features (if bias).")
        return run

    def conv_case(c_in: int, c_out: int, k: int | tuple[int, int], bias: bool) -> Callable[[], None]:
        def run() -> None:
            expected = sum(p.numel() for p in nn.Conv2d(c_in, c_out, k, bias=bias).parameters())
            kh, kw = (k, k) if isinstance(k, int) else k
            text = f"conv2d_parameters({c_in}, {c_out}, {k}, bias={bias})"
            try:
                raw = call_student(conv2d_parameters, c_in, c_out, k, bias=bias)
            except CheckFailed as err:
                if isinstance(k, tuple) and isinstance(err.__cause__, TypeError):
                    raise CheckFailed(err.message, "kernel_size may be a pair (height, width), like nn.Conv2d's: turn an "
                                                   "int k into (k, k) first, then multiply both sides.") from err.__cause__
                raise
            got = expect_int(raw, text)
            if got == expected:
                return
            b = c_out if bias else 0
            hint = name_the_mistake(got, [
                (kh * kw * c_out + b, "each filter spans ALL input channels: in_channels * kh * kw weights per filter."),
                (kh * c_in * c_out + b, f"a {kh}x{kw} kernel has {kh} * {kw} = {kh * kw} weights per channel: multiply by both sides."),
                (kh * kh * c_in * c_out + b, f"a ({kh}, {kw}) kernel has {kh} * {kw} = {kh * kw} weights: use both sides, "
                                             "not the first one squared."),
                (kh * kw * c_in * c_out, "add one bias per filter: + out_channels."),
                (kh * kw * c_in * c_out + c_out, "with bias=False the layer has no bias: just the weights."),
                (kh * kw * c_in * c_out + c_in * bias, "one bias per filter (out_channels), not per input channel."),
            ], atol=0)
            raise CheckFailed(f"{text} is {got:,}, expected {expected:,}",
                              hint or "weights: out_channels * in_channels * kh * kw; biases: out_channels (if bias).")
        return run

    run_cases("linear_parameters, conv2d_parameters", {
        "Linear(784, 512)": linear_case(784, 512, True),
        "Linear(784, 512, bias=False)": linear_case(784, 512, False),
        "Linear(512, 10)": linear_case(512, 10, True),
        "Conv2d(16, 32, 3)": conv_case(16, 32, 3, True),
        "Conv2d(64, 128, 3, bias=False)": conv_case(64, 128, 3, False),
        "Conv2d(1, 16, (5, 3))": conv_case(1, 16, (5, 3), True),
        "Conv2d(16, 32, 1)": conv_case(16, 32, 1, True),
        "Conv2d(3, 64, 3) on RGB images": conv_case(3, 64, 3, True),
    })
