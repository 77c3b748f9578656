"""The plugin contract (``hookspecs``) and the manager that discovers and isolates plugins."""
