import random

import numpy as np
import pytest
import torch

from helpers.device import device_label, environment_summary, pick_device, seed_everything, set_cpu_threads, setup_notebook


def test_pick_device_auto_and_cpu():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type in {"cpu", "cuda", "mps"}
    assert pick_device(torch.device("cpu")) == torch.device("cpu")
    assert pick_device(" CPU ") == torch.device("cpu")


def test_pick_device_unknown_name_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown device 'tpu'.*auto, cpu, cuda, mps"):
        pick_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_pick_device_cuda_without_gpu_says_what_to_do():
    with pytest.raises(RuntimeError, match="no CUDA GPU.*DEVICE='cpu'"):
        pick_device("cuda")


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
        assert set_cpu_threads(0) >= 1
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
