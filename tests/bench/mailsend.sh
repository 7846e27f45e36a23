#!/bin/bash
# tests/bench/mailsend.sh — mailsend against msmtp on issue 3's performance
# targets, in one run. Both tools talk to the same private Postfix
# (submission port, STARTTLS + AUTH as alice, the harness's CA) which delivers
# to Dovecot; every phase counts what arrived in bob's Maildir, since a
# benchmark that silently sends nothing proves nothing.
#
#   1. one message per process: median wall time of BENCH_N runs each
#      (target: mailsend <= 0.25 x msmtp)
#   2. BENCH_BATCH messages: `mailsend --batch DIR` over one connection versus
#      one msmtp process per message (target: >= 30 x faster)
#   3. one BENCH_BIG_MB MiB message: peak RSS (target: mailsend under 16 MiB)
#
# Usage: tests/bench/mailsend.sh
# Environment:
#   MP_BUILD      a build directory to use (default: a release build made
#                 here in build-bench, without sanitizers)
#   BENCH_N       runs per tool in phase 1 (default 30)
#   BENCH_BATCH   messages in phase 2 (default 1000)
#   BENCH_BIG_MB  size of the phase 3 message in MiB (default 50)
#   BENCH_PHASES  which phases to run (default "1 2 3")
#   BENCH_MAILSEND_ARGS  extra mailsend options, split on spaces (e.g.
#                 "--auth plain" to use the mechanism msmtp picks)
# Needs root for apt-get when msmtp or /usr/bin/time is missing. Not a test:
# tests/run never calls it. Exit status 0 when every phase ran, whatever the
# verdicts; 1 when a phase could not run or its mail did not arrive.
# The harness it shares with the other benchmarks is in tests/bench/lib.sh.
# shellcheck disable=SC2317 # the phases are called as "phase$p"
set -u -o pipefail

cd "$(dirname "$0")/../.." || exit 1
REPO=$(pwd)
# shellcheck source=tests/bench/lib.sh
. "$REPO/tests/bench/lib.sh"
N=${BENCH_N:-30}
BATCH=${BENCH_BATCH:-1000}
BIG_MB=${BENCH_BIG_MB:-50}
PHASES=${BENCH_PHASES:-1 2 3}
RCPT=bob@example.test
FROM=alice@example.test

# ---- the tools -----------------------------------------------------------

bench_build mailsend MAILSEND

need_pkgs=()
command -v msmtp >/dev/null || need_pkgs+=(msmtp)
[ -x /usr/bin/time ] || need_pkgs+=(time)
bench_install "${need_pkgs[@]}"

# ---- servers and a private home -------------------------------------------

bench_start

PF_CONF=$MP_SERVERS_DIR/postfix/conf
PF_QUEUE=$MP_SERVERS_DIR/postfix/queue

# msmtp: the same port, STARTTLS, the same CA, AUTH as alice. The password
# is in the file (not passwordeval) so msmtp forks nothing extra.
MSMTPRC=$W/msmtprc
cat >"$MSMTPRC" <<EOF
account bench
host 127.0.0.1
port $SUBMISSION_PORT
tls on
tls_starttls on
tls_trust_file $MP_CA
auth on
user $MP_USER
password $MP_PASS
from $FROM
account default : bench
EOF
chmod 600 "$MSMTPRC"

MSMTP=(msmtp -C "$MSMTPRC")
# shellcheck disable=SC2206 # BENCH_MAILSEND_ARGS is split on purpose
MS=("$MAILSEND" --server "smtp://$MP_USER@127.0.0.1:$SUBMISSION_PORT"
	--tls-ca-file "$MP_CA" --timeout 60 ${BENCH_MAILSEND_ARGS:-})

# ---- helpers ---------------------------------------------------------------

# Messages in bob's Maildir.
bob_count() {
	md_count "$MP_MAILDIR2"
}

# True when Postfix holds no message still to be delivered now.
queue_busy() {
	[ -n "$(find "$PF_QUEUE/maildrop" "$PF_QUEUE/incoming" "$PF_QUEUE/active" \
		-type f -print -quit 2>/dev/null)" ]
}

# Wait until Postfix has delivered everything (up to $1 seconds, default
# 300), so one tool's delivery load never overlaps the other's measurement.
drain() {
	local limit=${1:-300} t0=$SECONDS
	while queue_busy; do
		if ((SECONDS - t0 > limit)); then
			echo "mailsend.sh: Postfix queue not empty after $limit s" >&2
			return 1
		fi
		sleep 0.01
	done
	if [ -n "$(find "$PF_QUEUE/deferred" -type f -print -quit 2>/dev/null)" ]; then
		echo "mailsend.sh: Postfix deferred a message; tail of its log:" >&2
		tail -n 20 "$MP_SERVERS_DIR/log/postfix.log" >&2
		return 1
	fi
}

# expect_arrived LABEL BEFORE WANT: print and check bob's new messages.
expect_arrived() {
	local got=$(($(bob_count) - $2))
	printf "  %-34s %d of %d arrived in bob's Maildir\n" "$1:" "$got" "$3"
	if [ "$got" -ne "$3" ]; then
		echo "mailsend.sh: $1: expected $3 message(s), found $got" >&2
		return 1
	fi
}

# Show why a run failed: all of its log, which is short here (lib.sh's
# show_failure shows the last lines).
show_failure() {
	echo "mailsend.sh: $1 failed (exit $2):" >&2
	sed 's/^/    /' "$3" >&2
}

row() { rows+=("$(printf '%-30s %12s %12s %9s   %s' "$@")"); }

printf 'mailsend benchmark: %s against %s\n' "$MAILSEND" "$(msmtp --version | head -n1)"
printf 'servers: Postfix submission 127.0.0.1:%s (STARTTLS + AUTH) -> Dovecot LMTP\n' \
	"$SUBMISSION_PORT"
printf 'machine: %s CPUs, %s\n\n' "$(nproc)" "$(uname -sr)"

# ---- phase 1: one message per process ---------------------------------------

phase1() {
	local msg=$W/small.eml i t t0 t1 rc before ms_med msmtp_med ratio
	local log=$W/p1.err
	{
		printf 'From: %s\nTo: %s\nSubject: mailsend benchmark, one message\n' "$FROM" "$RCPT"
		printf 'Date: Thu, 01 Jan 2026 00:00:00 +0000\n'
		printf 'Message-ID: <bench-small-%s@example.test>\n\n' "$$"
		for i in 1 2 3 4 5 6 7 8; do
			printf 'A short body line, number %d, to make a small message.\n' "$i"
		done
	} >"$msg"
	echo "phase 1: $N runs each, one small message per process, alternating tools"
	drain || return 1
	before=$(bob_count)
	# One untimed run each warms the page cache and Postfix's processes;
	# its trace tells which SASL mechanism each tool chose.
	"${MSMTP[@]}" --debug "$RCPT" <"$msg" >"$log" 2>&1 || { show_failure msmtp $? "$log"; return 1; }
	printf '  msmtp AUTH mechanism:    %s\n' "$(sed -n 's/^--> AUTH \([^ ]*\).*/\1/p' "$log" | head -n1)"
	"${MS[@]}" -v -i "$RCPT" <"$msg" 2>"$log" || { show_failure mailsend $? "$log"; return 1; }
	printf '  mailsend AUTH mechanism: %s\n' "$(sed -n 's/^C: AUTH \([^ ]*\).*/\1/p' "$log" | head -n1)"
	: >"$W/p1.msmtp"
	: >"$W/p1.mailsend"
	for ((i = 0; i < N; i++)); do
		drain 30 || return 1
		t0=$(now_us)
		"${MSMTP[@]}" "$RCPT" <"$msg" 2>"$log"
		rc=$?
		t1=$(now_us)
		[ "$rc" -eq 0 ] || { show_failure msmtp "$rc" "$log"; return 1; }
		echo $((t1 - t0)) >>"$W/p1.msmtp"
		drain 30 || return 1
		t0=$(now_us)
		"${MS[@]}" -i "$RCPT" <"$msg" 2>"$log"
		rc=$?
		t1=$(now_us)
		[ "$rc" -eq 0 ] || { show_failure mailsend "$rc" "$log"; return 1; }
		echo $((t1 - t0)) >>"$W/p1.mailsend"
	done
	drain || return 1
	expect_arrived "phase 1, both tools" "$before" $((2 * N + 2)) || return 1
	msmtp_med=$(median <"$W/p1.msmtp")
	ms_med=$(median <"$W/p1.mailsend")
	ratio=$(calc "$ms_med / $msmtp_med")
	# The whole distribution: a median can hide a bimodal one (runs that
	# stall on a 40 ms delayed ACK against runs that do not).
	for t in msmtp mailsend; do
		printf '  %-8s ms, sorted: %s\n' "$t" "$(sorted_ms "$W/p1.$t")"
		sort -n "$W/p1.$t" | awk -v t="$t" '{ v[NR] = $1 } END {
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			n = 0; for (i = 1; i <= NR; i++) if (v[i] > v[1] + 30000) n++
			printf "  %-8s min %.1f  median %.1f  max %.1f ms; runs over min + 30 ms: %d of %d\n",
				t, v[1] / 1000, m / 1000, v[NR] / 1000, n, NR }'
	done
	row "1 msg/process, median ms" "$(calc "$msmtp_med / 1000")" "$(calc "$ms_med / 1000")" \
		"$ratio" "mailsend/msmtp <= 0.25"
	if awk "BEGIN { exit !($ms_med <= 0.25 * $msmtp_med) }"; then
		verdict met "1: one message per process, median $ratio x msmtp's (target <= 0.25)"
	else
		verdict "NOT met" "1: one message per process, median $ratio x msmtp's (target <= 0.25)"
	fi
}

# ---- phase 2: a batch over one connection ------------------------------------

phase2() {
	local src=$W/batch-src dir=$W/batch i f body line before rc t0 t1
	local ms_us msmtp_us ratio fails=0 left log=$W/p2.err
	echo "phase 2: $BATCH messages of about 2 KB: mailsend --batch (one connection)" \
		"versus $BATCH msmtp processes"
	mkdir -p "$src/new" "$src/cur" "$src/tmp"
	line='The quick brown fox jumps over the lazy dog; a line of filler text.'
	body=
	for ((i = 0; i < 28; i++)); do
		body+="$line $i"$'\n'
	done
	for ((i = 1; i <= BATCH; i++)); do
		printf 'From: %s\nTo: %s\nSubject: mailsend benchmark, batch message %d\nDate: Thu, 01 Jan 2026 00:00:00 +0000\nMessage-ID: <bench-batch-%d-%d@example.test>\n\n%s' \
			"$FROM" "$RCPT" "$i" "$i" "$$" "$body" \
			>"$src/new/1767225600.P$$Q$i.bench"
	done
	printf '  message size: %s bytes\n' "$(wc -c <"$src/new/1767225600.P$$Q1.bench")"
	rm -rf "$dir"
	cp -a "$src" "$dir"

	drain || return 1
	before=$(bob_count)
	t0=$(now_us)
	for f in "$src"/new/*; do
		"${MSMTP[@]}" "$RCPT" <"$f" 2>>"$log" || fails=$((fails + 1))
	done
	t1=$(now_us)
	msmtp_us=$((t1 - t0))
	[ "$fails" -eq 0 ] || { show_failure "msmtp ($fails of $BATCH)" 1 "$log"; return 1; }
	drain || return 1
	expect_arrived "phase 2, msmtp" "$before" "$BATCH" || return 1

	before=$(bob_count)
	t0=$(now_us)
	"${MS[@]}" --batch "$dir" >"$W/p2.out" 2>"$log"
	rc=$?
	t1=$(now_us)
	ms_us=$((t1 - t0))
	left=$(find "$dir/new" "$dir/cur" -type f | wc -l)
	printf '  mailsend --batch: exit %d, %d report line(s), %d message(s) left in DIR\n' \
		"$rc" "$(cat "$W/p2.out" "$log" | wc -l)" "$left"
	[ "$rc" -eq 0 ] || { show_failure "mailsend --batch" "$rc" "$log"; return 1; }
	drain || return 1
	expect_arrived "phase 2, mailsend --batch" "$before" "$BATCH" || return 1

	ratio=$(calc "$msmtp_us / $ms_us")
	row "batch of $BATCH, total s" "$(calc "$msmtp_us / 1000000")" \
		"$(calc "$ms_us / 1000000")" "$ratio" "msmtp/mailsend >= 30"
	row "  per message, ms" "$(calc "$msmtp_us / $BATCH / 1000")" \
		"$(calc "$ms_us / $BATCH / 1000")" "" ""
	if awk "BEGIN { exit !($msmtp_us >= 30 * $ms_us) }"; then
		verdict met "2: batch of $BATCH, $ratio x faster than msmtp (target >= 30)"
	else
		verdict "NOT met" "2: batch of $BATCH, $ratio x faster than msmtp (target >= 30)"
	fi
}

# ---- phase 3: peak RSS for a big message ---------------------------------------

# The submission port's SIZE as a client sees it now ("" = no limit).
submission_size() {
	python3 - "$SUBMISSION_PORT" "$MP_CA" <<-'EOF'
	import smtplib, ssl, sys
	s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
	s.starttls(context=ssl.create_default_context(cafile=sys.argv[2]))
	s.ehlo()
	print(s.esmtp_features.get("size", "none").strip())
	s.quit()
	EOF
}

phase3() {
	local big=$W/big.eml lines before size ms_kb msmtp_kb ms_s msmtp_s i rc
	local log=$W/p3.err limit_kb=16384
	echo "phase 3: one $BIG_MB MiB message (lines of 76 characters), peak RSS"
	# The harness limits messages to about 10 MB; lift that on the running
	# Postfix and wait until new sessions advertise it.
	postconf -c "$PF_CONF" -e message_size_limit=0 || return 1
	postfix -c "$PF_CONF" reload >/dev/null 2>&1 || return 1
	for ((i = 0; i < 100; i++)); do
		size=$(submission_size 2>/dev/null) && { [ -z "$size" ] || [ "$size" = 0 ]; } && break
		sleep 0.1
	done
	[ -z "$size" ] || [ "$size" = 0 ] || { echo "mailsend.sh: Postfix still advertises SIZE $size" >&2; return 1; }

	lines=$((BIG_MB * 1024 * 1024 / 77))
	{
		printf 'From: %s\nTo: %s\nSubject: mailsend benchmark, %d MiB\n' "$FROM" "$RCPT" "$BIG_MB"
		printf 'Date: Thu, 01 Jan 2026 00:00:00 +0000\nMessage-ID: <bench-big-%s@example.test>\n\n' "$$"
		yes 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 the big body.' |
			head -n "$lines"
	} >"$big"
	printf '  message size: %s bytes\n' "$(wc -c <"$big")"

	drain || return 1
	before=$(bob_count)
	t0=$(now_us)
	/usr/bin/time -f %M -o "$W/rss.msmtp" "${MSMTP[@]}" "$RCPT" <"$big" 2>"$log"
	rc=$?
	msmtp_s=$(calc "($(now_us) - $t0) / 1000000")
	[ "$rc" -eq 0 ] || { show_failure msmtp "$rc" "$log"; return 1; }
	drain || return 1
	t0=$(now_us)
	/usr/bin/time -f %M -o "$W/rss.mailsend" "${MS[@]}" -i "$RCPT" <"$big" 2>"$log"
	rc=$?
	ms_s=$(calc "($(now_us) - $t0) / 1000000")
	[ "$rc" -eq 0 ] || { show_failure mailsend "$rc" "$log"; return 1; }
	drain || return 1
	expect_arrived "phase 3, both tools" "$before" 2 || return 1
	printf '  largest message in bob'"'"'s Maildir: %s bytes\n' \
		"$(find "$MP_MAILDIR2/new" "$MP_MAILDIR2/cur" -type f -printf '%s\n' | sort -n | tail -n1)"

	msmtp_kb=$(tail -n1 "$W/rss.msmtp")
	ms_kb=$(tail -n1 "$W/rss.mailsend")
	row "$BIG_MB MiB message, peak RSS MiB" "$(calc "$msmtp_kb / 1024")" \
		"$(calc "$ms_kb / 1024")" "$(calc "$ms_kb / $msmtp_kb")" "mailsend < 16 MiB"
	row "  wall time, s" "$msmtp_s" "$ms_s" "$(calc "$ms_s / $msmtp_s")" ""
	if [ "$ms_kb" -lt "$limit_kb" ]; then
		verdict met "3: $BIG_MB MiB message, peak RSS $(calc "$ms_kb / 1024") MiB (target < 16)"
	else
		verdict "NOT met" "3: $BIG_MB MiB message, peak RSS $(calc "$ms_kb / 1024") MiB (target < 16)"
	fi
}

run_phases 1 2 3
status=$?

print_table "$(printf '%-30s %12s %12s %9s   %s' "measure" "msmtp" "mailsend" "ratio" \
	"issue 3's target")"
exit "$status"
