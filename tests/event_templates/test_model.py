"""The pure rules of event templates: across objectives and milestones, and free-form JSON."""

from __future__ import annotations

from typing import Any

import pytest

from hotswap.core.errors import InvalidInput
from hotswap.event_templates.model import EventClass, TemplateDraft, check_content, check_draft, check_json


def _fields(error: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [e.field for e in error.value.errors]


def test_consistent_content_passes() -> None:
    check_content(
        [{"objectiveId": "a"}, {"objectiveId": "b"}],
        [
            {"index": 2, "progressThreshold": 1.0, "rewards": [{"rewardId": "x"}, {"rewardId": "y"}]},
            {"index": 0, "progressThreshold": 0.5, "rewards": [{"rewardId": "x"}]},  # ids repeat across milestones
        ],
    )


def test_every_problem_is_listed_under_the_given_field() -> None:
    objectives = [{"objectiveId": "a"}, {"objectiveId": "b"}, {"objectiveId": "a"}]
    milestones = [
        {"index": 0, "progressThreshold": 0.5, "rewards": [{"rewardId": "x"}, {"rewardId": "x"}]},
        {"index": 0, "progressThreshold": 0.75},
        {"index": 1, "progressThreshold": 0.5},
    ]
    with pytest.raises(InvalidInput) as caught:
        check_content(objectives, milestones, "body.customizations")
    assert _fields(caught) == [
        "body.customizations.objectives.2.objectiveId",
        "body.customizations.milestones.0.rewards.1.rewardId",
        "body.customizations.milestones.1.index",
        "body.customizations.milestones.2.progressThreshold",
    ]
    assert "4 problems" in caught.value.detail


def test_the_draft_is_stored_with_milestones_in_index_order() -> None:
    draft = TemplateDraft(
        event_type="Seasonal",
        name="n",
        description=None,
        event_class=EventClass.MINI,
        objectives=[],
        milestones=[{"index": 9, "progressThreshold": 1.0}, {"index": 1, "progressThreshold": 0.1}],
        progression=None,
        theme=None,
        layout=None,
        requires_leaderboard=False,
        requires_clan=False,
        minimum_player_level=1,
        configuration={},
        duration_seconds=None,
    )
    assert [m["index"] for m in check_draft(draft).milestones] == [1, 9]


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"a": [1, {"b": float("nan")}]}, "c.a.1.b"),
        ({"a": float("-inf")}, "c.a"),
        ({"a": -(2**63) - 1}, "c.a"),
        ({"a": "x\x00"}, "c.a"),
        ({"a\x00": 1}, "c"),
        ({"a": {1, 2}}, "c.a"),
    ],
)
def test_unstorable_json_names_its_path(value: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_json(value, "c")
    assert _fields(caught) == [field]


def test_storable_json_passes() -> None:
    check_json({"a": [1, 2.5, "s", True, None, {"b": -(2**63)}], "é": "ü"}, "c")
