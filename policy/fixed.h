/*
 * fixed: exact fixed-point numbers for contract counts and dollar prices.
 *
 * Counts are int64_t hundredths of a contract ("10.50" = 1050); dollars are
 * int64_t 1/10000 of a dollar ("0.5600" = 5600). Parsing is strict (digits,
 * at most one '.', no sign, no exponent, no spaces) and never uses floating
 * point. All functions are pure and thread-safe.
 */
#ifndef POLICY_FIXED_H
#define POLICY_FIXED_H

#include <stddef.h>
#include <stdint.h>

#define FIXED_COUNT_MAX  INT64_C(100000000000000)   /* 10^12 contracts in hundredths */
#define FIXED_DOLLARS_MAX INT64_C(100000000000000)  /* 10^10 dollars in 1/10000 */

/* Parses `len` bytes of `s` as a count with at most 2 decimals ("10",
 * "10.5", "10.50"). Returns 0 and writes *out, or -1 when malformed, with
 * more than 2 decimals, or above FIXED_COUNT_MAX. */
int fixed_parse_count(const char *s, size_t len, int64_t *out);

/* Parses a dollar amount with at most 4 decimals ("0.95", "25", "0.5600").
 * Returns 0 and writes *out, or -1 when malformed or above FIXED_DOLLARS_MAX. */
int fixed_parse_dollars(const char *s, size_t len, int64_t *out);

/* Writes a count as "12.00" into buf (NUL-terminated, cap >= 24 always
 * suffices). Returns the length. Negative values get a leading '-'. */
size_t fixed_format_count(int64_t hundredths, char *buf, size_t cap);

/* Writes dollars as "0.5600" (always 4 decimals). Returns the length. */
size_t fixed_format_dollars(int64_t ten_thousandths, char *buf, size_t cap);

#endif
