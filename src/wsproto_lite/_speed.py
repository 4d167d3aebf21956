"""Which implementation runs the hot path: the compiled twins in
:mod:`wsproto_lite._speedups`, or the pure-Python functions they mirror.

Five functions have a compiled twin with the same arguments, results and
errors: masking (``_frames.apply_mask``), building a client's frame
(``_frames.mask_frame``), building a whole message's frame
(``_frames.message_frame``), the receiver's whole-frame fast path
(``_receiving.whole_frame``) and reading a run of small continuation frames
(``_runs.small_frames``, which then serves for runs of equal frames too).
The modules that call them look them up as their own globals, and
:func:`select` binds those globals to one set or the other: nothing on the
hot path asks which one is in use.

``_speedups`` is built when the package is installed on a machine with a C
compiler (an optional extension: without one the install still succeeds).
It is used when it was built, unless the environment variable
``WSPROTO_LITE_NO_SPEEDUPS`` is set to anything but ``""`` or ``"0"`` when
wsproto_lite is imported.  The tests and the benchmark call :func:`select`
to run both in one process.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

from . import _frames, _receiving, connection

__all__ = ["COMPILED", "compiled", "pure", "select", "speedups"]

speedups: ModuleType | None
try:
    if sys.implementation.name != "cpython":  # pragma: no cover - the C is written for CPython
        raise ImportError
    from . import _speedups as speedups
except ImportError:  # pragma: no cover - built without a compiler (tests/test_speedups.py installs so)
    speedups = None

#: Whether the compiled twins run unless :func:`select` says otherwise.
COMPILED = speedups is not None and os.environ.get("WSPROTO_LITE_NO_SPEEDUPS", "") in ("", "0")

#: The pure-Python functions and the run readers, as the modules define them.
_PURE = {
    "apply_mask": _frames.apply_mask,
    "mask_frame": _frames.mask_frame,
    "message_frame": _frames.message_frame,
    "whole_frame": _receiving.whole_frame,
    "run_readers": _receiving.run_readers,
}
#: Where each is looked up.
_USERS = {
    "apply_mask": (_frames, _receiving),
    "mask_frame": (_frames,),
    "message_frame": (connection,),
    "whole_frame": (_receiving,),
    "run_readers": (_receiving,),
}


def select(compiled: bool) -> None:
    """Bind the hot path to the compiled twins (``True``; raises
    ``ImportError`` if ``_speedups`` was not built) or to pure Python."""
    if compiled and speedups is None:
        raise ImportError("wsproto_lite._speedups was not built (no C compiler at install time)")
    chosen = dict(_PURE)
    if compiled:
        assert speedups is not None
        chosen.update(
            apply_mask=speedups.apply_mask,
            mask_frame=speedups.mask_frame,
            message_frame=speedups.message_frame,
            whole_frame=speedups.whole_frame,
            run_readers=(speedups.small_frames,),
        )
    for name, modules in _USERS.items():
        for module in modules:
            setattr(module, name, chosen[name])


def pure(name: str) -> Any:
    """The pure-Python function (or run readers) ``name``, whichever mode is on."""
    return _PURE[name]


def compiled() -> bool:
    """Whether the hot path runs the compiled twins now."""
    return _receiving.whole_frame is not _PURE["whole_frame"]


select(COMPILED)
