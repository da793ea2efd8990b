/*-------------------------------------------------------------------------
 *
 * test_bytesize.c
 *		The size grammar of max-job-bytes (common/bytesize.c), which the
 *		plugin and the bridge share: decimal digits with an optional kB, MB
 *		or GB, no octal or hexadecimal, no sign, blanks or fraction.
 *
 *-------------------------------------------------------------------------
 */
#include "../../common/bytesize.h"
#include "unit.h"

static void
expect(const char *text, int want, long long bytes)
{
	long long	got = -1;
	int			rc = bytesize_parse(text, W2Q_MAX_JOB_BYTES_MIN, W2Q_MAX_JOB_BYTES_MAX, &got);

	if (want == BYTESIZE_OK)
		unit_check(rc == BYTESIZE_OK && got == bytes, "\"%s\" is %lld bytes (got rc %d, %lld)",
				   text, bytes, rc, got);
	else
		unit_check(rc == want, "\"%s\" is refused as %s (got rc %d)", text,
				   want == BYTESIZE_RANGE ? "out of range" : "not a size", rc);
}

int
main(void)
{
	expect("1024", BYTESIZE_OK, 1024);
	expect("8kB", BYTESIZE_OK, 8192);
	expect("64MB", BYTESIZE_OK, 64LL << 20);
	expect("256MB", BYTESIZE_OK, 256LL << 20);
	expect("268435456", BYTESIZE_OK, 268435456);
	/* leading zeros are decimal (the server's parse_int read 4096) */
	expect("010000", BYTESIZE_OK, 10000);
	expect("01024", BYTESIZE_OK, 1024);
	expect("0x1000", BYTESIZE_SYNTAX, 0);
	expect("8kb", BYTESIZE_SYNTAX, 0);
	expect("8KB", BYTESIZE_SYNTAX, 0);
	expect("8 kB", BYTESIZE_SYNTAX, 0);
	expect(" 8192", BYTESIZE_SYNTAX, 0);
	expect("8192 ", BYTESIZE_SYNTAX, 0);
	expect("+8192", BYTESIZE_SYNTAX, 0);
	expect("-5", BYTESIZE_SYNTAX, 0);
	expect("1.5MB", BYTESIZE_SYNTAX, 0);
	expect("lots", BYTESIZE_SYNTAX, 0);
	expect("", BYTESIZE_SYNTAX, 0);
	expect("1TB", BYTESIZE_SYNTAX, 0);
	expect("8B", BYTESIZE_SYNTAX, 0);
	expect("1023", BYTESIZE_RANGE, 0);
	expect("0", BYTESIZE_RANGE, 0);
	expect("257MB", BYTESIZE_RANGE, 0);
	expect("1GB", BYTESIZE_RANGE, 0);
	expect("268435457", BYTESIZE_RANGE, 0);
	expect("99999999999999999999999999", BYTESIZE_RANGE, 0);
	expect("99999999999999999999GB", BYTESIZE_RANGE, 0);
	expect("8796093022208GB", BYTESIZE_RANGE, 0);
	unit_check(bytesize_parse(NULL, 0, 1, &(long long){0}) == BYTESIZE_SYNTAX, "NULL is not a size");
	return unit_done();
}
