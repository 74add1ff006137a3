"""How the administrator's and auditor's commands sign in (`subsidy-admin users`, `audit`).

Like every staff tool (subsidy_platform.staff_client), a command signs in at the platform's
sign-in service (`--auth-server`, default `AUTH_ADDRESS` or 127.0.0.1:50050) with `--login`
(asked when not given) and a password asked for with getpass, never taken from the command
line; `--password-stdin` reads it, and any further secret the command needs, from lines of
standard input instead (scripts, tests). The channel is mutual TLS under the staff client
certificate of the state folder's PKI (`--pki DIR` to name another).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from subsidy_platform.clients import service_addresses
from subsidy_platform.config import Settings
from subsidy_platform.staff_client import StaffSession
from subsidy_platform.tls import Pki


def add_sign_in_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--auth-server", default=None, help="sign-in service host:port")
    parser.add_argument("--login", default=None, help="your sign-in ID (default: ask)")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password (and any new password) from lines of standard input",
    )
    parser.add_argument("--pki", type=Path, default=None, help="folder of ca.crt, client certs")


class Secrets:
    """Secrets asked for with getpass, or read line by line from standard input."""

    def __init__(self, from_stdin: bool, stdin: TextIO | None = None) -> None:
        self._from_stdin = from_stdin
        self._stdin = stdin

    def ask(self, prompt: str) -> str:
        if self._from_stdin:
            return (self._stdin or sys.stdin).readline().rstrip("\r\n")
        return getpass.getpass(prompt)


@contextmanager
def signed_in(args: argparse.Namespace, secrets: Secrets) -> Iterator[tuple[StaffSession, str]]:
    """A staff session signed in as `args.login`, and the sign-in service's address."""
    address = args.auth_server or service_addresses()["auth"]
    pki = Pki(args.pki or Settings.from_env().state_dir / "pki")
    login = args.login or input("ID: ")
    password = secrets.ask("パスワード: ")
    session = StaffSession(pki)
    try:
        session.sign_in(address, login, password)
        yield session, address
    finally:
        session.close()


Command = Callable[[StaffSession, str, argparse.Namespace], int]
