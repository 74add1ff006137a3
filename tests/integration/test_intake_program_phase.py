"""Intake refuses new applications once the operator publishes that a program is closed
(subsidy_platform.program_phase): on a real intake server, without a restart."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from intake_support import PROGRAM, Client, make_client, proto, record
from subsidy.intake.v1 import intake_pb2
from subsidy_intake.logo_csv import mapping_for, to_logo_csv
from subsidy_intake.main import build

from subsidy_platform.program_phase import RECHECK_SECONDS
from subsidy_platform.runtime import Environment
from subsidy_rules.program import PROGRAMS_DIR, get_program

CLOSED_MESSAGE = "この制度の申請受付は終了しているか、まだ始まっていません"


@pytest.fixture
def programs(tmp_path: Path) -> Path:
    folder = tmp_path / "programs"
    shutil.copytree(PROGRAMS_DIR, folder)
    return folder


@pytest.fixture
def served(
    environment: Environment, programs: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Client]:
    """An intake server of this test, reading the programs folder the operator publishes."""
    monkeypatch.setenv("SUBSIDY_PROGRAMS_DIR", str(programs))
    process = build(environment, {PROGRAM: get_program(PROGRAM)})
    try:
        yield make_client(environment, process)
    finally:
        process.stop(grace=1.0)


def publish(folder: Path, phase: str) -> None:
    (folder / f"{PROGRAM}.phase").write_text(phase + "\n", encoding="ascii")
    time.sleep(RECHECK_SECONDS + 0.1)


def submit(client: Client) -> intake_pb2.SubmitApplicationResponse:
    with client.stub() as stub:
        response: intake_pb2.SubmitApplicationResponse = stub.SubmitApplication(
            intake_pb2.SubmitApplicationRequest(
                request_id=uuid.uuid4().hex,
                program_id=PROGRAM,
                application=proto(**{"applicant.name_kana": f"ヘイサ {uuid.uuid4().hex[:6]}"}),
            ),
            metadata=client.staff("operator"),
        )
        return response


def key_first(client: Client) -> intake_pb2.KeyPaperFormResponse:
    with client.stub() as stub:
        response: intake_pb2.KeyPaperFormResponse = stub.KeyPaperForm(
            intake_pb2.KeyPaperFormRequest(
                form_id=f"PH-{uuid.uuid4().hex[:8]}",
                program_id=PROGRAM,
                application=proto(channel="paper", logo_answer_id=None),
            ),
            metadata=client.staff("operator", "op-phase"),
        )
        return response


def import_logo(client: Client) -> intake_pb2.ImportReport:
    data = to_logo_csv(
        [record(logo_answer_id=f"66{uuid.uuid4().int % 10**8:08d}")], mapping_for(PROGRAM)
    )
    parts = iter(
        [
            intake_pb2.ImportLogoCsvRequest(
                header=intake_pb2.ImportLogoCsvRequest.Header(
                    program_id=PROGRAM, file_name="late.csv"
                )
            ),
            intake_pb2.ImportLogoCsvRequest(chunk=data),
        ]
    )
    with client.stub() as stub:
        report: intake_pb2.ImportReport = stub.ImportLogoCsv(
            parts, metadata=client.staff("operator")
        )
        return report


def refused(call: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        call()  # type: ignore[operator]
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.value.details() == CLOSED_MESSAGE
    return error.value


def test_a_closed_program_takes_no_online_application_but_late_paper_forms(
    served: Client, programs: Path
) -> None:
    publish(programs, "Open")
    assert submit(served).application_number
    publish(programs, "Closed")
    refused(lambda: submit(served))
    refused(lambda: import_logo(served))
    assert key_first(served).outcome == intake_pb2.FIRST_KEYING_STORED
    publish(programs, "Retention")
    refused(lambda: key_first(served))
    os.remove(programs / f"{PROGRAM}.phase")
    time.sleep(RECHECK_SECONDS + 0.1)
    assert submit(served).application_number  # no phase published: the dates decide
