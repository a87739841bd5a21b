"""Pretrained ImageNet classifiers for the transfer-learning lessons, offline first.

    >>> model, preprocess, weights_name = load_pretrained_classifier("mobilenet_v3_small")
    Pretrained weights: MobileNet_V3_Small_Weights.IMAGENET1K_V1 (torch hub cache: ...).
    >>> imagenet_class_names()[285]
    'Egyptian cat'

torchvision's weights are looked for in ``<data root>/weights/`` (every root, the mirror included), then in
torch's hub cache, then downloaded. Offline, the course's own MobileNetV2 ImageNet weights (a registry entry of
``helpers.data.storage``) stand in, and a printed message says which weights were missing, where they were
looked for and how to get them. Files are read and checked by ``helpers.checkpoints`` (``weights_only=True``).
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from contextlib import contextmanager
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision

from helpers.checkpoints import WeightsMismatchError, check_state_dict, read_state_dict
from helpers.data.errors import CorruptFileError, DataNotFoundError
from helpers.data.storage import ensure_dataset, file_digest, search_roots

FALLBACK_NAME = "mobilenet_v2_imagenet_from_qnnpack"
DOWNLOAD_TIMEOUT_S = 10.0  # a network that drops packets fails after this many seconds of silence, not minutes
PROBE_TIMEOUT_S = 3.0      # how long load_timm_model waits for the Hugging Face Hub to answer before going offline


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet class names in torchvision's order (from the weights' metadata, offline).

    >>> imagenet_class_names()[285]
    'Egyptian cat'
    """
    return list(torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


def _read_weights(path: Path) -> dict:
    """``read_state_dict``, with a file that cannot be read at all reported as a CorruptFileError."""
    try:
        return read_state_dict(path)
    except WeightsMismatchError:
        raise
    except ValueError as err:  # truncated, or not a PyTorch file: the message already says so
        raise CorruptFileError(str(err)) from err


def load_state_dict_file(model: torch.nn.Module, path: str | os.PathLike) -> torch.nn.Module:
    """Load a state_dict file into ``model`` (``weights_only=True``, strict), with errors that say why.

    >>> load_state_dict_file(torchvision.models.mobilenet_v2(), "data/weights/mobilenet_v2_imagenet_from_qnnpack.pth")
    MobileNetV2(...)
    """
    state = _read_weights(Path(path))
    check_state_dict(model, state, str(path))
    model.load_state_dict(state, strict=True)
    return model


@contextmanager
def _socket_timeout(seconds: float):
    """Sockets opened inside give up after ``seconds`` of silence (urllib, which torch.hub uses, waits forever)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _host_answers(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether the host of ``url`` accepts a connection within ``timeout`` seconds (False offline, at once or soon)."""
    parts = urllib.parse.urlparse(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)),
                                      timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def _hash_matches_name(path: Path) -> bool:
    """torchvision names checkpoints <name>-<first sha256 digits>.pth; check those digits."""
    match = torch.hub.HASH_REGEX.search(path.name)
    return match is None or file_digest(path).startswith(match.group(1))


def _pick_weights(name: str, weights):
    """torchvision's weights enum member for model ``name``: "DEFAULT", a member name, or the member itself."""
    try:
        weights_enum = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError) as err:
        raise ValueError(f"Unknown torchvision model {name!r} (e.g. mobilenet_v3_small, mobilenet_v2, resnet18, "
                         "efficientnet_b0).") from err
    if not isinstance(weights, str):
        return weights
    if weights == "DEFAULT":
        return weights_enum.DEFAULT
    if weights not in weights_enum.__members__:
        raise ValueError(f"{name} has no weights {weights!r}; choose one of {list(weights_enum.__members__)}.")
    return weights_enum[weights]


def _torchvision_state_dict(name: str, weights, root, mirror, download: bool, progress: bool) -> tuple[dict, str]:
    """The state_dict for torchvision ``weights``: data roots, then torch's hub cache, then the download."""
    filename = Path(urllib.parse.urlparse(weights.url).path).name
    candidates = [(label, folder / "weights" / filename) for label, folder in search_roots(root, mirror=mirror)]
    candidates.append(("torch hub cache", Path(torch.hub.get_dir()) / "checkpoints" / filename))
    for label, path in candidates:
        if path.is_file():
            if not _hash_matches_name(path):
                raise CorruptFileError(f"{path} fails its checksum (its sha256 does not begin with the digits in its "
                                       "name): it is truncated or another file. Delete it and fetch it again.")
            return _read_weights(path), f"{label}: {path}"
    if download:
        try:
            with _socket_timeout(DOWNLOAD_TIMEOUT_S):
                state = torch.hub.load_state_dict_from_url(weights.url, progress=progress, check_hash=True,
                                                           map_location="cpu", weights_only=True)
            return state, f"downloaded from {weights.url}"
        except Exception as err:
            attempt = f"failed ({type(err).__name__}: {(str(err).strip().splitlines() or [''])[-1]})"
    else:
        attempt = "not tried (download=False)"
    looked = "\n".join(f"  - {label}: {path}" for label, path in candidates)
    raise DataNotFoundError(
        f"{name}'s ImageNet weights ({weights}, file {filename}) were not found.\nLooked in:\n{looked}\n"
        f"  - official download {weights.url}: {attempt}\n"
        f"To get them: on a machine with internet run torchvision.models.get_model({name!r}, weights='DEFAULT') once "
        f"(it saves {filename} in the torch hub cache), then copy that file into <data root>/weights/ here, e.g. "
        f"{candidates[0][1]}.")


def load_pretrained_classifier(name: str = "mobilenet_v3_small", root: str | os.PathLike | None = None, *,
                               weights: str = "DEFAULT", mirror: str | os.PathLike | None = None,
                               download: bool = True, fallback: bool = True,
                               progress: bool = False) -> tuple[torch.nn.Module, Callable, str]:
    """An ImageNet classifier from torchvision's weights API: (model in eval mode, its transforms, weights name).

    The weights come from a data root's weights/ folder, torch's hub cache or the official download. When
    none works (offline), ``fallback=True`` prints which weights are missing, where they were looked for and
    how to get them, then returns the course's MobileNetV2 ImageNet weights with MobileNetV2's transforms;
    ``fallback=False`` raises that message as a DataNotFoundError instead.

    >>> model, preprocess, weights_name = load_pretrained_classifier("resnet18", download=False)
    Pretrained weights: resnet18's ImageNet weights (ResNet18_Weights.IMAGENET1K_V1, ...) were not found. ...
    Using the fallback instead: the course's MobileNetV2 ImageNet weights (.../mobilenet_v2_imagenet_from_qnnpack.pth).
    >>> weights_name
    'mobilenet_v2_imagenet_from_qnnpack'
    """
    chosen = _pick_weights(name, weights)
    try:
        state, where = _torchvision_state_dict(name, chosen, root, mirror, download, progress)
    except DataNotFoundError as missing:
        if not fallback:
            raise
        try:
            path = ensure_dataset("mobilenet-v2-weights", root, mirror=mirror, download=False)
        except DataNotFoundError as no_fallback:
            raise DataNotFoundError(f"{missing}\n\nThe offline fallback is missing too:\n{no_fallback}") from no_fallback
        model = load_state_dict_file(torchvision.models.mobilenet_v2(), path)
        print(f"Pretrained weights: {missing}\nUsing the fallback instead: the course's MobileNetV2 ImageNet weights "
              f"({path}).")
        return model.eval(), torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.transforms(), FALLBACK_NAME
    model = torchvision.models.get_model(name, weights=None)
    check_state_dict(model, state, where)
    model.load_state_dict(state, strict=True)
    print(f"Pretrained weights: {chosen} ({where}).")
    return model.eval(), chosen.transforms(), str(chosen)



def load_timm_model(name: str, *, pretrained: bool = True, num_classes: int | None = None,
                    download: bool = True) -> tuple[torch.nn.Module, bool]:
    """A timm model in eval mode, with its pretrained weights when they can be had: (model, whether they were).

    The weights come from the Hugging Face cache, else the Hub. Offline the Hub is not asked at all (its client
    would retry for about 45 s): when it does not answer within ``PROBE_TIMEOUT_S`` seconds, or ``$HF_HUB_OFFLINE``
    is set, a message says so and the model keeps its random initial weights (the architecture alone).
    ``num_classes`` gives the model a new, untrained head with that many outputs (timm drops the old one).

    >>> model, pretrained = load_timm_model("mobilenetv3_large_100", num_classes=2)
    timm weights for mobilenetv3_large_100 (timm/mobilenetv3_large_100.ra_in1k) are not available: ...
    """
    import timm
    from huggingface_hub import try_to_load_from_cache

    extra = {} if num_classes is None else {"num_classes": num_classes}
    if not pretrained:
        return timm.create_model(name, pretrained=False, **extra).eval(), False
    hub_id = timm.models.get_pretrained_cfg(name).hf_hub_id
    for filename in ("model.safetensors", "pytorch_model.bin"):
        cached = try_to_load_from_cache(hub_id, filename) if hub_id else None
        if isinstance(cached, str):
            model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": cached}, **extra)
            print(f"timm weights: {hub_id} (Hugging Face cache: {cached}).")
            return model.eval(), True
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    if not hub_id:
        why = "timm names no Hugging Face repository for them"
    elif not download:
        why = "download=False"
    elif os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes"):
        why = "$HF_HUB_OFFLINE is set"
    elif not _host_answers(endpoint):
        why = f"{endpoint} did not answer within {PROBE_TIMEOUT_S:g} s (offline?)"
    else:
        try:
            model = timm.create_model(name, pretrained=True, **extra)
            print(f"timm weights: {hub_id} (downloaded from {endpoint}).")
            return model.eval(), True
        except Exception as err:
            why = f"the download failed ({type(err).__name__}: {(str(err).strip().splitlines() or [''])[-1]})"
    print(f"timm weights for {name} ({hub_id}) are not available: they are not in the Hugging Face cache and {why}.\n"
          f"Using the architecture alone, with random weights. To get them: on a machine with internet run "
          f"timm.create_model({name!r}, pretrained=True) once, then copy its folder "
          f"models--{(hub_id or name).replace('/', '--')} from ~/.cache/huggingface/hub/ to the same place here.")
    return timm.create_model(name, pretrained=False, **extra).eval(), False
