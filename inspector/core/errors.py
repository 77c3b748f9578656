"""Errors the inspector explains to its users: one clear line each, never a traceback."""


class InspectorError(Exception):
    """Base class: the message is meant for the user as it is."""


class ConnectError(InspectorError):
    """The database could not be reached or refused the credentials."""


class LayoutError(InspectorError):
    """No layout fits, or a mapping is invalid for this database."""


class MappingFileError(LayoutError):
    """A mapping file could not be read or does not describe a usable layout."""


class UnsupportedFilter(InspectorError):
    """A filter cannot be pushed down to SQL for this layout (for example, time on a store that keeps
    its timestamps only inside encoded payloads)."""
