"""FastAPI dependencies (fastapi full-stack style): what routers may ask for, set up by create_app's lifespan.

    from serve.deps import SessionDep, SettingsDep
    @router.get("/x")
    def x(session: SessionDep, settings: SettingsDep): ...

Everything lives on `app.state` (settings, engine, session_factory, catalogue, agent, sender),
so several apps (tests) can run side by side in one process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from serve.core.catalog import Catalogue
from serve.settings import Settings
from serve.storage.db import session_scope


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session_factory(request: Request) -> sessionmaker:
    return request.app.state.session_factory


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back on error."""
    with session_scope(request.app.state.session_factory) as session:
        yield session


def get_catalogue(request: Request) -> Catalogue:
    return request.app.state.catalogue


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionFactoryDep = Annotated[sessionmaker, Depends(get_session_factory)]
SessionDep = Annotated[Session, Depends(get_session)]
CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]
