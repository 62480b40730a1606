/* Dedup's hot loops: UTF-8 bytes -> word tokens -> token hashes, shingles -> one-permutation
 * signatures and set keys, document keys, and the exact Jaccard of candidate pairs.
 *
 * Plain C over caller-owned arrays, called through ctypes (curate/dedup/native.py), which lets
 * go of the GIL for each call: dedup's worker threads run these in parallel. Loading the library
 * takes about a millisecond (numba's load took ~0.7 s a process, under the GIL).
 *
 * Bit for bit the numpy passes in tokens.py, shingles.py, signatures.py and verify.py, which stay
 * as the reference and the fallback where no C compiler built this file; tests/test_tokens.py
 * holds the two to it. Unsigned 64-bit arithmetic wraps modulo 2^64, as numpy's does.
 *
 * It is built as an extension module (setuptools, pyproject.toml) only so that the build puts it
 * next to the package; Python never calls its module init for anything but finding the file.
 */
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define K1 0x9E3779B97F4A7C15ULL
#define K2 0xBF58476D1CE4E5B9ULL
#define K3 0x94D049BB133111EBULL
#define XOR_KEY2 0xC2B2AE3D27D4EB4FULL

/* Bumped with any change to a function's signature or results: native.py refuses a library
 * built from another version (an editable install whose C file changed since the build). */
int64_t winnow_kernels_version(void) { return 8; }

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= K2;
    x ^= x >> 27;
    x *= K3;
    x ^= x >> 31;
    return x;
}

/* The token's bytes, 8 at a time little-endian, folded through mix64 (as tokens._hash_tokens). */
static inline uint64_t hash_token(const uint8_t *data, int64_t start, int64_t length) {
    uint64_t h = (uint64_t)length * K1;
    int64_t pos = start, rest = length;
    for (;;) {
        uint64_t word = 0;
        int64_t take = rest < 8 ? rest : 8;
        for (int64_t k = 0; k < take; k++) word |= (uint64_t)data[pos + k] << (8 * k);
        h = mix64(h ^ word);
        if (rest <= 8) return h;
        pos += 8;
        rest -= 8;
    }
}

/* Tokens of documents data[offsets[d]:offsets[d + 1]], d < docs: hashes and byte lengths written
 * in order (lengths may be NULL: not wanted), each document's count in counts[d]; returns the
 * number of tokens. A token is a maximal run of word characters inside one document (tokens.py
 * says which are). */
int64_t winnow_tokenize(const uint8_t *data, const int64_t *offsets, int64_t docs,
                        const uint8_t *ascii_word, const uint8_t *bmp_word, int32_t punctuation,
                        uint64_t *hashes, int64_t *lengths, int64_t *counts) {
    int64_t t = 0;
    for (int64_t d = 0; d < docs; d++) {
        int64_t pos = offsets[d], end = offsets[d + 1], first = t, start = -1;
        while (pos < end) {
            uint32_t b = data[pos];
            int64_t step;
            int word;
            if (b < 0x80) {
                step = 1;
                word = ascii_word[b];
            } else if (b < 0xC0 || pos + (b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4) > end) {
                step = 1; /* a stray continuation byte or a cut character: not valid UTF-8 */
                word = 0;
            } else {
                uint32_t cp;
                if (b < 0xE0) {
                    step = 2;
                    cp = ((b & 0x1F) << 6) | (data[pos + 1] & 0x3F);
                } else if (b < 0xF0) {
                    step = 3;
                    cp = ((b & 0x0F) << 12) | ((data[pos + 1] & 0x3F) << 6) | (data[pos + 2] & 0x3F);
                } else {
                    step = 4;
                    cp = ((b & 0x07) << 18) | ((data[pos + 1] & 0x3F) << 12) |
                         ((data[pos + 2] & 0x3F) << 6) | (data[pos + 3] & 0x3F);
                }
                /* beyond the BMP: emoji and pictographs separate words; other characters join */
                if (cp < 0x10000)
                    word = bmp_word[cp];
                else
                    word = !punctuation || !(cp >= 0x1F000 && cp < 0x1FB00);
            }
            if (word) {
                if (start < 0) start = pos;
            } else if (start >= 0) {
                hashes[t] = hash_token(data, start, pos - start);
                if (lengths) lengths[t] = pos - start;
                t++;
                start = -1;
            }
            pos += step;
        }
        if (start >= 0) {
            hashes[t] = hash_token(data, start, end - start);
            if (lengths) lengths[t] = end - start;
            t++;
        }
        counts[d] = t - first;
    }
    return t;
}

static inline void oph_update(uint32_t *row, uint64_t s, uint64_t seed_mix, uint64_t num_perm) {
    uint64_t h = mix64(s ^ seed_mix);
    uint64_t b = ((h >> 32) * num_perm) >> 32;
    uint64_t low = h & 0xFFFFFFFFULL;
    uint32_t v = (uint32_t)(low < 0xFFFFFFFEULL ? low : 0xFFFFFFFEULL);
    if (v < row[b]) row[b] = v;
}

/* Per document, in one pass over its word hashes: each word n-gram's hash (as
 * shingles.shingle_hashes), its one-permutation-hashing bin minimum in sig (docs x num_perm, as
 * signatures.oph before densification), and (document << 32 | its top 32 bits) in keys (the input
 * of verify.sets_from_keys). Returns the number of keys written. */
int64_t winnow_shingle_pass(const uint64_t *words, const int64_t *offsets, int64_t docs, int64_t n,
                            uint64_t seed_mix, uint32_t *sig, int64_t num_perm, uint64_t *keys) {
    int64_t m = 0;
    for (int64_t d = 0; d < docs; d++) {
        int64_t a = offsets[d], length = offsets[d + 1] - a;
        uint64_t doc = (uint64_t)d << 32;
        uint32_t *row = sig + d * num_perm;
        if (length >= n) {
            for (int64_t i = 0; i + n <= length; i++) {
                uint64_t s = words[a + i];
                for (int64_t j = 1; j < n; j++) s = (s * K1) ^ words[a + i + j];
                oph_update(row, s, seed_mix, (uint64_t)num_perm);
                keys[m++] = doc | (s >> 32);
            }
        } else if (length > 0) { /* fewer words than n: one shingle of them all, length mixed in */
            uint64_t s = words[a];
            for (int64_t j = 1; j < length; j++) s = (s * K1) ^ words[a + j];
            s = mix64(s ^ (uint64_t)length);
            oph_update(row, s, seed_mix, (uint64_t)num_perm);
            keys[m++] = doc | (s >> 32);
        }
    }
    return m;
}

/* tokens.doc_keys in one pass: sum_i h_i (2i + 1) and sum_i (h_i ^ c)(2i + 3) per document,
 * modulo 2^64, each mixed with the token count. */
void winnow_doc_keys(const uint64_t *hashes, const int64_t *offsets, int64_t docs, uint64_t *k1,
                     uint64_t *k2) {
    for (int64_t d = 0; d < docs; d++) {
        int64_t a = offsets[d], count = offsets[d + 1] - a;
        uint64_t s1 = 0, s2 = 0;
        for (int64_t i = 0; i < count; i++) {
            uint64_t h = hashes[a + i], w = 2 * (uint64_t)i;
            s1 += h * (w + 1);
            s2 += (h ^ XOR_KEY2) * (w + 3);
        }
        k1[d] = mix64(s1 ^ (uint64_t)count);
        k2[d] = mix64(s2 ^ (uint64_t)count);
    }
}

/* Jaccard of sorted distinct sets x (na values) and y (nb): one merge. A pair whose Jaccard is
 * certainly below the bound gets -1 as soon as that is certain: J >= t needs an intersection
 * of at least t (na + nb) / (1 + t) (need_per_value = t / (1 + t), lowered by a relative 1e-9
 * so a pair the division puts exactly at the threshold is always merged to the end), so a pair
 * fails when the smaller set is shorter than that, or when the merge has passed more unshared
 * values than the sets can spare. Verification drops most candidates (1 GB: 1.5M of 1.6M) and
 * most of them stop early. need_per_value 0: merged in full, the exact value. */
static inline double jaccard_one(const uint32_t *x, int64_t na, const uint32_t *y, int64_t nb,
                                 double need_per_value) {
    int64_t i = 0, j = 0, inter = 0;
    double bound = need_per_value * (double)(na + nb);
    int64_t need = (int64_t)bound; /* rounded up: no libm needed */
    need += (double)need < bound;
    if (need > (na < nb ? na : nb)) return -1.0;
    int64_t spare = na + nb - 2 * need; /* unshared values the pair can have and pass */
    while (i < na && j < nb) { /* branch-free: shingle order is random to the predictor */
        uint32_t u = x[i], v = y[j];
        inter += u == v;
        i += u <= v;
        j += v <= u;
        if (i + j - 2 * inter > spare) return -1.0; /* rarely true until it stops the merge */
    }
    int64_t uni = na + nb - inter;
    return uni > 0 ? (double)inter / (double)uni : 0.0;
}

static inline double need_per_value(double at_least) {
    return at_least > 0 ? at_least / (1.0 + at_least) * (1.0 - 1e-9) : 0.0;
}

/* Jaccard of pairs k = (set ia[k], set ib[k]), set d being values[starts[d] : starts[d] +
 * sizes[d]] (the same doubles as verify._jaccard: integer counts, one division), or -1 for a
 * pair certainly below at_least (see jaccard_one; at_least 0: every value exact). */
void winnow_jaccard_pairs(const uint32_t *values, const int64_t *starts, const int64_t *sizes,
                          const int64_t *ia, const int64_t *ib, int64_t pairs, double at_least,
                          double *out) {
    double per_value = need_per_value(at_least);
    for (int64_t k = 0; k < pairs; k++)
        out[k] = jaccard_one(values + starts[ia[k]], sizes[ia[k]], values + starts[ib[k]],
                             sizes[ib[k]], per_value);
}

/* Signature agreement of pairs: the fraction of equal slots of the rows at addresses xa[k]
 * and xb[k] (width uint32 each), as (rows[a] == rows[b]).mean(axis=1) in numpy (an integer
 * count, one division). The rows are read where they lie in the shards' mapped signature
 * files: nothing gathered into a copy first. */
void winnow_agreement_at(const uint64_t *xa, const uint64_t *xb, int64_t pairs, int64_t width,
                         double *out) {
    for (int64_t k = 0; k < pairs; k++) {
        const uint32_t *x = (const uint32_t *)(uintptr_t)xa[k];
        const uint32_t *y = (const uint32_t *)(uintptr_t)xb[k];
        int64_t same = 0;
        for (int64_t j = 0; j < width; j++) same += x[j] == y[j];
        out[k] = (double)same / (double)width;
    }
}

/* LSH band keys (as lsh.band_keys): out[b * docs + d] folds signature row d's values
 * b * rows .. (b + 1) * rows - 1 through mix64, from (b + 1) * K1. In C because numpy's passes
 * over a shard's few thousand rows are mostly interpreter time, under the GIL: two threads
 * hashing shards ran them slower together than one after the other. */
void winnow_band_keys(const uint32_t *sig, int64_t docs, int64_t width, int64_t bands,
                      int64_t rows, uint64_t *out) {
    for (int64_t d = 0; d < docs; d++) {
        const uint32_t *row = sig + d * width;
        for (int64_t b = 0; b < bands; b++) {
            uint64_t h = (uint64_t)(b + 1) * K1;
            for (int64_t r = b * rows; r < (b + 1) * rows; r++) h = mix64(h ^ (uint64_t)row[r]);
            out[b * docs + d] = h;
        }
    }
}

/* Runs src[lo[r] : lo[r] + n[r]], r < runs, copied one after another into dst: a batch's
 * shingle sets gathered from a shard's mapped file without an index array per value. */
void winnow_gather_runs(const uint32_t *src, const int64_t *lo, const int64_t *n, int64_t runs,
                        uint32_t *dst) {
    for (int64_t r = 0; r < runs; r++) {
        memcpy(dst, src + lo[r], (size_t)n[r] * sizeof(uint32_t));
        dst += n[r];
    }
}

/* One band's candidate pairs (as lsh.bucket_pairs): rows sharing a key, docs ascending. Each
 * bucket of k >= 2 members m0 < m1 < ... gives (m0, mj) for every j >= 1 and (mi, mi+o) for
 * o = 1 .. upto: every pair when k <= upto + 1, linear work for buckets of boilerplate. The
 * buckets are found with a hash table (keys are band hashes; no sort). Pairs come in another
 * order than numpy's and repeat as its do: the verify step takes the distinct ones. *needed is
 * set to the number of pairs; they are written to out only when it has room for them
 * (capacity pairs), so a caller sizes out for the common case and calls again in the rare
 * one. Returns 0, or -1 when memory ran out. */
int64_t winnow_bucket_pairs(const uint64_t *keys, const int64_t *docs, int64_t n, int64_t upto,
                            int64_t *out, int64_t capacity, int64_t *needed) {
    *needed = 0;
    if (n < 2) return 0;
    int64_t size = 1;
    while (size < 2 * n) size <<= 1;
    uint64_t *slot_key = malloc((size_t)size * sizeof(uint64_t));
    int64_t *slot_bucket = malloc((size_t)size * sizeof(int64_t));
    int64_t *bucket_of = malloc((size_t)n * sizeof(int64_t));
    int64_t *count = calloc((size_t)n, sizeof(int64_t));
    int64_t *start = malloc((size_t)n * sizeof(int64_t));
    int64_t *members = malloc((size_t)n * sizeof(int64_t));
    int64_t status = -1;
    if (!slot_key || !slot_bucket || !bucket_of || !count || !start || !members) goto done;
    for (int64_t s = 0; s < size; s++) slot_bucket[s] = -1;
    int64_t buckets = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t s = (int64_t)(mix64(keys[i]) & (uint64_t)(size - 1));
        while (slot_bucket[s] >= 0 && slot_key[s] != keys[i]) s = (s + 1) & (size - 1);
        if (slot_bucket[s] < 0) {
            slot_bucket[s] = buckets++;
            slot_key[s] = keys[i];
        }
        bucket_of[i] = slot_bucket[s];
        count[bucket_of[i]]++;
    }
    int64_t total = 0;
    for (int64_t b = 0; b < buckets; b++) {
        start[b] = total;
        if (count[b] >= 2) total += count[b];
    }
    for (int64_t i = 0; i < n; i++) { /* rows in order: members ascend within a bucket */
        int64_t b = bucket_of[i];
        if (count[b] >= 2) members[start[b]++] = docs[i];
    }
    int64_t pairs = 0;
    for (int64_t b = 0; b < buckets; b++) {
        int64_t k = count[b];
        if (k < 2) continue;
        pairs += k - 1;
        for (int64_t o = 1; o <= upto && o < k; o++) pairs += k - o;
    }
    *needed = pairs;
    status = 0;
    if (pairs > capacity) goto done;
    pairs = 0;
    for (int64_t b = 0; b < buckets; b++) {
        int64_t k = count[b];
        if (k < 2) continue;
        const int64_t *m = members + start[b] - k; /* start[b] moved past the bucket */
        for (int64_t j = 1; j < k; j++) {
            out[2 * pairs] = m[0];
            out[2 * pairs + 1] = m[j];
            pairs++;
        }
        for (int64_t o = 1; o <= upto && o < k; o++) {
            for (int64_t i = 0; i + o < k; i++) {
                out[2 * pairs] = m[i];
                out[2 * pairs + 1] = m[i + o];
                pairs++;
            }
        }
    }
done:
    free(slot_key);
    free(slot_bucket);
    free(bucket_of);
    free(count);
    free(start);
    free(members);
    return status;
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels",
                                    "dedup's C loops; called through ctypes (native.py)", -1, NULL};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
