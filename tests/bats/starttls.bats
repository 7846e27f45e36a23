#!/usr/bin/env bats
# STARTTLS/STLS is required on the plain schemes: a server that does not offer
# it, refuses it, injects plaintext after the go-ahead, or (IMAP) greets with
# PREAUTH is refused, and no credentials ever leave in the clear.

load ../lib/common

setup_file() {
	need_certs
}

# probe_fake SCHEME [ARGS]: --probe the fake as alice (password in the env).
probe_fake() {
	local scheme=$1
	shift
	MAILPIPE_PASSWORD=secret-pw mp_run "$(mp_tool "$scheme")" --probe \
		--server "$scheme://alice@127.0.0.1:$FAKE_PORT" \
		--tls-ca-file "$MP_CA" --timeout 10 "$@"
}

# Nothing that looks like a login reached the fake server.
expect_no_credentials() {
	fake_wait
	if grep -Ei 'secret-pw|c2VjcmV0LXB3|^C: .*(AUTH|LOGIN|USER |PASS )' "$FAKE_LOG"; then
		echo "credentials were sent:" >&2
		cat "$FAKE_LOG" >&2
		return 1
	fi
}

# --- SMTP ---------------------------------------------------------------

@test "starttls smtp: STARTTLS not advertised -> 69" {
	fake_start - --tls server <<-'EOF'
	S: 220 fake ESMTP
	ON ^EHLO => 250-fake\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN
	ON ^QUIT => 221 bye
	ON . => 502 5.5.2 unknown
	DRAIN
	EOF
	probe_fake smtp
	expect_status 69
	expect_err "mailsend: "
	expect_err_i "STARTTLS"
	expect_no_credentials
}

@test "starttls smtp: STARTTLS refused -> 69" {
	fake_start - --tls server <<-'EOF'
	S: 220 fake ESMTP
	ON ^EHLO => 250-fake\r\n250-STARTTLS\r\n250 AUTH PLAIN
	ON ^STARTTLS => 554 5.7.0 no TLS for you
	ON ^QUIT => 221 bye
	ON . => 502 5.5.2 unknown
	DRAIN
	EOF
	probe_fake smtp
	expect_status 69
	expect_err "no TLS for you"
	expect_no_credentials
}

@test "starttls smtp: plaintext injected after the go-ahead -> 76" {
	fake_start - --tls server <<-'EOF'
	S: 220 fake ESMTP
	ON ^EHLO => 250-fake\r\n250-STARTTLS\r\n250 AUTH PLAIN
	UNTIL ^STARTTLS
	SR: 220 go\r\n250 injected\r\n
	TLS
	ON ^EHLO => 250-fake\r\n250 AUTH PLAIN
	ON . => 535 5.7.8 no
	DRAIN
	EOF
	probe_fake smtp
	expect_status 76
	expect_err "injection"
	expect_no_credentials
}

# --- IMAP ---------------------------------------------------------------

@test "starttls imap: STARTTLS not advertised -> 69" {
	fake_start - --tls server <<-'EOF'
	S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready
	ON ^(\S+) CAPABILITY => * CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n$1 OK done
	ON ^(\S+) LOGOUT => * BYE bye\r\n$1 OK bye
	ON ^(\S+) => $1 BAD unknown
	DRAIN
	EOF
	probe_fake imap
	expect_status 69
	expect_err "imapsync: "
	expect_err_i "STARTTLS"
	expect_no_credentials
}

@test "starttls imap: STARTTLS refused -> 69" {
	fake_start - --tls server <<-'EOF'
	S: * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] fake ready
	ON ^(\S+) CAPABILITY => * CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n$1 OK done
	ON ^(\S+) STARTTLS => $1 NO no TLS for you
	ON ^(\S+) LOGOUT => * BYE bye\r\n$1 OK bye
	ON ^(\S+) => $1 BAD unknown
	DRAIN
	EOF
	probe_fake imap
	expect_status 69
	expect_err "no TLS for you"
	expect_no_credentials
}

@test "starttls imap: plaintext injected after the go-ahead -> 76" {
	fake_start - --tls server <<-'EOF'
	S: * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] fake ready
	ON ^(\S+) CAPABILITY => * CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n$1 OK done
	UNTIL ^(\S+) STARTTLS
	SR: $1 OK begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n
	TLS
	ON ^(\S+) => $1 NO no
	DRAIN
	EOF
	probe_fake imap
	expect_status 76
	expect_err "injection"
	expect_no_credentials
}

@test "starttls imap: PREAUTH greeting on imap:// -> 76 refused" {
	fake_start - --tls server <<-'EOF'
	S: * PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] logged in as alice already
	ON ^(\S+) LOGOUT => * BYE bye\r\n$1 OK bye
	ON ^(\S+) => $1 BAD no
	DRAIN
	EOF
	probe_fake imap
	expect_status 76
	expect_err "PREAUTH"
	refute_out "Authenticated as"
	expect_no_credentials
	# Nothing but a LOGOUT (if that) may follow a refused PREAUTH.
	if grep -E '^C: ' "$FAKE_LOG" | grep -vi 'LOGOUT'; then
		echo "client kept talking to a PREAUTH server" >&2
		return 1
	fi
}

# --- POP3 ---------------------------------------------------------------

@test "starttls pop3: STLS not advertised -> 69" {
	fake_start - --tls server <<-'EOF'
	S: +OK fake ready
	ON ^CAPA => +OK\r\nUIDL\r\nUSER\r\nSASL PLAIN\r\n.
	ON ^QUIT => +OK bye
	ON . => -ERR unknown
	DRAIN
	EOF
	probe_fake pop3
	expect_status 69
	expect_err "popfetch: "
	expect_err_i "STLS"
	expect_no_credentials
}

@test "starttls pop3: STLS refused -> 69" {
	fake_start - --tls server <<-'EOF'
	S: +OK fake ready
	ON ^CAPA => +OK\r\nUIDL\r\nSTLS\r\n.
	ON ^STLS => -ERR no TLS for you
	ON ^QUIT => +OK bye
	ON . => -ERR unknown
	DRAIN
	EOF
	probe_fake pop3
	expect_status 69
	expect_err "no TLS for you"
	expect_no_credentials
}

@test "starttls pop3: plaintext injected after the go-ahead -> 76" {
	fake_start - --tls server <<-'EOF'
	S: +OK fake ready
	ON ^CAPA => +OK\r\nUIDL\r\nSTLS\r\n.
	UNTIL ^STLS
	SR: +OK begin TLS\r\n+OK injected\r\n
	TLS
	ON . => -ERR no
	DRAIN
	EOF
	probe_fake pop3
	expect_status 76
	expect_err "injection"
	expect_no_credentials
}

# --- opting out -----------------------------------------------------------

@test "starttls: --tls=no talks plaintext but refuses to send a password" {
	fake_start - <<-'EOF'
	S: +OK fake ready
	ON ^CAPA => +OK\r\nUIDL\r\nUSER\r\nSASL PLAIN\r\n.
	ON ^QUIT => +OK bye
	ON . => -ERR unknown
	DRAIN
	EOF
	probe_fake pop3 --tls=no
	[ "$status" -ne 0 ]
	expect_no_credentials
}
