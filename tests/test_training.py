"""Unit tests for helpers.training: tiny models on tiny synthetic tensors (seconds in total)."""

import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, TensorDataset
from torchvision.transforms import v2

from helpers.checkpoints import WeightsMismatchError
from helpers.training import (BatchTransform, BestEpoch, History, _autocast_dtype, default_num_workers, evaluate, fit,
                              load_checkpoint, make_scheduler, predict, tensor_loader, train_one_epoch)


def separable_data(n=96, seed=0):
    """Two classes of 1x4x4 uint8 images: dark ones (class 0) and bright ones (class 1)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = torch.randint(0, 100, (n, 1, 4, 4), generator=g) + 155 * labels.view(-1, 1, 1, 1)
    return images.to(torch.uint8), labels


def tiny_mlp(seed=0, classes=2):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, classes))


class FixedLogits(nn.Module):
    """A 'model' whose logits are its input (so predictions are known in advance), plus one weight to train."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return x * self.scale


def test_fit_decreases_loss_and_learns_a_separable_problem():
    images, labels = separable_data()
    loader = tensor_loader(images, labels, batch_size=16, shuffle=True, mean=0.5, std=0.3)
    history = fit(tiny_mlp(), loader, loader, epochs=6, lr=1e-2, progress=False, verbose=False)
    assert history.epochs == 6 and len(history.val_acc) == 6 and len(history.seconds) == 6
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_acc[-1] == 1.0
    assert history.best_val_acc == 1.0 and history.best_epoch is not None


def test_fit_prints_one_line_per_epoch(capsys):
    images, labels = separable_data(32)
    loader = tensor_loader(images, labels, batch_size=16, mean=0.5, std=0.3)
    fit(tiny_mlp(), loader, loader, epochs=2, progress=False)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("epoch")]
    assert len(lines) == 2
    assert lines[1].startswith("epoch 2/2  train loss ") and "val loss" in lines[1] and "%" in lines[1] and lines[1].endswith(" s")


def test_accuracy_counts_samples_not_batches_when_the_last_batch_is_short():
    # 10 samples, batches of 4: [4, 4, 2]. Correct: batch 1 all 4, batch 2 none, batch 3 both -> 6/10 = 0.6.
    # Averaging the batch accuracies would give (1 + 0 + 1) / 3 = 0.667.
    labels = torch.zeros(10, dtype=torch.long)
    right, wrong = torch.tensor([5.0, 0.0]), torch.tensor([0.0, 5.0])
    logits = torch.stack([right] * 4 + [wrong] * 4 + [right] * 2)
    loader = DataLoader(TensorDataset(logits, labels), batch_size=4)
    result = evaluate(FixedLogits(), loader)
    assert result["accuracy"] == pytest.approx(0.6)
    expected_loss = nn.CrossEntropyLoss()(logits, labels).item()
    assert result["loss"] == pytest.approx(expected_loss, rel=1e-6)

    model = FixedLogits()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the predictions stay the same
    train = train_one_epoch(model, loader, nn.CrossEntropyLoss(), optimizer, "cpu", progress=False)
    assert train["accuracy"] == pytest.approx(0.6)
    assert train["loss"] == pytest.approx(expected_loss, rel=1e-6)


@pytest.mark.parametrize("mode", [True, False])
def test_evaluate_and_predict_restore_the_training_mode(mode):
    images, labels = separable_data(20)
    loader = tensor_loader(images, labels, batch_size=8)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16, 2))
    model.train(mode)
    evaluate(model, loader)
    assert model.training is mode and model[1].training is mode
    logits, y = predict(model, loader)
    assert model.training is mode
    assert logits.shape == (20, 2) and logits.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(y, labels)


def test_evaluate_uses_inference_mode():
    seen = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(16, 2)

        def forward(self, x):
            seen.append((torch.is_inference_mode_enabled(), self.training))
            return self.linear(x.flatten(1))

    images, labels = separable_data(8)
    evaluate(Spy().train(), tensor_loader(images, labels, batch_size=8))
    assert seen == [(True, False)]


class PowerCut:
    """Wraps a loader and fails when iteration number ``fail_at`` (1-based) starts: a run that was interrupted."""

    def __init__(self, loader, fail_at):
        self.loader, self.fail_at, self.iterations = loader, fail_at, 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.iterations += 1
        if self.iterations == self.fail_at:
            raise RuntimeError("power cut")
        return iter(self.loader)


def test_checkpoint_resume_continues_at_the_saved_epoch_with_the_same_history(tmp_path):
    images, labels = separable_data()

    def run(path, resume, fail_at=None):
        torch.manual_seed(1)
        loader = tensor_loader(images, labels, batch_size=16, shuffle=True, mean=0.5, std=0.3)
        train_loader = loader if fail_at is None else PowerCut(loader, fail_at)
        model = tiny_mlp(seed=3)
        history = fit(model, train_loader, loader, epochs=4, lr=1e-2, scheduler="onecycle", checkpoint_path=path,
                      resume=resume, progress=False, verbose=False)
        return history, model

    uninterrupted, model_a = run(tmp_path / "a.pt", resume=False)
    with pytest.raises(RuntimeError, match="power cut"):
        run(tmp_path / "b.pt", resume=False, fail_at=3)  # dies at the start of epoch 3
    saved = load_checkpoint(tmp_path / "b.pt", tiny_mlp())
    assert saved["epoch"] == 2 and saved["history"].epochs == 2
    assert saved["history"].train_loss == uninterrupted.train_loss[:2]

    torch.manual_seed(123)  # the checkpoint's RNG state, not this one, decides the shuffling after resume
    resumed, model_b = run(tmp_path / "b.pt", resume=True)
    assert resumed.epochs == 4
    assert resumed.train_loss[:2] == saved["history"].train_loss
    assert resumed.lr == pytest.approx(uninterrupted.lr)  # the scheduler carried on where it stopped
    assert resumed.train_loss == pytest.approx(uninterrupted.train_loss, rel=1e-5)
    assert resumed.val_loss == pytest.approx(uninterrupted.val_loss, rel=1e-5)
    for a, b in zip(model_a.parameters(), model_b.parameters()):
        assert torch.allclose(a, b, atol=1e-5)
    assert load_checkpoint(tmp_path / "b.pt", tiny_mlp())["epoch"] == 4

    again, _ = run(tmp_path / "b.pt", resume=True)  # nothing left to do: the history comes back unchanged
    assert again == resumed


def test_resume_without_a_checkpoint_starts_from_scratch(tmp_path, capsys):
    images, labels = separable_data(16)
    loader = tensor_loader(images, labels, batch_size=8)
    history = fit(tiny_mlp(), loader, epochs=1, checkpoint_path=tmp_path / "new.pt", resume=True, progress=False)
    assert history.epochs == 1 and (tmp_path / "new.pt").is_file()
    assert "starting from scratch" in capsys.readouterr().out


def test_early_stopping_stops_and_restores_the_best_weights():
    # Validation labels are the opposite of the training labels: the better the model fits the training
    # data, the worse the validation loss gets, so the best epoch is the first one.
    images, labels = separable_data()
    train_loader = tensor_loader(images, labels, batch_size=16, shuffle=True, mean=0.5, std=0.3)
    val_loader = tensor_loader(images, 1 - labels, batch_size=32, mean=0.5, std=0.3)
    model = tiny_mlp()
    history = fit(model, train_loader, val_loader, epochs=20, lr=2e-2, early_stopping_patience=2,
                  restore_best=True, progress=False, verbose=False)
    assert history.stopped_early
    assert history.epochs == history.best_epoch + 2 < 20
    assert evaluate(model, val_loader)["loss"] == pytest.approx(history.val_loss[history.best_epoch - 1], rel=1e-5)
    assert min(history.val_loss) == history.val_loss[history.best_epoch - 1]


def test_early_stopping_on_accuracy_and_needs_validation_data():
    images, labels = separable_data(32)
    loader = tensor_loader(images, labels, batch_size=16, mean=0.5, std=0.3)
    history = fit(tiny_mlp(), loader, loader, epochs=30, lr=5e-2, early_stopping_patience=1, monitor="val_acc",
                  progress=False, verbose=False)
    assert history.monitor == "val_acc" and history.epochs < 30
    assert history.val_acc[history.best_epoch - 1] == max(history.val_acc)
    with pytest.raises(ValueError, match="val_loader"):
        fit(tiny_mlp(), loader, epochs=2, early_stopping_patience=1, progress=False)


def test_channels_last_reaches_the_model_and_its_inputs():
    formats = []

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))

        def forward(self, x):
            formats.append(x.is_contiguous(memory_format=torch.channels_last))
            return self.head(self.conv(x))

    images, labels = separable_data(32)
    loader = tensor_loader(images, labels, batch_size=16, mean=0.5, std=0.3)
    model = SmallCNN()
    history = fit(model, loader, loader, epochs=1, channels_last=True, progress=False, verbose=False)
    assert history.epochs == 1 and formats and all(formats)
    assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_scheduler_names_objects_and_unknown_names():
    images, labels = separable_data(32)
    loader = tensor_loader(images, labels, batch_size=8)  # 4 batches per epoch
    h = fit(tiny_mlp(), loader, epochs=3, lr=0.1, scheduler="onecycle", progress=False, verbose=False)
    assert h.lr[0] < h.lr[1] and h.lr[2] < h.lr[1]  # warm up, then anneal
    model = tiny_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    cosine = make_scheduler("cosine", optimizer, epochs=2, steps_per_epoch=4)
    fit(model, loader, epochs=2, optimizer=optimizer, scheduler=cosine, scheduler_step="batch", progress=False, verbose=False)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-9)  # annealed to 0 after 8 steps
    model = tiny_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    step = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    h = fit(model, loader, epochs=3, optimizer=optimizer, scheduler=step, progress=False, verbose=False)
    assert h.lr == pytest.approx([0.1, 0.05, 0.025])  # a caller's scheduler steps once per epoch
    with pytest.raises(ValueError, match="Unknown scheduler 'cosin'.*onecycle, cosine"):
        fit(tiny_mlp(), loader, epochs=1, scheduler="cosin", progress=False)


def test_clear_errors_for_bad_input():
    images, labels = separable_data(16)
    loader = tensor_loader(images, labels, batch_size=8)

    class Unflattened(nn.Module):
        def forward(self, x):
            return torch.zeros(x.shape[0], 1, 10, requires_grad=True)

    with pytest.raises(ValueError, match=r"model returned shape \[8, 1, 10\].*CrossEntropyLoss needs \[batch, classes\]"):
        fit(Unflattened(), loader, epochs=1, optimizer=torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1), progress=False)
    with pytest.raises(ValueError, match="a label is 1 but the model only outputs 1 classes"):
        fit(tiny_mlp(classes=1), loader, epochs=1, progress=False)
    with pytest.raises(ValueError, match="epochs must be a whole number >= 1"):
        fit(tiny_mlp(), loader, epochs=0)
    empty = DataLoader(TensorDataset(torch.zeros(0, 1, 4, 4), torch.zeros(0, dtype=torch.long)), batch_size=4)
    with pytest.raises(ValueError, match="train_loader is empty"):
        fit(tiny_mlp(), empty, epochs=1)
    with pytest.raises(ValueError, match="evaluation loader is empty"):
        evaluate(tiny_mlp(), empty)
    with pytest.raises(ValueError, match="resume=True needs checkpoint_path"):
        fit(tiny_mlp(), loader, epochs=1, resume=True)
    broken = tiny_mlp()
    with torch.no_grad():
        broken[1].weight.fill_(float("nan"))  # what a far too large learning rate leads to
    with pytest.raises(FloatingPointError, match="Lower the learning rate"):
        fit(broken, loader, epochs=1, progress=False, verbose=False)


def test_tensor_loader_converts_normalises_and_augments_per_batch():
    images = torch.full((10, 3, 2, 2), 255, dtype=torch.uint8)
    images[:, 1] = 0
    loader = tensor_loader(images, torch.zeros(10), batch_size=4, mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])
    batches = list(loader)
    assert [len(y) for _, y in batches] == [4, 4, 2] and len(loader) == 3
    x, y = batches[0]
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.all(x[:, 0] == 1.0) and torch.all(x[:, 1] == -1.0)

    calls = []

    def flip(image):  # augment receives one float image in [0, 1] at a time
        calls.append(image.shape)
        assert image.dtype == torch.float32 and image.max() <= 1
        return image.flip(-1)

    x, _ = next(iter(tensor_loader(images, torch.zeros(10), batch_size=4, augment=flip)))
    assert calls == [torch.Size([3, 2, 2])] * 4 and x.shape == (4, 3, 2, 2)
    floats = torch.rand(6, 4, 4)  # float [N, H, W] gets a channel and is not divided by 255
    x, _ = next(iter(tensor_loader(floats, torch.zeros(6), batch_size=6)))
    assert x.shape == (6, 1, 4, 4) and torch.allclose(x[:, 0], floats)
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        tensor_loader(images, torch.zeros(9))
    with pytest.raises(ValueError, match="both mean and std"):
        BatchTransform(mean=0.5)
    with pytest.raises(ValueError, match="2 values but the images have 3 channels"):
        next(iter(tensor_loader(images, torch.zeros(10), mean=[0.5, 0.5], std=[0.2, 0.2])))


def test_amp_is_never_used_on_cpu_and_unknown_values_are_refused_everywhere():
    cpu = torch.device("cpu")
    assert _autocast_dtype("auto", cpu) is None and _autocast_dtype(True, cpu) is None
    assert _autocast_dtype("fp16", torch.device("cuda")) == torch.float16
    assert _autocast_dtype("bf16", torch.device("cuda")) == torch.bfloat16
    assert _autocast_dtype(False, torch.device("cuda")) is None
    with pytest.raises(ValueError, match="Unknown amp"):
        _autocast_dtype("half", torch.device("cuda"))
    images, labels = separable_data(8)
    loader = tensor_loader(images, labels, batch_size=4)
    for run in (lambda: evaluate(tiny_mlp(), loader, amp="half"), lambda: predict(tiny_mlp(), loader, amp="half"),
                lambda: fit(tiny_mlp(), loader, epochs=1, amp="half", progress=False)):
        with pytest.raises(ValueError, match="Unknown amp='half'"):  # on a CPU too, where amp does nothing
            run()


@pytest.mark.parametrize("cores, workers", [(1, 0), (2, 1), (4, 3), (16, 4)])
def test_default_num_workers_leaves_a_core_for_training(monkeypatch, cores, workers):
    monkeypatch.setattr("helpers.training.usable_cpu_count", lambda: cores)
    assert default_num_workers() == workers


def test_each_epoch_iterates_the_loaders_once():
    # tqdm.auto(loader) would call iter(loader) twice, which starts DataLoader workers twice.
    images, labels = separable_data(16)
    train, val = PowerCut(tensor_loader(images, labels, batch_size=8), 0), PowerCut(tensor_loader(images, labels, batch_size=8), 0)
    fit(tiny_mlp(), train, val, epochs=3, progress=True, verbose=False)
    assert train.iterations == 3 and val.iterations == 3


def test_progress_can_be_forced_to_text_or_off(monkeypatch, capsys):
    images, labels = separable_data(16)
    loader = tensor_loader(images, labels, batch_size=8)
    monkeypatch.setenv("COURSE_PROGRESS", "text")
    fit(tiny_mlp(), loader, epochs=1, verbose=False)
    assert "epoch 1/1" in capsys.readouterr().err  # tqdm's text bar writes to stderr
    monkeypatch.setenv("COURSE_PROGRESS", "off")
    fit(tiny_mlp(), loader, epochs=1, verbose=False)
    assert capsys.readouterr().err == ""


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
@pytest.mark.parametrize("amp", ["auto", "bf16", "fp16", False])
def test_fit_on_the_gpu_with_mixed_precision_and_channels_last(amp):
    images, labels = separable_data(256)
    loader = tensor_loader(images, labels, batch_size=32, shuffle=True, mean=0.5, std=0.3, device="cuda")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 2))
    history = fit(model, loader, loader, epochs=4, lr=1e-2, device="cuda", amp=amp, channels_last=True,
                  scheduler="onecycle", progress=False, verbose=False)
    assert next(model.parameters()).device.type == "cuda"
    assert history.train_loss[-1] < history.train_loss[0] and history.val_acc[-1] >= 0.9
    logits, y = predict(model, loader)
    assert logits.device.type == "cpu" and logits.dtype == torch.float32 and len(y) == 256


@cuda
@pytest.mark.parametrize("amp, expected", [("auto", True), ("bf16", True), (False, False)])
def test_evaluate_and_predict_use_autocast_on_the_gpu(amp, expected):
    seen = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(16, 2)

        def forward(self, x):
            seen.append(torch.is_autocast_enabled("cuda"))
            return self.linear(x.flatten(1))

    images, labels = separable_data(16)
    loader = tensor_loader(images, labels, batch_size=8, device="cuda")
    model = Spy().cuda()
    evaluate(model, loader, amp=amp)
    logits, _ = predict(model, loader, amp=amp)
    assert seen == [expected] * 4 and logits.dtype == torch.float32


def test_resuming_a_schedule_with_a_different_number_of_epochs_is_refused(tmp_path):
    images, labels = separable_data(16)
    loader = tensor_loader(images, labels, batch_size=8)
    path = tmp_path / "run.pt"
    fit(tiny_mlp(), loader, epochs=2, scheduler="onecycle", checkpoint_path=path, progress=False, verbose=False)
    with pytest.raises(ValueError, match="2-epoch 'onecycle' schedule; resume it with epochs=2"):
        fit(tiny_mlp(), loader, epochs=5, scheduler="onecycle", checkpoint_path=path, resume=True, progress=False)
    more = fit(tiny_mlp(), loader, epochs=4, checkpoint_path=path, resume=True, progress=False, verbose=False)
    assert more.epochs == 4  # without a schedule, training longer is fine


def test_resuming_with_another_model_says_how_to_start_over(tmp_path):
    images, labels = separable_data(16)
    loader = tensor_loader(images, labels, batch_size=8)
    path = tmp_path / "run.pt"
    fit(tiny_mlp(classes=2), loader, epochs=1, checkpoint_path=path, progress=False, verbose=False)
    with pytest.raises(WeightsMismatchError, match=r"do not match this model.*delete .*run\.pt / pass resume=False"):
        fit(tiny_mlp(classes=3), loader, epochs=2, checkpoint_path=path, resume=True, progress=False, verbose=False)


def test_best_epoch_tracks_the_monitor_and_copies_weights_only_when_asked():
    model = tiny_mlp()
    by_loss = BestEpoch("val_loss", keep_weights=True)
    assert [by_loss.update(v, e, model) for e, v in enumerate([0.9, 0.7, 0.7, 0.8], start=1)] == [True, True, False, False]
    assert (by_loss.epoch, by_loss.value) == (2, 0.7)  # a tie keeps the earlier epoch
    assert by_loss.weights is not None and all(w.device.type == "cpu" for w in by_loss.weights.values())
    with torch.no_grad():
        model[1].weight.add_(1.0)  # training goes on: the copy must not change with the model
    assert not torch.equal(by_loss.weights["1.weight"], model[1].weight)
    by_acc = BestEpoch("val_acc")
    assert [by_acc.update(v, e, model) for e, v in enumerate([0.5, 0.8, 0.6], start=1)] == [True, True, False]
    assert by_acc.epoch == 2 and by_acc.weights is None
    history = History(val_loss=[0.9, 0.6, 0.6, 0.7], val_acc=[0.5, 0.7, 0.9, 0.8])
    resumed = BestEpoch.from_history(history, "val_acc", keep_weights=False, weights={"w": torch.ones(1)})
    assert (resumed.epoch, resumed.value, resumed.weights) == (3, 0.9, None)
    assert BestEpoch.from_history(history, "val_loss", True, None).epoch == 2


def soft(labels, classes=2, weight=0.8):
    """Soft labels: ``weight`` on the true class, the rest shared by the others (as label mixing makes)."""
    return torch.nn.functional.one_hot(labels, classes).float() * (weight - (1 - weight) / (classes - 1)) + (1 - weight) / (classes - 1)


def test_soft_labels_are_scored_by_their_most_likely_class():
    # the same 10 logits as the hard-label test: 6 of 10 predictions pick the label's most likely class
    hard = torch.zeros(10, dtype=torch.long)
    right, wrong = torch.tensor([5.0, 0.0]), torch.tensor([0.0, 5.0])
    logits = torch.stack([right] * 4 + [wrong] * 4 + [right] * 2)
    labels = soft(hard)
    loader = DataLoader(TensorDataset(logits, labels), batch_size=4)
    result = evaluate(FixedLogits(), loader)
    assert result["accuracy"] == pytest.approx(0.6)
    assert result["loss"] == pytest.approx(nn.CrossEntropyLoss()(logits, labels).item(), rel=1e-6)
    model = FixedLogits()
    train = train_one_epoch(model, loader, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.0), progress=False)
    assert train["accuracy"] == pytest.approx(0.6) and train["loss"] == pytest.approx(result["loss"], rel=1e-6)
    logits_out, labels_out = predict(FixedLogits(), loader)
    assert labels_out.dtype == torch.float32 and torch.equal(labels_out, labels)  # soft labels come back as they are

    images, hard_labels = separable_data(32)
    loader = tensor_loader(images, soft(hard_labels), batch_size=8, mean=0.5, std=0.3)  # tensor_loader keeps them
    assert next(iter(loader))[1].shape == (8, 2)
    history = fit(tiny_mlp(), loader, loader, epochs=3, lr=1e-2, progress=False, verbose=False)
    assert history.val_acc[-1] == 1.0
    with pytest.raises(ValueError, match=r"float numbers of shape \[8, 3\].*soft labels .* shape \[8, 2\] for this model"):
        evaluate(tiny_mlp(), tensor_loader(images, soft(hard_labels, classes=3), batch_size=8))


def test_batch_augment_gets_the_whole_float_batch_before_normalising():
    images = torch.full((10, 3, 2, 2), 255, dtype=torch.uint8)
    images[:, :, :, 0] = 0  # left column black, right column white
    seen = []

    def flip_all(x, y):  # a tensor op on the whole batch
        seen.append((x.shape, x.dtype, float(x.min()), float(x.max()), y.tolist()))
        return x.flip(-1), y

    labels = torch.arange(10) % 2
    loader = tensor_loader(images, labels, batch_size=4, mean=0.5, std=0.5, batch_augment=flip_all)
    x, y = next(iter(loader))
    assert seen == [(torch.Size([4, 3, 2, 2]), torch.float32, 0.0, 1.0, [0, 1, 0, 1])]  # in [0, 1], not yet normalised
    assert torch.all(x[:, :, :, 0] == 1.0) and torch.all(x[:, :, :, 1] == -1.0)  # flipped, then normalised
    assert torch.equal(y, labels[:4])

    order = []  # the per-image augment runs first, then batch_augment
    loader = tensor_loader(images, labels, batch_size=4, augment=lambda im: order.append("image") or im,
                           batch_augment=lambda x, y: order.append("batch") or (x, y))
    next(iter(loader))
    assert order == ["image"] * 4 + ["batch"]


def test_cutmix_as_batch_augment_trains_with_soft_labels():
    images, labels = separable_data(32)
    torch.manual_seed(0)
    loader = tensor_loader(images, labels, batch_size=8, shuffle=True, mean=0.5, std=0.3,
                           batch_augment=v2.CutMix(num_classes=2))
    x, y = next(iter(loader))
    assert x.shape == (8, 1, 4, 4) and y.shape == (8, 2) and y.dtype == torch.float32
    assert torch.allclose(y.sum(dim=1), torch.ones(8))
    history = fit(tiny_mlp(), loader, tensor_loader(images, labels, batch_size=16, mean=0.5, std=0.3), epochs=2,
                  lr=1e-2, progress=False, verbose=False)
    assert history.epochs == 2 and all(0.0 <= a <= 1.0 for a in history.train_acc)


def test_on_step_runs_after_every_optimizer_step_and_can_keep_an_ema():
    images, labels = separable_data(32)
    loader = tensor_loader(images, labels, batch_size=8, shuffle=True, mean=0.5, std=0.3)  # 4 steps per epoch
    model = tiny_mlp()
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.5), use_buffers=True)
    seen = []

    def on_step(m):
        seen.append((m is model, m.training, m[1].weight.detach().clone()))
        ema.update_parameters(m)

    fit(model, loader, loader, epochs=2, lr=1e-2, on_step=on_step, progress=False, verbose=False)
    assert len(seen) == 8 and all(is_model and training for is_model, training, _ in seen)
    assert int(ema.n_averaged) == 8
    # the EMA after 8 steps: each update moves halfway from the average to the current weights
    expected = seen[0][2]
    for _, _, weights in seen[1:]:
        expected = 0.5 * expected + 0.5 * weights
    assert torch.allclose(ema.module[1].weight, expected, atol=1e-6)
    assert not torch.allclose(ema.module[1].weight, model[1].weight)
    assert evaluate(ema, loader)["accuracy"] > 0.5  # the averaged model is a model like any other


def nan_batches(position=5, n=8, batch_size=4):
    """Two batches of 4 bright/dark float images; image ``position`` (batch 2 when >= 4) holds one NaN."""
    images, labels = separable_data(n)
    images = images.float() / 255
    images[position, 0, 1, 2] = float("nan")
    return DataLoader(TensorDataset(images, labels), batch_size=batch_size)


def test_nan_inputs_are_named_in_evaluate_predict_and_fit():
    loader = nan_batches(position=5)
    with pytest.raises(ValueError, match=r"Batch 2 of the evaluation: its inputs contain NaN values "
                                         r"\(1 of its 4 images, at positions \[1\] in the batch\).*torch\.isnan"):
        evaluate(tiny_mlp(), loader)
    with pytest.raises(ValueError, match=r"Batch 2 of the prediction: its inputs contain NaN values"):
        predict(tiny_mlp(), loader)
    with pytest.raises(FloatingPointError, match=r"The training loss became nan in batch 2 of epoch 1/1: its inputs "
                                                 r"contain NaN values") as error:
        fit(tiny_mlp(), loader, epochs=1, progress=False, verbose=False)
    assert "learning rate" not in str(error.value)  # not a divergence: the data is broken
    broken = tiny_mlp()
    with torch.no_grad():
        broken[3].bias.fill_(float("inf"))
    clean, labels = separable_data(8)
    with pytest.raises(FloatingPointError, match=r"Batch 1 of the evaluation: the model's outputs contain NaN or inf "
                                                 r"although its inputs are finite"):
        evaluate(broken, tensor_loader(clean, labels, batch_size=4))


def test_labels_are_checked_in_every_batch():
    images, labels = separable_data(16)
    images = images.float() / 255
    late = labels.clone()
    late[13] = 5  # in batch 4 of 4
    loader = DataLoader(TensorDataset(images, late), batch_size=4)
    with pytest.raises(ValueError, match=r"a label is 5 but the model only outputs 2 classes .*first seen in batch 4"):
        fit(tiny_mlp(), loader, epochs=1, progress=False, verbose=False)
    with pytest.raises(ValueError, match=r"a label is 5 .* batch 4"):
        evaluate(tiny_mlp(), loader)
    negative = labels.clone()
    negative[9] = -1
    loader = DataLoader(TensorDataset(images, negative), batch_size=4)
    with pytest.raises(ValueError, match=r"a label is -1 in batch 3: labels must be class indices 0\.\.1.*missing"):
        fit(tiny_mlp(), loader, epochs=1, progress=False, verbose=False)
    with pytest.raises(ValueError, match=r"label 9 is -1: labels must be class indices.*missing"):
        tensor_loader(images, negative)
    floats = DataLoader(TensorDataset(images, labels.float()), batch_size=4)
    with pytest.raises(ValueError, match=r"labels of batch 1 are float numbers of shape \[4\]\. CrossEntropyLoss needs "
                                         r"class indices as whole numbers \(labels\.long\(\)\), or soft labels .*\[4, 2\]"):
        fit(tiny_mlp(), floats, epochs=1, progress=False, verbose=False)
    with pytest.raises(ValueError, match="float numbers that are not whole"):
        tensor_loader(images, labels.float() + 0.3)
    assert next(iter(tensor_loader(images, labels.float())))[1].dtype == torch.int64  # whole floats become indices
    logits, kept = predict(tiny_mlp(), DataLoader(TensorDataset(images, torch.full((16,), -1)), batch_size=4))
    assert kept.tolist() == [-1] * 16  # predict passes labels through: an unlabelled set may mark them -1


def test_bad_devices_get_pick_devices_messages(monkeypatch):
    images, labels = separable_data(8)
    loader = tensor_loader(images, labels, batch_size=4)
    with pytest.raises(ValueError, match="Unknown device 'tpu'.*auto, cpu, cuda, mps"):
        fit(tiny_mlp(), loader, epochs=1, device="tpu", progress=False)
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        evaluate(tiny_mlp(), loader, device="tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        fit(tiny_mlp(), loader, epochs=1, device="cuda:7", progress=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(RuntimeError, match=r"'cuda:7' was asked for, but this machine has 1 CUDA GPU \(cuda:0\)"):
        fit(tiny_mlp(), loader, epochs=1, device="cuda:7", progress=False)


@pytest.mark.parametrize("batch_size", [None, 0, -4, 2.5, True])
def test_tensor_loader_refuses_a_batch_size_that_is_not_a_positive_whole_number(batch_size):
    images, labels = separable_data(8)
    with pytest.raises(ValueError, match=rf"batch_size must be a whole number >= 1 \(e\.g\. 128\); got {batch_size!r}"):
        tensor_loader(images, labels, batch_size=batch_size)


def test_a_loader_without_batches_is_a_clear_error():
    images, labels = separable_data(8)
    unbatched = DataLoader(TensorDataset(images.float(), labels), batch_size=None)
    with pytest.raises(ValueError, match=r"single samples, not batches.*DataLoader\(dataset, batch_size=128\)"):
        fit(tiny_mlp(), unbatched, epochs=1, progress=False)


def test_a_folder_as_checkpoint_path_is_refused_before_training(tmp_path):
    images, labels = separable_data(16)
    train = PowerCut(tensor_loader(images, labels, batch_size=8), 0)
    with pytest.raises(IsADirectoryError, match=r"checkpoint_path .* is a folder; give a file in it"):
        fit(tiny_mlp(), train, epochs=2, checkpoint_path=tmp_path, progress=False, verbose=False)
    assert train.iterations == 0 and list(tmp_path.iterdir()) == []  # no epoch trained, no .tmp file left


def test_training_knows_nothing_of_data_or_models():
    # the arrows point one way (as in ZTM's engine.py): a lesson can train any model on any loader
    code = "import sys, helpers.training; print(sorted(m for m in sys.modules if m.startswith('helpers')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "helpers.training" in loaded
    assert "helpers.data" not in loaded and "helpers.models" not in loaded


def test_safety_checks_do_not_make_a_gpu_wait_on_every_step():
    """Labels are checked on the CPU (a TensorLoader knows its largest label); a GPU loss is read every 10th step."""
    from helpers.training import _must_sync

    loader = tensor_loader(torch.zeros(6, 1, 4, 4), torch.tensor([0, 3, 1, 2, 0, 1]), batch_size=2)
    assert loader.label_bound == 4
    assert tensor_loader(torch.zeros(2, 1, 4, 4), torch.eye(2)).label_bound is None  # soft labels: shapes suffice
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert all(_must_sync(cpu, step, 25) for step in range(25))
    assert [step for step in range(25) if _must_sync(gpu, step, 25)] == [0, 10, 20, 24]
