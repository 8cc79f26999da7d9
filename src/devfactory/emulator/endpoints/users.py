"""Users: list, retrieve, and ``me`` (the integration's bot)."""

from __future__ import annotations

from devfactory.emulator import validation as v
from devfactory.emulator.access import not_found
from devfactory.emulator.context import Ctx, Request
from devfactory.emulator.endpoints._common import Result, Route, page_size_param, start_cursor_param
from devfactory.emulator.model import User
from devfactory.emulator.query import paginate
from devfactory.emulator.render import list_json, user_full_json

__all__ = ["ROUTES"]


def _users(ctx: Ctx) -> list[User]:
    users = list(ctx.store.all_of(User))
    # People first, then bots, each by name: stable and readable.
    return sorted(users, key=lambda u: (u.type != "person", u.name, u.id))


def list_users(ctx: Ctx, req: Request) -> Result:
    """GET /v1/users"""
    users = _users(ctx)
    chunk, cursor, more, _ = paginate(
        users, start_cursor_param(req), page_size_param(req), lambda u: u.id
    )
    return list_json([user_full_json(ctx, u) for u in chunk], cursor, more, "user")


def me(ctx: Ctx, req: Request) -> Result:
    """GET /v1/users/me"""
    bot = ctx.store.get_as(ctx.user_id, User)
    assert bot is not None
    return user_full_json(ctx, bot)


def retrieve_user(ctx: Ctx, req: Request) -> Result:
    """GET /v1/users/{user_id}"""
    user_id = v.path_id(req.params["user_id"], "user_id")
    user = ctx.store.get_as(user_id, User)
    if user is None:
        raise not_found(ctx, "user", user_id)
    return user_full_json(ctx, user)


ROUTES = [
    Route("GET", "/v1/users", list_users),
    Route("GET", "/v1/users/me", me),
    Route("GET", "/v1/users/{user_id}", retrieve_user),
]
