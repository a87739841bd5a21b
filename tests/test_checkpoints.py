"""Unit tests for helpers.checkpoints: state dicts, training checkpoints and History (tiny models, tmp files)."""

import json
import os

import pytest
import torch
from torch import nn

import helpers.training
from helpers.checkpoints import (History, WeightsMismatchError, check_checkpoint_path, check_state_dict,
                                 load_checkpoint, read_state_dict, save_checkpoint)


def tiny_mlp(seed=0, classes=2):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, classes))


def test_training_re_exports_the_same_functions():
    assert helpers.training.save_checkpoint is save_checkpoint
    assert helpers.training.load_checkpoint is load_checkpoint
    assert helpers.training.History is History


def test_mismatched_checkpoint_gives_a_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "two_classes.pt", tiny_mlp(classes=2), epoch=1)
    with pytest.raises(WeightsMismatchError, match=r"two_classes\.pt do not match this model.*"
                                                   r"3\.weight: file \[2, 8\] vs model \[10, 8\].*same architecture"):
        load_checkpoint(path, tiny_mlp(classes=10))
    other = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    with pytest.raises(ValueError, match=r"2 unexpected \(3\.weight, 3\.bias\)"):
        load_checkpoint(path, other)
    with pytest.raises(FileNotFoundError, match="No checkpoint at .*nothing.pt.*Train first"):
        load_checkpoint(tmp_path / "nothing.pt", other)
    with pytest.raises(FileNotFoundError, match="No checkpoint at .*it is a folder"):
        load_checkpoint(tmp_path, other)
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="broken.pt cannot be read.*truncated"):
        load_checkpoint(tmp_path / "broken.pt", other)


def test_checkpoint_holds_only_plain_data_and_a_bare_state_dict_loads(tmp_path):
    model = tiny_mlp()
    history = History(train_loss=[1.0], train_acc=[0.5], lr=[0.1], seconds=[2.0], best_epoch=None)
    path = save_checkpoint(tmp_path / "c.pt", model, torch.optim.SGD(model.parameters(), lr=0.1), 1, history)
    raw = torch.load(path, weights_only=True)  # would fail on pickled custom classes
    assert raw["epoch"] == 1 and raw["history"]["train_loss"] == [1.0]
    assert load_checkpoint(path, tiny_mlp(seed=5))["history"] == history
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    fresh = tiny_mlp(seed=9)
    info = load_checkpoint(tmp_path / "bare.pt", fresh)
    assert info["epoch"] == 0 and info["history"] is None
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), fresh.parameters()))


def test_a_training_checkpoint_given_as_a_state_dict_says_how_to_load_it(tmp_path):
    model = tiny_mlp()
    path = save_checkpoint(tmp_path / "run.pt", model, torch.optim.SGD(model.parameters(), lr=0.1), epoch=2)
    checkpoint = read_state_dict(path)
    with pytest.raises(WeightsMismatchError, match=r"run\.pt holds a training checkpoint \(a dict with 'model', "
                                                   r"'optimizer'.*'epoch'.*load_checkpoint\(path, model\).*checkpoint\[\"model\"\]"):
        check_state_dict(model, checkpoint, str(path))
    check_state_dict(model, checkpoint["model"], str(path))  # its weights are a plain state_dict: no error
    # a model's own state_dict with a non-tensor value is not taken for a checkpoint
    with pytest.raises(WeightsMismatchError, match=r"1 entries are not tensors \(e\.g\. note\)"):
        check_state_dict(model, {**model.state_dict(), "note": "hello"}, "a dict")
    with pytest.raises(WeightsMismatchError, match="are a list, not a state_dict"):
        check_state_dict(model, [1, 2], "a list")


def test_checkpoint_path_is_checked_before_anything_is_written(tmp_path):
    assert check_checkpoint_path(tmp_path / "new" / "deeper" / "run.pt") == tmp_path / "new" / "deeper" / "run.pt"
    with pytest.raises(IsADirectoryError, match=r"is a folder; give a file in it, e\.g\. .*model\.pt"):
        check_checkpoint_path(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"notes\.txt is a file, not a folder"):
        check_checkpoint_path(tmp_path / "notes.txt" / "run.pt")
    with pytest.raises(IsADirectoryError):
        save_checkpoint(tmp_path, tiny_mlp())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # no .tmp file left behind


def test_checkpoint_path_in_a_read_only_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as for a student's read-only folder (root may write anywhere)
    with pytest.raises(PermissionError, match=r"run\.pt cannot be written: no write permission in"):
        check_checkpoint_path(tmp_path / "run.pt")


def test_a_failed_save_leaves_no_temporary_file(tmp_path, monkeypatch):
    def disk_full(obj, f):
        open(f, "wb").write(b"half")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(tmp_path / "run.pt", tiny_mlp())
    assert list(tmp_path.iterdir()) == []


def test_history_round_trips_through_json():
    history = History(train_loss=[0.9, 0.5], train_acc=[0.7, 0.8], val_loss=[0.6, 0.55], val_acc=[0.79, 0.81],
                      lr=[1e-3, 1e-3], seconds=[1.5, 1.25], best_epoch=2)
    again = History.from_dict(json.loads(json.dumps(history.to_dict())))
    assert again == history
    assert again.best_val_acc == 0.81 and again.total_seconds == 2.75 and again.epochs == 2
