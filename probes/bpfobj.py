"""The compiled object (what BCC made of sniff.bpf.c) on disk, and the cache that keeps it
per kernel so that a start compiles nothing.

File: MAGIC, the sha256 (hex) of the rest, a newline, then a 4-byte header length, the JSON
header (cache key, license, maps, programs with their code's offset, length and relocations)
and the programs' instructions. No pickle: a damaged or foreign file is data, never code.

The cache entry's name is its key, a hash of everything that changes what the compiler makes:
the BPF sources, the cflags (BTF offsets, CPU count, ring size, options), BCC's version and the
running kernel's BTF. Entries are written to a temporary file and renamed (two first starts at
once each write a whole entry; the last rename wins), owned by root, mode 0600 in a 0700
directory. An entry that is truncated, damaged, foreign (owner, mode) or for another key is
never loaded: the caller compiles again and replaces it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import stat
import struct
import tempfile
from pathlib import Path
from typing import Callable, Optional

from . import abi

MAGIC = b"SNIFFOBJ2\n"
FORMAT = 2
LD_IMM64, PSEUDO_MAP_FD = 0x18, 1
DEFAULT_DIR = "/var/cache/sniff-tui"


class ObjectError(Exception):
    """Why a cache entry was not used (said with -v)."""


def serialize(obj: dict, key: str) -> bytes:
    blob, progs = bytearray(), []
    for p in obj["programs"]:
        progs.append({"name": p["name"], "offset": len(blob), "size": len(p["code"]), "relocs": p["relocs"]})
        blob += p["code"]
    header = json.dumps({"format": FORMAT, "key": key, "license": obj["license"],
                         "maps": obj["maps"], "programs": progs}, separators=(",", ":")).encode()
    body = struct.pack("<I", len(header)) + header + bytes(blob)
    return MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def parse(data: bytes, key: Optional[str] = None) -> dict:
    head = len(MAGIC) + 65
    if not data.startswith(MAGIC) or len(data) < head + 4:
        raise ObjectError("not a compiled object (or truncated)")
    body = data[head:]
    if hashlib.sha256(body).hexdigest().encode() != data[len(MAGIC):head - 1]:
        raise ObjectError("its hash does not match its content (truncated or damaged)")
    (size,) = struct.unpack_from("<I", body)
    try:
        header = json.loads(body[4:4 + size])
    except ValueError:
        raise ObjectError("unreadable header") from None
    if header.get("format") != FORMAT or (key is not None and header.get("key") != key):
        raise ObjectError("made for other sources, options or kernel (stale)")
    code = body[4 + size:]
    for p in header["programs"]:
        p["code"] = code[p["offset"]:p["offset"] + p["size"]]
        if len(p["code"]) != p["size"]:
            raise ObjectError("truncated")
    return header


def relocated(program: dict, map_fds: list[int]) -> bytes:
    """The program's instructions with our maps' fds where BCC's were."""
    code = bytearray(program["code"])
    for insn, index in program["relocs"]:
        struct.pack_into("<i", code, 8 * insn + 4, map_fds[index])
    return bytes(code)


# ---- the key -----------------------------------------------------------------------------

def _bcc_identity() -> str:
    """BCC's version and library, read from files: importing bcc would map LLVM."""
    spec = importlib.util.find_spec("bcc")
    if spec is None or not spec.submodule_search_locations:
        return "no-bcc"
    base = Path(list(spec.submodule_search_locations)[0])
    try:
        version = (base / "version.py").read_text()
    except OSError:
        version = "?"
    return version.strip()


def _file_hash(path: str) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        h.update(f"unreadable {exc.errno}".encode())
    return h.hexdigest()


def cache_key(cflags: list[str], btf_path: str, sources: Path = abi.BPF_DIR) -> str:
    h = hashlib.sha256(MAGIC)
    for path in sorted(sources.iterdir()):
        if path.is_file():
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(json.dumps(cflags).encode())
    h.update(_bcc_identity().encode())
    h.update(_file_hash(btf_path).encode())
    h.update(os.uname().release.encode() + os.uname().machine.encode())
    return h.hexdigest()


# ---- the cache ----------------------------------------------------------------------------

def cache_dir() -> Path:
    return Path(os.environ.get("SNIFF_TUI_CACHE_DIR") or DEFAULT_DIR)


def _safe(st: os.stat_result, mode: int) -> bool:
    return st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & ~mode == 0


def read_entry(directory: Path, key: str) -> dict:
    """The cached object for key; ObjectError saying why not."""
    path = directory / key
    try:
        dst = os.stat(directory)
        if not _safe(dst, 0o700) or not stat.S_ISDIR(dst.st_mode):
            raise ObjectError(f"{directory} is not ours alone (owner or mode): not used")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise ObjectError("no entry yet") from None
    except OSError as exc:
        raise ObjectError(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or not _safe(st, 0o600):
            raise ObjectError(f"{path} is foreign (owner {st.st_uid}, mode {stat.S_IMODE(st.st_mode):o})")
        data = f.read()
    return parse(data, key)


def prepare_dir(directory: Path) -> Path:
    """The cache directory, made 0700 if new; OSError if it cannot be ours."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.stat(directory)
    if st.st_uid != os.geteuid():
        raise PermissionError(f"{directory} belongs to uid {st.st_uid}")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(directory, 0o700)
    return directory


def write_entry(directory: Path, key: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / key)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def obtain(key: str, compile_to: Callable[[str], None], use_cache: bool = True,
           log: Callable[[str], None] = lambda line: None) -> dict:
    """The compiled object for key: from the cache, or compiled (compile_to(path) writes it)
    and, when the cache directory is usable, kept there."""
    directory = cache_dir()
    if use_cache:
        try:
            obj = read_entry(directory, key)
            log(f"compiled programs from the cache ({directory / key})")
            return obj
        except ObjectError as exc:
            log(f"compile cache: {exc}; compiling")
    target = None
    if use_cache:
        try:
            target = prepare_dir(directory)
        except OSError as exc:
            log(f"compile cache {directory} is not usable ({exc}): compiling without it")
    with tempfile.TemporaryDirectory(prefix="sniff-compile-") as tmp:
        out = os.path.join(tmp, "object")
        compile_to(out)
        with open(out, "rb") as f:
            data = f.read()
    obj = parse(data, key)
    if target is not None:
        try:
            write_entry(target, key, data)
        except OSError as exc:
            log(f"compile cache {directory} is not writable ({exc.strerror}): not kept")
    return obj
