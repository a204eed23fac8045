"""MetricDefinitions over log lines: the last value of each regex, in definition order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smlocal.core.errors import UserError
from training.metrics import MetricDefinitionError, MetricParser
from training.spec import MNIST_METRIC_DEFINITIONS

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_the_last_value_of_each_metric_wins_in_definition_order() -> None:
    parser = MetricParser(MNIST_METRIC_DEFINITIONS)
    parser.feed("epoch=1 train_loss=0.9 test_loss=0.5 test_accuracy=0.81", WHEN)
    parser.feed("nothing to see here", WHEN)
    parser.feed("epoch=2 train_loss=4e-1 test_loss=0.25 test_accuracy=0.9", WHEN)
    assert parser.final_metrics == [
        {"MetricName": "train_loss", "Value": 0.4, "Timestamp": WHEN},
        {"MetricName": "test_loss", "Value": 0.25, "Timestamp": WHEN},
        {"MetricName": "test_accuracy", "Value": 0.9, "Timestamp": WHEN},
    ]


def test_a_match_that_is_not_a_number_is_ignored_and_unseen_metrics_are_absent() -> None:
    parser = MetricParser(
        [{"Name": "loss", "Regex": r"loss=(\S+)"}, {"Name": "acc", "Regex": r"acc=(\S+)"}]
    )
    parser.feed("loss=0.5", WHEN)
    parser.feed("loss=nan-ish", WHEN)
    assert parser.final_metrics == [{"MetricName": "loss", "Value": 0.5, "Timestamp": WHEN}]
    assert MetricParser([]).final_metrics == []


@pytest.mark.parametrize(
    ("regex", "message"),
    [
        ("loss=([0-9", "metric 'loss': regex 'loss=([0-9' does not compile: "),
        ("loss=[0-9]+", "metric 'loss': regex 'loss=[0-9]+' needs one capture group"),
    ],
)
def test_a_regex_that_cannot_be_used_is_a_user_error(regex: str, message: str) -> None:
    with pytest.raises(MetricDefinitionError) as caught:
        MetricParser([{"Name": "loss", "Regex": regex}])
    assert isinstance(caught.value, UserError)
    assert str(caught.value).startswith(message)
