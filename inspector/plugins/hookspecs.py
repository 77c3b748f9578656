"""The whole plugin contract. A plugin is a module or object with functions marked ``@hookimpl``
named like the specs below; it is found through the ``inspector.plugins`` entry-point group, the
``plugins/`` folder of a checkout, or ``--plugin PATH``. Built-in behaviour uses the same hooks."""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("inspector")
hookimpl = pluggy.HookimplMarker("inspector")


@hookspec
def register_layouts():
    """Return layout definitions (objects with ``name``, ``title`` and ``match(schema, engine)``)."""


@hookspec
def register_codecs():
    """Return ``inspector.core.codecs.Codec`` objects that decode raw payloads or rewrite decoded values."""


@hookspec
def register_projections():
    """Return ``inspector.core.projection.Projection`` objects: pure folds over decoded events."""


@hookspec
def register_commands():
    """Return ``inspector.core.commands.CommandSpec`` objects: compensating commands an operator can compose."""


@hookspec
def propose_compensations(plan, context):
    """Given a ``ReplayPlan`` and a ``CompensationContext``, return ``ProposedStep`` objects (or ``CompensationNote`` saying why none)."""


@hookspec
def register_masking_rules():
    """Return ``inspector.core.roles.MaskRule`` objects naming the fields that hold personal data."""


@hookspec
def register_submitters():
    """Return ``inspector.core.commands.Submitter`` objects: how a command's events are written to a layout."""
