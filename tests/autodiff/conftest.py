"""Autodiff tests: report how many gradient checks ran (the issue's closing note quotes it)."""

from _gradkit import TALLY


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if TALLY["check_grad calls"]:
        terminalreporter.write_line(
            "autodiff: {} check_grad calls, {} directional comparisons against finite "
            "differences (first + second order)".format(
                TALLY["check_grad calls"], TALLY["directional comparisons"])
        )
