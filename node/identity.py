"""The node's long-lived Ed25519 identity.

A node's libp2p peer ID is derived from its Ed25519 public key and is its
identity everywhere: ads, signed envelopes, trust scores, training rounds. The
key is therefore created once (on first start) in ``DATA_DIR/identity.key`` and
reused forever after. A key file that cannot be read is an error, never a
reason to mint a new key: that would change the peer ID and lose the node's
reputation.

The file is PKCS#8 PEM (unencrypted) so standard tools (``openssl pkey``) can
inspect it; it is written atomically (temp file, fsync, link/rename) with mode
0600 from the moment it exists.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID

from .errors import IdentityError

__all__ = [
    "KEY_FILENAME",
    "NodeIdentity",
    "create_identity",
    "identity_key_path",
    "load_identity",
    "load_or_create_identity",
]

KEY_FILENAME = "identity.key"
_MAX_KEY_FILE_BYTES = 64 * 1024  # a PEM Ed25519 key is ~120 bytes; refuse to slurp junk
_log = logging.getLogger(__name__)


def identity_key_path(data_dir: Path) -> Path:
    """Where the node's key lives inside its data directory."""
    return Path(data_dir) / KEY_FILENAME


class NodeIdentity:
    """One node's key pair, viewed both as a cryptography key and as a libp2p key.

    Both views are built from the same 32-byte seed, so a signature made by
    the libp2p host verifies with :attr:`private_key`'s public key and vice versa.
    """

    __slots__ = ("_key_pair", "_peer_id", "key_path", "private_key")

    def __init__(self, private_key: Ed25519PrivateKey, key_path: Path) -> None:
        self.private_key = private_key
        self.key_path = Path(key_path)
        seed = private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        try:
            key_pair = create_new_key_pair(seed)
        except ValueError as exc:  # libp2p refuses seeds giving invalid points
            raise IdentityError(f"{self.key_path}: key rejected by libp2p: {exc}") from exc
        expected = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        if key_pair.public_key.to_bytes() != expected:
            raise IdentityError(
                f"{self.key_path}: libp2p derived a different public key from this seed"
            )
        self._key_pair = key_pair
        self._peer_id = ID.from_pubkey(key_pair.public_key)

    def libp2p_key_pair(self) -> KeyPair:
        """The libp2p ``KeyPair`` for ``new_host(key_pair=...)`` and Noise."""
        return self._key_pair

    @property
    def peer_id(self) -> ID:
        """The libp2p peer ID (identity multihash of the public key)."""
        return self._peer_id

    @property
    def peer_id_b58(self) -> str:
        """The peer ID as printed everywhere (``12D3KooW...``)."""
        return self._peer_id.to_base58()

    @property
    def public_key_bytes(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._key_pair.public_key.to_bytes()

    def __repr__(self) -> str:  # never show key material
        return f"NodeIdentity(peer_id={self.peer_id_b58!r}, key_path={str(self.key_path)!r})"


def load_identity(data_dir: Path) -> NodeIdentity:
    """Load the existing key; :class:`IdentityError` naming the file if it is unusable.

    A key file readable by group or others is fixed to 0600 with a warning
    (refusing to start would not un-expose the key; the owner should rotate it
    if the machine is shared).
    """
    path = identity_key_path(data_dir)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise IdentityError(
            f"no identity key at {path}; start the node once to create one, "
            "or restore the file from a backup to keep the old peer ID"
        ) from None
    except OSError as exc:
        raise IdentityError(f"cannot open identity key {path}: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise IdentityError(f"identity key {path} is not a regular file")
        _tighten_permissions(fd, path, info.st_mode)
        data = os.read(fd, _MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise IdentityError(f"cannot read identity key {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if len(data) > _MAX_KEY_FILE_BYTES:
        raise IdentityError(f"identity key {path} is too large to be a key file")
    return NodeIdentity(_parse_private_key(data, path), path)


def create_identity(data_dir: Path, force: bool = False) -> NodeIdentity:
    """Generate and persist a new key; refuses to replace an existing one unless ``force``."""
    data_dir = Path(data_dir)
    path = identity_key_path(data_dir)
    if os.path.lexists(path) and not force:
        # _KeyAppeared is an IdentityError with the same message for `keys new`; for
        # load_or_create_identity it means another starter created the key since its check.
        raise _KeyAppeared(
            f"key exists at {path}; replacing it changes this node's peer ID "
            "and loses its reputation. Use --force to replace it anyway"
        )
    _ensure_private_dir(data_dir)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_new_file(path, pem, replace=force)
    _log.info("created node identity at %s", path)
    return NodeIdentity(key, path)


def load_or_create_identity(data_dir: Path) -> NodeIdentity:
    """The daemon's entry point: reuse the key if the file exists, else create it.

    An existing but broken key file raises; it is never replaced silently.
    """
    path = identity_key_path(data_dir)
    if os.path.lexists(path):
        return load_identity(data_dir)
    try:
        return create_identity(data_dir)
    except _KeyAppeared:
        # Another process created it between our check and our link: use theirs.
        return load_identity(data_dir)


# --- private helpers ----------------------------------------------------------


class _KeyAppeared(IdentityError):
    """The key file came into existence while we were writing ours."""


def _parse_private_key(data: bytes, path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:  # encrypted PEM
        raise IdentityError(
            f"identity key {path} is password-protected; peermind needs an unencrypted "
            "PKCS#8 key (chmod 0600 protects it)"
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise IdentityError(
            f"identity key {path} is corrupt or not a PEM private key ({exc}); "
            "restore it from a backup. It was NOT replaced: a new key means a new peer ID"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError(
            f"identity key {path} holds a non-Ed25519 key ({type(key).__name__}); "
            "peermind identities are Ed25519 keys"
        )
    return key


def _tighten_permissions(fd: int, path: Path, mode: int) -> None:
    if os.name == "nt" or not mode & 0o077:
        return
    _log.warning(
        "identity key %s had permissions %o (readable by others); setting 0600. "
        "Consider rotating the key if other users had access.",
        path,
        stat.S_IMODE(mode),
    )
    try:
        os.fchmod(fd, 0o600)
    except OSError as exc:
        _log.error("could not chmod 0600 %s: %s", path, exc)


def _ensure_private_dir(data_dir: Path) -> None:
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise IdentityError(
            f"cannot create data directory {data_dir}: {exc.strerror or exc}"
        ) from exc


def _write_new_file(path: Path, data: bytes, *, replace: bool) -> None:
    """Write ``data`` to ``path`` atomically, mode 0600 from the start.

    The bytes go to a temp file in the same directory (created 0600, fsynced),
    which is then hard-linked into place (fails if ``path`` exists, so two
    concurrent first starts cannot overwrite each other) or, with ``replace``,
    renamed over it. The directory is fsynced so the new name survives a crash.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            if os.name != "nt":
                os.fchmod(fd, 0o600)  # umask can only tighten, but be explicit
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise _KeyAppeared(
                    f"key exists at {path}; another process created it. Use --force to replace it"
                ) from None
        _fsync_dir(path.parent)
    except OSError as exc:
        raise IdentityError(f"cannot write identity key {path}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _fsync_dir(directory: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
