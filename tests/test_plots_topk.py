"""helpers.plots.show_topk: each image beside its top-k bar chart."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from helpers.plots import WRONG_COLOR, show_topk


def test_show_topk_draws_an_image_and_a_bar_chart_per_photo_most_likely_on_top():
    images = torch.rand(3, 3, 20, 20)
    names = [["cat", "dog", "fox"], ["dog", "cat", "fox"], ["fox", "cat", "dog"]]
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.9, 0.05, 0.05]])
    fig = show_topk(images, names, probs, true=["cat", "cat", "fox"], ncols=2, title="top-3")
    image_axes, bar_axes = fig.axes[0::2], fig.axes[1::2]
    assert len(fig.axes) == 8 and fig._suptitle.get_text() == "top-3"
    first = bar_axes[0]
    assert [t.get_text() for t in first.get_yticklabels()] == ["cat", "dog", "fox"]
    assert first.yaxis_inverted(), "the most likely class on top"
    assert [round(b.get_width()) for b in first.patches] == [70, 20, 10], "probabilities in %"
    assert first.get_xlabel() == "probability (%)"
    green_rgb = plt.matplotlib.colors.to_rgb("tab:green")
    green = [b for b in bar_axes[1].patches if np.allclose(b.get_facecolor()[:3], green_rgb)]
    assert len(green) == 1 and round(green[0].get_width()) == 30, "the true class's bar is green"
    assert image_axes[1].title.get_color() == WRONG_COLOR and image_axes[0].title.get_color() == "black"
    assert not bar_axes[3].axison and not image_axes[3].axison, "the unused cell is blank"
    plt.close(fig)


def test_show_topk_refuses_scores_and_mismatched_lengths():
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\]"):
        show_topk(torch.rand(1, 3, 8, 8), [["a", "b"]], torch.tensor([[3.2, -1.0]]))
    with pytest.raises(ValueError, match="2 images need as many rows"):
        show_topk(torch.rand(2, 3, 8, 8), [["a", "b"]], torch.tensor([[0.6, 0.4]]))
