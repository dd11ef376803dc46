"""`/healthz` and `/api/admin/reload`: what is served, and switching to a new build now."""

from __future__ import annotations

from fastapi import APIRouter

from api.dependencies import CurrentSearcher, Live
from api.models import ErrorBody, Health, Reloaded

router = APIRouter()


@router.get("/healthz", response_model=Health, tags=["service"])
def healthz(searcher: CurrentSearcher) -> Health:
    """Liveness and what is being served."""
    return Health(status="ok", **vars(searcher.stats()))


@router.post("/api/admin/reload", response_model=Reloaded, tags=["admin"],
             responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}})
def admin_reload(live: Live) -> Reloaded:
    """Switch to the newest published index now (the server also checks on its own every second)."""
    changed = live.reload()
    return Reloaded(status="ok", reloaded=changed, **vars(live.get().stats()))
