"""Fixtures of the web tests: an app over a real store and pipeline, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.matching.nlp import LanguagePipelines
from tests.web.support import WebEnv, make_env


@pytest.fixture
async def web(tmp_path: Path, pipelines: LanguagePipelines) -> AsyncIterator[WebEnv]:
    env = make_env(tmp_path / "site", pipelines)
    try:
        yield env
    finally:
        await env.ctx.close()
        env.pipeline.store.engine.dispose()
