"""Ed25519 keys, C2SP key identities, key files and signatures (ledger.wire.keys).

The known answers are the PeterNeumann vectors of the Go reference implementation of signed
notes (golang.org/x/mod/sumdb/note, note_test.go): if liuhen's key IDs, verifier-key text and
signatures match them byte for byte, other note tools read liuhen's keys and checkpoints.
Key files are real files in a temporary directory.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import BadSignature, ConfigurationError, KeyFileError
from ledger.wire.keys import PublicKey, SigningKey, check_key_name, key_hash

SETTINGS = settings(max_examples=40, deadline=None)

# golang.org/x/mod/sumdb/note note_test.go
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY_B64 = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"  # from "PRIVATE+KEY+PeterNeumann+c74f20a3+..."
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_SIG_B64 = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="

KEY_NAMES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc"), blacklist_characters="+"),
    min_size=1,
    max_size=24,
)


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def go_signing_key() -> SigningKey:
    seed = base64.b64decode(GO_SKEY_B64)
    assert seed[0] == 0x01
    return SigningKey("PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed[1:]))


# --- C2SP known answers -------------------------------------------------------------------------


def test_go_verifier_key_parses_with_its_key_id_and_round_trips_exactly() -> None:
    """The Go note test key parses, its key ID is c74f20a3, and verifier_text reproduces it."""
    key = PublicKey.from_verifier_text(GO_VKEY)
    assert key.name == "PeterNeumann"
    assert key.raw == base64.b64decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")[1:]
    assert key.key_hash.hex() == "c74f20a3"
    assert key.key_hash == hashlib.sha256(b"PeterNeumann\n\x01" + key.raw).digest()[:4]
    assert key.key_id == "PeterNeumann+c74f20a3"
    assert key.verifier_text == GO_VKEY
    assert PublicKey.from_verifier_text(GO_VKEY + "\n") == key


def test_go_signature_verifies_and_is_reproduced_by_the_go_private_key() -> None:
    """The Go note's signature (key ID || Ed25519) verifies under the Go key, and signing the same
    text with the Go private key gives the same bytes (Ed25519 is deterministic)."""
    blob = base64.b64decode(GO_SIG_B64)
    key = PublicKey.from_verifier_text(GO_VKEY)
    assert blob[:4] == key.key_hash
    assert key.verify(blob[4:], GO_TEXT) is None
    signer = go_signing_key()
    assert signer.public == key
    assert signer.sign(GO_TEXT) == blob[4:]


@pytest.mark.parametrize(
    "text",
    [
        GO_VKEY.replace("+c74f20a3+", "+c74f20a4+"),  # wrong key ID
        GO_VKEY.replace("+c74f20a3+", "+00000000+"),
        GO_VKEY.replace("PeterNeumann", "PeterNeumanN"),  # the ID binds the name
        GO_VKEY[:-1] + "X",  # another key under the same ID
        GO_VKEY.replace("+ARpc", "+Ahpc"),  # algorithm byte 0x02, not Ed25519
        GO_VKEY.replace("+ARpc", "+AR*c"),  # not base64
        GO_VKEY[:-4],  # key too short
        "PeterNeumann+c74f20a3",  # two parts
        GO_VKEY + "+extra",  # four parts
        "",
    ],
)
def test_malformed_or_inconsistent_verifier_key_text_raises_key_file_error(text: str) -> None:
    """A verifier key whose ID, name, algorithm or encoding is wrong is refused."""
    with pytest.raises(KeyFileError):
        PublicKey.from_verifier_text(text)


@SETTINGS
@given(name=KEY_NAMES, seed=st.binary(min_size=32, max_size=32))
def test_verifier_text_round_trips_and_key_id_follows_c2sp(name: str, seed: bytes) -> None:
    """For any valid name and key: key ID = SHA-256(name || 0x0A || 0x01 || key)[:4], and the
    verifier text name+hex+base64(0x01 || key) parses back to the same key."""
    check_key_name(name)
    key = SigningKey(name, Ed25519PrivateKey.from_private_bytes(seed)).public
    expected_id = hashlib.sha256(name.encode() + b"\n\x01" + key.raw).digest()[:4]
    assert key_hash(name, key.raw) == key.key_hash == expected_id
    encoded = base64.b64encode(b"\x01" + key.raw).decode()
    assert key.verifier_text == f"{name}+{expected_id.hex()}+{encoded}"
    assert PublicKey.from_verifier_text(key.verifier_text) == key


# A key whose base64 form contains '+' (about half of all Ed25519 keys do).
PLUS_KEY = SigningKey("0", Ed25519PrivateKey.from_private_bytes(bytes(31) + b"\x03")).public


def test_verifier_text_whose_base64_contains_plus_round_trips() -> None:
    """The base64 part may contain '+': only the first two '+' separate name, ID and key
    (as in Go's note.NewVerifier); otherwise about half of all keys could not be read back."""
    assert "+" in PLUS_KEY.verifier_text.split("+", 2)[2]
    assert PublicKey.from_verifier_text(PLUS_KEY.verifier_text) == PLUS_KEY


@pytest.mark.parametrize("name", ["", "two words", "a+b", "tab\there", "line\nbreak"])
def test_invalid_key_names_are_refused(name: str) -> None:
    """Key names must be non-empty, without whitespace or '+' (they are note key names)."""
    with pytest.raises(ConfigurationError):
        check_key_name(name)
    with pytest.raises(ConfigurationError):
        SigningKey.generate(name)


# --- signatures ---------------------------------------------------------------------------------

SIGNER = SigningKey.generate("vms-test")


@SETTINGS
@given(message=st.binary(max_size=200), data=st.data())
def test_signature_verifies_and_any_change_raises_bad_signature(message: bytes, data: st.DataObject) -> None:
    """verify returns None for the right signature; a changed message or a changed signature
    raises BadSignature (never returns False)."""
    signature = SIGNER.sign(message)
    key = SIGNER.public
    assert len(signature) == 64
    assert key.verify(signature, message) is None

    changed_message = data.draw(st.binary(max_size=200).filter(lambda m: m != message))
    with pytest.raises(BadSignature) as caught:
        key.verify(signature, changed_message)
    assert caught.value.reason == "bad_signature"
    assert key.key_id in str(caught.value)

    pos = data.draw(st.integers(0, 63))
    delta = data.draw(st.integers(1, 255))
    changed_signature = signature[:pos] + bytes([signature[pos] ^ delta]) + signature[pos + 1 :]
    with pytest.raises(BadSignature):
        key.verify(changed_signature, message)


@pytest.mark.parametrize("signature", [b"", b"\x00" * 63, b"\x00" * 65, b"\x00" * 64])
def test_malformed_signature_raises_bad_signature(signature: bytes) -> None:
    """Signatures of the wrong length, or all zeros, raise BadSignature, not a library error."""
    with pytest.raises(BadSignature):
        SIGNER.public.verify(signature, b"message")


def test_verify_with_a_malformed_public_key_raises_bad_signature() -> None:
    """A public key that is not 32 bytes cannot verify anything: BadSignature, not ValueError."""
    with pytest.raises(BadSignature):
        PublicKey("broken", b"\x01" * 31).verify(SIGNER.sign(b"message"), b"message")


def test_signature_under_another_key_raises_bad_signature() -> None:
    """A valid signature by one key does not verify under another key."""
    other = SigningKey.generate("vms-other")
    with pytest.raises(BadSignature):
        other.public.verify(SIGNER.sign(b"message"), b"message")


# --- key files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("passphrase", [None, b"correct horse battery staple"])
def test_signing_key_save_load_round_trip_with_mode_0600(tmp_path: Path, passphrase: bytes | None) -> None:
    """save writes a 0600 file (even under a permissive umask); load gives back the same key and
    name, and the loaded key's signatures verify under the original public key."""
    key = SigningKey.generate("ledger")
    path = tmp_path / "ledger.key"
    with umask(0):
        key.save(path, passphrase=passphrase)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = SigningKey.load(path, passphrase=passphrase)
    assert loaded.name == "ledger"
    assert loaded.public == key.public
    assert key.public.verify(loaded.sign(b"checkpoint"), b"checkpoint") is None


def test_encrypted_key_file_holds_no_plaintext_key_and_needs_its_passphrase(tmp_path: Path) -> None:
    """With a passphrase the PEM is encrypted; loading without it or with a wrong one is refused."""
    path = tmp_path / "ledger.key"
    SigningKey.generate("ledger").save(path, passphrase=b"secret")
    content = path.read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in content
    with pytest.raises(KeyFileError):
        SigningKey.load(path)
    with pytest.raises(KeyFileError):
        SigningKey.load(path, passphrase=b"wrong")


def test_unencrypted_key_file_is_plain_pkcs8(tmp_path: Path) -> None:
    """Without a passphrase the file is a name line followed by an unencrypted PKCS#8 PEM."""
    path = tmp_path / "ledger.key"
    SigningKey.generate("ledger").save(path)
    first, _, pem = path.read_bytes().partition(b"\n")
    assert first == b"liuhen-key-name: ledger"
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o700])
def test_load_refuses_a_key_file_others_can_access_naming_chmod(tmp_path: Path, mode: int) -> None:
    """A private key with any group or other permission bit is refused with a chmod hint."""
    path = tmp_path / "ledger.key"
    SigningKey.generate("ledger").save(path)
    path.chmod(mode)
    if mode & 0o077:
        with pytest.raises(KeyFileError, match=r"chmod 600"):
            SigningKey.load(path)
    else:
        assert SigningKey.load(path).name == "ledger"


def test_save_refuses_to_overwrite_an_existing_key(tmp_path: Path) -> None:
    """save never replaces a file: KeyFileError, and the existing key is left intact."""
    path = tmp_path / "ledger.key"
    first = SigningKey.generate("ledger")
    first.save(path)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        SigningKey.generate("ledger").save(path)
    assert path.read_bytes() == before
    assert SigningKey.load(path).public == first.public


def test_load_of_a_missing_or_foreign_file_raises_key_file_error(tmp_path: Path) -> None:
    """A missing file, or a 0600 file that is not a liuhen key, is a KeyFileError."""
    with pytest.raises(KeyFileError, match="cannot read private key"):
        SigningKey.load(tmp_path / "absent.key")
    foreign = tmp_path / "foreign.key"
    foreign.write_text("-----BEGIN PRIVATE KEY-----\n")
    foreign.chmod(0o600)
    with pytest.raises(KeyFileError, match="no key-name line"):
        SigningKey.load(foreign)


def test_public_key_file_round_trip(tmp_path: Path) -> None:
    """PublicKey.save writes the one-line verifier text; load reads it back."""
    path = tmp_path / "ledger.pub"
    key = SigningKey.generate("ledger").public
    key.save(path)
    assert path.read_text() == key.verifier_text + "\n"
    assert PublicKey.load(path) == key
    with pytest.raises(KeyFileError, match="cannot read public key"):
        PublicKey.load(tmp_path / "absent.pub")
