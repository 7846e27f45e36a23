#!/usr/bin/env bats
# --probe against the real Postfix and Dovecot over all six paths: TLS and
# certificate details, capabilities, and a login with PLAIN and with the
# strongest mechanism (auto), plus the password sources.

load ../lib/common

setup_file() {
	need_servers
}

cap_of() {
	case $1 in
	smtp*) echo PIPELINING ;;
	imap*) echo IMAP4rev1 ;;
	pop3*) echo UIDL ;;
	esac
}

# check_login PATH MECH-ASKED MECH-EXPECTED
check_login() {
	MAILPIPE_PASSWORD=$MP_PASS mp_probe "$1" --auth "$2"
	expect_status 0
	expect_out "Server: $1://127.0.0.1:"
	expect_out "TLS: TLS1."
	expect_out "Certificate subject: CN=localhost"
	expect_out "Certificate issuer: CN=mailpipe test CA"
	expect_out_i "Certificate SHA-256: $(cert_sha256 "$MP_CERTS/server.pem")"
	expect_out "Certificate valid: "
	expect_out "Capabilities:"
	expect_out_i "  $(cap_of "$1")"
	expect_out "Authenticated as $MP_USER using $3"
	refute_any "$MP_PASS"
	case $1 in
	imap* | pop3*) expect_out "Capabilities after login:" ;;
	esac
}

@test "probe smtp (submission, STARTTLS): PLAIN login" {
	check_login smtp PLAIN PLAIN
}

@test "probe smtps (implicit TLS): PLAIN login" {
	check_login smtps PLAIN PLAIN
}

@test "probe imap (STARTTLS): PLAIN login" {
	check_login imap PLAIN PLAIN
}

@test "probe imaps: PLAIN login" {
	check_login imaps PLAIN PLAIN
}

@test "probe pop3 (STLS): PLAIN login" {
	check_login pop3 PLAIN PLAIN
}

@test "probe pop3s: PLAIN login" {
	check_login pop3s PLAIN PLAIN
}

@test "probe smtp: --auth auto picks SCRAM-SHA-256" {
	check_login smtp auto SCRAM-SHA-256
}

@test "probe smtps: --auth auto picks SCRAM-SHA-256" {
	check_login smtps auto SCRAM-SHA-256
}

@test "probe imap: --auth auto picks SCRAM-SHA-256" {
	check_login imap auto SCRAM-SHA-256
}

@test "probe imaps: --auth auto picks SCRAM-SHA-256" {
	check_login imaps auto SCRAM-SHA-256
}

@test "probe pop3: --auth auto picks SCRAM-SHA-256" {
	check_login pop3 auto SCRAM-SHA-256
}

@test "probe pop3s: --auth auto picks SCRAM-SHA-256" {
	check_login pop3s auto SCRAM-SHA-256
}

@test "probe imaps: no --auth means auto" {
	MAILPIPE_PASSWORD=$MP_PASS mp_probe imaps
	expect_status 0
	expect_out "Authenticated as $MP_USER using SCRAM-SHA-256"
}

@test "probe imaps: SCRAM-SHA-1, CRAM-MD5 and LOGIN also log in" {
	local m
	for m in SCRAM-SHA-1 CRAM-MD5 LOGIN; do
		MAILPIPE_PASSWORD=$MP_PASS mp_probe imaps --auth "$m"
		expect_status 0
		expect_out "Authenticated as $MP_USER using $m"
	done
}

# check_wrong_password PATH
check_wrong_password() {
	MAILPIPE_PASSWORD=wrong-password mp_probe "$1"
	expect_status 77
	expect_err "$(mp_tool "$1"): "
	# The server's own reason is passed on.
	expect_err_i "authentication failed"
	refute_out "Authenticated as"
}

@test "probe smtp: wrong password exits 77 with the server's reason" {
	check_wrong_password smtp
}

@test "probe imaps: wrong password exits 77 with the server's reason" {
	check_wrong_password imaps
}

@test "probe pop3: wrong password exits 77 with the server's reason" {
	check_wrong_password pop3
}

@test "probe without a user: exit 0, certificate and capabilities, no login" {
	local path
	for path in smtp imaps pop3s; do
		mp_run "$(mp_tool $path)" --probe -v --server "$(mp_url $path '')" \
			--tls-ca-file "$MP_CA" --timeout 10
		expect_status 0
		expect_out "Certificate subject: CN=localhost"
		expect_out_i "  $(cap_of $path)"
		expect_out "Not logged in (no user given)"
		refute_out "Authenticated as"
		# The trace shows that no login command was sent.
		expect_err "C: "
		if grep -E 'C: .*(AUTH|LOGIN|USER |PASS )' <<<"$stderr"; then
			echo "a login command was sent" >&2
			return 1
		fi
	done
}

@test "probe with -a ACCOUNT from the config file and password-command" {
	mkdir -p "$XDG_CONFIG_HOME/mailpipe"
	printf '%s\n' "$MP_PASS" >"$BATS_TEST_TMPDIR/pw"
	cat >"$XDG_CONFIG_HOME/mailpipe/config" <<-EOF
	# test account
	[account test]
	server = imaps://127.0.0.1:$IMAPS_PORT
	user = $MP_USER
	tls-ca-file = $MP_CA
	password-command = cat '$BATS_TEST_TMPDIR/pw'
	timeout = 10
	EOF
	mp_run imapsync --probe -a test
	expect_status 0
	expect_out "Server: imaps://127.0.0.1:$IMAPS_PORT"
	expect_out "Authenticated as $MP_USER using SCRAM-SHA-256"

	# The same account serves popfetch when only the server differs;
	# the user still comes from the account.
	mp_run popfetch --probe -a test --server "pop3s://127.0.0.1:$POP3S_PORT"
	expect_status 0
	expect_out "Authenticated as $MP_USER using"
}

@test "probe with the password from ~/.netrc and from --netrc-file" {
	printf 'machine 127.0.0.1 login %s password %s\n' "$MP_USER" "$MP_PASS" >"$HOME/.netrc"
	chmod 600 "$HOME/.netrc"
	mp_probe pop3s
	expect_status 0
	expect_out "Authenticated as $MP_USER using"

	mv "$HOME/.netrc" "$BATS_TEST_TMPDIR/other-netrc"
	mp_probe smtps --netrc-file "$BATS_TEST_TMPDIR/other-netrc"
	expect_status 0
	expect_out "Authenticated as $MP_USER using"
}

@test "probe: netrc entry for another login is not used" {
	printf 'machine 127.0.0.1 login %s password %s\n' "$MP_USER2" "$MP_PASS2" >"$HOME/.netrc"
	chmod 600 "$HOME/.netrc"
	mp_probe imaps
	[ "$status" -ne 0 ]
	refute_out "Authenticated as"
	refute_any "$MP_PASS2"
}
