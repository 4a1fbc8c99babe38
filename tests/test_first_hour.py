"""The README's first hour, as written: record the example bot against the simulator, inspect the session, and
replay it in a pytest test of a fresh project with no pytest configuration (with and without asyncio plugins)."""

from __future__ import annotations

import pytest

from tests.cli_helpers import readme_block, record_readme_bot, run, sim_env

pytest_plugins = ["pytester"]


@pytest.fixture
def recorded_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A fresh project directory holding my_bot.py and fixtures/my_first_session recorded by running it."""
    record_readme_bot(pytester.path)
    for name, value in sim_env().items():  # the README's `eval "$(tradetape sim env)"` before pytest
        monkeypatch.setenv(name, value)
    return pytester


def test_inspect_shows_the_bots_two_orders(recorded_project):
    done = run("inspect", "fixtures/my_first_session", cwd=recorded_project.path)
    assert done.returncode == 0, done.stderr
    assert "POST    /portfolio/events/orders" in done.stdout and "POST    /order" in done.stdout


@pytest.mark.parametrize(
    "plugins",
    [
        (),  # pytest-asyncio installed, in its default strict mode
        ("-p", "no:asyncio", "-p", "no:aiohttp"),  # no asyncio plugin at all
    ],
)
def test_the_readme_pytest_example_passes_in_a_fresh_project_with_no_configuration(recorded_project, plugins):
    assert not list(recorded_project.path.glob("*.ini")) and not list(recorded_project.path.glob("*.toml"))
    recorded_project.makepyfile(test_my_bot=readme_block("pytest"))
    result = recorded_project.runpytest_subprocess("-p", "no:cacheprovider", *plugins)
    result.assert_outcomes(passed=1)


def test_the_same_test_fails_when_the_bot_changes(recorded_project):
    bot = recorded_project.path / "my_bot.py"
    bot.write_text(bot.read_text().replace('Decimal("5"), Decimal("0.52")', 'Decimal("2"), Decimal("0.52")'))
    recorded_project.makepyfile(test_my_bot=readme_block("pytest"))
    result = recorded_project.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:aiohttp")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ReplayMismatch: unmatched POST /portfolio/events/orders: closest 001_POST_kalshi_orders.json "
            "differs at /count (live 2.00, recorded 5.00)*"
        ]
    )
