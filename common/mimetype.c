/* A built-in extension table, so attachments get a useful type without
 * depending on /etc/mime.types being installed. */
#include "mimetype.h"

#include <string.h>
#include <strings.h>

static const struct {
	const char *ext;
	const char *type;
} types[] = {
	/* text */
	{ "txt", "text/plain" },
	{ "text", "text/plain" },
	{ "log", "text/plain" },
	{ "conf", "text/plain" },
	{ "md", "text/markdown" },
	{ "csv", "text/csv" },
	{ "tsv", "text/tab-separated-values" },
	{ "html", "text/html" },
	{ "htm", "text/html" },
	{ "css", "text/css" },
	{ "ics", "text/calendar" },
	{ "vcf", "text/vcard" },
	{ "patch", "text/x-diff" },
	{ "diff", "text/x-diff" },
	{ "c", "text/x-c" },
	{ "h", "text/x-c" },
	{ "py", "text/x-python" },
	{ "sh", "text/x-shellscript" },
	{ "rtf", "application/rtf" },
	/* structured data */
	{ "json", "application/json" },
	{ "xml", "application/xml" },
	{ "yaml", "application/yaml" },
	{ "yml", "application/yaml" },
	{ "js", "text/javascript" },
	/* documents */
	{ "pdf", "application/pdf" },
	{ "ps", "application/postscript" },
	{ "doc", "application/msword" },
	{ "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document" },
	{ "xls", "application/vnd.ms-excel" },
	{ "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
	{ "ppt", "application/vnd.ms-powerpoint" },
	{ "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation" },
	{ "odt", "application/vnd.oasis.opendocument.text" },
	{ "ods", "application/vnd.oasis.opendocument.spreadsheet" },
	{ "odp", "application/vnd.oasis.opendocument.presentation" },
	{ "epub", "application/epub+zip" },
	/* mail */
	{ "eml", "message/rfc822" },
	{ "mbox", "application/mbox" },
	/* archives */
	{ "zip", "application/zip" },
	{ "gz", "application/gzip" },
	{ "tgz", "application/gzip" },
	{ "tar", "application/x-tar" },
	{ "bz2", "application/x-bzip2" },
	{ "xz", "application/x-xz" },
	{ "zst", "application/zstd" },
	{ "7z", "application/x-7z-compressed" },
	/* images */
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "svg", "image/svg+xml" },
	{ "webp", "image/webp" },
	{ "bmp", "image/bmp" },
	{ "tif", "image/tiff" },
	{ "tiff", "image/tiff" },
	{ "ico", "image/vnd.microsoft.icon" },
	/* audio and video */
	{ "mp3", "audio/mpeg" },
	{ "wav", "audio/wav" },
	{ "ogg", "audio/ogg" },
	{ "flac", "audio/flac" },
	{ "mp4", "video/mp4" },
	{ "webm", "video/webm" },
	{ "mkv", "video/x-matroska" },
	{ "mov", "video/quicktime" },
	{ "avi", "video/x-msvideo" },
	/* keys and signatures */
	{ "asc", "application/pgp-signature" },
	{ "key", "application/pgp-keys" },
	{ "sig", "application/pgp-signature" },
	{ "pem", "application/x-pem-file" },
};

const char *mimetype_from_name(const char *filename)
{
	const char *base, *dot;

	if (!filename)
		return "application/octet-stream";
	base = strrchr(filename, '/');
	base = base ? base + 1 : filename;
	dot = strrchr(base, '.');
	/* ".bashrc" is a hidden file, not an extension. */
	if (!dot || dot == base || dot[1] == '\0')
		return "application/octet-stream";
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(dot + 1, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}
