#!/usr/bin/env bats
# The config file and the command line: errors are reported with file:line
# and the right exit code, passwords in a readable config are refused, and
# CR/LF in arguments never reach a server.

load ../lib/common

setup_file() {
	need_servers
}

cfg() {
	mkdir -p "$XDG_CONFIG_HOME/mailpipe"
	cat >"$XDG_CONFIG_HOME/mailpipe/config"
	chmod 600 "$XDG_CONFIG_HOME/mailpipe/config"
}

# A fake that records whether anything connected; the client must not.
fake_listener() {
	fake_start - <<-'EOF'
	S: +OK fake
	DRAIN
	EOF
}

expect_no_connection() {
	sleep 0.2
	if [ -s "$FAKE_LOG" ]; then
		echo "the tool connected although it should not have:" >&2
		cat "$FAKE_LOG" >&2
		return 1
	fi
	fake_stop
}

@test "config: unknown key -> 78 with config:LINE:" {
	cfg <<-EOF
	# a comment
	[account x]
	server = imaps://127.0.0.1:$IMAPS_PORT
	no-such-key = 1
	EOF
	local tool
	for tool in mailsend imapsync popfetch; do
		mp_run "$tool" --probe -a x
		expect_status 78
		expect_err "$tool: "
		expect_err "config:4:"
		expect_err "no-such-key"
	done
}

@test "config: a syntax error names its line" {
	cfg <<-EOF
	[account x]
	server = imaps://127.0.0.1:$IMAPS_PORT
	[account
	EOF
	mp_run imapsync --probe -a x
	expect_status 78
	expect_err "config:3:"
}

@test "config: --config FILE is read instead of the default" {
	cat >"$BATS_TEST_TMPDIR/other.conf" <<-EOF
	[account y]
	server = imaps://$MP_USER@127.0.0.1:$IMAPS_PORT
	tls-ca-file = $MP_CA
	EOF
	MAILPIPE_PASSWORD=$MP_PASS mp_run imapsync --probe --config "$BATS_TEST_TMPDIR/other.conf" -a y
	expect_status 0
	expect_out "Authenticated as $MP_USER"
}

@test "config: unknown account -> 78" {
	cfg <<-EOF
	[account x]
	server = imaps://127.0.0.1:$IMAPS_PORT
	EOF
	mp_run imapsync --probe -a nosuch
	expect_status 78
	expect_err "nosuch"
}

@test "config: password in a group-readable config -> 78; chmod 600 works" {
	cfg <<-EOF
	[account x]
	server = imaps://$MP_USER@127.0.0.1:$IMAPS_PORT
	tls-ca-file = $MP_CA
	password = $MP_PASS
	EOF
	chmod 640 "$XDG_CONFIG_HOME/mailpipe/config"
	mp_run imapsync --probe -a x
	expect_status 78
	expect_err "config"
	refute_any "$MP_PASS"
	refute_out "Authenticated"

	chmod 604 "$XDG_CONFIG_HOME/mailpipe/config"
	mp_run imapsync --probe -a x
	expect_status 78

	chmod 600 "$XDG_CONFIG_HOME/mailpipe/config"
	mp_run imapsync --probe -a x
	expect_status 0
	expect_out "Authenticated as $MP_USER"
}

@test "config: a readable config without a password is fine" {
	cfg <<-EOF
	[account x]
	server = pop3s://$MP_USER@127.0.0.1:$POP3S_PORT
	tls-ca-file = $MP_CA
	EOF
	chmod 644 "$XDG_CONFIG_HOME/mailpipe/config"
	MAILPIPE_PASSWORD=$MP_PASS mp_run popfetch --probe -a x
	expect_status 0
	expect_out "Authenticated as $MP_USER"
}

@test "config: default-account and [defaults] apply without -a" {
	cfg <<-EOF
	[defaults]
	default-account = x
	tls-ca-file = $MP_CA
	[account x]
	server = smtps://$MP_USER@127.0.0.1:$SUBMISSIONS_PORT
	EOF
	MAILPIPE_PASSWORD=$MP_PASS mp_run mailsend --probe
	expect_status 0
	expect_out "Server: smtps://127.0.0.1:$SUBMISSIONS_PORT"
	expect_out "Authenticated as $MP_USER"
}

@test "config: the command line overrides the account" {
	cfg <<-EOF
	[account x]
	server = imaps://$MP_USER2@127.0.0.1:1
	tls-ca-file = $MP_CA
	EOF
	MAILPIPE_PASSWORD=$MP_PASS mp_run imapsync --probe -a x \
		--server "imaps://127.0.0.1:$IMAPS_PORT" --user "$MP_USER"
	expect_status 0
	expect_out "Authenticated as $MP_USER"
}

@test "config: CR/LF in --user -> 64 and nothing connects" {
	local tool scheme
	for tool in mailsend imapsync popfetch; do
		case $tool in
		mailsend) scheme=smtps ;;
		imapsync) scheme=imaps ;;
		popfetch) scheme=pop3s ;;
		esac
		fake_listener
		MAILPIPE_PASSWORD=x mp_run "$tool" --probe --server "$scheme://127.0.0.1:$FAKE_PORT" \
			--user $'al\r\nice' --timeout 5
		expect_status 64
		expect_err "$tool: "
		expect_no_connection

		fake_listener
		MAILPIPE_PASSWORD=x mp_run "$tool" --probe --server "$scheme://127.0.0.1:$FAKE_PORT" \
			--user $'alice\n' --timeout 5
		expect_status 64
		expect_no_connection
	done
}

@test "config: CR/LF in the password is refused before it is sent" {
	MAILPIPE_PASSWORD=$'pw\r\na2 LOGOUT' mp_probe imaps --auth LOGIN-CMD -v
	# A usage or config error (the password came from the environment).
	if [ "$status" -ne 64 ] && [ "$status" -ne 78 ]; then
		echo "expected 64 or 78" >&2
		_mp_show
		return 1
	fi
	expect_err "line break"
	refute_out "Authenticated"
	if grep -E '^C: .*LOGIN' <<<"$stderr"; then
		echo "a LOGIN command was sent" >&2
		return 1
	fi
}

@test "config: bad port in --server -> 64" {
	local url
	for url in "imaps://127.0.0.1:99999" "imaps://127.0.0.1:abc" "imaps://127.0.0.1:-1"; do
		mp_run imapsync --probe --server "$url" --timeout 5
		expect_status 64
		expect_err "imapsync: "
	done
}

@test "config: unknown scheme or wrong tool's scheme -> 64" {
	mp_run imapsync --probe --server "http://127.0.0.1:$IMAPS_PORT"
	expect_status 64
	mp_run popfetch --probe --server "imaps://127.0.0.1:$IMAPS_PORT"
	expect_status 64
	mp_run mailsend --probe --server "pop3s://127.0.0.1:$POP3S_PORT"
	expect_status 64
}

@test "config: CR/LF in --server -> 64" {
	mp_run imapsync --probe --server $'imaps://127.0.0.1:1\r\nX'
	expect_status 64
}

@test "config: unknown flag -> 64" {
	mp_run imapsync --no-such-flag
	expect_status 64
	expect_err "imapsync: "
}

@test "config: no --server and no account -> usage error with a clear message" {
	local tool
	for tool in mailsend imapsync popfetch; do
		mp_run "$tool" --probe
		if [ "$status" -ne 64 ] && [ "$status" -ne 78 ]; then
			echo "expected 64 or 78" >&2
			_mp_show
			return 1
		fi
		expect_err "$tool: "
		expect_err "server"
	done
}

@test "config: MAILPIPE_PASSWORD is used, before password-command" {
	cfg <<-EOF
	[account x]
	server = pop3://$MP_USER@127.0.0.1:$POP3_PORT
	tls-ca-file = $MP_CA
	password-command = echo wrong-password
	EOF
	MAILPIPE_PASSWORD=$MP_PASS mp_run popfetch --probe -a x
	expect_status 0
	expect_out "Authenticated as $MP_USER"

	# Without it the password-command is asked, and here it is wrong.
	mp_run popfetch --probe -a x
	expect_status 77
}

@test "config: a failing password-command is an error, not an empty password" {
	cfg <<-EOF
	[account x]
	server = imaps://$MP_USER@127.0.0.1:$IMAPS_PORT
	tls-ca-file = $MP_CA
	password-command = exit 3
	EOF
	mp_run imapsync --probe -a x
	[ "$status" -ne 0 ]
	refute_out "Authenticated"
}

@test "--help and --version exit 0" {
	local tool
	for tool in mailsend imapsync popfetch; do
		mp_run "$tool" --help
		expect_status 0
		expect_out "--server"
		mp_run "$tool" --version
		expect_status 0
		expect_out "$tool"
	done
}
