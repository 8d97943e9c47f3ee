"""Tokens at rest are Fernet ciphertexts (AES-128-CBC + HMAC-SHA256), never plaintext.

`QBO_TOKEN_KEY` may list several keys separated by commas: the first encrypts, all decrypt, so a
key can be rotated without a migration (MultiFernet).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, MultiFernet


class TokenCipher:
    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ValueError("QBO_TOKEN_KEY is empty")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])

    def encrypt(self, value: str) -> bytes:
        return self._fernet.encrypt(value.encode())

    def decrypt(self, value: bytes) -> str:
        return self._fernet.decrypt(bytes(value)).decode()

    def maybe_encrypt(self, value: str | None) -> bytes | None:
        return None if value is None else self.encrypt(value)

    def maybe_decrypt(self, value: bytes | None) -> str | None:
        return None if value is None else self.decrypt(value)
