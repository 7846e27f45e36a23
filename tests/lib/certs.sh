#!/bin/bash
# certs.sh DIR — make a throwaway PKI for the test servers with GnuTLS certtool.
#
#   ca.pem ca-key.pem                  "mailpipe test CA"
#   server.pem server-key.pem          localhost, 127.0.0.1, ::1; valid now-1d .. now+365d
#   expired.pem expired-key.pem        same names, same CA, expired yesterday
#   wronghost.pem wronghost-key.pem    wrong.example only, same CA
#   other-ca.pem other-ca-key.pem      a second CA nobody trusts
#   untrusted.pem untrusted-key.pem    localhost names, signed by the other CA
#
# ECDSA P-256 keys keep generation fast. Prints nothing on success; on failure
# prints certtool's output and exits non-zero.
set -euo pipefail

dir=${1:?usage: certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
log=$(mktemp "${TMPDIR:-/tmp}/mp-certs.XXXXXX")
trap 'rm -f "$log" ./*.tmpl' EXIT

run() {
	if ! "$@" >>"$log" 2>&1; then
		echo "certs.sh: failed: $*" >&2
		cat "$log" >&2
		exit 1
	fi
}

utc() { date -u -d "$1" '+%Y-%m-%d %H:%M:%S'; }

key() { run certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --no-text --outfile "$1"; }

# ca NAME CN
ca() {
	cat >"$1.tmpl" <<-EOF
	cn = "$2"
	serial = $RANDOM$RANDOM
	activation_date = "$(utc '-1 day')"
	expiration_date = "$(utc '+3650 days')"
	ca
	cert_signing_key
	crl_signing_key
	EOF
	key "$1-key.pem"
	run certtool --generate-self-signed --no-text --load-privkey "$1-key.pem" \
		--template "$1.tmpl" --outfile "$1.pem"
}

# leaf NAME CA-NAME FROM TO CN [dns/ip lines...]
leaf() {
	local name=$1 ca=$2 from=$3 to=$4 cn=$5
	shift 5
	{
		echo "cn = \"$cn\""
		echo "serial = $RANDOM$RANDOM"
		echo "activation_date = \"$(utc "$from")\""
		echo "expiration_date = \"$(utc "$to")\""
		echo "tls_www_server"
		echo "signing_key"
		echo "encryption_key"
		printf '%s\n' "$@"
	} >"$name.tmpl"
	key "$name-key.pem"
	run certtool --generate-certificate --no-text --load-privkey "$name-key.pem" \
		--load-ca-certificate "$ca.pem" --load-ca-privkey "$ca-key.pem" \
		--template "$name.tmpl" --outfile "$name.pem"
}

local_names=('dns_name = "localhost"' 'ip_address = "127.0.0.1"' 'ip_address = "::1"')

ca ca "mailpipe test CA"
ca other-ca "mailpipe untrusted CA"
leaf server ca '-1 day' '+365 days' localhost "${local_names[@]}"
leaf expired ca '-30 days' '-1 day' localhost "${local_names[@]}"
leaf wronghost ca '-1 day' '+365 days' wrong.example 'dns_name = "wrong.example"'
leaf untrusted other-ca '-1 day' '+365 days' localhost "${local_names[@]}"
chmod 600 ./*-key.pem
