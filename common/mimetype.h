/* Content-Type for an attachment from its file name's extension. Pure. */
#ifndef MAILPIPE_MIMETYPE_H
#define MAILPIPE_MIMETYPE_H

/* The media type for filename's extension, compared without case
 * ("Report.PDF" -> "application/pdf"); "application/octet-stream" when
 * there is no extension or it is unknown. Only the part after the last '/'
 * is looked at. Returns a static string: never NULL, never freed. No
 * charset parameter is added: the caller knows the file's encoding. */
const char *mimetype_from_name(const char *filename);

#endif
