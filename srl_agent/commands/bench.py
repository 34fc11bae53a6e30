"""`srl-agent bench` (placeholder until its issue lands: the command group exists so --help lists it)."""

from __future__ import annotations


def register(sub) -> None:
    sub.add_parser("bench", help="(coming with a later issue)")
