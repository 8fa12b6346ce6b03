"""The SSRF guard: address classes as a table, then real connections to 127.0.0.1.

Tests may only reach loopback, so "public" names are made with the resolver seam: a name the
test resolves to 127.0.0.1, with 127.0.0.1/32 explicitly allowed, stands for a public site.
No test ever connects anywhere but loopback, even if the guard were broken.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Iterator, Sequence

import httpx
import pytest

from monitor.errors import BlockedAddress, FeedFetchError
from monitor.sources.feeds import FeedFetcher
from monitor.sources.netguard import AddressGuard, GuardedClient, Resolver, classify_address
from tests.sources.feedserver import LiveServer, serve


@pytest.fixture
def live() -> Iterator[LiveServer]:
    with serve() as live:
        yield live


def fake_dns(table: dict[str, list[str]]) -> Resolver:
    async def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return table[host]

    return resolve


# A name standing for a public site: resolved by the seam to loopback, which is explicitly allowed.
PUBLIC = {"news.example": ["127.0.0.1"], "internal.example": ["127.0.0.2"]}


@pytest.fixture
async def fetcher(request: pytest.FixtureRequest) -> AsyncIterator[FeedFetcher]:
    guard = getattr(request, "param", None) or AddressGuard()
    async with httpx.AsyncClient() as client, GuardedClient(guard) as untrusted:
        yield FeedFetcher(client, untrusted=untrusted)


def guarded(guard: AddressGuard) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("fetcher", [guard], indirect=True)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("168.63.129.16", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fc00::1", "unique local"),
        ("fd12:3456::1", "unique local"),
        ("fec0::1", "site-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "private"),  # documentation range: never a real site
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("2002:a9fe:a9fe::", "cloud metadata"),  # 6to4 around 169.254.169.254
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 around 127.0.0.1
        ("64:ff9b::808:808", None),  # NAT64 around 8.8.8.8
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("93.184.215.14", None),
        ("100.63.255.255", None),  # just below CGNAT
        ("172.32.0.1", None),  # just above 172.16/12
        ("2001:4860:4860::8888", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_classify_address_names_every_non_public_class(address: str, kind: str | None) -> None:
    assert classify_address(ipaddress.ip_address(address)) == kind


def test_address_guard_vet_passes_public_addresses() -> None:
    vetted = AddressGuard().vet("dns.example", ["8.8.8.8", "2001:4860:4860::8888"])
    assert [str(a) for a in vetted] == ["8.8.8.8", "2001:4860:4860::8888"]


def test_address_guard_vet_blocks_a_name_with_any_private_address() -> None:
    with pytest.raises(BlockedAddress, match=r"^rebind\.example resolves to 10\.0\.0\.1, a private address$"):
        AddressGuard().vet("rebind.example", ["8.8.8.8", "10.0.0.1"])


def test_address_guard_vet_blocks_a_name_with_no_address() -> None:
    with pytest.raises(BlockedAddress, match="resolves to no address"):
        AddressGuard().vet("void.example", [])


def test_address_guard_vet_error_carries_the_address_and_its_class() -> None:
    with pytest.raises(BlockedAddress) as caught:
        AddressGuard().vet("169.254.169.254", ["169.254.169.254"])
    error = caught.value
    assert str(error) == "169.254.169.254 is a cloud metadata address"
    assert (error.host, error.address, error.reason) == (
        "169.254.169.254",
        "169.254.169.254",
        "cloud metadata",
    )
    assert isinstance(error, FeedFetchError)


def test_address_guard_allow_private_still_blocks_cloud_metadata() -> None:
    guard = AddressGuard(allow_private=True)
    assert guard.vet("intranet.example", ["10.0.0.1", "127.0.0.1", "fc00::1"])
    with pytest.raises(BlockedAddress, match="cloud metadata"):
        guard.vet("metadata.example", ["169.254.169.254"])


def test_address_guard_allow_networks_lifts_exactly_those_networks() -> None:
    guard = AddressGuard(allow_networks=["10.1.0.0/16", "fd00:1::/32"])
    assert guard.vet("wiki.corp", ["10.1.2.3", "fd00:1::5"])
    with pytest.raises(BlockedAddress, match=r"10\.2\.0\.1, a private address"):
        guard.vet("db.corp", ["10.2.0.1"])


def test_address_guard_rejects_a_malformed_network_at_construction() -> None:
    with pytest.raises(ValueError):
        AddressGuard(allow_networks=["10.1.0.0/33"])


def test_address_guard_repr_lists_the_allowances() -> None:
    assert repr(AddressGuard(allow_networks=["10.0.0.0/8"])) == (
        "AddressGuard(allow_private=False, allow_networks=['10.0.0.0/8'])"
    )


async def test_fetch_untrusted_blocks_loopback_by_default_without_connecting(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    url = live.url("/page.html")
    with pytest.raises(BlockedAddress, match=rf"^{url}: 127\.0\.0\.1 is a loopback address$"):
        await fetcher.fetch_untrusted(url)
    assert live.seen == []


@guarded(AddressGuard(allow_private=True))
async def test_fetch_untrusted_allows_loopback_with_allow_private(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    page = await fetcher.fetch_untrusted(live.url("/page.html"))
    assert page.content == b"<html><body><p>Welcome</p></body></html>"
    assert live.seen[0]["accept"].startswith("text/html")


async def test_fetch_untrusted_blocks_a_name_that_resolves_to_loopback(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    url = f"http://localhost:{live.port}/page.html"
    with pytest.raises(BlockedAddress, match=rf"^{url}: localhost resolves to .*, a loopback address$"):
        await fetcher.fetch_untrusted(url)
    assert live.seen == []


async def test_fetch_untrusted_blocks_an_ipv6_loopback_literal(fetcher: FeedFetcher) -> None:
    with pytest.raises(BlockedAddress, match=r"::1 is a loopback address"):
        await fetcher.fetch_untrusted("http://[::1]:9/feed")


@guarded(AddressGuard(allow_networks=["127.0.0.1/32"], resolver=fake_dns(PUBLIC)))
async def test_fetch_untrusted_connects_to_the_address_it_vetted_keeping_the_host_name(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    url = f"http://news.example:{live.port}/esteri.rss"  # unknown to real DNS: only the seam knows it
    feed = await fetcher.fetch_untrusted(url)
    assert feed.status == 200
    assert feed.url == url
    assert live.seen[0]["host"] == f"news.example:{live.port}"


@guarded(AddressGuard(allow_networks=["127.0.0.1/32"], resolver=fake_dns(PUBLIC)))
async def test_fetch_untrusted_blocks_a_redirect_hop_to_a_private_address(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    url = f"http://news.example:{live.port}/to-internal"
    with pytest.raises(BlockedAddress) as caught:
        await fetcher.fetch_untrusted(url)
    assert str(caught.value) == (
        f"{url} (redirected to http://internal.example/feed.xml): "
        "internal.example resolves to 127.0.0.2, a loopback address"
    )
    assert caught.value.reason == "loopback"
    assert [request["path"] for request in live.seen] == ["/to-internal"]


MIXED = {"mixed.example": ["127.0.0.1", "10.0.0.1"]}


@guarded(AddressGuard(allow_networks=["127.0.0.1/32"], resolver=fake_dns(MIXED)))
async def test_fetch_untrusted_blocks_a_name_with_one_private_address_among_allowed_ones(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    with pytest.raises(BlockedAddress, match=r"mixed\.example resolves to 10\.0\.0\.1, a private address"):
        await fetcher.fetch_untrusted(f"http://mixed.example:{live.port}/esteri.rss")
    assert live.seen == []


async def test_fetch_untrusted_vets_every_connection_once_so_rebinding_cannot_slip_through(
    live: LiveServer,
) -> None:
    calls: list[str] = []
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])  # public on the first look, private after

    async def rebinding(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        return next(answers)

    guard = AddressGuard(allow_networks=["127.0.0.1/32"], resolver=rebinding)
    url = f"http://rebind.example:{live.port}/esteri.rss"
    async with httpx.AsyncClient() as client, GuardedClient(guard) as untrusted:
        fetcher = FeedFetcher(client, untrusted=untrusted)
        assert (await fetcher.fetch_untrusted(url)).status == 200
        assert calls == ["rebind.example"]  # resolved once, connected to that very answer
        with pytest.raises(BlockedAddress, match=r"10\.0\.0\.1, a private address"):
            await fetcher.fetch_untrusted(url)  # the server closed the connection: a new one, vetted anew
    assert len(live.seen) == 1


@guarded(AddressGuard(resolver=fake_dns({})))
async def test_fetch_untrusted_unresolvable_name_is_a_connect_error(fetcher: FeedFetcher) -> None:
    url = "http://nowhere.example/feed"
    with pytest.raises(
        FeedFetchError, match=rf"^{url}: ConnectError: cannot resolve nowhere\.example"
    ) as caught:
        await fetcher.fetch_untrusted(url)
    assert not isinstance(caught.value, BlockedAddress)


async def test_fetch_untrusted_ignores_proxies_from_the_environment(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    async with (
        httpx.AsyncClient(trust_env=False) as client,
        GuardedClient(AddressGuard(allow_private=True)) as g,
    ):
        page = await FeedFetcher(client, untrusted=g).fetch_untrusted(live.url("/page.html"))
    assert page.status == 200


@guarded(AddressGuard(allow_private=True))
async def test_fetch_untrusted_caps_the_body_like_any_fetch(fetcher: FeedFetcher, live: LiveServer) -> None:
    with pytest.raises(FeedFetchError, match=r"/endless: page is larger than the 100000 bytes allowed"):
        await fetcher.fetch_untrusted(live.url("/endless"), max_bytes=100_000)


async def test_fetch_untrusted_needs_a_guarded_client(live: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(RuntimeError, match="without a GuardedClient"):
            await FeedFetcher(client).fetch_untrusted(live.url("/page.html"))
    assert live.seen == []
