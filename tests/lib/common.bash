# common.bash — loaded by every bats file: `load ../lib/common`.
#
# Puts the built tools on PATH ($MP_BUILD, default <repo>/build), gives every
# test its own HOME and XDG dirs so no real user config, state or netrc is
# read, and provides:
#   need_servers     (in setup_file) use the servers tests/run started, or
#                    start private ones; the default teardown_file stops them
#   need_certs       (in setup_file) the throwaway PKI only: MP_CERTS, MP_CA
#   mp_run CMD...    run with stdout in $output, stderr in $stderr, stdin
#                    from /dev/null (so nothing waits on a prompt); fails the
#                    test on any ASan/UBSan/LSan report
#   expect_status N, expect_out TEXT, expect_err TEXT, refute_out TEXT,
#   refute_err TEXT, refute_any TEXT   assertions that print the run on failure
#   expect_out_i TEXT, expect_err_i TEXT  the same, ignoring case
#   cert_sha256 PEM  the certificate's SHA-256 as AA:BB:..
#   mp_probe PATH [ARGS]  mp_run the right tool's --probe against the real
#                    servers as alice; PATH is smtp (submission), smtps, imap,
#                    imaps, pop3 or pop3s. mp_url PATH [USER] prints the URL.
#   fake_*           the scripted fake server, see fake.bash
#   MP_PYTHON        the python3 to run helpers with

bats_require_minimum_version 1.5.0

MP_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MP_LIB=$MP_REPO/tests/lib
: "${MP_BUILD:=$MP_REPO/build}"
case $MP_BUILD in
/*) ;;
*) MP_BUILD=$MP_REPO/$MP_BUILD ;;
esac
export MP_REPO MP_LIB MP_BUILD
# The system's python starts fastest (a version manager's shim may not).
if [ -x /usr/bin/python3 ]; then
	MP_PYTHON=/usr/bin/python3
else
	MP_PYTHON=python3
fi
PATH=$MP_BUILD/cmd/mailsend:$MP_BUILD/cmd/imapsync:$MP_BUILD/cmd/popfetch:$PATH

. "$MP_LIB/servers.sh"
. "$MP_LIB/fake.bash"

# Per test: a private home, so ~/.netrc and ~/.config are never the user's.
if [ -n "${BATS_TEST_TMPDIR:-}" ]; then
	export HOME=$BATS_TEST_TMPDIR/home
	export XDG_CONFIG_HOME=$BATS_TEST_TMPDIR/config
	export XDG_STATE_HOME=$BATS_TEST_TMPDIR/state
	export XDG_CACHE_HOME=$BATS_TEST_TMPDIR/cache
	export XDG_DATA_HOME=$BATS_TEST_TMPDIR/data
	mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME"
fi
unset MAILPIPE_PASSWORD

need_servers() {
	if [ "${MP_SERVERS_UP:-}" = 1 ] && [ -f "${MP_SERVERS_DIR:-}/env" ]; then
		. "$MP_SERVERS_DIR/env"
		return 0
	fi
	servers_start || return 1
	export MP_SERVERS_OWNED=$MP_SERVERS_DIR
}

release_servers() {
	if [ -n "${MP_SERVERS_OWNED:-}" ] && [ "$MP_SERVERS_OWNED" = "${MP_SERVERS_DIR:-}" ]; then
		servers_stop
		unset MP_SERVERS_OWNED
	fi
	return 0
}

need_certs() {
	if [ -n "${MP_CERTS:-}" ] && [ -f "$MP_CERTS/ca.pem" ]; then
		export MP_CA=$MP_CERTS/ca.pem
		return 0
	fi
	export MP_CERTS=$BATS_FILE_TMPDIR/certs
	export MP_CA=$MP_CERTS/ca.pem
	bash "$MP_LIB/certs.sh" "$MP_CERTS"
}

teardown_file() {
	release_servers
}

teardown() {
	fake_stop
}

mp_run() {
	run --separate-stderr "$@" </dev/null
	# A sanitizer report fails the test whatever the exit status was.
	if [[ "${stderr:-}" == *"Sanitizer"* || "${stderr:-}" == *"runtime error:"* ]]; then
		echo "sanitizer report:" >&2
		_mp_show
		return 1
	fi
}

mp_url() {
	local user=${2-$MP_USER}
	[ -n "$user" ] && user=$user@
	case $1 in
	smtp) echo "smtp://${user}127.0.0.1:$SUBMISSION_PORT" ;;
	smtps) echo "smtps://${user}127.0.0.1:$SUBMISSIONS_PORT" ;;
	imap) echo "imap://${user}127.0.0.1:$IMAP_PORT" ;;
	imaps) echo "imaps://${user}127.0.0.1:$IMAPS_PORT" ;;
	pop3) echo "pop3://${user}127.0.0.1:$POP3_PORT" ;;
	pop3s) echo "pop3s://${user}127.0.0.1:$POP3S_PORT" ;;
	*) echo "mp_url: unknown path $1" >&2; return 1 ;;
	esac
}

mp_tool() {
	case $1 in
	smtp*) echo mailsend ;;
	imap*) echo imapsync ;;
	pop3*) echo popfetch ;;
	esac
}

mp_probe() {
	local path=$1
	shift
	mp_run "$(mp_tool "$path")" --probe --server "$(mp_url "$path")" \
		--tls-ca-file "$MP_CA" --timeout 10 "$@"
}

cert_sha256() {
	python3 -c 'import hashlib, ssl, sys
der = ssl.PEM_cert_to_DER_cert(open(sys.argv[1]).read())
h = hashlib.sha256(der).hexdigest().upper()
print(":".join(h[i:i + 2] for i in range(0, len(h), 2)))' "$1"
}

_mp_show() {
	{
		echo "-- command exited $status"
		echo "-- stdout:"
		printf '%s\n' "$output"
		echo "-- stderr:"
		printf '%s\n' "${stderr:-}"
	} >&2
}

expect_status() {
	if [ "$status" -ne "$1" ]; then
		echo "expected exit status $1" >&2
		_mp_show
		return 1
	fi
}

expect_out() {
	if [[ "$output" != *"$1"* ]]; then
		echo "expected stdout to contain: $1" >&2
		_mp_show
		return 1
	fi
}

expect_err() {
	if [[ "${stderr:-}" != *"$1"* ]]; then
		echo "expected stderr to contain: $1" >&2
		_mp_show
		return 1
	fi
}

expect_out_i() {
	local o=${output,,}
	if [[ "$o" != *"${1,,}"* ]]; then
		echo "expected stdout to contain (any case): $1" >&2
		_mp_show
		return 1
	fi
}

expect_err_i() {
	local e=${stderr:-}
	if [[ "${e,,}" != *"${1,,}"* ]]; then
		echo "expected stderr to contain (any case): $1" >&2
		_mp_show
		return 1
	fi
}

refute_out() {
	if [[ "$output" == *"$1"* ]]; then
		echo "stdout must not contain: $1" >&2
		_mp_show
		return 1
	fi
}

refute_err() {
	if [[ "${stderr:-}" == *"$1"* ]]; then
		echo "stderr must not contain: $1" >&2
		_mp_show
		return 1
	fi
}

refute_any() {
	refute_out "$1" && refute_err "$1"
}

# mp_run_stdin FILE CMD...: mp_run with stdin from FILE.
mp_run_stdin() {
	local in=$1
	shift
	run --separate-stderr "$@" <"$in"
	if [[ "${stderr:-}" == *"Sanitizer"* || "${stderr:-}" == *"runtime error:"* ]]; then
		echo "sanitizer report:" >&2
		_mp_show
		return 1
	fi
}

# mail_with MAILDIR MARKER: the delivered files (new/ and cur/) holding
# MARKER, one per line.
mail_with() {
	grep -lF -- "$2" "$1"/new/* "$1"/cur/* 2>/dev/null || true
}

# wait_mail MAILDIR MARKER [N]: wait up to 15 s until N (default 1) files
# hold MARKER; then give Postfix a moment to show a duplicate, and require
# exactly N.
wait_mail() {
	local want=${3:-1} i n
	for ((i = 0; i < 150; i++)); do
		n=$(mail_with "$1" "$2" | wc -l)
		[ "$n" -ge "$want" ] && break
		sleep 0.1
	done
	sleep 0.3
	n=$(mail_with "$1" "$2" | wc -l)
	if [ "$n" -ne "$want" ]; then
		echo "expected $want message(s) with '$2' in $1, found $n" >&2
		return 1
	fi
}

# submission_args: how the tests reach Postfix's submission port as alice.
submission_args() {
	echo --server "smtp://alice@127.0.0.1:$SUBMISSION_PORT" --tls-ca-file "$MP_CA" --timeout 10
}
