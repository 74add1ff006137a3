"""`make demo`: start the platform, push a synthetic Shinjuku program through it, report.

Steps (each printed as it happens): bring up embedded PostgreSQL and OpenBao, migrate,
provision Vault and certificates; start every service as its own process over mutual TLS;
sign in as a contractor operator and import the program's LoGoフォーム CSV export over gRPC
(first a file with bad lines, refused whole with every bad line reported, then the good
file, then the same file again: a no-op); key the paper forms twice; look an applicant up
as the call center (masked) and try to unmask (refused); carry every application through
review to the ward's decision (`review_flow`), pay the grants (`payments_flow`), print and
mail the notices (`notices_flow`); verify the audit chain; and write `out/summary.json`
(`summary`): counts, yen, the released files read back, the reconciliation, the audit
check and each step's seconds. The run fails if the reconciliation does not balance or the
audit chain does not verify. Everything started is stopped at the end.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import secrets
import socket
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc
from subsidy.review.v1 import review_pb2_grpc
from subsidy_intake.convert import record_to_proto
from subsidy_intake.logo_csv import mapping_for, to_logo_csv
from subsidy_intake.synthetic import by_channel

from subsidy_demo.notices_flow import run_notices
from subsidy_demo.payments_flow import run_payments
from subsidy_demo.review_flow import Metadata, ReviewDemo, run_review
from subsidy_demo.staff import signed_in
from subsidy_demo.summary import Stopwatch, write_summary
from subsidy_platform.audit import verify
from subsidy_platform.config import Settings
from subsidy_platform.db import make_engine
from subsidy_platform.declaration import declarations
from subsidy_platform.embedded import stop_infrastructure
from subsidy_platform.launcher import start_stack
from subsidy_platform.runtime import prepare
from subsidy_platform.tls import channel_credentials, client_identity
from subsidy_platform.users import create_user
from subsidy_rules.program import load_programs
from subsidy_rules.reasons import Reason
from subsidy_rules.synth import generate

PROGRAM = "shinjuku-2025"
CHUNK = 256 * 1024


def step(text_: str) -> None:
    print(f"\n--- {text_}", flush=True)


def chunks(program_id: str, name: str, data: bytes) -> Iterator[intake_pb2.ImportLogoCsvRequest]:
    yield intake_pb2.ImportLogoCsvRequest(
        header=intake_pb2.ImportLogoCsvRequest.Header(program_id=program_id, file_name=name)
    )
    for start in range(0, len(data), CHUNK):
        yield intake_pb2.ImportLogoCsvRequest(chunk=data[start : start + CHUNK])


def report(result: intake_pb2.ImportReport) -> None:
    print(
        f"committed={result.committed} rows={result.rows} imported={result.imported} "
        f"already_present={result.already_present} duplicates_flagged={result.duplicates_flagged} "
        f"errors={len(result.errors)} encoding={result.encoding}"
    )
    for error in result.errors[:5]:
        print(f"    {error.line}行目 {error.column}: {error.message}")


def run(count: int, seed: int, keep: bool, out: Path) -> None:
    settings = Settings.from_env()
    programs = load_programs()
    clock = Stopwatch()
    step(f"platform: embedded PostgreSQL + OpenBao under {settings.state_dir}")
    started = time.perf_counter()
    with clock.step("platform"):
        environment = prepare(settings, list(programs))
    print(
        f"ready in {time.perf_counter() - started:.1f} s; Vault {environment.infrastructure.vault_addr}"
    )
    admin = make_engine(environment.infrastructure.database_url)
    passwords = {login: secrets.token_urlsafe(18) for login in ACCOUNTS}
    with Session(admin) as session:
        for login, role in ACCOUNTS.items():
            if session.execute(
                text("SELECT 1 FROM auth.users WHERE login = :l"), {"l": login}
            ).first():
                session.execute(text("DELETE FROM auth.users WHERE login = :l"), {"l": login})
            create_user(session, login, role, passwords[login])
        session.commit()
    addresses = {name: f"127.0.0.1:{free_port()}" for name in ("auth", *declarations())}
    with clock.step("platform"):
        stack = start_stack(environment, addresses)
    try:
        step("services, each its own process (mutual TLS, tokens, audit, traces, outboxes)")
        for name, address in addresses.items():
            print(f"    {name:8} {address}  pid {stack.processes[name].pid}")
        credentials = channel_credentials(environment.pki, client_identity("console"))
        with (
            grpc.secure_channel(addresses["intake"], credentials) as channel,
            grpc.secure_channel(addresses["auth"], credentials) as auth_channel,
            grpc.secure_channel(addresses["review"], credentials) as review_channel,
        ):
            exercise(channel, auth_channel, passwords, count, seed, clock)
            staff = {
                key: sign_in(auth_channel, login, passwords[login])
                for key, login in (
                    ("operator", "demo-operator"),
                    ("operator2", "demo-operator2"),
                    ("checker", "demo-checker"),
                    ("ward", "demo-ward"),
                    ("ward2", "demo-ward2"),
                )
            }
            demo = ReviewDemo(
                intake_pb2_grpc.IntakeServiceStub(channel),
                review_pb2_grpc.ReviewServiceStub(review_channel),
                staff,
                PROGRAM,
                out,
            )
            expected = count_rows(admin, "SELECT count(*) FROM intake.applications")
            with clock.step("review"):
                run_review(demo, expected)
            with clock.step("payments"):
                reconciliation = run_payments(
                    demo, addresses["payments"], auth_channel, passwords, environment.pki
                )
            with clock.step("notices"):
                run_notices(addresses, credentials, passwords, admin, out.parent / "notices")
        print_decisions(admin)
        step("audit chain")
        with clock.step("audit"):
            result = verify(admin)
        print(f"ok={result.ok} rows={result.rows}")
        reconciliation["parked"] = parked_events(admin)
        reconciliation["balanced"] = reconciliation["balanced"] and not reconciliation["parked"]
        summary = write_summary(
            out.parent / "summary.json",
            engine=admin,
            program_id=PROGRAM,
            payments_out=out.parent / "payments",
            reconciliation=reconciliation,
            audit={"ok": result.ok, "rows": result.rows},
            stopwatch=clock,
        )
        step(f"summary: {out.parent / 'summary.json'}")
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        if not (summary["reconciliation"]["balanced"] and result.ok):
            raise SystemExit("the reconciliation or the audit chain failed: see the summary")
    finally:
        print(f"\nstopped: {', '.join(stack.stop())}")
        admin.dispose()
        if not keep:
            stop_infrastructure(settings)
            print("embedded servers stopped")


ACCOUNTS = {
    "demo-operator": "operator",
    "demo-operator2": "operator",
    "demo-checker": "checker",
    "demo-callcenter": "call_center",
    "demo-ward": "ward_officer",
    "demo-ward2": "ward_officer",
    "demo-payments": "payments_officer",
    "demo-approver": "approver",
    "demo-auditor": "auditor",
    "demo-printer": "operator",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parked_events(engine: Engine) -> int:
    """Events some receiver refused for good, in every service's outbox."""
    schemas = [*declarations()]
    return sum(
        count_rows(engine, f"SELECT count(*) FROM {schema}.outbox WHERE parked_at IS NOT NULL")
        for schema in schemas
    )


def count_rows(engine: Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def print_decisions(admin: Engine) -> None:
    """What ward staff see first: how many granted and for how much, why the others not."""
    step("the ward's decisions (交付・不交付決定)")
    with admin.connect() as connection:
        for granted, n, total in connection.execute(
            text("SELECT granted, count(*), sum(amount) FROM review.decisions GROUP BY granted")
        ):
            label = "交付 granted    " if granted else "不交付 not granted"
            print(f"    {label} {n:7,}  {int(total or 0):>13,} 円")
        reasons = connection.execute(
            text(
                "SELECT r, count(*) FROM review.decisions, unnest(reasons) AS r "
                "GROUP BY r ORDER BY count(*) DESC"
            )
        ).all()
    for code, n in reasons:
        print(f"        {code:28} {n:6,}  {Reason(code).message}")


def sign_in(channel: grpc.Channel, login: str, password: str) -> Metadata:
    response = signed_in(channel, login, password)
    print(f"signed in as {login} ({response.role}), token valid until {response.expires_at}")
    return (("authorization", f"Bearer {response.token}"),)


def exercise(
    channel: grpc.Channel,
    auth: grpc.Channel,
    passwords: dict[str, str],
    count: int,
    seed: int,
    clock: Stopwatch,
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(channel)
    synthetic = list(generate(count, seed))
    mapping = mapping_for(PROGRAM)
    online, paper = by_channel(synthetic, mapping)
    operator = sign_in(auth, "demo-operator", passwords["demo-operator"])

    step("LoGo CSV with bad lines: refused whole, every bad line reported")
    report(
        intake.ImportLogoCsv(
            chunks(PROGRAM, "logo-broken.csv", broken_export(online[:50])), metadata=operator
        )
    )

    step(f"LoGo CSV export of {len(online):,} online applications, streamed over gRPC")
    data = to_logo_csv(online, mapping)
    started = time.perf_counter()
    with clock.step("intake_logo_import"):
        report(
            intake.ImportLogoCsv(
                chunks(PROGRAM, "logo-export.csv", data), metadata=operator, timeout=600
            )
        )
    print(f"imported in {time.perf_counter() - started:.1f} s")
    step("the same file again: a no-op")
    report(
        intake.ImportLogoCsv(
            chunks(PROGRAM, "logo-export.csv", data), metadata=operator, timeout=600
        )
    )

    step(f"{len(paper):,} paper forms, each keyed by two operators (ベリファイ入力)")
    staff = {
        login: sign_in(auth, login, passwords[login])
        for login in ("demo-operator", "demo-operator2", "demo-checker")
    }
    started = time.perf_counter()
    with clock.step("intake_paper_keying"):
        outcomes = key_paper_forms(intake, paper, staff)
    print(f"outcomes {dict(outcomes)} in {time.perf_counter() - started:.1f} s")

    step("call center: look-up by name kana + birth date (masked), unmask refused")
    agent = sign_in(auth, "demo-callcenter", passwords["demo-callcenter"])
    sample = online[len(online) // 2]["applicant"]
    found = intake.SearchApplications(
        intake_pb2.SearchApplicationsRequest(
            program_id=PROGRAM,
            kana_and_birth_date=intake_pb2.KanaAndBirthDate(
                name_kana=sample["name_kana"], birth_date=sample["birth_date"]
            ),
            purpose="電話での進捗確認",
        ),
        metadata=agent,
    )
    for summary in found.results[:1]:
        print(f"    {summary.application_number} {summary.masked_name} 受付 {summary.received_on}")
        view = intake.GetApplication(
            intake_pb2.GetApplicationRequest(application_number=summary.application_number),
            metadata=agent,
        )
        a = view.application
        print(
            f"    masked view: 生年月日 {a.applicant.birth_date} 電話 {a.applicant.phone} 住所 {a.applicant.address} "
            f"口座 {a.bank_account.number}"
        )
        try:
            intake.GetApplication(
                intake_pb2.GetApplicationRequest(
                    application_number=summary.application_number, unmask=True, purpose="確認"
                ),
                metadata=agent,
            )
        except grpc.RpcError as error:
            print(f"    unmask as call_center: {error.code().name} {error.details()}")


def key_paper_forms(
    intake: intake_pb2_grpc.IntakeServiceStub,
    forms: list[dict[str, Any]],
    staff: dict[str, Metadata],
) -> Counter[str]:
    """Key every form twice; on the first form the second operator mistypes an amount and a
    checker's third look settles it."""

    def key(
        index: int, record: dict[str, Any], who: str, *, resolve: bool = False
    ) -> intake_pb2.KeyPaperFormResponse:
        request = intake_pb2.KeyPaperFormRequest(
            form_id=f"P{index:06d}",
            program_id=PROGRAM,
            application=record_to_proto(record),
            resolve=resolve,
        )
        response: intake_pb2.KeyPaperFormResponse = intake.KeyPaperForm(
            request, metadata=staff[who], timeout=60
        )
        return response

    def name(response: intake_pb2.KeyPaperFormResponse) -> str:
        return str(intake_pb2.KeyingOutcome.Name(response.outcome))

    def both(item: tuple[int, dict[str, Any]]) -> str:
        index, record = item
        key(index, record, "demo-operator")
        if index == 0:
            first = record["purchases"][0]
            typo = {
                **record,
                "purchases": [{**first, "amount": first["amount"] + 9}, *record["purchases"][1:]],
            }
            mismatch = key(index, typo, "demo-operator2")
            print(
                f"    form P000000, second keying with a typo: {name(mismatch)} {list(mismatch.differing_fields)}"
            )
            settled = key(index, record, "demo-checker", resolve=True)
            print(f"    third look by a checker: {name(settled)} -> {settled.application_number}")
            return name(settled)
        return name(key(index, record, "demo-operator2"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        return Counter(pool.map(both, list(enumerate(forms))))


def broken_export(records: list[dict[str, Any]]) -> bytes:
    """A LoGo export with three lines an operator would get wrong (for the refusal demo)."""
    rows = list(
        csv.reader(io.StringIO(to_logo_csv(records, mapping_for(PROGRAM)).decode("utf-8-sig")))
    )
    header = rows[0]
    rows[3][header.index("生年月日")] = "昭和65年2月30日"
    rows[8][header.index("金額1")] = "三万円"
    rows[21][header.index("購入品目1")] = "防犯ブザー"
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=7000)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--keep", action="store_true", help="leave the embedded servers running")
    parser.add_argument(
        "--out", type=Path, default=Path("out/ward"), help="where the ward's files are written"
    )
    args = parser.parse_args(argv)
    run(args.count, args.seed, args.keep, args.out)


if __name__ == "__main__":
    main()
