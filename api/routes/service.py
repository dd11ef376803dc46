"""`/healthz` and `/api/admin/reload`: what is served, whether something needs attention, and switching to
a new build now."""

from __future__ import annotations

import shutil
from collections.abc import Callable

from fastapi import APIRouter, Request

from api.dependencies import CurrentSearcher, Live
from api.models import ErrorBody, Health, Reloaded
from kb.layout import IndexLayout

LOW_DISK_BYTES = 64 * 1024 * 1024
"""Free space under which the index's disk is reported: the search log fails soon after, and a build sooner."""


router = APIRouter()


def search_log_problem(request: Request) -> str | None:
    return request.app.state.search_log.problem


def disk_space_problem(request: Request) -> str | None:
    """Said before the first write fails (no path: /healthz is open to anyone)."""
    try:
        free = shutil.disk_usage(request.app.state.settings.index).free
    except OSError:
        return None
    return f"disk nearly full: {free / 2**20:.0f} MiB free for the index and search log" if free < LOW_DISK_BYTES else None


def build_failure_problem(request: Request) -> str | None:
    """The last `kb index` failed (its message, with paths, is in index/last-build-failed.json and was
    printed by the build; /healthz is open to anyone, so only the time is said here)."""
    failed = IndexLayout(request.app.state.settings.index).last_failure()
    return f"the last build failed at {failed.split(' ', 1)[0]}; run kb index to see why" if failed else None


CHECKS: list[Callable[[Request], str | None]] = [search_log_problem, disk_space_problem, build_failure_problem]
"""What can degrade the service while it keeps answering; one function each."""


def problems(request: Request) -> list[str]:
    """Every check's problem, in order; empty when all is well."""
    return [problem for check in CHECKS if (problem := check(request))]


@router.get("/healthz", response_model=Health, tags=["service"])
def healthz(request: Request, searcher: CurrentSearcher) -> Health:
    """Liveness and what is being served; still 200 when degraded (searches work), with `problems`."""
    found = problems(request)
    return Health(status="degraded" if found else "ok", problems=found, **vars(searcher.stats()))


@router.post("/api/admin/reload", response_model=Reloaded, tags=["admin"],
             responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}})
def admin_reload(live: Live) -> Reloaded:
    """Switch to the newest published index now (the server also checks on its own every second)."""
    changed = live.reload()
    return Reloaded(status="ok", reloaded=changed, **vars(live.get().stats()))
