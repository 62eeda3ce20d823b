"""Personal data at rest: Fernet encryption, and a keyed hash (HMAC-SHA256) for the duplicate check.

Keys rotate without downtime (`jobbridge rotate-keys`, ADR 0014): the vault is built from a list of Fernet
keys, the first current. It encrypts under the first and decrypts under any (MultiFernet). Each Fernet key
has its own hash key, derived from it; the duplicate check looks for the current hash and, while older keys
are configured, the older hashes too, so that a worker stored before the rotation is still found.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


def _hash_key(key: str) -> bytes:
    # A separate key for hashing, derived so that the hash cannot be used to test guesses without the key.
    return hashlib.sha256(b"jobbridge-lookup:" + key.encode()).digest()


class Vault:
    def __init__(self, keys: str | Sequence[str]):
        if isinstance(keys, str):
            keys = [k.strip() for k in keys.split(",") if k.strip()]
        if not keys:
            raise ValueError("a vault needs at least one key")
        self._current = Fernet(keys[0].encode())
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        self._hash_keys = [_hash_key(k) for k in keys]

    @property
    def rotating(self) -> bool:
        """Whether older keys are configured beside the current one."""
        return len(self._hash_keys) > 1

    def encrypt(self, value: str | None) -> str | None:
        if value is None:
            return None
        return self._current.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str | None) -> str | None:
        if token is None:
            return None
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ValueError("personal data cannot be decrypted with the configured key") from None

    def is_current(self, token: str | None) -> bool:
        """Whether `token` is encrypted under the current key (None: nothing to rotate)."""
        if token is None:
            return True
        try:
            self._current.decrypt(token.encode("ascii"))
        except InvalidToken:
            return False
        return True

    def rotate(self, token: str | None) -> str | None:
        """The same value encrypted under the current key."""
        if token is None:
            return None
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise ValueError("personal data cannot be decrypted with the configured key") from None

    def lookup_hash(self, value: str) -> str:
        return hmac.new(self._hash_keys[0], value.encode("utf-8"), hashlib.sha256).hexdigest()

    def older_hashes(self, value: str) -> list[str]:
        """The value's hash under each older key (empty unless a rotation is under way)."""
        return [hmac.new(k, value.encode("utf-8"), hashlib.sha256).hexdigest() for k in self._hash_keys[1:]]
