"""Run untrusted code (a student's notebook kernel) in a bubblewrap sandbox.

Inside the sandbox the whole system is read-only, a few folders are hidden (replaced by empty ones), only the
scratch folders you name are writable, and there is no network and no view of the other processes::

    >>> reason = sandbox_problem()            # None when bwrap works here, else why not  # doctest: +SKIP
    >>> sandbox_command(["python", "-c", "print(1)"], writable=[scratch], hidden=[Path.home()])  # doctest: +SKIP
    ['bwrap', '--ro-bind', '/', '/', ..., '--', 'python', '-c', 'print(1)']

bubblewrap (``bwrap``, the sandbox Flatpak uses) is the package ``bubblewrap`` on Debian, Ubuntu, Fedora and Arch.
It needs unprivileged user namespaces (on by default on current distributions) or root.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

BWRAP = "bwrap"
INSTALL_HINT = "install it with `sudo apt-get install bubblewrap` (Fedora: `sudo dnf install bubblewrap`); see INSTRUCTORS.md"


def _under(path: Path, folders: Iterable[Path]) -> bool:
    return any(path == folder or folder in path.parents for folder in folders)


def sandbox_command(command: Sequence[str], writable: Iterable[Path], hidden: Iterable[Path] = (),
                    visible: Iterable[Path] = (), cwd: Path | None = None, unset_env: Iterable[str] = ()) -> list[str]:
    """``command`` wrapped in ``bwrap``: system read-only, ``hidden`` folders empty, ``writable`` folders writable.

    ``visible`` are paths needed inside (the Python environment, data) that lie under a hidden folder: they are
    shown again, read-only. The sandbox has its own /tmp, /dev, process tree (it dies with its parent), no
    network and no capabilities (root inside cannot remount the system writable). ``unset_env`` names
    environment variables removed inside.
    """
    hidden = [Path(p).resolve() for p in hidden if Path(p).is_dir()]
    visible = [Path(p).resolve() for p in visible if Path(p).exists()]
    args = [BWRAP, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/dev/shm"]
    for device in sorted(Path("/dev").glob("nvidia*")) + sorted(Path("/dev").glob("dri")):  # GPUs stay usable
        args += ["--dev-bind", str(device), str(device)]
    for folder in hidden:
        args += ["--tmpfs", str(folder)]
    # /tmp is a fresh tmpfs inside: a checkout, environment or data under /tmp is shown again like a hidden folder's
    shown = [path for path in visible if _under(path, [*hidden, Path("/tmp").resolve()])]
    for path in shown:
        args += ["--ro-bind", str(path), str(path)]
    for folder in hidden:  # a hidden folder inside a path shown again stays hidden
        if any(path in folder.parents for path in shown):
            args += ["--tmpfs", str(folder)]
    for folder in writable:
        args += ["--bind", str(Path(folder).resolve()), str(Path(folder).resolve())]
    args += ["--unshare-all", "--cap-drop", "ALL", "--die-with-parent", "--new-session"]
    for name in unset_env:
        args += ["--unsetenv", name]
    if cwd is not None:
        args += ["--chdir", str(Path(cwd).resolve())]
    return args + ["--", *command]


@functools.lru_cache(maxsize=1)
def sandbox_problem() -> str | None:
    """None if bwrap can start a sandbox on this machine; otherwise a sentence saying why not and what to do."""
    if shutil.which(BWRAP) is None:
        return f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}"
    try:
        probe = subprocess.run(sandbox_command(["true"], writable=[]), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bwrap could not start: {err}"
    if probe.returncode != 0:
        detail = (probe.stderr.strip().splitlines() or [f"exit code {probe.returncode}"])[-1]
        return (f"bwrap cannot create a sandbox here ({detail}); unprivileged user namespaces may be disabled "
                "(see INSTRUCTORS.md, 'Isolation')")
    return None
