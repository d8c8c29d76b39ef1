"""Shared fixtures: a few named users and a `make_case(**overrides)` helper."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from cases import services
from cases.audit import Actor

DEFAULT_IDENTITIES = [
    {"namespace": "email", "value": "ada.lovelace@example.org", "type": "standard"},
    {"namespace": "ecid", "value": "44363657679975868102109072127", "type": "standard"},
]


@pytest.fixture
def officer(db) -> User:
    user = User.objects.create_user("olivia", password="correct horse battery", is_staff=True)
    user.groups.add(Group.objects.get(name="Compliance officer"))
    return user


@pytest.fixture
def auditor(db) -> User:
    user = User.objects.create_user("arthur", password="correct horse battery", is_staff=True)
    user.groups.add(Group.objects.get(name="Auditor"))
    return user


@pytest.fixture
def system_actor() -> Actor:
    return Actor.system("tests")


@pytest.fixture
def make_case(db, system_actor):
    def make(**overrides):
        fields = {
            "regulation": "gdpr",
            "actions": ["access", "delete"],
            "subject_name": "Ada Lovelace",
            "subject_email": "ada.lovelace@example.org",
            "identities": DEFAULT_IDENTITIES,
            "received_at": timezone.now() - dt.timedelta(days=1),
        }
        fields.update(overrides)
        return services.create_case(actor=fields.pop("actor", system_actor), **fields)

    return make
