"""Choosing among candidates: by name, by name:table where one layout fits several tables, and a
clear error instead of a silent pick when two tables fit equally well."""

import pytest
import sqlalchemy as sa

from inspector.core import ownstore
from inspector.core.errors import LayoutError
from inspector.core.session import open_store
from tests.fixtures.inspector import create


def test_two_schemas_with_the_same_layout(pg_url, plugin_manager):
    eng = sa.create_engine(pg_url)
    for schema, events in (("east", 5), ("west", 7)):
        with eng.begin() as c:
            c.execute(sa.text(f"CREATE SCHEMA {schema}"))
        create(eng.execution_options(schema_translate_map={None: schema}), events=events)
    eng.dispose()
    defs, codecs = plugin_manager.layout_definitions(), plugin_manager.codecs()
    with pytest.raises(LayoutError, match="several tables fit equally well.*inspector:east.inspector_events.*--layout"):
        open_store(pg_url, defs, codecs)
    for schema, events in (("east", 5), ("west", 7)):
        opened = open_store(pg_url, defs, codecs, layout=f"inspector:{schema}.inspector_events")
        assert opened.store.count() == events
        opened.store.close()
    with pytest.raises(LayoutError, match="does not fit"):
        open_store(pg_url, defs, codecs, layout="inspector:north.inspector_events")
