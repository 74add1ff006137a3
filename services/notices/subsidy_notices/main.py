"""The notices service process, and the `subsidy-notices` command.

`subsidy-notices` (or `subsidy-notices serve`) reads the environment (`DATABASE_URL`,
`VAULT_ADDR`, `SUBSIDY_STATE_DIR`, `NOTICES_LISTEN` default 127.0.0.1:50054, intake at
`INTAKE_ADDRESS`, `NOTICES_RETENTION_DAYS`, `NOTICES_TEMPLATES`, `NOTICES_POSTAGE_OFFICE`,
`NOTICES_FONT`, `OTEL_EXPORTER_OTLP_ENDPOINT`) and serves NoticesService over mutual TLS until
SIGTERM (subsidy_platform.process). The embedded font is loaded before the service starts:
without it the process stops at once (naming where it looked) instead of serving, reporting
ready, and failing at the first print batch. Other subcommands are the print operator's
(cli.py).
"""

from __future__ import annotations

import sys

from subsidy.notices.v1 import notices_pb2_grpc

from subsidy_notices.declaration import DECLARATION
from subsidy_notices.fonts import registered_font
from subsidy_notices.repository import NoticesRepository
from subsidy_notices.roles import NOTICES
from subsidy_notices.service import Notices, retention_days
from subsidy_notices.servicer import NoticesServicer
from subsidy_platform.process import ServiceContext, builder, run_service
from subsidy_platform.server import Registration


def servicers(context: ServiceContext) -> list[Registration]:
    registered_font()  # FontMissing: no notice could be printed, so do not serve
    notices = Notices(
        context.unit_of_work(NoticesRepository),
        context.cipher,
        context.programs,
        context.clients,
        retention_days(),
    )
    return [
        (notices_pb2_grpc.add_NoticesServiceServicer_to_server, NoticesServicer(notices), NOTICES)
    ]


build = builder(DECLARATION, servicers)


def main() -> None:
    arguments = sys.argv[1:]
    if arguments and arguments[0] != "serve":
        from subsidy_notices.cli import main as command

        raise SystemExit(command(arguments))
    run_service(DECLARATION.name, build)


if __name__ == "__main__":
    main()
