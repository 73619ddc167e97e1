from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.sdk.support import FlakyTransport
from tests.streaming import StreamingASGITransport


@pytest.fixture
async def transport(app: object) -> AsyncIterator[FlakyTransport]:
    """The real app in-process, streaming, behind a transport the test can take down."""
    flaky = FlakyTransport(StreamingASGITransport(app))
    yield flaky
    await flaky.aclose()
