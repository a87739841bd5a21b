"""Lab 04 checks (helpers/checks/lab04_regularization.py): right answers pass, every classic bug fails with its hint."""

from __future__ import annotations

import copy

import torch

from lab_test_kit import lab_tests, no_return as _no_return  # tests/checks/lab_test_kit.py
from helpers.checks import lab04_regularization as lab

# ---------------------------------------------------------------- the classic bugs of each exercise
# check -> {classic bug: fragment(s) its failure message or hint must contain}. Each bug has a wrong answer in
# WRONG_ANSWERS below; the tests at the bottom feed every one of them to its check.
CLASSIC_BUGS: dict[str, dict[str, str | list[str]]] = {
    "check_l2_penalty": {
        "no 1/2": "left out the 1/2",
        "L1 (absolute values)": "L1 penalty",
        "the norm, not its square": "no square root",
        "mean instead of sum": "do not average",
        "first tensor only": "the biases too",
        "lam forgotten": "multiply by lam",
        "Python's sum over a 2-D tensor (a vector)": ["Python's sum()", "(p ** 2).sum()"],
        "returns a Python float (.item())": ["Python number", "backward"],
        "cut from autograd (torch.tensor(...))": ["not connected", "autograd"],
        "no return statement": "return statement",
    },
    "check_l2_gradient": {
        "2 * lam * w": "cancels the 2",
        "L1 gradient lam * sign(w)": "L1 penalty",
        "minus sign": "points uphill",
        "a constant lam": "depends on the weight",
        "the penalty, not its derivative": "not its derivative",
        "lam forgotten": "multiply by lam",
        "no return statement": "return statement",
    },
    "check_sgd_step": {
        "decay not scaled by lr": "the learning rate scales it too",
        "decay with the wrong sign": "TOWARDS zero",
        "2 * weight_decay * w": "no factor 2",
        "weight decay ignored": "ignored weight_decay",
        "decay on the gradient, not the weight": "not weight_decay * grad",
        "gradient ascent": "AGAINST the gradient",
        "w changed in place": "changed w in place",
        "no return statement": "return statement",
    },
    "check_adam_step": {
        "decoupled ignored (always Adam + L2)": ["decoupled=True (AdamW)", "shrink w directly"],
        "always decoupled (AdamW for Adam + L2)": ["decoupled=False (Adam + L2)", "BEFORE adam_direction"],
        "AdamW decay without the learning rate": "scaled by the learning rate",
        "AdamW decay that grows the weights": "(1 + ...)",
        "AdamW decay added to the gradient too": "do not also add",
        "L2 term subtracted": "ADD weight_decay * w",
        "adam_direction called twice per step": ["counted 12 steps", "exactly once per step"],
        "no return statement": "return statement",
    },
    "check_batch_norm": {
        "unbiased variance for normalising": "BIASED batch variance",
        "biased variance in running_var": "UNBIASED variance in running_var",
        "Keras momentum convention": ["weight of the NEW batch", "Keras"],
        "eps outside the square root": "inside the square root",
        "statistics per image (layer norm)": "per image",
        "statistics over the batch axis only": "reduce dims (0, 2, 3)",
        "gamma and beta forgotten": "gamma * x_hat + beta",
        "batch statistics in eval mode": ["eval mode", "running_mean and running_var"],
        "running statistics not updated in training": "did not change in training mode",
        "running statistics updated in eval mode": "changed in eval mode",
        "running statistics used in training": "statistics of THIS batch",
        "no return statement": "return statement",
    },
    "check_fit_with_early_stopping": {
        "state_dict() kept without a copy": ["references", "deepcopy"],
        "best weights never restored": ["last epoch's weights", "load_state_dict"],
        "an equal loss counted as improvement": "not an improvement",
        "compares with the previous epoch": "BEST loss so far",
        "count not reset on improvement": "reset the count",
        "stops one epoch late": "not one epoch later",
        "stops one epoch early": "not patience - 1",
        "never stops early": "break out of the loop",
        "best epoch counted from 0": "count from 1",
        "no return statement": "return statement",
    },
    "check_diagnose": {
        "bias and variance swapped": "swapped the two",
        "bias measured against 0": "not against 0",
        "variance measured against the best error": "not between validation and the best possible error",
        "judged at the first epoch": "where they end",
        "judged on the average of the curves": "not their average",
        "answers 'overfitting' / 'underfitting'": "not the symptom",
        "no return statement": "return statement",
    },
    "check_parameter_counts": {
        "linear: bias forgotten": "one bias per output unit",
        "linear: bias=False ignored": "no bias",
        "linear: one bias per input": "not per input",
        "conv: input channels forgotten": "ALL input channels",
        "conv: kernel side not squared": "multiply by both sides",
        "conv: (kh, kw) kernel as kh * kh": "not the first one squared",
        "conv: kernel_size ** 2 on a pair": "turn an int k into (k, k)",
        "conv: bias forgotten": "one bias per filter: + out_channels",
        "conv: one bias per input channel": "not per input channel",
        "no return statement": "return statement",
    },
}


# ---------------------------------------------------------------- right answers (as a student would write them)
def l2_penalty(params, lam):
    return lam / 2 * sum((p ** 2).sum() for p in params)


def l2_gradient(w, lam):
    return lam * w


def sgd_step(w, grad, lr, weight_decay):
    return w - lr * (grad + weight_decay * w)


def adam_direction(grad, state, betas=(0.9, 0.999), eps=1e-8):
    """The helper the lab gives: Adam's direction for one gradient, running averages kept in `state`."""
    beta1, beta2 = betas
    if not state:
        state.update(t=0, m=torch.zeros_like(grad), v=torch.zeros_like(grad))
    state["t"] += 1
    state["m"] = beta1 * state["m"] + (1 - beta1) * grad
    state["v"] = beta2 * state["v"] + (1 - beta2) * grad ** 2
    m_hat = state["m"] / (1 - beta1 ** state["t"])
    v_hat = state["v"] / (1 - beta2 ** state["t"])
    return m_hat / (v_hat.sqrt() + eps)


def adam_step(w, grad, state, lr, weight_decay, decoupled):
    if decoupled:
        w = w * (1 - lr * weight_decay)
        return w - lr * adam_direction(grad, state)
    return w - lr * adam_direction(grad + weight_decay * w, state)


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    dims = [d for d in range(x.dim()) if d != 1]
    shape = [1, -1] + [1] * (x.dim() - 2)
    if training:
        mean = x.mean(dim=dims)
        var = x.var(dim=dims, unbiased=False)
        n = x.numel() // x.shape[1]
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)
    else:
        mean, var = running_mean, running_var
    x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + eps)
    return gamma.view(shape) * x_hat + beta.view(shape), running_mean, running_var


def fit_with_early_stopping(model, train_one_epoch, validation_loss, max_epochs, patience):
    best_loss, best_epoch, best_state, waited, val_losses = float("inf"), 0, None, 0, []
    for epoch in range(1, max_epochs + 1):
        train_one_epoch()
        loss = validation_loss()
        val_losses.append(loss)
        if loss < best_loss:
            best_loss, best_epoch, waited = loss, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if waited >= patience:
                break
    model.load_state_dict(best_state)
    return best_epoch, val_losses


def diagnose(train_error, val_error, bayes_error=0.0, tolerance=0.02):
    bias = train_error[-1] - bayes_error
    variance = val_error[-1] - train_error[-1]
    if max(bias, variance) <= tolerance:
        return "good fit"
    return "high bias" if bias >= variance else "high variance"


def linear_parameters(in_features, out_features, bias=True):
    return in_features * out_features + (out_features if bias else 0)


def conv2d_parameters(in_channels, out_channels, kernel_size, bias=True):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    return out_channels * in_channels * kh * kw + (out_channels if bias else 0)


RIGHT_ANSWERS: dict[str, list[tuple]] = {
    "check_l2_penalty": [(l2_penalty,), (lambda params, lam: 0.5 * lam * sum(torch.sum(p * p) for p in params),),
                         (lambda params, lam: lam / 2 * torch.cat([p.flatten() for p in params]).norm() ** 2,)],
    "check_l2_gradient": [(l2_gradient,)],
    "check_sgd_step": [(sgd_step,), (lambda w, grad, lr, weight_decay: (1 - lr * weight_decay) * w - lr * grad,)],
    "check_adam_step": [(adam_step,)],
    "check_batch_norm": [(batch_norm,)],
    "check_fit_with_early_stopping": [(fit_with_early_stopping,)],
    "check_diagnose": [(diagnose,), (lambda *args: diagnose(*args).upper(),)],
    "check_parameter_counts": [(linear_parameters, conv2d_parameters)],
}


# ---------------------------------------------------------------- one wrong answer per classic bug
def _python_sum(params, lam):
    return lam / 2 * sum(sum(p ** 2) for p in params)


def _adam(rule):
    def adam_step(w, grad, state, lr, weight_decay, decoupled):
        if rule == "always_l2" or (rule == "both" and not decoupled) or (rule in ("no_lr", "plus") and not decoupled):
            return w - lr * adam_direction(grad + weight_decay * w, state)
        if rule == "always_decoupled":
            return w * (1 - lr * weight_decay) - lr * adam_direction(grad, state)
        if rule == "no_lr":
            return w * (1 - weight_decay) - lr * adam_direction(grad, state)
        if rule == "plus":
            return w * (1 + lr * weight_decay) - lr * adam_direction(grad, state)
        if rule == "both":
            return w * (1 - lr * weight_decay) - lr * adam_direction(grad + weight_decay * w, state)
        if rule == "minus":
            if decoupled:
                return w * (1 - lr * weight_decay) - lr * adam_direction(grad, state)
            return w - lr * adam_direction(grad - weight_decay * w, state)
        if rule == "twice":
            l2 = adam_direction(grad + weight_decay * w, state)
            plain = adam_direction(grad, state)
            return w * (1 - lr * weight_decay) - lr * plain if decoupled else w - lr * l2
        raise ValueError(rule)
    return adam_step


def _bn(**switches):
    def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
        return lab._bn(x, gamma, beta, running_mean, running_var, training, momentum, eps, **switches)
    return batch_norm


def _bn_no_update(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    y, _, _ = batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps)
    return y, running_mean, running_var


def _bn_update_in_eval(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    y, _, _ = batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps)
    _, rm, rv = batch_norm(x, gamma, beta, running_mean, running_var, True, momentum, eps)
    return y, rm, rv


def _early(*, copy_state=True, restore=True, zero_based=False, **switches):
    def fit_with_early_stopping(model, train_one_epoch, validation_loss, max_epochs, patience):
        best_loss, best_epoch, best_state, waited, last, val_losses = float("inf"), 0, None, 0, float("inf"), []
        for epoch in range(1, max_epochs + 1):
            train_one_epoch()
            loss = validation_loss()
            val_losses.append(loss)
            reference = last if switches.get("previous") else best_loss
            improved = loss <= reference if switches.get("ties_improve") else loss < reference
            last = loss
            if improved:
                best_loss, best_epoch = loss, epoch
                if switches.get("reset", True):
                    waited = 0
                best_state = copy.deepcopy(model.state_dict()) if copy_state else model.state_dict()
            else:
                waited += 1
            if switches.get("stop", True) and waited >= patience + switches.get("shift", 0):
                break
        if restore:
            model.load_state_dict(best_state)
        return best_epoch - (1 if zero_based else 0), val_losses
    return fit_with_early_stopping


def _diagnose(**switches):
    def diagnose(train_error, val_error, bayes_error=0.0, tolerance=0.02):
        return lab._diagnose(train_error, val_error, bayes_error, tolerance, **switches)
    return diagnose


def _symptom(train_error, val_error, bayes_error=0.0, tolerance=0.02):
    return {"high bias": "underfitting", "high variance": "overfitting"}.get(diagnose(train_error, val_error, bayes_error, tolerance), "good fit")


def _conv(weights, bias_count=lambda c_in, c_out, bias: c_out if bias else 0):
    def conv2d_parameters(in_channels, out_channels, kernel_size, bias=True):
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        return weights(in_channels, out_channels, kh, kw) + bias_count(in_channels, out_channels, bias)
    return conv2d_parameters


def _right_weights(c_in, c_out, kh, kw):
    return c_in * c_out * kh * kw


WRONG_ANSWERS: dict[tuple[str, str], object] = {
    ("check_l2_penalty", "no 1/2"): lambda params, lam: lam * sum((p ** 2).sum() for p in params),
    ("check_l2_penalty", "L1 (absolute values)"): lambda params, lam: lam / 2 * sum(p.abs().sum() for p in params),
    ("check_l2_penalty", "the norm, not its square"): lambda params, lam: lam / 2 * torch.sqrt(sum((p ** 2).sum() for p in params)),
    ("check_l2_penalty", "mean instead of sum"): lambda params, lam: lam / 2 * sum((p ** 2).mean() for p in params),
    ("check_l2_penalty", "first tensor only"): lambda params, lam: lam / 2 * (params[0] ** 2).sum(),
    ("check_l2_penalty", "lam forgotten"): lambda params, lam: sum((p ** 2).sum() for p in params) / 2,
    ("check_l2_penalty", "Python's sum over a 2-D tensor (a vector)"): _python_sum,
    ("check_l2_penalty", "returns a Python float (.item())"): lambda params, lam: l2_penalty(params, lam).item(),
    ("check_l2_penalty", "cut from autograd (torch.tensor(...))"): lambda params, lam: torch.tensor(l2_penalty(params, lam).item()),
    ("check_l2_penalty", "no return statement"): _no_return,

    ("check_l2_gradient", "2 * lam * w"): lambda w, lam: 2 * lam * w,
    ("check_l2_gradient", "L1 gradient lam * sign(w)"): lambda w, lam: lam * torch.sign(w),
    ("check_l2_gradient", "minus sign"): lambda w, lam: -lam * w,
    ("check_l2_gradient", "a constant lam"): lambda w, lam: torch.full_like(w, lam),
    ("check_l2_gradient", "the penalty, not its derivative"): lambda w, lam: lam / 2 * w ** 2,
    ("check_l2_gradient", "lam forgotten"): lambda w, lam: w.clone(),
    ("check_l2_gradient", "no return statement"): _no_return,

    ("check_sgd_step", "decay not scaled by lr"): lambda w, grad, lr, wd: w - lr * grad - wd * w,
    ("check_sgd_step", "decay with the wrong sign"): lambda w, grad, lr, wd: w - lr * (grad - wd * w),
    ("check_sgd_step", "2 * weight_decay * w"): lambda w, grad, lr, wd: w - lr * (grad + 2 * wd * w),
    ("check_sgd_step", "weight decay ignored"): lambda w, grad, lr, wd: w - lr * grad,
    ("check_sgd_step", "decay on the gradient, not the weight"): lambda w, grad, lr, wd: w - lr * (grad + wd * grad),
    ("check_sgd_step", "gradient ascent"): lambda w, grad, lr, wd: w + lr * (grad + wd * w),
    ("check_sgd_step", "w changed in place"): lambda w, grad, lr, wd: w.sub_(lr * (grad + wd * w)),
    ("check_sgd_step", "no return statement"): _no_return,

    ("check_adam_step", "decoupled ignored (always Adam + L2)"): _adam("always_l2"),
    ("check_adam_step", "always decoupled (AdamW for Adam + L2)"): _adam("always_decoupled"),
    ("check_adam_step", "AdamW decay without the learning rate"): _adam("no_lr"),
    ("check_adam_step", "AdamW decay that grows the weights"): _adam("plus"),
    ("check_adam_step", "AdamW decay added to the gradient too"): _adam("both"),
    ("check_adam_step", "L2 term subtracted"): _adam("minus"),
    ("check_adam_step", "adam_direction called twice per step"): _adam("twice"),
    ("check_adam_step", "no return statement"): _no_return,

    ("check_batch_norm", "unbiased variance for normalising"): _bn(norm_unbiased=True),
    ("check_batch_norm", "biased variance in running_var"): _bn(running_unbiased=False),
    ("check_batch_norm", "Keras momentum convention"): _bn(swap_momentum=True),
    ("check_batch_norm", "eps outside the square root"): _bn(eps_outside=True),
    ("check_batch_norm", "statistics per image (layer norm)"): lambda x, *args, **kw: lab._bn(
        x, *args, **kw, dims=tuple(range(1, x.dim()))),
    ("check_batch_norm", "statistics over the batch axis only"): _bn(dims=(0,)),
    ("check_batch_norm", "gamma and beta forgotten"): _bn(affine=False),
    ("check_batch_norm", "batch statistics in eval mode"): _bn(batch_stats_in_eval=True),
    ("check_batch_norm", "running statistics not updated in training"): _bn_no_update,
    ("check_batch_norm", "running statistics updated in eval mode"): _bn_update_in_eval,
    ("check_batch_norm", "running statistics used in training"): _bn(running_in_training=True),
    ("check_batch_norm", "no return statement"): _no_return,

    ("check_fit_with_early_stopping", "state_dict() kept without a copy"): _early(copy_state=False),
    ("check_fit_with_early_stopping", "best weights never restored"): _early(restore=False),
    ("check_fit_with_early_stopping", "an equal loss counted as improvement"): _early(ties_improve=True),
    ("check_fit_with_early_stopping", "compares with the previous epoch"): _early(previous=True),
    ("check_fit_with_early_stopping", "count not reset on improvement"): _early(reset=False),
    ("check_fit_with_early_stopping", "stops one epoch late"): _early(shift=1),
    ("check_fit_with_early_stopping", "stops one epoch early"): _early(shift=-1),
    ("check_fit_with_early_stopping", "never stops early"): _early(stop=False),
    ("check_fit_with_early_stopping", "best epoch counted from 0"): _early(zero_based=True),
    ("check_fit_with_early_stopping", "no return statement"): _no_return,

    ("check_diagnose", "bias and variance swapped"): _diagnose(swap=True),
    ("check_diagnose", "bias measured against 0"): _diagnose(ignore_bayes=True),
    ("check_diagnose", "variance measured against the best error"): _diagnose(variance_from_bayes=True),
    ("check_diagnose", "judged at the first epoch"): _diagnose(pick=lambda c: c[0]),
    ("check_diagnose", "judged on the average of the curves"): _diagnose(pick=lambda c: sum(c) / len(c)),
    ("check_diagnose", "answers 'overfitting' / 'underfitting'"): _symptom,
    ("check_diagnose", "no return statement"): _no_return,

    ("check_parameter_counts", "linear: bias forgotten"): (lambda n_in, n_out, bias=True: n_in * n_out, conv2d_parameters),
    ("check_parameter_counts", "linear: bias=False ignored"): (lambda n_in, n_out, bias=True: n_in * n_out + n_out, conv2d_parameters),
    ("check_parameter_counts", "linear: one bias per input"): (lambda n_in, n_out, bias=True: n_in * n_out + (n_in if bias else 0),
                                                               conv2d_parameters),
    ("check_parameter_counts", "conv: input channels forgotten"): (linear_parameters, _conv(lambda c_in, c_out, kh, kw: c_out * kh * kw)),
    ("check_parameter_counts", "conv: kernel side not squared"): (linear_parameters, _conv(lambda c_in, c_out, kh, kw: c_in * c_out * kh)),
    ("check_parameter_counts", "conv: (kh, kw) kernel as kh * kh"): (linear_parameters, _conv(lambda c_in, c_out, kh, kw: c_in * c_out * kh * kh)),
    ("check_parameter_counts", "conv: kernel_size ** 2 on a pair"): (
        linear_parameters, lambda c_in, c_out, k, bias=True: c_in * c_out * k ** 2 + (c_out if bias else 0)),
    ("check_parameter_counts", "conv: bias forgotten"): (linear_parameters, _conv(_right_weights, lambda c_in, c_out, bias: 0)),
    ("check_parameter_counts", "conv: one bias per input channel"): (linear_parameters, _conv(
        _right_weights, lambda c_in, c_out, bias: c_in if bias else 0)),
    ("check_parameter_counts", "no return statement"): (_no_return, _no_return),
}


# ---------------------------------------------------------------- tests
# the tests every lab's checks get (lab_test_kit.lab_tests), then this lab's own
globals().update(lab_tests(lab, CLASSIC_BUGS, RIGHT_ANSWERS, WRONG_ANSWERS, spread_args=True,
                           placeholder_counts={"check_parameter_counts": 2}))


def test_pass_lines_name_the_students_functions(capsys):
    lab.check_l2_penalty(l2_penalty)
    lab.check_parameter_counts(linear_parameters, conv2d_parameters)
    assert capsys.readouterr().out.splitlines() == ["✅ l2_penalty: all 4 cases passed",
                                                    "✅ linear_parameters, conv2d_parameters: all 8 cases passed"]


def test_the_reference_adam_matches_torch():
    """The check names Adam mistakes with its own Adam; it must agree with torch.optim on the right rules."""
    w0, grads = torch.tensor([1.0, -2.0, 0.5]), [torch.tensor([3.0, 0.0, -0.5]) * (-1) ** t for t in range(4)]
    for cls, rule in [(torch.optim.Adam, "l2"), (torch.optim.AdamW, "adamw")]:
        p = w0.clone().requires_grad_()
        optimizer = cls([p], lr=0.05, weight_decay=0.2)
        for g in grads:
            p.grad = g.clone()
            optimizer.step()
        assert torch.allclose(lab._adam_run(w0, grads, 0.05, 0.2, rule), p.detach(), atol=1e-6)
