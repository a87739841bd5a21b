"""The data layer's errors. Each message names the file or folder, says what is wrong and what to do.

    >>> from helpers.data import CorruptFileError
    >>> try:
    ...     load_cifar10_tensors("train")
    ... except CorruptFileError as err:
    ...     print(err)   # data/cifar10/train/cat/0042.jpg is truncated ... delete ... fetch it again
"""

from __future__ import annotations


class DataNotFoundError(FileNotFoundError):
    """A data file or folder is in none of the places searched (or a data root given is not a folder)."""


class CorruptFileError(ValueError):
    """A file is truncated, damaged, not what its name says, or fails its checksum."""


class DataLayoutError(ValueError):
    """A folder is not laid out as expected (e.g. an ImageFolder without class folders)."""


def not_writable_error(folder, err: OSError) -> PermissionError:
    """The PermissionError to raise when the data root ``folder`` cannot be written to."""
    return PermissionError(
        f"Cannot write into the data root {folder} ({type(err).__name__}: {err.strerror or err}). Data is copied and "
        "unpacked into a writable folder: point $COURSE_DATA (or DATA_DIR, or --root) at one, e.g. the repository's "
        "data/ folder. A read-only copy of the data belongs in $COURSE_DATA_MIRROR (or --from).")
