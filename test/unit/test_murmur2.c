/*-------------------------------------------------------------------------
 *
 * test_murmur2.c
 *		Kafka's murmur2 against the Java client's test vectors (Kafka's
 *		UtilsTest.testMurmur2) and against librdkafka's murmur2 partitioner,
 *		which is documented to match the Java client.
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "murmur2.h"
#include "unit.h"

static const struct
{
	const char *key;
	int32_t		hash;
}			java_vectors[] = {
	{"21", -973932308},
	{"foobar", -790332482},
	{"a-little-bit-long-string", -985981536},
	{"a-little-bit-longer-string", -1486304829},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
	{"abc", 479470107},
	{"", 275646681},
};

static void
test_vectors(void)
{
	size_t		i;

	for (i = 0; i < sizeof(java_vectors) / sizeof(java_vectors[0]); i++)
	{
		const char *k = java_vectors[i].key;
		int32_t		h = murmur2(k, strlen(k));

		unit_check(h == java_vectors[i].hash, "murmur2(\"%s\") = %d (want %d)",
				   k, (int) h, (int) java_vectors[i].hash);
	}
}

static void
test_partition(void)
{
	/* toPositive: & 0x7fffffff, not abs() */
	int32_t		h = murmur2("21", 2);

	unit_check(murmur2_partition("21", 2, 7) ==
			   (int32_t) (((uint32_t) h & 0x7fffffffU) % 7),
			   "partition of \"21\" among 7 is (murmur2 & 0x7fffffff) %% 7");
	unit_check(murmur2_partition("", 0, 1) == 0, "one partition: always 0");
	/* 1357151166, 479470107 and 1173551340 after toPositive */
	unit_check(murmur2_partition("foobar", 6, 10) == 6 &&
			   murmur2_partition("abc", 3, 10) == 7 &&
			   murmur2_partition("21", 2, 10) == 0,
			   "partitions of known keys among 10");
}

/* bytes with the high bit set are unsigned (Java's & 0xff), all lengths */
static void
test_against_librdkafka(void)
{
	unsigned char key[64];
	int			bad = 0;
	int			n;
	int			len;

	srand(42);
	for (n = 0; n < 20000; n++)
	{
		int32_t		parts = 1 + rand() % 100;
		int			i;

		len = rand() % (int) sizeof(key);
		for (i = 0; i < len; i++)
			key[i] = (unsigned char) rand();
		if (murmur2_partition(key, len, parts) !=
			rd_kafka_msg_partitioner_murmur2(NULL, key, len, parts, NULL, NULL))
			bad++;
	}
	unit_check(bad == 0, "20000 random keys: same partition as librdkafka's murmur2 partitioner (%d differ)", bad);
}

int
main(void)
{
	test_vectors();
	test_partition();
	test_against_librdkafka();
	return unit_done();
}
