/* INCRBYFLOAT's arithmetic, as Redis does it: the platform's long double through strtold and
 * snprintf("%.17Lf"), which Rust has no type for (x86-64: the x87 80-bit format). Redis's
 * string2ld and ld2string(LD_STR_HUMAN) in C, so the replies are Redis's to the digit. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Redis's MAX_LONG_DOUBLE_CHARS: longer text is not a float, and no reply is longer. */
#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

/* string2ld: the whole text is one long double, without leading space, not NaN. */
static int parse_long_double(const char *text, size_t len, long double *value) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    char *end;
    long double parsed;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, text, len);
    buf[len] = '\0';
    errno = 0;
    parsed = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || end[0] != '\0' || (size_t)(end - buf) != len ||
        ((errno == ERANGE || errno == EINVAL) &&
         (parsed == HUGE_VAL || parsed == -HUGE_VAL || fpclassify(parsed) == FP_ZERO)) ||
        isnan(parsed))
        return 0;
    *value = parsed;
    return 1;
}

/* Adds the float `by` to the float `current` (absent when `current` is NULL: 0) and writes
 * the sum as Redis shows it into out[0..out_len). Returns the sum's length; -1 when either
 * is not a float, -2 when the sum is NaN or infinite, -3 when out is too small. */
long senate_incr_by_float(const char *current, size_t current_len, const char *by, size_t by_len, char *out,
                          size_t out_len) {
    long double value = 0, increment;
    int written;
    size_t len;
    if (current != NULL && !parse_long_double(current, current_len, &value)) return -1;
    if (!parse_long_double(by, by_len, &increment)) return -1;
    value += increment;
    if (isnan(value) || isinf(value)) return -2;
    written = snprintf(out, out_len, "%.17Lf", value);
    if (written < 0 || (size_t)written + 1 > out_len) return -3;
    len = (size_t)written;
    /* ld2string(LD_STR_HUMAN): no trailing zeros after the point, no point alone, no -0. */
    if (memchr(out, '.', len) != NULL) {
        while (out[len - 1] == '0') len--;
        if (out[len - 1] == '.') len--;
    }
    if (len == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        len = 1;
    }
    return (long)len;
}
