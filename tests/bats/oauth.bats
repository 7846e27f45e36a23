#!/usr/bin/env bats
# OAuth2 logins: the bearer token comes from token-command and travels as
# OAUTHBEARER (preferred) or XOAUTH2, never in the trace. No real server here
# speaks OAuth without an identity provider, so a scripted IMAPS server
# checks the exact bytes.

load ../lib/common

setup_file() {
	need_certs
}

# The base64 SASL blob of the AUTHENTICATE line the fake server received.
sent_blob() {
	fake_wait
	sed -n 's/^C: [A-Za-z0-9]* AUTHENTICATE [A-Z0-9]* \(.*\)$/\1/p' "$FAKE_LOG" | head -n1
}

start_imap_oauth() {
	fake_start - --tls server --implicit-tls <<-EOF
	S: * OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=XOAUTH2 AUTH=OAUTHBEARER] fake ready
	C: AUTHENTICATE
	$1
	ON CAPABILITY => * CAPABILITY IMAP4rev1\r\n\$TAG OK done
	ON LOGOUT => * BYE bye\r\n\$TAG OK done
	DRAIN
	EOF
}

probe_oauth() {
	mp_run imapsync --probe --server "imaps://alice@127.0.0.1:$FAKE_PORT" \
		--tls-ca-file "$MP_CA" --timeout 10 \
		--token-command "printf 'tok-123\n'" "$@"
}

@test "oauth: automatic choice sends OAUTHBEARER with the token, and the trace hides it" {
	start_imap_oauth 'S: $TAG OK [CAPABILITY IMAP4rev1] logged in'
	probe_oauth -v
	expect_status 0
	expect_out "Authenticated as alice using OAUTHBEARER"
	blob=$(sent_blob)
	[ "$(printf '%s' "$blob" | base64 -d | od -An -c | tr -s ' ' | tr -d '\n')" = \
	  "$(printf 'n,a=alice,\001host=127.0.0.1\001port=%s\001auth=Bearer tok-123\001\001' "$FAKE_PORT" | od -An -c | tr -s ' ' | tr -d '\n')" ]
	refute_any "tok-123"
	refute_any "$blob"
	expect_err "AUTHENTICATE OAUTHBEARER <redacted>"
}

@test "oauth: --auth XOAUTH2 sends user and bearer token" {
	start_imap_oauth 'S: $TAG OK logged in'
	probe_oauth --auth XOAUTH2
	expect_status 0
	expect_out "Authenticated as alice using XOAUTH2"
	[ "$(sent_blob | base64 -d | od -An -c | tr -s ' ' | tr -d '\n')" = \
	  "$(printf 'user=alice\001auth=Bearer tok-123\001\001' | od -An -c | tr -s ' ' | tr -d '\n')" ]
}

@test "oauth: a rejected token exits 77 after answering the error challenge" {
	# RFC 7628: the server sends a JSON error; the client answers 0x01.
	start_imap_oauth "$(printf '%s\n%s\n%s' \
		'S: + eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=' \
		'C: ^AQ==$' \
		'S: A0001 NO [AUTHENTICATIONFAILED] token rejected')"
	probe_oauth
	expect_status 77
	expect_err "invalid_token"
	fake_wait
	grep -q '^C: AQ==$' "$FAKE_LOG"
}

@test "oauth: a failing token-command is a config error and nothing is sent" {
	start_imap_oauth 'S: $TAG OK logged in'
	mp_run imapsync --probe --server "imaps://alice@127.0.0.1:$FAKE_PORT" \
		--tls-ca-file "$MP_CA" --timeout 10 --token-command "exit 3"
	expect_status 78
	expect_err "token-command failed"
	fake_wait
	! grep -q "AUTHENTICATE" "$FAKE_LOG"
}

@test "oauth: without SASL-IR the token waits for the server's empty challenge" {
	fake_start - --tls server --implicit-tls <<-EOF
	S: * OK [CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER] fake ready
	C: ^(\S+) AUTHENTICATE OAUTHBEARER$
	S: +
	C*:
	S: \$1 OK [CAPABILITY IMAP4rev1] logged in
	ON CAPABILITY => * CAPABILITY IMAP4rev1\r\n\$TAG OK done
	ON LOGOUT => * BYE bye\r\n\$TAG OK done
	DRAIN
	EOF
	probe_oauth
	expect_status 0
	expect_out "Authenticated as alice using OAUTHBEARER"
	fake_wait
	[ "$FAKE_STATUS" -eq 0 ]
	# The token came on a line of its own, after the "+".
	[ "$(grep -A1 'AUTHENTICATE OAUTHBEARER$' "$FAKE_LOG" | tail -n1 | cut -c1-3)" = "S: " ]
	grep -Eq '^C: [A-Za-z0-9+/]+=*$' "$FAKE_LOG"
}
