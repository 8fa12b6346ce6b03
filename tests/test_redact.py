"""One mask for every secret and every piece of one a text may quote (monitor/redact.py)."""

from __future__ import annotations

import base64

import pytest

from monitor.redact import MASK, Redactor, looks_secret, secret_parts

HOOK = "https://hooks.example.org/services/T0SECRET/B0SECRET/xoxSECRETTOKEN?key=qwerty1234&v=2"


@pytest.mark.parametrize(
    "echo",
    [
        "no route for /services/T0SECRET/B0SECRET/xoxSECRETTOKEN",  # the path
        "unknown token xoxSECRETTOKEN",  # one segment alone
        "services/T0SECRET/B0SECRET/xoxSECRETTOKEN?key=qwerty1234",  # path and query, no slash first
        "bad key qwerty1234",  # a query value alone
        "query was key=qwerty1234&v=2",  # the query
        "\\/services\\/T0SECRET\\/B0SECRET\\/xoxSECRETTOKEN",  # JSON-escaped slashes
        "/SERVICES/t0secret/b0secret/XOXSECRETTOKEN",  # a receiver that changed the case
        "token xox%53ECRETTOKEN",  # percent-encoded in the secret, decoded in the answer
    ],
)
def test_redactor_masks_every_piece_of_a_secret_url_a_receiver_may_echo(echo: str) -> None:
    secret = HOOK.replace("xoxSECRETTOKEN", "xox%53ECRETTOKEN") if "%53" in echo else HOOK
    masked = Redactor([secret])(echo)
    for piece in ("T0SECRET", "B0SECRET", "SECRETTOKEN", "qwerty1234", "%53ECRETTOKEN"):
        assert piece.casefold() not in masked.casefold(), masked
    assert MASK in masked


def test_redactor_leaves_plain_words_and_short_values_of_a_secret_url_alone() -> None:
    redact = Redactor([HOOK])
    text = "channel 'hook': HTTP 404 from hooks.example.org: services are down, v=2 is fine"
    assert redact(text) == text  # the host, "services" and a 1-character value are not secrets
    assert not looks_secret("services") and not looks_secret("incoming-webhook")
    assert looks_secret("T0SECRET") and looks_secret("abcdefghijklmnopqrstuvwxyz")


def test_redactor_masks_a_bearer_token_wherever_it_appears() -> None:
    redact = Redactor(["Bearer tok-9f8e7d6c5b4a"])
    assert redact("you sent Authorization: Bearer tok-9f8e7d6c5b4a") == "you sent Authorization: ***"
    assert redact("token tok-9f8e7d6c5b4a is revoked") == "token *** is revoked"
    assert redact("Bearer tokens are refused") == "Bearer tokens are refused"


def test_redactor_masks_basic_credentials_encoded_or_decoded() -> None:
    encoded = base64.b64encode(b"monitor:s3cret-passw0rd").decode()
    redact = Redactor([f"Basic {encoded}"])
    assert redact(f"got {encoded}") == "got ***"
    assert redact("user monitor:s3cret-passw0rd refused") == "user *** refused"
    assert redact("password s3cret-passw0rd") == "password ***"


def test_redactor_masks_user_info_and_the_token_host_of_other_schemes() -> None:
    redact = Redactor(["https://alice:pw-123456@siem.example.org/in", "tgram://123456789:AAbbCCddEE/chat-1"])
    assert redact("login alice:pw-123456 failed; pw-123456") == "login *** failed; ***"
    assert "AAbbCCddEE" not in redact("bot 123456789:AAbbCCddEE unknown")
    assert redact("posting to siem.example.org") == "posting to siem.example.org"


def test_redactor_leaves_no_fragment_of_overlapping_secrets() -> None:
    # a shorter secret that starts first must not leave the tail of a longer one visible
    masked = Redactor(["XYZABC", "ABCDEFGH"])("id XYZABCDEFGH end")
    assert masked == "id *** end"


def test_redactor_without_secrets_returns_the_text_unchanged() -> None:
    assert Redactor([])("anything at all") == "anything at all"
    assert not Redactor(["", "abc"])  # nothing long enough to be a secret


def test_secret_parts_of_a_signing_secret_and_a_password() -> None:
    assert secret_parts("whsec_c2VjcmV0LWtleQ") == ["whsec_c2VjcmV0LWtleQ"]
    assert secret_parts("mail-pa55word") == ["mail-pa55word"]
