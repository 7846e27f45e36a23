#!/bin/bash
# tests/bench/imapsync.sh — imapsync against mbsync (isync) on issue 5's
# performance targets, in one run. Both tools back up alice's account on the
# private Dovecot over IMAPS with the harness's CA, into Maildir++ on the same
# file system, both with fsync on (imapsync always; mbsync's default
# "FSync yes"), and every phase checks what arrived, since a benchmark that
# silently fetches nothing proves nothing.
#
# The account: BENCH_MESSAGES generated messages of realistic sizes (plain
# text, HTML, base64 attachments; about 30 KB on average, a few MB at most)
# spread over five folders (INBOX, Archive, Sent, Lists, Lists/dev), written
# straight into alice's server Maildir with Dovecot-style names and indexed
# by Dovecot once before any timing.
#
#   1. full backup into an empty directory: median wall time of BENCH_ROUNDS
#      runs each (target: mbsync_time / imapsync_time >= 2); every message
#      must arrive in the right folder, byte-identical to the server's file
#   2. rerun with nothing changed: median of BENCH_RERUNS warm runs each
#      (target: imapsync_time <= 0.5 x mbsync_time)
#   3. rerun after BENCH_NEW new messages spread over the folders: BENCH_NEW
#      are added (untimed), then every tool runs once, BENCH_NEW_ROUNDS times;
#      each run must fetch exactly the new ones (target: imapsync's median
#      <= 0.5 x mbsync's)
#   4. one BENCH_BIG_MB MiB message added to INBOX and fetched: peak RSS
#      (target: imapsync under 16 MiB; mbsync for comparison)
#
# imapsync runs with its default --jobs (2), which the verdicts are about,
# and with --jobs 1, reported beside it. Each tool keeps its own backup from
# phase 1 on (its last round's).
#
# Fair play: in phases 1 and 4 every measured run starts the same way: earlier
# writes synced out, the page cache dropped when the kernel lets us, and the
# server's message files and Dovecot's indexes read back in (a server that
# just received its mail). Phases 2 and 3 are warm, with a sync before each
# run. Nothing is deleted before the end (on ext4 without a journal, files
# deleted just before a run slow every file creation in it). Both tools
# authenticate as they choose (both pick SCRAM-SHA-256 here; shown). mbsync
# verifies the certificate's DNS name, so it connects to "localhost" (the
# same 127.0.0.1 through /etc/hosts); imapsync to 127.0.0.1.
#
# Usage: tests/bench/imapsync.sh
# Environment:
#   MP_BUILD          a build directory to use (default: a release build made
#                     here in build-bench, without sanitizers)
#   BENCH_MESSAGES    messages on the server (default 5000)
#   BENCH_ROUNDS      runs per tool in phase 1 (default 3)
#   BENCH_RERUNS      timed runs per tool in phase 2 (default 5)
#   BENCH_NEW         new messages per round in phase 3 (default 50)
#   BENCH_NEW_ROUNDS  rounds in phase 3 (default 3)
#   BENCH_BIG_MB      size of the phase 4 message in MiB (default 50)
#   BENCH_PHASES      which phases to run (default "1 2 3 4"; 2-4 need 1)
#   BENCH_TRACE       0 to leave out the untimed runs under strace that
#                     show, after phases 2 and 3, each tool's connections
#                     and fsync/syncfs calls (default 1)
#   BENCH_IMAPSYNC_ARGS  extra imapsync options, split on spaces
# Needs root for apt-get when isync, openssl, strace or /usr/bin/time is
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
RERUNS=${BENCH_RERUNS:-5}
NEW=${BENCH_NEW:-50}
NEW_ROUNDS=${BENCH_NEW_ROUNDS:-3}
BIG_MB=${BENCH_BIG_MB:-50}
PHASES=${BENCH_PHASES:-1 2 3 4}
TRACE=${BENCH_TRACE:-1}

# The server's folders (IMAP names, "/" is Dovecot's separator here), their
# Maildir++ directories relative to the Maildir root (the same in both
# backups), and each one's share of the messages in percent.
FOLDERS=(INBOX Archive Sent Lists Lists/dev)
RELS=("" .Archive .Sent .Lists .Lists.dev)
SHARES=(36 30 14 12 8)

# ---- the tools -----------------------------------------------------------

bench_build imapsync IMAPSYNC

need_pkgs=()
command -v mbsync >/dev/null || need_pkgs+=(isync)
[ -x /usr/bin/time ] || need_pkgs+=(time)
command -v openssl >/dev/null || need_pkgs+=(openssl)
[ "$TRACE" = 0 ] || command -v strace >/dev/null || need_pkgs+=(strace)
bench_install "${need_pkgs[@]}"
# isync 1.5 renamed SSLType to TLSType.
MBSYNC_VERSION=$(mbsync --version 2>/dev/null | awk '{ print $2; exit }')
case $MBSYNC_VERSION in
1.[0-4] | 1.[0-4].*) TLS_KEY=SSLType ;;
*) TLS_KEY=TLSType ;;
esac

# ---- servers and a private home -------------------------------------------

bench_start
MAIL_OWNER=$(stat -c %u:%g "$MP_MAILDIR_ROOT/$MP_USER") || die "no mail root"
DOVECONF=$MP_SERVERS_DIR/dovecot/dovecot.conf

dadm() {
	doveadm -c "$DOVECONF" "$@"
}

# ---- generating the mailbox -------------------------------------------------

# gen_py mailbox|add FIRST DIR:N...: write N messages into each Maildir DIR
# (into cur/), numbered from FIRST on; "mailbox" gives most of them \Seen and
# some \Flagged or \Answered, "add" leaves them unflagged (new mail).
# gen_py big FIRST DIR MIB: one message of MIB MiB. File names are Dovecot's
# (secs.MnPpid.host,S=size,W=crlf-size:2,FLAGS), so Dovecot takes the sizes
# from the names; the mtime is the INTERNALDATE. Deterministic (the seed is
# FIRST). Prints one line about what it wrote.
gen_py() {
	gen_msgs "${MAIL_OWNER%:*}" "${MAIL_OWNER#*:}" "$@" <<-'PY'
	uid, gid, mode, first = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
	rnd = random.Random(first)
	POOL = make_pool()

	if mode in ("mailbox", "add"):
	    targets = [(a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])) for a in sys.argv[5:]]
	    n = sum(k for _, k in targets)
	    kinds, sizes = draw_sizes(n)
	    real, i = [], 0
	    for maildir, k in targets:
	        for _ in range(k):
	            fl = ""
	            if mode == "mailbox":
	                r = rnd.random()
	                fl = "S" if r < 0.80 else "FS" if r < 0.85 else "RS" if r < 0.90 else ""
	            data = message(first + i, T0 + first + i, kinds[i], sizes[i])
	            store(maildir, first + i, T0 + first + i, data, fl)
	            real.append(len(data))
	            i += 1
	    print("  %d messages in %d folders, %s" % (n, len(targets), summary(real)))
	else:
	    maildir, mib = sys.argv[5], int(sys.argv[6])
	    data = big_message(first, T0 + first, mib)
	    store(maildir, first, T0 + first, data, "")
	    print("  one message of %d bytes" % len(data))
	PY
}

# The DIR:N arguments of gen_py for N messages spread over the folders by
# their shares (INBOX takes what rounding leaves).
spread() {
	local n=$1 i k rest=$1 out=()
	for ((i = 1; i < ${#FOLDERS[@]}; i++)); do
		k=$((n * SHARES[i] / 100))
		rest=$((rest - k))
		out+=("$MP_MAILDIR/${RELS[i]}:$k")
	done
	printf '%s\n' "$MP_MAILDIR:$rest" "${out[@]}"
}

# Let Dovecot notice what was written (UIDs, index, the cache fields the
# tools ask for), so no tool's first run pays for it.
dovecot_index() {
	dadm mailbox status -u "$MP_USER" messages '*' >/dev/null &&
		dadm fetch -u "$MP_USER" 'uid flags date.received size.virtual size.physical' \
			mailbox '*' all >/dev/null
}

# ---- helpers ---------------------------------------------------------------

check_drop

# Messages in a whole backup (every Maildir in it).
tree_count() {
	find "$1" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l
}

# md_hashes DIR [mbsync]: sorted SHA-256 of every message file in one
# Maildir (new and cur). With "mbsync", of each file without the X-TUID
# header line that mbsync adds to every message it stores (its marker for
# finding a message again after an interrupted run); nothing else differs.
md_hashes() {
	"$PY" - "$@" <<-'PY' | sort
	import hashlib, os, sys
	top, strip = sys.argv[1], len(sys.argv) > 2 and sys.argv[2] == "mbsync"
	for sub in ("new", "cur"):
	    d = os.path.join(top, sub)
	    if not os.path.isdir(d):
	        continue
	    for name in os.listdir(d):
	        with open(os.path.join(d, name), "rb") as f:
	            data = f.read()
	        if strip:
	            end = data.find(b"\n\n")
	            head = data[:end + 1] if end >= 0 else data
	            k = head.find(b"\nX-TUID: ")
	            k = k + 1 if k >= 0 else (0 if head.startswith(b"X-TUID: ") else -1)
	            if k >= 0:
	                e = data.index(b"\n", k) + 1
	                data = data[:k] + data[e:]
	        print(hashlib.sha256(data).hexdigest())
	PY
}

# Remember the server's folders as they are now: $W/srv.I.sha per folder.
server_snapshot() {
	local i
	for i in "${!FOLDERS[@]}"; do
		md_hashes "$MP_MAILDIR/${RELS[i]}" >"$W/srv.$i.sha"
	done
	SERVER_TOTAL=$(cat "$W"/srv.*.sha | wc -l)
	SERVER_BYTES=$(find "$MP_MAILDIR" -type f -path '*/cur/*' -printf '%s\n' |
		awk '{ s += $1 } END { print s }')
}

# check_backup TOOL DIR: every server folder is in DIR with the same
# messages, byte for byte (the multiset of SHA-256), and DIR holds no other
# message. Prints one line; false when anything differs.
check_backup() {
	local tool=$1 dir=$2 i got want ident bad=0 total counts=()
	for i in "${!FOLDERS[@]}"; do
		md_hashes "$dir/${RELS[i]}" "$tool" >"$W/chk.sha"
		got=$(wc -l <"$W/chk.sha")
		want=$(wc -l <"$W/srv.$i.sha")
		ident=$(comm -12 "$W/chk.sha" "$W/srv.$i.sha" | wc -l)
		counts+=("${FOLDERS[i]} $got")
		if [ "$got" -ne "$want" ] || [ "$ident" -ne "$want" ]; then
			echo "imapsync.sh: $tool: folder ${FOLDERS[i]}: $got messages," \
				"$ident byte-identical to the server's $want" >&2
			bad=1
		fi
	done
	total=$(tree_count "$dir")
	if [ "$total" -ne "$SERVER_TOTAL" ]; then
		echo "imapsync.sh: $tool: $total messages in the backup, the server has $SERVER_TOTAL" >&2
		bad=1
	fi
	printf '      %s: %s; all %d byte-identical%s: %s\n' "$tool" "$(IFS=,; echo "${counts[*]}")" \
		"$total" "$([ "$tool" = mbsync ] && echo " (but for X-TUID)")" \
		"$([ "$bad" = 0 ] && echo yes || echo NO)"
	return "$bad"
}

IS_ARGS=(--server "imaps://$MP_USER@127.0.0.1:$IMAPS_PORT" --tls-ca-file "$MP_CA"
	--timeout 60)
# shellcheck disable=SC2206 # BENCH_IMAPSYNC_ARGS is split on purpose
IS_ARGS+=(${BENCH_IMAPSYNC_ARGS:-})

# The tools: imapsync as it comes (--jobs 2), imapsync --jobs 1, mbsync.
TOOLS=(imapsync imapsync-j1 mbsync)

# tool_cmd TOOL SLOT: set CMD to the command line that runs TOOL for SLOT,
# a backup in $W/SLOT/md (imapsync keeps its state inside it).
tool_cmd() {
	case $1 in
	imapsync) CMD=("$IMAPSYNC" "${IS_ARGS[@]}" --maildir "$W/$2/md") ;;
	imapsync-j1) CMD=("$IMAPSYNC" "${IS_ARGS[@]}" --jobs 1 --maildir "$W/$2/md") ;;
	mbsync) CMD=(mbsync -c "$W/$2/mbsyncrc" bench) ;;
	esac
}

# mbsync's configuration for SLOT: the password in the file (0600), so
# mbsync forks nothing extra; Maildir++ with INBOX at the root, as imapsync
# writes it; state kept inside each folder; FSync left at its default (yes).
mbsync_rc() {
	mkdir -p "$W/$1/md"
	cat >"$W/$1/mbsyncrc" <<-EOF
	IMAPAccount bench
	Host localhost
	Port $IMAPS_PORT
	User $MP_USER
	Pass $MP_PASS
	$TLS_KEY IMAPS
	CertificateFile $MP_CA
	Timeout 60

	IMAPStore remote
	Account bench

	MaildirStore local
	Inbox $W/$1/md
	SubFolders Maildir++

	Channel bench
	Far :remote:
	Near :local:
	Patterns *
	Create Near
	Sync Pull
	SyncState *
	EOF
	chmod 600 "$W/$1/mbsyncrc"
}

# traced TOOL SLOT LOG: run TOOL once under strace, which stops only at the
# calls it counts (seccomp), and print what it did: connections to the
# server, and the fsync/fdatasync/syncfs calls with the time spent in them.
traced() {
	local tool=$1 slot=$2 log=$3 t0 t1 rc tr=$W/trace.$1
	tool_cmd "$tool" "$slot"
	t0=$(now_us)
	strace -f --seccomp-bpf -T -o "$tr" \
		-e trace=connect,fsync,fdatasync,syncfs,sync_file_range,sync \
		"${CMD[@]}" >"$log" 2>&1
	rc=$?
	t1=$(now_us)
	if [ "$rc" -ne 0 ]; then
		show_failure "$tool under strace" "$rc" "$log"
		return 1
	fi
	awk -v tool="$tool" -v port="$IMAPS_PORT" -v wall=$((t1 - t0)) '
		/ connect\(/ && index($0, "htons(" port ")") && !/ECONNREFUSED/ { conns++ }
		/ (fsync|fdatasync|syncfs|sync_file_range|sync)\(/ {
			n++
			if (match($0, /<[0-9.]+>$/)) t += substr($0, RSTART + 1, RLENGTH - 2)
		}
		END { printf "    %-12s %d connection(s), %d fsync/fdatasync/syncfs calls taking %.1f ms; wall %.1f ms under strace\n",
			tool, conns, n, t * 1000, wall / 1000 }' "$tr"
}

# The slot of each tool's last full backup: phases 2 to 4 go on with it.
declare -A SLOT

row() { rows+=("$(printf '%-34s %10s %10s %10s %8s %8s   %s' "$@")"); }

# judge N LABEL IS_US MB_US: verdict for "imapsync <= 0.5 x mbsync".
judge_half() {
	local r
	r=$(calc "$3 / $4")
	if awk "BEGIN { exit !($3 <= 0.5 * $4) }"; then
		verdict met "$1: $2, imapsync $r x mbsync's time (target <= 0.5)"
	else
		verdict "NOT met" "$1: $2, imapsync $r x mbsync's time (target <= 0.5)"
	fi
}

printf 'imapsync benchmark: %s against %s\n' "$IMAPSYNC" "$(mbsync --version | head -n1)"
printf 'server: Dovecot %s, IMAPS 127.0.0.1:%s, alice'"'"'s Maildir\n' \
	"$(dovecot --version | cut -d' ' -f1)" "$IMAPS_PORT"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
printf 'machine: %s CPUs, %s, load average %s; page cache dropped before cold runs: %s\n' \
	"$(nproc)" "$(uname -sr)" "$LOAD0" "$CAN_DROP"
printf 'backups: Maildir++ on %s (%s), fsync on in both tools\n\n' \
	"$(df --output=source "$W" | tail -n1)" "$(df --output=fstype "$W" | tail -n1)"

# ---- the mailbox -------------------------------------------------------------

echo "mailbox: generating $NMSG messages in alice's server Maildir"
t=$SECONDS
dadm mailbox create -u "$MP_USER" "${FOLDERS[@]:1}" || die "could not create the folders"
mapfile -t SPREAD < <(spread "$NMSG")
gen_py mailbox 1 "${SPREAD[@]}" || die "could not generate the mailbox"
dovecot_index || die "Dovecot could not index the mailbox"
server_snapshot
printf '  Dovecot says:'
dadm mailbox status -u "$MP_USER" messages '*' | awk '{ printf " %s", $0 } END { print "" }'
[ "$SERVER_TOTAL" -eq "$NMSG" ] || die "the server holds $SERVER_TOTAL messages, not $NMSG"
# Which SASL mechanism each tool picks by itself.
mkdir -p "$W/probe"
mbsync_rc probe
printf '  AUTH mechanisms: imapsync %s, mbsync %s\n' \
	"$("$IMAPSYNC" "${IS_ARGS[@]}" --probe -v 2>&1 | sed -n 's/^C: [^ ]* AUTHENTICATE \([^ ]*\).*/\1/p' | head -n1)" \
	"$(mbsync -D -c "$W/probe/mbsyncrc" -l bench 2>&1 | sed -n 's/.*>>> [^ ]* AUTHENTICATE \([^ ]*\).*/\1/p' | head -n1)"
echo "  (took $((SECONDS - t)) s)"
echo

# ---- phase 1: full backup ---------------------------------------------------

# A floor for reference: every folder's UID FETCH 1:* BODY.PEEK[] pipelined
# over one TLS session, the bytes thrown away (openssl s_client, no parsing,
# no writing).
raw_fetch() {
	local i t0 t1
	{
		printf 'a LOGIN %s %s\r\n' "$MP_USER" "$MP_PASS"
		for i in "${!FOLDERS[@]}"; do
			printf 'e%d EXAMINE "%s"\r\nf%d UID FETCH 1:* BODY.PEEK[]\r\n' \
				"$i" "${FOLDERS[i]}" "$i"
		done
		printf 'z LOGOUT\r\n'
	} >"$W/raw.cmds"
	settle
	t0=$(now_us)
	openssl s_client -quiet -connect "127.0.0.1:$IMAPS_PORT" -CAfile "$MP_CA" \
		-verify_return_error <"$W/raw.cmds" 2>"$W/raw.err" | wc -c >"$W/raw.bytes"
	t1=$(now_us)
	echo $((t1 - t0))
}

# p1_run TOOL ROUND: a full backup by TOOL into a new slot; prints a line
# and checks the result.
p1_run() {
	local tool=$1 slot=p1r$2-$1 us log=$W/p1-$1.log
	mkdir -p "$W/$slot"
	[ "$tool" = mbsync ] && mbsync_rc "$slot"
	SLOT[$tool]=$slot
	settle
	us=$(timed "$tool" "$slot" "$log" /usr/bin/time -f '%U %S %M' -o "$W/cpu.$tool") || return 1
	printf '    %-12s %7.2f s  %6.1f MB/s  cpu %5.2f s  peak RSS %6.1f MiB\n' \
		"$tool" "$(calc "$us / 1000000")" "$(calc "$SERVER_BYTES / $us")" \
		"$(tail -n1 "$W/cpu.$tool" | awk '{ print $1 + $2 }')" \
		"$(tail -n1 "$W/cpu.$tool" | awk '{ printf "%.1f", $3 / 1024 }')"
	check_backup "$tool" "$W/$slot/md" || return 1
	echo "$us" >>"$W/p1.$tool"
}

phase1() {
	local tool r raw_us order mb is j1
	echo "phase 1: full backup of $NMSG messages into an empty directory;" \
		"$ROUNDS rounds, order rotating"
	for tool in "${TOOLS[@]}"; do
		: >"$W/p1.$tool"
	done
	for ((r = 1; r <= ROUNDS; r++)); do
		raw_us=$(raw_fetch)
		printf '  round %d:\n    %-12s %7.2f s  (raw pipelined UID FETCH of all over TLS, %s bytes read, for reference)\n' \
			"$r" "openssl" "$(calc "$raw_us / 1000000")" "$(cat "$W/raw.bytes")"
		case $((r % 3)) in
		1) order=(imapsync imapsync-j1 mbsync) ;;
		2) order=(mbsync imapsync imapsync-j1) ;;
		0) order=(imapsync-j1 mbsync imapsync) ;;
		esac
		for tool in "${order[@]}"; do
			p1_run "$tool" "$r" || return 1
		done
	done
	grep -h '^imapsync: [0-9]* folders' "$W/p1-imapsync.log" | sed 's/^/  last /'
	mb=$(median <"$W/p1.mbsync")
	is=$(median <"$W/p1.imapsync")
	j1=$(median <"$W/p1.imapsync-j1")
	for tool in "${TOOLS[@]}"; do
		printf '  %-12s s, sorted: %s\n' "$tool" \
			"$(sort -n "$W/p1.$tool" | awk '{ printf "%.2f ", $1 / 1e6 }')"
	done
	row "full backup, median s" "$(calc "$mb / 1e6")" "$(calc "$is / 1e6")" \
		"$(calc "$j1 / 1e6")" "$(calc "$mb / $is")" "$(calc "$mb / $j1")" \
		"mbsync/imapsync >= 2"
	row "  MB/s" "$(calc "$SERVER_BYTES / $mb")" "$(calc "$SERVER_BYTES / $is")" \
		"$(calc "$SERVER_BYTES / $j1")" "" "" ""
	if awk "BEGIN { exit !($mb >= 2 * $is) }"; then
		verdict met "1: full backup of $NMSG messages, $(calc "$mb / $is") x mbsync's speed (target >= 2)"
	else
		verdict "NOT met" "1: full backup of $NMSG messages, $(calc "$mb / $is") x mbsync's speed (target >= 2)"
	fi
}

# ---- phase 2: rerun with nothing changed ----------------------------------------

phase2() {
	local tool i us log mb is j1 got
	echo "phase 2: rerun with nothing changed: one untimed run each, then $RERUNS timed runs each, alternating"
	for tool in "${TOOLS[@]}"; do
		[ -n "${SLOT[$tool]:-}" ] || { echo "imapsync.sh: phase 2 needs phase 1" >&2; return 1; }
		: >"$W/p2.$tool"
	done
	for ((i = -1; i < RERUNS; i++)); do
		for tool in "${TOOLS[@]}"; do
			log=$W/p2-$tool.log
			sync
			us=$(timed "$tool" "${SLOT[$tool]}" "$log") || return 1
			# Round -1 is the untimed warm-up.
			[ "$i" -lt 0 ] || echo "$us" >>"$W/p2.$tool"
		done
	done
	for tool in "${TOOLS[@]}"; do
		got=$(tree_count "$W/${SLOT[$tool]}/md")
		printf '  %-12s ms, sorted: %s; %d messages in its backup\n' "$tool" \
			"$(sorted_ms "$W/p2.$tool")" "$got"
		if [ "$got" -ne "$SERVER_TOTAL" ]; then
			echo "imapsync.sh: $tool changed its backup on a rerun ($got messages now)" >&2
			return 1
		fi
	done
	grep -h '^imapsync: [0-9]* folders' "$W/p2-imapsync.log" | sed 's/^/  last /'
	if [ "$TRACE" = 1 ]; then
		echo "  one more run each under strace (untimed), where the time goes:"
		for tool in "${TOOLS[@]}"; do
			sync
			traced "$tool" "${SLOT[$tool]}" "$W/p2-$tool.log" || return 1
		done
	fi
	mb=$(median <"$W/p2.mbsync")
	is=$(median <"$W/p2.imapsync")
	j1=$(median <"$W/p2.imapsync-j1")
	row "rerun, nothing changed, median ms" "$(calc "$mb / 1000")" "$(calc "$is / 1000")" \
		"$(calc "$j1 / 1000")" "$(calc "$is / $mb")" "$(calc "$j1 / $mb")" \
		"imapsync/mbsync <= 0.5"
	judge_half 2 "rerun with nothing changed" "$is" "$mb"
}

# ---- phase 3: rerun after new messages --------------------------------------------

# p3_round R [trace]: add NEW messages over the folders (untimed), then run
# every tool once, checking that each fetched exactly those; timed into
# $W/p3.TOOL, or with "trace" under strace for the breakdown (untimed).
p3_round() {
	local r=$1 mode=${2:-} tool us log before got order spread_new
	mapfile -t spread_new < <(spread "$NEW")
	gen_py add $((100000 * r)) "${spread_new[@]}" >/dev/null || return 1
	dovecot_index || return 1
	server_snapshot
	order=("${TOOLS[@]:r%3}" "${TOOLS[@]:0:r%3}")
	for tool in "${order[@]}"; do
		log=$W/p3-$tool.log
		before=$(tree_count "$W/${SLOT[$tool]}/md")
		sync
		if [ "$mode" = trace ]; then
			traced "$tool" "${SLOT[$tool]}" "$log" || return 1
		else
			us=$(timed "$tool" "${SLOT[$tool]}" "$log") || return 1
			echo "$us" >>"$W/p3.$tool"
		fi
		got=$(($(tree_count "$W/${SLOT[$tool]}/md") - before))
		if [ "$got" -ne "$NEW" ]; then
			echo "imapsync.sh: $tool fetched $got messages in round $r, not $NEW" >&2
			return 1
		fi
	done
}

phase3() {
	local tool r mb is j1
	echo "phase 3: $NEW_ROUNDS rounds of: $NEW new messages over the folders (untimed), then one run each"
	for tool in "${TOOLS[@]}"; do
		[ -n "${SLOT[$tool]:-}" ] || { echo "imapsync.sh: phase 3 needs phase 1" >&2; return 1; }
		: >"$W/p3.$tool"
	done
	for ((r = 1; r <= NEW_ROUNDS; r++)); do
		p3_round "$r" || return 1
	done
	for tool in "${TOOLS[@]}"; do
		printf '  %-12s ms, sorted: %s\n' "$tool" "$(sorted_ms "$W/p3.$tool")"
	done
	grep -h '^imapsync: [0-9]* folders' "$W/p3-imapsync.log" | sed 's/^/  last /'
	if [ "$TRACE" = 1 ]; then
		echo "  one more round of $NEW under strace (untimed), where the time goes:"
		p3_round $((NEW_ROUNDS + 1)) trace || return 1
	fi
	echo "  each tool fetched exactly $NEW in each round; the backups now:"
	for tool in "${TOOLS[@]}"; do
		check_backup "$tool" "$W/${SLOT[$tool]}/md" || return 1
	done
	mb=$(median <"$W/p3.mbsync")
	is=$(median <"$W/p3.imapsync")
	j1=$(median <"$W/p3.imapsync-j1")
	row "rerun after $NEW new, median ms" "$(calc "$mb / 1000")" "$(calc "$is / 1000")" \
		"$(calc "$j1 / 1000")" "$(calc "$is / $mb")" "$(calc "$j1 / $mb")" \
		"imapsync/mbsync <= 0.5"
	judge_half 3 "rerun after $NEW new messages" "$is" "$mb"
}

# ---- phase 4: peak RSS for a big message ---------------------------------------

phase4() {
	local tool log big us kb want got limit_kb=16384
	declare -A secs rss
	echo "phase 4: one $BIG_MB MiB message added to INBOX and fetched (only it is new)"
	for tool in "${TOOLS[@]}"; do
		[ -n "${SLOT[$tool]:-}" ] || { echo "imapsync.sh: phase 4 needs phase 1" >&2; return 1; }
	done
	gen_py big 1000000 "$MP_MAILDIR" "$BIG_MB" || return 1
	big=$(find "$MP_MAILDIR/cur" -name '*.M1000000P*' | head -n1)
	[ -f "$big" ] || { echo "imapsync.sh: the big message is missing" >&2; return 1; }
	dovecot_index || return 1
	server_snapshot
	want=$(sha256sum <"$big" | cut -c1-64)
	for tool in "${TOOLS[@]}"; do
		log=$W/p4-$tool.log
		settle
		us=$(timed "$tool" "${SLOT[$tool]}" "$log" /usr/bin/time -f %M -o "$W/rss.$tool") ||
			return 1
		secs[$tool]=$(calc "$us / 1e6")
		kb=$(tail -n1 "$W/rss.$tool")
		rss[$tool]=$kb
		got=$(tree_count "$W/${SLOT[$tool]}/md")
		printf '  %-12s peak RSS %7.2f MiB, %6.2f s; %d messages in its backup' \
			"$tool" "$(calc "$kb / 1024")" "${secs[$tool]}" "$got"
		md_hashes "$W/${SLOT[$tool]}/md" "$tool" >"$W/p4.sha"
		if grep -qx "$want" "$W/p4.sha"; then
			echo ", the big one byte-identical in INBOX"
		else
			echo ", the big one NOT byte-identical in INBOX"
			return 1
		fi
		if [ "$got" -ne "$SERVER_TOTAL" ]; then
			echo "imapsync.sh: $tool: expected $SERVER_TOTAL messages, found $got" >&2
			return 1
		fi
	done
	row "$BIG_MB MiB message, peak RSS MiB" "$(calc "${rss[mbsync]} / 1024")" \
		"$(calc "${rss[imapsync]} / 1024")" "$(calc "${rss[imapsync-j1]} / 1024")" \
		"$(calc "${rss[imapsync]} / ${rss[mbsync]}")" \
		"$(calc "${rss[imapsync-j1]} / ${rss[mbsync]}")" "imapsync < 16 MiB"
	row "  wall time, s" "${secs[mbsync]}" "${secs[imapsync]}" "${secs[imapsync-j1]}" \
		"$(calc "${secs[imapsync]} / ${secs[mbsync]}")" \
		"$(calc "${secs[imapsync-j1]} / ${secs[mbsync]}")" ""
	kb=${rss[imapsync]}
	((rss[imapsync-j1] > kb)) && kb=${rss[imapsync-j1]}
	if [ "$kb" -lt "$limit_kb" ]; then
		verdict met "4: $BIG_MB MiB message, imapsync peak RSS $(calc "$kb / 1024") MiB (target < 16)"
	else
		verdict "NOT met" "4: $BIG_MB MiB message, imapsync peak RSS $(calc "$kb / 1024") MiB (target < 16)"
	fi
}

run_phases 1 2 3 4
status=$?

print_table "$(printf '%-34s %10s %10s %10s %8s %8s   %s' "measure" "mbsync" "imapsync" \
	"--jobs 1" "ratio" "ratio j1" "issue 5's target")" \
	"(ratio: mbsync/imapsync for speed in phase 1, imapsync/mbsync otherwise; \"imapsync\" is its default --jobs 2)"
echo "(whole run: $SECONDS s; load average at the start $LOAD0, now $(cut -d' ' -f1-3 /proc/loadavg))"
exit "$status"
