/* Unit tests for common/mimetype.c. */
#include "mimetype.h"
#include "tap.h"

int main(void)
{
	static const struct {
		const char *name, *type;
	} cases[] = {
		{ "report.pdf", "application/pdf" },
		{ "REPORT.PDF", "application/pdf" },
		{ "notes.txt", "text/plain" },
		{ "data.csv", "text/csv" },
		{ "page.html", "text/html" },
		{ "page.HTM", "text/html" },
		{ "logo.png", "image/png" },
		{ "photo.jpg", "image/jpeg" },
		{ "photo.JPEG", "image/jpeg" },
		{ "anim.gif", "image/gif" },
		{ "icon.svg", "image/svg+xml" },
		{ "a.zip", "application/zip" },
		{ "backup.tar.gz", "application/gzip" },
		{ "backup.tar", "application/x-tar" },
		{ "x.json", "application/json" },
		{ "x.xml", "application/xml" },
		{ "x.doc", "application/msword" },
		{ "x.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document" },
		{ "x.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
		{ "x.pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation" },
		{ "x.odt", "application/vnd.oasis.opendocument.text" },
		{ "x.ods", "application/vnd.oasis.opendocument.spreadsheet" },
		{ "song.mp3", "audio/mpeg" },
		{ "clip.mp4", "video/mp4" },
		{ "a.wav", "audio/wav" },
		{ "fwd.eml", "message/rfc822" },
		{ "invite.ics", "text/calendar" },
		{ "fix.patch", "text/x-diff" },
		{ "fix.diff", "text/x-diff" },
		{ "cron.log", "text/plain" },
		{ "/var/log/syslog.log", "text/plain" },
		{ "dir.d/README", "application/octet-stream" },
		{ "README", "application/octet-stream" },
		{ ".bashrc", "application/octet-stream" },
		{ "dir/.hidden", "application/octet-stream" },
		{ "trailing.", "application/octet-stream" },
		{ "a.unknownext", "application/octet-stream" },
		{ "a.pdfx", "application/octet-stream" },
		{ "a.pd", "application/octet-stream" },
		{ "", "application/octet-stream" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_str(mimetype_from_name(cases[i].name), cases[i].type,
		       "'%s'", cases[i].name);
	is_str(mimetype_from_name(NULL), "application/octet-stream", "NULL");
	return tap_done();
}
