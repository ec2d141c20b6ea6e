"""The on-disk kernel cache.

Where: $ATTNIR_CACHE_DIR if set (empty: no cache), else
$XDG_CACHE_HOME/attnir (default ~/.cache/attnir). ATTNIR_CACHE=0 turns it
off.

Key: sha256 of the spec text, target, the (sorted) option string, the host
CPU's flags and the release in attnir.version() ("attnir 0.1.0+g<commit>"
with ".m<hash>" for local changes to the compiler's sources, see
cmake/SourceId.cmake; without the "(LLVM ...)" / "(runtime only)" suffix, so
that a runtime-only build of the same tree loads what a full build cached): a
kernel compiled on another CPU, by another release or by a build of other
sources is never reused. The entry a Kernel is bound to is
not part of the key: the compiled artifact holds every entry of the spec.

Writes are atomic (save to a temporary file in the same folder, then
os.replace); a per-key lock file makes a second process compiling the same
spec wait for the first and load its result. An entry that does not load (the
C loader checks a checksum) is deleted and compiled again.

Each entry is tied to its key (issue 15, case 7): beside KEY.attnir a file
KEY.tag holds "KEY SHA256-OF-THE-ENTRY". An entry whose tag is missing, names
another key or another file's bytes (a valid bundle of another spec copied
in) counts as corrupt: it is deleted and compiled again.
"""
import contextlib
import hashlib
import os
import platform
import tempfile
import warnings

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None

SUFFIX = ".attnir"
FORMAT = "attnir-cache-1"

#: counters for tests and debugging: hits, misses, corrupt entries replaced
stats = {"hits": 0, "misses": 0, "corrupt": 0}

_flags = None


def cache_dir():
    """The cache folder, or None when caching is off."""
    if os.environ.get("ATTNIR_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    d = os.environ.get("ATTNIR_CACHE_DIR")
    if d is not None:
        return d or None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "attnir")


def cpu_flags():
    """The host CPU's feature flags ('flags' line of /proc/cpuinfo), read once."""
    global _flags
    if _flags is None:
        flags = ""
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("flags"):
                        flags = " ".join(sorted(line.split(":", 1)[1].split()))
                        break
        except OSError:
            pass
        _flags = f"{platform.machine()} {flags or platform.processor()}"
    return _flags


def release(version):
    """'attnir 0.1.0+g1234' from 'attnir 0.1.0+g1234 (LLVM 22.1.8)' or '... (runtime only)'."""
    return version.split(" (", 1)[0].strip()


def key(spec, target, options, version, flags=None):
    """The cache key (hex sha256) of a compilation."""
    h = hashlib.sha256()
    for part in (FORMAT, spec, target, options or "", release(version),
                 cpu_flags() if flags is None else flags):
        b = part.encode()
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


@contextlib.contextmanager
def _lock(path):
    if fcntl is None:
        yield
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _tag_path(path):
    return path[: -len(SUFFIX)] + ".tag"


def _digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _tag_of(path):
    """The tag an entry at `path` must carry: its key and its bytes' hash."""
    return f"{os.path.basename(path)[: -len(SUFFIX)]} {_digest(path)}"


def _try_load(path, load):
    if not os.path.exists(path):
        return None
    try:
        with open(_tag_path(path)) as f:
            if f.read().strip() != _tag_of(path):
                raise ValueError("the entry is not the one its key names")
        return load(path)
    except Exception:
        stats["corrupt"] += 1
        for p in (path, _tag_path(path)):
            with contextlib.suppress(OSError):
                os.unlink(p)
        return None


def _store(native, path):
    d = os.path.dirname(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=SUFFIX)
        os.close(fd)
        native.save(tmp)
        # The tag first: a reader that sees the entry also sees its tag.
        tag_tmp = tmp + ".tag"
        with open(tag_tmp, "w") as f:
            f.write(f"{os.path.basename(path)[: -len(SUFFIX)]} {_digest(tmp)}\n")
        os.replace(tag_tmp, _tag_path(path))
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        warnings.warn(f"attnir: cannot write the kernel cache in {d}: {e}",
                      RuntimeWarning, stacklevel=4)
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def lookup_or_compile(spec, target, options, version, compile_fn, load_fn):
    """A native kernel from the cache, or compile_fn() stored in it."""
    d = cache_dir()
    if d is None:
        return compile_fn()
    k = key(spec, target, options, version)
    path = os.path.join(d, k + SUFFIX)
    native = _try_load(path, load_fn)
    if native is not None:
        stats["hits"] += 1
        return native
    try:
        os.makedirs(d, exist_ok=True)
    except OSError as e:
        warnings.warn(f"attnir: cannot create the kernel cache {d}: {e}",
                      RuntimeWarning, stacklevel=3)
        return compile_fn()
    with _lock(os.path.join(d, k + ".lock")):
        native = _try_load(path, load_fn)  # another process may have made it
        if native is not None:
            stats["hits"] += 1
            return native
        stats["misses"] += 1
        native = compile_fn()
        _store(native, path)
    return native
