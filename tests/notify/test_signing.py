"""Standard Webhooks signing, checked against the spec's example and the reference library."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from monitor.errors import ConfigError
from monitor.notify.signing import SigningKey, parse_secrets, sign, signature_headers

# The example in the Standard Webhooks specification (and the reference libraries' tests).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

OLD = "whsec_" + base64.b64encode(bytes(range(32))).decode()
NEW = "whsec_" + base64.b64encode(bytes(range(100, 148))).decode()


def _library_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """What the independent reference implementation signs for the same message."""
    when = datetime.fromtimestamp(timestamp, UTC)
    return str(Webhook(secret).sign(msg_id, when, body.decode()))


def test_sign_matches_the_specification_example() -> None:
    key = SigningKey(SPEC_SECRET)
    assert sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, [key]) == SPEC_SIGNATURE


@pytest.mark.parametrize(
    ("msg_id", "timestamp", "body"),
    [
        ("d3b07384d113edec49eaa6238ad5ff00", 1714564800, b'{"type":"hit.created"}'),
        ("id.with.dots", 0, b""),
        ("k", 2_000_000_000, '{"title":"Tregua à Gaza 🕊"}'.encode()),
        ("k", 1714564800, b'{"snippet":"\\u00e0 \\ud83d\\udd4a"}'),
    ],
)
def test_sign_agrees_with_the_standardwebhooks_library(msg_id: str, timestamp: int, body: bytes) -> None:
    for secret in (OLD, NEW):
        expected = _library_signature(secret, msg_id, timestamp, body)
        assert sign(msg_id, timestamp, body, [SigningKey(secret)]) == expected


def test_sign_with_several_keys_gives_one_signature_per_key_in_order() -> None:
    keys = parse_secrets([OLD, NEW], channel="siem")
    value = sign("id", 1714564800, b"{}", keys)
    assert value.split(" ") == [
        _library_signature(OLD, "id", 1714564800, b"{}"),
        _library_signature(NEW, "id", 1714564800, b"{}"),
    ]


def test_sign_changes_with_id_timestamp_and_body() -> None:
    keys = [SigningKey(OLD)]
    base = sign("id", 1, b"{}", keys)
    assert (
        len({base, sign("id2", 1, b"{}", keys), sign("id", 2, b"{}", keys), sign("id", 1, b"[]", keys)}) == 4
    )


def test_sign_without_a_key_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        sign("id", 1, b"{}", [])


def test_signature_headers_unsigned_carry_id_and_timestamp_only() -> None:
    assert signature_headers("abc", 1714564800, b"{}", ()) == {
        "webhook-id": "abc",
        "webhook-timestamp": "1714564800",
    }


def test_signature_headers_signed_add_the_signature() -> None:
    headers = signature_headers("abc", 1714564800, b"{}", [SigningKey(OLD)])
    assert headers["webhook-signature"] == _library_signature(OLD, "abc", 1714564800, b"{}")


@pytest.mark.parametrize(
    "secret",
    [
        OLD,
        OLD.removeprefix("whsec_"),  # the prefix is conventional, not required
        OLD.rstrip("="),  # unpadded base64
        f"  {OLD}\n",  # as read from a file
    ],
)
def test_parse_secrets_accepts_the_forms_receivers_hand_out(secret: str) -> None:
    [key] = parse_secrets([secret], channel="siem")
    assert key.signature(b"x") == SigningKey(OLD).signature(b"x")


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("", "it is empty"),
        ("whsec_", "it is empty"),
        ("whsec_not*base64!", "it is not base64"),
        ("whsec_" + base64.b64encode(b"k" * 16).decode(), "its key is 16 bytes, not 24 to 64"),
        ("whsec_" + base64.b64encode(b"k" * 65).decode(), "its key is 65 bytes, not 24 to 64"),
    ],
)
def test_parse_secrets_refuses_a_bad_secret_without_quoting_it(secret: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_secrets([secret], channel="siem")
    message = str(caught.value)
    assert message.startswith("channel 'siem': secret is not a Standard Webhooks secret")
    assert reason in message
    if secret.removeprefix("whsec_"):
        assert secret.removeprefix("whsec_") not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_parse_secrets_names_which_of_several_secrets_is_bad() -> None:
    with pytest.raises(ConfigError, match=r"channel 'siem': secret 2 of 3 is not"):
        parse_secrets([OLD, "whsec_short", NEW], channel="siem")


def test_signing_key_repr_hides_the_secret() -> None:
    key = SigningKey(OLD)
    assert repr(key) == "SigningKey('whsec_**********')"
    assert OLD.removeprefix("whsec_") not in f"{key!r} {key!s}"
