"""helpers.distributed and fit under torchrun: what changes with several processes, and that nothing else does.

The slow test launches ``benchmarks/ddp_fashion_mnist.py`` with torchrun as two CPU processes (gloo) on real
Fashion-MNIST images and a tiny CNN without batch norm, then runs the same script as one process with the same
global batch size: both processes must end with identical weights, and those must match the single process's to
float rounding, with the same test accuracy.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from helpers import distributed
from helpers.common import REPO_ROOT
from helpers.training import fit, tensor_loader

SCRIPT = REPO_ROOT / "benchmarks" / "ddp_fashion_mnist.py"


def test_without_a_process_group_everything_is_one_process():
    assert not distributed.is_distributed()
    assert (distributed.rank(), distributed.world_size(), distributed.is_main_process()) == (0, 1, True)
    loader = distributed.sharded_loader(torch.zeros(6, 1, 4, 4, dtype=torch.uint8), torch.arange(6) % 2, 4)
    assert not distributed.is_sharded(loader)
    assert distributed.sum_over_shards(loader, torch.tensor(2.5), 3) == (2.5, 3.0)
    model = nn.Linear(2, 2)
    assert distributed.unwrap(model) is model and distributed.unwrap(nn.DataParallel(model)) is model


def test_setup_without_torchrun_returns_the_usual_device(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.setup().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert not distributed.is_distributed()


def test_a_sharded_loader_splits_one_shuffled_order_between_the_processes():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1)
    labels = torch.arange(10)

    def order(loader, epoch):
        loader.sampler.set_epoch(epoch)
        return [int(i) for _, y in loader for i in y]

    whole = distributed.sharded_loader(images, labels, 2, shuffle=True, seed=3, num_replicas=1, shard=0)
    shards = [distributed.sharded_loader(images, labels, 1, shuffle=True, seed=3, num_replicas=2, shard=r) for r in (0, 1)]
    for epoch in (1, 2):
        everything = order(whole, epoch)
        assert sorted(everything) == list(range(10))
        assert order(shards[0], epoch) == everything[0::2] and order(shards[1], epoch) == everything[1::2]
    assert order(whole, 1) != order(whole, 2), "set_epoch(epoch) must give each epoch its own order"


class RecordingSampler(torch.utils.data.SequentialSampler):
    def __init__(self, data):
        super().__init__(data)
        self.epochs = []

    def set_epoch(self, epoch):
        self.epochs.append(epoch)


def test_fit_calls_set_epoch_on_the_loaders_sampler_every_epoch():
    loader = tensor_loader(torch.rand(8, 1, 4, 4), torch.arange(8) % 2, 4)
    sampler = RecordingSampler(loader.dataset)
    loader = torch.utils.data.DataLoader(loader.dataset, batch_size=4, sampler=sampler)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    fit(model, loader, epochs=3, progress=False, verbose=False)
    assert sampler.epochs == [1, 2, 3]


def run_script(args, *, processes: int, out, timeout: float = 300) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COURSE_PROGRESS": "off"}
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
                if processes > 1 else [sys.executable])
    done = subprocess.run([*launcher, str(SCRIPT), *args, "--out", str(out), "--save-every-rank"], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"the run with {processes} process(es) failed:\n{done.stdout}\n{done.stderr}"


@pytest.mark.slow
def test_two_gloo_processes_train_like_one_process(tmp_path):
    args = ["--model", "tiny", "--limit", "2000", "--test-limit", "500", "--epochs", "2", "--batch-size", "32",
            "--lr", "0.03", "--threads", "1"]
    run_script(args, processes=2, out=tmp_path / "ddp")
    run_script(args, processes=1, out=tmp_path / "single")
    ranks = [json.loads((tmp_path / "ddp" / f"rank{r}.json").read_text()) for r in (0, 1)]
    single = json.loads((tmp_path / "single" / "rank0.json").read_text())
    assert [r["world_size"] for r in ranks] == [2, 2] and single["world_size"] == 1

    weights = [torch.load(tmp_path / "ddp" / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    alone = torch.load(tmp_path / "single" / "rank0.pt", weights_only=True)
    for name, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][name]), f"{name} differs between the two processes"
        # the same steps on the same batches; float rounding differs (sums in another order) and grows a little over
        # 125 steps: measured up to 3e-4 apart, where a wrong split of the data would put them ~0.05 apart
        assert torch.allclose(tensor, alone[name], atol=2e-3, rtol=0), (
            f"{name}: two processes and one process ended {float((tensor - alone[name]).abs().max()):.2g} apart")
    assert (tmp_path / "ddp" / "model.pt").is_file(), "process 0 saves the model"

    # the metrics are summed over both shards, so both processes report the whole test set, like one process
    assert ranks[0]["test_accuracy"] == ranks[1]["test_accuracy"]
    assert ranks[0]["test_accuracy"] > 0.3, "the tiny CNN should learn something in two epochs"
    assert abs(ranks[0]["test_accuracy"] - single["test_accuracy"]) <= 1 / 500 + 1e-9
    assert abs(ranks[0]["train_accuracy"] - single["train_accuracy"]) <= 2 / 2000 + 1e-9


def test_the_ddp_script_runs_as_one_process_and_writes_its_files(monkeypatch, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("ddp_fashion_mnist_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    def tiny_data(split="train", root=None, **kwargs):  # stand-in images: the script's logic, not its accuracy
        count = 96 if split == "train" else 40
        generator = torch.Generator().manual_seed(0 if split == "train" else 1)
        return torch.randint(0, 256, (count, 1, 28, 28), dtype=torch.uint8, generator=generator), torch.arange(count) % 10

    monkeypatch.setattr(script, "load_fashion_mnist_tensors", tiny_data)
    results = script.main(["--model", "tiny", "--epochs", "1", "--batch-size", "32", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert results["world_size"] == 1 and results["rank"] == 0 and 0 <= results["test_accuracy"] <= 1
    assert "1 process(es)" in out and "test accuracy" in out
    assert (tmp_path / "model.pt").is_file() and (tmp_path / "rank0.json").is_file()
    assert not (tmp_path / "rank0.pt").exists(), "weights per process only with --save-every-rank"
