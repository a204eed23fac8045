"""End to end: the real CDK CLI (`npx --no-install cdk …`, its default change sets) and `smlocal`
commands against ONE local cloud per session (its own process, free port, temporary state),
on manifests in a temporary git repo passed with `-c envdir=…` (environments/ is never touched).
The helpers are in tests/helpers/e2e.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smlocal.demo import client_environment
from tests.helpers import ROOT
from tests.helpers.cloud import running_cloud
from tests.helpers.e2e import (
    DEPLOYER_ROLE,
    DEV_ACCOUNT,
    DEV_REGION,
    OTHER_ACCOUNT,
    OTHER_REGION,
    PLATFORM,
    Cloud,
    Models,
    Repo,
    cdk,
    smlocal,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


# prod's deployment policy bakes 300 s and its alarms have one-minute periods: at 60x a bake
# lasts 5 real seconds and an alarm evaluates every second (nothing else here waits on it).
CLOCK_SPEED = 60.0


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    # No execution role made for the tests: each account's PlatformStack makes its own.
    with running_cloud(
        tmp_path_factory.mktemp("cloud"), clock_speed=CLOCK_SPEED, execution_role=False
    ) as local:
        running = Cloud(local.state_dir, local.port)
        running.env = {**client_environment(running.port, running.state_dir), "COLUMNS": "200"}
        running.other = running.assume(DEPLOYER_ROLE, "e2e", region=OTHER_REGION)
        creds = running.other.credentials
        running.other_env = {
            **running.env,
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"],
            "AWS_REGION": OTHER_REGION,
            "AWS_DEFAULT_REGION": OTHER_REGION,
            "CDK_DEFAULT_ACCOUNT": OTHER_ACCOUNT,
            "CDK_DEFAULT_REGION": OTHER_REGION,
        }
        yield running


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """dev, prod (as in environments/) and staging (moved to the second account)."""
    r = Repo(tmp_path_factory.mktemp("repo"))
    r.envdir.mkdir()
    for name in ("dev", "prod"):
        r.path(name).write_text((ROOT / "environments" / f"{name}.yaml").read_text())
    staging = (ROOT / "environments" / "staging.yaml").read_text()
    staging = staging.replace(f'account: "{DEV_ACCOUNT}"', f'account: "{OTHER_ACCOUNT}"')
    r.path("staging").write_text(
        staging.replace(f"region: {DEV_REGION}", f"region: {OTHER_REGION}")
    )
    r.git("init", "-q", "-b", "main")
    r.git("config", "user.email", "e2e@example.com")
    r.git("config", "user.name", "e2e")
    r.git("config", "commit.gpgsign", "false")
    r.commit("environments: dev, staging, prod")
    return r


@pytest.fixture(scope="session")
def models(cloud: Cloud, repo: Repo, tmp_path_factory: pytest.TempPathFactory) -> Models:
    """The platform stack first (its bucket takes the data), then two tiny training jobs
    (1 epoch; different batch sizes, so different weights), pinned and then unpinned."""
    from training.data import load_split, prepare

    data_dir = tmp_path_factory.mktemp("mnist")
    prepare(data_dir, "digits", echo=lambda _line: None)
    cdk(cloud, repo, "deploy", PLATFORM)
    unpinned = repo.path("dev").read_text()
    pins = []
    for batch_size in ("64", "32"):
        smlocal(
            cloud,
            "train",
            "--env",
            "dev",
            "--envdir",
            str(repo.envdir),
            "--data",
            str(data_dir),
            "--epochs",
            "1",
            "--batch-size",
            batch_size,
            "--pin",
        )
        pins.append(repo.model("dev"))
    repo.path("dev").write_text(unpinned)
    images, labels = load_split(data_dir, "test")
    return Models(pins[0], pins[1], data_dir, images[:32], labels[:32])
