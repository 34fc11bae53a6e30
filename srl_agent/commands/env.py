"""`srl-agent env` (placeholder until its issue lands: the command group exists so --help lists it)."""

from __future__ import annotations


def register(sub) -> None:
    sub.add_parser("env", help="(coming with a later issue)")
