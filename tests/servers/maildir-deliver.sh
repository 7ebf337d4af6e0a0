#!/bin/sh
# Delivery agent of the test Postfix (a pipe(8) transport, run as nobody):
#   maildir-deliver.sh BASE DOMAIN USER < message
# stores the message as one new mail in the Maildir BASE/DOMAIN/USER/.
# Exits 67 (EX_NOUSER, so Postfix bounces) when DOMAIN or USER cannot be a
# single path component.
#
# Postfix hands over USER and DOMAIN case-folded (flags u and h; with UTF-8,
# full Unicode case folding: "Straße" -> "strasse") and otherwise as sent: no
# Unicode normalisation.  Internationalised domains are stored under their
# Unicode form (U-labels), so that u@xn--bcher-kva.example and u@bücher.example
# share a Maildir: labels starting with "xn--" are decoded from Punycode.
set -eu
umask 022
base=$1 domain=$2 user=$3
case $domain in
    xn--* | *.xn--*)
        domain=$(/usr/bin/python3 -I -S -c '
import sys
def ulabel(label):
    if label.startswith("xn--"):
        try:
            decoded = label[4:].encode("ascii").decode("punycode")
            if decoded and decoded.encode("punycode").decode("ascii") == label[4:]:
                return decoded.casefold()
        except (UnicodeError, ValueError):
            pass
    return label
domain = ".".join(ulabel(label) for label in sys.argv[1].split("."))
sys.stdout.buffer.write(domain.encode("utf-8", "surrogateescape"))
' "$domain")
        ;;
esac
for part in "$domain" "$user"; do
    case $part in
        '' | .* | */*)
            echo "no mailbox for $user@$domain"
            exit 67
            ;;
    esac
done
dir=$base/$domain/$user
mkdir -p "$dir/tmp" "$dir/new" "$dir/cur"
name=$(date +%s.%N).$$.mail.test
cat >"$dir/tmp/$name"
mv "$dir/tmp/$name" "$dir/new/$name"
