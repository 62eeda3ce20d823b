"""The chaos suite's fixtures: a factory of systems (broker, databases, processes) that are always stopped, and the
scenarios' counts repeated at the end of the run."""

from __future__ import annotations

import pytest
from chaoskit import REPORT, System


@pytest.fixture
def make_system(tmp_path, databases):
    """Build a scenario's system; whatever the test does, every process it started is stopped by PID after it."""
    made: list[System] = []

    def make(name: str) -> System:
        system = System(tmp_path=tmp_path / name, databases=databases, name=name)
        made.append(system)
        return system

    yield make
    for system in made:
        system.stop()
    leftovers = [pid for system in made for pid in system.alive_pids()]
    assert not leftovers, f"processes still running after the scenario: {leftovers}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A scenario that fails before it counts still gets its line in the summary, saying where it stopped."""
    outcome = yield
    result = outcome.get_result()
    if result.failed:
        scenario = item.module.__name__.removeprefix("test_").split("_")[0]  # "s1"
        if not any(line.startswith(f"[chaos] {scenario} ") for line in REPORT):
            reason = str(call.excinfo.value).splitlines()[0][:200] if call.excinfo else result.when
            REPORT.append(f"[chaos] {scenario} FAILED in {result.when} before its counts: sent=? applied=? "
                          f"lost=? duplicates=? ({reason})")


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("chaos counts")
        for line in REPORT:
            terminalreporter.write_line(line)
