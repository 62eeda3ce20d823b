"""Personal data at rest: Fernet encryption, and a keyed hash (HMAC-SHA256) for the duplicate check."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken


class Vault:
    def __init__(self, key: str):
        self._fernet = Fernet(key.encode())
        # A separate key for hashing, derived so that the hash cannot be used to test guesses without the key.
        self._hash_key = hashlib.sha256(b"jobbridge-lookup:" + key.encode()).digest()

    def encrypt(self, value: str | None) -> str | None:
        if value is None:
            return None
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str | None) -> str | None:
        if token is None:
            return None
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ValueError("personal data cannot be decrypted with the configured key") from None

    def lookup_hash(self, value: str) -> str:
        return hmac.new(self._hash_key, value.encode("utf-8"), hashlib.sha256).hexdigest()
