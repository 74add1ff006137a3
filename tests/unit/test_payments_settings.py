"""Payments' configuration: a pod has no default ward account (the overlay must give it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from subsidy_payments.settings import DEFAULTS, WARD_ACCOUNT, PaymentSettings

PRODUCTION = Path(__file__).resolve().parents[2] / "k8s" / "overlays" / "production"


def test_outside_a_pod_the_synthetic_account_is_the_default() -> None:
    settings = PaymentSettings.from_env({})
    assert settings.requester.account_number == DEFAULTS["PAYMENTS_WARD_ACCOUNT"]


@pytest.mark.parametrize("missing", sorted(WARD_ACCOUNT))
def test_in_a_pod_every_part_of_the_ward_account_must_be_given(missing: str) -> None:
    environ = {"SUBSIDY_VAULT_TOKEN_FILE": "/var/lib/subsidy/pki/token", **DEFAULTS}
    PaymentSettings.from_env(environ)  # complete: starts
    del environ[missing]
    with pytest.raises(ValueError, match=missing):
        PaymentSettings.from_env(environ)


def test_the_production_overlays_placeholders_stop_payments_until_the_ward_fills_them_in() -> None:
    values = dict(
        line.split("=", 1)
        for line in (PRODUCTION / "payments-ward.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert set(WARD_ACCOUNT) <= set(values)
    with pytest.raises(ValueError):
        PaymentSettings.from_env({"SUBSIDY_VAULT_TOKEN_FILE": "/t", **values})
