"""Plugin discovery and isolation. pluggy lets a plugin's exception reach the caller on purpose, so
every hook is called here one implementation at a time: a plugin that fails to import or raises in
a hook is disabled, its error is kept for ``inspector plugins`` and the plugins dialog, and the
rest of the app goes on."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "inspector.plugins"


@dataclass
class PluginInfo:
    name: str
    source: str  # "entry point", "checkout", "path"
    module: str
    hooks: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "module": self.module, "hooks": self.hooks,
                "ok": self.ok, "error": self.error}


def _one_line(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


def checkout_plugins_dir() -> Path | None:
    """The top-level ``plugins/`` folder when running from a source checkout."""
    root = Path(__file__).resolve().parents[2]
    d = root / "plugins"
    return d if d.is_dir() and (root / "pyproject.toml").exists() else None


class PluginManager:
    def __init__(self, paths: Iterable[str | Path] = (), entry_points_: bool = True, checkout: bool = True):
        self.pm = pluggy.PluginManager("inspector")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        if entry_points_:
            self._load_entry_points()
        if checkout:
            d = checkout_plugins_dir()
            if d:
                self._load_dir(d)
        for p in paths:
            self.load_path(p)

    # -- discovery ----------------------------------------------------------------------------
    def _register(self, obj: ModuleType | object, name: str, source: str) -> None:
        modname = getattr(obj, "__name__", type(obj).__name__)
        if self.pm.is_registered(obj) or any(i.module == modname for i in self.plugins.values()):
            return
        info = PluginInfo(name, source, modname)
        try:
            self.pm.register(obj, name=name)
            info.hooks = sorted(h.name for h in self.pm.get_hookcallers(obj) or [])
        except Exception as e:  # a malformed plugin (bad hook names or signatures)
            info.error = _one_line(e)
        self.plugins[name] = info

    def _fail(self, name: str, source: str, module: str, exc: BaseException) -> None:
        self.plugins[name] = PluginInfo(name, source, module, error=_one_line(exc))

    def _load_entry_points(self) -> None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                obj = ep.load()
            except Exception as e:
                self._fail(ep.name, "entry point", ep.value, e)
                continue
            self._register(obj, ep.name, "entry point")

    def _load_dir(self, d: Path) -> None:
        """Each sub-folder of a checkout's ``plugins/`` is a distribution whose package declares
        its modules in pyproject; here we import packages found directly inside it."""
        for dist in sorted(p for p in d.iterdir() if p.is_dir()):
            for pkg in sorted(p for p in dist.iterdir() if (p / "__init__.py").exists()):
                if any(i.module.split(".")[0] == pkg.name for i in self.plugins.values()):
                    continue  # installed already, found through its entry point
                self._import_package(pkg, "checkout")

    def _import_package(self, pkg: Path, source: str) -> None:
        parent = str(pkg.parent)
        if parent not in sys.path:
            sys.path.append(parent)
        try:
            mod = importlib.import_module(pkg.name)
        except Exception as e:
            self._fail(pkg.name, source, pkg.name, e)
            return
        self._register(mod, pkg.name, source)

    def load_path(self, path: str | Path) -> None:
        """``--plugin PATH``: a ``.py`` file or a package folder."""
        p = Path(path).expanduser().resolve()
        if p.is_dir() and (p / "__init__.py").exists():
            self._import_package(p, "path")
            return
        if p.suffix == ".py" and p.exists():
            name = p.stem
            try:
                spec = importlib.util.spec_from_file_location(f"inspector_plugin_{name}", p)
                mod = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(mod)
            except Exception as e:
                self._fail(name, "path", str(p), e)
                return
            self._register(mod, name, "path")
            return
        self.plugins[p.name] = PluginInfo(p.name, "path", str(p), error=f"no plugin at {p} (a .py file or a package folder)")

    # -- calling --------------------------------------------------------------------------------
    def call(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call every implementation of ``hook`` in isolation; flatten list results."""
        return [r for _, r in self.call_each(hook, **kwargs)]

    def call_each(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Like ``call``, each result paired with the name of the plugin that returned it."""
        results: list[tuple[str, Any]] = []
        caller = getattr(self.pm.hook, hook)
        for impl in caller.get_hookimpls():  # registration order (pluggy itself calls the last first)
            name = self.pm.get_name(impl.plugin)
            try:
                out = impl.function(**{a: kwargs[a] for a in impl.argnames if a in kwargs})
                out = [] if out is None else list(out) if isinstance(out, (list, tuple)) else [out]
            except Exception as e:
                self.disable(name, f"hook {hook} raised {_one_line(e)}")
                continue
            results.extend((name, r) for r in out)
        return results

    def disable(self, name: str, error: str) -> None:
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        info = self.plugins.get(name)
        if info:
            info.error = error

    def layout_definitions(self) -> list[Any]:
        defs = []
        for d in self.call("register_layouts"):
            if hasattr(d, "match") and hasattr(d, "name"):
                defs.append(d)
        return defs

    def codecs(self) -> list[Any]:
        from inspector.core.codecs import Codec

        return [c for c in self.call("register_codecs") if isinstance(c, Codec)]

    def projections(self) -> list[Any]:
        """Projections by name; a later plugin's projection of the same name does not replace an
        earlier one (the first registered wins, built-ins first)."""
        from inspector.core.projection import Projection

        out: dict[str, Any] = {}
        for p in self.call("register_projections"):
            if isinstance(p, Projection) and p.name not in out:
                out[p.name] = p
        return list(out.values())

    def commands(self) -> dict[str, Any]:
        """Compensating commands by name; the first registered of a name wins."""
        from inspector.core.commands import CommandSpec

        out: dict[str, Any] = {}
        for c in self.call("register_commands"):
            if isinstance(c, CommandSpec) and c.name not in out:
                out[c.name] = c
        return out

    def submitters(self) -> list[Any]:
        from inspector.core.commands import Submitter

        return [s for s in self.call("register_submitters") if isinstance(s, Submitter)]

    def masking_rules(self) -> list[Any]:
        from inspector.core.roles import MaskRule

        return [r for r in self.call("register_masking_rules") if isinstance(r, MaskRule)]

    def pipeline(self):
        from inspector.core.codecs import CodecPipeline

        return CodecPipeline(self.codecs())

    def status(self) -> list[PluginInfo]:
        return list(self.plugins.values())


_default: PluginManager | None = None


def default_manager(paths: Iterable[str | Path] = ()) -> PluginManager:
    """One manager per process, created on first use; extra ``paths`` are loaded into it."""
    global _default
    if _default is None:
        _default = PluginManager(paths)
    else:
        for p in paths:
            _default.load_path(p)
    return _default
