"""Fault-injection tests (issue 9): each table row of failures reproduced with real parts."""
