"""Where dumps come from: one Source class per kind, chosen by the spec's form.

    file       a path: a file, or a directory read recursively
    url        http:// or https://, paste pages followed to their raw text
    twitter    twitter:@handle or twitter:search:QUERY
"""

from __future__ import annotations

from incident.ingest.interface import Source, SourceOptions, SourceState
from incident.ingest.sources.files import FileSource
from incident.ingest.sources.twitter import TwitterSource
from incident.ingest.sources.web import UrlSource
from incident.ingest.sources.web import shown as url_shown

# Most specific first; FileSource takes whatever is left.
SOURCES: dict[str, type[Source]] = {cls.kind: cls for cls in (TwitterSource, UrlSource,
                                                                FileSource)}


def source_for(spec: str, options: SourceOptions, state: SourceState) -> Source:
    for cls in SOURCES.values():
        if cls.handles(spec):
            return cls(spec, options, state)
    raise AssertionError("FileSource handles every spec")


def shown(spec: str) -> str:
    """A source as stored and printed: a URL without userinfo, query or fragment (they may
    hold a token); anything else as given."""
    if UrlSource.handles(spec):
        return url_shown(spec)
    return spec
