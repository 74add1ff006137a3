"""Identity end to end: mutual TLS between services, and staff sign-in on real PostgreSQL.

The TLS half runs a real gRPC server with the platform's certificates on loopback; the
sign-in half uses the session's PostgreSQL (tests/integration/conftest.py).
"""

from __future__ import annotations

import argparse
import io
import stat
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text, update
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session

from subsidy_platform import audit
from subsidy_platform import sign_in_throttle as throttle
from subsidy_platform.access import (
    MESSAGE_WRONG_CERTIFICATE,
    AccessPolicy,
    AuthInterceptor,
    Verifier,
    current_principal,
    rpc_roles,
)
from subsidy_platform.accounts import AccountCheckingVerifier, AccountStates
from subsidy_platform.db import database_url_for, make_engine, migrate
from subsidy_platform.errors import Conflict, InvalidArgument, Unauthenticated
from subsidy_platform.passwords import LOCKOUT_PERIOD, MAX_FAILED_ATTEMPTS
from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment
from subsidy_platform.staff_client import StaffSession
from subsidy_platform.tls import (
    Pki,
    certificate_thumbprint,
    channel_credentials,
    ensure_pki,
    server_credentials,
)
from subsidy_platform.tokens import MESSAGE_INVALID, TokenIssuer, TokenVerifier, load_public_key
from subsidy_platform.users import (
    ANONYMOUS,
    LOCKED_OUT,
    MESSAGE_WRONG_CREDENTIALS,
    SIGN_IN_FAILED,
    SIGN_IN_REFUSED,
    User,
    add_user_arguments,
    create_user,
    run_users_add,
    sign_in,
)

SERVICE = "test.identity.v1.ProbeService"
TABLE = rpc_roles(SERVICE, {"Who": {"service:review", "checker"}})
PASSWORD = "正しいパスワード-2025"
NOON = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)


def who(_request: bytes, _context: grpc.ServicerContext) -> bytes:
    principal = current_principal()
    return f"{principal.subject}|{principal.kind}".encode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    state_dir = tmp_path_factory.mktemp("identity-state")
    return ensure_pki(state_dir, ["intake", "review", "notices"], clients=["admin", "other"])


@pytest.fixture(scope="module")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def issuer(signing_key: Ed25519PrivateKey) -> TokenIssuer:
    return TokenIssuer(signing_key)


@contextmanager
def probe_server(pki: Pki, verifier: Verifier) -> Iterator[str]:
    """A mutual-TLS server (intake's certificate) whose one RPC says who called."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        interceptors=[AuthInterceptor(AccessPolicy(TABLE), verifier)],
    )
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Who": grpc.unary_unary_rpc_method_handler(who)
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = server.add_secure_port("127.0.0.1:0", server_credentials(pki, "intake"))
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


@pytest.fixture(scope="module")
def address(pki: Pki, signing_key: Ed25519PrivateKey) -> Iterator[str]:
    with probe_server(pki, TokenVerifier(signing_key.public_key())) as served:
        yield served


def ask(address: str, credentials: grpc.ChannelCredentials, token: str | None = None) -> bytes:
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    with grpc.secure_channel(address, credentials) as channel:
        rpc: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(f"/{SERVICE}/Who")
        return rpc(b"", metadata=metadata, timeout=10)


def refusal(
    address: str, credentials: grpc.ChannelCredentials, token: str | None = None
) -> tuple[grpc.StatusCode, str | None]:
    with pytest.raises(grpc.RpcError) as error:
        ask(address, credentials, token)
    return error.value.code(), error.value.details()


def refused(
    address: str, credentials: grpc.ChannelCredentials, token: str | None = None
) -> grpc.StatusCode:
    return refusal(address, credentials, token)[0]


def bound_to(pki: Pki, identity: str) -> str:
    """The thumbprint a token issued over `identity`'s certificate is bound to."""
    return certificate_thumbprint(pki.certificate(identity))


def test_a_client_without_a_certificate_is_refused(pki: Pki, address: str) -> None:
    no_certificate = grpc.ssl_channel_credentials(root_certificates=pki.ca_certificate)
    assert refused(address, no_certificate) == grpc.StatusCode.UNAVAILABLE


def test_a_client_with_a_certificate_from_another_ca_is_refused(
    pki: Pki, address: str, tmp_path: Path
) -> None:
    stranger = ensure_pki(tmp_path, ["review"])
    foreign = grpc.ssl_channel_credentials(
        root_certificates=pki.ca_certificate,
        private_key=stranger.private_key("review"),
        certificate_chain=stranger.certificate("review"),
    )
    assert refused(address, foreign) == grpc.StatusCode.UNAVAILABLE


def test_a_service_is_identified_by_its_certificate_without_a_token(pki: Pki, address: str) -> None:
    assert ask(address, channel_credentials(pki, "review")) == b"review|service"


def test_a_service_the_table_does_not_name_is_denied(pki: Pki, address: str) -> None:
    code = refused(address, channel_credentials(pki, "notices"))
    assert code == grpc.StatusCode.PERMISSION_DENIED


def test_a_staff_client_certificate_alone_is_not_enough(
    pki: Pki, address: str, issuer: TokenIssuer
) -> None:
    staff_client = channel_credentials(pki, "client-admin")
    assert refused(address, staff_client) == grpc.StatusCode.UNAUTHENTICATED
    token = issuer.issue("tanaka01", "checker")
    assert ask(address, staff_client, token) == b"tanaka01|staff"


def test_certificates_are_p256_for_a_year_and_name_the_service(pki: Pki) -> None:
    cert = x509.load_pem_x509_certificate(pki.certificate("review"))
    common_name = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert common_name == "review"
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp256r1"
    alt_names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alt_names.get_values_for_type(x509.DNSName) == ["localhost", "review"]
    assert [str(ip) for ip in alt_names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(days=365) <= lifetime <= timedelta(days=366)
    for key_file in pki.directory.glob("*.key"):
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_the_pki_is_created_once_and_reused(tmp_path: Path) -> None:
    first = ensure_pki(tmp_path, ["intake"])
    before = {p.name: p.read_bytes() for p in first.directory.iterdir() if p.is_file()}
    second = ensure_pki(tmp_path, ["intake"])
    after = {p.name: p.read_bytes() for p in second.directory.iterdir() if p.is_file()}
    assert before == after


def test_a_new_ca_reissues_every_certificate(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path, ["intake"])
    old = pki.certificate("intake")
    (pki.directory / "ca.key").unlink()
    ensure_pki(tmp_path, ["intake"])
    renewed = x509.load_pem_x509_certificate(pki.certificate("intake"))
    assert pki.certificate("intake") != old
    renewed.verify_directly_issued_by(x509.load_pem_x509_certificate(pki.ca_certificate))


@pytest.fixture(scope="module")
def engine(environment: Environment) -> Iterator[Engine]:
    """The administrator's engine on the prepared platform (auth and audit migrated)."""
    admin_database_url = environment.infrastructure.database_url
    migrate(admin_database_url, "auth")
    migrate(admin_database_url, "auth")
    database = make_engine(admin_database_url)
    yield database
    database.dispose()


@pytest.fixture
def login(engine: Engine) -> str:
    name = f"staff-{uuid.uuid4().hex[:12]}"
    with Session(engine) as session:
        create_user(session, name, "checker", PASSWORD, display_name="新宿 花子")
        session.commit()
    return name


_SIGN_IN_LOGINS: dict[str, Engine] = {}
_SIGN_IN_LOCK = threading.Lock()


@pytest.fixture(scope="module", autouse=True)
def _sign_in_logins() -> Iterator[None]:
    yield
    for login_engine in _SIGN_IN_LOGINS.values():
        login_engine.dispose()
    _SIGN_IN_LOGINS.clear()


def as_sign_in_service(engine: Engine) -> Engine:
    """The sign-in service's own login (`svc_auth`) on the administrator's database: the only
    login that may audit sign-ins (audit_0004)."""
    url = engine.url.render_as_string(hide_password=False)
    with _SIGN_IN_LOCK:
        if url not in _SIGN_IN_LOGINS:
            _SIGN_IN_LOGINS[url] = make_engine(database_url_for(url, "svc_auth"))
        return _SIGN_IN_LOGINS[url]


def attempt(engine: Engine, login: str, password: str, now: datetime = NOON) -> str:
    """The principal's role, or the refusal message (signed in as the sign-in service)."""
    with Session(as_sign_in_service(engine)) as session:
        try:
            return sign_in(session, login, password, now).role
        except Unauthenticated as refusal:
            return str(refusal)


def test_a_staff_member_signs_in_with_the_right_password(engine: Engine, login: str) -> None:
    with Session(as_sign_in_service(engine)) as session:
        principal = sign_in(session, login.upper(), PASSWORD, NOON)
    assert (principal.subject, principal.role, principal.kind) == (login, "checker", "staff")


def test_an_unknown_login_and_a_wrong_password_get_the_same_answer(
    engine: Engine, login: str
) -> None:
    assert attempt(engine, login, "wrong password!") == MESSAGE_WRONG_CREDENTIALS
    assert attempt(engine, "nobody-here", PASSWORD) == MESSAGE_WRONG_CREDENTIALS
    assert MESSAGE_WRONG_CREDENTIALS == "IDまたはパスワードが正しくありません"


def test_an_unknown_login_takes_as_long_as_a_wrong_password(engine: Engine, login: str) -> None:
    def duration(name: str) -> float:
        started = time.perf_counter()
        attempt(engine, name, "wrong password!", NOON - timedelta(days=1))
        return time.perf_counter() - started

    unknown = statistics.median(duration("nobody-here") for _ in range(3))
    known = statistics.median(duration(login) for _ in range(3))
    assert unknown > known * 0.5


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(
    engine: Engine, login: str
) -> None:
    answers = [attempt(engine, login, "wrong password!") for _ in range(MAX_FAILED_ATTEMPTS)]
    assert answers == [MESSAGE_WRONG_CREDENTIALS] * MAX_FAILED_ATTEMPTS
    assert attempt(engine, login, PASSWORD) == MESSAGE_WRONG_CREDENTIALS
    just_before = NOON + LOCKOUT_PERIOD - timedelta(seconds=1)
    assert attempt(engine, login, PASSWORD, just_before) == MESSAGE_WRONG_CREDENTIALS
    assert attempt(engine, login, PASSWORD, NOON + LOCKOUT_PERIOD) == "checker"


def test_a_locked_account_and_an_unknown_login_get_the_same_answer(
    engine: Engine, login: str
) -> None:
    for _ in range(MAX_FAILED_ATTEMPTS):
        attempt(engine, login, "wrong password!")
    locked = attempt(engine, login, PASSWORD)
    unknown = attempt(engine, f"nobody-{uuid.uuid4().hex[:8]}", PASSWORD)
    assert locked == unknown == MESSAGE_WRONG_CREDENTIALS
    with Session(engine) as session:
        user = session.query(User).filter_by(login=login).one()
        # the lock-out still applies, from the client the failures came from
        assert throttle.blocked_until(session, user.id) == NOON + LOCKOUT_PERIOD


def _audited_sign_ins(engine: Engine, after_seq: int) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT * FROM audit.events WHERE seq > :seq AND service = 'auth' ORDER BY seq"),
            {"seq": after_seq},
        )
        return [dict(row) for row in rows.mappings()]


def _chain_head(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT last_seq FROM audit.chain_head")).scalar_one())


def test_refused_sign_ins_are_audited_by_the_sign_in_service_without_login_or_password(
    engine: Engine, auth: ServiceProcess, environment: Environment, login: str
) -> None:
    with Session(engine) as session:
        user_id = str(session.query(User).filter_by(login=login).one().id)
    unknown = f"nobody-{uuid.uuid4().hex[:8]}"
    before = _chain_head(engine)
    staff = StaffSession(environment.pki)
    try:
        answers = []
        for name, password in (
            [(unknown, PASSWORD)] + [(login, "wrong password!")] * 5 + [(login, PASSWORD)]
        ):
            with pytest.raises(grpc.RpcError) as refused_sign_in:
                staff.sign_in(auth.address, name, password)
            answers.append((refused_sign_in.value.code(), refused_sign_in.value.details()))
    finally:
        staff.close()

    assert set(answers) == {(grpc.StatusCode.UNAUTHENTICATED, MESSAGE_WRONG_CREDENTIALS)}
    events = _audited_sign_ins(engine, before)
    assert [(e["actor"], e["role"], e["action"]) for e in events] == (
        [(ANONYMOUS, ANONYMOUS, SIGN_IN_FAILED)]
        + [(user_id, "checker", SIGN_IN_FAILED)] * 4
        + [(user_id, "checker", LOCKED_OUT), (user_id, "checker", SIGN_IN_REFUSED)]
    )
    assert {e["rpc"] for e in events} == {"/subsidy.auth.v1.AuthService/SignIn"}
    stored = repr(events)
    for secret in (login, unknown, PASSWORD, "wrong password!"):
        assert secret not in stored
    assert audit.verify(engine).ok


def test_a_successful_sign_in_resets_the_failure_count(engine: Engine, login: str) -> None:
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        attempt(engine, login, "wrong password!")
    assert attempt(engine, login, PASSWORD) == "checker"
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        assert attempt(engine, login, "wrong password!") == MESSAGE_WRONG_CREDENTIALS
    assert attempt(engine, login, PASSWORD) == "checker"


def test_concurrent_wrong_passwords_are_all_counted(engine: Engine, login: str) -> None:
    threads = [
        threading.Thread(target=attempt, args=(engine, login, "wrong password!"))
        for _ in range(MAX_FAILED_ATTEMPTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert attempt(engine, login, PASSWORD) == MESSAGE_WRONG_CREDENTIALS
    with Session(engine) as session:
        user = session.query(User).filter_by(login=login).one()
        assert throttle.blocked_until(session, user.id) == NOON + LOCKOUT_PERIOD


def test_a_disabled_account_cannot_sign_in_and_looks_like_a_wrong_password(
    engine: Engine, login: str
) -> None:
    with Session(engine) as session:
        session.execute(update(User).where(User.login == login).values(disabled=True))
        session.commit()
    before = _chain_head(engine)
    assert attempt(engine, login, PASSWORD) == MESSAGE_WRONG_CREDENTIALS
    assert [e["action"] for e in _audited_sign_ins(engine, before)] == [SIGN_IN_REFUSED]


def test_a_login_can_be_taken_only_once(engine: Engine, login: str) -> None:
    with Session(engine) as session, pytest.raises(Conflict):
        create_user(session, login.upper(), "operator", PASSWORD)


def test_a_bad_account_lists_every_problem_in_japanese(engine: Engine) -> None:
    with Session(engine) as session, pytest.raises(InvalidArgument) as invalid:
        create_user(session, "x", "superuser", "short")
    assert [v.field for v in invalid.value.violations] == ["login", "role", "password"]


def test_the_stored_hash_is_scrypt_and_not_the_password(engine: Engine, login: str) -> None:
    with Session(engine) as session:
        user = session.query(User).filter_by(login=login).one()
        assert user.password_hash.startswith("scrypt$n=16384,r=8,p=1$")
        assert PASSWORD not in user.password_hash


def test_the_users_add_command_creates_an_account_that_can_sign_in(engine: Engine) -> None:
    parser = argparse.ArgumentParser()
    add_user_arguments(parser)
    name = f"auditor-{uuid.uuid4().hex[:12]}"
    args = parser.parse_args([name, "--role", "auditor", "--password-stdin"])

    def run(password: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = run_users_add(
            args, engine, stdin=io.StringIO(password + "\n"), stdout=out, stderr=err
        )
        return code, out.getvalue(), err.getvalue()

    assert run(PASSWORD)[0] == 0
    assert attempt(engine, name, PASSWORD) == "auditor"
    assert run(PASSWORD) == (1, "", "このIDは既に使われています\n")
    code, _out, err = run("short")
    assert code == 2
    assert "パスワードは12文字以上にしてください" in err


def test_a_staff_token_replayed_over_another_client_certificate_is_refused(
    pki: Pki, address: str, issuer: TokenIssuer
) -> None:
    token = issuer.issue("tanaka01", "checker", certificate=bound_to(pki, "client-admin"))
    assert ask(address, channel_credentials(pki, "client-admin"), token) == b"tanaka01|staff"
    for elsewhere in ("client-other", "review"):
        assert refusal(address, channel_credentials(pki, elsewhere), token) == (
            grpc.StatusCode.UNAUTHENTICATED,
            MESSAGE_WRONG_CERTIFICATE,
        )


def test_a_service_token_over_a_staff_certificate_is_refused(
    pki: Pki, address: str, issuer: TokenIssuer
) -> None:
    token = issuer.issue_for_service("review")
    assert ask(address, channel_credentials(pki, "review"), token) == b"review|service"
    for elsewhere in ("client-admin", "notices"):
        assert refusal(address, channel_credentials(pki, elsewhere), token) == (
            grpc.StatusCode.UNAUTHENTICATED,
            MESSAGE_WRONG_CERTIFICATE,
        )


class Monotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def service_engine(environment: Environment) -> Iterator[Engine]:
    """Intake's own database login, as a service's verifier reads accounts."""
    url = database_url_for(environment.infrastructure.database_url, "svc_intake")
    database = make_engine(url)
    yield database
    database.dispose()


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


@pytest.fixture
def checking_address(
    pki: Pki, signing_key: Ed25519PrivateKey, service_engine: Engine, monotonic: Monotonic
) -> Iterator[str]:
    accounts = AccountStates(service_engine, monotonic=monotonic)
    verifier = AccountCheckingVerifier(TokenVerifier(signing_key.public_key()), accounts)
    with probe_server(pki, verifier) as served:
        yield served


@pytest.mark.parametrize(
    "change",
    [
        {"disabled": True},
        {"locked_until": datetime.now(UTC) + LOCKOUT_PERIOD},
        {"role": "auditor"},
    ],
    ids=["disabled", "locked", "role-changed"],
)
def test_a_token_is_refused_within_seconds_once_its_account_is_disabled_or_locked(
    pki: Pki,
    checking_address: str,
    issuer: TokenIssuer,
    engine: Engine,
    login: str,
    monotonic: Monotonic,
    change: dict[str, Any],
) -> None:
    admin_client = channel_credentials(pki, "client-admin")
    token = issuer.issue(login, "checker", certificate=bound_to(pki, "client-admin"))
    assert ask(checking_address, admin_client, token) == f"{login}|staff".encode()

    with Session(engine) as session:
        session.execute(update(User).where(User.login == login).values(**change))
        session.commit()
    assert ask(checking_address, admin_client, token) == f"{login}|staff".encode()  # cached
    monotonic.now += 5

    assert refusal(checking_address, admin_client, token) == (
        grpc.StatusCode.UNAUTHENTICATED,
        MESSAGE_INVALID,
    )


def test_a_token_naming_a_login_that_does_not_exist_is_refused(
    pki: Pki, checking_address: str, issuer: TokenIssuer
) -> None:
    admin_client = channel_credentials(pki, "client-admin")
    token = issuer.issue(f"nobody-{uuid.uuid4().hex[:8]}", "admin")
    assert refusal(checking_address, admin_client, token) == (
        grpc.StatusCode.UNAUTHENTICATED,
        MESSAGE_INVALID,
    )
    service_token = issuer.issue_for_service("review")  # services are not accounts
    assert ask(checking_address, channel_credentials(pki, "review"), service_token) == (
        b"review|service"
    )


def test_a_service_reads_the_narrow_view_of_accounts_but_never_the_accounts(
    service_engine: Engine, login: str
) -> None:
    with service_engine.connect() as connection:
        row = connection.execute(
            text("SELECT * FROM auth.active_logins WHERE login = :login"), {"login": login}
        ).one()
    assert set(row._mapping) == {"login", "role", "disabled", "locked_until", "tokens_valid_from"}
    with (
        pytest.raises(ProgrammingError, match="permission denied"),
        service_engine.connect() as connection,
    ):
        connection.execute(text("SELECT password_hash FROM auth.users"))


def test_the_sign_in_service_binds_its_token_to_the_client_certificate_it_came_over(
    auth: ServiceProcess, environment: Environment, login: str
) -> None:
    state_dir = environment.settings.state_dir
    pki = ensure_pki(state_dir, [], clients=["console", "other"])
    session = StaffSession(pki)
    try:
        token = session.sign_in(auth.address, login, PASSWORD).token
    finally:
        session.close()
    verifier = TokenVerifier(load_public_key(state_dir))
    assert verifier.verify(token).certificate == bound_to(pki, "client-console")

    with probe_server(pki, verifier) as served:
        assert ask(served, channel_credentials(pki, "client-console"), token) == (
            f"{login}|staff".encode()
        )
        assert refusal(served, channel_credentials(pki, "client-other"), token) == (
            grpc.StatusCode.UNAUTHENTICATED,
            MESSAGE_WRONG_CERTIFICATE,
        )
