"""inspector.core and inspector.plugins must import where PySide6 and pyqtgraph are absent."""

import subprocess
import sys
import textwrap


def test_core_and_plugins_import_without_qt():
    code = textwrap.dedent(
        """
        import importlib, importlib.abc, pkgutil, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6"):
                    raise ImportError(f"{name} is blocked in this test")
                return None

        sys.meta_path.insert(0, Block())
        import inspector.core, inspector.plugins, inspector.cli
        names = []
        for pkg in (inspector.core, inspector.plugins):
            for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
                importlib.import_module(m.name)
                names.append(m.name)
        from inspector.plugins.manager import PluginManager
        pm = PluginManager()
        assert pm.layout_definitions(), "built-in layouts load without Qt"
        assert not [n for n in sys.modules if n.split(".")[0] in ("PySide6", "pyqtgraph")]
        print(len(names))
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip()) >= 10  # every core and plugin module was imported
