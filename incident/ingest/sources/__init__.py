"""Where dumps come from: one Source class per kind, chosen by the spec's form.

    file       a path: a file, or a directory read recursively
    url        http:// or https://, paste pages followed to their raw text
    twitter    twitter:@handle or twitter:search:QUERY
"""

from __future__ import annotations

from incident.ingest.interface import Source, SourceOptions, SourceState
from incident.ingest.sources.files import FileSource

# Most specific first; FileSource takes whatever is left.
SOURCES: dict[str, type[Source]] = {}


def _register() -> None:
    from incident.ingest.sources.twitter import TwitterSource
    from incident.ingest.sources.web import UrlSource
    for cls in (TwitterSource, UrlSource, FileSource):
        SOURCES[cls.kind] = cls


def source_for(spec: str, options: SourceOptions, state: SourceState) -> Source:
    if not SOURCES:
        _register()
    for cls in SOURCES.values():
        if cls.handles(spec):
            return cls(spec, options, state)
    raise AssertionError("FileSource handles every spec")


def kind_of(spec: str) -> str:
    if not SOURCES:
        _register()
    return next(cls.kind for cls in SOURCES.values() if cls.handles(spec))
