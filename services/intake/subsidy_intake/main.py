"""The intake service process: it names its servicers, the platform does the rest.

`subsidy-intake` reads the environment (`DATABASE_URL`, `VAULT_ADDR`, `SUBSIDY_STATE_DIR`,
`INTAKE_LISTEN` default 127.0.0.1:50051, `OTEL_EXPORTER_OTLP_ENDPOINT`, peers at
`<NAME>_ADDRESS`), prepares the platform and serves IntakeService over mutual TLS with
tracing, access control, health, reflection and its outbox relay until SIGTERM, which drains
in-flight calls (subsidy_platform.process). Staff sign in at the platform's sign-in service.
"""

from __future__ import annotations

from subsidy.intake.v1 import intake_pb2_grpc

from subsidy_intake.declaration import DECLARATION
from subsidy_intake.logo_csv import check_mappings
from subsidy_intake.repository import IntakeRepository
from subsidy_intake.roles import INTAKE
from subsidy_intake.service import IntakeService
from subsidy_intake.servicer import IntakeServicer
from subsidy_platform.process import ServiceContext, ServiceProcess, builder, run_service
from subsidy_platform.server import Registration

IntakeProcess = ServiceProcess


def servicers(context: ServiceContext) -> list[Registration]:
    check_mappings(context.programs)  # a bad LoGo mapping stops intake here, naming its key
    service = IntakeService(
        context.unit_of_work(IntakeRepository), context.cipher, context.programs
    )
    return [(intake_pb2_grpc.add_IntakeServiceServicer_to_server, IntakeServicer(service), INTAKE)]


build = builder(DECLARATION, servicers)


def main() -> None:
    run_service(DECLARATION.name, build)


if __name__ == "__main__":
    main()
