from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.charters_from_traffic.generalise import generalise
from monitor.core.globs import compile_glob


def patterns(resources: list[str]) -> list[str]:
    return [f.pattern for f in generalise(resources)]


def test_mail_generalises_to_the_domain_not_to_anyone() -> None:
    got = patterns(["mailto:ann@corp.com", "mailto:bob@corp.com", "mailto:x@acme.example"])
    assert got == ["mailto:*@corp.com", "mailto:x@acme.example"]


def test_one_level_of_variety_is_a_star_deeper_is_a_double_star() -> None:
    assert patterns(["fleet://prod/web-1", "fleet://prod/db-2"]) == ["fleet://prod/*"]
    assert patterns(["file:///repo/app/src/a.py", "file:///repo/app/README.md"]) == [
        "file:///repo/app/**"
    ]
    assert patterns(["https://pypi.org/project/httpx/", "https://docs.python.org/3/x.html"]) == [
        "https://docs.python.org/3/x.html",
        "https://pypi.org/project/httpx/",
    ]  # hosts are separate families


def test_a_single_identifier_widens_but_never_a_secret() -> None:
    assert patterns(["https://ubuntu.com/security/notices/USN-6511-1"]) == [
        "https://ubuntu.com/security/notices/*"
    ]
    assert patterns(["vault://database/creds/etl-123"]) == ["vault://database/creds/etl-123"]


def test_glob_characters_in_observed_names_do_not_widen() -> None:
    assert patterns(["s3://bucket/a*b"]) == ["s3://bucket/a?b"]


segment = st.text(alphabet="abcxyz019-.", min_size=1, max_size=6)
resource = st.builds(
    lambda scheme, host, segs: f"{scheme}://{host}/" + "/".join(segs),
    st.sampled_from(["https", "s3", "file", "fleet"]),
    segment,
    st.lists(segment, min_size=0, max_size=4),
)


@given(st.lists(resource, min_size=1, max_size=30))
def test_every_observed_resource_is_covered(resources: list[str]) -> None:
    pats = [compile_glob(p) for p in patterns(resources)]
    for r in resources:
        assert any(p.match(r) for p in pats), r


def test_mail_to_the_public_is_any_recipient_and_partner_domains_stay_scoped() -> None:
    from monitor.charters_from_traffic.generalise import generalise

    partners = ["mailto:ann@acme.example", "mailto:bob@globex.example"]
    assert [f.pattern for f in generalise(partners)] == partners  # one address each: literal
    customers = [*partners, "mailto:joe.b@gmail.com"]  # a free-mail sender: the public
    [only] = generalise(customers)
    assert only.pattern == "mailto:*" and only.resources == 3
    many = [f"mailto:x@d{i}.example" for i in range(8)]
    assert [f.pattern for f in generalise(many)] == ["mailto:*"]
    assert len(generalise(many[:7])) == 7
