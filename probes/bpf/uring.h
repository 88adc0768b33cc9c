/* io_uring: requests reported like the syscalls they stand for, from two raw tracepoints.
 *
 *   io_uring_submit_req(struct io_kiocb *req)   the request is prepared (its SQE read, its
 *                                                path strings copied by the kernel), not run
 *   io_uring_complete(ctx, req, cqe)             its result is known; the req is still alive
 *
 * At submission, in the submitting thread: the filters, who asked (the completion may run in
 * one of io_uring's worker threads, "iou-wrk-N", of the same process), the fds and arguments
 * from the op's part of the io_kiocb, and copies of its path strings (the kernel frees its own
 * before the completion). A close is reported there, like close(2) at its enter: after it, the
 * fd no longer leads to the file. At completion, by shape, the same steps as the syscall exit
 * programs: the file (req->file, or the fd an open returned) or the path strings, and the
 * result. Every record is marked SNIFF_EV_URING and counted apart from the syscalls on the same
 * file (SNIFF_AGG_VIA_URING), so that every record of a counter says how it was done.
 *
 * Requests are kept by io_kiocb address in an LRU map (a request whose completion never comes
 * must not stay): io_kiocbs are recycled, so a completion also checks tgid, opcode and
 * user_data. Requests submitted with IOSQE_CQE_SKIP_SUCCESS post no completion when they
 * succeed: they are counted (uring_no_cqe), not reported.
 *
 * Struct offsets (OFF_URING_*) and request flag bits (SNIFF_REQ_F_*) come from BTF
 * (probes/uring.py). BCC rewrites map calls, and makes programs, in the main file only: the
 * includer defines the map accessors, and programs of one line each that call the on_uring_*
 * functions here. */
#ifndef SNIFF_URING_H
#define SNIFF_URING_H

#define AT_REMOVEDIR_ 0x200
#define SPLICE_F_FD_IN_FIXED_ (1u << 31)
#define PF_IO_WORKER_ 0x00000010    /* task_struct.flags of io_uring's own threads (since 5.12) */

static __always_inline u32 kread_u8(const void *base, u32 off)
{
    u8 v = 0;
    bpf_probe_read_kernel(&v, sizeof(v), (const char *)base + off);
    return v;
}

static __always_inline s64 kread_int(const void *base, u32 off)
{
    return (s64)(s32)kread_u32(base, off);
}

/* ---- submission ------------------------------------------------------------------------------ */

/* Who asked, and which request this is (see uring_same). */
static __always_inline void uring_begin(struct sniff_uring_req *r, void *req, u64 id, u32 opcode,
                                        u32 op, u32 shape)
{
    r->user_data = kread_u64(req, OFF_URING_REQ_USER_DATA);
    r->tgid = id >> 32;
    r->tid = (u32)id;
    r->opcode = opcode;
    r->op = op;
    r->shape = shape;
    r->fd = -1;
    r->fd2 = -1;
    r->dirfd = SNIFF_AT_FDCWD;
    void *task = (void *)bpf_get_current_task();
    if (kread_u32(task, OFF_URING_TASK_FLAGS) & PF_IO_WORKER_) {
        /* A ring's submission thread (IORING_SETUP_SQPOLL, "iou-sqp-N") submitted it for the
         * process: name the process, not the thread. */
        void *leader = KPTR(task, OFF_URING_TASK_GROUP_LEADER);
        r->tid = r->tgid;
        bpf_probe_read_kernel_str(r->comm, sizeof(r->comm), (char *)leader + OFF_URING_TASK_COMM);
    } else {
        bpf_get_current_comm(&r->comm, sizeof(r->comm));
    }
}

/* The fd the SQE names, or -1 for a fixed file (an index into the ring's table, not an fd).
 * flags: the request's (io_kiocb.flags). */
static __always_inline s64 uring_fd(void *req, u32 flags)
{
    if (flags & SNIFF_REQ_F_FIXED_FILE)
        return -1;
    return kread_int(req, OFF_URING_REQ_FD);
}

/* Copy a struct filename's string (the kernel's copy of the path the process passed). */
static __always_inline void uring_copy_name(char *dst, void *req, u32 off_filename)
{
    void *fname = KPTR(req, off_filename);
    dst[0] = 0;
    if (fname)
        bpf_probe_read_kernel_str(dst, SNIFF_PATH_MAX, KPTR(fname, OFF_URING_FILENAME_NAME));
}

/* openat/openat2, unlinkat, renameat: the dirfds and the path strings. Returns -1 when there
 * is no room for the strings (counted). */
static __always_inline int uring_save_paths(struct sniff_uring_req *r, void *req, u64 key)
{
    struct sniff_uring_paths *paths = uring_paths_scratch();
    if (!paths)
        return -1;
    paths->dst[0] = 0;
    if (r->op == SNIFF_OP_OPEN) {
        r->dirfd = kread_int(req, OFF_URING_OPEN_DFD);
        if (kread_u32(req, OFF_URING_OPEN_FILE_SLOT))
            r->state |= SNIFF_UREQ_DIRECT;
        uring_copy_name(paths->old, req, OFF_URING_OPEN_FILENAME);
    } else if (r->op == SNIFF_OP_UNLINK) {
        r->dirfd = kread_int(req, OFF_URING_UNLINK_DFD);
        if (kread_u32(req, OFF_URING_UNLINK_FLAGS) & AT_REMOVEDIR_)
            r->ev_flags = SNIFF_EV_DIR;
        uring_copy_name(paths->old, req, OFF_URING_UNLINK_FILENAME);
    } else {
        r->dirfd = kread_int(req, OFF_URING_RENAME_OLD_DFD);
        r->fd2 = kread_int(req, OFF_URING_RENAME_NEW_DFD);
        uring_copy_name(paths->old, req, OFF_URING_RENAME_OLDPATH);
        uring_copy_name(paths->dst, req, OFF_URING_RENAME_NEWPATH);
    }
    if (uring_paths_put(key, paths) < 0) {
        count(SNIFF_CNT_PENDING_FULL);
        return -1;
    }
    return 0;
}

/* IORING_OP_CLOSE, at submission like close(2) at its enter: the fd's verdict is forgotten
 * (wanted or not), and the close reported. A close of a fixed file closes no fd. The
 * completion forgets the verdict again: a read in between may have cached it anew. */
static __always_inline int uring_submit_close(void *ctx, struct sniff_config *c, void *req, u64 id,
                                              u32 opcode)
{
    if (kread_u32(req, OFF_URING_CLOSE_FILE_SLOT))
        return 0;
    struct sniff_uring_req r = {};
    uring_begin(&r, req, id, opcode, SNIFF_OP_CLOSE, SNIFF_SHAPE_FD);
    r.fd = kread_int(req, OFF_URING_CLOSE_FD);
    /* Before the verdict (which may run this program again): forgetting twice is harmless, and
     * a walk that could not run must not leave the verdict behind. */
    forget_verdict(r.tgid, r.fd);
    void *file = task_fd_file((void *)bpf_get_current_task(), r.fd);
    struct sniff_file_id fid = {};
    if (file && wanted(c, SNIFF_OP_CLOSE) && file_verdict(ctx, file, &fid, SNIFF_RESUME_URING_SUBMIT) < 0)
        return 0;
    if (file)
        file_op_from(c, SNIFF_OP_CLOSE, r.fd, file, &fid, 0, 0, &r);
    if (uring_req_put((u64)req, &r) < 0)
        count(SNIFF_CNT_PENDING_FULL);
    return 0;
}

/* Most io_uring I/O on a busy machine is on sockets, pipes, or files outside the watched
 * directories. Decided here already when the type says so or the dentry cache knows the file
 * (the completion would decide the same), so that such requests leave no state behind. A fixed
 * file is not yet in the request: its completion decides. */
static __always_inline int uring_not_ours(struct sniff_config *c, s64 fd, u32 op)
{
    if (fd < 0)
        return 0;
    void *file = task_fd_file((void *)bpf_get_current_task(), fd);
    if (!file)
        return 0;    /* not yet (a linked open may create it): the completion decides */
    void *inode = file_inode(file);
    if (!type_wanted(c, inode_mode(inode), op))
        return 1;
    struct sniff_dverdict e;
    return dverdict_get(KPTR(file, OFF_FILE_PATH_DENTRY), inode, scope_gen(), &e) && !e.id.watch;
}

/* --content: a writev's iovecs, copied at submission into content_iovs (the process may reuse
 * its array once submitted; the bytes they point to stay its until the completion). Returns 1
 * when an entry was made for the completion to take. */
static __always_inline int uring_content_submit(void *req, u32 opcode)
{
    if (content_uring_on(opcode) != SNIFF_CK_URING_V)
        return 0;
    struct sniff_content_iovs *v = content_iovs_scratch();
    if (!v)
        return 0;
    void *iov = (void *)kread_u64(req, OFF_URING_RW_ADDR);
    u64 n = kread_u32(req, OFF_URING_RW_LEN);
    v->count = n;
    if (n > SNIFF_CONTENT_IOVS)
        n = SNIFF_CONTENT_IOVS;
    /* the bound before the size is computed from it (clang would scale first, then select,
     * and the verifier would see the scaled value unbounded) */
    asm volatile("" : "+r"(n));
    if (bpf_probe_read_user(v->iov, n * 2 * sizeof(u64), iov))
        v->count = 0;    /* the capture says it could not read them */
    return content_iovs_put((u64)req, v) == 0;
}

/* io_uring_submit_req(struct io_kiocb *req) */
static __always_inline int on_uring_submit(struct bpf_raw_tracepoint_args *ctx)
{
    void *req = (void *)ctx->args[0];
    struct sniff_config *c = cfg();
    u64 id = bpf_get_current_pid_tgid();
    if (!c || is_self(c, id >> 32))
        return 0;
    u32 opcode = kread_u8(req, OFF_URING_REQ_OPCODE);
    u32 what = uring_op_of(opcode);
    if (!what)
        return 0;
    u32 op = what & 0xff, shape = what >> 8;
    if (op == SNIFF_OP_CLOSE)
        return uring_submit_close(ctx, c, req, id, opcode);
    int report = shape == SNIFF_SHAPE_FD_PAIR ? wanted(c, SNIFF_OP_READ) || wanted(c, SNIFF_OP_WRITE)
                                               : wanted(c, op);
    /* Every rename is followed, wanted or not: it may move files in or out of scope. */
    if (!report && op != SNIFF_OP_RENAME)
        return 0;
    u32 flags = kread_u32(req, OFF_URING_REQ_FLAGS);
    s64 fd = uring_fd(req, flags);
    if (shape == SNIFF_SHAPE_FD && uring_not_ours(c, fd, op))
        return 0;
    if (flags & SNIFF_REQ_F_CQE_SKIP) {
        if (op == SNIFF_OP_RENAME)
            bump_rename_gen(0);    /* no completion will say it happened */
        if (report)
            count(SNIFF_CNT_URING_NO_CQE);
        return 0;
    }
    struct sniff_uring_req r = {};
    uring_begin(&r, req, id, opcode, op, shape);
    if (report)
        r.state |= SNIFF_UREQ_REPORT;
    if (shape == SNIFF_SHAPE_FD) {
        r.fd = fd;
        if (op == SNIFF_OP_FALLOCATE) {
            r.args.off = kread_u64(req, OFF_URING_SYNC_OFF);
            r.args.len = kread_u64(req, OFF_URING_SYNC_LEN);
            r.args.how = kread_u32(req, OFF_URING_SYNC_MODE);
        } else if (op == SNIFF_OP_WRITE && uring_content_submit(req, opcode)) {
            r.state |= SNIFF_UREQ_IOVS;
        }
    } else if (shape == SNIFF_SHAPE_FD_PAIR) {
        /* splice(fd_in, fd_out): the SQE's fd is the one written to */
        r.fd2 = fd;
        if (!wanted(c, SNIFF_OP_WRITE))
            r.state |= SNIFF_UREQ_OUT_SKIP;
        if (wanted(c, SNIFF_OP_READ) && !(kread_u32(req, OFF_URING_SPLICE_FLAGS) & SPLICE_F_FD_IN_FIXED_))
            r.fd = kread_int(req, OFF_URING_SPLICE_FD_IN);
        else
            r.state |= SNIFF_UREQ_IN_DONE;
    } else if (report && uring_save_paths(&r, req, (u64)req) < 0) {
        /* No strings: what the result alone says (an open's fd; a rename's scope change). */
        r.state &= ~SNIFF_UREQ_REPORT;
        if (op == SNIFF_OP_UNLINK)
            return 0;
    }
    if (uring_req_put((u64)req, &r) < 0)
        count(SNIFF_CNT_PENDING_FULL);
    return 0;
}

/* ---- completion ------------------------------------------------------------------------------ */

/* The request saved at submission, if req still is that request (io_kiocbs are recycled; a
 * request whose completion was not seen leaves its entry behind). */
static __always_inline struct sniff_uring_req *uring_same(void *req)
{
    struct sniff_uring_req *r = uring_req_get((u64)req);
    if (!r)
        return 0;
    if (r->tgid != bpf_get_current_pid_tgid() >> 32 || r->opcode != kread_u8(req, OFF_URING_REQ_OPCODE)
        || r->user_data != kread_u64(req, OFF_URING_REQ_USER_DATA)) {
        uring_req_drop((u64)req, 1);
        return 0;
    }
    return r;
}

static __always_inline s64 uring_res(void *req)
{
    return kread_int(req, OFF_URING_REQ_RES);
}

static __always_inline int uring_has_paths(struct sniff_uring_req *r)
{
    return r->shape == SNIFF_SHAPE_OPEN || r->shape == SNIFF_SHAPE_PATH || r->shape == SNIFF_SHAPE_RENAME;
}

/* io_uring_complete(struct io_ring_ctx *ctx, void *req, struct io_uring_cqe *cqe): most
 * completions on the machine are not ours and end at the first lookup. */
static __always_inline int on_uring_complete(struct bpf_raw_tracepoint_args *ctx)
{
    void *req = (void *)ctx->args[1];
    struct sniff_uring_req *r = uring_same(req);
    if (!r)
        return 0;
    if (r->op == SNIFF_OP_CLOSE) {
        forget_verdict(r->tgid, r->fd);
        uring_req_drop((u64)req, 0);
        return 0;
    }
    int paths = uring_has_paths(r);
    uring_dispatch(ctx, r->shape);
    uring_req_drop((u64)req, paths);    /* no program for it: do not keep the state */
    return 0;
}

/* --content: a successful write of a regular file in scope leaves capture_write (tail-called
 * by content_run once the request is done with) what a write(2)'s exit would: the bytes from
 * the request's buffer or the iovecs copied at submission, up to the result, and the offset
 * where they landed (the kiocb's position, which the write moved past them: an explicit offset,
 * the file position, or the end of the file for an append alike). */
static __always_inline void uring_content_arm(void *req, struct sniff_uring_req *r, void *file,
                                              struct sniff_file_id *id, s64 res)
{
    if (r->shape != SNIFF_SHAPE_FD || r->op != SNIFF_OP_WRITE || res <= 0 || (id->mode & S_IFMT_) != S_IFREG_)
        return;
    u32 kind = content_uring_on(r->opcode);
    struct sniff_content_job *job = content_job_get();
    if (!kind || !job)
        return;
    job->file = (u64)file;
    job->fd = r->fd;
    job->ret = res;
    job->nr = 0;
    job->id = *id;
    job->kind = kind;
    job->tgid = r->tgid;
    job->tid = r->tid;
    job->req = (u64)req;
    __builtin_memcpy(job->comm, r->comm, sizeof(job->comm));
    job->offset = kread_u64(req, OFF_URING_RW_POS) - res;
    job->iov_kernel = 0;
    job->src = kread_u64(req, OFF_URING_RW_ADDR);
    job->srccnt = 0;
    if (kind == SNIFF_CK_URING_V) {
        struct sniff_content_iovs *v = content_iovs_get((u64)req);
        u64 n = v ? v->count : 0;
        job->iov_kernel = 1;
        job->src = v ? (u64)v->iov : 0;
        job->srccnt = n > SNIFF_CONTENT_IOVS ? SNIFF_CONTENT_IOVS : n;
    }
    job->armed = 1;
}

/* The iovecs copied at submission, when no capture takes them (a failed write, a file out of
 * scope, capture switched off since). */
static __always_inline void uring_content_end(void *req, struct sniff_uring_req *r)
{
    if (!(r->state & SNIFF_UREQ_IOVS))
        return;
    struct sniff_content_job *job = content_job_get();
    if (!job || !job->armed)
        content_iovs_drop((u64)req);
}

/* The file a completion is about and what it did: read/write/fallocate/ftruncate (req->file),
 * a successful open (the fd it returned), and both sides of a splice, one per run (like
 * exit_pair: the read side, then the program runs again for the write side). */
static __always_inline int on_uring_file(struct bpf_raw_tracepoint_args *ctx)
{
    void *req = (void *)ctx->args[1];
    struct sniff_uring_req *r = uring_req_get((u64)req);
    struct sniff_config *c = cfg();
    if (!r || !c)
        return 0;
    s64 res = uring_res(req);
    u32 op = r->op;
    s64 fd = r->fd, bytes = 0;
    void *file = 0;
    int reading = 0;
    if (r->shape == SNIFF_SHAPE_OPEN) {
        if (res < 0 || r->state & SNIFF_UREQ_DIRECT) {
            /* No fd to place it by: by the path string, like a failed open(2). */
            uring_dispatch(ctx, SNIFF_SHAPE_NAME_COUNTED);
            uring_req_drop((u64)req, 1);
            return 0;
        }
        fd = res;
        file = task_fd_file((void *)bpf_get_current_task(), res);
    } else if (r->shape == SNIFF_SHAPE_FD_PAIR) {
        reading = !(r->state & SNIFF_UREQ_IN_DONE);
        op = reading ? SNIFF_OP_READ : SNIFF_OP_WRITE;
        fd = reading ? r->fd : r->fd2;
        bytes = res;
        if (res > 0 && reading && fd >= 0)
            file = task_fd_file((void *)bpf_get_current_task(), fd);
        else if (res > 0 && !reading && !(r->state & SNIFF_UREQ_OUT_SKIP))
            file = KPTR(req, OFF_URING_REQ_FILE);
    } else if (op == SNIFF_OP_READ || op == SNIFF_OP_WRITE) {
        bytes = res;
        file = res > 0 ? KPTR(req, OFF_URING_REQ_FILE) : 0;
    } else {
        file = res >= 0 ? KPTR(req, OFF_URING_REQ_FILE) : 0;    /* like ftruncate(2)'s exit */
    }
    struct sniff_file_id id = {};
    if (exit_verdict(ctx, c, op, file, &id, SNIFF_RESUME_URING_FILE) > 0) {
        file_op_from(c, op, fd, file, &id, r->shape == SNIFF_SHAPE_OPEN ? 0 : res, bytes, r);
        if (r->shape == SNIFF_SHAPE_FD_PAIR && op == SNIFF_OP_WRITE)
            content_uncaptured(&id, res);    /* a splice into the file */
        else
            uring_content_arm(req, r, file, &id, res);
    }
    /* Read again (from the request and the map), not kept in registers through the walk: the
     * verifier would follow the walk once per shape and side. */
    if (r->shape == SNIFF_SHAPE_FD_PAIR && !(r->state & (SNIFF_UREQ_IN_DONE | SNIFF_UREQ_OUT_SKIP)) &&
        uring_res(req) > 0) {
        r->state |= SNIFF_UREQ_IN_DONE;
        uring_rerun(ctx);
        count(SNIFF_CNT_UNPLACED);
    }
    uring_content_end(req, r);
    uring_req_drop((u64)req, 0);
    content_run(ctx);    /* last: a tail call */
    return 0;
}

/* A path string copied at submission, placed like string_base places a user's. */
static __always_inline void *kstring_base(struct sniff_event *ev, struct sniff_name *nm, void *task,
                                          s64 dirfd, const char *kstr, struct walk_pos *base, u64 *hash)
{
    u32 pos = ev->data_len;
    if (pos > SNIFF_DATA_MASK)
        return 0;
    long n = bpf_probe_read_kernel_str(&ev->data[pos & SNIFF_DATA_MASK], SNIFF_PATH_MAX, kstr);
    if (hash)
        *hash = string_hash(ev, n);
    return string_place(ev, nm, task, dirfd, pos, n, base);
}

static __always_inline void name_from_kstring(struct sniff_event *ev, struct sniff_name *nm, void *task,
                                              s64 dirfd, const char *kstr)
{
    struct walk_pos base = {0};
    if (kstring_base(ev, nm, task, dirfd, kstr, &base, 0))
        name_string_base(ev, nm, base);
}

/* A record about a path string: who asked, the result. */
static __always_inline struct sniff_event *uring_event(struct sniff_uring_req *r, s64 res)
{
    struct sniff_event *ev = event_begin(r->op);
    if (!ev)
        return 0;
    event_from_uring(ev, r);
    ev->flags |= r->ev_flags;
    ev->ret = res;
    return ev;
}

/* A failed open, or an open into the fixed-file table (no fd): counted by the path string and
 * its base directory, like exit_name_counted. */
static __always_inline int on_uring_name(struct bpf_raw_tracepoint_args *ctx)
{
    void *req = (void *)ctx->args[1];
    struct sniff_uring_req *r = uring_req_get((u64)req);
    struct sniff_uring_paths *paths = uring_paths_get((u64)req);
    struct sniff_config *c = cfg();
    struct sniff_event *ev = 0;
    s64 res = uring_res(req);
    s64 ret = res < 0 ? res : 0;
    if (r && paths && c && r->state & SNIFF_UREQ_REPORT)
        ev = uring_event(r, ret);
    if (!ev) {
        uring_req_drop((u64)req, 1);
        return 0;
    }
    void *task = (void *)bpf_get_current_task();
    struct walk_pos base = {0};
    u64 hash = 0;
    void *base_dentry = kstring_base(ev, &ev->names[0], task, r->dirfd, paths->old, &base, &hash);
    struct sniff_agg_key key = { .id = name_key(hash, base_dentry), .tgid = ev->pid,
                                 .err = (s32)ret, .op = ev->op,
                                 .kind = SNIFF_AGG_NAME | SNIFF_AGG_VIA_URING };
    uring_req_drop((u64)req, 1);
    u64 serial = 0;
    struct sniff_agg before = {};
    int how = account_by(c, &key, 0, 0, ev->tid, &serial, &before);
    if (how == COUNTED)
        return 0;
    mark_named(ev, &key, how, serial, &before);
    if (base_dentry)
        name_string_base(ev, &ev->names[0], base);
    submit_counted(ev);
    return 0;
}

/* unlinkat: one record each, like exit_path. */
static __always_inline int on_uring_path(struct bpf_raw_tracepoint_args *ctx)
{
    void *req = (void *)ctx->args[1];
    struct sniff_uring_req *r = uring_req_get((u64)req);
    struct sniff_uring_paths *paths = uring_paths_get((u64)req);
    struct sniff_config *c = cfg();
    struct sniff_event *ev = 0;
    if (r && paths && c && (c->coalesce || rate_ok(c)))
        ev = uring_event(r, uring_res(req));
    if (!ev) {
        uring_req_drop((u64)req, 1);
        return 0;
    }
    name_from_kstring(ev, &ev->names[0], (void *)bpf_get_current_task(), r->dirfd, paths->old);
    uring_req_drop((u64)req, 1);
    event_submit(ev);
    return 0;
}

/* renameat: a successful one invalidates cached verdicts, wanted or not (like exit_rename). */
static __always_inline int on_uring_rename(struct bpf_raw_tracepoint_args *ctx)
{
    void *req = (void *)ctx->args[1];
    struct sniff_uring_req *r = uring_req_get((u64)req);
    if (!r)
        return 0;
    s64 res = uring_res(req);
    struct sniff_uring_paths *paths = uring_paths_get((u64)req);
    struct sniff_config *c = cfg();
    struct sniff_event *ev = 0;
    if (r->state & SNIFF_UREQ_REPORT && paths && c && (c->coalesce || rate_ok(c)))
        ev = uring_event(r, res);
    if (!ev) {
        if (res == 0)
            bump_rename_gen(0);
        uring_req_drop((u64)req, 1);
        return 0;
    }
    void *task = (void *)bpf_get_current_task();
    name_from_kstring(ev, &ev->names[0], task, r->dirfd, paths->old);
    name_from_kstring(ev, &ev->names[1], task, r->fd2, paths->dst);
    uring_req_drop((u64)req, 1);
    int sent = event_submit(ev) == 0;
    if (res == 0)
        bump_rename_gen(sent);
    return 0;
}

#endif
