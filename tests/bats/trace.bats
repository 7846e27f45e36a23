#!/usr/bin/env bats
# -v traces the protocol on stderr ("C: " sent, "S: " received) and never
# shows a secret: not the password, nor any base64 form of it.

load ../lib/common

setup_file() {
	need_servers
}

b64() {
	printf '%b' "$1" | base64 -w0
}

# check_trace PATH MECH [EXPECTED-MECH]
check_trace() {
	local path=$1 mech=$2 s
	MAILPIPE_PASSWORD=$MP_PASS mp_probe "$path" -v --auth "$mech"
	expect_status 0
	expect_out "Authenticated as $MP_USER using ${3:-$mech}"
	expect_err "C: "
	expect_err "S: "
	expect_err "<redacted>"
	# The password, and any base64 that carries it: whole login blobs,
	# and an 8-character run for each of the three byte alignments at
	# which the password can sit inside a longer blob.
	for s in "$MP_PASS" \
		"$(b64 "\\0$MP_USER\\0$MP_PASS")" \
		"$(b64 "$MP_USER\\0$MP_USER\\0$MP_PASS")" \
		"$(b64 "$MP_PASS" | cut -c1-8)" \
		"$(b64 "\\0\\0$MP_PASS" | cut -c5-12)" \
		"$(b64 "\\0$MP_PASS" | cut -c5-12)"; do
		refute_any "$s"
	done
}

@test "trace smtp: PLAIN" {
	check_trace smtp PLAIN
}

@test "trace smtp: LOGIN" {
	check_trace smtp LOGIN
}

@test "trace smtp: auto (SCRAM-SHA-256)" {
	check_trace smtp auto SCRAM-SHA-256
}

@test "trace imap: PLAIN" {
	check_trace imap PLAIN
}

@test "trace imap: LOGIN" {
	check_trace imap LOGIN
}

@test "trace imap: the IMAP LOGIN command" {
	check_trace imap LOGIN-CMD "LOGIN command"
}

@test "trace imap: auto (SCRAM-SHA-256)" {
	check_trace imap auto SCRAM-SHA-256
}

@test "trace pop3: PLAIN" {
	check_trace pop3 PLAIN
}

@test "trace pop3: LOGIN" {
	check_trace pop3 LOGIN
}

@test "trace pop3: USER/PASS" {
	check_trace pop3 USER USER/PASS
}

@test "trace pop3: auto (SCRAM-SHA-256)" {
	check_trace pop3 auto SCRAM-SHA-256
}

@test "trace: the trace goes to stderr only, stdout stays the probe report" {
	MAILPIPE_PASSWORD=$MP_PASS mp_probe imaps -v
	expect_status 0
	expect_out "Authenticated as $MP_USER"
	expect_err "C: "
	if grep -E '^(C|S): ' <<<"$output"; then
		echo "trace lines on stdout" >&2
		return 1
	fi
}
