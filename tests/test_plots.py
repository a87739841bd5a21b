"""Unit tests for helpers.plots (headless: the Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from helpers.plots import plot_bar, plot_confusion_matrix, plot_history, show_images  # noqa: E402
from helpers.training import History  # noqa: E402

CLASSES = ["cat", "dog", "fox"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def shown_arrays(fig):
    """The image arrays drawn in the figure's axes (as imshow stored them), in axes order."""
    return [ax.images[0].get_array() for ax in fig.axes if ax.images]


def test_show_images_torch_float_batch_with_labels_and_predictions():
    images = torch.rand(5, 3, 8, 8)
    fig = show_images(images, labels=torch.tensor([0, 1, 2, 0, 1]), preds=[0, 2, 2, 0, 0], class_names=CLASSES,
                      ncols=3, title="validation images")
    assert isinstance(fig, Figure)
    assert fig.get_suptitle() == "validation images"
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == ["true: cat\npred: cat", "true: dog\npred: fox", "true: fox\npred: fox",
                                                 "true: cat\npred: cat", "true: dog\npred: cat"]
    red = mcolors.to_rgba("tab:red")
    assert [ax.title.get_color() == red or mcolors.to_rgba(ax.title.get_color()) == red for ax in titled] == \
        [False, True, False, False, True]
    assert len(fig.axes) == 6  # 2 rows x 3 columns, the last one empty
    arrays = shown_arrays(fig)
    assert len(arrays) == 5 and arrays[0].shape == (8, 8, 3)
    np.testing.assert_allclose(arrays[0], images[0].permute(1, 2, 0).numpy(), atol=1e-6)


def test_show_images_uint8_gray_tensor_and_unnormalise():
    gray = torch.randint(0, 256, (4, 1, 6, 6), dtype=torch.uint8)
    fig = show_images(gray, labels=[0, 1, 2, 0], class_names=CLASSES)
    arrays = shown_arrays(fig)
    assert arrays[0].shape == (6, 6)  # gray: drawn as a 2-D image with a gray colormap
    np.testing.assert_allclose(arrays[0], gray[0, 0].numpy() / 255, atol=1e-6)
    assert fig.axes[0].get_title() == "cat"

    original = torch.rand(2, 3, 4, 4)
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    normalised = (original - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    fig = show_images(normalised, mean=mean, std=std)
    np.testing.assert_allclose(shown_arrays(fig)[1], original[1].permute(1, 2, 0).numpy(), atol=1e-5)


def test_show_images_numpy_hwc_and_lists_of_pil_images():
    batch = np.random.default_rng(0).integers(0, 256, (3, 5, 7, 3), dtype=np.uint8)
    fig = show_images(batch, preds=[1, 1, 0], class_names=CLASSES)
    assert shown_arrays(fig)[2].shape == (5, 7, 3)
    assert fig.axes[0].get_title() == "pred: dog"

    single = show_images(batch[0])  # one HWC image
    assert len(shown_arrays(single)) == 1

    pil = [Image.fromarray(batch[0]), Image.fromarray(batch[1][..., 0])]
    fig = show_images(pil, labels=["photo", "gray photo"])
    arrays = shown_arrays(fig)
    assert arrays[0].shape == (5, 7, 3) and arrays[1].shape == (5, 7)
    assert [ax.get_title() for ax in fig.axes[:2]] == ["photo", "gray photo"]


def test_show_images_errors():
    with pytest.raises(ValueError, match="3 images but only 2 labels"):
        show_images(torch.rand(3, 1, 4, 4), labels=[0, 1])
    with pytest.raises(ValueError, match="both mean and std"):
        show_images(torch.rand(2, 1, 4, 4), mean=0.5)
    with pytest.raises(ValueError, match="Cannot show an image of shape"):
        show_images([np.zeros((4, 4, 7))])


def history(offset=0.0):
    return History(train_loss=[1.0 + offset, 0.6, 0.4], train_acc=[0.6, 0.8, 0.9], val_loss=[0.9, 0.7, 0.65],
                   val_acc=[0.65, 0.75, 0.78], lr=[1e-3] * 3, seconds=[2.0, 2.1, 2.0], best_epoch=3)


def test_plot_history_one_run_train_dashed_val_solid():
    fig = plot_history(history(), title="small CNN")
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_title() == "Loss" and acc_ax.get_title() == "Accuracy"
    assert loss_ax.get_xlabel() == "epoch" and acc_ax.get_ylabel() == "accuracy (%)"
    assert "loss" in loss_ax.get_ylabel()
    train, val = acc_ax.get_lines()
    assert train.get_linestyle() == "--" and val.get_linestyle() == "-"
    assert list(train.get_xdata()) == [1, 2, 3]
    np.testing.assert_allclose(val.get_ydata(), [65, 75, 78])
    assert [t.get_text() for t in acc_ax.get_legend().get_texts()] == ["train", "validation"]
    assert fig.get_suptitle() == "small CNN"


def test_plot_history_compares_runs_and_accepts_dicts():
    fig = plot_history({"plain": history(), "augmented": history(0.2).to_dict()}, metrics=("loss", "acc", "lr"))
    assert len(fig.axes) == 3
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["plain: train", "plain: validation", "augmented: train", "augmented: validation"]
    lines = fig.axes[0].get_lines()
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()  # one colour per run
    assert fig.axes[2].get_ylabel() == "learning rate"
    no_val = History(train_loss=[1.0, 0.5], train_acc=[0.5, 0.7])
    assert len(plot_history(no_val).axes[0].get_lines()) == 1
    with pytest.raises(ValueError, match="Unknown metric"):
        plot_history(history(), metrics=("f1",))
    with pytest.raises(TypeError, match="Expected a History"):
        plot_history({"run": [1, 2, 3]})


def test_plot_confusion_matrix_normalised_and_counts():
    cm = np.array([[8, 2, 0], [1, 9, 0], [0, 5, 5]])
    fig = plot_confusion_matrix(cm, CLASSES, normalize=True)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    assert "each row sums to 1" in ax.get_title()
    np.testing.assert_allclose(ax.images[0].get_array(), cm / cm.sum(axis=1, keepdims=True))
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 9 and texts[:2] == ["0.80", "0.20"]
    assert fig.axes[1].get_ylabel() == "fraction of the true class"  # the colour bar

    fig = plot_confusion_matrix(torch.from_numpy(cm), CLASSES, normalize=False, title="test set")
    assert fig.axes[0].get_title() == "test set"
    assert [t.get_text() for t in fig.axes[0].texts][:3] == ["8", "2", "0"]
    with pytest.raises(ValueError, match="2 class names for a 3x3"):
        plot_confusion_matrix(cm, CLASSES[:2])


def test_plot_bar_from_dict_list_and_tensor():
    fig = plot_bar({"MLP": 88.1, "CNN": 91.4}, title="Test accuracy", ylabel="accuracy (%)", fmt="{:.1f}")
    ax = fig.axes[0]
    assert ax.get_title() == "Test accuracy" and ax.get_ylabel() == "accuracy (%)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["MLP", "CNN"]
    assert [t.get_text() for t in ax.texts] == ["88.1", "91.4"]
    assert [p.get_height() for p in ax.patches] == pytest.approx([88.1, 91.4])

    fig = plot_bar(torch.bincount(torch.tensor([0, 1, 1, 2, 2, 2])), CLASSES, xlabel="class", ylabel="images",
                   horizontal=True)
    ax = fig.axes[0]
    assert [p.get_width() for p in ax.patches] == [1, 2, 3]
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASSES
    with pytest.raises(ValueError, match="3 values but 2 labels"):
        plot_bar([1, 2, 3], ["a", "b"])


def test_plot_functions_do_not_show_or_close_the_figure(monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(1))
    fig = plot_bar([1, 2])
    assert not shown and plt.fignum_exists(fig.number)  # left open for the notebook's inline backend


# ---------------------------------------------------------------- feature maps and filters
def test_show_feature_maps_one_panel_per_channel_each_on_its_own_scale():
    from helpers.plots import show_feature_maps

    maps = torch.stack([torch.zeros(4, 4), torch.arange(16.0).reshape(4, 4), 100 * torch.ones(4, 4)])
    fig = show_feature_maps(maps[None], ncols=2, title="conv1")
    assert fig.get_suptitle() == "conv1"
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["ch 0", "ch 1", "ch 2"]
    assert np.allclose(shown_arrays(fig)[1], np.arange(16.0).reshape(4, 4))
    assert fig.axes[1].images[0].get_clim() == (0.0, 15.0)
    assert len(shown_arrays(show_feature_maps(np.zeros((40, 3, 3)), max_maps=10))) == 10


def test_show_feature_maps_picks_channels_and_draws_one_row_per_layer():
    from helpers.plots import show_feature_maps

    maps = torch.zeros(5, 2, 2)
    maps[3] += 2
    maps[1] += 1
    fig = show_feature_maps(maps, channels="strongest", max_maps=2)
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["ch 3", "ch 1"]
    fig = show_feature_maps(maps, channels=[4, 0])
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["ch 4", "ch 0"]
    fig = show_feature_maps({"conv1": maps, "conv2": torch.rand(1, 3, 1, 1)}, channels="strongest", max_maps=4)
    assert len(fig.axes) == 8  # two rows of 4 panels; the second layer has only 3 channels
    assert fig.axes[0].get_ylabel() == "conv1\n2x2" and fig.axes[4].get_ylabel() == "conv2\n1x1"
    assert len(shown_arrays(fig)) == 7


def test_show_feature_maps_refuses_bad_input():
    from helpers.plots import show_feature_maps

    with pytest.raises(ValueError, match=r"\[C, H, W\]"):
        show_feature_maps(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="outside"):
        show_feature_maps(torch.zeros(3, 4, 4), channels=[3])
    with pytest.raises(ValueError, match="strongest"):
        show_feature_maps(torch.zeros(3, 4, 4), channels="loudest")


def test_show_filters_gray_share_a_signed_scale_and_rgb_are_stretched():
    from helpers.plots import show_filters

    gray = torch.tensor([[[[1.0, -2.0], [0.0, 0.5]]], [[[0.1, 0.0], [0.0, 0.0]]]])
    fig = show_filters(gray)
    assert [ax.images[0].get_clim() for ax in fig.axes if ax.images] == [(-2.0, 2.0), (-2.0, 2.0)]
    rgb = torch.randn(3, 3, 5, 5)
    arrays = shown_arrays(show_filters(rgb, title="first layer"))
    assert len(arrays) == 3 and arrays[0].shape == (5, 5, 3)
    assert np.isclose(arrays[0].min(), 0.0) and np.isclose(arrays[0].max(), 1.0)
    with pytest.raises(ValueError, match="in = 1 or 3"):
        show_filters(torch.zeros(4, 8, 3, 3))
