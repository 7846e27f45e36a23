#!/usr/bin/env bats
# Certificate verification, against the scripted fake server presenting the
# harness's good, expired, wrong-host and untrusted certificates.

load ../lib/common

setup_file() {
	need_certs
}

# fake_tls SCHEME CERT: a fake that speaks just enough of the protocol for
# --probe without a user, with implicit TLS (smtps, imaps, pop3s) or after
# STARTTLS/STLS (smtp, imap, pop3), presenting $MP_CERTS/CERT.pem.
fake_tls() {
	local scheme=$1 cert=$2 tls=()
	case $scheme in
	*s) tls=(--implicit-tls) ;;
	esac
	case $scheme in
	smtps) fake_start - --tls "$cert" "${tls[@]}" <<-'EOF' ;;
	S: 220 fake ESMTP
	ON ^EHLO => 250-fake\r\n250 PIPELINING
	ON ^QUIT => 221 bye
	ON . => 502 5.5.2 unknown
	DRAIN
	EOF
	smtp) fake_start - --tls "$cert" <<-'EOF' ;;
	S: 220 fake ESMTP
	ON ^EHLO => 250-fake\r\n250-PIPELINING\r\n250 STARTTLS
	UNTIL ^STARTTLS
	S: 220 go ahead
	TLS
	ON ^EHLO => 250-fake\r\n250 PIPELINING
	ON ^QUIT => 221 bye
	ON . => 502 5.5.2 unknown
	DRAIN
	EOF
	imaps) fake_start - --tls "$cert" "${tls[@]}" <<-'EOF' ;;
	S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready
	ON ^(\S+) CAPABILITY => * CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n$1 OK done
	ON ^(\S+) LOGOUT => * BYE bye\r\n$1 OK bye
	ON ^(\S+) => $1 BAD unknown
	DRAIN
	EOF
	imap) fake_start - --tls "$cert" <<-'EOF' ;;
	S: * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] fake ready
	ON ^(\S+) CAPABILITY => * CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n$1 OK done
	UNTIL ^(\S+) STARTTLS
	S: $1 OK begin TLS
	TLS
	ON ^(\S+) CAPABILITY => * CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n$1 OK done
	ON ^(\S+) LOGOUT => * BYE bye\r\n$1 OK bye
	ON ^(\S+) => $1 BAD unknown
	DRAIN
	EOF
	pop3s) fake_start - --tls "$cert" "${tls[@]}" <<-'EOF' ;;
	S: +OK fake ready
	ON ^CAPA => +OK\r\nUIDL\r\nSASL PLAIN\r\n.
	ON ^QUIT => +OK bye
	ON . => -ERR unknown
	DRAIN
	EOF
	pop3) fake_start - --tls "$cert" <<-'EOF' ;;
	S: +OK fake ready
	ON ^CAPA => +OK\r\nUIDL\r\nSTLS\r\n.
	UNTIL ^STLS
	S: +OK begin TLS
	TLS
	ON ^CAPA => +OK\r\nUIDL\r\nSASL PLAIN\r\n.
	ON ^QUIT => +OK bye
	ON . => -ERR unknown
	DRAIN
	EOF
	esac
}

# probe_fake SCHEME [ARGS]: --probe the fake without a user.
probe_fake() {
	local scheme=$1
	shift
	mp_run "$(mp_tool "$scheme")" --probe --server "$scheme://127.0.0.1:$FAKE_PORT" \
		--timeout 10 "$@"
}

# The client must not have sent anything over TLS after a refused handshake.
expect_no_session() {
	fake_wait
	if grep -q '^# TLS started' "$FAKE_LOG" && grep -q '^C: ' <(sed -n '/^# TLS started/,$p' "$FAKE_LOG"); then
		echo "client talked over a connection it should have refused:" >&2
		cat "$FAKE_LOG" >&2
		return 1
	fi
}

@test "tls: good certificate from the trusted CA verifies (imaps)" {
	fake_tls imaps server
	probe_fake imaps --tls-ca-file "$MP_CA"
	expect_status 0
	expect_out "Certificate subject: CN=localhost"
	expect_out "Certificate issuer: CN=mailpipe test CA"
	expect_out "Not logged in (no user given)"
	refute_out "NOT verified"
}

@test "tls: certificate from an untrusted CA -> 69 not trusted (imaps)" {
	fake_tls imaps untrusted
	MAILPIPE_PASSWORD=secret-pw probe_fake imaps --tls-ca-file "$MP_CA" --user alice
	expect_status 69
	expect_err "imapsync: "
	expect_err "not trusted"
	refute_out "Authenticated"
	expect_no_session
}

@test "tls: the system trust store does not trust the test CA -> 69" {
	fake_tls imaps server
	probe_fake imaps
	expect_status 69
	expect_err "not trusted"
}

@test "tls: untrusted CA is refused by mailsend (smtps) and popfetch (pop3s) too" {
	fake_tls smtps untrusted
	probe_fake smtps --tls-ca-file "$MP_CA"
	expect_status 69
	expect_err "mailsend: "
	expect_err "not trusted"
	fake_stop

	fake_tls pop3s untrusted
	probe_fake pop3s --tls-ca-file "$MP_CA"
	expect_status 69
	expect_err "popfetch: "
	expect_err "not trusted"
}

@test "tls: untrusted certificate after STARTTLS/STLS -> 69 (smtp, imap, pop3)" {
	local s
	for s in smtp imap pop3; do
		fake_tls "$s" untrusted
		MAILPIPE_PASSWORD=secret-pw probe_fake "$s" --tls-ca-file "$MP_CA" --user alice
		expect_status 69
		expect_err "not trusted"
		expect_no_session
		if grep -q secret-pw "$FAKE_LOG"; then
			echo "password reached the fake server" >&2
			return 1
		fi
	done
}

@test "tls: good certificate after STARTTLS/STLS verifies (smtp, imap, pop3)" {
	local s
	for s in smtp imap pop3; do
		fake_tls "$s" server
		probe_fake "$s" --tls-ca-file "$MP_CA"
		expect_status 0
		expect_out "Certificate subject: CN=localhost"
		expect_out "Not logged in (no user given)"
		fake_stop
	done
}

@test "tls: certificate for another host -> 69 not valid for host" {
	fake_tls imaps wronghost
	probe_fake imaps --tls-ca-file "$MP_CA"
	expect_status 69
	expect_err "not valid for host"
	expect_no_session
}

@test "tls: expired certificate -> 69 expired" {
	fake_tls imaps expired
	probe_fake imaps --tls-ca-file "$MP_CA"
	expect_status 69
	expect_err "expired"
	expect_no_session
}

@test "tls: --tls-fingerprint with the right SHA-256 accepts an untrusted certificate" {
	local fp
	fp=$(cert_sha256 "$MP_CERTS/untrusted.pem")
	fake_tls imaps untrusted
	probe_fake imaps --tls-fingerprint "$fp"
	expect_status 0
	expect_out_i "Certificate SHA-256: $fp"
	expect_out "Not logged in (no user given)"
	fake_stop

	# Lower case without colons is the same pin.
	fp=${fp//:/}
	fake_tls pop3s untrusted
	probe_fake pop3s --tls-fingerprint "${fp,,}"
	expect_status 0
	expect_out "Not logged in (no user given)"
}

@test "tls: --tls-fingerprint also pins a certificate for another host" {
	fake_tls imaps wronghost
	probe_fake imaps --tls-fingerprint "$(cert_sha256 "$MP_CERTS/wronghost.pem")"
	expect_status 0
}

@test "tls: --tls-fingerprint with a wrong SHA-256 -> 69 does not match" {
	fake_tls imaps untrusted
	# The good server certificate's pin does not fit the untrusted one.
	probe_fake imaps --tls-fingerprint "$(cert_sha256 "$MP_CERTS/server.pem")" --tls-ca-file "$MP_CA"
	expect_status 69
	expect_err "does not match"
	expect_no_session
}

@test "tls: --insecure connects to an untrusted server and warns on stderr" {
	fake_tls imaps untrusted
	probe_fake imaps --insecure
	expect_status 0
	expect_err_i "warning"
	expect_err "insecure"
	expect_out "Not logged in (no user given)"
}
