"""The payments service process: it names its servicer, the platform does the rest.

`subsidy-payments` reads the environment (`DATABASE_URL`, `VAULT_ADDR`, `SUBSIDY_STATE_DIR`,
`PAYMENTS_LISTEN` default 127.0.0.1:50053, intake at `INTAKE_ADDRESS`, the ward's account
and file options `PAYMENTS_*`: subsidy_payments.settings) and serves PaymentsService over
mutual TLS until SIGTERM (subsidy_platform.process).
"""

from __future__ import annotations

from subsidy.payments.v1 import payments_pb2_grpc

from subsidy_payments.declaration import DECLARATION
from subsidy_payments.repository import PaymentsRepository
from subsidy_payments.roles import PAYMENTS
from subsidy_payments.service import Payments
from subsidy_payments.servicer import PaymentsServicer
from subsidy_payments.settings import PaymentSettings
from subsidy_platform.process import ServiceContext, builder, run_service
from subsidy_platform.server import Registration


def servicers(context: ServiceContext) -> list[Registration]:
    payments = Payments(
        context.unit_of_work(PaymentsRepository),
        context.cipher,
        context.programs,
        context.clients,
        PaymentSettings.from_env(),
    )
    return [
        (
            payments_pb2_grpc.add_PaymentsServiceServicer_to_server,
            PaymentsServicer(payments),
            PAYMENTS,
        )
    ]


build = builder(DECLARATION, servicers)


def main() -> None:
    run_service(DECLARATION.name, build)


if __name__ == "__main__":
    main()
