"""Credentials as requests carry them: the admin token (`Authorization: Bearer`), the API key
(`X-API-Key`, or a browser's HTTP Basic password), compared in constant time. Used by the app's
middleware (`api.app.security_headers`) and by routes that guard themselves (`admin_only`)."""

from __future__ import annotations

import base64
import hmac

from fastapi import Request


def bearer_token(request: Request) -> str | None:
    """The token of `Authorization: Bearer <token>` (the scheme in any letter case), else None."""
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def api_key(request: Request) -> str | None:
    """The API key: the X-API-Key header, or the password of HTTP Basic authentication (what a browser can send)."""
    if key := request.headers.get("x-api-key"):
        return key
    scheme, _, encoded = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")[2] or None
    except (ValueError, UnicodeDecodeError):
        return None


def same_secret(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())
