/* format.c - sizes, times, UTF-8 stepping and previews (format.h). */
#include "format.h"


#include "wsdbg/utf8.h"

char *format_size(char buf[32], uint64_t bytes)
{
	static const char *const units[] = {"KB", "MB", "GB", "TB"};
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(buf, 32, "%u B", (unsigned)bytes);
		return buf;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, 32, "%.1f %s", v, units[u]);
	return buf;
}

/* Beyond any real timestamp (about 31,700 years): larger values, which
 * only a hostile snapshot holds, are shown as this, so that converting
 * them to an integer stays defined. */
#define FORMAT_MAX_SECONDS 1e12

char *format_elapsed(char buf[32], double seconds)
{
	unsigned long long ms;

	if (seconds > FORMAT_MAX_SECONDS)
		seconds = FORMAT_MAX_SECONDS;
	ms = seconds > 0 ? (unsigned long long)(seconds * 1000.0 + 0.5) : 0;
	unsigned long long h = ms / 3600000, m = ms / 60000 % 60;
	unsigned long long sec = ms / 1000 % 60, milli = ms % 1000;

	if (h)
		snprintf(buf, 32, "%llu:%02llu:%02llu.%03llu", h, m, sec, milli);
	else
		snprintf(buf, 32, "%02llu:%02llu.%03llu", m, sec, milli);
	return buf;
}

char *format_duration(char buf[32], double seconds)
{
	unsigned long long s;

	if (!(seconds > 0)) {
		snprintf(buf, 32, "0 ms");
		return buf;
	}
	if (seconds > FORMAT_MAX_SECONDS)
		seconds = FORMAT_MAX_SECONDS;
	if (seconds < 1) {
		snprintf(buf, 32, "%u ms", (unsigned)(seconds * 1000 + 0.5));
		return buf;
	}
	if (seconds < 59.95) {
		snprintf(buf, 32, "%.1fs", seconds);
		return buf;
	}
	s = (unsigned long long)(seconds + 0.5);
	if (s < 3600)
		snprintf(buf, 32, "%llum %02llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, 32, "%lluh %02llum", s / 3600, s / 60 % 60);
	else
		snprintf(buf, 32, "%llud %02lluh", s / 86400, s / 3600 % 24);
	return buf;
}

size_t utf8_sequence_length(const uint8_t *p, size_t n)
{
	size_t len;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n || !utf8_is_valid(p, len))
		return 0;
	return len;
}

uint32_t utf8_code_point(const uint8_t *p, size_t len)
{
	static const uint8_t lead_mask[5] = {0, 0x7f, 0x1f, 0x0f, 0x07};
	uint32_t cp = p[0] & lead_mask[len];

	for (size_t i = 1; i < len; i++)
		cp = cp << 6 | (p[i] & 0x3fu);
	return cp;
}

size_t format_display_width(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = 0, w = 0;

	while (p[n]) {
		size_t len = utf8_sequence_length(p + n, 4);

		n += len ? len : 1;
		w++;
	}
	return w;
}

void format_preview_text(FILE *f, const uint8_t *p, size_t n, size_t max,
			 bool more)
{
	size_t shown = 0, i = 0;

	while (i < n && shown < max) {
		size_t len = utf8_sequence_length(p + i, n - i);
		uint32_t cp = len ? utf8_code_point(p + i, len) : 0;

		if (len == 0) {
			fprintf(f, "\\x%02x", p[i++]);
			shown++;
			continue;
		}
		if (cp == '\n')
			fputs("\\n", f);
		else if (cp == '\r')
			fputs("\\r", f);
		else if (cp == '\t')
			fputs("\\t", f);
		else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
			fprintf(f, "\\u%04x", (unsigned)cp);
		else
			fwrite(p + i, 1, len, f);
		i += len;
		shown++;
	}
	if (i < n || more)
		fputs("…", f);
}
