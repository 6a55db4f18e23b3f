"""A resource as a server resolves it: dot segments, percent-escapes, backslashes, ``//``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.uris import canonical_resource


@pytest.mark.parametrize(
    ("resource", "resolved"),
    [
        ("file:///srv/../etc/shadow", "file:///etc/shadow"),
        ("file:///srv/./app/x.py", "file:///srv/app/x.py"),
        ("file:///srv/app/..", "file:///srv/"),
        ("file:///srv/app/.", "file:///srv/app/"),
        ("file:///srv/app/", "file:///srv/app/"),
        ("file:///..", "file:///"),
        ("file:///../../etc/passwd", "file:///etc/passwd"),  # nothing above the root
        ("file:///etc//shadow", "file:///etc/shadow"),
        ("file:///app/%2eenv", "file:///app/.env"),
        ("file:///app/%252eenv", "file:///app/.env"),  # encoded twice
        ("file:///srv/a%2F..%2F..%2Fetc/shadow", "file:///etc/shadow"),
        ("file:///srv/a%5C..%5C..%5Cetc/shadow", "file:///etc/shadow"),  # encoded backslash
        ("file:///C:\\srv\\..\\secrets\\k", "file:///C:/secrets/k"),
        ("file:///srv/my%20file.txt", "file:///srv/my file.txt"),
        ("/srv/../etc/shadow", "/etc/shadow"),  # a path without a scheme
        ("../../etc/passwd", "etc/passwd"),
        (
            "https://api.corp:8443/v1/./a/../b?next=../x#../y",
            "https://api.corp:8443/v1/b?next=../x#../y",
        ),
        ("https://api.corp", "https://api.corp"),
        (
            "https://api.corp/a/%3F/../b",
            "https://api.corp/a/?/../b",
        ),  # a decoded ? starts the query
        ("fleet://prod/web-1", "fleet://prod/web-1"),
        ("file:///srv/.env", "file:///srv/.env"),
        ("mailto:ops@corp.example", "mailto:ops@corp.example"),
        ("https://api.corp/a/../b?x=/../y?z", "https://api.corp/b?x=/../y?z"),  # the first ?
        ("https://api.corp/a/../b#f/../g#h", "https://api.corp/b#f/../g#h"),  # first #
        ("https://api.corp/a#f?/../g", "https://api.corp/a#f?/../g"),  # a # before any ?
        ("https://api.corp?next=/../x", "https://api.corp?next=/../x"),  # a query at once
        ("https://api.corp#/../x", "https://api.corp#/../x"),
        ("../etc/passwd", "etc/passwd"),  # a relative path that starts with a dot
        ("./notes", "notes"),
        ("a%20b", "a b"),  # decoded, no slash at all
        ("", ""),
    ],
)
def test_resolves_as_a_server_would(resource: str, resolved: str) -> None:
    assert canonical_resource(resource) == resolved


def test_an_ordinary_resource_is_its_own_object() -> None:
    r = "file:///repo/app/src/main.py"
    assert canonical_resource(r) is r


SEG = st.sampled_from(["a", "b", ".", "..", "", "%2e", "%2E%2e", "%2F", "%5C", "\\", "x y", ".env"])


@given(st.sampled_from(["file://", "https://h", ""]), st.lists(SEG, max_size=8))
def test_the_resolved_path_has_no_dot_segment_or_empty_segment_and_is_stable(
    prefix: str, segs: list[str]
) -> None:
    resource = prefix + "/" + "/".join(segs)
    once = canonical_resource(resource)
    assert canonical_resource(once) == once
    path = once[len(prefix) :]
    inner = path.strip("/").split("/")
    assert path == "" or all(s not in (".", "..", "") for s in inner) or inner == [""]
    assert "\\" not in once and "%2e" not in once.lower()


@given(st.text(alphabet=st.sampled_from("ab%25é2eFG/"), max_size=24))
def test_escapes_decode_as_urllib_does(text: str) -> None:
    from urllib.parse import unquote

    from monitor.core.uris import _ESCAPES, _decoded

    assert _ESCAPES.sub(_decoded, text) == unquote(text)
