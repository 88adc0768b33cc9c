/* sniff-tui kernel side: two raw syscall tracepoints (sys_enter, sys_exit) for file operations,
 * sched raw tracepoints for the process table. Compiled by BCC at start-up with OFF_* (BTF
 * offsets), SNIFF_NCPU and SNIFF_RINGBUF_PAGES defined by probes/loader.py.
 *
 * Why only the two raw tracepoints: every syscall passes through them. One BPF program on each
 * is the cheapest way in; adding per-syscall tracepoints registers a second probe on the same
 * tracepoints, which made every read and write on the machine pay for the dispatch (measured:
 * +0.50 s per 2M syscalls with empty programs, against +0.35 s for the raw pair alone). The
 * syscall number picks the work: an inlined array lookup (sys_slot, filled by Python from
 * the per-architecture syscall table) sends reads and writes down the fast path and the rarer
 * file syscalls, by tail call, to their own programs. */
#include <uapi/linux/ptrace.h>
#include "sniff.h"


/* Raw sys_enter/sys_exit context: (struct pt_regs *regs, long id) and (regs, long ret). */
struct raw_sys_ctx {
    u64 args[2];
};

/* Syscall argument i, read from the user registers the raw tracepoint hands over. */
static __always_inline u64 sysarg(struct raw_sys_ctx *ctx, int i)
{
    u64 v = 0;
    u32 off = i == 0 ? OFF_REGS_PARM1 : i == 1 ? OFF_REGS_PARM2 : i == 2 ? OFF_REGS_PARM3
            : i == 3 ? OFF_REGS_PARM4 : OFF_REGS_PARM5;
    bpf_probe_read_kernel(&v, sizeof(v), (char *)ctx->args[0] + off);
    return v;
}

static __always_inline s64 sysret(struct raw_sys_ctx *ctx)
{
    return (s64)ctx->args[1];
}

BPF_RINGBUF_OUTPUT(events, SNIFF_RINGBUF_PAGES);
BPF_ARRAY(config, struct sniff_config, 1);
BPF_HASH(watched, struct sniff_watch_key, u32, SNIFF_WATCH_MAX);
BPF_PERCPU_ARRAY(counters, u64, SNIFF_CNT_MAX);
/* One scratch record per CPU, too big for the stack; programs do not nest on a CPU. */
BPF_ARRAY(scratch, struct sniff_event, SNIFF_NCPU);
/* LRU: a thread killed inside a syscall never reaches its exit, and its entry must not stay. */
BPF_TABLE("lru_hash", u32, struct sniff_pending, pending, SNIFF_PENDING_MAX);
BPF_TABLE("lru_hash", u32, struct sniff_rw_pending, rw_pending, SNIFF_PENDING_MAX);
/* Array maps: lookups are inlined by the verifier, which keeps the out-of-scope path cheap. */
BPF_ARRAY(verdicts, struct sniff_verdict, SNIFF_VERDICT_SLOTS);
BPF_ARRAY(rw_hint, u32, SNIFF_HINT_SLOTS);
/* Slot 0: in-scope reads/writes in flight anywhere; while 0, exits return without a helper call. */
BPF_ARRAY(rw_inflight, u64, 1);
BPF_ARRAY(gens, u64, 2);
BPF_ARRAY(exec_gens, u32, SNIFF_EXEC_GEN_SLOTS);
/* Plain hash, not LRU: an evicted counter would lose bytes silently; when full we fall back
 * to one record per syscall and count it. */
BPF_HASH(agg, struct sniff_agg_key, struct sniff_agg, SNIFF_AGG_MAX);
BPF_HASH(pidset, u32, u8, SNIFF_PIDSET_MAX);
BPF_PERCPU_ARRAY(rate, struct sniff_rate, 1);
BPF_PERCPU_ARRAY(close_cursor, struct sniff_close_cursor, 1);
/* syscall nr -> 0 (not ours), SNIFF_SLOT_READ, SNIFF_SLOT_WRITE, or an enter_tail index */
BPF_ARRAY(sys_slot, u8, SNIFF_SYS_SLOTS);
BPF_PROG_ARRAY(enter_tail, SNIFF_TAIL_SLOTS);
BPF_PROG_ARRAY(exit_tail, SNIFF_TAIL_SLOTS);    /* by enum sniff_shape */
BPF_PROG_ARRAY(step_tail, 1);                  /* close_range_step */

static __always_inline u32 *lookup_watch(struct sniff_watch_key *key)
{
    return watched.lookup(key);
}

#include "path_walk.h"

static __always_inline void count(u32 slot)
{
    u64 *c = counters.lookup(&slot);
    if (c)
        *c += 1;
}

static __always_inline struct sniff_config *cfg(void)
{
    u32 zero = 0;
    return config.lookup(&zero);
}

/* The filters that need nothing but the current task: checked before any other work. */
static __always_inline int wanted_id(struct sniff_config *c, u32 op, u64 id)
{
    if (!c || !(c->ops_mask & (1u << op)))
        return 0;
    u32 tgid = id >> 32;
    if (tgid == c->self_tgid)
        return 0;
    if (c->pid && c->pid != tgid)
        return 0;
    if (c->uid != (u32)-1 && c->uid != (u32)bpf_get_current_uid_gid())
        return 0;
    if (c->use_pidset && !pidset.lookup(&tgid))
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

static __always_inline struct sniff_event *event_begin(u32 op)
{
    u32 cpu = bpf_get_smp_processor_id();
    struct sniff_event *ev = scratch.lookup(&cpu);
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
    ev->mode = 0;
    ev->flags = 0;
    ev->count = 1;
    ev->file = 0;
    ev->serial = 0;
    ev->data_len = 0;
    __builtin_memset(ev->names, 0, sizeof(ev->names));
    bpf_get_current_comm(&ev->comm, sizeof(ev->comm));
    return ev;
}

static __always_inline void event_submit(struct sniff_event *ev)
{
    u32 len = ev->data_len;
    if (len > SNIFF_DATA_MASK)
        len = SNIFF_DATA_MASK;
    if (ev->names[0].flags & SNIFF_NAME_TRUNCATED || ev->names[1].flags & SNIFF_NAME_TRUNCATED)
        count(SNIFF_CNT_TRUNCATED);
    if (events.ringbuf_output(ev, offsetof(struct sniff_event, data) + len, 0) < 0)
        count(SNIFF_CNT_RINGBUF_DROPS);
    else
        count(SNIFF_CNT_EVENTS);
}

/* A record about an open file: typed and placed from the struct file itself. */
static __always_inline int emit_file(struct sniff_config *c, u32 op, s64 fd, void *file, s64 ret)
{
    if (!file)
        return 0;
    void *inode = file_inode(file);
    u16 mode = inode_mode(inode);
    if (!type_wanted(c, mode, op))
        return 0;
    struct sniff_event *ev = event_begin(op);
    if (!ev)
        return 0;
    ev->fd = fd;
    ev->ret = ret;
    ev->mode = mode;
    ev->ino = kread_u64(inode, OFF_INODE_INO);
    ev->dev = sb_dev(KPTR(inode, OFF_INODE_SB));
    struct walk_pos none = {0};
    walk_path(ev, &ev->names[0], file_pos(file), WALK_SCOPE | WALK_NAMES, none);
    if (ev->names[0].flags & SNIFF_NAME_TOO_DEEP)
        count(SNIFF_CNT_TOO_DEEP);
    if (!ev->names[0].watch)
        return 0;    /* not under a watched directory */
    event_submit(ev);
    return 0;
}

/* A path the process passed as a string: copy the string, then place the directory it is
 * relative to (dirfd, cwd, or the task's root for an absolute path). Python joins the two and
 * decides scope from the resolved location. */
static __always_inline void name_from_string(struct sniff_event *ev, struct sniff_name *nm, void *task,
                                             s64 dirfd, const char *ustr)
{
    u32 pos = ev->data_len;
    if (pos > SNIFF_DATA_MASK)
        return;
    long n = bpf_probe_read_user_str(&ev->data[pos & SNIFF_DATA_MASK], SNIFF_PATH_MAX, ustr);
    if (n <= 0)
        return;
    if (n >= SNIFF_PATH_MAX)
        nm->flags |= SNIFF_NAME_STR_TRUNCATED;
    nm->str_len = n - 1;
    ev->data_len = pos + (u32)(n - 1);

    struct walk_pos root = fs_pos(task, OFF_FS_ROOT_MNT, OFF_FS_ROOT_DENTRY);
    struct walk_pos base;
    char first = ev->data[pos & SNIFF_DATA_MASK];
    if (first == '/') {
        base = root;
    } else if (dirfd == SNIFF_AT_FDCWD) {
        base = fs_pos(task, OFF_FS_PWD_MNT, OFF_FS_PWD_DENTRY);
    } else {
        void *dfile = task_fd_file(task, dirfd);
        if (!dfile)
            return;
        base = file_pos(dfile);
    }
    if (!base.dentry || !base.vfsmnt)
        return;
    walk_path(ev, nm, base, WALK_BASE | WALK_NAMES, root);
}

static __always_inline u64 scope_gen(void)
{
    u32 k0 = SNIFF_GEN_RENAME, k1 = SNIFF_GEN_USER;
    u64 *a = gens.lookup(&k0), *b = gens.lookup(&k1);
    return (a ? *a : 0) + (b ? *b : 0);
}

/* Exits return at once unless something is in flight: a global count first (no helper
 * call), then a per-tid hint, then the hash maps. */
static __always_inline void mark_inflight(u32 tid, int delta)
{
    u32 zero = 0;
    u64 *inflight = rw_inflight.lookup(&zero);
    if (inflight)
        __sync_fetch_and_add(inflight, delta);
    u32 h = tid & (SNIFF_HINT_SLOTS - 1);
    u32 *hint = rw_hint.lookup(&h);
    if (hint)
        __sync_fetch_and_add(hint, delta);
}

/* ---- the hot path: read/write family on raw sys_enter/sys_exit ---------------------------
 * Most reads and writes on a busy machine are out of scope; for them the cost must approach an
 * empty probe: one inlined array lookup for the cached verdict, then two kernel reads to check
 * the fd still holds the same file on the same dentry. A path walk happens only on a miss. */

static __always_inline u32 verdict_slot(u32 tgid, s64 fd)
{
    return (tgid * 2654435761u ^ (u32)fd * 40503u) & (SNIFF_VERDICT_SLOTS - 1);
}

/* Fills p and returns 1 when (tgid, fd) is an in-scope file of a wanted type. */
static __always_inline int rw_scope(struct sniff_config *c, u32 tgid, s64 fd, struct sniff_rw_pending *p)
{
    if (fd < 0)
        return 0;
    u32 slot = verdict_slot(tgid, fd);
    struct sniff_verdict *v = verdicts.lookup(&slot);
    if (!v)
        return 0;
    u64 tag = ((u64)tgid << 32) | (u32)fd;
    u64 gen = scope_gen();
    u32 eslot = tgid & (SNIFF_EXEC_GEN_SLOTS - 1);
    u32 *eg = exec_gens.lookup(&eslot);
    u32 exec_gen = eg ? *eg : 0;
    if (v->tag == tag && v->gen == gen && v->exec_gen == exec_gen && v->fds) {
        void *file = KPTR((void *)v->fds, (u32)fd * 8);
        if (file && (u64)file == v->file) {
            p->file = v->file;
            p->watch = v->watch;
            p->mode = v->mode;
            return v->watch != 0;
        }
    }
    count(SNIFF_CNT_VERDICT_MISS);
    void *task = (void *)bpf_get_current_task();
    void *files = KPTR(task, OFF_TASK_FILES);
    void *fdt = files ? KPTR(files, OFF_FILES_FDT) : 0;
    if (!fdt || (u64)fd >= kread_u32(fdt, OFF_FDT_MAX_FDS))
        return 0;
    void *fds = KPTR(fdt, OFF_FDT_FD);
    void *file = fds ? KPTR(fds, (u32)fd * 8) : 0;
    if (!file)
        return 0;
    u16 mode = inode_mode(file_inode(file));
    u32 watch = 0;
    if (type_wanted(c, mode, SNIFF_OP_READ)) {
        u32 cpu = bpf_get_smp_processor_id();
        struct sniff_event *ev = scratch.lookup(&cpu);
        if (!ev)
            return 0;
        struct sniff_name nm = {};
        struct walk_pos none = {0};
        ev->data_len = 0;
        walk_path(ev, &nm, file_pos(file), WALK_SCOPE, none);
        watch = nm.watch;
        if (nm.flags & SNIFF_NAME_TOO_DEEP)
            count(SNIFF_CNT_TOO_DEEP);
    }
    v->tag = tag;
    v->fds = (u64)fds;
    v->file = (u64)file;
    v->gen = gen;
    v->exec_gen = exec_gen;
    v->watch = watch;
    v->mode = mode;
    p->file = (u64)file;
    p->watch = watch;
    p->mode = mode;
    return watch != 0;
}

int raw_enter(struct raw_sys_ctx *ctx)
{
    u64 nr = ctx->args[1];
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
    s64 fd = (s64)(s32)sysarg(ctx, 0);
    struct sniff_rw_pending p = { .fd = fd, .op = op };
    if (!rw_scope(c, id >> 32, fd, &p))
        return 0;
    u32 tid = (u32)id;
    if (rw_pending.update(&tid, &p) < 0) {
        count(SNIFF_CNT_PENDING_FULL);
        return 0;
    }
    mark_inflight(tid, 1);
    return 0;
}

/* A named record for one read/write of an in-scope file (path walked now). */
static __always_inline void emit_rw(struct sniff_rw_pending *p, s64 ret, u64 serial, u16 flags)
{
    struct sniff_event *ev = event_begin(p->op);
    if (!ev)
        return;
    void *file = (void *)p->file;
    void *inode = file_inode(file);
    ev->fd = p->fd;
    ev->ret = ret;
    ev->mode = p->mode;
    ev->file = p->file;
    ev->serial = serial;
    ev->flags = flags;
    ev->ino = kread_u64(inode, OFF_INODE_INO);
    ev->dev = sb_dev(KPTR(inode, OFF_INODE_SB));
    struct walk_pos none = {0};
    walk_path(ev, &ev->names[0], file_pos(file), WALK_SCOPE | WALK_NAMES, none);
    if (ev->names[0].watch)
        event_submit(ev);
}

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

/* Report a counter's totals since it was created, and drop it. */
static __always_inline void flush_counter(struct sniff_agg_key *key, struct sniff_agg *e)
{
    struct sniff_event *ev = event_begin(key->op);
    if (!ev)
        return;
    ev->file = key->file;
    ev->serial = e->serial;
    ev->count = e->count;
    ev->ret = e->bytes;
    ev->flags = SNIFF_EV_FLUSH;
    agg.delete(key);
    event_submit(ev);
}

/* Before a file leaves a process: report its counters' totals and drop them. */
static __always_inline void flush_counters(void *file)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        struct sniff_agg_key key = { .file = (u64)file, .tgid = tgid,
                                     .op = i ? SNIFF_OP_WRITE : SNIFF_OP_READ };
        struct sniff_agg *e = agg.lookup(&key);
        if (e)
            flush_counter(&key, e);
    }
}

/* Count a completed in-scope read/write: add to its counter, or name a new counter. Decides
 * first and walks the path at most once: each inlined walk costs the verifier dearly. */
static __always_inline void account_rw(struct sniff_config *c, struct sniff_rw_pending *p, s64 ret)
{
    u64 serial = 0;
    u16 flags = 0;
    if (!c->coalesce) {
        if (rate_ok(c))
            emit_rw(p, ret, 0, 0);
        return;
    }
    u64 id = bpf_get_current_pid_tgid();
    struct sniff_agg_key key = { .file = p->file, .tgid = id >> 32, .op = p->op };
    u64 gen = scope_gen();
    u64 dentry = kread_u64((void *)p->file, OFF_FILE_PATH_DENTRY);
    struct sniff_agg *e = agg.lookup(&key);
    if (e && e->dentry != dentry) {
        /* The counter belongs to a file released without close (dup2 over it, exec) whose
         * struct file address came back: report its totals, then start afresh. */
        flush_counter(&key, e);
        e = 0;
    }
    if (e && e->gen == gen) {
        __sync_fetch_and_add(&e->count, 1);
        __sync_fetch_and_add(&e->bytes, ret);
        e->last_ts = bpf_ktime_get_ns();
        e->tid = (u32)id;
        return;
    }
    if (e) {
        /* A rename or watch change since it was named: name it again from here. */
        e->gen = gen;
        serial = e->serial;
        flags = SNIFF_EV_AGG_NAME;
    } else {
        u64 now = bpf_ktime_get_ns();
        struct sniff_agg fresh = { .dentry = dentry, .first_ts = now, .last_ts = now,
                                   .serial = now, .gen = gen, .tid = (u32)id,
                                   .uid = (u32)bpf_get_current_uid_gid() };
        if (agg.insert(&key, &fresh) == 0) {
            serial = now;
            flags = SNIFF_EV_AGG_NAME;
        } else if ((e = agg.lookup(&key))) {
            /* another thread of the process created it first */
            __sync_fetch_and_add(&e->count, 1);
            __sync_fetch_and_add(&e->bytes, ret);
            return;
        } else {
            count(SNIFF_CNT_AGG_FULL);    /* map full: this one goes out on its own */
        }
    }
    emit_rw(p, ret, serial, flags);
}

int raw_exit(struct raw_sys_ctx *ctx)
{
    u32 zero = 0;
    u64 *inflight = rw_inflight.lookup(&zero);
    if (!inflight || !*inflight)
        return 0;
    u32 tid = (u32)bpf_get_current_pid_tgid();
    u32 h = tid & (SNIFF_HINT_SLOTS - 1);
    u32 *hint = rw_hint.lookup(&h);
    if (!hint || !*hint)
        return 0;
    struct sniff_rw_pending *pp = rw_pending.lookup(&tid);
    if (!pp) {
        /* Another file syscall: its exit program, by shape. */
        struct sniff_pending *other = pending.lookup(&tid);
        if (other) {
            exit_tail.call(ctx, other->shape);
            /* No exit program for this shape: drop the state rather than leak it. */
            pending.delete(&tid);
            mark_inflight(tid, -1);
        }
        return 0;
    }
    struct sniff_rw_pending p = *pp;
    rw_pending.delete(&tid);
    mark_inflight(tid, -1);
    s64 ret = sysret(ctx);
    struct sniff_config *c = cfg();
    if (ret <= 0 || !c)
        return 0;
    account_rw(c, &p, ret);
    return 0;
}

static __always_inline int close_file(struct sniff_config *c, s64 fd, void *file)
{
    if (!file)
        return 0;
    flush_counters(file);
    /* The slot's verdict dies with the fd: the next file there may reuse this address. */
    u32 slot = verdict_slot(bpf_get_current_pid_tgid() >> 32, fd);
    struct sniff_verdict *v = verdicts.lookup(&slot);
    if (v)
        v->tag = 0;
    if (!wanted(c, SNIFF_OP_CLOSE))
        return 0;
    return emit_file(c, SNIFF_OP_CLOSE, fd, file, 0);
}

static __always_inline int save_pending(struct sniff_pending *p)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    if (pending.update(&tid, p) < 0) {
        count(SNIFF_CNT_PENDING_FULL);
        return 0;
    }
    mark_inflight(tid, 1);
    return 0;
}

/* ---- enter: filter on the task, remember what the exit needs ---------------------------- */

static __always_inline int enter_fd(struct raw_sys_ctx *ctx, u32 op)
{
    struct sniff_config *c = cfg();
    if (!wanted(c, op))
        return 0;
    struct sniff_pending p = { .op = op, .shape = SNIFF_SHAPE_FD, .a = (s64)sysarg(ctx, 0) };
    return save_pending(&p);
}

int enter_ftruncate(struct raw_sys_ctx *ctx) { return enter_fd(ctx, SNIFF_OP_TRUNCATE); }

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
int enter_sendfile(struct raw_sys_ctx *ctx) { return enter_pair((s64)sysarg(ctx, 1), (s64)sysarg(ctx, 0)); }
/* copy_file_range(fd_in, off_in, fd_out, ...), splice(fd_in, off_in, fd_out, ...) */
int enter_copy(struct raw_sys_ctx *ctx) { return enter_pair((s64)sysarg(ctx, 0), (s64)sysarg(ctx, 2)); }

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
    return enter_named(SNIFF_OP_OPEN, SNIFF_SHAPE_OPEN, (s64)(s32)sysarg(ctx, 0), sysarg(ctx, 1), 0);
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
    return enter_named(SNIFF_OP_UNLINK, SNIFF_SHAPE_PATH, (s64)(s32)sysarg(ctx, 0), sysarg(ctx, 1), dir);
}
int enter_truncate(struct raw_sys_ctx *ctx)
{
    return enter_named(SNIFF_OP_TRUNCATE, SNIFF_SHAPE_PATH, SNIFF_AT_FDCWD, sysarg(ctx, 0), 0);
}

/* Every rename is followed, wanted or not: a successful one may move files in or out of scope,
 * so it must invalidate cached verdicts. */
static __always_inline int enter_rename_common(s64 olddir, u64 oldpath, s64 newdir, u64 newpath)
{
    struct sniff_config *c = cfg();
    if (!c || (bpf_get_current_pid_tgid() >> 32) == c->self_tgid)
        return 0;
    struct sniff_pending p = { .op = SNIFF_OP_RENAME, .shape = SNIFF_SHAPE_RENAME,
                               .report = wanted(c, SNIFF_OP_RENAME),
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
    return enter_rename_common((s64)(s32)sysarg(ctx, 0), sysarg(ctx, 1), (s64)(s32)sysarg(ctx, 2), sysarg(ctx, 3));
}

/* close happens at enter: after it, the fd no longer leads to the file. */
/* Counters are flushed at every close, wanted or not, so their totals are never stranded. */
int enter_close(struct raw_sys_ctx *ctx)
{
    struct sniff_config *c = cfg();
    if (!c || (bpf_get_current_pid_tgid() >> 32) == c->self_tgid)
        return 0;
    s64 fd = (s64)(s32)sysarg(ctx, 0);
    void *task = (void *)bpf_get_current_task();
    return close_file(c, fd, task_fd_file(task, fd));
}

/* dup2(old, new), dup3(old, new, flags): the file at new is released without a close. Treat it
 * like one for bookkeeping: flush its counters and forget the slot's verdict (its struct file
 * address may come back for another file at the same fd). */
int enter_dup(struct raw_sys_ctx *ctx)
{
    struct sniff_config *c = cfg();
    u64 id = bpf_get_current_pid_tgid();
    if (!c || (id >> 32) == c->self_tgid)
        return 0;
    s64 newfd = (s64)(s32)sysarg(ctx, 1);
    void *file = task_fd_file((void *)bpf_get_current_task(), newfd);
    if (!file)
        return 0;
    flush_counters(file);
    u32 slot = verdict_slot(id >> 32, newfd);
    struct sniff_verdict *v = verdicts.lookup(&slot);
    if (v)
        v->tag = 0;
    return 0;
}

/* close_range(first, last, flags): one open fd per tail call, up to the tail-call limit;
 * fds left unexamined are counted, never silently lost. */
int close_range_step(struct raw_sys_ctx *ctx)
{
    u32 zero = 0;
    struct sniff_close_cursor *cur = close_cursor.lookup(&zero);
    struct sniff_config *c = cfg();
    if (!cur || !c)
        return 0;
    void *file = 0;
    u32 fd = 0;
#pragma clang loop unroll(disable)
    for (int i = 0; i < SNIFF_CLOSE_RANGE_BATCH; i++) {
        if (cur->next > cur->last)
            break;
        fd = cur->next;
        cur->next = fd + 1;
        file = KPTR((void *)cur->fds, fd * 8);
        if (file)
            break;
    }
    if (file)
        close_file(c, fd, file);
    if (cur->next <= cur->last) {
        step_tail.call(ctx, 0);
        /* Out of tail calls: say how many fd slots were not examined. */
        u32 slot = SNIFF_CNT_CLOSE_RANGE_SKIPPED;
        u64 *cnt = counters.lookup(&slot);
        if (cnt)
            *cnt += cur->last - cur->next + 1;
    }
    return 0;
}

int enter_close_range(struct raw_sys_ctx *ctx)
{
    struct sniff_config *c = cfg();
    if (!c || (bpf_get_current_pid_tgid() >> 32) == c->self_tgid)
        return 0;
    if (sysarg(ctx, 2) & 4)    /* CLOSE_RANGE_CLOEXEC only marks the fds */
        return 0;
    void *task = (void *)bpf_get_current_task();
    void *files = KPTR(task, OFF_TASK_FILES);
    void *fdt = files ? KPTR(files, OFF_FILES_FDT) : 0;
    u32 max = fdt ? kread_u32(fdt, OFF_FDT_MAX_FDS) : 0;
    u64 last = sysarg(ctx, 1);
    if (!max)
        return 0;
    if (last >= max)
        last = max - 1;
    u32 zero = 0;
    struct sniff_close_cursor *cur = close_cursor.lookup(&zero);
    if (!cur)
        return 0;
    cur->fds = kread_u64(fdt, OFF_FDT_FD);
    cur->next = (u32)sysarg(ctx, 0);
    cur->last = (u32)last;
    step_tail.call(ctx, 0);
    return 0;
}

/* ---- exit: the syscall's result decides what is reported -------------------------------- */

static __always_inline int take_pending(struct sniff_pending *out)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct sniff_pending *p = pending.lookup(&tid);
    if (!p)
        return 0;
    *out = *p;
    pending.delete(&tid);
    mark_inflight(tid, -1);
    return 1;
}

/* read/write family and ftruncate: bytes are what the syscall returned. */
int exit_fd(struct raw_sys_ctx *ctx)
{
    struct sniff_pending p;
    s64 ret = sysret(ctx);
    if (!take_pending(&p) || ret < 0)
        return 0;
    if (p.op != SNIFF_OP_TRUNCATE && ret == 0)
        return 0;    /* nothing transferred (EOF, empty write) */
    struct sniff_config *c = cfg();
    if (!c)
        return 0;
    void *task = (void *)bpf_get_current_task();
    return emit_file(c, p.op, p.a, task_fd_file(task, p.a), ret);
}

int exit_pair(struct raw_sys_ctx *ctx)
{
    struct sniff_pending p;
    s64 ret = sysret(ctx);
    if (!take_pending(&p) || ret <= 0)
        return 0;
    struct sniff_config *c = cfg();
    if (!c)
        return 0;
    void *task = (void *)bpf_get_current_task();
    if (p.a >= 0)
        emit_file(c, SNIFF_OP_READ, p.a, task_fd_file(task, p.a), ret);
    if (p.b >= 0)
        emit_file(c, SNIFF_OP_WRITE, p.b, task_fd_file(task, p.b), ret);
    return 0;
}

int exit_open(struct raw_sys_ctx *ctx)
{
    struct sniff_pending p;
    s64 ret = sysret(ctx);
    if (!take_pending(&p))
        return 0;
    struct sniff_config *c = cfg();
    if (!c)
        return 0;
    void *task = (void *)bpf_get_current_task();
    if (ret >= 0)
        return emit_file(c, SNIFF_OP_OPEN, ret, task_fd_file(task, ret), 0);
    /* Failed: there is no file, only the name the process asked for. */
    struct sniff_event *ev = event_begin(SNIFF_OP_OPEN);
    if (!ev)
        return 0;
    ev->ret = ret;
    name_from_string(ev, &ev->names[0], task, p.a, (const char *)p.s1);
    event_submit(ev);
    return 0;
}

/* unlink, rmdir, truncate by path */
int exit_path(struct raw_sys_ctx *ctx)
{
    struct sniff_pending p;
    if (!take_pending(&p))
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

int exit_rename(struct raw_sys_ctx *ctx)
{
    struct sniff_pending p;
    if (!take_pending(&p))
        return 0;
    if (sysret(ctx) == 0) {
        u32 slot = SNIFF_GEN_RENAME;
        u64 *g = gens.lookup(&slot);
        if (g)
            __sync_fetch_and_add(g, 1);
    }
    if (!p.report)
        return 0;
    struct sniff_event *ev = event_begin(SNIFF_OP_RENAME);
    if (!ev)
        return 0;
    void *task = (void *)bpf_get_current_task();
    ev->ret = sysret(ctx);
    name_from_string(ev, &ev->names[0], task, p.a, (const char *)p.s1);
    name_from_string(ev, &ev->names[1], task, p.b, (const char *)p.s2);
    event_submit(ev);
    return 0;
}

/* ---- process table: raw sched tracepoints ------------------------------------------------ */

static __always_inline int emit_proc(u32 op, void *task, u32 ppid)
{
    struct sniff_config *c = cfg();
    if (!c)
        return 0;
    u32 tgid = task_tgid(task);
    if (tgid == c->self_tgid)
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
    void *task = (void *)ctx->args[0];
    if (kread_u32(task, OFF_TASK_PID) != task_tgid(task))
        return 0;
    bump_exec_gen(task_tgid(task));
    return emit_proc(SNIFF_OP_EXIT, task, task_ppid(task));
}
