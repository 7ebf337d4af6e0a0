#!/usr/bin/env python3
"""ABI test: what "ninja install" puts on disk is usable by a consumer that
knows nothing but pkg-config.

  check_install.py --meson MESON --pkg-config PKGCONFIG --readelf READELF
                   --version PROJECT_VERSION --source SRCDIR -- CC [ARG...]

Configures a throw-away build of SRCDIR (tests and benchmarks off) with a
temporary prefix, installs it, then checks:
  * the library's link chain: libesmtpc.so -> libesmtpc.so.1 ->
    libesmtpc.so.1.<minor>[.<patch>], a regular file whose SONAME is
    libesmtpc.so.1;
  * include/esmtp/ holds exactly the headers of SRCDIR/include/esmtp/,
    byte for byte;
  * bin/esmtp-send is installed and executable if examples/esmtp-send.c
    exists in SRCDIR;
  * esmtpc.pc is installed, and pkg-config reports the project version;
  * a program built with only "CC prog.c $(pkg-config --cflags --libs esmtpc)"
    compiles warning-free, runs against the installed library (checked by
    the path it was loaded from) and prints the expected version.
The temporary tree is removed afterwards unless ESMTP_ABI_KEEP is set.
"""

import argparse
import filecmp
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

PROGRAM = r"""
#define _GNU_SOURCE /* dl_iterate_phdr() */
#include <esmtp/esmtp.h>

#include <link.h>
#include <stdio.h>
#include <string.h>

static int find_lib(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    if (info->dlpi_name != NULL && strstr(info->dlpi_name, "/libesmtpc.so") != NULL) {
        *(const char **)data = info->dlpi_name;
        return 1;
    }
    return 0;
}

int main(void)
{
    const char *path = NULL;
    esmtp_session *session = NULL;
    esmtp_message *message = NULL;
    if (esmtp_session_new(&session) != ESMTP_OK || session == NULL)
        return 1;
    if (esmtp_session_set_server(session, "localhost", 0) != ESMTP_OK ||
        esmtp_session_add_message(session, &message) != ESMTP_OK ||
        esmtp_message_set_reverse_path(message, "a@example.org") != ESMTP_OK ||
        esmtp_session_message_count(session) != 1)
        return 2;
    esmtp_session_free(session);
    esmtp_session_free(NULL);
    dl_iterate_phdr(find_lib, &path);
    printf("version %s\n", esmtp_version());
    printf("header %s\n", ESMTP_VERSION_STRING);
    printf("einval %s\n", esmtp_strerror(ESMTP_EINVAL));
    printf("loaded %s\n", path ? path : "(not found)");
    return 0;
}
"""


class Failure(Exception):
    pass


problems = []  # everything found wrong so far, reported together at the end


def run(cmd, log, env=None, cwd=None):
    log.write("$ " + shlex.join(cmd) + "\n")
    log.flush()
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    log.write(p.stdout)
    log.flush()
    if p.returncode != 0:
        raise Failure(f"command failed (exit {p.returncode}): {shlex.join(cmd)}\n{p.stdout}")
    return p.stdout


def check_library(libdir, readelf, log):
    dev = os.path.join(libdir, "libesmtpc.so")
    so1 = os.path.join(libdir, "libesmtpc.so.1")
    if not os.path.islink(dev):
        problems.append(f"{dev} is missing or not a symlink")
    elif os.readlink(dev) != "libesmtpc.so.1":
        problems.append(f"{dev} -> {os.readlink(dev)}, expected libesmtpc.so.1")
    if not os.path.islink(so1):
        problems.append(f"{so1} is missing or not a symlink")
        return
    target = os.readlink(so1)
    real = os.path.join(libdir, target)
    if not re.fullmatch(r"libesmtpc\.so\.1(\.[0-9]+)+", target):
        problems.append(f"{so1} -> {target}, expected libesmtpc.so.1.<minor>...")
    if os.path.islink(real) or not os.path.isfile(real):
        problems.append(f"{real} is not a regular file")
        return
    out = run([readelf, "-d", "-W", real], log)
    m = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]*)\]", out)
    if not m or m.group(1) != "libesmtpc.so.1":
        problems.append(f"{real}: SONAME is {m.group(1) if m else 'missing'}, "
                        "expected libesmtpc.so.1")
    if re.search(r"\((RPATH|RUNPATH)\)", out):
        problems.append(f"{real}: has an RPATH/RUNPATH after install")


def check_headers(srcdir, prefix):
    src = os.path.join(srcdir, "include", "esmtp")
    dst = os.path.join(prefix, "include", "esmtp")
    want = sorted(os.path.basename(p) for p in glob.glob(os.path.join(src, "*.h")))
    have = sorted(os.path.basename(p) for p in glob.glob(os.path.join(dst, "*.h")))
    for name in sorted(set(want) - set(have)):
        problems.append(f"header not installed: include/esmtp/{name}")
    for name in sorted(set(have) - set(want)):
        problems.append(f"unexpected header installed: include/esmtp/{name}")
    for name in sorted(set(want) & set(have)):
        if not filecmp.cmp(os.path.join(src, name), os.path.join(dst, name), shallow=False):
            problems.append(f"installed include/esmtp/{name} differs from the source")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meson", required=True)
    ap.add_argument("--pkg-config", required=True)
    ap.add_argument("--readelf", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("cc", nargs="+")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="esmtp-abi-install-")
    prefix, build = os.path.join(tmp, "prefix"), os.path.join(tmp, "build")
    logpath = os.path.join(tmp, "log.txt")
    ok = False
    try:
        with open(logpath, "w") as log:
            ok = check(args, tmp, prefix, build, log)
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        for p in problems:
            print("  also: " + p, file=sys.stderr)
    finally:
        if os.environ.get("ESMTP_ABI_KEEP"):
            print(f"(temporary tree kept in {tmp}, log in {logpath})", file=sys.stderr)
        else:
            if not ok:
                print("(set ESMTP_ABI_KEEP=1 to keep the temporary tree)", file=sys.stderr)
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


def check_static(args, tmp, libdir, src, log, env):
    """libesmtpc.a: only esmtp_* defined globally (nothing internal can clash
    with an embedder's names), and the consumer links it statically with
    what pkg-config --static adds."""
    archive = os.path.join(libdir, "libesmtpc.a")
    if not os.path.isfile(archive):
        problems.append(f"{archive} is not installed")
        return
    out = run(["nm", "-g", "--defined-only", archive], log, env=env)
    leaked = [line.split()[-1] for line in out.splitlines()
              if len(line.split()) == 3 and not line.split()[-1].startswith("esmtp_")]
    if leaked:
        problems.append(f"libesmtpc.a defines non-API global symbols: {' '.join(leaked[:10])}")
    flags = shlex.split(run([args.pkg_config, "--static", "--cflags", "--libs", "esmtpc"],
                            log, env=env))
    flags = [archive if f == "-lesmtpc" else f for f in flags]
    exe = os.path.join(tmp, "consumer-static")
    run(args.cc + ["-std=c11", "-Wall", "-Wextra", "-Werror", src, "-o", exe] + flags,
        log, env=env, cwd=tmp)
    got = dict(line.split(" ", 1) for line in run([exe], log, env=env, cwd=tmp).splitlines()
               if " " in line)
    if got.get("version") != args.version:
        problems.append(f"static consumer: esmtp_version() is {got.get('version')}, "
                        f"expected {args.version}")
    if got.get("loaded") != "(not found)":
        problems.append(f"static consumer loaded {got['loaded']}: it should need no libesmtpc.so")


def check(args, tmp, prefix, build, log):
    env = dict(os.environ)
    # Nothing from the calling build or the user may leak into the consumer.
    for var in ("PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR", "LD_LIBRARY_PATH",
                "CPATH", "C_INCLUDE_PATH", "LIBRARY_PATH"):
        env.pop(var, None)
    run([args.meson, "setup", "--prefix", prefix, "-Dtests=disabled", "-Dbenchmarks=false",
         build, args.source], log, env=env)
    run([args.meson, "compile", "-C", build], log, env=env)
    run([args.meson, "install", "-C", build, "--no-rebuild", "--quiet"], log, env=env)

    pcs = glob.glob(os.path.join(prefix, "**", "pkgconfig", "esmtpc.pc"), recursive=True)
    if len(pcs) != 1:
        raise Failure(f"expected one installed esmtpc.pc under {prefix}, found {pcs}")
    pcdir = os.path.dirname(pcs[0])
    libs = glob.glob(os.path.join(prefix, "**", "libesmtpc.so.1"), recursive=True)
    if len(libs) != 1:
        raise Failure(f"expected one installed libesmtpc.so.1 under {prefix}, found {libs}")
    libdir = os.path.dirname(libs[0])
    log.write(f"pkgconfig dir {pcdir}\nlibdir {libdir}\n")

    check_library(libdir, args.readelf, log)
    check_headers(args.source, prefix)

    if os.path.exists(os.path.join(args.source, "examples", "esmtp-send.c")):
        tool = os.path.join(prefix, "bin", "esmtp-send")
        if not (os.path.isfile(tool) and os.access(tool, os.X_OK)):
            problems.append("examples/esmtp-send.c exists but bin/esmtp-send is not installed")

    env["PKG_CONFIG_PATH"] = pcdir
    modversion = run([args.pkg_config, "--modversion", "esmtpc"], log, env=env).strip()
    if modversion != args.version:
        problems.append(f"pkg-config --modversion esmtpc is {modversion}, expected {args.version}")
    flags = shlex.split(run([args.pkg_config, "--cflags", "--libs", "esmtpc"], log, env=env))

    src = os.path.join(tmp, "consumer.c")
    exe = os.path.join(tmp, "consumer")
    with open(src, "w") as f:
        f.write(PROGRAM)
    run(args.cc + ["-std=c11", "-Wall", "-Wextra", "-Werror", src, "-o", exe] + flags,
        log, env=env, cwd=tmp)
    runenv = dict(env, LD_LIBRARY_PATH=libdir)
    out = run([exe], log, env=runenv, cwd=tmp)
    got = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    if got.get("version") != args.version:
        problems.append(f"consumer: esmtp_version() is {got.get('version')}, expected {args.version}")
    if got.get("header") != args.version:
        problems.append(f"consumer: installed ESMTP_VERSION_STRING is {got.get('header')}, "
                        f"expected {args.version}")
    if not got.get("einval"):
        problems.append("consumer: esmtp_strerror() printed nothing")
    loaded = got.get("loaded", "")
    if not os.path.exists(loaded) or os.path.realpath(loaded) != os.path.realpath(libs[0]):
        problems.append(f"consumer loaded {loaded}, not the installed {libs[0]}")

    check_static(args, tmp, libdir, src, log, env)

    if problems:
        print(f"FAIL: {len(problems)} install problem(s):", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return False
    print(f"ok: installed into {prefix}; consumer built with pkg-config "
          f"({shlex.join(flags)}) printed version {got['version']} from {loaded}")
    return True


if __name__ == "__main__":
    sys.exit(main())
