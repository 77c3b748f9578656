"""Built-in payload codecs: zlib, gzip, JSON and XML (plain text, ciphertext and binary are handled
by the pipeline's fallbacks)."""

from inspector.core.codecs import BUILTIN_CODECS
from inspector.plugins.hookspecs import hookimpl


@hookimpl
def register_codecs():
    """The built-in raw codecs."""
    return list(BUILTIN_CODECS)
