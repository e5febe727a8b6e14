"""The FiLot API as the e2e checks call it.

A server that accepted the connection but gave no proper HTTP answer (reset, truncated body, no
answer in time) is a deployment that is wrong: the check fails (``NoHttpAnswer`` is an
AssertionError). A target that cannot be connected to at all stays an error: the gate could not
observe it (unreachable is not unhealthy).
"""

from __future__ import annotations

from typing import Any

import httpx

#: Raised after the connection was made: the server's fault, not the gate's.
BROKEN_ANSWERS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout, httpx.WriteError, httpx.WriteTimeout)


class NoHttpAnswer(AssertionError):
    """The API took the request but gave no proper HTTP answer; the message names the request."""


class CheckedApi:
    """An ``httpx.Client`` whose broken answers fail the check instead of erroring it."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    @property
    def base_url(self) -> httpx.URL:
        return self._client.base_url

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(method, url, **kwargs)
        except BROKEN_ANSWERS as error:
            raise NoHttpAnswer(f"{method} {url}: expected an HTTP answer, the connection broke instead"
                               f" ({type(error).__name__}: {error})") from None

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("OPTIONS", url, **kwargs)
