import json

import numpy as np
import pytest
import torch

from helpers.results import read_results, record


def test_record_prints_without_runner(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_RESULTS_FILE", raising=False)
    assert record(test_accuracy=0.9) is None
    assert "recorded: test_accuracy=0.9" in capsys.readouterr().out


def test_record_merges_into_the_runner_file(monkeypatch, tmp_path):
    path = tmp_path / "sub" / "r.json"
    monkeypatch.setenv("COURSE_RESULTS_FILE", str(path))
    record(a=1, b=np.float32(0.5), quiet=True)
    record(b=torch.tensor(0.25), c="cpu", quiet=True)
    assert json.loads(path.read_text()) == {"a": 1, "b": 0.25, "c": "cpu"}
    assert read_results(path)["c"] == "cpu"
    assert read_results(tmp_path / "missing.json") == {}


def test_record_refuses_non_numbers():
    with pytest.raises(TypeError, match="record\\(\\) takes numbers"):
        record(model=torch.nn.Linear(1, 1))
