"""A receiver's answer becomes a delivery error with no piece of the channel's secrets in it."""

from __future__ import annotations

import httpx
import pytest

from monitor.errors import DeliveryError
from monitor.notify.http import EXCERPT_LENGTH, check_response, map_http_error

URL = "https://hooks.example.org/services/T0SECRET/B0SECRET/xoxSECRETTOKEN?key=qwerty1234"
HEADER = "Bearer tok-9f8e7d6c5b4a"
PIECES = ("T0SECRET", "B0SECRET", "xoxSECRETTOKEN", "qwerty1234", "tok-9f8e7d6c5b4a")


def error_for(body: str, status: int = 404) -> DeliveryError:
    response = httpx.Response(status, text=body)
    with pytest.raises(DeliveryError) as caught:
        check_response(response, channel="hook", url=URL, secrets=[HEADER])
    return caught.value


@pytest.mark.parametrize(
    "body",
    [
        "no hook xoxSECRETTOKEN",  # a path segment alone
        "key qwerty1234 is not valid",  # a query value alone
        "you sent Authorization: Bearer tok-9f8e7d6c5b4a",  # the header whole
        "token tok-9f8e7d6c5b4a revoked",  # the header's token alone
        '{"error": "no route", "path": "\\/services\\/T0SECRET\\/B0SECRET\\/xoxSECRETTOKEN"}',
    ],
)
def test_check_response_masks_every_secret_piece_a_receiver_echoes(body: str) -> None:
    message = str(error_for(body))
    assert "HTTP 404" in message and "***" in message
    assert [piece for piece in PIECES if piece in message] == []


@pytest.mark.parametrize("padding", [790, 64 * 1024 - 8])
def test_check_response_never_shows_half_a_secret_cut_by_the_excerpt(padding: int) -> None:
    # whitespace collapses, so a token far into the body can land inside the excerpt, cut
    message = str(error_for(" " * padding + "xoxSECRETTOKEN and more"))
    assert "xoxSECRET" not in message and "SECRETTOKEN" not in message
    assert len(message.split(": ", 2)[-1]) <= EXCERPT_LENGTH


def test_map_http_error_masks_the_channel_secrets_in_the_library_message() -> None:
    error = map_http_error(
        httpx.ConnectError(f"cannot reach xoxSECRETTOKEN with {HEADER}"),
        channel="hook",
        url=URL,
        secrets=[HEADER],
    )
    assert [piece for piece in PIECES if piece in str(error)] == []
