"""Garde's HTTP API as the simulated clients call it: one keep-alive session per thread."""

from __future__ import annotations

import threading
from typing import Any

import requests


class ApiError(RuntimeError):
    """An answer the simulated client did not expect: the status and what Garde said."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {body[:300]}")
        self.status = status


class Api:
    def __init__(self, base_url: str, timeout: float = 60) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._local = threading.local()

    def call(
        self,
        method: str,
        path: str,
        token: str,
        json: Any = None,
        expect: int | tuple[int, ...] = 200,
    ) -> Any:
        """The JSON body of the answer; ApiError when its status is not one of `expect`."""
        response = self._session().request(
            method,
            self._base_url + path,
            json=json,
            headers={"Authorization": f"Bearer {token}"},
            timeout=self._timeout,
        )
        expected = expect if isinstance(expect, tuple) else (expect,)
        if response.status_code not in expected:
            raise ApiError(method, path, response.status_code, response.text)
        return response.json()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session
