"""The pytest side of grading: loaded into the grader's pytest process with ``-p helpers.grading_plugin``.

``python -m helpers.grade`` starts one ``pytest --nbval-lax`` process per notebook with this plugin and a
``--grade-report FILE`` option. The plugin appends one JSON line per cell and phase to that file::

    {"cell": 7, "when": "call", "outcome": "failed", "error": "CheckFailed: ❌ relu (mixed signs): ..."}

Only this process writes the file; the student's kernel is never told its name (it is not in the kernel's
environment, and a sandboxed kernel cannot see the folder). The plugin also makes nbval (0.11) notice a dead
kernel at once and, for a sandboxed kernel (``--grade-ipc``), talk to it over unix sockets instead of TCP.
Outside a grading run (no ``--grade-report``) it does nothing.
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest

from helpers.labs import GRADED_PREFIX

# Run before each graded cell (helpers.grade puts it there): forget the check modules, so the cell's own
# `from helpers.checks... import ...` loads them afresh from disk instead of a copy an earlier cell patched.
FRESH_CHECKS = ("import sys as __grader_sys\n"
                "[__grader_sys.modules.pop(__m) for __m in list(__grader_sys.modules) if __m.startswith('helpers.checks')]\n"
                "del __grader_sys\n")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_KERNEL_LOST: dict[str, str] = {}  # in a grading run: the cell in which the kernel died or was stopped, and why


class KernelDied(RuntimeError):
    """The kernel process ended while a cell was running (a crash: out of memory, a segfault, os._exit)."""


def pytest_addoption(parser) -> None:
    group = parser.getgroup("course grading (helpers.grade)")
    group.addoption("--grade-report", default=None, help="append one JSON line per notebook cell to this file")
    group.addoption("--grade-max-file-bytes", type=int, default=None, help="cap on the size of any file the notebook writes")
    group.addoption("--grade-ipc", default=None, help="talk to the kernel over unix sockets with this path prefix")


def pytest_configure(config) -> None:
    """In a grading run: cap file sizes (the kernel inherits the limit) and adapt nbval's kernel handling."""
    if not config.getoption("grade_report", None):
        return
    limit = config.getoption("grade_max_file_bytes")
    if limit:
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        except (ImportError, ValueError, OSError):
            pass  # not on this platform
    _adapt_nbval(config.getoption("grade_ipc"))


def _adapt_nbval(ipc_prefix: str | None) -> None:
    """Make nbval (0.11) notice a dead kernel at once and, for a sandboxed kernel, connect over unix sockets."""
    from queue import Empty

    import nbval.kernel
    import nbval.plugin
    from traitlets import default

    if ipc_prefix:
        class SocketKernelManager(nbval.kernel.KernelManager):
            @default("transport")
            def _transport_default(self):
                return "ipc"

            @default("ip")
            def _ip_default(self):
                return ipc_prefix

            @default("connection_file")
            def _connection_file_default(self):  # next to the sockets, where the sandboxed kernel can read it
                return os.path.join(os.path.dirname(ipc_prefix), "kernel.json")

        nbval.kernel.KernelManager = SocketKernelManager

    class WatchedKernel(nbval.plugin.RunningKernel):
        def await_reply(self, msg_id, timeout=None):
            deadline = None if timeout is None else time.monotonic() + float(timeout)
            while True:
                wait = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
                if wait <= 0:
                    raise Empty
                try:
                    return super().await_reply(msg_id, timeout=wait)
                except Empty:
                    if not self.km.is_alive():
                        raise KernelDied("the kernel died while this cell ran") from None

    nbval.plugin.RunningKernel = WatchedKernel


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Append one JSON line per notebook cell and phase to the ``--grade-report`` file, with a short error text."""
    report = yield
    path = item.config.getoption("grade_report", None)
    if path and hasattr(item, "cell_num"):
        entry = {"cell": item.cell_num, "when": report.when, "outcome": report.outcome, "error": ""}
        if report.failed or (report.skipped and hasattr(report, "wasxfail") and call.excinfo is not None):
            # after a cell times out, nbval marks every later cell "expected to fail"; a failure is still a failure
            entry["error"] = _error_text(item, call)
        elif report.skipped:
            entry["error"] = "skipped"
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")
    return report


def _cell_label(item) -> str:
    """How the gradebook names a cell: ``the check cell relu``, or ``the cell starting 'import os'``."""
    tags = item.cell.get("metadata", {}).get("tags", []) or []
    graded = [t[len(GRADED_PREFIX):] for t in tags if isinstance(t, str) and t.startswith(GRADED_PREFIX)]
    lines = [line for line in item.cell.source.removeprefix(FRESH_CHECKS).splitlines() if line.strip()]
    return f"the check cell {graded[0]}" if graded else f"the cell starting {(lines or [''])[0][:40]!r}"


def _error_text(item, call, limit: int = 200) -> str:
    """What went wrong in a cell, in one line: ``CheckFailed: ❌ conv2d (...): ...`` or ``timed out after 10 s``."""
    timeout = float(item.config.option.nbval_cell_timeout)
    raw = str(call.excinfo.value) if call.excinfo else "failed"
    errors = [out for out in (getattr(item, "test_outputs", None) or []) if out.get("output_type") == "error"]
    if errors and errors[-1].get("ename") == "KeyboardInterrupt" and "Timeout" in raw:
        text = f"timed out after {timeout:g} s"
        _KERNEL_LOST.setdefault("timed out", _cell_label(item))
    elif errors:
        value = errors[-1].get("evalue", "").strip()
        text = f"{errors[-1].get('ename', 'Error')}: {value.splitlines()[0] if value else ''}"  # the hint stays out
        if "timed out" in _KERNEL_LOST:
            text += f" (after {_KERNEL_LOST['timed out']} timed out)"
    elif call.excinfo is not None and call.excinfo.errisinstance(KernelDied):
        text = "the kernel died while this cell ran (a crash: out of memory, a segfault, os._exit or a killed process)"
        _KERNEL_LOST.setdefault("died", f"it died in {_cell_label(item)}")
    elif "Failed to interrupt kernel" in raw:
        text = f"timed out after {timeout:g} s and did not stop when interrupted, so the kernel was stopped"
        _KERNEL_LOST.setdefault("died", f"it was stopped after {_cell_label(item)} timed out")
    elif "exceeded waiting for output" in raw:
        text = "the kernel stopped answering (it hung or crashed), so it was stopped"
        _KERNEL_LOST.setdefault("died", f"it stopped answering in {_cell_label(item)}")
    elif "Kernel dead" in raw:
        text = f"not run: the kernel had died ({_KERNEL_LOST.get('died', 'in an earlier cell')})"
    else:
        text = raw
    text = " ".join(ANSI.sub("", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
