/* sniff-tui kernel side: syscall tracepoints for file operations, sched raw tracepoints for the
 * process table. Compiled by BCC at start-up with OFF_* (BTF offsets), SNIFF_NCPU and
 * SNIFF_RINGBUF_PAGES defined by probes/loader.py.
 *
 * Every syscall tracepoint's context has the same shape (common header, syscall nr, then the
 * arguments as 8-byte slots, or the return value), so one program serves every syscall of a
 * shape and the loader attaches only the tracepoints this kernel has. */
#include <uapi/linux/ptrace.h>
#include "sniff.h"

struct sys_enter_ctx {
    u64 common;
    s32 nr;
    u32 pad;
    u64 args[6];
};

struct sys_exit_ctx {
    u64 common;
    s32 nr;
    u32 pad;
    s64 ret;
};

BPF_RINGBUF_OUTPUT(events, SNIFF_RINGBUF_PAGES);
BPF_ARRAY(config, struct sniff_config, 1);
BPF_HASH(watched, struct sniff_watch_key, u32, 256);
BPF_PERCPU_ARRAY(counters, u64, SNIFF_CNT_MAX);
/* One scratch record per CPU, too big for the stack; programs do not nest on a CPU. */
BPF_ARRAY(scratch, struct sniff_event, SNIFF_NCPU);
/* LRU: a thread killed inside a syscall never reaches its exit, and its entry must not stay. */
BPF_TABLE("lru_hash", u32, struct sniff_pending, pending, 16384);
BPF_PERCPU_ARRAY(close_cursor, struct sniff_close_cursor, 1);
BPF_PROG_ARRAY(tail, 1);

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
static __always_inline int wanted(struct sniff_config *c, u32 op)
{
    if (!c || !(c->ops_mask & (1u << op)))
        return 0;
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32;
    if (tgid == c->self_tgid)
        return 0;
    if (c->pid && c->pid != tgid)
        return 0;
    if (c->uid != (u32)-1 && c->uid != (u32)bpf_get_current_uid_gid())
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
    walk_path(ev, &ev->names[0], file_pos(file), WALK_SCOPE, none);
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
    walk_path(ev, nm, base, WALK_BASE, root);
}

static __always_inline int save_pending(struct sniff_pending *p)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    if (pending.update(&tid, p) < 0)
        count(SNIFF_CNT_PENDING_FULL);
    return 0;
}

/* ---- enter: filter on the task, remember what the exit needs ---------------------------- */

static __always_inline int enter_fd(struct sys_enter_ctx *ctx, u32 op)
{
    struct sniff_config *c = cfg();
    if (!wanted(c, op))
        return 0;
    struct sniff_pending p = { .op = op, .shape = SNIFF_SHAPE_FD, .a = (s64)ctx->args[0] };
    return save_pending(&p);
}

int enter_read(struct sys_enter_ctx *ctx) { return enter_fd(ctx, SNIFF_OP_READ); }
int enter_write(struct sys_enter_ctx *ctx) { return enter_fd(ctx, SNIFF_OP_WRITE); }
int enter_ftruncate(struct sys_enter_ctx *ctx) { return enter_fd(ctx, SNIFF_OP_TRUNCATE); }

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
int enter_sendfile(struct sys_enter_ctx *ctx) { return enter_pair((s64)ctx->args[1], (s64)ctx->args[0]); }
/* copy_file_range(fd_in, off_in, fd_out, ...), splice(fd_in, off_in, fd_out, ...) */
int enter_copy(struct sys_enter_ctx *ctx) { return enter_pair((s64)ctx->args[0], (s64)ctx->args[2]); }

static __always_inline int enter_named(u32 op, u32 shape, s64 dirfd, u64 path, u64 flags)
{
    struct sniff_config *c = cfg();
    if (!wanted(c, op))
        return 0;
    struct sniff_pending p = { .op = op, .shape = shape, .a = dirfd, .s1 = path, .flags = flags };
    return save_pending(&p);
}

int enter_open(struct sys_enter_ctx *ctx)
{
    return enter_named(SNIFF_OP_OPEN, SNIFF_SHAPE_OPEN, SNIFF_AT_FDCWD, ctx->args[0], 0);
}
int enter_openat(struct sys_enter_ctx *ctx)
{
    return enter_named(SNIFF_OP_OPEN, SNIFF_SHAPE_OPEN, (s64)(s32)ctx->args[0], ctx->args[1], 0);
}
int enter_unlink(struct sys_enter_ctx *ctx)
{
    return enter_named(SNIFF_OP_UNLINK, SNIFF_SHAPE_PATH, SNIFF_AT_FDCWD, ctx->args[0], 0);
}
int enter_rmdir(struct sys_enter_ctx *ctx)
{
    return enter_named(SNIFF_OP_UNLINK, SNIFF_SHAPE_PATH, SNIFF_AT_FDCWD, ctx->args[0], SNIFF_EV_DIR);
}
int enter_unlinkat(struct sys_enter_ctx *ctx)
{
    /* AT_REMOVEDIR = 0x200 */
    u64 dir = (ctx->args[2] & 0x200) ? SNIFF_EV_DIR : 0;
    return enter_named(SNIFF_OP_UNLINK, SNIFF_SHAPE_PATH, (s64)(s32)ctx->args[0], ctx->args[1], dir);
}
int enter_truncate(struct sys_enter_ctx *ctx)
{
    return enter_named(SNIFF_OP_TRUNCATE, SNIFF_SHAPE_PATH, SNIFF_AT_FDCWD, ctx->args[0], 0);
}

static __always_inline int enter_rename_common(s64 olddir, u64 oldpath, s64 newdir, u64 newpath)
{
    struct sniff_config *c = cfg();
    if (!wanted(c, SNIFF_OP_RENAME))
        return 0;
    struct sniff_pending p = { .op = SNIFF_OP_RENAME, .shape = SNIFF_SHAPE_RENAME,
                               .a = olddir, .s1 = oldpath, .b = newdir, .s2 = newpath };
    return save_pending(&p);
}

int enter_rename(struct sys_enter_ctx *ctx)
{
    return enter_rename_common(SNIFF_AT_FDCWD, ctx->args[0], SNIFF_AT_FDCWD, ctx->args[1]);
}
/* renameat and renameat2 share their first four arguments. */
int enter_renameat(struct sys_enter_ctx *ctx)
{
    return enter_rename_common((s64)(s32)ctx->args[0], ctx->args[1], (s64)(s32)ctx->args[2], ctx->args[3]);
}

/* close happens at enter: after it, the fd no longer leads to the file. */
int enter_close(struct sys_enter_ctx *ctx)
{
    struct sniff_config *c = cfg();
    if (!wanted(c, SNIFF_OP_CLOSE))
        return 0;
    s64 fd = (s64)(s32)ctx->args[0];
    void *task = (void *)bpf_get_current_task();
    return emit_file(c, SNIFF_OP_CLOSE, fd, task_fd_file(task, fd), 0);
}

/* close_range(first, last, flags): one open fd per tail call, up to the tail-call limit;
 * fds left unexamined are counted, never silently lost. */
int close_range_step(struct sys_enter_ctx *ctx)
{
    u32 zero = 0;
    struct sniff_close_cursor *cur = close_cursor.lookup(&zero);
    struct sniff_config *c = cfg();
    if (!cur || !c)
        return 0;
    void *task = (void *)bpf_get_current_task();
    void *file = 0;
    u32 fd = 0;
#pragma clang loop unroll(disable)
    for (int i = 0; i < SNIFF_CLOSE_RANGE_BATCH; i++) {
        if (cur->next > cur->last)
            break;
        fd = cur->next;
        cur->next = fd + 1;
        file = task_fd_file(task, fd);
        if (file)
            break;
    }
    if (file)
        emit_file(c, SNIFF_OP_CLOSE, fd, file, 0);
    if (cur->next <= cur->last) {
        tail.call(ctx, 0);
        /* Out of tail calls: say how many fds were not examined. */
        u32 slot = SNIFF_CNT_CLOSE_RANGE_SKIPPED;
        u64 *cnt = counters.lookup(&slot);
        if (cnt)
            *cnt += cur->last - cur->next + 1;
    }
    return 0;
}

int enter_close_range(struct sys_enter_ctx *ctx)
{
    struct sniff_config *c = cfg();
    if (!wanted(c, SNIFF_OP_CLOSE))
        return 0;
    if (ctx->args[2] & 4)    /* CLOSE_RANGE_CLOEXEC only marks the fds */
        return 0;
    void *task = (void *)bpf_get_current_task();
    u32 max = task_fd_max(task);
    u64 last = ctx->args[1];
    if (!max)
        return 0;
    if (last >= max)
        last = max - 1;
    u32 zero = 0;
    struct sniff_close_cursor *cur = close_cursor.lookup(&zero);
    if (!cur)
        return 0;
    cur->next = (u32)ctx->args[0];
    cur->last = (u32)last;
    tail.call(ctx, 0);
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
    return 1;
}

/* read/write family and ftruncate: bytes are what the syscall returned. */
int exit_fd(struct sys_exit_ctx *ctx)
{
    struct sniff_pending p;
    s64 ret = ctx->ret;
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

int exit_pair(struct sys_exit_ctx *ctx)
{
    struct sniff_pending p;
    s64 ret = ctx->ret;
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

int exit_open(struct sys_exit_ctx *ctx)
{
    struct sniff_pending p;
    s64 ret = ctx->ret;
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
int exit_path(struct sys_exit_ctx *ctx)
{
    struct sniff_pending p;
    if (!take_pending(&p))
        return 0;
    struct sniff_event *ev = event_begin(p.op);
    if (!ev)
        return 0;
    ev->ret = ctx->ret;
    ev->flags = p.flags;
    name_from_string(ev, &ev->names[0], (void *)bpf_get_current_task(), p.a, (const char *)p.s1);
    event_submit(ev);
    return 0;
}

int exit_rename(struct sys_exit_ctx *ctx)
{
    struct sniff_pending p;
    if (!take_pending(&p))
        return 0;
    struct sniff_event *ev = event_begin(SNIFF_OP_RENAME);
    if (!ev)
        return 0;
    void *task = (void *)bpf_get_current_task();
    ev->ret = ctx->ret;
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
    return emit_proc(SNIFF_OP_FORK, child, task_tgid(parent));
}

/* sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) */
int on_exec(struct bpf_raw_tracepoint_args *ctx)
{
    void *task = (void *)ctx->args[0];
    return emit_proc(SNIFF_OP_EXEC, task, task_ppid(task));
}

/* sched_process_exit(struct task_struct *p) */
int on_exit(struct bpf_raw_tracepoint_args *ctx)
{
    void *task = (void *)ctx->args[0];
    if (kread_u32(task, OFF_TASK_PID) != task_tgid(task))
        return 0;
    return emit_proc(SNIFF_OP_EXIT, task, task_ppid(task));
}
