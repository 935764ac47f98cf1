"""``import clausetag`` teaches transformers clausetag's model type and pipeline task, lazily.

A clausetag model directory's ``config.json`` has ``model_type: clausetag-bert-mean``
(``clausetag.models.configuration``): a mean-pooling head that no stock transformers
class provides, and a type of its own so that a library that does not know it refuses
the folder instead of silently reading ``[CLS]``. transformers learns it through its
Auto classes' ``register`` calls; this module makes those calls happen by themselves
in any program that imports ``clausetag``, without importing transformers (or torch)
at ``import clausetag`` time:

* each registration is tied to the transformers module it needs: the config to
  ``transformers.models.auto.configuration_auto`` (``AutoConfig``), the model class to
  ``transformers.models.auto.modeling_auto`` (``AutoModelForSequenceClassification``),
  the ``clausetag`` pipeline task to ``transformers.pipelines`` (``PIPELINE_REGISTRY``);
* a module already imported before ``clausetag`` gets its registration at once;
  the others through a small ``sys.meta_path`` finder that, while any registration
  is still waiting, wraps the loaders of transformers' modules (it finds nothing
  itself). A registration runs when the outermost transformers import that brought
  its module in has finished, never midway: transformers' modules import each other
  in cycles (``BertConfig``'s docstring decorator imports ``modeling_auto``), and a
  registration run inside one would meet half-initialised modules. The finder
  removes itself once every registration has run.

Nothing from a model folder is imported or run: the classes are clausetag's own.
A registration that fails (a transformers version that changed its API) is logged
as a warning and never breaks the import of transformers itself.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)


def _call(module: str, func: str) -> Callable[[], None]:
    """``module.func()``; nothing while ``module`` itself is being imported (each of these
    modules registers itself as its last statement)."""

    def hook() -> None:
        if module in sys.modules and not _imported(module):
            return
        getattr(importlib.import_module(module), func)()

    return hook


#: transformers module -> what to register once it has been imported (in this order).
HOOKS: dict[str, Callable[[], None]] = {
    "transformers.models.auto.configuration_auto": _call("clausetag.models.configuration", "register"),
    "transformers.models.auto.modeling_auto": _call("clausetag.models.modeling", "register"),
    "transformers.pipelines": _call("clausetag.inference.hf_pipeline", "register"),
}

_pending: dict[str, Callable[[], None]] = dict(HOOKS)
_lock = threading.RLock()
_installed = False


def _watched(name: str) -> bool:
    return name == "transformers" or name.startswith("transformers.")


#: Watched modules whose code has run (the import system marks one done only after its loader returns).
_executed: set[str] = set()


def _imported(name: str) -> bool:
    """``name`` is in ``sys.modules`` and its code has finished running."""
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    return module is not None and (name in _executed or not getattr(spec, "_initializing", False))


class _Depth(threading.local):
    value = 0  # transformers modules being executed in this thread, nested
    running = False  # a registration is running in this thread


_depth = _Depth()


def _run_ready() -> None:
    """Run (once each) the registrations whose transformers module has been imported.

    One at a time: one that a registration's own imports make ready runs after it.
    """
    if _depth.running:
        return
    _depth.running = True
    try:
        _run_each()
    finally:
        _depth.running = False


def _run_each() -> None:
    while True:
        with _lock:
            name = next((n for n in _pending if _imported(n)), None)
            hook = _pending.pop(name) if name is not None else None
            if not _pending:
                _remove_finder()
        if hook is None:
            return
        try:
            hook()
        except Exception as exc:  # never break `import transformers` over a registration
            log.warning("clausetag could not register with transformers after %s was imported: %s", name, exc)


class _RunAfterExec(importlib.abc.Loader):
    """A transformers module's own loader; the waiting registrations once the outermost one is done.

    The module keeps its own loader (``__loader__``, ``__spec__.loader``), so inspect,
    importlib.resources and reload see the real one.
    """

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        _depth.value += 1
        try:
            self._loader.exec_module(module)
            if module.__name__ in _pending:
                _executed.add(module.__name__)
        finally:
            _depth.value -= 1
        if _depth.value == 0:
            _run_ready()

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._loader, attr)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: asks the other finders, and wraps the loaders of transformers' modules."""

    def __init__(self) -> None:
        self._busy = threading.local()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not _watched(fullname) or getattr(self._busy, "name", None) == fullname:
            return None
        self._busy.name = fullname
        try:
            spec = None
            for finder in list(sys.meta_path):
                find = getattr(finder, "find_spec", None)
                if finder is self or find is None:
                    continue
                spec = find(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._busy.name = None
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _RunAfterExec(spec.loader)
        return spec


_FINDER = _Finder()


def _remove_finder() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


def install() -> None:
    """Register now what transformers has already imported, and the rest once it imports it.

    Called by ``import clausetag``; idempotent. Imports neither transformers nor torch.
    """
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
        sys.meta_path.insert(0, _FINDER)
    _run_ready()  # what transformers has imported already (the finder goes once all have run)


def pending() -> list[str]:
    """The transformers modules whose registration has not run yet (for tests and debugging)."""
    with _lock:
        return list(_pending)
