"""Encryption of personal data at rest, and blind indexes to find it again.

Values are encrypted with MultiFernet over `FIELD_ENCRYPTION_KEYS` (newest key first: it encrypts,
all keys decrypt). Exact look-up and duplicate detection use an HMAC-SHA256 "blind index" of the
normalised value. The HMAC key is derived from each Fernet key, so rotation needs no extra secret:
a look-up matches the index under any configured key, and `rotate_encryption_keys` rewrites both
ciphertexts and indexes under the newest key.
"""

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

_INDEX_CONTEXT = b"privacy-desk blind index v1"


class DecryptionError(Exception):
    """A stored value cannot be decrypted with any configured key."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


@lru_cache(maxsize=4)
def _index_keys(keys: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(hmac.new(key.encode(), _INDEX_CONTEXT, hashlib.sha256).digest() for key in keys)


def _keys() -> tuple[str, ...]:
    return tuple(settings.FIELD_ENCRYPTION_KEYS)


def encrypt(plaintext: str) -> str:
    return _fernet(_keys()).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(_keys()).decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "A stored value cannot be decrypted with FIELD_ENCRYPTION_KEYS: was a key removed?"
        ) from None


def encrypt_bytes(plaintext: bytes) -> bytes:
    """A file's bytes as one Fernet token (files stored here are small: attachments)."""
    return _fernet(_keys()).encrypt(plaintext)


def decrypt_bytes(token: bytes) -> bytes:
    try:
        return _fernet(_keys()).decrypt(token)
    except InvalidToken:
        raise DecryptionError(
            "A stored file cannot be decrypted with FIELD_ENCRYPTION_KEYS: was a key removed?"
        ) from None


def rotate_bytes(token: bytes) -> bytes:
    """The same plaintext as a token under the newest key (for `rotate_encryption_keys`)."""
    try:
        return _fernet(_keys()).rotate(token)
    except InvalidToken:
        raise DecryptionError(
            "A stored file cannot be decrypted with FIELD_ENCRYPTION_KEYS: was a key removed?"
        ) from None


def normalise(value: str) -> str:
    """The form the blind index is computed on: trimmed and case-folded."""
    return value.strip().casefold()


def blind_index(value: str, *, key_position: int = 0) -> str:
    """HMAC of the normalised value under the newest key (or the key at `key_position`)."""
    key = _index_keys(_keys())[key_position]
    return hmac.new(key, normalise(value).encode(), hashlib.sha256).hexdigest()


def blind_index_candidates(value: str) -> list[str]:
    """The index of `value` under every configured key, for look-ups during a key rotation."""
    return [blind_index(value, key_position=i) for i in range(len(_keys()))]


class EncryptedTextField(models.TextField):
    """A text field stored as a Fernet token; Python code only ever sees the plaintext.

    Encrypted values cannot be filtered or ordered in SQL: look them up through a blind index.
    """

    description = "Text encrypted at rest with FIELD_ENCRYPTION_KEYS"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)
