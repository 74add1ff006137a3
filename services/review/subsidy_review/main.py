"""The review service process: it names its servicer, the platform does the rest.

`subsidy-review` reads the environment (`DATABASE_URL`, `VAULT_ADDR`, `SUBSIDY_STATE_DIR`,
`REVIEW_LISTEN` default 127.0.0.1:50052, intake at `INTAKE_ADDRESS` default
127.0.0.1:50051, `OTEL_EXPORTER_OTLP_ENDPOINT`) and serves ReviewService over mutual TLS
until SIGTERM (subsidy_platform.process).
"""

from __future__ import annotations

from subsidy.review.v1 import review_pb2_grpc

from subsidy_platform.process import ServiceContext, builder, run_service
from subsidy_platform.server import Registration
from subsidy_review.declaration import DECLARATION
from subsidy_review.repository import ReviewRepository
from subsidy_review.roles import REVIEW
from subsidy_review.service import Review
from subsidy_review.servicer import ReviewServicer


def servicers(context: ServiceContext) -> list[Registration]:
    review = Review(
        context.unit_of_work(ReviewRepository), context.cipher, context.programs, context.clients
    )
    return [(review_pb2_grpc.add_ReviewServiceServicer_to_server, ReviewServicer(review), REVIEW)]


build = builder(DECLARATION, servicers)


def main() -> None:
    run_service(DECLARATION.name, build)


if __name__ == "__main__":
    main()
