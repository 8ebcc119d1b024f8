"""Schemathesis hooks for vitrine's API run (crates/vitrine/tests/schemathesis.rs).

- `cursor`: a paging cursor is an opaque position only the server writes (`next_cursor` of a
  previous page); any other value is refused by design, so generated cursors are dropped and
  the stateful phase follows the ones pages return.
- tus PATCH bodies are `application/offset+octet-stream`: bytes, sent as they are.
"""

import schemathesis


@schemathesis.hook
def map_query(ctx, query):
    if query:
        query.pop("cursor", None)
    return query


@schemathesis.serializer("application/offset+octet-stream")
def octet_stream(ctx, value):
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")
