#!/bin/sh
# Installs everything esmtp needs to build, test and run its demo on Debian 12 (as root).
# Safe to run repeatedly: apt skips what is already there. libunistring-dev is
# for linking libesmtpc.a statically (libidn2 names it in its Libs.private).
set -eu
export DEBIAN_FRONTEND=noninteractive
need=""
for p in meson ninja-build pkg-config gcc g++ clang libssl-dev libidn2-dev libunistring-dev check \
         python3-aiosmtpd postfix sasl2-bin libsasl2-modules openssl valgrind binutils \
         swaks libnet-ssleay-perl libauthen-sasl-perl libdigest-hmac-perl gsasl \
         ruby ruby-ffi abigail-tools groff-base; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need="$need $p"
done
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing packages:$need (run as root to install them)" >&2
  exit 1
fi
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $need >/dev/null
