from __future__ import annotations

import pytest

from hotswap.core.environments import Environment, parse_environment, stored_environment
from hotswap.core.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "env"),
    [
        ("Production", Environment.PRODUCTION),
        ("production", Environment.PRODUCTION),
        (" STAGING ", Environment.STAGING),
        ("development", Environment.DEVELOPMENT),
    ],
)
def test_environment_parse_is_case_and_space_insensitive(text: str, env: Environment) -> None:
    assert Environment.parse(text) is env


@pytest.mark.parametrize("text", ["prod", "", "qa"])
def test_environment_parse_rejects_unknown_names(text: str) -> None:
    with pytest.raises(ValueError, match="Development, Staging, Production"):
        Environment.parse(text)


def test_a_request_that_names_no_environment_means_production() -> None:
    assert parse_environment(None, "query.environment") is Environment.PRODUCTION
    assert parse_environment("staging", "query.environment") is Environment.STAGING


def test_an_unknown_environment_in_a_request_is_a_422_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_environment("prod", "body.environment")
    assert [e.field for e in caught.value.errors] == ["body.environment"]
    assert "Development, Staging, Production" in caught.value.errors[0].message


def test_a_stored_environment_is_read_exactly_and_an_unknown_one_is_none() -> None:
    assert stored_environment("Staging") is Environment.STAGING
    assert stored_environment("staging") is None
    assert stored_environment(None) is None
