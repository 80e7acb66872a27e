/*
 * fixed: exact fixed-point parsing and formatting (see fixed.h).
 *
 * Parsing accepts exactly DIGITS [ "." DIGITS ]: at least one digit before
 * the point, at least one after it when there is a point, no sign, no
 * exponent, no spaces. Leading zeros are harmless in decimal and accepted
 * ("007" is 7). The accumulator is checked against the maximum after every
 * digit, so no input, however long, can overflow.
 */
#include "policy/fixed.h"

#include <inttypes.h>
#include <stdio.h>

/* Parses `len` bytes of `s` as a non-negative decimal with at most
 * `decimals` fractional digits, scaled by `scale` (10^decimals). Returns 0
 * and writes *out, or -1 when malformed or above `max` (*out untouched). */
static int parse_fixed(const char *s, size_t len, int decimals, int64_t scale,
		       int64_t max, int64_t *out)
{
	int64_t whole = 0, frac = 0, value;
	size_t i = 0;
	int nwhole = 0, nfrac = 0;

	if (s == NULL)
		return -1;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nwhole++) {
		whole = whole * 10 + (s[i] - '0');
		/* whole <= max/scale*10 + 9 here: far from INT64_MAX */
		if (whole > max / scale)
			return -1;
	}
	if (nwhole == 0)
		return -1;
	if (i < len) {
		if (s[i] != '.')
			return -1;
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nfrac++) {
			if (nfrac == decimals)
				return -1;
			frac = frac * 10 + (s[i] - '0');
		}
		if (nfrac == 0 || i != len)
			return -1;
	}
	for (; nfrac < decimals; nfrac++)
		frac *= 10;
	value = whole * scale + frac;
	if (value > max)
		return -1;
	*out = value;
	return 0;
}

/* Parses a count ("10", "10.5", "10.50") into hundredths; -1 when
 * malformed, with more than 2 decimals or above FIXED_COUNT_MAX. Pure. */
int fixed_parse_count(const char *s, size_t len, int64_t *out)
{
	return parse_fixed(s, len, 2, 100, FIXED_COUNT_MAX, out);
}

/* Parses dollars ("0.95", "25", "0.5600") into 1/10000; -1 when malformed,
 * with more than 4 decimals or above FIXED_DOLLARS_MAX. Pure. */
int fixed_parse_dollars(const char *s, size_t len, int64_t *out)
{
	return parse_fixed(s, len, 4, 10000, FIXED_DOLLARS_MAX, out);
}

/* Formats `value` / `scale` with exactly `decimals` fractional digits into
 * buf (NUL-terminated when cap > 0, truncated when cap is too small).
 * Returns the number of characters written, excluding the NUL. INT64_MIN is
 * handled through an unsigned magnitude. */
static size_t format_fixed(int64_t value, uint64_t scale, int decimals,
			   char *buf, size_t cap)
{
	uint64_t mag = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
	int n;

	if (cap == 0)
		return 0;
	n = snprintf(buf, cap, "%s%" PRIu64 ".%0*" PRIu64, value < 0 ? "-" : "",
		     mag / scale, decimals, mag % scale);
	if (n < 0) {
		buf[0] = '\0';
		return 0;
	}
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

/* Writes hundredths as "12.00"; returns the characters written (a cap of 24
 * always holds the whole text). Pure. */
size_t fixed_format_count(int64_t hundredths, char *buf, size_t cap)
{
	return format_fixed(hundredths, 100, 2, buf, cap);
}

/* Writes 1/10000 dollars as "0.5600"; returns the characters written. */
size_t fixed_format_dollars(int64_t ten_thousandths, char *buf, size_t cap)
{
	return format_fixed(ten_thousandths, 10000, 4, buf, cap);
}
