#!/usr/bin/env python3
"""Scripted fake mail server for misbehaving-server tests (stdlib only).

Usage: fakeserver.py --script FILE --port-file PFILE
                     [--tls-cert C --tls-key K] [--implicit-tls] [--log LOG]

Listens on 127.0.0.1 (port chosen by the kernel), writes the port to PFILE,
accepts ONE connection, plays the script, and exits. Gives up after 20 s.

Script lines (leading whitespace ignored; blank lines and '#' lines skipped):
  S: text      send text + CRLF
  SR: text     send text raw: \\r \\n \\t \\\\ and \\xNN are interpreted, no CRLF added
  C: regex     read one line from the client; it must match (re.search, case-insensitive);
               on mismatch the mismatch is logged and the connection closed
  C*:          read one line and ignore it
  TLS          start TLS (server side) with --tls-cert/--tls-key
  SLEEP n      sleep n seconds (float)
  BIG n        send n bytes of 'x' without a newline
  ON regex => text
               an auto-reply rule for DRAIN: a line matching regex is answered
               with text (escapes as in SR:, then CRLF; $1.. are its groups);
               the first matching rule wins, unmatched lines get no answer
  UNTIL regex  read lines, answering them by the ON rules, until one matches
               regex (its groups become $1..); then go on with the script
  DRAIN        read and log lines until the client closes, applying ON rules
  CLOSE        close the connection and stop
In S:/SR: text, $1..$9 are the groups of the last C: match and $TAG is the
first word of the last line read (the IMAP tag).

The log (--log) gets one line per event: "C: <line>" for every line received,
"S: <line>" for every line sent, and "# ..." notes (TLS, EOF, mismatch).

Exit status: 0 script done, 2 mismatch, 3 client closed early, 4 TLS failure,
5 timeout, 1 usage.
"""

import argparse
import os
import re
import signal
import socket
import ssl
import sys
import time

LINE_CAP = 1 << 20


class Done(Exception):
	def __init__(self, code):
		super().__init__(code)
		self.code = code


class Session:
	def __init__(self, sock, log, args):
		self.sock = sock
		self.log = log
		self.args = args
		self.buf = b""
		self.groups = ()
		self.tag = ""
		self.rules = []

	def note(self, text):
		self.log.write(text + "\n")
		self.log.flush()

	def send(self, data):
		for line in data.split(b"\r\n"):
			if line:
				self.note("S: " + line.decode("utf-8", "replace"))
		try:
			self.sock.sendall(data)
		except OSError as e:
			self.note("# send failed: %s" % e)
			raise Done(3)

	def readline(self):
		while b"\n" not in self.buf:
			if len(self.buf) > LINE_CAP:
				self.note("# line over cap")
				raise Done(2)
			try:
				chunk = self.sock.recv(65536)
			except (OSError, ssl.SSLError) as e:
				self.note("# recv failed: %s" % e)
				raise Done(3)
			if not chunk:
				if self.buf:
					self.note("C: " + self.buf.decode("utf-8", "replace") + " (no newline)")
				self.note("# EOF")
				raise Done(3)
			self.buf += chunk
		line, self.buf = self.buf.split(b"\n", 1)
		text = line.rstrip(b"\r").decode("utf-8", "replace")
		self.note("C: " + text)
		words = text.split(" ", 1)
		self.tag = words[0] if words else ""
		return text

	def expand(self, text):
		def sub(m):
			name = m.group(1)
			if name == "TAG":
				return self.tag
			i = int(name)
			if i <= len(self.groups) and self.groups[i - 1] is not None:
				return self.groups[i - 1]
			return ""
		return re.sub(r"\$(TAG|[1-9])", sub, text)

	def send_escaped(self, text, crlf):
		data = text.encode("utf-8").decode("unicode_escape").encode("latin-1")
		self.send(data + (b"\r\n" if crlf else b""))

	def answer(self, got):
		for pattern, text in self.rules:
			m = re.search(pattern, got, re.IGNORECASE)
			if m:
				self.groups = m.groups()
				self.send_escaped(self.expand(text), True)
				return

	def drain(self):
		try:
			while True:
				self.answer(self.readline())
		except Done:
			return

	def until(self, pattern):
		while True:
			got = self.readline()
			m = re.search(pattern, got, re.IGNORECASE)
			if m:
				self.groups = m.groups()
				return
			self.answer(got)

	def start_tls(self):
		if not self.args.tls_cert:
			self.note("# TLS requested but no --tls-cert")
			raise Done(1)
		if self.buf:
			# Bytes the client sent before the handshake would be an
			# attack on our side; the tests never expect them.
			self.note("# client sent %d bytes before TLS; dropped" % len(self.buf))
			self.buf = b""
		ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
		ctx.minimum_version = ssl.TLSVersion.TLSv1_2
		ctx.load_cert_chain(self.args.tls_cert, self.args.tls_key)
		try:
			self.sock = ctx.wrap_socket(self.sock, server_side=True)
		except (OSError, ssl.SSLError) as e:
			self.note("# TLS handshake failed: %s" % e)
			raise Done(4)
		self.note("# TLS started: %s %s" % (self.sock.version(), self.sock.cipher()[0]))

	def run(self, lines):
		if self.args.implicit_tls:
			self.start_tls()
		for raw in lines:
			line = raw.strip("\r\n").lstrip()
			if not line or line.startswith("#"):
				continue
			if line.startswith("SR:"):
				self.send_escaped(self.expand(line[3:].lstrip(" ")), False)
			elif line.startswith("S:"):
				text = self.expand(line[2:].lstrip(" "))
				self.send(text.encode("utf-8") + b"\r\n")
			elif line.startswith("C*:"):
				self.readline()
			elif line.startswith("C:"):
				pattern = line[2:].strip()
				got = self.readline()
				m = re.search(pattern, got, re.IGNORECASE)
				if not m:
					self.note("# MISMATCH: expected /%s/ got %r" % (pattern, got))
					raise Done(2)
				self.groups = m.groups()
			elif line == "TLS":
				self.start_tls()
			elif line.startswith("SLEEP"):
				time.sleep(float(line.split()[1]))
			elif line.startswith("BIG"):
				n = int(line.split()[1])
				self.note("# BIG %d" % n)
				chunk = b"x" * 65536
				while n > 0:
					part = chunk[:min(n, len(chunk))]
					try:
						self.sock.sendall(part)
					except OSError as e:
						self.note("# send failed: %s" % e)
						raise Done(3)
					n -= len(part)
			elif line.startswith("ON "):
				pattern, sep, text = line[3:].partition(" => ")
				if not sep:
					self.note("# bad ON rule: %r" % line)
					raise Done(1)
				self.rules.append((pattern.strip(), text))
			elif line.startswith("UNTIL "):
				self.until(line[6:].strip())
			elif line == "DRAIN":
				self.drain()
				return 0
			elif line == "CLOSE":
				self.note("# CLOSE")
				return 0
			else:
				self.note("# bad script line: %r" % line)
				raise Done(1)
		return 0


def main():
	ap = argparse.ArgumentParser(description="scripted fake mail server")
	ap.add_argument("--script", required=True)
	ap.add_argument("--port-file", required=True)
	ap.add_argument("--tls-cert")
	ap.add_argument("--tls-key")
	ap.add_argument("--implicit-tls", action="store_true")
	ap.add_argument("--log", default=os.devnull)
	ap.add_argument("--timeout", type=float, default=20.0)
	args = ap.parse_args()
	if args.tls_cert and not args.tls_key:
		args.tls_key = args.tls_cert

	with open(args.script, encoding="utf-8") as f:
		lines = f.readlines()
	log = open(args.log, "a", buffering=1, encoding="utf-8")

	def on_alarm(signum, frame):
		log.write("# timeout\n")
		log.flush()
		os._exit(5)
	signal.signal(signal.SIGALRM, on_alarm)
	signal.setitimer(signal.ITIMER_REAL, args.timeout)

	srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
	srv.bind(("127.0.0.1", 0))
	srv.listen(1)
	tmp = args.port_file + ".tmp"
	with open(tmp, "w") as f:
		f.write("%d\n" % srv.getsockname()[1])
	os.rename(tmp, args.port_file)

	conn, peer = srv.accept()
	srv.close()
	log.write("# connection from %s:%d\n" % peer)
	session = Session(conn, log, args)
	try:
		code = session.run(lines)
	except Done as d:
		code = d.code
	try:
		session.sock.close()
	except OSError:
		pass
	log.write("# exit %d\n" % code)
	log.close()
	return code


if __name__ == "__main__":
	sys.exit(main())
