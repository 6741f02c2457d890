"""Prefect retries only what may pass on a second try: I/O and database-connection errors."""

from __future__ import annotations

import pytest
from prefect.states import Completed, Failed
from sqlalchemy.exc import OperationalError

from flows.evaluate import retry_on_transient
from transforms.assessment import DataYearError
from warehouse.engine import WarehouseUnavailable


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (OSError("disk full"), True),
        (OperationalError("SELECT 1", {}, Exception("server closed the connection")), True),
        (WarehouseUnavailable("sqlite:///x", "down", 3), True),
        (ValueError("Thresholds need 0 <= needs_speedup_rho <= on_schedule_rho"), False),
        (DataYearError("数据年份2030年不在规划期内"), False),
        (KeyError("plan x has no indicator 9"), False),
    ],
)
def test_only_transient_errors_are_retried(error, retried):
    assert retry_on_transient(None, None, Failed(data=error)) is retried


def test_a_completed_task_is_not_retried():
    assert retry_on_transient(None, None, Completed(data=1)) is False
