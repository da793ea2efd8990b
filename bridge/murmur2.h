/*-------------------------------------------------------------------------
 *
 * murmur2.h
 *		Kafka's murmur2 hash and default partitioner, bit for bit as in the
 *		Java client (org.apache.kafka.common.utils.Utils.murmur2), so that a
 *		key lands in the partition a Java producer would pick.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_MURMUR2_H
#define W2Q_MURMUR2_H

#include <stddef.h>
#include <stdint.h>

/* the Java client's Utils.murmur2(byte[]) (seed 0x9747b28c), as a signed int */
extern int32_t murmur2(const void *data, size_t len);

/*
 * The partition of a key among npartitions (> 0):
 * toPositive(murmur2(key)) % npartitions, toPositive being & 0x7fffffff.
 */
extern int32_t murmur2_partition(const void *key, size_t len, int32_t npartitions);

#endif							/* W2Q_MURMUR2_H */
