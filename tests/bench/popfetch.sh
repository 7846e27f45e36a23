#!/bin/bash
# tests/bench/popfetch.sh — popfetch against mpop (and fetchmail, for
# reference) on issue 4's performance targets, in one run. Every tool talks to
# the same private Dovecot over POP3S as alice with the harness's CA, and
# every phase checks what arrived, since a benchmark that silently fetches
# nothing proves nothing.
#
# The mailbox: BENCH_MESSAGES generated messages of realistic sizes (plain
# text, HTML, base64 attachments; about 30 KB on average, a few MB at most),
# written straight into alice's server Maildir with Dovecot-style names and
# indexed by Dovecot once before any timing.
#
#   1. full download into a fresh Maildir, durable delivery, keep on the
#      server: median wall time of BENCH_ROUNDS runs each (target:
#      mpop_time / popfetch_time >= 1.5); every message must arrive,
#      byte-identical to the server's file. fetchmail runs once (it is slow).
#   2. rerun with nothing new: median of BENCH_RERUNS runs each
#      (target: mpop_time / popfetch_time >= 1.0); popfetch picks
#      SCRAM-SHA-256 where mpop sends PLAIN, so two more rows run both
#      tools on one mechanism (popfetch --auth plain, mpop's auth
#      scram-sha-256) to show what that choice costs. Each popfetch rerun
#      glances (STAT and the last UIDL) rather than listing, as any run
#      in keep mode within a day of a full listing does.
#   3. one BENCH_BIG_MB MiB message added on the server and fetched:
#      peak RSS (target: popfetch under 16 MiB)
#
# Fair play: each measured run starts the same way for every tool. In phases
# 1 and 3 earlier writes are synced out, the page cache is dropped when the
# kernel lets us, and the server's message files and Dovecot's indexes are
# read back in (a server that just received its mail). Phase 2 drops the
# cache once, runs each tool once untimed, then times warm reruns, each after
# a sync. Nothing is deleted before the end (see p1_run). Each tool
# authenticates as it chooses by default (shown). mpop delivers with its own
# "delivery maildir" (fsync per message; received_header off, so its files
# can be compared byte for byte). fetchmail cannot write a Maildir itself;
# it hands each message to safecat (tmp/, fsync, link into new/: a durable
# Maildir delivery, one process per message, as a fetchmail user would set
# it up). A busy machine (see the load average printed) slows the
# fsync-per-message tools most.
#
# Usage: tests/bench/popfetch.sh
# Environment:
#   MP_BUILD        a build directory to use (default: a release build made
#                   here in build-bench, without sanitizers)
#   BENCH_MESSAGES  messages on the server for phases 1 and 2 (default 5000)
#   BENCH_ROUNDS    runs per tool in phase 1 (default 3)
#   BENCH_RERUNS    timed runs per tool in phase 2 (default 21: a run is
#                   about 70 ms and its time varies by 10 ms from run to run)
#   BENCH_BIG_MB    size of the phase 3 message in MiB (default 50)
#   BENCH_PHASES    which phases to run (default "1 2 3"; 2 and 3 need 1)
#   BENCH_FETCHMAIL 0 to leave fetchmail out (default 1)
#   BENCH_POPFETCH_ARGS  extra popfetch options, split on spaces
# Needs root for apt-get when mpop, fetchmail, safecat or /usr/bin/time is
# missing. Not a test: tests/run never calls it. Exit status 0 when every
# phase ran, whatever the verdicts; 1 when a phase could not run or a tool's
# mail did not arrive intact.
# The harness it shares with the other benchmarks is in tests/bench/lib.sh.
# shellcheck disable=SC2317 # the phases are called as "phase$p"
set -u -o pipefail

cd "$(dirname "$0")/../.." || exit 1
REPO=$(pwd)
# shellcheck source=tests/bench/lib.sh
. "$REPO/tests/bench/lib.sh"
NMSG=${BENCH_MESSAGES:-5000}
ROUNDS=${BENCH_ROUNDS:-3}
RERUNS=${BENCH_RERUNS:-21}
BIG_MB=${BENCH_BIG_MB:-50}
PHASES=${BENCH_PHASES:-1 2 3}
WITH_FETCHMAIL=${BENCH_FETCHMAIL:-1}

# ---- the tools -----------------------------------------------------------

bench_build popfetch POPFETCH

need_pkgs=()
command -v mpop >/dev/null || need_pkgs+=(mpop)
[ "$WITH_FETCHMAIL" = 0 ] || command -v fetchmail >/dev/null || need_pkgs+=(fetchmail)
[ "$WITH_FETCHMAIL" = 0 ] || command -v safecat >/dev/null || need_pkgs+=(safecat)
[ -x /usr/bin/time ] || need_pkgs+=(time)
command -v openssl >/dev/null || need_pkgs+=(openssl)
bench_install "${need_pkgs[@]}"

# ---- servers and a private home -------------------------------------------

bench_start
# fetchmail's state too.
export FETCHMAILHOME=$W/fetchmail
mkdir -p "$FETCHMAILHOME"
chmod 700 "$FETCHMAILHOME"
MAIL_OWNER=$(stat -c %u:%g "$MP_MAILDIR_ROOT/$MP_USER") || die "no mail root"

# ---- generating the mailbox -------------------------------------------------

# gen_py MODE ARGS...: "mailbox MAILDIR N UID GID" writes N messages into
# MAILDIR/cur; "big MAILDIR MIB UID GID" writes one message of MIB MiB. File
# names are Dovecot's (secs.MusecPpid.host,S=size,W=crlf-size:2,), so
# Dovecot takes the sizes from the names. Deterministic (fixed seed).
gen_py() {
	gen_msgs "$@" <<-'PY'
	mode, maildir = sys.argv[1], sys.argv[2]
	uid, gid = int(sys.argv[4]), int(sys.argv[5])
	for sub in ("", "/cur", "/new", "/tmp"):
	    os.makedirs(maildir + sub, mode=0o700, exist_ok=True)
	    os.chown(maildir + sub, uid, gid)
	rnd = random.Random(4)
	POOL = make_pool()

	if mode == "mailbox":
	    n = int(sys.argv[3])
	    kinds, sizes = draw_sizes(n)
	    real = []
	    for i in range(n):
	        data = message(i + 1, T0 + i, kinds[i], sizes[i])
	        store(maildir, i + 1, T0 + i, data, "")
	        real.append(len(data))
	    print("  %d messages, %s" % (n, summary(real)))
	else:
	    data = big_message(0, T0 + 10 ** 6, int(sys.argv[3]))
	    store(maildir, 10 ** 6, T0 + 10 ** 6, data, "")
	    print("  one message of %d bytes" % len(data))
	PY
}

# ---- helpers ---------------------------------------------------------------

check_drop

# Sorted SHA-256 of every message file in a Maildir (new and cur).
md_hashes() {
	find "$1/new" "$1/cur" -type f -print0 2>/dev/null | xargs -0 -r sha256sum |
		cut -c1-64 | sort
}

# The tool configurations, one set per "slot" (a fresh destination Maildir
# and fresh UIDL state): popfetch's --state file, mpop's
# uidls_file, fetchmail's idfile.
PF_ARGS=(--server "pop3s://$MP_USER@127.0.0.1:$POP3S_PORT" --tls-ca-file "$MP_CA"
	--timeout 60 --keep)
# shellcheck disable=SC2206 # BENCH_POPFETCH_ARGS is split on purpose
PF_ARGS+=(${BENCH_POPFETCH_ARGS:-})

# tool_cmd TOOL SLOT: set CMD to the command line that runs TOOL for SLOT.
# popfetch: into $W/SLOT/md with its state in $W/SLOT/popfetch.state.
# The +plain and +scram rows of phase 2 run each tool with the other's
# mechanism.
tool_cmd() {
	case $1 in
	popfetch)
		CMD=("$POPFETCH" "${PF_ARGS[@]}" --state "$W/$2/popfetch.state"
			--maildir "$W/$2/md") ;;
	popfetch+plain)
		CMD=("$POPFETCH" "${PF_ARGS[@]}" --state "$W/$2/popfetch.state"
			--auth plain --maildir "$W/$2/md") ;;
	mpop)
		CMD=(mpop -C "$W/$2/mpoprc" bench) ;;
	mpop+scram)
		CMD=(mpop -C "$W/$2/mpoprc" bench-scram) ;;
	fetchmail)
		CMD=(fetchmail -N -f "$W/$2/fetchmailrc" -i "$W/$2/fetchids"
			--pidfile "$W/$2/fetchmail.pid") ;;
	esac
}
# fetchmail exits 1 when there was no new mail: success here.
TIMED_OK[fetchmail]=1

# mpop's configuration for SLOT (the password in the file, 0600, so mpop
# forks nothing extra).
mpop_rc() {
	mkdir -p "$W/$1/md/new" "$W/$1/md/cur" "$W/$1/md/tmp"
	cat >"$W/$1/mpoprc" <<-EOF
	defaults
	account bench
	host 127.0.0.1
	port $POP3S_PORT
	tls on
	tls_starttls off
	tls_trust_file $MP_CA
	auth on
	user $MP_USER
	password $MP_PASS
	delivery maildir $W/$1/md
	keep on
	received_header off
	uidls_file $W/$1/mpop.uidls
	timeout 60
	account bench-scram : bench
	auth scram-sha-256
	account default : bench
	EOF
	chmod 600 "$W/$1/mpoprc"
}

# fetchmail's configuration for SLOT: implicit TLS with the harness's CA,
# keep, UIDL, no Received header, safecat as the Maildir delivery. fetchmail
# matches only DNS names in the certificate, so it is told the name.
fetchmail_rc() {
	mkdir -p "$W/$1/md/new" "$W/$1/md/cur" "$W/$1/md/tmp"
	cat >"$W/$1/fetchmailrc" <<-EOF
	set no bouncemail
	set no syslog
	set invisible
	poll 127.0.0.1 service $POP3S_PORT protocol pop3 uidl timeout 60
	  user "$MP_USER" password "$MP_PASS"
	  ssl sslcertck sslcertfile "$MP_CA" sslcommonname localhost
	  keep no rewrite
	  mda "safecat $W/$1/md/tmp $W/$1/md/new"
	EOF
	chmod 600 "$W/$1/fetchmailrc"
}

TOOLS=(popfetch mpop)
[ "$WITH_FETCHMAIL" = 0 ] || TOOLS+=(fetchmail)

# fetchmail is only a reference: when it fails it is left out from then on
# (true); popfetch and mpop may not fail (false).
drop_tool() {
	[ "$1" = fetchmail ] || return 1
	echo "  (fetchmail left out from here on)"
	TOOLS=(popfetch mpop)
}
has_fetchmail() {
	[ "${#TOOLS[@]}" -eq 3 ]
}

row() { rows+=("$(printf '%-32s %10s %10s %10s %8s   %s' "$@")"); }

printf 'popfetch benchmark: %s against %s' "$POPFETCH" "$(mpop --version | head -n1)"
[ "$WITH_FETCHMAIL" = 0 ] || printf ' and %s' \
	"$(fetchmail --version 2>/dev/null | sed -n 's/^This is fetchmail release \([^+ ]*\).*/fetchmail \1/p')"
printf '\nserver: %s, POP3S 127.0.0.1:%s, alice'"'"'s Maildir\n' \
	"Dovecot $(dovecot --version | cut -d' ' -f1)" "$POP3S_PORT"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
printf 'machine: %s CPUs, %s, load average %s; page cache dropped before measured runs: %s\n' \
	"$(nproc)" "$(uname -sr)" "$LOAD0" "$CAN_DROP"
printf 'deliveries: popfetch --maildir; mpop "delivery maildir" (received_header off);\n'
printf '  fetchmail mda "safecat DIR/tmp DIR/new" (fsync + link, one process per message)\n\n'

# ---- the mailbox -------------------------------------------------------------

echo "mailbox: generating $NMSG messages in alice's server Maildir"
t=$SECONDS
gen_py mailbox "$MP_MAILDIR" "$NMSG" "${MAIL_OWNER%:*}" "${MAIL_OWNER#*:}" ||
	die "could not generate the mailbox"
md_hashes "$MP_MAILDIR" >"$W/server.sha"
SERVER_BYTES=$(find "$MP_MAILDIR/cur" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
# Dovecot indexes the new Maildir once, before anything is timed.
"$POPFETCH" "${PF_ARGS[@]}" --status >"$W/status.out" 2>"$W/status.err" ||
	{ show_failure "popfetch --status" $? "$W/status.err"; exit 1; }
printf '  Dovecot says: %s\n' "$(cat "$W/status.out")"
grep -q ", $NMSG in all" "$W/status.out" || die "Dovecot does not list $NMSG messages"
# Which SASL mechanism each tool picks by itself (it matters for phase 2).
mkdir -p "$W/probe"
mpop_rc probe
printf '  AUTH mechanisms: popfetch %s, mpop %s' \
	"$("$POPFETCH" "${PF_ARGS[@]}" --status -v 2>&1 | sed -n 's/^C: AUTH \([^ ]*\).*/\1/p' | head -n1)" \
	"$(mpop -C "$W/probe/mpoprc" --debug --status bench 2>&1 | sed -n 's/^--> AUTH \([^ ]*\).*/\1/p' | head -n1)"
if [ "$WITH_FETCHMAIL" != 0 ]; then
	fetchmail_rc probe
	tool_cmd fetchmail probe
	printf ', fetchmail %s' "$("${CMD[@]}" -v -c 2>&1 |
		sed -n 's/.*POP3> \(AUTH [^ ]*\|USER\|APOP\).*/\1/p' | sed 's/^AUTH //' | head -n1)"
fi
echo
echo "  (took $((SECONDS - t)) s)"
echo

# ---- phase 1: full download ---------------------------------------------------

# A floor for reference: every RETR pipelined at once over one TLS session,
# the bytes thrown away (openssl s_client, no parsing, no delivery).
raw_fetch() {
	local i
	{
		printf 'USER %s\r\nPASS %s\r\n' "$MP_USER" "$MP_PASS"
		for ((i = 1; i <= NMSG; i++)); do
			printf 'RETR %d\r\n' "$i"
		done
		printf 'QUIT\r\n'
	} >"$W/raw.cmds"
	settle
	local t0 t1
	t0=$(now_us)
	openssl s_client -quiet -connect "127.0.0.1:$POP3S_PORT" -CAfile "$MP_CA" \
		-verify_return_error <"$W/raw.cmds" 2>"$W/raw.err" | wc -c >"$W/raw.bytes"
	t1=$(now_us)
	echo $((t1 - t0))
}

# The slot of each tool's last full download: phases 2 and 3 go on with its
# Maildir and UIDL state.
declare -A SLOT

# p1_run TOOL ROUND: a full download by TOOL into a new slot; prints a line
# and checks the result. Nothing is deleted until the end: on a file system
# without a journal, ext4 skips recently deleted inodes when it allocates
# one, so thousands of files deleted just before a run make every file
# creation in it slower (seen with perf: recently_deleted in ext4_create).
p1_run() {
	local tool=$1 slot=p1r$2-$1 us got ident log=$W/p1-$1.log
	mkdir -p "$W/$slot"
	case $tool in
	mpop) mpop_rc "$slot" ;;
	fetchmail) fetchmail_rc "$slot" ;;
	esac
	SLOT[$tool]=$slot
	settle
	us=$(timed "$tool" "$slot" "$log" /usr/bin/time -f '%U %S' -o "$W/cpu.$tool") || return 2
	got=$(md_count "$W/$slot/md")
	ident=$(md_hashes "$W/$slot/md" | comm -12 - "$W/server.sha" | wc -l)
	printf '    %-10s %7.2f s  %6.1f MB/s  cpu %5.2f s  %d of %d messages, %d byte-identical to the server'"'"'s\n' \
		"$tool" "$(calc "$us / 1000000")" "$(calc "$SERVER_BYTES / $us")" \
		"$(tail -n1 "$W/cpu.$tool" | awk '{ print $1 + $2 }')" "$got" "$NMSG" "$ident"
	if [ "$got" -ne "$NMSG" ]; then
		echo "popfetch.sh: $tool delivered $got messages, not $NMSG" >&2
		tail -n 20 "$log" >&2
		return 2
	fi
	if [ "$ident" -ne "$NMSG" ] && [ "$tool" != fetchmail ]; then
		echo "popfetch.sh: $tool: only $ident of $NMSG messages are byte-identical" >&2
		return 1
	fi
	echo "$us" >>"$W/p1.$tool"
}

phase1() {
	local tool r raw_us order mp pf fm=n/a ratio rc
	echo "phase 1: full download of $NMSG messages into an empty Maildir, keep on the server;"
	echo "  $ROUNDS rounds of popfetch and mpop (order alternating), fetchmail once"
	: >"$W/p1.popfetch"
	: >"$W/p1.mpop"
	: >"$W/p1.fetchmail"
	for ((r = 1; r <= ROUNDS; r++)); do
		raw_us=$(raw_fetch)
		printf '  round %d:\n    %-10s %7.2f s  (raw pipelined RETR of all over TLS, %s bytes read, for reference)\n' \
			"$r" "openssl" "$(calc "$raw_us / 1000000")" "$(cat "$W/raw.bytes")"
		order=(popfetch mpop)
		((r % 2)) || order=(mpop popfetch)
		if ((r == 1)) && has_fetchmail; then
			order+=(fetchmail)
		fi
		for tool in "${order[@]}"; do
			p1_run "$tool" "$r"
			rc=$?
			[ "$rc" -eq 0 ] && continue
			[ "$rc" -eq 2 ] && drop_tool "$tool" && continue
			return 1
		done
	done
	grep -h '^popfetch: fetched' "$W/p1-popfetch.log" | sed 's/^/  last /'
	mp=$(median <"$W/p1.mpop")
	pf=$(median <"$W/p1.popfetch")
	[ -s "$W/p1.fetchmail" ] && fm=$(calc "$(median <"$W/p1.fetchmail") / 1000000")
	ratio=$(calc "$mp / $pf")
	row "full download, median s" "$(calc "$mp / 1000000")" "$(calc "$pf / 1000000")" "$fm" \
		"$ratio" "mpop/popfetch >= 1.5"
	[ "$fm" = n/a ] || fm=$(calc "$SERVER_BYTES / 1000000 / $fm")
	row "  MB/s" "$(calc "$SERVER_BYTES / $mp")" "$(calc "$SERVER_BYTES / $pf")" "$fm" "" ""
	if awk "BEGIN { exit !($mp >= 1.5 * $pf) }"; then
		verdict met "1: full download of $NMSG messages, $ratio x mpop's speed (target >= 1.5)"
	else
		verdict "NOT met" "1: full download of $NMSG messages, $ratio x mpop's speed (target >= 1.5)"
	fi
}

# ---- phase 2: rerun with nothing new ------------------------------------------

phase2() {
	local tool i us log mp pf pp ms fm=n/a ratio
	local -a run=("${TOOLS[@]}")
	echo "phase 2: rerun with nothing new: one untimed run each, then $RERUNS timed runs each, alternating"
	for tool in "${TOOLS[@]}"; do
		[ -n "${SLOT[$tool]:-}" ] || { echo "popfetch.sh: phase 2 needs phase 1" >&2; return 1; }
	done
	# popfetch picks SCRAM-SHA-256 where mpop sends PLAIN, and the test
	# Dovecot derives a SCRAM key from its stored password at every such
	# login: rows with both tools on one mechanism show the tools apart from
	# that choice.
	case " ${BENCH_POPFETCH_ARGS:-} " in
	*" --auth "* | *" --auth="*) ;;
	*) run+=(popfetch+plain mpop+scram) ;;
	esac
	SLOT[popfetch+plain]=${SLOT[popfetch]}
	SLOT[mpop+scram]=${SLOT[mpop]}
	for tool in "${run[@]}"; do
		: >"$W/p2.$tool"
	done
	sync
	[ "$CAN_DROP" = yes ] && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	for ((i = -1; i < RERUNS; i++)); do
		for tool in "${run[@]}"; do
			log=$W/p2-$tool.log
			sync
			us=$(timed "$tool" "${SLOT[$tool]}" "$log") || { drop_tool "$tool" && continue; return 1; }
			# Round -1 is the untimed warm-up.
			[ "$i" -lt 0 ] || echo "$us" >>"$W/p2.$tool"
		done
	done
	for tool in "${TOOLS[@]}"; do
		local got
		got=$(md_count "$W/${SLOT[$tool]}/md")
		printf '  %-14s ms, sorted: %s; %d messages in its Maildir\n' "$tool" \
			"$(sorted_ms "$W/p2.$tool")" "$got"
		if [ "$got" -ne "$NMSG" ]; then
			echo "popfetch.sh: $tool fetched again on a rerun ($got messages now)" >&2
			drop_tool "$tool" && continue
			return 1
		fi
	done
	for tool in popfetch+plain mpop+scram; do
		[ ! -s "$W/p2.$tool" ] || printf '  %-14s ms, sorted: %s\n' "$tool" \
			"$(sorted_ms "$W/p2.$tool")"
	done
	grep -h '^popfetch: fetched' "$W/p2-popfetch.log" | sed 's/^/  last /'
	mp=$(median <"$W/p2.mpop")
	pf=$(median <"$W/p2.popfetch")
	has_fetchmail && fm=$(calc "$(median <"$W/p2.fetchmail") / 1000")
	ratio=$(calc "$mp / $pf")
	row "rerun, nothing new, median ms" "$(calc "$mp / 1000")" "$(calc "$pf / 1000")" "$fm" \
		"$ratio" "mpop/popfetch >= 1.0"
	if [ -s "$W/p2.popfetch+plain" ] && [ -s "$W/p2.mpop+scram" ]; then
		pp=$(median <"$W/p2.popfetch+plain")
		ms=$(median <"$W/p2.mpop+scram")
		row "  both on PLAIN, ms" "$(calc "$mp / 1000")" "$(calc "$pp / 1000")" "" \
			"$(calc "$mp / $pp")" "(same mechanism)"
		row "  both on SCRAM-SHA-256, ms" "$(calc "$ms / 1000")" "$(calc "$pf / 1000")" "" \
			"$(calc "$ms / $pf")" "(same mechanism)"
	fi
	if awk "BEGIN { exit !($mp >= $pf) }"; then
		verdict met "2: rerun with nothing new, $ratio x mpop's speed (target >= 1.0)"
	else
		verdict "NOT met" "2: rerun with nothing new, $ratio x mpop's speed (target >= 1.0)"
	fi
}

# ---- phase 3: peak RSS for a big message ---------------------------------------

phase3() {
	local tool log big us got want kb mp_kb pf_kb fm_kb=n/a fm_s=n/a limit_kb=16384
	declare -A secs
	echo "phase 3: one $BIG_MB MiB message added on the server and fetched (only it is new)"
	for tool in "${TOOLS[@]}"; do
		[ -n "${SLOT[$tool]:-}" ] || { echo "popfetch.sh: phase 3 needs phase 1" >&2; return 1; }
	done
	gen_py big "$MP_MAILDIR" "$BIG_MB" "${MAIL_OWNER%:*}" "${MAIL_OWNER#*:}" || return 1
	big=$(find "$MP_MAILDIR/cur" -name '*.M1000000P*' | head -n1)
	[ -f "$big" ] || { echo "popfetch.sh: the big message is missing" >&2; return 1; }
	# Dovecot notices the new file before anything is timed.
	"$POPFETCH" "${PF_ARGS[@]}" --status >"$W/status.out" 2>"$W/status.err" ||
		{ show_failure "popfetch --status" $? "$W/status.err"; return 1; }
	printf '  Dovecot says: %s\n' "$(cat "$W/status.out")"
	want=$(sha256sum <"$big" | cut -c1-64)
	for tool in "${TOOLS[@]}"; do
		log=$W/p3-$tool.log
		settle
		us=$(timed "$tool" "${SLOT[$tool]}" "$log" /usr/bin/time -f %M -o "$W/rss.$tool") ||
			{ drop_tool "$tool" && continue; return 1; }
		secs[$tool]=$(calc "$us / 1000000")
		kb=$(tail -n1 "$W/rss.$tool")
		got=$(md_count "$W/${SLOT[$tool]}/md")
		printf '  %-10s peak RSS %7.2f MiB, %6.2f s; %d messages in its Maildir' \
			"$tool" "$(calc "$kb / 1024")" "${secs[$tool]}" "$got"
		md_hashes "$W/${SLOT[$tool]}/md" >"$W/p3.sha"
		if grep -qx "$want" "$W/p3.sha"; then
			echo ", the big one byte-identical"
		else
			echo ", the big one NOT byte-identical"
			[ "$tool" = fetchmail ] || return 1
		fi
		if [ "$got" -ne $((NMSG + 1)) ]; then
			echo "popfetch.sh: $tool: expected $((NMSG + 1)) messages, found $got" >&2
			drop_tool "$tool" && continue
			return 1
		fi
	done
	pf_kb=$(tail -n1 "$W/rss.popfetch")
	mp_kb=$(tail -n1 "$W/rss.mpop")
	if has_fetchmail; then
		fm_kb=$(calc "$(tail -n1 "$W/rss.fetchmail") / 1024")
		fm_s=${secs[fetchmail]}
	fi
	row "$BIG_MB MiB message, peak RSS MiB" "$(calc "$mp_kb / 1024")" \
		"$(calc "$pf_kb / 1024")" "$fm_kb" "$(calc "$pf_kb / $mp_kb")" "popfetch < 16 MiB"
	row "  wall time, s" "${secs[mpop]}" "${secs[popfetch]}" "$fm_s" \
		"$(calc "${secs[mpop]} / ${secs[popfetch]}")" ""
	if [ "$pf_kb" -lt "$limit_kb" ]; then
		verdict met "3: $BIG_MB MiB message, peak RSS $(calc "$pf_kb / 1024") MiB (target < 16)"
	else
		verdict "NOT met" "3: $BIG_MB MiB message, peak RSS $(calc "$pf_kb / 1024") MiB (target < 16)"
	fi
}

run_phases 1 2 3
status=$?

print_table "$(printf '%-32s %10s %10s %10s %8s   %s' "measure" "mpop" "popfetch" \
	"fetchmail" "ratio" "issue 4's target")"
echo "(whole run: $SECONDS s; load average at the start $LOAD0, now $(cut -d' ' -f1-3 /proc/loadavg))"
if awk -v l="${LOAD0%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n) }'; then
	echo "note: the machine was busy when this began (load over $(nproc) CPUs): other" \
		"processes' disk syncs slow mpop's fsync per message far more than" \
		"popfetch's batched syncs, so phase 1's ratio is higher than on a quiet machine."
fi
exit "$status"
