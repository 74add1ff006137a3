"""The `subsidy-intake` process: health and reflection answer, and SIGTERM drains the
calls in flight before the process exits."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from intake_support import PROGRAM, Client
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc
from subsidy_intake.logo_csv import mapping_for, to_logo_csv
from subsidy_intake.synthetic import online_applications

from subsidy_platform.runtime import Environment
from subsidy_platform.tls import channel_credentials, client_identity


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_drains_an_import_in_flight(environment: Environment, intake: Client) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SUBSIDY_STATE_DIR": str(environment.settings.state_dir),
        "INTAKE_LISTEN": f"127.0.0.1:{port}",
        # A loaded machine may need longer than the default drain for 2,500 rows.
        "SUBSIDY_DRAIN_SECONDS": "120",
    }
    if environment.settings.database_url is None:
        env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "subsidy_intake.main"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        credentials = channel_credentials(environment.pki, client_identity("console"))
        with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + 60
            while True:
                try:
                    status = health.Check(
                        health_pb2.HealthCheckRequest(service=""), timeout=2
                    ).status
                    if status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.RpcError:
                    pass
                assert time.monotonic() < deadline, (
                    process.stderr.read().decode() if process.stderr else ""
                )
                time.sleep(0.3)
            listed = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
            )
            services = {
                s.name for response in listed for s in response.list_services_response.service
            }
            assert "subsidy.intake.v1.IntakeService" in services

            data = to_logo_csv(
                online_applications(2500, 99, mapping_for(PROGRAM)), mapping_for(PROGRAM)
            )
            result: dict[str, Any] = {}
            streaming = threading.Event()

            def parts() -> Iterator[intake_pb2.ImportLogoCsvRequest]:
                yield intake_pb2.ImportLogoCsvRequest(
                    header=intake_pb2.ImportLogoCsvRequest.Header(
                        program_id=PROGRAM, file_name="drain.csv"
                    )
                )
                streaming.set()  # gRPC asks for the next part once the call is under way
                yield intake_pb2.ImportLogoCsvRequest(chunk=data)

            def run_import() -> None:
                try:
                    result["report"] = intake_pb2_grpc.IntakeServiceStub(channel).ImportLogoCsv(
                        parts(), metadata=intake.staff("operator"), timeout=120
                    )
                except grpc.RpcError as error:
                    result["error"] = error
                result["finished"] = time.monotonic()

            worker = threading.Thread(target=run_import)
            worker.start()
            assert streaming.wait(timeout=60)
            time.sleep(0.3)
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            worker.join(timeout=120)
        assert "error" not in result, result.get("error")
        assert result["report"].committed and result["report"].imported == 2500
        assert result["finished"] > signalled  # the call was still in flight when SIGTERM came
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
