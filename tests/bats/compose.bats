#!/usr/bin/env bats
# mailsend's compose mode: the MIME message --to/--subject/--attach build,
# read back with Python's email package (an independent MIME parser), and
# one message sent through Postfix and read from bob's Maildir.

load ../lib/common

setup_file() {
	need_servers
}

setup() {
	export LANG=C.UTF-8 LC_ALL=
	export T=$BATS_TEST_TMPDIR
	marker="c$RANDOM$RANDOM$$"
}

print_to() {
	local out=$1
	shift
	mailsend --print "$@" >"$out"
}

# compose ARGS...: mailsend --print with stdin from $T/body (empty if
# absent); the message, byte for byte, is in $T/msg (and in $output).
compose() {
	[ -f "$T/body" ] || : >"$T/body"
	mp_run_stdin "$T/body" print_to "$T/msg" "$@"
	output=$(cat "$T/msg")
}

# pycheck FILE 'python code': run the code with m = the parsed message
# (policy=default) and raw = its bytes; an assert or exit fails the test.
pycheck() {
	local file=$1
	shift
	python3 - "$file" "$@" <<-'PY'
	import sys, email
	from email import policy
	raw = open(sys.argv[1], "rb").read()
	m = email.message_from_bytes(raw, policy=policy.default)
	code = sys.argv[2]
	args = sys.argv[3:]
	try:
	    exec(code)
	except AssertionError as e:
	    sys.exit("check failed: %s\n%s" % (e, raw[:3000].decode("utf-8", "replace")))
	PY
}

# Fail unless the run printed nothing and exited with code $1.
expect_refused() {
	expect_status "$1"
	if [ -n "$output" ]; then
		echo "nothing may be printed on stdout" >&2
		_mp_show
		return 1
	fi
}

@test "compose: Date, Message-ID, MIME-Version, From, To, Cc present; Bcc absent; long lists folded" {
	printf 'Hello\n' >"$T/body"
	local many=() i
	for i in $(seq 1 12); do many+=(--to "person-number-$i@example.test"); done
	compose "${many[@]}" --cc carol@example.test --bcc secret@example.test \
		--from 'Alice <alice@example.test>' --subject plain
	expect_status 0
	expect_out "MIME-Version: 1.0"
	expect_out "Content-Type: text/plain; charset=utf-8"
	expect_out "Content-Transfer-Encoding: 7bit"
	refute_out "secret@example.test"
	refute_out "Bcc"
	# Every header line within 78 columns; continuation lines start with WSP.
	awk '/^$/ { exit } length($0) > 78 { print "long: " $0; bad = 1 } END { exit bad }' "$T/msg"
	grep -q '^[ \t]person-number-' "$T/msg"
	pycheck "$T/msg" '
import re, email.utils, time
assert re.fullmatch(r"<[0-9a-f]{32}@example\.test>", m["Message-ID"]), m["Message-ID"]
d = email.utils.parsedate_to_datetime(m["Date"])
assert abs(d.timestamp() - time.time()) < 120, m["Date"]
assert re.search(r"[+-]\d{4}$", m["Date"]), m["Date"]
assert m["From"].addresses[0].addr_spec == "alice@example.test"
assert m["From"].addresses[0].display_name == "Alice"
to = [a.addr_spec for a in m["To"].addresses]
assert to == ["person-number-%d@example.test" % i for i in range(1, 13)], to
assert [a.addr_spec for a in m["Cc"].addresses] == ["carol@example.test"]
assert m["Bcc"] is None
assert m.get_content() == "Hello\n"
'
}

@test "compose: a non-ASCII subject and display names are RFC 2047 encoded and decode exactly" {
	local subj='Grüße aus Köln — ein Betreff, der lang genug ist, um gefaltet zu werden: 日本語のテキスト'
	compose --to 'Jörg Müller <joerg@example.test>' --from 'Zoë Ælfric <zoe@example.test>' \
		--full-name ignored --subject "$subj"
	expect_status 0
	# The header block is 7-bit ASCII.
	sed '/^$/q' "$T/msg" | LC_ALL=C grep -q '[^ -~]' && { echo "8-bit header"; cat "$T/msg"; false; }
	expect_out "=?UTF-8?"
	pycheck "$T/msg" '
assert str(m["Subject"]) == args[0], repr(str(m["Subject"]))
assert m["To"].addresses[0].display_name == "Jörg Müller"
assert m["To"].addresses[0].addr_spec == "joerg@example.test"
assert m["From"].addresses[0].display_name == "Zoë Ælfric"
' "$subj"
}

@test "compose: --full-name names a --from that has no name" {
	compose --to bob@example.test --from alice@example.test --full-name 'Änne Example'
	expect_status 0
	pycheck "$T/msg" '
assert m["From"].addresses[0].display_name == "Änne Example"
assert m["From"].addresses[0].addr_spec == "alice@example.test"
'
}

@test "compose: --header fields are added, folded, and 8-bit values encoded" {
	local long="<$(printf 'a%.0s' {1..60})@example.test> <$(printf 'b%.0s' {1..60})@example.test>"
	compose --to bob@example.test --header "References: $long" \
		--header 'X-Note: Größe' --header 'Date: Mon, 1 Jan 2024 10:00:00 +0000'
	expect_status 0
	expect_out "Date: Mon, 1 Jan 2024 10:00:00 +0000"
	[ "$(grep -c '^Date:' "$T/msg")" -eq 1 ]
	awk '/^$/ { exit } length($0) > 78 { bad = 1 } END { exit bad }' "$T/msg"
	pycheck "$T/msg" '
# Python keeps the space of a fold right after the colon.
assert str(m["References"]).strip() == args[0], m["References"]
assert str(m["X-Note"]) == "Größe", str(m["X-Note"])
' "$long"
}

@test "compose: --header may not set what other options or mailsend own" {
	compose --to bob@example.test --header 'Content-Type: text/html'
	expect_refused 64
	expect_err "Content-Type"
	compose --to bob@example.test --header 'Bcc: x@example.test'
	expect_refused 64
	expect_err "--bcc"
	compose --to bob@example.test --header 'no colon here'
	expect_refused 64
}

@test "compose: attachments (random binary, text) decode to identical bytes" {
	head -c 300000 /dev/urandom >"$T/random.bin"
	printf 'line one\nzwei: äöü\n' >"$T/notes.txt"
	printf 'the body\n' >"$T/body"
	compose --to bob@example.test --subject files --attach "$T/random.bin" --attach "$T/notes.txt"
	expect_status 0
	expect_out "multipart/mixed"
	# base64 lines of 76 characters, no line over 78
	awk 'length($0) > 78 { bad = 1 } END { exit bad }' "$T/msg"
	grep -qxE '[A-Za-z0-9+/]{76}' "$T/msg"
	pycheck "$T/msg" '
parts = list(m.iter_parts())
assert [p.get_content_type() for p in parts] == ["text/plain", "application/octet-stream", "text/plain"], [p.get_content_type() for p in parts]
assert parts[0].get_content() == "the body\n"
assert parts[1].get_filename() == "random.bin"
assert parts[2].get_filename() == "notes.txt"
assert parts[2].get_content_charset() == "utf-8"
assert parts[1]["Content-Transfer-Encoding"] == "base64"
assert parts[1].get_content_disposition() == "attachment"
import os
open(os.environ["T"] + "/out1", "wb").write(parts[1].get_payload(decode=True))
open(os.environ["T"] + "/out2", "wb").write(parts[2].get_payload(decode=True))
assert not m.defects and not any(p.defects for p in parts)
'
	cmp "$T/random.bin" "$T/out1"
	cmp "$T/notes.txt" "$T/out2"
}

@test "compose: an empty file and an attachment with an empty body" {
	: >"$T/empty.pdf"
	compose --to bob@example.test --attach "$T/empty.pdf"
	expect_status 0
	pycheck "$T/msg" '
parts = list(m.iter_parts())
assert len(parts) == 1, len(parts)
assert parts[0].get_content_type() == "application/pdf"
assert parts[0].get_payload(decode=True) == b""
'
}

@test "compose: file names with non-ASCII and spaces, short and long, round-trip (RFC 2231)" {
	local short='Résumé final 2024.pdf'
	local long="Ein sehr langer Dateiname mit Ümlauten und Leerzeichen, der über mehrere Zeilen gehen muss — $(printf 'x%.0s' {1..60}).txt"
	mkdir -p "$T/dir"
	printf 'one' >"$T/dir/$short"
	printf 'two' >"$T/dir/$long"
	compose --to bob@example.test --attach "$T/dir/$short" --attach "$T/dir/$long"
	expect_status 0
	refute_out "$T/dir"
	awk 'length($0) > 78 { print; bad = 1 } END { exit bad }' "$T/msg"
	pycheck "$T/msg" '
parts = list(m.iter_parts())
names = [p.get_filename() for p in parts]
assert names == args, names
assert parts[0].get_content_type() == "application/pdf"
assert parts[0].get_payload(decode=True) == b"one"
assert parts[1].get_payload(decode=True) == b"two"
' "$short" "$long"
}

@test "compose: a Latin-1 body with --charset ISO-8859-1 arrives as UTF-8" {
	printf 'Caf\xe9 cr\xe8me br\xfbl\xe9e \xa9 2024\n' >"$T/body"
	compose --to bob@example.test --charset ISO-8859-1
	expect_status 0
	expect_out "charset=utf-8"
	expect_out "Content-Transfer-Encoding: quoted-printable"
	pycheck "$T/msg" '
assert m.get_content() == "Café crème brûlée © 2024\n", repr(m.get_content())
'
}

@test "compose: --body FILE is read instead of stdin" {
	printf 'from a file\n' >"$T/b.txt"
	printf 'from stdin\n' >"$T/body"
	compose --to bob@example.test --body "$T/b.txt"
	expect_status 0
	expect_out "from a file"
	refute_out "from stdin"
	compose --to bob@example.test --body "$T/missing.txt"
	expect_refused 64
	expect_err "missing.txt"
}

@test "compose: long lines are quoted-printable and decode back exactly" {
	python3 -c '
import sys
sys.stdout.write("x" * 5000 + "\n" + "short line \n" + "=?not encoded?= " * 40 + "\n" + ".\n" + "From here\n" + "tab\tend\t\n")
' >"$T/body"
	compose --to bob@example.test
	expect_status 0
	expect_out "Content-Transfer-Encoding: quoted-printable"
	awk 'length($0) > 78 { bad = 1 } END { exit bad }' "$T/msg"
	pycheck "$T/msg" '
import os
want = open(os.environ["T"] + "/body", "rb").read()
got = m.get_payload(decode=True)
assert got == want, (got[-200:], want[-200:])
'
}

@test "compose: UTF-8 text with short lines, CRLF input and a missing final newline" {
	printf 'caf\xc3\xa9\r\nzweite Zeile\r\nohne Ende' >"$T/body"
	compose --to bob@example.test
	expect_status 0
	expect_out "quoted-printable"
	pycheck "$T/msg" '
got = m.get_payload(decode=True)
assert got == "café\nzweite Zeile\nohne Ende".encode(), got
'
}

@test "compose: plain ASCII stays 7bit and readable" {
	printf 'just ascii\n\n-- \nsig\n' >"$T/body"
	compose --to bob@example.test
	expect_status 0
	expect_out "Content-Transfer-Encoding: 7bit"
	[[ "$output" == *$'\n\njust ascii\n\n-- \nsig' ]]
}

@test "compose: a body line that looks like a boundary cannot break the multipart" {
	printf -- '--=_mailpipe_0000\n--=_mailpipe_0000--\ntext\n' >"$T/body"
	printf 'data' >"$T/a.bin"
	compose --to bob@example.test --attach "$T/a.bin"
	expect_status 0
	pycheck "$T/msg" '
parts = list(m.iter_parts())
assert len(parts) == 2, len(parts)
# Such lines could hold the boundary: the text is then quoted-printable,
# which can never produce "=_".
assert parts[0]["Content-Transfer-Encoding"] == "quoted-printable"
assert parts[0].get_content() == "--=_mailpipe_0000\n--=_mailpipe_0000--\ntext\n"
assert parts[1].get_payload(decode=True) == b"data"
'
}

@test "compose: CR or LF in --subject, --to, --cc, --header, --from or a recipient is a usage error, nothing printed" {
	local bad
	for bad in "--subject=$(printf 'a\r\nBcc: x@evil.test')" "--to=$(printf 'bob@example.test\nx@evil.test')" \
		"--cc=$(printf 'bob@example.test\rx')" "--header=$(printf 'X-A: 1\r\nBcc: x@evil.test')" \
		"--from=$(printf 'a@example.test\nBcc: x@evil.test')"; do
		compose --to bob@example.test "$bad"
		expect_refused 64
	done
	compose --subject s "$(printf 'bob@example.test\r\nRCPT TO:<x@evil.test>')"
	expect_refused 64
	expect_err "line break"
}

@test "compose: a missing or unreadable attachment is an error naming it, nothing printed" {
	compose --to bob@example.test --attach "$T/nope.pdf"
	expect_refused 64
	expect_err "nope.pdf"
	compose --to bob@example.test --attach "$T"
	expect_refused 64
	expect_err "directory"
}

@test "compose: no recipients is a usage error" {
	compose --subject lonely
	expect_refused 64
	expect_err "no recipients"
	compose --to 'undisclosed-recipients:;'
	expect_refused 64
}

@test "compose: a body that is not valid in its charset is a data error" {
	printf 'caf\xe9\n' >"$T/body"
	compose --to bob@example.test
	expect_refused 65
	expect_err "--charset"
	compose --to bob@example.test --charset no-such-charset
	expect_refused 64
	expect_err "no-such-charset"
}

@test "compose: in the C locale the body is taken as UTF-8" {
	printf 'caf\xc3\xa9\n' >"$T/body"
	LANG=C LC_ALL=C compose --to bob@example.test --subject "$(printf 'caf\xc3\xa9')"
	expect_status 0
	pycheck "$T/msg" '
assert m.get_content() == "café\n"
assert str(m["Subject"]) == "café"
'
}

@test "compose: Bcc only gives an undisclosed To, and operands become To recipients" {
	compose --bcc hidden@example.test
	expect_status 0
	expect_out "To: undisclosed-recipients:;"
	refute_out "hidden@example.test"
	compose --subject x bob@example.test
	expect_status 0
	expect_out "To: bob@example.test"
}

@test "compose: sent through Postfix submission, subject and two attachments arrive intact" {
	local subj="Prüfbericht $marker — ünïcödé ✓"
	head -c 200000 /dev/urandom >"$T/data.bin"
	printf 'Zeile eins\nZeile zwei — ✓\n' >"$T/Bericht März.txt"
	printf 'Hallo Bob,\nanbei zwei Dateien.\n' >"$T/body"
	MAILPIPE_PASSWORD=$MP_PASS mp_run_stdin "$T/body" mailsend $(submission_args) \
		--from 'Alice Ämann <alice@example.test>' --to bob@example.test --bcc alice@example.test \
		--subject "$subj" --header "X-Marker: $marker" \
		--attach "$T/data.bin" --attach "$T/Bericht März.txt"
	expect_status 0
	wait_mail "$MP_MAILDIR2" "$marker"
	wait_mail "$MP_MAILDIR" "$marker"
	! grep -qi '^Bcc:' "$(mail_with "$MP_MAILDIR" "$marker")"
	local f
	f=$(mail_with "$MP_MAILDIR2" "$marker")
	pycheck "$f" '
import os
T = os.environ["T"]
assert str(m["Subject"]) == args[0], str(m["Subject"])
assert m["From"].addresses[0].display_name == "Alice Ämann"
parts = list(m.iter_parts())
assert len(parts) == 3, len(parts)
assert parts[0].get_content() == "Hallo Bob,\nanbei zwei Dateien.\n"
assert parts[1].get_filename() == "data.bin"
assert parts[1].get_payload(decode=True) == open(T + "/data.bin", "rb").read()
assert parts[2].get_filename() == "Bericht März.txt"
assert parts[2].get_payload(decode=True) == open(T + "/Bericht März.txt", "rb").read()
' "$subj"
}
