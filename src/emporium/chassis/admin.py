"""Admin routes every messaging service gets: its dead letters, listed and replayed.

A replay publishes the dead letter's original envelope (same message id) to
its original subject: the consumer that gave up tries again, and every other
consumer of that type finds the id in its inbox and acknowledges it unrun, so
the replay has exactly one effect.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from emporium.chassis.auth import AdminUser
from emporium.chassis.messaging import Messaging
from emporium.chassis.problems import Problem, problem_responses

__all__ = ["dead_letter_router"]


def _messaging(request: Request) -> Messaging:
    messaging: Messaging = request.app.state.runtime.get(Messaging)
    return messaging


def dead_letter_router(service: str) -> APIRouter:
    router = APIRouter(prefix=f"/api/{service}/admin/deadletters", tags=["operations"])

    @router.get("", responses=problem_responses(501))
    async def list_dead_letters(request: Request, _admin: AdminUser) -> JSONResponse:
        """This service's dead letters, newest first."""
        try:
            letters = await _messaging(request).transport.list_dead_letters(service)
        except NotImplementedError as exc:
            raise Problem(501, str(exc)) from exc
        return JSONResponse({"items": [letter.describe() for letter in letters]})

    @router.post("/{letter_id}/replay", status_code=202, responses=problem_responses(404, 501))
    async def replay_dead_letter(
        request: Request,
        _admin: AdminUser,
        letter_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")],
    ) -> JSONResponse:
        """Publish the dead letter's original message again, and drop it from the dead letters."""
        try:
            replayed = await _messaging(request).transport.replay(service, letter_id)
        except NotImplementedError as exc:
            raise Problem(501, str(exc)) from exc
        if not replayed:
            raise Problem(404, f"no dead letter {letter_id} of {service}")
        return JSONResponse({"replayed": letter_id}, status_code=202)

    return router
