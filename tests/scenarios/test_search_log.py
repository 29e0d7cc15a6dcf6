"""search.log: stages and progress lines, one line per visible change, and the result last."""

import time

import scenarios.search_log as search_log
from scenarios.search_log import SearchLog
from solvers.result import Progress


def _progress(plan, bound):
    return Progress(0.0, plan, bound, 0, 0)


def _texts(log: SearchLog) -> list[str]:
    return [line.split(" s ", 1)[1].strip() for line in log.text().splitlines()]


def test_progress_within_a_second_waits_for_the_next_stage_and_the_result_comes_last():
    log = SearchLog(time.perf_counter())
    log.stage("first plan")
    log.progress(_progress(None, None))  # nothing known yet: no line
    log.progress(_progress(120.0, None))
    log.progress(_progress(115.0, None))  # within the second: replaced by the next before it is written
    log.progress(_progress(110.0, 100.0))
    log.stage("windows")
    log.end("time_limit", 105.0, 100.0)
    assert _texts(log) == [
        "first plan",
        "plan 1.200000e+02  bound -  gap -",
        "plan 1.100000e+02  bound 1.000000e+02  gap 9.091%",
        "windows",
        "ended: time_limit",
        "plan 1.050000e+02  bound 1.000000e+02  gap 4.762%",
    ]


def test_a_change_past_the_digits_shown_writes_no_line(monkeypatch):
    monkeypatch.setattr(search_log, "PROGRESS_EVERY", 0.0)
    log = SearchLog(time.perf_counter())
    log.progress(_progress(110.0, 100.0))
    log.progress(_progress(110.0, 100.0 * (1 + 1e-12)))
    log.progress(_progress(109.0, 100.0))
    assert _texts(log) == ["plan 1.100000e+02  bound 1.000000e+02  gap 9.091%",
                           "plan 1.090000e+02  bound 1.000000e+02  gap 8.257%"]
