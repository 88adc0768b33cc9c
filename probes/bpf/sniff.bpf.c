/* sniff-tui kernel side: two raw syscall tracepoints (sys_enter, sys_exit) for file operations,
 * sched raw tracepoints for the process table, the page-dirtying tracepoint for writes through
 * shared mappings. Compiled by BCC at start-up with OFF_* (BTF
 * offsets), SNIFF_NCPU and SNIFF_RINGBUF_PAGES defined by probes/loader.py.
 *
 * Why only the two raw tracepoints: every syscall passes through them. One BPF program on each
 * is the cheapest way in; adding per-syscall tracepoints registers a second probe on the same
 * tracepoints, which made every read and write on the machine pay for the dispatch (measured:
 * +0.50 s per 2M syscalls with empty programs, against +0.35 s for the raw pair alone). The
 * syscall number picks the work: an inlined array lookup (sys_slot, filled by Python from
 * the per-architecture syscall table) sends reads and writes down the fast path and the rarer
 * file syscalls, by tail call, to their own programs.
 *
 * Every op is coalesced (unless --no-coalesce): per (process, op, file identity) the kernel
 * counts calls and bytes; only a counter's first syscall, and a change of its path, cross the
 * ring buffer. Python reads the totals every interval, at process exit and at stop.
 *
 * Contents, in order:
 *   maps
 *   small steps     is_self, count, cfg, wanted, type_wanted, scope_gen, fd_close_seq,
 *                   forget_verdict, rate_ok
 *   records         event_begin, event_submit, fill_file_identity, string_base, name_from_string,
 *                   string_hash
 *   verdicts        dverdict_get/put (dentry cache), file_verdict, verdict_walk (the path walk, a
 *                   program of its own that runs the asking program again), rw_scope ((tgid, fd))
 *   counters        account (find or create the counter; say whether a record must name it),
 *                   mark_named, submit_counted (and the announced paths)
 *   open files      file_op_at, file_op (every op on an open file, read/write included)
 *   hot path        raw_enter, raw_exit (read/write family)
 *   enter programs  one per syscall family (tail-called from raw_enter): ftruncate, fallocate,
 *                   mmap, sendfile & co, opens, unlink, rename, close, dup, close_range
 *                   (close_known, close_range_step, highest_open_fd)
 *   exit programs   one per shape (tail-called from raw_exit); exit_fd also remembers shared
 *                   writable mappings
 *   mapped pages    on_dirty_folio (the page-dirtying tracepoint)
 *   process table   on_fork, on_exec, on_exit
 *   io_uring        (when the kernel has it: SNIFF_URING) its maps, their accessors, and the
 *                   programs on io_uring_submit_req/io_uring_complete, whose bodies are in
 *                   uring.h
 *
 * Verifier budget (instructions processed, of 1,000,000; bench/verifier_insns.py prints them
 * for the running kernel), on 6.18: raw_enter ~4k, enter_close_range ~30k, exit_path ~60k,
 * raw_exit/enter_close/exit_open/exit_name_counted/verdict_walk ~75-85k, on_dirty_folio and
 * exit_fd ~90k, exit_pair ~140k, exit_rename ~235k; uring_file/uring_name ~80k,
 * uring_submit/uring_rename ~110-120k; close_range_step ~710k; 2.24M in all (6.1 and 6.12: see
 * bench/BENCHMARKS.md). A bounded loop is
 * followed iteration by iteration, each iteration once per distinct state reaching it, so a loop's
 * cost is its length times the paths through its body that stay apart: state the loop carries lives
 * in map memory (which the verifier does not track by value) rather than in registers, and branches
 * that only feed the loop are taken before it (string_hash before string_place). An inlined path
 * walk costs ~50k. Older verifiers lose bounds that newer ones keep (a bound checked, spilled to
 * the stack and reloaded, on 6.1): offsets are masked where they are used (OPAQUE).
 * close_range_step's 128 fds per run are near the verifier's limit on the branches of one path
 * ("sequence of jumps is too complex" at 256).
 */
#include <uapi/linux/ptrace.h>
#include "sniff.h"
#include "entry.h"
#include "sysargs.h"

BPF_RINGBUF_OUTPUT(events, SNIFF_RINGBUF_PAGES);
BPF_ARRAY(config, struct sniff_config, 1);
BPF_HASH(watched, struct sniff_watch_key, u32, SNIFF_WATCH_MAX);
BPF_PERCPU_ARRAY(counters, u64, SNIFF_CNT_MAX);
/* One scratch record per CPU, too big for the stack; programs do not nest on a CPU. */
BPF_ARRAY(scratch, struct sniff_event, SNIFF_NCPU);
/* Syscall state of threads without a front slot (see struct sniff_front). LRU: a thread killed
 * inside a syscall never reaches its exit, and its entry must not stay. */
BPF_TABLE("lru_hash", u32, struct sniff_pending, pending, SNIFF_PENDING_MAX);
BPF_TABLE("lru_hash", u32, struct sniff_rw_pending, rw_pending, SNIFF_PENDING_MAX);
/* Array maps: lookups are inlined by the verifier, which keeps the out-of-scope path cheap. */
BPF_ARRAY(verdicts, struct sniff_verdict, SNIFF_VERDICT_SLOTS);
/* Closes per (fd array, fd), direct-mapped: processes that share one fd table (clone with
 * CLONE_FILES and no CLONE_THREAD) have verdicts under different tgids, and a close by one must
 * reach the others' (the struct file's address may come back for another file at that fd). */
BPF_ARRAY(fd_closes, u32, SNIFF_VERDICT_SLOTS);
BPF_ARRAY(dverdicts, struct sniff_dverdict, SNIFF_DVERDICT_SLOTS);
#ifndef SNIFF_NO_FRONT
BPF_ARRAY(front, struct sniff_front, SNIFF_FRONT_SLOTS);
#endif
BPF_ARRAY(rw_hint, u64, SNIFF_HINT_SLOTS);
/* Slot 0: entries of pending and rw_pending anywhere; while 0, an exit of a thread without a
 * front slot looks no further. */
BPF_ARRAY(rw_inflight, u64, 1);
BPF_ARRAY(gens, u64, SNIFF_GEN_SLOTS);
BPF_ARRAY(exec_gens, u32, SNIFF_EXEC_GEN_SLOTS);
/* Plain hash, not LRU: an evicted counter would lose calls silently; when full we fall back
 * to one record per syscall and count it. */
BPF_HASH(agg, struct sniff_agg_key, struct sniff_agg, SNIFF_AGG_MAX);
BPF_PERCPU_ARRAY(agg_busy, struct sniff_agg_busy, 1);      /* see struct sniff_agg_busy */
BPF_ARRAY(agg_retire_n, u32, 1);
BPF_HASH(agg_retiring, struct sniff_agg_key, u8, SNIFF_AGG_RETIRING_MAX);
BPF_HASH(pidset, u32, u8, SNIFF_PIDSET_MAX);
BPF_HASH(cgset, u64, u8, SNIFF_CGSET_MAX);     /* cgroup v2 ids: keep these and below */
BPF_PERCPU_ARRAY(rate, struct sniff_rate, 1);
BPF_PERCPU_ARRAY(close_cursor, struct sniff_close_cursor, 1);
/* A path walk's running hash: in map memory, which the verifier does not track by value, so
 * that hashing adds no states to the walk (on the stack it tripled the verifier's work). */
BPF_PERCPU_ARRAY(walk_hash, u64, 1);
/* syscall nr -> 0 (not ours), SNIFF_SLOT_READ, SNIFF_SLOT_WRITE, or an enter_tail index */
BPF_ARRAY(sys_slot, u8, SNIFF_SYS_SLOTS);
BPF_PROG_ARRAY(enter_tail, SNIFF_TAIL_SLOTS);
BPF_PROG_ARRAY(exit_tail, SNIFF_TAIL_SLOTS);    /* by enum sniff_shape */
BPF_PROG_ARRAY(step_tail, 1);                  /* close_range_step */
BPF_PROG_ARRAY(walk_tail, SNIFF_RESUME_SLOTS);  /* verdict_walk, and the programs it resumes */
BPF_PERCPU_ARRAY(walk_job, struct sniff_walk_job, 1);
/* Paths Python already has: a record about such a file may leave its names out
 * (SNIFF_EV_NAME_BY_ID), which lets close_range name every file it closes without a walk. */
BPF_TABLE("lru_hash", struct sniff_announced_key, u8, announced, SNIFF_ANNOUNCED_MAX);
/* struct file address -> its placement, for every open file placed in scope (at its open, its
 * first read or write, or any other placement): close_range takes it with a lookup, never a walk,
 * however many fds it closes and whatever the machine's other files did to the direct-mapped
 * caches meanwhile. Keyed by the struct file, it is shared by every fd and process holding the
 * file (dup, fork); a freed file's entry is harmless (checked against dentry, inode and mount)
 * and ages out (LRU: only files in scope enter, so it holds the watched tree's open files). */
BPF_TABLE("lru_hash", u64, struct sniff_placed, placed, SNIFF_PLACED_MAX);
/* inode address -> the file mapped (see struct sniff_mapped). LRU: a stale entry (the mapping
 * is gone) only costs a lookup when that inode's pages are dirtied again. */
BPF_TABLE("lru_hash", u64, struct sniff_mapped, mapped, SNIFF_MAPPED_MAX);

static __always_inline u32 *lookup_watch(struct sniff_watch_key *key)
{
    return watched.lookup(key);
}

#include "path_walk.h"

/* ---- small steps -------------------------------------------------------------------------- */

static __always_inline void count_n(u32 slot, u64 n)
{
    u64 *c = counters.lookup(&slot);
    if (c)
        *c += n;
}

static __always_inline void count(u32 slot)
{
    count_n(slot, 1);
}

static __always_inline struct sniff_config *cfg(void)
{
    u32 zero = 0;
    return config.lookup(&zero);
}

/* Our own file activity (writing the output) is never reported. */
static __always_inline int is_self(struct sniff_config *c, u32 tgid)
{
    return tgid == c->self_tgid;
}

/* Whether the task's cgroup is one of the cgset's or below one: its ancestor at each level a
 * cgset cgroup sits at is looked up (a helper call per level, only while the filter is set). */
static __always_inline int cgroup_wanted(struct sniff_config *c)
{
#ifdef SNIFF_NO_CGROUP_FILTER
    return 1;            /* kernel < 5.12 refuses the helper here: userspace filters */
#else
    /* Not unrolled: 16 copies made raw_enter 40% longer for a check that is rarely on. */
#pragma clang loop unroll(disable)
    for (u32 level = 0; level < SNIFF_CG_LEVELS; level++) {
        if (level < c->cg_level_lo)
            continue;
        if (level > c->cg_level_hi)
            break;
        u64 cg = bpf_get_current_ancestor_cgroup_id(level);
        if (!cg)
            break;       /* the task's cgroup is above this level */
        if (cgset.lookup(&cg))
            return 1;
    }
    return 0;
#endif
}

/* The filters that need nothing but the current task: checked before any other work. */
static __always_inline int wanted_id(struct sniff_config *c, u32 op, u64 id)
{
    if (!c || !(c->ops_mask & (1u << op)))
        return 0;
    u32 tgid = id >> 32;
    if (is_self(c, tgid))
        return 0;
    if (c->pid && c->pid != tgid)
        return 0;
    if (c->uid != (u32)-1 && c->uid != (u32)bpf_get_current_uid_gid())
        return 0;
    if (c->use_pidset && !pidset.lookup(&tgid))
        return 0;
    if (c->use_cgroup && !cgroup_wanted(c))
        return 0;
    if (c->use_comm) {
        char comm[SNIFF_COMM_LEN] = {};
        bpf_get_current_comm(&comm, sizeof(comm));
#pragma unroll
        for (int i = 0; i < SNIFF_COMM_LEN; i++) {
            if (comm[i] != c->comm[i])
                return 0;
            if (!comm[i])
                break;
        }
    }
    return 1;
}

static __always_inline int wanted(struct sniff_config *c, u32 op)
{
    return wanted_id(c, op, bpf_get_current_pid_tgid());
}

static __always_inline int type_wanted(struct sniff_config *c, u16 mode, u32 op)
{
    u16 fmt = mode & S_IFMT_;
    if (fmt == S_IFREG_ || c->all_types)
        return 1;
    return fmt == S_IFDIR_ && (op == SNIFF_OP_RENAME || op == SNIFF_OP_UNLINK);
}

static __always_inline u64 scope_gen(void)
{
    u32 k0 = SNIFF_GEN_RENAME, k1 = SNIFF_GEN_USER;
    u64 *a = gens.lookup(&k0), *b = gens.lookup(&k1);
    return (a ? *a : 0) + (b ? *b : 0);
}

/* The part of scope_gen a rename of a regular file does not bump: watch changes, and the
 * directory renames Python is told about (or could not be). */
static __always_inline u64 dir_gen(void)
{
    u32 k1 = SNIFF_GEN_USER, k2 = SNIFF_GEN_UNSEEN;
    u64 *b = gens.lookup(&k1), *u = gens.lookup(&k2);
    return (b ? *b : 0) + (u ? *u : 0);
}

static __always_inline void bump_gen(u32 slot)
{
    u64 *g = gens.lookup(&slot);
    if (g)
        __sync_fetch_and_add(g, 1);
}

static __always_inline u32 verdict_slot(u32 tgid, s64 fd)
{
    return (tgid * 2654435761u ^ (u32)fd * 40503u) & (SNIFF_VERDICT_SLOTS - 1);
}

static __always_inline u32 fd_close_slot(u64 fds, s64 fd)
{
    return (u32)(((fds >> 6) ^ (fds >> 21)) * 2654435761u ^ (u32)fd * 40503u) & (SNIFF_VERDICT_SLOTS - 1);
}

/* How many closes the fd slot of this fd array has seen (see fd_closes). */
static __always_inline u32 fd_close_seq(u64 fds, s64 fd)
{
    u32 slot = fd_close_slot(fds, fd);
    u32 *seq = fd_closes.lookup(&slot);
    return seq ? *seq : 0;
}

/* The verdict for an fd dies with the fd: the next file there may reuse the struct file's
 * address. The (tgid, fd) entry is cleared, and the close is counted for the fd table, which
 * invalidates the verdicts of every other process sharing it. */
static __always_inline void forget_verdict_in(u32 tgid, s64 fd, u64 fds)
{
    u32 slot = verdict_slot(tgid, fd);
    struct sniff_verdict *v = verdicts.lookup(&slot);
    if (v)
        ENTRY_CLEAR(v);
    if (!fds)    /* not read by the caller */
        fdt_slot(task_fdt((void *)bpf_get_current_task()), fd, &fds);
    if (!fds)
        return;
    u32 cslot = fd_close_slot(fds, fd);
    u32 *seq = fd_closes.lookup(&cslot);
    if (seq)
        __sync_fetch_and_add(seq, 1);
}

static __always_inline void forget_verdict(u32 tgid, s64 fd)
{
    forget_verdict_in(tgid, fd, 0);
}

/* For threads without a front slot, whose state is in the hash maps: an exit looks at a global
 * count of their entries first, then a per-tid hint, then the hash maps. The hint counts
 * rw_pending's entries in its low bits and pending's from HINT_PENDING up: an exit looks up
 * only a map that may hold its tid's entry. */
#define HINT_RW 1ull
#define HINT_PENDING (1ull << 32)
static __always_inline void mark_inflight_as(u32 tid, int delta, u64 unit)
{
    u32 zero = 0;
    u64 *inflight = rw_inflight.lookup(&zero);
    if (inflight)
        __sync_fetch_and_add(inflight, delta);
    u32 h = tid & (SNIFF_HINT_SLOTS - 1);
    u64 *hint = rw_hint.lookup(&h);
    if (hint)
        __sync_fetch_and_add(hint, delta < 0 ? -unit : unit);
}

/* for an entry of pending */
static __always_inline void mark_inflight(u32 tid, int delta)
{
    mark_inflight_as(tid, delta, HINT_PENDING);
}

/* The front slot of tid (struct sniff_front), whoever holds it; 0 without front slots. */
static __always_inline struct sniff_front *front_slot(u32 tid)
{
#ifdef SNIFF_NO_FRONT
    return 0;
#else
    u32 k = tid & (SNIFF_FRONT_SLOTS - 1);
    return front.lookup(&k);
#endif
}

/* The front slot tid holds, or 0. */
static __always_inline struct sniff_front *front_held(u32 tid)
{
    struct sniff_front *f = front_slot(tid);
    return f && f->tid == tid ? f : 0;
}

/* The front slot for tid's syscall: the one it holds, or its free one claimed now; 0 when
 * another thread holds it. */
static __always_inline struct sniff_front *front_claim(u32 tid)
{
    struct sniff_front *f = front_slot(tid);
    if (!f)
        return 0;
    if (f->tid == tid || (!f->tid && __sync_val_compare_and_swap(&f->tid, 0, (u64)tid) == 0))
        return f;
    count(SNIFF_CNT_FRONT_SHARED);
    return 0;
}

/* At a thread's exit: its slot is free for another thread. */
static __always_inline void front_free(u32 tid)
{
    struct sniff_front *f = front_held(tid);
    if (f) {
        f->live = SNIFF_FRONT_NONE;
        f->tid = 0;
    }
}

static __always_inline int take_pending(struct sniff_pending *out)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct sniff_front *f = front_held(tid);
    if (f) {
        if (f->live != SNIFF_FRONT_PENDING)
            return 0;
        *out = f->p;
        f->live = SNIFF_FRONT_NONE;
        return 1;
    }
    struct sniff_pending *p = pending.lookup(&tid);
    if (!p)
        return 0;
    *out = *p;
    pending.delete(&tid);
    mark_inflight(tid, -1);
    return 1;
}

/* take_pending() for a program that has read its entry already (peek_pending). */
static __always_inline void drop_pending(void)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct sniff_front *f = front_held(tid);
    if (f) {
        if (f->live == SNIFF_FRONT_PENDING)
            f->live = SNIFF_FRONT_NONE;
        return;
    }
    if (pending.delete(&tid) == 0)
        mark_inflight(tid, -1);
}

/* The syscall state an exit program works from, left in place: a walk (see file_verdict)
 * runs the program again from its start. */
static __always_inline struct sniff_pending *peek_pending(void)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct sniff_front *f = front_held(tid);
    if (f)
        return f->live == SNIFF_FRONT_PENDING ? &f->p : 0;
    return pending.lookup(&tid);
}

/* --no-coalesce: records per second per CPU, the rest counted. */
static __always_inline int rate_ok(struct sniff_config *c)
{
    u32 zero = 0;
    struct sniff_rate *r = rate.lookup(&zero);
    if (!r)
        return 0;
    u64 window = bpf_ktime_get_ns() / 1000000000ull;
    if (r->window != window) {
        r->window = window;
        r->used = 0;
    }
    if (c->rate_limit && r->used >= c->rate_limit) {
        count(SNIFF_CNT_RATE_LIMITED);
        return 0;
    }
    r->used += 1;
    return 1;
}

/* ---- records ------------------------------------------------------------------------------ */

static __always_inline struct sniff_event *scratch_event(void)
{
    u32 cpu = bpf_get_smp_processor_id();
    return scratch.lookup(&cpu);
}

static __always_inline struct sniff_event *event_begin(u32 op)
{
    struct sniff_event *ev = scratch_event();
    if (!ev)
        return 0;
    u64 id = bpf_get_current_pid_tgid();
    void *task = (void *)bpf_get_current_task();
    ev->ts = bpf_ktime_get_ns();
    ev->op = op;
    ev->pid = id >> 32;
    ev->tid = (u32)id;
    ev->ppid = task_ppid(task);
    ev->uid = (u32)bpf_get_current_uid_gid();
    ev->fd = -1;
    ev->ret = 0;
    ev->ino = 0;
    ev->dev = 0;
    ev->mntns = 0;
    ev->mode = 0;
    ev->flags = 0;
    ev->count = 1;
    ev->serial = 0;
    ev->path_hash = 0;
    ev->cgroup = bpf_get_current_cgroup_id();
    ev->data_len = 0;
    __builtin_memset(&ev->args, 0, sizeof(ev->args));
    __builtin_memset(&ev->key, 0, sizeof(ev->key));
    __builtin_memset(ev->names, 0, sizeof(ev->names));
    bpf_get_current_comm(&ev->comm, sizeof(ev->comm));
    return ev;
}

/* Send size bytes of data as one record: 0, or < 0 when the ring had no room. One try: a
 * refusal means the ring is full. (Refusals with room to spare, once retried here, were Python
 * writing the consumer position in two steps: see probes/ringbuf.py.) */
static __always_inline long ring_output(void *data, u32 size)
{
    return events.ringbuf_output(data, size, 0);
}

/* Returns 0 when the record went out. A lost file record is counted with the syscalls it
 * stood for, so the loss can be checked against what is missing from the output. */
static __always_inline int event_submit(struct sniff_event *ev)
{
    u32 len = ev->data_len;
    if (len > SNIFF_DATA_MASK)
        len = SNIFF_DATA_MASK;
    long r = ring_output(ev, offsetof(struct sniff_event, data) + len);
    if (r < 0) {
        if (ev->op >= SNIFF_OP_FORK) {
            count(SNIFF_CNT_PROC_DROPS);
        } else if (ev->names[0].str_len) {
            count(SNIFF_CNT_NAME_DROPS);    /* scope unknown: maybe not even ours */
        } else {
            count(SNIFF_CNT_RINGBUF_DROPS);
            count_n(SNIFF_CNT_LOST_CALLS, ev->flags & SNIFF_EV_AGG_RENAME ? 0 : ev->count);
        }
        return -1;
    }
    if (ev->names[0].flags & SNIFF_NAME_TRUNCATED || ev->names[1].flags & SNIFF_NAME_TRUNCATED)
        count(SNIFF_CNT_TRUNCATED);
    count(SNIFF_CNT_EVENTS);
    return 0;
}

static __always_inline void fill_file_identity(struct sniff_event *ev, struct sniff_file_id *id)
{
    ev->ino = id->ino;
    ev->dev = id->dev;
    ev->mode = id->mode;
}

/* Hash of the n-byte string (its NUL counted) just copied to data[0..): with its base directory
 * (name_key), a name counter's key. Eight bytes a step, and the bytes past the string masked
 * off once, after the loop: 512 steps of one path each for the verifier to follow, not 4,096.
 * Called before string_place's branches, so that the loop is followed once, not once per way
 * of placing the string. Indexes are masked where they are used (OPAQUE): clang's pointer
 * count-down had no bound 6.1's verifier could see. */
static __always_inline u64 hash_word(u64 h, struct sniff_event *ev, u32 at, u64 keep)
{
    OPAQUE(at);
    u64 x = *(u64 *)&ev->data[at & (SNIFF_NAME_HASH_MAX - 8)] & keep;
    h = (h ^ x) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

static __always_inline u64 string_hash(struct sniff_event *ev, long n)
{
    u32 len = n > 0 ? (u32)(n - 1) : 0;
    u32 words = len / 8, rest = len % 8;
    u64 h = len;
#pragma clang loop unroll(disable)
    for (u32 i = 0; i < SNIFF_NAME_HASH_MAX / 8; i++) {
        if (i >= words)
            break;
        h = hash_word(h, ev, i * 8, ~0ull);
    }
    if (rest && words < SNIFF_NAME_HASH_MAX / 8)
        h = hash_word(h, ev, words * 8, (1ull << (rest * 8)) - 1);
    return h;
}

static __always_inline u64 name_key(u64 hash, void *base_dentry)
{
    u64 h = (hash ^ (u64)base_dentry) * 0x9E3779B97F4A7C15ull;
    return (h ^ (h >> 29)) | 1;    /* never 0 */
}

/* A path the process passed as a string: copy the string, then place the directory it is
 * relative to (dirfd, cwd, or the task's root for an absolute path). Python joins the two and
 * decides scope from the resolved location. Returns the base directory's dentry (0 if none).
 * string_place is the second half, for a string already copied to data[pos..pos+n). */
static __always_inline void *string_place(struct sniff_event *ev, struct sniff_name *nm, void *task,
                                          s64 dirfd, u32 pos, long n, struct walk_pos *base)
{
    if (n <= 0)
        return 0;
    if (n >= SNIFF_PATH_MAX)
        nm->flags |= SNIFF_NAME_STR_TRUNCATED;
    nm->str_len = n - 1;
    ev->data_len = pos + (u32)(n - 1);
    ev->mntns = task_mntns(task);
    char first = ev->data[pos & SNIFF_DATA_MASK];
    if (first == '/') {
        *base = fs_pos(task, OFF_FS_ROOT_MNT, OFF_FS_ROOT_DENTRY);
    } else if (dirfd == SNIFF_AT_FDCWD) {
        *base = fs_pos(task, OFF_FS_PWD_MNT, OFF_FS_PWD_DENTRY);
    } else {
        void *dfile = task_fd_file(task, dirfd);
        if (!dfile)
            return 0;
        *base = file_pos(dfile);
    }
    return base->dentry && base->vfsmnt ? base->dentry : 0;
}

/* hash: when not 0, gets string_hash() of the string (it must be copied to data[0..)). */
static __always_inline void *string_base(struct sniff_event *ev, struct sniff_name *nm, void *task,
                                         s64 dirfd, const char *ustr, struct walk_pos *base, u64 *hash)
{
    u32 pos = ev->data_len;
    if (pos > SNIFF_DATA_MASK)
        return 0;
    u32 at = pos;
    OPAQUE(at);
    long n = bpf_probe_read_user_str(&ev->data[at & SNIFF_DATA_MASK], SNIFF_PATH_MAX, ustr);
    if (hash)
        *hash = string_hash(ev, n);
    return string_place(ev, nm, task, dirfd, pos, n, base);
}

/* Name a string's base directory up to its mount namespace's root, past the task's root (a
 * chroot): the path is then ours, or, in another mount namespace (a container), one that Python
 * resolves through /proc/PID/root. */
static __always_inline void name_string_base(struct sniff_event *ev, struct sniff_name *nm,
                                             struct walk_pos base)
{
    u64 unused = 0;
    walk_path(ev, nm, base, WALK_BASE | WALK_NAMES, &unused);
}

static __always_inline void name_from_string(struct sniff_event *ev, struct sniff_name *nm, void *task,
                                             s64 dirfd, const char *ustr)
{
    struct walk_pos base = {0};
    if (string_base(ev, nm, task, dirfd, ustr, &base, 0))
        name_string_base(ev, nm, base);
}

/* ---- verdicts: is this open file under a watched directory? ------------------------------ */

static __always_inline u32 dverdict_slot(void *dentry)
{
    u64 d = (u64)dentry;
    return (u32)((d >> 6) ^ (d >> 20)) & (SNIFF_DVERDICT_SLOTS - 1);
}

/* What a rename of the file itself changes: d_name's hash and length (one word). */
#define OFF_DENTRY_HASH_LEN (OFF_DENTRY_NAME_HASH < OFF_DENTRY_NAME_LEN ? OFF_DENTRY_NAME_HASH : OFF_DENTRY_NAME_LEN)

/* Whether the dentry and inode a cached verdict names by address (as made with at, for a file
 * of inode number ino) are still that file's. Both are freed and their memory reused: a file
 * deleted (or a dentry reclaimed) and another made can sit at the same two addresses, with no
 * rename in between (seen under load: a deleted temporary file's out-of-scope verdict taken for
 * a new file in a watched directory, and every syscall on it lost). The same parent, name and
 * inode number: the same file (a file made again with the same name and number is at the same
 * path, so the verdict is the same). */
static __always_inline int still_same_file(void *dentry, void *inode, struct sniff_lasting *at, u64 ino)
{
#if OFF_DENTRY_HASH_LEN == OFF_DENTRY_PARENT + 8
    u64 parent_name[2] = {};     /* d_parent then d_name.hash_len: one read */
    bpf_probe_read_kernel(parent_name, sizeof(parent_name), (char *)dentry + OFF_DENTRY_PARENT);
    if (parent_name[0] != at->parent || parent_name[1] != at->name)
        return 0;
#else
    if (kread_u64(dentry, OFF_DENTRY_PARENT) != at->parent || kread_u64(dentry, OFF_DENTRY_HASH_LEN) != at->name)
        return 0;
#endif
    return kread_u64(inode, OFF_INODE_INO) == ino;
}

/* A shared cache's entry copied out whole (see entry.h): 1, or 0 when empty or torn. */
static __always_inline int entry_whole(int read)
{
    if (read < 0)
        count(SNIFF_CNT_TORN);
    return read > 0;
}

/* The dentry cache's entry for an open file, copied into *e when whole and still valid (same
 * dentry and inode, no rename or watch change since gen). */
static __always_inline int dverdict_get(void *dentry, void *inode, u64 gen, struct sniff_dverdict *e)
{
    u32 slot = dverdict_slot(dentry);
    struct sniff_dverdict *v = dverdicts.lookup(&slot);
    if (!v || v->dentry != (u64)dentry || !entry_whole(ENTRY_READ(e, v)) ||
        e->dentry != (u64)dentry || e->inode != (u64)inode || e->gen != gen ||
        !still_same_file(dentry, inode, &e->at, e->id.ino))
        return 0;
    if (e->id.flags & SNIFF_ID_TOO_DEEP)
        count(SNIFF_CNT_TOO_DEEP);    /* every syscall on such a file is counted */
    return 1;
}

/* Identity of the file behind inode (the parts a path walk does not give). */
static __always_inline void inode_identity(void *inode, struct sniff_file_id *id)
{
    id->mode = inode_mode(inode);
    id->ino = kread_u64(inode, OFF_INODE_INO);
    id->dev = sb_dev(KPTR(inode, OFF_INODE_SB));
}


static __always_inline void lasting_now(void *dentry, struct sniff_lasting *at)
{
    at->dgen = dir_gen();
    at->parent = kread_u64(dentry, OFF_DENTRY_PARENT);
    at->name = kread_u64(dentry, OFF_DENTRY_HASH_LEN);
}

/* Whether a verdict made at gen (with at) still holds for close_range, which cannot afford a
 * walk per fd: no rename at all since, or none that could have moved the file (see struct
 * sniff_lasting). A directory rename reaches Python, which bumps SNIFF_GEN_USER; until it has,
 * a close is named by the path the file had before. */
static __always_inline int verdict_lasting(void *dentry, u64 gen, struct sniff_lasting *at)
{
    return gen == scope_gen() ||
           (at->dgen == dir_gen() && at->parent == kread_u64(dentry, OFF_DENTRY_PARENT) &&
            at->name == kread_u64(dentry, OFF_DENTRY_HASH_LEN));
}

/* verdict_lasting for a verdict whose file still_same_file has just found unchanged (same
 * parent and name): only a directory rename since can have moved it. */
static __always_inline int verdict_lasting_same_file(u64 gen, struct sniff_lasting *at)
{
    return gen == scope_gen() || at->dgen == dir_gen();
}

/* The dentry cache's verdict for close_range (see verdict_lasting). */
static __always_inline int dverdict_lasting(void *dentry, void *inode, struct sniff_file_id *out)
{
    u32 slot = dverdict_slot(dentry);
    struct sniff_dverdict *v = dverdicts.lookup(&slot);
    struct sniff_dverdict e;
    if (!v || v->dentry != (u64)dentry || !entry_whole(ENTRY_READ(&e, v)) ||
        e.dentry != (u64)dentry || e.inode != (u64)inode || !still_same_file(dentry, inode, &e.at, e.id.ino) ||
        !verdict_lasting_same_file(e.gen, &e.at))
        return 0;
    *out = e.id;
    return 1;
}

/* The (tgid, fd) cache's verdict for close_range: the fd still holds the file it was made for,
 * with no exec or close of it since, and verdict_lasting holds. Unlike the dentry cache, a
 * process's own fds never evict each other there (see verdict_slot). The fd array may have been
 * replaced since (the table grew while the process opened them): the file is compared as read
 * from the current one, closes by processes sharing the table as counted for the old one. */
static __always_inline int fd_verdict_lasting(u32 tgid, s64 fd, void *file, void *dentry,
                                              u32 exec_gen, struct sniff_file_id *out)
{
    u32 slot = verdict_slot(tgid, fd);
    struct sniff_verdict *v = verdicts.lookup(&slot);
    u64 tag = ((u64)tgid << 32) | (u32)fd;
    struct sniff_verdict e;
    if (!v || v->tag != tag || !entry_whole(ENTRY_READ(&e, v)) || e.tag != tag ||
        e.file != (u64)file || e.exec_gen != exec_gen || fd_close_seq(e.fds, fd) != e.close_seq ||
        !verdict_lasting(dentry, e.gen, &e.at))
        return 0;
    *out = e.id;
    return 1;
}

static __always_inline u32 exec_gen_of(u32 tgid)
{
    u32 eslot = tgid & (SNIFF_EXEC_GEN_SLOTS - 1);
    u32 *eg = exec_gens.lookup(&eslot);
    return eg ? *eg : 0;
}

/* A placement of file in scope (made at gen, with at): into placed, unless already there. */
static __always_inline void place_file(void *file, void *dentry, void *inode, u64 gen,
                                       struct sniff_lasting *at, struct sniff_file_id *id)
{
    if (!id->watch)
        return;
    u64 key = (u64)file;
    struct sniff_placed *p = placed.lookup(&key);
    struct sniff_placed fresh;
    if (p && p->dentry == (u64)dentry && entry_whole(ENTRY_READ(&fresh, p)) &&
        fresh.file == key && fresh.dentry == (u64)dentry && fresh.inode == (u64)inode && fresh.gen == gen &&
        fresh.id.ino == id->ino)
        return;
    fresh.file = key;
    fresh.dentry = (u64)dentry;
    fresh.inode = (u64)inode;
    fresh.mnt = (u64)KPTR(file, OFF_FILE_PATH_MNT);
    fresh.gen = gen;
    fresh.at = *at;
    fresh.id = *id;
    ENTRY_SEAL(&fresh);
    placed.update(&key, &fresh);
}

/* close_range's lookup of an in-scope file's placement (see placed). */
static __always_inline int placed_lasting(void *file, void *dentry, void *inode, struct sniff_file_id *out)
{
    u64 key = (u64)file;
    struct sniff_placed *p = placed.lookup(&key);
    struct sniff_placed e;
    if (!p || !entry_whole(ENTRY_READ(&e, p)) || e.file != key || e.dentry != (u64)dentry ||
        e.inode != (u64)inode || e.mnt != (u64)KPTR(file, OFF_FILE_PATH_MNT) ||
        !still_same_file(dentry, inode, &e.at, e.id.ino) || !verdict_lasting_same_file(e.gen, &e.at))
        return 0;
    *out = e.id;
    return 1;
}

/* A file just opened and placed (id, as of gen), read from fd array fds (with its dentry) in
 * this run: its (tgid, fd) verdict, for the reads, writes and close to come and for close_range
 * (see fd_verdict_lasting). */
static __always_inline void remember_fd(s64 fd, void *file, u64 fds, void *dentry, u64 gen,
                                        struct sniff_file_id *id)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (!file || !fds)
        return;
    /* The fd's close count first, then the fd still holding the file: a close by a thread
     * sharing the table in between or after makes the verdict stale. */
    u32 close_seq = fd_close_seq(fds, fd);
    if (KPTR((void *)fds, (u32)fd * 8) != file)
        return;
    u32 slot = verdict_slot(tgid, fd);
    struct sniff_verdict *v = verdicts.lookup(&slot);
    if (!v)
        return;
    struct sniff_verdict e;
    e.tag = ((u64)tgid << 32) | (u32)fd;
    e.fds = fds;
    e.file = (u64)file;
    e.gen = gen;
    e.exec_gen = exec_gen_of(tgid);
    e.close_seq = close_seq;
    lasting_now(dentry, &e.at);
    e.id = *id;
    ENTRY_WRITE(v, &e);
}

/* After a walk: complete id from it and remember it for the dentry (at: read before the walk). */
static __always_inline void dverdict_put(void *dentry, void *inode, u64 gen, struct sniff_lasting *at,
                                         struct sniff_file_id *id, struct sniff_name *nm, u64 hash)
{
    id->flags = 0;
    if (nm->flags & SNIFF_NAME_TOO_DEEP) {
        count(SNIFF_CNT_TOO_DEEP);
        id->flags = SNIFF_ID_TOO_DEEP;
    }
    id->watch = nm->watch;
    id->path_hash = id->watch ? hash | 1 : 0;
    u32 slot = dverdict_slot(dentry);
    struct sniff_dverdict *v = dverdicts.lookup(&slot);
    if (!v)
        return;
    struct sniff_dverdict e;
    e.dentry = (u64)dentry;
    e.inode = (u64)inode;
    e.gen = gen;
    e.at = *at;
    e.id = *id;
    ENTRY_WRITE(v, &e);
}

/* Scope, identity and path hash of an open file: the answer of a walk just made for it, or the
 * dentry cache's. Returns 1 (in scope), 0 (out of scope) or, when neither knows, asks
 * verdict_walk to walk the path and to run the calling program (resume) again from its start,
 * which then finds the answer here; -1 only if that tail call failed (counted). */
static __always_inline int file_verdict_at(void *ctx, void *file, void *dentry, void *inode,
                                           struct sniff_file_id *out, u32 resume)
{
    u32 zero = 0;
    struct sniff_walk_job *job = walk_job.lookup(&zero);
    if (!job)
        return -1;
    if (job->done && job->file == (u64)file && job->dentry == (u64)dentry && job->inode == (u64)inode) {
        job->done = 0;
        *out = job->id;
        return out->watch != 0;
    }
    struct sniff_dverdict e;
    if (dverdict_get(dentry, inode, scope_gen(), &e)) {
        *out = e.id;
        if (resume != SNIFF_RESUME_CLOSE)    /* a file being closed needs no placement kept */
            place_file(file, dentry, inode, e.gen, &e.at, out);
        return out->watch != 0;
    }
    job->file = (u64)file;
    job->dentry = (u64)dentry;
    job->inode = (u64)inode;
    job->resume = resume;
    job->done = 0;
    walk_tail.call(ctx, SNIFF_RESUME_WALKER);
    count(SNIFF_CNT_UNPLACED);
    return -1;
}

static __always_inline int file_verdict(void *ctx, void *file, struct sniff_file_id *out, u32 resume)
{
    return file_verdict_at(ctx, file, KPTR(file, OFF_FILE_PATH_DENTRY), file_inode(file), out, resume);
}

/* The path walk that places an open file (see file_verdict), in a program of its own. */
int verdict_walk(struct raw_sys_ctx *ctx)
{
    u32 zero = 0;
    struct sniff_walk_job *job = walk_job.lookup(&zero);
    struct sniff_event *ev = scratch_event();
    u64 *hash = walk_hash.lookup(&zero);
    if (!job || !ev || !hash)
        return 0;
    void *file = (void *)job->file;
    void *dentry = KPTR(file, OFF_FILE_PATH_DENTRY);
    void *inode = file_inode(file);
    u64 gen = scope_gen();
    struct sniff_lasting at;
    lasting_now(dentry, &at);
    count(SNIFF_CNT_DVERDICT_MISS);
    /* The walk's name and hash live in map memory, which the verifier does not track by
     * value: the states after the walk then merge. */
    struct sniff_name *nm = &ev->names[1];
    __builtin_memset(nm, 0, sizeof(*nm));
    *hash = 0;
    ev->data_len = 0;
    walk_path(ev, nm, file_pos(file), WALK_SCOPE | WALK_HASH, hash);
    struct sniff_file_id id = {};
    inode_identity(inode, &id);
    dverdict_put(dentry, inode, gen, &at, &id, nm, *hash);
    place_file(file, dentry, inode, gen, &at, &id);
    job->id = id;
    job->done = 1;
    walk_tail.call(ctx, job->resume);
    /* Could not resume: an exit program's syscall state must not outlive its syscall. */
    job->done = 0;
    count(SNIFF_CNT_UNPLACED);
    if (job->resume == SNIFF_RESUME_CLOSE_RANGE) {
        /* The rest of the range will not be examined either: say how much. */
        struct sniff_close_cursor *cur = close_cursor.lookup(&zero);
        if (cur && cur->next <= cur->last)
            count_n(SNIFF_CNT_CLOSE_RANGE_SKIPPED, cur->last - cur->next + 1);
    }
    if (job->resume >= SNIFF_RESUME_EXIT_OPEN)
        drop_pending();
    return 0;
}

/* The (tgid, fd) cache's verdict for the file read from fd array fds (0: not read) in this run,
 * if still valid (as rw_scope's): a close of a file opened or read in scope costs no inode or
 * dentry read. */
static __always_inline int fd_verdict_get(u32 tgid, s64 fd, u64 fds, void *file,
                                          struct sniff_file_id *out)
{
    if (!fds || fd < 0)
        return 0;
    u32 slot = verdict_slot(tgid, fd);
    struct sniff_verdict *v = verdicts.lookup(&slot);
    u64 tag = ((u64)tgid << 32) | (u32)fd;
    struct sniff_verdict e;
    if (!v || v->tag != tag || !entry_whole(ENTRY_READ(&e, v)) || e.tag != tag || e.file != (u64)file ||
        e.fds != fds || e.gen != scope_gen() || e.exec_gen != exec_gen_of(tgid) ||
        fd_close_seq(fds, fd) != e.close_seq)
        return 0;
    *out = e.id;
    if (out->flags & SNIFF_ID_TOO_DEEP)
        count(SNIFF_CNT_TOO_DEEP);
    return 1;
}

/* rw_scope's cached verdict: 1 when v holds one for (tag, fd) still valid, copied into p. */
static __always_inline int rw_verdict_hit(struct sniff_verdict *v, u64 tag, s64 fd, u64 gen, u32 exec_gen,
                                          struct sniff_rw_pending *p)
{
    struct sniff_verdict e;
    if (v->tag != tag || !entry_whole(ENTRY_READ(&e, v)) || e.tag != tag || e.gen != gen ||
        e.exec_gen != exec_gen || !e.fds || fd_close_seq(e.fds, fd) != e.close_seq)
        return 0;
    void *file = KPTR((void *)e.fds, (u32)fd * 8);
    if (!file || (u64)file != e.file)
        return 0;
    p->file = e.file;
    p->id = e.id;
    if (e.id.flags & SNIFF_ID_TOO_DEEP)
        count(SNIFF_CNT_TOO_DEEP);
    return 1;
}

/* Scope of (tgid, fd) for the read/write hot path. Most reads and writes on a busy machine
 * are out of scope; for them the cost must approach an empty probe: one inlined array lookup
 * for the cached verdict, then one kernel read to check the fd still holds the same file.
 * On a miss, file_verdict (the dentry cache: a file reopened, else a walk). */
static __always_inline int rw_scope(struct raw_sys_ctx *ctx, struct sniff_config *c, u32 tgid, s64 fd,
                                    struct sniff_rw_pending *p)
{
    if (fd < 0)
        return 0;
    u32 slot = verdict_slot(tgid, fd);
    struct sniff_verdict *v = verdicts.lookup(&slot);
    if (!v)
        return 0;
    u64 tag = ((u64)tgid << 32) | (u32)fd;
    u64 gen = scope_gen();
    u32 exec_gen = exec_gen_of(tgid);
    if (rw_verdict_hit(v, tag, fd, gen, exec_gen, p))
        return p->id.watch != 0;
    count(SNIFF_CNT_VERDICT_MISS);
    u64 fds = 0;
    void *file = fdt_slot(task_fdt((void *)bpf_get_current_task()), fd, &fds);
    if (!file)
        return 0;
    struct sniff_file_id id = {};
    id.mode = inode_mode(file_inode(file));
    if (type_wanted(c, id.mode, SNIFF_OP_READ) && file_verdict(ctx, file, &id, SNIFF_RESUME_RAW_ENTER) < 0)
        return 0;
    struct sniff_verdict e;
    e.tag = tag;
    e.fds = fds;
    e.file = (u64)file;
    e.gen = gen;
    e.exec_gen = exec_gen;
    e.close_seq = fd_close_seq(fds, fd);
    lasting_now(KPTR(file, OFF_FILE_PATH_DENTRY), &e.at);
    e.id = id;
    ENTRY_WRITE(v, &e);
    p->file = (u64)file;
    p->id = id;
    return id.watch != 0;
}

/* ---- counters ------------------------------------------------------------------------------ */

enum account_result {
    COUNTED = 0,         /* added to its counter: nothing to send */
    NAME_NEW = 1,        /* a new counter: send a named record carrying this syscall */
    NAME_AGAIN = 2,      /* the counter's path changed: send a named record (no syscall of its own) */
    ALONE = 3,           /* no counter (map full or coalescing off): send this syscall on its own */
};

/* Find or create the counter for key and count one syscall of `bytes` by thread tid. path_hash
 * 0 means the caller does not know the path's identity yet (a verdict from the (tgid, fd) cache
 * always does; a name counter has none). On NAME_AGAIN, *before gets the totals before this
 * call. */
static __always_inline int account_in(struct sniff_config *c, struct sniff_agg_key *key, s64 bytes,
                                      u64 path_hash, u32 tid, u64 *serial, struct sniff_agg *before)
{
    u32 zero = 0;
    u32 *retiring = agg_retire_n.lookup(&zero);
    if (retiring && *retiring && agg_retiring.lookup(key))
        return ALONE;    /* Python is taking this counter: not one add may land in it */
    struct sniff_agg *e = agg.lookup(key);
    if (e) {
        if (path_hash && e->path_hash != path_hash) {
            *before = *e;
            e->path_hash = path_hash;
            *serial = e->serial;
        }
        __sync_fetch_and_add(&e->count, 1);
        if (bytes > 0)
            __sync_fetch_and_add(&e->bytes, bytes);
        e->last_ts = bpf_ktime_get_ns();
        e->tid = tid;
        return *serial ? NAME_AGAIN : COUNTED;
    }
    u64 now = bpf_ktime_get_ns();
    struct sniff_agg fresh = { .first_ts = now, .last_ts = now, .serial = now,
                               .path_hash = path_hash, .tid = tid,
                               .uid = (u32)bpf_get_current_uid_gid() };
    if (agg.insert(key, &fresh) == 0) {
        *serial = now;
        return NAME_NEW;
    }
    e = agg.lookup(key);
    if (e) {
        /* another thread of the process created it first */
        __sync_fetch_and_add(&e->count, 1);
        if (bytes > 0)
            __sync_fetch_and_add(&e->bytes, bytes);
        return COUNTED;
    }
    count(SNIFF_CNT_AGG_FULL);    /* map full: this one goes out on its own */
    return ALONE;
}

static __always_inline int account_by(struct sniff_config *c, struct sniff_agg_key *key, s64 bytes,
                                      u64 path_hash, u32 tid, u64 *serial, struct sniff_agg *before)
{
    if (!c->coalesce)
        return rate_ok(c) ? ALONE : COUNTED;
    u32 zero = 0;
    struct sniff_agg_busy *busy = agg_busy.lookup(&zero);
    if (!busy)
        return ALONE;
    /* A locked add: also the barrier between counting in and reading agg_retire_n. */
    __sync_fetch_and_add(&busy->enter, 1);
    int how = account_in(c, key, bytes, path_hash, tid, serial, before);
    __sync_fetch_and_add(&busy->leave, 1);
    return how;
}

/* account() for the current thread */
static __always_inline int account(struct sniff_config *c, struct sniff_agg_key *key, s64 bytes,
                                   u64 path_hash, u64 *serial, struct sniff_agg *before)
{
    return account_by(c, key, bytes, path_hash, (u32)bpf_get_current_pid_tgid(), serial, before);
}

/* After account(): fill the record's counter fields. On NAME_AGAIN the record carries the
 * totals before the change instead of a syscall. */
static __always_inline void mark_named(struct sniff_event *ev, struct sniff_agg_key *key, int how,
                                       u64 serial, struct sniff_agg *before)
{
    if (how == NAME_NEW || how == NAME_AGAIN) {
        ev->key = *key;
        ev->serial = serial;
        ev->flags |= how == NAME_NEW ? SNIFF_EV_AGG_NAME : SNIFF_EV_AGG_RENAME;
    }
    if (how == NAME_AGAIN) {
        ev->count = before->count;
        ev->ret = before->bytes;
    }
}

/* Send a record prepared by mark_named(). A new counter whose named record was lost would
 * never be named: drop it, so that the next syscall names it again (the lost one is counted
 * by event_submit). Reads everything from the record (map memory): nothing the verifier must
 * track stays live across the path walk before it. */
static __always_inline void submit_counted(struct sniff_event *ev)
{
    if (event_submit(ev) < 0) {
        if (ev->flags & SNIFF_EV_AGG_NAME)
            agg.delete(&ev->key);
        return;
    }
    /* A path that went out in full is Python's now (see announced). */
    if (ev->path_hash && !(ev->flags & SNIFF_EV_NAME_BY_ID) &&
        !(ev->names[0].flags & SNIFF_NAME_TRUNCATED)) {
        struct sniff_announced_key k = { .ino = ev->ino, .path_hash = ev->path_hash, .dev = ev->dev };
        u8 one = 1;
        announced.update(&k, &one);
    }
}

/* ---- operations on open files: open, close, ftruncate, and both sides of sendfile & co ---- */

/* A record of an io_uring request: the submitting thread's name and id (its completion may
 * run in an io_uring worker thread of the process), and its op's arguments. */
static __always_inline void event_from_uring(struct sniff_event *ev, const struct sniff_uring_req *r)
{
    ev->tid = r->tid;
    __builtin_memcpy(ev->comm, r->comm, sizeof(ev->comm));
    ev->flags |= SNIFF_EV_URING;
    ev->args = r->args;
}

/* Count op on a file whose verdict (id) is known, its path starting at *pos, or at file's when
 * file is given (read only when a record goes out: most syscalls are only counted); send a
 * record when account() says so. args: the op's arguments (mmap, fallocate, ftruncate) or 0.
 * uring: the io_uring request it comes from (its own counter), or 0 for a syscall. */
static __always_inline int file_op_pos(struct sniff_config *c, u32 op, s64 fd, void *file,
                                       struct walk_pos *pos, struct sniff_file_id *id, s64 ret,
                                       s64 bytes, struct sniff_args *args,
                                       const struct sniff_uring_req *uring)
{
    if (!id->watch || !type_wanted(c, id->mode, op))
        return 0;
    struct sniff_agg_key key = { .id = id->ino, .dev = id->dev, .tgid = bpf_get_current_pid_tgid() >> 32,
                                 .op = op, .kind = SNIFF_AGG_FILE | (uring ? SNIFF_AGG_VIA_URING : 0) };
    u64 serial = 0;
    struct sniff_agg before = {};
    /* io_uring: the thread that asked, not the worker thread that may have done it */
    u32 tid = uring ? uring->tid : (u32)bpf_get_current_pid_tgid();
    int how = account_by(c, &key, bytes, id->path_hash, tid, &serial, &before);
    if (how == COUNTED)
        return 0;
    struct sniff_event *ev = event_begin(op);
    if (!ev)
        return 0;
    if (uring)
        event_from_uring(ev, uring);
    ev->fd = fd;
    ev->ret = ret;
    if (args)
        ev->args = *args;
    ev->path_hash = id->path_hash;
    fill_file_identity(ev, id);
    mark_named(ev, &key, how, serial, &before);
    u64 unused = 0;
    walk_path(ev, &ev->names[0], file ? file_pos(file) : *pos, WALK_SCOPE | WALK_NAMES, &unused);
    if (ev->names[0].watch)
        submit_counted(ev);
    return 0;
}

static __always_inline int file_op_at(struct sniff_config *c, u32 op, s64 fd, struct walk_pos pos,
                                      struct sniff_file_id *id, s64 ret, s64 bytes,
                                      struct sniff_args *args, const struct sniff_uring_req *uring)
{
    return file_op_pos(c, op, fd, 0, &pos, id, ret, bytes, args, uring);
}

/* Count op on an open file (see file_op_at). */
static __always_inline int file_op_from(struct sniff_config *c, u32 op, s64 fd, void *file,
                                        struct sniff_file_id *id, s64 ret, s64 bytes,
                                        const struct sniff_uring_req *uring)
{
    return file_op_pos(c, op, fd, file, 0, id, ret, bytes, 0, uring);
}

static __always_inline int file_op(struct sniff_config *c, u32 op, s64 fd, void *file,
                                   struct sniff_file_id *id, s64 ret, s64 bytes)
{
    return file_op_pos(c, op, fd, file, 0, id, ret, bytes, 0, 0);
}

/* ---- content capture (--content): the bytes a write put into a file ----------------------- */

/* Self-contained: its maps, the two steps raw_exit takes (content_arm before the write is
 * counted, content_run after), and capture_write, a program of its own tail-called only when
 * capture is on and the file is a regular file in scope. Off, an in-scope write's exit pays one
 * array lookup; a kernel that refuses capture_write loses only this feature (an empty slot:
 * the tail call falls through). */
BPF_ARRAY(content_cfg, struct sniff_content_config, 1);
BPF_ARRAY(content_kind, u8, SNIFF_SYS_SLOTS);             /* syscall nr -> enum sniff_content_kind */
BPF_PERCPU_ARRAY(content_job, struct sniff_content_job, 1);
BPF_PERCPU_ARRAY(content_counters, u64, SNIFF_CC_MAX);
/* One record per CPU, too big for a per-CPU map value (32 KiB at most): an array by CPU. */
BPF_ARRAY(content_buf, struct sniff_content, SNIFF_NCPU);
BPF_PROG_ARRAY(content_tail, 1);
#ifdef SNIFF_URING
BPF_ARRAY(content_uring_kind, u8, SNIFF_URING_OPS);      /* IORING_OP_* -> enum sniff_content_kind */
BPF_TABLE("lru_hash", u64, struct sniff_content_iovs, content_iovs, SNIFF_CONTENT_URING_REQS);
BPF_PERCPU_ARRAY(content_iovs_new, struct sniff_content_iovs, 1);
#endif

static __always_inline void content_count(u32 slot, u64 n)
{
    u64 *c = content_counters.lookup(&slot);
    if (c)
        *c += n;
}

/* Before a successful in-scope write is counted: leave capture_write what it needs. */
static __always_inline void content_arm(struct sniff_rw_pending *p, s64 ret)
{
    u32 zero = 0;
    struct sniff_content_config *cc = content_cfg.lookup(&zero);
    if (!cc || !cc->on || p->op != SNIFF_OP_WRITE || (p->id.mode & S_IFMT_) != S_IFREG_)
        return;
    struct sniff_content_job *job = content_job.lookup(&zero);
    if (!job)
        return;
    job->file = p->file;
    job->fd = p->fd;
    job->ret = ret;
    job->nr = p->nr;
    job->id = p->id;
    job->kind = 0;       /* from the syscall's number (an io_uring completion sets its own) */
    job->armed = 1;
}

/* A counted change of a regular file in scope whose bytes cannot be captured (no buffer of
 * the process's holds them): counted while capture is on, so that the content is known to
 * miss them. */
static __always_inline void content_uncaptured(struct sniff_file_id *id, s64 bytes)
{
    u32 zero = 0;
    struct sniff_content_config *cc = content_cfg.lookup(&zero);
    if (!cc || !cc->on || (id->mode & S_IFMT_) != S_IFREG_)
        return;
    content_count(SNIFF_CC_UNCAPTURED, 1);
    content_count(SNIFF_CC_UNCAPTURED_BYTES, bytes);
}

/* After it: the capture, if armed (a sys_exit's or an io_uring completion's ctx). */
static __always_inline void content_run(void *ctx)
{
    u32 zero = 0;
    struct sniff_content_job *job = content_job.lookup(&zero);
    if (!job || !job->armed)
        return;
    content_tail.call(ctx, 0);
    job->armed = 0;      /* no program in the slot (refused by this kernel) */
}

/* Where the bytes of a write that returned ret landed. The file position and size are read
 * after the write, which moved them: before it, the position was ret lower, and an append
 * (O_APPEND, RWF_APPEND, which pwrite obeys too) ended at the new end of file. */
static __always_inline u64 content_offset(struct raw_sys_ctx *ctx, void *file, u32 kind, s64 ret)
{
    u32 fflags = kread_u32(file, OFF_FILE_FLAGS);
    int append = fflags & SNIFF_CONTENT_O_APPEND;
    s64 pos = -1;
    if (kind == SNIFF_CK_PWRITE || kind == SNIFF_CK_PWRITEV || kind == SNIFF_CK_PWRITEV2)
        pos = (s64)sysarg(ctx, 3);
    if (kind == SNIFF_CK_PWRITEV2 && (sysarg(ctx, 5) & SNIFF_CONTENT_RWF_APPEND))
        append = 1;
    if (append)
        return kread_u64(file_inode(file), OFF_INODE_SIZE) - ret;
    if (pos >= 0)
        return pos;
    return kread_u64(file, OFF_FILE_POS) - ret;
}

int capture_write(struct raw_sys_ctx *ctx)
{
    u32 zero = 0;
    struct sniff_content_job *job = content_job.lookup(&zero);
    struct sniff_content_config *cc = content_cfg.lookup(&zero);
    if (!job || !cc || !job->armed)
        return 0;
    job->armed = 0;
    u32 cpu = bpf_get_smp_processor_id();
    struct sniff_content *rec = content_buf.lookup(&cpu);
    u32 nr = job->nr;
    u8 *kindp = content_kind.lookup(&nr);
    if (!rec || !kindp)
        return 0;
    /* io_uring: everything from the request (ctx is its completion's, with no syscall args) */
    int uring = job->kind >= SNIFF_CK_URING;
    u32 kind = uring ? job->kind : *kindp;
    if (!kind)
        return 0;
    s64 ret = job->ret;
    void *file = (void *)job->file;
    u64 id = bpf_get_current_pid_tgid();
    rec->ts = bpf_ktime_get_ns();
    rec->op = SNIFF_OP_CONTENT;
    rec->pid = uring ? job->tgid : id >> 32;
    rec->tid = uring ? job->tid : (u32)id;
    rec->uid = (u32)bpf_get_current_uid_gid();
    rec->cgroup = bpf_get_current_cgroup_id();
    rec->ino = job->id.ino;
    rec->dev = job->id.dev;
    rec->mode = job->id.mode;
    rec->path_hash = job->id.path_hash;
    rec->fd = job->fd;
    rec->ret = ret;
    rec->flags = 0;
    if (uring) {
        rec->offset = job->offset;
        __builtin_memcpy(rec->comm, job->comm, sizeof(rec->comm));
    } else {
        rec->offset = content_offset(ctx, file, kind, ret);
        bpf_get_current_comm(&rec->comm, sizeof(rec->comm));
    }

    u64 want = cc->max;
    if (want > SNIFF_CONTENT_MAX)
        want = SNIFF_CONTENT_MAX;
    if (want > (u64)ret)
        want = ret;
    int vector = kind == SNIFF_CK_WRITEV || kind == SNIFF_CK_PWRITEV || kind == SNIFF_CK_PWRITEV2
                 || kind == SNIFF_CK_URING_V;
    job->want = want;
    job->copied = 0;
    if (uring) {
        job->iov = job->src;
        job->iovcnt = vector ? job->srccnt : 0;
    } else {
        job->iov = sysarg(ctx, 1);        /* the buffer, or the iovec array */
        job->iovcnt = vector ? sysarg(ctx, 2) : 0;
        job->iov_kernel = 0;
    }
    job->seg = vector ? 0 : job->iov;
    job->left = vector ? 0 : want;
    job->next_iov = 0;
    if (uring && vector && !job->iovcnt)
        rec->flags |= SNIFF_CF_UNREADABLE;    /* its iovecs could not be kept since submission */
    /* One chunk or one iovec per step, at a masked offset, so every copy stays inside data[]. */
#pragma clang loop unroll(disable)
    for (u32 step = 0; step < SNIFF_CONTENT_STEPS; step++) {
        if (job->copied >= job->want)
            break;
        if (!job->left) {
            if (job->next_iov >= job->iovcnt)
                break;
            u64 v[2] = {};
            void *at = (void *)(job->iov + job->next_iov * sizeof(v));
            if (job->iov_kernel ? bpf_probe_read_kernel(v, sizeof(v), at) : bpf_probe_read_user(v, sizeof(v), at)) {
                rec->flags |= SNIFF_CF_UNREADABLE;
                break;
            }
            job->next_iov += 1;
            job->seg = v[0];
            job->left = v[1];
            continue;
        }
        u64 n = job->want - job->copied;
        if (n > job->left)
            n = job->left;
        if (n > SNIFF_CONTENT_CHUNK)
            n = SNIFF_CONTENT_CHUNK;
        if (bpf_probe_read_user(&rec->data[job->copied & SNIFF_CONTENT_MASK], n, (void *)job->seg)) {
            rec->flags |= SNIFF_CF_UNREADABLE;
            break;
        }
        job->copied += n;
        job->seg += n;
        job->left -= n;
    }
#ifdef SNIFF_URING
    if (job->iov_kernel)
        content_iovs.delete(&job->req);
#endif
    u64 copied = job->copied;
    if (copied < want && !(rec->flags & SNIFF_CF_UNREADABLE))
        rec->flags |= SNIFF_CF_STEPS;
    if (rec->flags & SNIFF_CF_UNREADABLE)
        content_count(SNIFF_CC_UNREADABLE, 1);
    if (copied > SNIFF_CONTENT_MAX)
        copied = SNIFF_CONTENT_MAX;
    rec->data_len = copied;
    long r = ring_output(rec, offsetof(struct sniff_content, data) + copied);
    if (r < 0) {
        content_count(SNIFF_CC_DROPS, 1);
        content_count(SNIFF_CC_DROPPED_BYTES, ret);
        return 0;
    }
    content_count(SNIFF_CC_RECORDS, 1);
    return 0;
}

/* ---- the hot path: read/write family on raw sys_enter/sys_exit --------------------------- */

int raw_enter(struct raw_sys_ctx *ctx)
{
    u64 nr = sysnr(ctx);
    if (nr >= SNIFF_SYS_SLOTS)
        return 0;
    u32 key = nr;
    u8 *slot = sys_slot.lookup(&key);
    if (!slot || !*slot)
        return 0;
    if (*slot > SNIFF_SLOT_WRITE) {
        enter_tail.call(ctx, *slot);
        return 0;
    }
    u32 op = *slot == SNIFF_SLOT_READ ? SNIFF_OP_READ : SNIFF_OP_WRITE;
    struct sniff_config *c = cfg();
    u64 id = bpf_get_current_pid_tgid();
    if (!wanted_id(c, op, id))
        return 0;
    s64 fd = sysarg_int(ctx, 0);
    struct sniff_rw_pending p = { .fd = fd, .op = op, .nr = key };
    if (!rw_scope(ctx, c, id >> 32, fd, &p))
        return 0;
    u32 tid = (u32)id;
    struct sniff_front *f = front_claim(tid);
    if (f) {
        f->rw = p;
        f->live = SNIFF_FRONT_RW;
        return 0;
    }
    if (rw_pending.update(&tid, &p) < 0) {
        count(SNIFF_CNT_PENDING_FULL);
        return 0;
    }
    mark_inflight_as(tid, 1, HINT_RW);
    return 0;
}

/* The state this thread's enter left: 1 with a read or write's in *p (taken), else 0, after
 * the exit program of any other file syscall (by shape) has run. */
static __always_inline int exit_state(struct raw_sys_ctx *ctx, u32 tid, struct sniff_rw_pending *p)
{
    struct sniff_front *f = front_held(tid);
    if (f) {    /* a holder keeps no state in the hash maps */
        u32 live = f->live;
        if (live == SNIFF_FRONT_PENDING) {
            exit_tail.call(ctx, f->p.shape);
            f->live = SNIFF_FRONT_NONE;    /* no exit program for this shape */
        }
        if (live != SNIFF_FRONT_RW)
            return 0;
        *p = f->rw;
        f->live = SNIFF_FRONT_NONE;
        return 1;
    }
    u32 zero = 0;
    u64 *inflight = rw_inflight.lookup(&zero);
    if (!inflight || !*inflight)
        return 0;
    u32 h = tid & (SNIFF_HINT_SLOTS - 1);
    u64 *hint = rw_hint.lookup(&h);
    if (!hint || !*hint)
        return 0;
    u64 hv = *hint;
    struct sniff_rw_pending *pp = hv & (HINT_PENDING - 1) ? rw_pending.lookup(&tid) : 0;
    if (!pp) {
        if (hv < HINT_PENDING)
            return 0;
        struct sniff_pending *other = pending.lookup(&tid);
        if (other) {
            exit_tail.call(ctx, other->shape);
            /* No exit program for this shape: drop the state rather than leak it. */
            pending.delete(&tid);
            mark_inflight(tid, -1);
        }
        return 0;
    }
    *p = *pp;
    rw_pending.delete(&tid);
    mark_inflight_as(tid, -1, HINT_RW);
    return 1;
}

int raw_exit(struct raw_sys_ctx *ctx)
{
    struct sniff_rw_pending p;
    if (!exit_state(ctx, (u32)bpf_get_current_pid_tgid(), &p))
        return 0;
    s64 ret = sysret(ctx);
    struct sniff_config *c = cfg();
    if (ret <= 0 || !c)
        return 0;
    content_arm(&p, ret);
    file_op(c, p.op, p.fd, (void *)p.file, &p.id, ret, ret);
    content_run(ctx);
    return 0;
}

static __always_inline int save_pending(struct sniff_pending *p)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct sniff_front *f = front_claim(tid);
    if (f) {
        f->p = *p;
        f->live = SNIFF_FRONT_PENDING;
        return 0;
    }
    if (pending.update(&tid, p) < 0) {
        count(SNIFF_CNT_PENDING_FULL);
        return 0;
    }
    mark_inflight(tid, 1);
    return 0;
}

/* ---- enter: filter on the task, remember what the exit needs ---------------------------- */

/* ftruncate(fd, length) */
int enter_ftruncate(struct raw_sys_ctx *ctx)
{
    struct sniff_config *c = cfg();
    if (!wanted(c, SNIFF_OP_TRUNCATE))
        return 0;
    struct sniff_pending p = { .op = SNIFF_OP_TRUNCATE, .shape = SNIFF_SHAPE_FD,
                               .a = sysarg_int(ctx, 0), .s2 = sysarg(ctx, 1) };
    return save_pending(&p);
}

/* fallocate(fd, mode, offset, len); posix_fallocate is this syscall too. */
int enter_fallocate(struct raw_sys_ctx *ctx)
{
    struct sniff_config *c = cfg();
    if (!wanted(c, SNIFF_OP_FALLOCATE))
        return 0;
    struct sniff_pending p = { .op = SNIFF_OP_FALLOCATE, .shape = SNIFF_SHAPE_FD,
                               .a = sysarg_int(ctx, 0), .b = (u32)sysarg(ctx, 1),
                               .s1 = sysarg(ctx, 2), .s2 = sysarg(ctx, 3) };
    return save_pending(&p);
}

/* mmap(addr, len, prot, flags, fd, off): only shared, writable mappings of a file can change it
 * (a private one copies on write, a read-only one cannot write). */
int enter_mmap(struct raw_sys_ctx *ctx)
{
    u64 prot = sysarg(ctx, 2), flags = sysarg(ctx, 3);
    s64 fd = sysarg_int(ctx, 4);
    if (fd < 0 || !(prot & SNIFF_PROT_WRITE) || (flags & SNIFF_MAP_SHARED_ANY) == 0 ||
        (flags & SNIFF_MAP_SHARED_ANY) == 2)    /* MAP_PRIVATE */
        return 0;
    struct sniff_config *c = cfg();
    if (!c || is_self(c, bpf_get_current_pid_tgid() >> 32))
        return 0;
    struct sniff_pending p = { .op = SNIFF_OP_MMAP, .shape = SNIFF_SHAPE_FD, .a = fd,
                               .b = (prot & 0xffffffff) | (flags << 32),
                               .s1 = sysarg(ctx, 5), .s2 = sysarg(ctx, 1) };
    return save_pending(&p);
}

static __always_inline int enter_pair(s64 in_fd, s64 out_fd)
{
    struct sniff_config *c = cfg();
    int r = wanted(c, SNIFF_OP_READ), w = wanted(c, SNIFF_OP_WRITE);
    if (!r && !w)
        return 0;
    struct sniff_pending p = { .shape = SNIFF_SHAPE_FD_PAIR, .a = r ? in_fd : -1, .b = w ? out_fd : -1 };
    return save_pending(&p);
}

/* sendfile(out_fd, in_fd, ...) */
int enter_sendfile(struct raw_sys_ctx *ctx) { return enter_pair(sysarg_int(ctx, 1), sysarg_int(ctx, 0)); }
/* copy_file_range(fd_in, off_in, fd_out, ...), splice(fd_in, off_in, fd_out, ...) */
int enter_copy(struct raw_sys_ctx *ctx) { return enter_pair(sysarg_int(ctx, 0), sysarg_int(ctx, 2)); }

static __always_inline int enter_named(u32 op, u32 shape, s64 dirfd, u64 path, u64 flags)
{
    struct sniff_config *c = cfg();
    if (!wanted(c, op))
        return 0;
    struct sniff_pending p = { .op = op, .shape = shape, .a = dirfd, .s1 = path, .flags = flags };
    return save_pending(&p);
}

int enter_open(struct raw_sys_ctx *ctx)
{
    return enter_named(SNIFF_OP_OPEN, SNIFF_SHAPE_OPEN, SNIFF_AT_FDCWD, sysarg(ctx, 0), 0);
}
int enter_openat(struct raw_sys_ctx *ctx)
{
    return enter_named(SNIFF_OP_OPEN, SNIFF_SHAPE_OPEN, sysarg_int(ctx, 0), sysarg(ctx, 1), 0);
}
int enter_unlink(struct raw_sys_ctx *ctx)
{
    return enter_named(SNIFF_OP_UNLINK, SNIFF_SHAPE_PATH, SNIFF_AT_FDCWD, sysarg(ctx, 0), 0);
}
int enter_rmdir(struct raw_sys_ctx *ctx)
{
    return enter_named(SNIFF_OP_UNLINK, SNIFF_SHAPE_PATH, SNIFF_AT_FDCWD, sysarg(ctx, 0), SNIFF_EV_DIR);
}
int enter_unlinkat(struct raw_sys_ctx *ctx)
{
    /* AT_REMOVEDIR = 0x200 */
    u64 dir = (sysarg(ctx, 2) & 0x200) ? SNIFF_EV_DIR : 0;
    return enter_named(SNIFF_OP_UNLINK, SNIFF_SHAPE_PATH, sysarg_int(ctx, 0), sysarg(ctx, 1), dir);
}
int enter_truncate(struct raw_sys_ctx *ctx)
{
    return enter_named(SNIFF_OP_TRUNCATE, SNIFF_SHAPE_NAME_COUNTED, SNIFF_AT_FDCWD, sysarg(ctx, 0), 0);
}

/* Every rename is followed, wanted or not: a successful one may move files in or out of scope,
 * so it must invalidate cached verdicts. */
static __always_inline int enter_rename_common(s64 olddir, u64 oldpath, s64 newdir, u64 newpath)
{
    struct sniff_config *c = cfg();
    if (!c || is_self(c, bpf_get_current_pid_tgid() >> 32))
        return 0;
    /* Sent whether wanted or not (Python drops what filters do not keep): only Python can tell
     * a directory rename, the one kind that can move other files in or out of scope, and an
     * unseen rename would make every placement close_range keeps stale (SNIFF_GEN_UNSEEN), as
     * any rename on the machine would under a --comm or --pid filter. */
    struct sniff_pending p = { .op = SNIFF_OP_RENAME, .shape = SNIFF_SHAPE_RENAME, .report = 1,
                               .a = olddir, .s1 = oldpath, .b = newdir, .s2 = newpath };
    return save_pending(&p);
}

int enter_rename(struct raw_sys_ctx *ctx)
{
    return enter_rename_common(SNIFF_AT_FDCWD, sysarg(ctx, 0), SNIFF_AT_FDCWD, sysarg(ctx, 1));
}
/* renameat and renameat2 share their first four arguments. */
int enter_renameat(struct raw_sys_ctx *ctx)
{
    return enter_rename_common(sysarg_int(ctx, 0), sysarg(ctx, 1), sysarg_int(ctx, 2), sysarg(ctx, 3));
}

/* close happens at enter: after it, the fd no longer leads to the file. The fd's verdict is
 * forgotten whether or not closes are wanted. Returns -1 when a walk was asked for and the
 * program is to be run again (see file_verdict): nothing may change before that. */
static __always_inline int close_file_in(void *ctx, struct sniff_config *c, s64 fd, void *file, u64 fds,
                                         u32 resume, struct sniff_file_id *placed)
{
    if (!file)
        return 0;
    struct sniff_file_id id = {};
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (placed)
        id = *placed;    /* close_range: known, in scope */
    else if (wanted(c, SNIFF_OP_CLOSE) && !fd_verdict_get(tgid, fd, fds, file, &id) &&
             type_wanted(c, inode_mode(file_inode(file)), SNIFF_OP_CLOSE) &&
             file_verdict(ctx, file, &id, resume) < 0)
        return -1;
    forget_verdict_in(tgid, fd, fds);
    if (!fds)    /* close_range_step (fds 0 once inlined): its verifier budget is spent */
        return file_op_at(c, SNIFF_OP_CLOSE, fd, file_pos(file), &id, 0, 0, 0, 0);
    return file_op(c, SNIFF_OP_CLOSE, fd, file, &id, 0, 0);
}

static __always_inline int close_file(void *ctx, struct sniff_config *c, s64 fd, void *file, u32 resume,
                                      struct sniff_file_id *placed)
{
    return close_file_in(ctx, c, fd, file, 0, resume, placed);
}

int enter_close(struct raw_sys_ctx *ctx)
{
    struct sniff_config *c = cfg();
    if (!c || is_self(c, bpf_get_current_pid_tgid() >> 32))
        return 0;
    s64 fd = sysarg_int(ctx, 0);
    u64 fds = 0;
    void *file = fdt_slot_hot(task_fdt((void *)bpf_get_current_task()), fd, &fds);
    close_file_in(ctx, c, fd, file, fds, SNIFF_RESUME_CLOSE, 0);
    return 0;
}

/* dup2(old, new), dup3(old, new, flags): the file at new is released without a close; its
 * struct file address may come back for another file at the same fd. */
int enter_dup(struct raw_sys_ctx *ctx)
{
    struct sniff_config *c = cfg();
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (!c || is_self(c, tgid))
        return 0;
    forget_verdict(tgid, sysarg_int(ctx, 1));
    return 0;
}

/* What close_known leaves to close_range_step after its loop. */
enum close_need {
    CLOSE_DONE = 0,      /* accounted (or not wanted) */
    CLOSE_NAMES = 1,     /* placed in scope, but Python lacks its path: a record with names */
    CLOSE_WALK = 2,      /* never placed (or renamed itself since): a walk */
};

/* close_range's close of one fd when it costs no walk: the file's placement is in the dentry
 * cache (dverdict_lasting) and, if a record must go out, Python already has its path
 * (announced), so the record names the file by identity. Otherwise the placement is left in
 * *placed (CLOSE_NAMES) or a walk is asked for (CLOSE_WALK). */
static __always_inline int close_known(struct sniff_config *c, int want, u32 tgid, s64 fd, void *file,
                                       u32 exec_gen, struct sniff_file_id *placed)
{
    if (!want) {
        forget_verdict(tgid, fd);
        return CLOSE_DONE;
    }
    void *inode = file_inode(file);
    u16 mode = inode_mode(inode);
    if (!type_wanted(c, mode, SNIFF_OP_CLOSE)) {    /* pipes, sockets: no walk */
        forget_verdict(tgid, fd);
        return CLOSE_DONE;
    }
    void *dentry = KPTR(file, OFF_FILE_PATH_DENTRY);
    /* Its own parent and not a directory: a pseudo file that no directory holds (anon inodes:
     * eventfd, epoll, BPF maps..., regular files to 6.15+ kernels). Nobody's path: no walk, and
     * nothing skipped when a process with many of them closes its fds before an exec. */
    if ((mode & S_IFMT_) != S_IFDIR_ && KPTR(dentry, OFF_DENTRY_PARENT) == dentry) {
        forget_verdict(tgid, fd);
        return CLOSE_DONE;
    }
    struct sniff_file_id id = {};
    /* The (tgid, fd) slot first: it is read anyway, and answers an ordinary close; placed
     * answers the files a busy machine pushed out of the direct-mapped caches. */
    if (!fd_verdict_lasting(tgid, fd, file, dentry, exec_gen, &id) &&
        !placed_lasting(file, dentry, inode, &id) &&
        !dverdict_lasting(dentry, inode, &id))
        return CLOSE_WALK;
    if (!id.watch) {
        if (id.flags & SNIFF_ID_TOO_DEEP)
            count(SNIFF_CNT_TOO_DEEP);
        forget_verdict(tgid, fd);
        return CLOSE_DONE;
    }
    struct sniff_announced_key k = { .ino = id.ino, .path_hash = id.path_hash, .dev = id.dev };
    if (!announced.lookup(&k)) {
        *placed = id;
        return CLOSE_NAMES;
    }
    forget_verdict(tgid, fd);
    struct sniff_agg_key key = { .id = id.ino, .dev = id.dev, .tgid = tgid, .op = SNIFF_OP_CLOSE,
                                 .kind = SNIFF_AGG_FILE };
    u64 serial = 0;
    struct sniff_agg before = {};
    int how = account(c, &key, 0, id.path_hash, &serial, &before);
    if (how == COUNTED)
        return CLOSE_DONE;
    struct sniff_event *ev = event_begin(SNIFF_OP_CLOSE);
    if (!ev)
        return CLOSE_DONE;
    ev->fd = fd;
    ev->path_hash = id.path_hash;
    ev->flags |= SNIFF_EV_NAME_BY_ID;
    ev->names[0].watch = id.watch;
    fill_file_identity(ev, &id);
    mark_named(ev, &key, how, serial, &before);
    submit_counted(ev);
    return CLOSE_DONE;
}

/* Whether the chain can afford a walk for fd (verdict_walk, and this program again) and still
 * examine every fd after it, a batch per tail call. */
static __always_inline int close_walk_affordable(struct sniff_close_cursor *cur, u32 fd)
{
    u32 rest = cur->last - fd;    /* after fd; the run after the walk takes a batch of them */
    u32 more = rest > SNIFF_CLOSE_RANGE_BATCH - 1 ?
               (rest - (SNIFF_CLOSE_RANGE_BATCH - 1) + SNIFF_CLOSE_RANGE_BATCH - 1) / SNIFF_CLOSE_RANGE_BATCH : 0;
    return cur->calls + 2 + more <= SNIFF_TAIL_CALLS_MAX;
}

/* close_range(first, last, flags): every fd in a bounded loop, up to SNIFF_CLOSE_RANGE_BATCH per
 * run, each run a tail call. A placed file costs no walk (close_known), so the chain examines
 * ~4,000 fd slots (33 tail calls); a file never placed (opened before the start and not used
 * since) is walked only if every fd after it can still be examined, and counted
 * (close_range_skipped) otherwise, as are fd slots beyond the chain's reach. */
int close_range_step(struct raw_sys_ctx *ctx)
{
    u32 zero = 0;
    struct sniff_close_cursor *cur = close_cursor.lookup(&zero);
    struct sniff_config *c = cfg();
    if (!cur || !c)
        return 0;
    cur->calls += 1;    /* this run */
    /* A walk asked for by an earlier run has been taken from the dentry cache (close_known):
     * its answer must not outlive the close (the struct file's address comes back). */
    struct sniff_walk_job *job = walk_job.lookup(&zero);
    if (job)
        job->done = 0;
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    int want = wanted(c, SNIFF_OP_CLOSE);    /* the same task throughout */
    u32 exec_gen = exec_gen_of(tgid);
    void *file = 0;
    u32 fd = 0;
    int need = CLOSE_DONE;
    /* The cursor moves past an fd only once its close is accounted: a walk runs this program
     * again from the start (see file_verdict), and must find the same fd. */
#pragma clang loop unroll(disable)
    for (int i = 0; i < SNIFF_CLOSE_RANGE_BATCH; i++) {
        if (cur->next > cur->last)
            break;
        fd = cur->next;
        file = KPTR((void *)cur->fds, fd * 8);
        if (file)
            need = close_known(c, want, tgid, fd, file, exec_gen, &cur->id);
        if (need != CLOSE_DONE)
            break;
        file = 0;
        cur->next = fd + 1;
    }
    if (file && (need == CLOSE_NAMES || close_walk_affordable(cur, fd))) {
        /* CLOSE_NAMES: placed, the record's names come from close_file's inlined walk (no tail
         * call). CLOSE_WALK: returns only once the close is accounted (or could not be placed,
         * counted); the walk is verdict_walk's tail call, the run it resumes counts itself. */
        if (need == CLOSE_WALK)
            cur->calls += 1;
        close_file(ctx, c, fd, file, SNIFF_RESUME_CLOSE_RANGE, need == CLOSE_NAMES ? &cur->id : 0);
        cur->next = fd + 1;
    } else if (file) {
        count(SNIFF_CNT_CLOSE_RANGE_SKIPPED);
        forget_verdict(tgid, fd);
        cur->next = fd + 1;
    }
    if (cur->next <= cur->last) {
        step_tail.call(ctx, 0);
        /* Out of tail calls: say how many fd slots were not examined. */
        count_n(SNIFF_CNT_CLOSE_RANGE_SKIPPED, cur->last - cur->next + 1);
    }
    return 0;
}

/* The highest open fd of the table (-1: none), from its open_fds bitmap read from the top: a
 * range to ~0U then stops there instead of scanning empty slots up to the table's size. The
 * loop only finds the top non-empty word; the bit search runs once, after it (inside the loop,
 * its 64 paths per word took the 6.1 verifier past its 1M-instruction limit). */
static __always_inline s64 highest_open_fd(void *fdt, u32 max)
{
    u64 *bits = KPTR(fdt, OFF_FDT_OPEN_FDS);
    s64 words = (s64)(max + 63) / 64;
    s64 w = -1;
    u64 x = 0;
    if (!bits)
        return words > SNIFF_OPEN_FDS_WORDS ? (s64)max - 1 : -1;
#pragma clang loop unroll(disable)
    for (int i = 0; i < SNIFF_OPEN_FDS_WORDS; i++) {
        w = words - 1 - i;
        if (w < 0)
            break;
        x = kread_u64(bits, (u32)w * 8);
        if (x)
            break;
    }
    if (!x)
        return words > SNIFF_OPEN_FDS_WORDS ? (s64)max - 1 : -1;
    s64 hi = w * 64;
    if (x >> 32) { x >>= 32; hi += 32; }
    if (x >> 16) { x >>= 16; hi += 16; }
    if (x >> 8) { x >>= 8; hi += 8; }
    if (x >> 4) { x >>= 4; hi += 4; }
    if (x >> 2) { x >>= 2; hi += 2; }
    if (x >> 1) hi += 1;
    return hi;
}

int enter_close_range(struct raw_sys_ctx *ctx)
{
    struct sniff_config *c = cfg();
    if (!c || is_self(c, bpf_get_current_pid_tgid() >> 32))
        return 0;
    if (sysarg(ctx, 2) & 4)    /* CLOSE_RANGE_CLOEXEC only marks the fds */
        return 0;
    void *fdt = task_fdt((void *)bpf_get_current_task());
    u32 max = fdt ? kread_u32(fdt, OFF_FDT_MAX_FDS) : 0;
    u64 last = sysarg(ctx, 1);
    if (!max)
        return 0;
    if (last >= max)
        last = max - 1;
    s64 top = highest_open_fd(fdt, max);
    if (top < 0)
        return 0;
    if (last > (u64)top)
        last = top;
    u32 zero = 0;
    struct sniff_close_cursor *cur = close_cursor.lookup(&zero);
    if (!cur)
        return 0;
    cur->fds = kread_u64(fdt, OFF_FDT_FD);
    cur->next = (u32)sysarg(ctx, 0);
    cur->last = (u32)last;
    cur->calls = 1;    /* raw_enter's call of this program */
    step_tail.call(ctx, 0);
    return 0;
}

/* ---- exit: the syscall's result decides what is reported -------------------------------- */

/* Scope of the file an exit program is about, if its type is wanted at all (sockets and pipes
 * are not walked). Returns -1 when the program must give up (no walk could run: counted). */
static __always_inline int exit_verdict(void *ctx, struct sniff_config *c, u32 op, void *file,
                                        struct sniff_file_id *id, u32 resume)
{
    if (!file)
        return 0;
    void *inode = file_inode(file);
    if (!type_wanted(c, inode_mode(inode), op))
        return 0;
    return file_verdict_at(ctx, file, KPTR(file, OFF_FILE_PATH_DENTRY), inode, id, resume);
}

/* Later pages dirtied in this file by a process outside a write syscall were written through
 * a mapping (see on_dirty_folio). */
static __always_inline void remember_mapping(void *file, struct sniff_file_id *id)
{
    u64 inode = (u64)file_inode(file);
    struct walk_pos pos = file_pos(file);
    struct sniff_mapped m = { .dentry = (u64)pos.dentry, .vfsmnt = (u64)pos.vfsmnt, .id = *id };
    mapped.update(&inode, &m);
}

/* ftruncate, fallocate, mmap: by the file the fd holds. */
int exit_fd(struct raw_sys_ctx *ctx)
{
    s64 ret = sysret(ctx);
    struct sniff_config *c = cfg();
    struct sniff_pending *pp = peek_pending();
    if (!pp || !c)
        return 0;
    struct sniff_pending p = *pp;
    void *file = ret < 0 ? 0 : task_fd_file((void *)bpf_get_current_task(), p.a);
    struct sniff_file_id id = {};
    int in = exit_verdict(ctx, c, p.op, file, &id, SNIFF_RESUME_EXIT_FD);
    take_pending(&p);
    if (in <= 0)
        return 0;
    struct sniff_args args = { .off = p.s1, .len = p.s2, .how = p.b };
    s64 bytes = 0;
    if (p.op == SNIFF_OP_MMAP) {
        remember_mapping(file, &id);
        if (!wanted(c, SNIFF_OP_MMAP))
            return 0;
        ret = 0;    /* the mapping's address is nobody's business */
    } else if (p.op == SNIFF_OP_FALLOCATE) {
        bytes = (s64)p.s2;
    }
    file_op_at(c, p.op, p.a, file_pos(file), &id, ret, bytes, &args, 0);
    return 0;
}

/* sendfile, copy_file_range, splice: bytes are what the syscall returned, on both files. One
 * side per run (two inlined path walks are too much for the verifier): the read side, then
 * the program runs again for the write side. */
int exit_pair(struct raw_sys_ctx *ctx)
{
    s64 ret = sysret(ctx);
    struct sniff_config *c = cfg();
    struct sniff_pending *pp = peek_pending();
    if (!pp || !c)
        return 0;
    struct sniff_pending p = *pp;
    int reading = p.a >= 0;
    s64 fd = reading ? p.a : p.b;
    u32 op = reading ? SNIFF_OP_READ : SNIFF_OP_WRITE;
    void *file = ret > 0 && fd >= 0 ? task_fd_file((void *)bpf_get_current_task(), fd) : 0;
    struct sniff_file_id id = {};
    if (exit_verdict(ctx, c, op, file, &id, SNIFF_RESUME_EXIT_PAIR) > 0) {
        file_op(c, op, fd, file, &id, ret, ret);
        /* the side written to (op from the map again, like the side below) */
        if (pp->a < 0)
            content_uncaptured(&id, ret);    /* sendfile, copy_file_range, splice */
    }
    /* Read again from the map, not kept in a register through the walk: the verifier would
     * follow the walk once per side. */
    if (pp->a >= 0 && pp->b >= 0) {
        pp->a = -1;
        walk_tail.call(ctx, SNIFF_RESUME_EXIT_PAIR);
        count(SNIFF_CNT_UNPLACED);
    }
    take_pending(&p);
    return 0;
}

/* A failed open, or a truncate by path: there is no open file, only the name the process
 * passed. Counted per (process, op, string and base directory, result), like open files;
 * Python decides scope when the first one arrives. */
int exit_name_counted(struct raw_sys_ctx *ctx)
{
    struct sniff_pending p;
    s64 ret = sysret(ctx);
    if (!take_pending(&p))
        return 0;
    struct sniff_config *c = cfg();
    struct sniff_event *ev = event_begin(p.op);
    if (!ev || !c)
        return 0;
    ev->ret = ret;
    void *task = (void *)bpf_get_current_task();
    struct walk_pos base = {0};
    u64 hash = 0;
    void *base_dentry = string_base(ev, &ev->names[0], task, p.a, (const char *)p.s1, &base, &hash);
    struct sniff_agg_key key = { .id = name_key(hash, base_dentry),
                                 .tgid = ev->pid, .err = (s32)(ret < 0 ? ret : 0), .op = p.op,
                                 .kind = SNIFF_AGG_NAME };
    u64 serial = 0;
    struct sniff_agg before = {};
    int how = account(c, &key, 0, 0, &serial, &before);
    if (how == COUNTED)
        return 0;
    mark_named(ev, &key, how, serial, &before);
    if (base_dentry)
        name_string_base(ev, &ev->names[0], base);
    submit_counted(ev);
    return 0;
}

int exit_open(struct raw_sys_ctx *ctx)
{
    s64 ret = sysret(ctx);
    struct sniff_pending p;
    if (ret < 0) {
        exit_tail.call(ctx, SNIFF_SHAPE_NAME_COUNTED);
        take_pending(&p);    /* no program for it: do not leak the state */
        return 0;
    }
    struct sniff_config *c = cfg();
    if (!peek_pending() || !c)
        return 0;
    u64 gen = scope_gen();
    u64 fds = 0;
    void *file = fdt_slot_hot(task_fdt((void *)bpf_get_current_task()), ret, &fds);
    struct sniff_file_id id = {};
    void *dentry = 0;
    int in = 0;
    if (file) {    /* exit_verdict, keeping the dentry for remember_fd */
        void *inode = file_inode(file);
        dentry = KPTR(file, OFF_FILE_PATH_DENTRY);
        if (type_wanted(c, inode_mode(inode), SNIFF_OP_OPEN))
            in = file_verdict_at(ctx, file, dentry, inode, &id, SNIFF_RESUME_EXIT_OPEN);
    }
    drop_pending();
    if (in > 0) {
        remember_fd(ret, file, fds, dentry, gen, &id);
        file_op(c, SNIFF_OP_OPEN, ret, file, &id, 0, 0);
    }
    return 0;
}

/* unlink, rmdir: one record each */
int exit_path(struct raw_sys_ctx *ctx)
{
    struct sniff_pending p;
    if (!take_pending(&p))
        return 0;
    struct sniff_config *c = cfg();
    if (!c || (!c->coalesce && !rate_ok(c)))
        return 0;
    struct sniff_event *ev = event_begin(p.op);
    if (!ev)
        return 0;
    ev->ret = sysret(ctx);
    ev->flags = p.flags;
    name_from_string(ev, &ev->names[0], (void *)bpf_get_current_task(), p.a, (const char *)p.s1);
    event_submit(ev);
    return 0;
}

/* A successful rename makes every cached verdict stale (SNIFF_GEN_RENAME); one whose record does
 * not reach Python, which would tell a directory's, also those close_range keeps (see
 * dverdict_lasting). */
int exit_rename(struct raw_sys_ctx *ctx)
{
    struct sniff_pending p;
    if (!take_pending(&p))
        return 0;
    int moved = sysret(ctx) == 0;
    if (moved)
        bump_gen(SNIFF_GEN_RENAME);
    struct sniff_config *c = cfg();
    struct sniff_event *ev = 0;
    if (p.report && c && (c->coalesce || rate_ok(c)))
        ev = event_begin(SNIFF_OP_RENAME);
    if (!ev) {
        if (moved)
            bump_gen(SNIFF_GEN_UNSEEN);
        return 0;
    }
    void *task = (void *)bpf_get_current_task();
    ev->ret = sysret(ctx);
    name_from_string(ev, &ev->names[0], task, p.a, (const char *)p.s1);
    name_from_string(ev, &ev->names[1], task, p.b, (const char *)p.s2);
    if (event_submit(ev) < 0 && moved)
        bump_gen(SNIFF_GEN_UNSEEN);
    return 0;
}

/* ---- writes through a shared mapping: the page-dirtying tracepoint ----------------------- */

/* Pages of a folio: a large folio's second page says it is one (its head field points back, +1)
 * and holds the order. */
static __always_inline u64 folio_pages(void *folio)
{
#if defined(OFF_FOLIO_FLAGS_1) && defined(OFF_FOLIO_HEAD_1)
    if (kread_u64(folio, OFF_FOLIO_HEAD_1) == (u64)folio + 1)
        return 1ull << (kread_u64(folio, OFF_FOLIO_FLAGS_1) & 0xff);
#endif
    return 1;
}

/* writeback_dirty_folio(struct folio *, struct address_space *), or writeback_dirty_page(struct
 * page *, ...) on older kernels: runs in the context of whoever dirtied the page. For a mapped
 * page that is the process writing to memory, at its page fault; write(2) and its cousins dirty
 * pages too, inside their syscall, and are counted there, not here. */
int on_dirty_folio(struct bpf_raw_tracepoint_args *ctx)
{
    void *mapping = (void *)ctx->args[1];
    if (!mapping)
        return 0;
    u64 inode = kread_u64(mapping, OFF_MAPPING_HOST);
    struct sniff_mapped *m = mapped.lookup(&inode);
    if (!m || kread_u64((void *)inode, OFF_INODE_INO) != m->id.ino)
        return 0;    /* (the inode's memory may be another file's since) */
    struct sniff_config *c = cfg();
    if (!wanted(c, SNIFF_OP_MMAP_WRITE))
        return 0;
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct sniff_front *f = front_held(tid);
    if (f ? f->live != SNIFF_FRONT_NONE : rw_pending.lookup(&tid) || pending.lookup(&tid))
        return 0;
    struct sniff_file_id id = m->id;
    struct walk_pos pos = { .dentry = (void *)m->dentry, .vfsmnt = (void *)m->vfsmnt };
    s64 bytes = (s64)(folio_pages((void *)ctx->args[0]) * SNIFF_PAGE_SIZE);
    file_op_at(c, SNIFF_OP_MMAP_WRITE, -1, pos, &id, bytes, bytes, 0, 0);
    content_uncaptured(&id, bytes);
    return 0;
}

/* ---- process table: raw sched tracepoints ------------------------------------------------ */

static __always_inline int emit_proc(u32 op, void *task, u32 ppid)
{
    struct sniff_config *c = cfg();
    if (!c)
        return 0;
    u32 tgid = task_tgid(task);
    if (is_self(c, tgid))
        return 0;
    struct sniff_event *ev = event_begin(op);
    if (!ev)
        return 0;
    ev->pid = tgid;
    ev->tid = kread_u32(task, OFF_TASK_PID);
    ev->ppid = ppid;
    event_submit(ev);
    return 0;
}

/* sched_process_fork(struct task_struct *parent, struct task_struct *child) */
int on_fork(struct bpf_raw_tracepoint_args *ctx)
{
    void *parent = (void *)ctx->args[0];
    void *child = (void *)ctx->args[1];
    if (kread_u32(child, OFF_TASK_PID) != task_tgid(child))
        return 0;    /* a new thread, not a new process */
    u32 ptgid = task_tgid(parent);
    struct sniff_config *c = cfg();
    if (c && c->use_pidset && pidset.lookup(&ptgid)) {
        /* --tree follows the process tree at fork, before the child can do anything. */
        u32 ctgid = task_tgid(child);
        u8 one = 1;
        pidset.update(&ctgid, &one);
    }
    return emit_proc(SNIFF_OP_FORK, child, ptgid);
}

/* Cached scope verdicts of the process stop being trusted: its fds may have been closed
 * (close-on-exec, exit) without a close syscall. */
static __always_inline void bump_exec_gen(u32 tgid)
{
    u32 slot = tgid & (SNIFF_EXEC_GEN_SLOTS - 1);
    u32 *g = exec_gens.lookup(&slot);
    if (g)
        __sync_fetch_and_add(g, 1);
}

/* sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) */
int on_exec(struct bpf_raw_tracepoint_args *ctx)
{
    void *task = (void *)ctx->args[0];
    bump_exec_gen(task_tgid(task));
    return emit_proc(SNIFF_OP_EXEC, task, task_ppid(task));
}

/* sched_process_exit(struct task_struct *p) */
int on_exit(struct bpf_raw_tracepoint_args *ctx)
{
    front_free((u32)bpf_get_current_pid_tgid());
    void *task = (void *)ctx->args[0];
    if (kread_u32(task, OFF_TASK_PID) != task_tgid(task))
        return 0;
    bump_exec_gen(task_tgid(task));
    return emit_proc(SNIFF_OP_EXIT, task, task_ppid(task));
}

/* ---- io_uring: submissions and completions (probes/bpf/uring.h) --------------------------- */
#ifdef SNIFF_URING
/* LRU: a request whose completion never comes (or is not seen) must not stay. */
BPF_TABLE("lru_hash", u64, struct sniff_uring_req, uring_reqs, SNIFF_URING_REQS);
BPF_TABLE("lru_hash", u64, struct sniff_uring_paths, uring_paths, SNIFF_URING_PATH_REQS);
BPF_PERCPU_ARRAY(uring_paths_new, struct sniff_uring_paths, 1);
/* IORING_OP_* -> op | shape << 8 (0: not ours), filled by Python from the kernel's BTF */
BPF_ARRAY(uring_ops, u32, SNIFF_URING_OPS);
BPF_PROG_ARRAY(uring_tail, SNIFF_TAIL_SLOTS);    /* completion programs, by enum sniff_shape */

/* BCC rewrites map calls in this file only: uring.h reaches its maps through these. */
static __always_inline u32 uring_op_of(u32 opcode)
{
    u32 *v = uring_ops.lookup(&opcode);
    return v ? *v : 0;
}

static __always_inline struct sniff_uring_req *uring_req_get(u64 req)
{
    return uring_reqs.lookup(&req);
}

static __always_inline int uring_req_put(u64 req, struct sniff_uring_req *r)
{
    return uring_reqs.update(&req, r);
}

static __always_inline struct sniff_uring_paths *uring_paths_scratch(void)
{
    u32 zero = 0;
    return uring_paths_new.lookup(&zero);
}

static __always_inline struct sniff_uring_paths *uring_paths_get(u64 req)
{
    return uring_paths.lookup(&req);
}

static __always_inline int uring_paths_put(u64 req, struct sniff_uring_paths *p)
{
    return uring_paths.update(&req, p);
}

static __always_inline void uring_req_drop(u64 req, int paths)
{
    uring_reqs.delete(&req);
    if (paths)
        uring_paths.delete(&req);
}

static __always_inline void uring_dispatch(void *ctx, u32 shape)
{
    uring_tail.call(ctx, shape);
}

/* Run the completion program again (splice: the side written to). */
static __always_inline void uring_rerun(void *ctx)
{
    walk_tail.call(ctx, SNIFF_RESUME_URING_FILE);
}

/* A rename through io_uring; seen: its record reached Python (see exit_rename). */
static __always_inline void bump_rename_gen(int seen)
{
    bump_gen(SNIFF_GEN_RENAME);
    if (!seen)
        bump_gen(SNIFF_GEN_UNSEEN);
}

/* --content through io_uring (uring.h arms capture_write from a write's completion). */
static __always_inline u32 content_uring_on(u32 opcode)
{
    u32 zero = 0;
    struct sniff_content_config *cc = content_cfg.lookup(&zero);
    if (!cc || !cc->on)
        return 0;
    u8 *kind = content_uring_kind.lookup(&opcode);
    return kind ? *kind : 0;
}

static __always_inline struct sniff_content_job *content_job_get(void)
{
    u32 zero = 0;
    return content_job.lookup(&zero);
}

static __always_inline struct sniff_content_iovs *content_iovs_scratch(void)
{
    u32 zero = 0;
    return content_iovs_new.lookup(&zero);
}

static __always_inline int content_iovs_put(u64 req, struct sniff_content_iovs *v)
{
    return content_iovs.update(&req, v);
}

static __always_inline struct sniff_content_iovs *content_iovs_get(u64 req)
{
    return content_iovs.lookup(&req);
}

static __always_inline void content_iovs_drop(u64 req)
{
    content_iovs.delete(&req);
}

#include "uring.h"

/* raw tracepoints io_uring_submit_req(req), io_uring_complete(ctx, req, cqe) */
int uring_submit(struct bpf_raw_tracepoint_args *ctx) { return on_uring_submit(ctx); }
int uring_complete(struct bpf_raw_tracepoint_args *ctx) { return on_uring_complete(ctx); }
/* completion programs, by shape (uring_tail), and resumed after a walk (walk_tail) */
int uring_file(struct bpf_raw_tracepoint_args *ctx) { return on_uring_file(ctx); }
int uring_name(struct bpf_raw_tracepoint_args *ctx) { return on_uring_name(ctx); }
int uring_path(struct bpf_raw_tracepoint_args *ctx) { return on_uring_path(ctx); }
int uring_rename(struct bpf_raw_tracepoint_args *ctx) { return on_uring_rename(ctx); }
#endif
