"""Check the audit trail's hash chain: exit 0 when intact, 1 naming the first broken event."""

import re

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.audit import (
    VERIFIED_ACTION,
    Actor,
    ChainHead,
    VerifyResult,
    check_anchor,
    record,
    verify_chain,
)

_ANCHOR = re.compile(r"^(\d+):([0-9a-f]{64})$")


def parse_anchor(value: str) -> ChainHead:
    match = _ANCHOR.match(value.strip().lower())
    if not match:
        raise CommandError(
            f"--expect-head must be SEQ:HASH (a number, a colon, 64 hex digits), not '{value}'."
        )
    return ChainHead(int(match[1]), match[2])


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chain. Prints 'Audit chain intact: N events, head HASH' "
        "and exits 0, or names the first event that breaks the chain and exits 1."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--expect-head",
            metavar="SEQ:HASH",
            help="Also check that event SEQ still has HASH: the head stamped on an earlier "
            "export or case file. Catches events deleted from the end of the chain.",
        )
        parser.add_argument(
            "--record",
            action="store_true",
            dest="record_result",
            help="Record the outcome in the trail, as the scheduled check does (the admin home "
            "page shows the latest).",
        )

    def handle(self, *args, expect_head: str | None, record_result: bool, **options) -> None:
        anchor = parse_anchor(expect_head) if expect_head else None
        result = verify_chain()
        if record_result:
            _record(result)
        if not result.ok:
            self._fail(result.message)
        if anchor is not None:
            problem = check_anchor(anchor)
            if problem:
                self._fail(f"Audit chain does not hold the expected head #{anchor.seq}: {problem}")
        self.stdout.write(result.message)
        if anchor is not None:
            self.stdout.write(f"Expected head #{anchor.seq} is in the chain, unchanged.")

    def _fail(self, message: str) -> None:
        self.stderr.write(message)
        raise SystemExit(1)


def _record(result: VerifyResult) -> None:
    record(VERIFIED_ACTION, actor=Actor.system("verify_audit command"), details=result.as_details())
