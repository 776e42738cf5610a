"""Reverse-mode autodiff as a graph pass, and finite-difference gradient checking."""

from graphc.autodiff.check import GradCheckError, GradCheckReport, check_grad
from graphc.autodiff.reverse import grad, sum_to

__all__ = ["GradCheckError", "GradCheckReport", "check_grad", "grad", "sum_to"]
