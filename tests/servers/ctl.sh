#!/bin/bash
# Starts and stops the real SMTP servers that the esmtp integration tests talk to,
# all on 127.0.0.1 (see README.md in this directory).
#
#   ctl.sh start  STATE_DIR   stop anything left from STATE_DIR, start every server on
#                             fresh state, wait until each answers with a 220 greeting,
#                             then write STATE_DIR/env (KEY=VALUE lines)
#   ctl.sh stop   STATE_DIR   stop every server by PID and remove STATE_DIR/env
#   ctl.sh status STATE_DIR   one line per server; exit 0 only if all are running
#
# Ports are ESMTP_TEST_PORT_BASE (default 42500) plus the fixed offsets below.
# Each start also makes a throw-away PKI (make-pki.sh) and SASL credentials.
# Needs root (Postfix's master, smtp-sink's -u).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3          # Debian's aiosmtpd is importable only by this one
pyflags=-B                       # no __pycache__ in the source tree
start_timeout=${ESMTP_TEST_START_TIMEOUT:-20}
sinks="sink sink-421 sink-drop sink6"

die() { echo "ctl.sh: $*" >&2; exit 1; }

usage() { die "usage: ctl.sh start|stop|status STATE_DIR"; }

set_ports() {
    local base=${ESMTP_TEST_PORT_BASE:-42500}
    if ! [[ $base =~ ^[0-9]+$ ]] || ((base < 1024 || base > 65000)); then
        die "ESMTP_TEST_PORT_BASE must be a number in 1024..65000, not '$base'"
    fi
    aiosmtpd_port=$((base + 0))
    aiosmtpd_nopipe_port=$((base + 1))
    aiosmtpd_tls_port=$((base + 2))
    aiosmtpd_smtps_port=$((base + 3))
    aiosmtpd_auth_port=$((base + 4))
    aiosmtpd_ext_port=$((base + 5))
    aiosmtpd_quirk_port=$((base + 6))
    aiosmtpd_no8bit_port=$((base + 7))
    aiosmtpd_small_port=$((base + 8))
    postfix_port=$((base + 10))
    postfix_nopipe_port=$((base + 11))
    postfix_starttls_port=$((base + 12))
    postfix_submission_port=$((base + 13))
    postfix_smtps_port=$((base + 14))
    postfix_wronghost_port=$((base + 15))
    postfix_expired_port=$((base + 16))
    postfix_selfsigned_port=$((base + 17))
    postfix_clientcert_port=$((base + 18))
    postfix_rcptlimit_port=$((base + 19))
    sink_port=$((base + 20))
    sink_421_port=$((base + 21))
    sink_drop_port=$((base + 22))
    sink6_port=$((base + 23))
    inject_port=$((base + 30))
    all_ports="$aiosmtpd_port $aiosmtpd_nopipe_port $postfix_port $postfix_nopipe_port
               $sink_port $sink_421_port $sink_drop_port $sink6_port
               $aiosmtpd_tls_port $aiosmtpd_smtps_port $aiosmtpd_auth_port
               $postfix_starttls_port $postfix_submission_port $postfix_smtps_port
               $postfix_wronghost_port $postfix_expired_port $postfix_selfsigned_port
               $postfix_clientcert_port $inject_port
               $aiosmtpd_ext_port $aiosmtpd_quirk_port $aiosmtpd_no8bit_port $aiosmtpd_small_port
               $postfix_rcptlimit_port"
}

set_paths() {
    state=$1
    records=$state/aiosmtpd
    pf=$state/postfix
    pf_etc=$pf/etc
    maildir=$pf/maildir
    tls=$state/tls
}

# The SASL user: "saslpasswd2 -u mail.test tester" stores tester@mail.test;
# Postfix (smtpd_sasl_local_domain = mail.test) also takes plain "tester".
sasl_login=tester
sasl_realm=mail.test
sasl_user=$sasl_login@$sasl_realm

# --- processes ---------------------------------------------------------------

# A zombie counts as dead: PID 1 here reaps orphans only every second or two.
alive() { # PID
    local stat
    stat=$(ps -o stat= -p "$1") && [[ $stat != Z* ]]
}

# Prints the PID named in PIDFILE if that process is alive and its command line
# matches the glob PATTERN (so that a stale file never names a stranger).
live_pid() { # PIDFILE PATTERN
    local pid args
    pid=$(awk '{ print $1; exit }' "$1" 2>/dev/null) || return 0
    [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 0
    args=$(ps -o args= -p "$pid") || return 0
    # shellcheck disable=SC2053 # $2 is a glob on purpose
    [[ $args == $2 ]] && echo "$pid"
    return 0
}

pid_of() { # NAME: the PID of the spawned server NAME, or nothing
    local program=smtp-sink
    case $1 in
        recorder) program=recorder.py ;;
        inject) program=inject.py ;;
    esac
    live_pid "$state/$1.pid" "*$program*"
}

# Runs CMD... detached in its own session, output to STATE/NAME.log; the PID
# (which stays the same through exec) goes to STATE/NAME.pid.
spawn() { # NAME CMD...
    local name=$1
    shift
    rm -f "$state/$name.pid"
    # shellcheck disable=SC2016 # $$, $0 and $@ are for the inner sh
    setsid sh -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' \
        "$state/$name.pid" "$@" >"$state/$name.log" 2>&1 </dev/null &
}

wait_gone() { # PID...: wait up to 5 s, then SIGKILL what is left
    local tries pid left
    for ((tries = 0; tries < 50; tries++)); do
        left=
        for pid in "$@"; do
            alive "$pid" && left="$left $pid"
        done
        [ -z "$left" ] && return 0
        sleep 0.1
    done
    echo "ctl.sh: killing stuck process(es)$left" >&2
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null || true
}

# A spawned server counts as alive until its pid file names a dead process.
spawned_alive() { # NAME
    [ ! -e "$state/$1.pid" ] || [ -n "$(pid_of "$1")" ]
}

stop_spawned() { # NAME
    local pid
    pid=$(pid_of "$1")
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid"
    fi
    rm -f "$state/$1.pid"
}

postfix_master_pid() {
    live_pid "$pf/queue/pid/master.pid" "*/postfix/sbin/master*"
}

postfix_running() {
    [ -n "$(postfix_master_pid)" ]
}

stop_postfix() {
    local master daemons
    master=$(postfix_master_pid)
    [ -n "$master" ] || return 0
    # The master leads its daemons' process group: wait for all of them.
    daemons=$(pgrep -g "$master" || true)
    postfix -c "$pf_etc" stop >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    wait_gone "$master" $daemons
}

# --- readiness ---------------------------------------------------------------

greets() ( # PORT [HOST]: true if something on HOST:PORT (127.0.0.1) sends a 220 greeting
    local line
    exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1" || exit 1
    IFS= read -r -t 2 line <&3 || exit 1
    printf 'QUIT\r\n' >&3 || true
    [[ $line == 220* ]]
) 2>/dev/null

port_taken() ( # PORT: true if anything accepts connections there
    exec 3<>"/dev/tcp/127.0.0.1/$1"
) 2>/dev/null

# An implicit-TLS port has no plaintext greeting: it is ready once it accepts
# (each one is opened with or before a sibling whose greeting was waited for).
wait_listening() { # NAME PORT LOG
    port_taken "$2" || fail_start "$1 is not listening on 127.0.0.1:$2" "$3"
}

fail_start() { # WHAT LOG
    echo "ctl.sh: $1" >&2
    if [ -s "$2" ]; then
        echo "---- last lines of $2 ----" >&2
        tail -n 40 "$2" >&2
        echo "----" >&2
    fi
    do_stop
    exit 1
}

wait_ready() { # NAME "PORT [HOST]" LOG ALIVE-CHECK...
    local name=$1 port=$2 log=$3
    shift 3
    # shellcheck disable=SC2086 # "PORT HOST" splits into greets' two arguments
    while ! greets $port; do
        "$@" >/dev/null || fail_start "$name (port $port) exited during start-up" "$log"
        ((SECONDS < deadline)) ||
            fail_start "$name did not answer on 127.0.0.1:$port within ${start_timeout}s" "$log"
        sleep 0.1
    done
}

# --- Postfix configuration ---------------------------------------------------

write_postfix_config() {
    mkdir -p "$pf_etc" "$pf/queue" "$pf/data" "$pf/log" "$maildir"
    chown postfix:postfix "$pf/data"
    chmod 0700 "$pf/data"
    chown 65534:65534 "$maildir"

    cat >"$pf_etc/main.cf" <<EOF
# Private Postfix instance for the esmtp integration tests (made by ctl.sh).
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
maillog_file = $pf/log/postfix.log
maillog_file_prefixes = $pf/log

myhostname = mail.test
myorigin = \$myhostname
mydestination =
relay_domains =
alias_maps =
alias_database =
biff = no
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8

smtputf8_enable = yes
smtpd_error_sleep_time = 0
in_flow_delay = 0
smtpd_forbid_bare_newline = reject
smtpd_forbid_bare_newline_exclusions =
smtpd_recipient_restrictions =
    check_recipient_access regexp:$pf_etc/recipient_access,
    permit_mynetworks,
    reject_unauth_destination

# Every domain is ours: mail for alice@example.org goes to the Maildir
# maildir/example.org/alice/, and so do bounces and DSNs for test senders, and
# double bounces (to postmaster@mail.test).  virtual(8) refuses \$1 in a
# regexp map, so the "maildir" pipe transport (maildir-deliver.sh) stores it;
# virtual_mailbox_maps only decides which recipients smtpd accepts.
virtual_mailbox_domains = static:all
virtual_mailbox_maps = regexp:$pf_etc/virtual_mailbox
virtual_transport = maildir
maildir_destination_recipient_limit = 1

# TLS and SASL: off here, turned on per listener in master.cf.  The SASL user
# is in the Cyrus sasldb etc/sasldb2; Debian's smtpd reads etc/sasl/smtpd.conf.
smtpd_tls_cert_file = $tls/server.crt
smtpd_tls_key_file = $tls/server.key
smtpd_tls_loglevel = 1
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_sasl_local_domain = $sasl_realm
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_tls_auth_only = yes
smtpd_sasl_authenticated_header = yes
EOF

    cat >"$pf_etc/recipient_access" <<'EOF'
/^reject[^@]*@/     550 5.1.1 Rejected by test
/^tempfail[^@]*@/   450 4.2.1 Try again later
EOF

    # Addresses whose local part and domain can each be a directory name: no
    # "/", no leading ".".  ("%" delimits the pattern, so "/" needs no escape.)
    cat >"$pf_etc/virtual_mailbox" <<'EOF'
%^[^@/.][^@/]*@[^@/.][^@/]*$%   OK
EOF

    mkdir -p "$pf_etc/sasl"
    cat >"$pf_etc/sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $pf_etc/sasldb2
mech_list: PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-1 SCRAM-SHA-256
EOF
    printf '%s' "$sasl_password" |
        saslpasswd2 -p -c -f "$pf_etc/sasldb2" -u "$sasl_realm" "$sasl_login"
    chown root:postfix "$pf_etc/sasldb2"
    chmod 0640 "$pf_etc/sasldb2"

    local access=regexp:$pf_etc/recipient_access
    local sasl_only="-o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=check_recipient_access,$access,permit_sasl_authenticated,reject"
    cat >"$pf_etc/master.cf" <<EOF
# service            type  private unpriv chroot wakeup maxproc command + args
127.0.0.1:$postfix_port inet n - n - - smtpd
127.0.0.1:$postfix_nopipe_port inet n - n - - smtpd
  -o smtpd_discard_ehlo_keywords=pipelining
  -o smtpd_forbid_unauth_pipelining=yes
127.0.0.1:$postfix_starttls_port inet n - n - - smtpd
  -o smtpd_tls_security_level=may
127.0.0.1:$postfix_submission_port inet n - n - - smtpd
  -o smtpd_tls_security_level=encrypt
  $sasl_only
127.0.0.1:$postfix_smtps_port inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
  $sasl_only
127.0.0.1:$postfix_wronghost_port inet n - n - - smtpd
  -o smtpd_tls_security_level=may
  -o smtpd_tls_cert_file=$tls/wronghost.crt
  -o smtpd_tls_key_file=$tls/wronghost.key
127.0.0.1:$postfix_expired_port inet n - n - - smtpd
  -o smtpd_tls_security_level=may
  -o smtpd_tls_cert_file=$tls/expired.crt
  -o smtpd_tls_key_file=$tls/expired.key
127.0.0.1:$postfix_selfsigned_port inet n - n - - smtpd
  -o smtpd_tls_security_level=may
  -o smtpd_tls_cert_file=$tls/selfsigned.crt
  -o smtpd_tls_key_file=$tls/selfsigned.key
127.0.0.1:$postfix_clientcert_port inet n - n - - smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_ask_ccert=yes
  -o smtpd_tls_CAfile=$tls/ca.crt
  -o smtpd_relay_restrictions=permit_tls_all_clientcerts,reject
  -o smtpd_recipient_restrictions=check_recipient_access,$access,permit_tls_all_clientcerts,reject
127.0.0.1:$postfix_rcptlimit_port inet n - n - - smtpd
  -o smtpd_recipient_limit=2
pickup     unix  n - n 60   1 pickup
cleanup    unix  n - n -    0 cleanup
qmgr       unix  n - n 300  1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n -    - trivial-rewrite
bounce     unix  - - n -    0 bounce
defer      unix  - - n -    0 bounce
trace      unix  - - n -    0 bounce
verify     unix  - - n -    1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -    - proxymap
proxywrite unix  - - n -    1 proxymap
smtp       unix  - - n -    - smtp
relay      unix  - - n -    - smtp
showq      unix  n - n -    - showq
error      unix  - - n -    - error
retry      unix  - - n -    - error
discard    unix  - - n -    - discard
local      unix  - n n -    - local
virtual    unix  - n n -    - virtual
lmtp       unix  - - n -    - lmtp
anvil      unix  - - n -    1 anvil
scache     unix  - - n -    1 scache
postlog    unix-dgram n - n - 1 postlogd
maildir    unix  - n n -    - pipe
  flags=DORhu user=nobody argv=$here/maildir-deliver.sh $maildir \${domain} \${user}
EOF

    # Postfix ignores a main.cf or master.cf changed in the last few seconds.
    touch -d '-1 minute' "$pf_etc"/*
}

# --- commands ----------------------------------------------------------------

do_stop() {
    local name
    rm -f "$state/env"
    stop_spawned recorder
    stop_spawned inject
    for name in $sinks; do
        stop_spawned "$name"
    done
    stop_postfix
}

do_start() {
    local port
    [ "$(id -u)" = 0 ] || die "start needs root (Postfix, smtp-sink -u nobody)"
    set_ports
    do_stop

    for port in $all_ports; do
        ! port_taken "$port" || die "port 127.0.0.1:$port is already in use"
    done

    # Fresh state: only what this script itself creates in STATE_DIR.
    rm -rf "$records" "$pf"
    rm -f "$state"/recorder.log "$state"/inject.log "$state"/sink*.log
    chmod a+x "$state"   # the postfix and nobody users must reach into it
    mkdir -p "$records"
    CLIENT_ID=$sasl_user "$here/make-pki.sh" "$tls" || die "could not make the test PKI in $tls"
    sasl_password=pw-$(openssl rand -hex 8)
    oauth_token=ya29.test-$(openssl rand -hex 16)
    write_postfix_config
    runuser -u nobody -- test -w "$maildir" ||
        die "$state is out of reach of the nobody and postfix users: make its parents world-searchable (o+x)"
    runuser -u nobody -- test -x "$here/maildir-deliver.sh" ||
        die "$here is out of reach of the nobody user: make its parents world-searchable (o+x)"

    SECONDS=0
    deadline=$start_timeout

    spawn recorder "$python" $pyflags "$here/recorder.py" --dir "$records" \
        --port "$aiosmtpd_port" --nopipe-port "$aiosmtpd_nopipe_port" \
        --tls-port "$aiosmtpd_tls_port" --smtps-port "$aiosmtpd_smtps_port" \
        --auth-port "$aiosmtpd_auth_port" \
        --ext-port "$aiosmtpd_ext_port" --quirk-port "$aiosmtpd_quirk_port" \
        --no8bit-port "$aiosmtpd_no8bit_port" --small-port "$aiosmtpd_small_port" \
        --cert "$tls/server.crt" --key "$tls/server.key" --ca "$tls/ca.crt" \
        --sasl-user "$sasl_user" --sasl-password "$sasl_password" --oauth-token "$oauth_token"
    spawn inject "$python" $pyflags "$here/inject.py" --port "$inject_port" \
        --cert "$tls/server.crt" --key "$tls/server.key"
    spawn sink smtp-sink -u nobody -c "127.0.0.1:$sink_port" 1024
    spawn sink-421 smtp-sink -u nobody -Q RCPT "127.0.0.1:$sink_421_port" 1024
    spawn sink-drop smtp-sink -u nobody -q . "127.0.0.1:$sink_drop_port" 1024
    spawn sink6 smtp-sink -u nobody "[::1]:$sink6_port" 1024
    # postfix-script reports why it failed to the instance's own log, not to
    # its output; one retry rides out a passing hiccup at start-up.
    if ! postfix -c "$pf_etc" start >"$state/postfix-start.log" 2>&1; then
        cat "$pf/log/postfix.log" >>"$state/postfix-start.log" 2>/dev/null || true
        postfix -c "$pf_etc" stop >/dev/null 2>&1 || true
        sleep 1
        postfix -c "$pf_etc" start >>"$state/postfix-start.log" 2>&1 || {
            cat "$pf/log/postfix.log" >>"$state/postfix-start.log" 2>/dev/null || true
            fail_start "postfix failed to start" "$state/postfix-start.log"
        }
    fi

    wait_ready aiosmtpd "$aiosmtpd_port" "$state/recorder.log" spawned_alive recorder
    wait_ready aiosmtpd-nopipe "$aiosmtpd_nopipe_port" "$state/recorder.log" spawned_alive recorder
    wait_ready aiosmtpd-tls "$aiosmtpd_tls_port" "$state/recorder.log" spawned_alive recorder
    wait_ready aiosmtpd-auth "$aiosmtpd_auth_port" "$state/recorder.log" spawned_alive recorder
    wait_listening aiosmtpd-smtps "$aiosmtpd_smtps_port" "$state/recorder.log"
    for port in $aiosmtpd_ext_port $aiosmtpd_quirk_port $aiosmtpd_no8bit_port $aiosmtpd_small_port; do
        wait_ready "aiosmtpd (port $port)" "$port" "$state/recorder.log" spawned_alive recorder
    done
    wait_ready inject "$inject_port" "$state/inject.log" spawned_alive inject
    wait_ready sink "$sink_port" "$state/sink.log" spawned_alive sink
    wait_ready sink-421 "$sink_421_port" "$state/sink-421.log" spawned_alive sink-421
    wait_ready sink-drop "$sink_drop_port" "$state/sink-drop.log" spawned_alive sink-drop
    wait_ready sink6 "$sink6_port ::1" "$state/sink6.log" spawned_alive sink6
    wait_ready postfix "$postfix_port" "$pf/log/postfix.log" postfix_running
    wait_ready postfix-nopipe "$postfix_nopipe_port" "$pf/log/postfix.log" postfix_running
    for port in $postfix_starttls_port $postfix_submission_port $postfix_wronghost_port \
        $postfix_expired_port $postfix_selfsigned_port $postfix_clientcert_port \
        $postfix_rcptlimit_port; do
        wait_ready "postfix (port $port)" "$port" "$pf/log/postfix.log" postfix_running
    done
    wait_listening postfix-smtps "$postfix_smtps_port" "$pf/log/postfix.log"

    cat >"$state/env.tmp" <<EOF
SMTP_HOST=127.0.0.1
AIOSMTPD_PORT=$aiosmtpd_port
AIOSMTPD_NOPIPE_PORT=$aiosmtpd_nopipe_port
AIOSMTPD_DIR=$records
POSTFIX_PORT=$postfix_port
POSTFIX_NOPIPE_PORT=$postfix_nopipe_port
POSTFIX_MAILDIR=$maildir
POSTFIX_LOG=$pf/log/postfix.log
SINK_PORT=$sink_port
SINK_421_PORT=$sink_421_port
SINK_DROP_PORT=$sink_drop_port
SINK6_PORT=$sink6_port
AIOSMTPD_TLS_PORT=$aiosmtpd_tls_port
AIOSMTPD_SMTPS_PORT=$aiosmtpd_smtps_port
AIOSMTPD_AUTH_PORT=$aiosmtpd_auth_port
POSTFIX_STARTTLS_PORT=$postfix_starttls_port
POSTFIX_SUBMISSION_PORT=$postfix_submission_port
POSTFIX_SMTPS_PORT=$postfix_smtps_port
POSTFIX_TLS_WRONGHOST_PORT=$postfix_wronghost_port
POSTFIX_TLS_EXPIRED_PORT=$postfix_expired_port
POSTFIX_TLS_SELFSIGNED_PORT=$postfix_selfsigned_port
POSTFIX_CLIENTCERT_PORT=$postfix_clientcert_port
INJECT_PORT=$inject_port
TLS_CA_FILE=$tls/ca.crt
TLS_SERVER_CERT=$tls/server.crt
TLS_SERVER_KEY=$tls/server.key
TLS_SERVER_PIN_SHA256=$(cat "$tls/server.pin")
TLS_WRONGHOST_CERT=$tls/wronghost.crt
TLS_EXPIRED_CERT=$tls/expired.crt
TLS_SELFSIGNED_CERT=$tls/selfsigned.crt
TLS_SELFSIGNED_PIN_SHA256=$(cat "$tls/selfsigned.pin")
TLS_CLIENT_CERT=$tls/client.crt
TLS_CLIENT_KEY=$tls/client.key
SASL_USER=$sasl_user
SASL_PASSWORD=$sasl_password
OAUTH_TOKEN=$oauth_token
AIOSMTPD_EXT_PORT=$aiosmtpd_ext_port
AIOSMTPD_QUIRK_PORT=$aiosmtpd_quirk_port
AIOSMTPD_NO8BIT_PORT=$aiosmtpd_no8bit_port
AIOSMTPD_SMALL_PORT=$aiosmtpd_small_port
POSTFIX_RCPTLIMIT_PORT=$postfix_rcptlimit_port
EOF
    mv "$state/env.tmp" "$state/env"
    echo "ctl.sh: servers up; settings in $state/env"
}

report() { # NAME PID
    if [ -n "$2" ]; then
        echo "$1: running (pid $2)"
    else
        echo "$1: stopped"
        return 1
    fi
}

do_status() {
    local name ok=0
    for name in recorder inject $sinks; do
        report "$name" "$(pid_of "$name")" || ok=1
    done
    report postfix "$(postfix_master_pid)" || ok=1
    return $ok
}

[ $# = 2 ] || usage
# Paths go into Postfix's configuration and into STATE_DIR/env unquoted.
case $2$here in
    *[[:space:]=\"\'\\]*) die "STATE_DIR and $here must not contain whitespace, quotes, backslashes or '='" ;;
esac
if [ "$1" = start ]; then
    mkdir -p "$2"
elif [ ! -d "$2" ]; then
    [ "$1" = stop ] && exit 0     # nothing was ever started there
    die "no such STATE_DIR: $2"
fi
set_paths "$(cd "$2" && pwd -P)"

case $1 in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    *) usage ;;
esac
