"""`create_api_client NAME`: a new API client; its key is the last line of output.

The key (and the webhook signing secret) are shown only now: the database keeps a hash of the
key and the secret encrypted. Scripts can take the key with `... | tail -n 1`.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cases.api import clients
from cases.audit import Actor
from cases.choices import ApiScope
from cases.models import ApiClient

DEFAULT_SCOPES = [ApiScope.CASES_READ, ApiScope.CASES_WRITE, ApiScope.RESULTS_READ]


class Command(BaseCommand):
    help = "Create an API client and print its key (shown once) as the last line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="A unique name, e.g. the ticketing system's.")
        parser.add_argument(
            "--scopes", nargs="+", choices=ApiScope.values, default=list(DEFAULT_SCOPES),
            help=f"Default: {' '.join(DEFAULT_SCOPES)}. Add cases:all to see every case.",
        )
        parser.add_argument("--webhook-url", default="", help="Where status changes are POSTed.")

    def handle(self, *args, name: str, scopes: list[str], webhook_url: str, **options) -> None:
        client = ApiClient(name=name, scopes=sorted(set(scopes)), webhook_url=webhook_url)
        try:
            credentials = clients.create_client(client, actor=Actor.system("create_api_client"))
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(msgs)}"
                                 for field, msgs in exc.message_dict.items())
            raise CommandError(problems) from None
        self.stdout.write(f"Created API client {client.name!r} (id {client.pk}) "
                          f"with scopes: {', '.join(client.scopes)}.")
        if client.webhook_url:
            self.stdout.write("Webhook signing secret (verify X-PrivacyDesk-Signature with it):")
            self.stdout.write(credentials.webhook_secret)
        self.stdout.write("API key (shown once; send it as `Authorization: Api-Key <key>`):")
        self.stdout.write(credentials.key)
