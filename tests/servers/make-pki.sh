#!/bin/bash
# Makes a throw-away PKI for the TLS test servers (see README.md):
#
#   make-pki.sh DIR
#
# writes into DIR (emptied first), every key EC P-256, every certificate
# SHA-256-signed:
#
#   ca.crt                       the test CA (its key is deleted at the end)
#   server.crt server.key        CA-signed, SANs DNS:localhost IP:127.0.0.1 DNS:mail.test
#   wronghost.crt wronghost.key  CA-signed, SAN DNS:wrong.test only
#   expired.crt expired.key      CA-signed, the server's SANs, expired yesterday
#   selfsigned.crt selfsigned.key  self-signed, the server's SANs, not from the CA
#   client.crt client.key        CA-signed client certificate (clientAuth),
#                                CN and SAN email: the SASL user given as CLIENT_ID
#   server.pin selfsigned.pin    base64(SHA-256(SubjectPublicKeyInfo DER)) of those keys
#
# OpenSSL 3.0's req/x509 cannot set a notBefore/notAfter in the past, so
# every certificate is issued with "openssl ca" and explicit dates.
set -eu -o pipefail

[ $# = 1 ] || { echo "usage: make-pki.sh DIR" >&2; exit 2; }
out=$1
client_id=${CLIENT_ID:-tester@mail.test}

rm -rf "$out"
mkdir -p "$out/db"
: >"$out/db/index.txt"
echo 01 >"$out/db/serial"    # required, though -rand_serial ignores it
umask 077    # keys stay private to root (Postfix reads them before dropping privileges)

utc() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
past_start=$(utc '-3 days')     # a little slack for clocks that differ
valid_end=$(utc '+30 days')
expired_start=$(utc '-10 days')
expired_end=$(utc '-1 day')

server_san="DNS:localhost,IP:127.0.0.1,DNS:mail.test"
cat >"$out/openssl.cnf" <<EOF
[ ca ]
default_ca = test_ca

[ test_ca ]
database = $out/db/index.txt
serial = $out/db/serial
new_certs_dir = $out/db
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
copy_extensions = none

[ policy_any ]
commonName = supplied

[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused

[ ext_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[ ext_server ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $server_san

[ ext_wronghost ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wrong.test

[ ext_selfsigned ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = $server_san

[ ext_client ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = email:$client_id
EOF

# NAME CN: a new P-256 key NAME.key and its request NAME.csr
new_key() {
    openssl req -new -config "$out/openssl.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -nodes -keyout "$out/$1.key" -subj "/CN=$2" -out "$out/$1.csr" 2>"$out/db/$1.err" ||
        { cat "$out/db/$1.err" >&2; exit 1; }
}

# NAME EXTENSIONS START END [ca args...]: issue NAME.crt from NAME.csr
issue() {
    local name=$1 ext=$2 start=$3 end=$4
    shift 4
    openssl ca -batch -config "$out/openssl.cnf" -rand_serial -notext \
        -extensions "$ext" -startdate "$start" -enddate "$end" \
        -in "$out/$name.csr" -out "$out/$name.crt" "$@" 2>"$out/db/$name.err" ||
        { cat "$out/db/$name.err" >&2; exit 1; }
}

by_ca() { issue "$@" -cert "$out/ca.crt" -keyfile "$out/ca.key"; }

pin() { # NAME: base64 SHA-256 of NAME.crt's SubjectPublicKeyInfo
    openssl x509 -in "$out/$1.crt" -noout -pubkey |
        openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64 >"$out/$1.pin"
}

new_key ca "esmtp test CA"
issue ca ext_ca "$past_start" "$valid_end" -selfsign -keyfile "$out/ca.key"

new_key server mail.test
by_ca server ext_server "$past_start" "$valid_end"
new_key wronghost wrong.test
by_ca wronghost ext_wronghost "$past_start" "$valid_end"
new_key expired mail.test
by_ca expired ext_server "$expired_start" "$expired_end"
new_key client "$client_id"
by_ca client ext_client "$past_start" "$valid_end"
new_key selfsigned mail.test
issue selfsigned ext_selfsigned "$past_start" "$valid_end" -selfsign -keyfile "$out/selfsigned.key"

pin server
pin selfsigned

rm -rf "$out/ca.key" "$out"/*.csr "$out/db" "$out/openssl.cnf"
chmod 0644 "$out"/*.crt "$out"/*.pin "$out/client.key"   # tests may run as another user
chmod 0755 "$out"
