import random

import numpy as np
import pytest
import torch

from helpers.device import device_label, environment_summary, pick_device, seed_everything, set_cpu_threads, setup_notebook


def fake_machine(monkeypatch, gpus: int = 0, mps: bool = False) -> None:
    """Pretend this machine has ``gpus`` CUDA GPUs and (``mps``) Apple's MPS backend; nothing touches a real device."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize("gpus, mps, expected", [(1, True, "cuda"), (2, False, "cuda"), (0, True, "mps"), (0, False, "cpu")])
def test_pick_device_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, gpus, mps, expected):
    fake_machine(monkeypatch, gpus, mps)
    assert pick_device("auto") == torch.device(expected)
    assert pick_device(None) == torch.device(expected)
    assert pick_device(" Auto ") == torch.device(expected)
    assert pick_device("") == torch.device(expected)  # empty means auto, as None does


def test_pick_device_explicit_names(monkeypatch):
    fake_machine(monkeypatch, gpus=2, mps=True)
    assert pick_device("cpu") == torch.device("cpu")  # asked for: the CPU even where a GPU exists
    assert pick_device(" CPU ") == torch.device("cpu")
    assert pick_device(torch.device("cpu")) == torch.device("cpu")
    assert pick_device("cuda") == torch.device("cuda")
    assert pick_device("cuda:1") == torch.device("cuda", 1)
    assert pick_device(torch.device("cuda", 1)) == torch.device("cuda", 1)
    assert pick_device("mps") == torch.device("mps")
    assert pick_device(torch.device("meta")) == torch.device("meta")  # another backend chosen on purpose passes through


@pytest.mark.parametrize("name", ["tpu", "gpu", "cuda:x", "auto:1"])
def test_pick_device_unknown_name_is_a_clear_error(name):
    with pytest.raises(ValueError, match=f"Unknown device '{name}'.*auto, cpu, cuda, mps.*cuda:N"):
        pick_device(name)


def test_pick_device_says_what_is_missing(monkeypatch):
    fake_machine(monkeypatch, gpus=0, mps=False)
    with pytest.raises(RuntimeError, match="'cuda' was asked for, but this machine has no CUDA GPU.*DEVICE='cpu'"):
        pick_device("cuda")
    with pytest.raises(RuntimeError, match="'cuda:1' was asked for, but this machine has no CUDA GPU"):
        pick_device("cuda:1")
    with pytest.raises(RuntimeError, match="MPS backend is not available.*DEVICE='cpu'"):
        pick_device("mps")
    fake_machine(monkeypatch, gpus=1)
    with pytest.raises(RuntimeError, match=r"'cuda:7' was asked for, but this machine has 1 CUDA GPU \(cuda:0\)\. "
                                           r"Use DEVICE='cuda'"):
        pick_device("cuda:7")
    fake_machine(monkeypatch, gpus=2)
    with pytest.raises(RuntimeError, match=r"has 2 CUDA GPUs \(cuda:0, cuda:1\)"):
        pick_device(torch.device("cuda", 2))


def test_seed_everything_repeats_random_numbers():
    seed_everything(123)
    a = (random.random(), np.random.rand(), torch.rand(3))
    seed_everything(123)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_set_cpu_threads(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert set_cpu_threads(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("COURSE_THREADS", "2")
        assert set_cpu_threads() == 2
        monkeypatch.setattr("helpers.device.usable_cpu_count", lambda: 3)
        assert set_cpu_threads(0) == 3 and torch.get_num_threads() == 3  # 0: every core this process may use
    finally:
        torch.set_num_threads(before)


def test_summary_and_setup_notebook(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RESULTS_FILE", str(tmp_path / "r.json"))
    line = environment_summary(torch.device("cpu"))
    assert "torch" in line and "device cpu" in line
    assert device_label(torch.device("cpu")).startswith("cpu (")
    device = setup_notebook("cpu", seed=3)
    assert device == torch.device("cpu")
    assert "seed 3" in capsys.readouterr().out
    assert '"device": "cpu' in (tmp_path / "r.json").read_text()
