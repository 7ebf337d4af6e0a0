#!/bin/sh
# Delivery agent of the test Postfix (a pipe(8) transport, run as nobody):
#   maildir-deliver.sh BASE DOMAIN USER < message
# stores the message as one new mail in the Maildir BASE/DOMAIN/USER/.
# Exits 67 (EX_NOUSER, so Postfix bounces) when DOMAIN or USER cannot be a
# single path component.
set -eu
umask 022
base=$1 domain=$2 user=$3
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
