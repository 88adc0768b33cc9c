/* Whole entries of the caches every CPU shares (verdicts, dverdicts, placed).
 *
 * Those entries are written without a lock (tracing programs cannot take one), word by word.
 * A reader on another CPU may then see half of one writer's entry and half of another's, and
 * two writers of one slot may leave such a mix behind for good: one file's key with another
 * file's answer, and every syscall on the first file judged by it. (Not seen happen: the
 * one-file-in-500 loss under stress-ng was an entry outliving its file, see still_same_file in
 * sniff.bpf.c; `torn` stayed 0 in every run.)
 *
 * So each entry ends with a check of its other words, written with them. A reader copies the
 * entry once, word by word, and believes the copy only if its check matches: a mixed entry is
 * a cache miss (counted in SNIFF_CNT_TORN), answered by a walk as any other miss. */
#ifndef SNIFF_ENTRY_H
#define SNIFF_ENTRY_H

#define ENTRY_WORDS(e) (sizeof(e) / 8)

/* Entries are read and written as words, their fields by name: words that may alias them. */
typedef u64 __attribute__((__may_alias__)) entry_word;

/* A sum of the words, each times its own odd constant: any one word changed changes it, and
 * the products do not wait on each other (a chained hash would, word after word, on the hot
 * path of every read and write). */
static __always_inline u64 entry_check(const entry_word *w, u32 n)
{
    u64 h = 0x6a09e667f3bcc908ull;
#pragma unroll
    for (u32 i = 0; i < n; i++)
        h += w[i] * (0x9e3779b97f4a7c15ull + 2 * i * 0x2545f4914f6cdd1dull);
    return h | 1;    /* never 0: an entry never written, or cleared, is no entry */
}

/* Copy an entry of n words (its check last) out of map memory, each word read once: 1 when it
 * is whole, 0 when empty, -1 when torn. */
static __always_inline int entry_read(void *dst, const void *src, u32 n)
{
    entry_word *d = dst;
    const volatile entry_word *s = src;
#pragma unroll
    for (u32 i = 0; i < n; i++)
        d[i] = s[i];
    if (d[n - 1] == entry_check(d, n - 1))
        return 1;
    return d[n - 1] ? -1 : 0;
}

/* Seal an entry of n words built on the stack: its check, from its other words. */
static __always_inline void entry_seal(void *src, u32 n)
{
    entry_word *s = src;
    s[n - 1] = entry_check(s, n - 1);
}

/* Seal src (n words, its check last) and copy it into map memory. */
static __always_inline void entry_write(void *dst, void *src, u32 n)
{
    entry_word *s = src;
    volatile entry_word *d = dst;
    entry_seal(src, n);
#pragma unroll
    for (u32 i = 0; i < n; i++)
        d[i] = s[i];
}

/* Clear an entry in map memory: its check alone is enough. */
static __always_inline void entry_clear(void *dst, u32 n)
{
    ((volatile entry_word *)dst)[n - 1] = 0;
}

#define ENTRY_READ(dst, src) entry_read((dst), (src), ENTRY_WORDS(*(dst)))
#define ENTRY_WRITE(dst, src) entry_write((dst), (src), ENTRY_WORDS(*(src)))
#define ENTRY_SEAL(src) entry_seal((src), ENTRY_WORDS(*(src)))
#define ENTRY_CLEAR(dst) entry_clear((dst), ENTRY_WORDS(*(dst)))

#endif
