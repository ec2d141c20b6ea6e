#!/usr/bin/env python3
"""Finishes the wheel scripts/build-wheel.sh builds.

  wheel.py tag WHEEL                        check the manylinux policy, retag
  wheel.py swap-extension WHEEL EXT TAG     the same package for another Python

`tag` reads every ELF file in the wheel: its dependencies must be libraries
the manylinux policy allows (or files of the wheel), and the newest GLIBC_
symbol version any of them needs gives the tag manylinux_2_<minor>_x86_64.
The wheel is rewritten with that tag (WHEEL, RECORD, file name); the old
file is removed. Prints the new path.

`swap-extension` writes a copy of WHEEL whose nanobind extension is EXT
(built for another CPython, e.g. 3.12 from scripts/build-wheel.sh
--python-include) and whose tags say TAG (cp312): the compiler library and
everything else are the same files.
"""
import base64
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile

# The libraries a manylinux wheel may depend on without carrying them (PEP 600
# and auditwheel's policy files; the ones AttnIR could need).
ALLOWED = {"libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1",
           "libpthread.so.0", "libgcc_s.so.1", "libstdc++.so.6",
           "ld-linux-x86-64.so.2"}


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return f"{name},sha256={digest.rstrip(b'=').decode()},{len(data)}"


def elf_facts(path):
    """(needed sonames, newest GLIBC minor) of one ELF file."""
    dyn = subprocess.run(["objdump", "-p", path], capture_output=True,
                         text=True, check=True).stdout
    needed = re.findall(r"^\s+NEEDED\s+(\S+)", dyn, re.M)
    syms = subprocess.run(["objdump", "-T", path], capture_output=True,
                          text=True, check=True).stdout
    minors = [int(m) for m in re.findall(r"GLIBC_2\.(\d+)", syms)]
    return needed, max(minors, default=17)


def rewrite(dst, files):
    """Writes `files` (name -> bytes, in order) as a wheel with a fresh
    RECORD."""
    record_name = next(n for n in files if n.endswith(".dist-info/RECORD"))
    lines = [record_line(n, d) for n, d in files.items() if n != record_name]
    lines.append(f"{record_name},,")
    files[record_name] = ("\n".join(lines) + "\n").encode()
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in files.items():
            z.writestr(n, d)


def read(path):
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def set_tags(files, python_tag, platform_tag):
    wheel_name = next(n for n in files if n.endswith(".dist-info/WHEEL"))
    text = files[wheel_name].decode()
    text = re.sub(r"^Tag: .*\n", "", text, flags=re.M)
    text += f"Tag: {python_tag}-{python_tag}-{platform_tag}\n"
    files[wheel_name] = text.encode()


def tag(path):
    files = read(path)
    newest = 17
    with tempfile.TemporaryDirectory() as tmp:
        names = set(os.path.basename(n) for n in files)
        for n, d in files.items():
            if not d.startswith(b"\x7fELF"):
                continue
            f = os.path.join(tmp, "elf")
            with open(f, "wb") as out:
                out.write(d)
            needed, minor = elf_facts(f)
            newest = max(newest, minor)
            foreign = [s for s in needed if s not in ALLOWED and s not in names]
            if foreign:
                sys.exit(f"{n} depends on {', '.join(foreign)}, which the "
                         "wheel neither carries nor may assume")
    base = os.path.basename(path)
    dist, version, py, abi, _ = base[:-4].split("-")
    platform = f"manylinux_2_{newest}_x86_64"
    set_tags(files, py, platform)
    dst = os.path.join(os.path.dirname(path),
                       f"{dist}-{version}-{py}-{py}-{platform}.whl")
    rewrite(dst + ".tmp", files)
    if os.path.abspath(dst) != os.path.abspath(path):
        os.remove(path)
    os.replace(dst + ".tmp", dst)
    print(dst)


def swap_extension(path, ext, python_tag):
    files = read(path)
    old = [n for n in files if re.match(r"attnir/_attnir\..*\.so$", n)]
    if len(old) != 1:
        sys.exit(f"{path}: expected one extension module, found {old}")
    out = {}
    for n, d in files.items():
        if n == old[0]:
            with open(ext, "rb") as f:
                out["attnir/" + os.path.basename(ext)] = f.read()
        else:
            out[n] = d
    base = os.path.basename(path)
    dist, version, py, abi, platform = base[:-4].split("-")
    set_tags(out, python_tag, platform)
    dst = os.path.join(os.path.dirname(path),
                       f"{dist}-{version}-{python_tag}-{python_tag}-{platform}.whl")
    rewrite(dst, out)
    print(dst)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "tag":
        tag(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "swap-extension":
        swap_extension(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
