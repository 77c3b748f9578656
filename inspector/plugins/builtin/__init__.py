"""Built-in plugins, registered through the ``inspector.plugins`` entry-point group like any other."""
