/* Reading kernel structs at offsets taken from the running kernel's BTF (OFF_* macros, injected
 * by the loader). Installed headers may describe another kernel, so no struct layout from them
 * is ever used: only these offsets. */
#ifndef SNIFF_KREAD_H
#define SNIFF_KREAD_H

static __always_inline u64 kread_u64(const void *base, u32 off)
{
    u64 v = 0;
    bpf_probe_read_kernel(&v, sizeof(v), (const char *)base + off);
    return v;
}

static __always_inline u32 kread_u32(const void *base, u32 off)
{
    u32 v = 0;
    bpf_probe_read_kernel(&v, sizeof(v), (const char *)base + off);
    return v;
}

static __always_inline u16 kread_u16(const void *base, u32 off)
{
    u16 v = 0;
    bpf_probe_read_kernel(&v, sizeof(v), (const char *)base + off);
    return v;
}

#define KPTR(base, off) ((void *)kread_u64((base), (off)))

/* The compiler forgets what it knows about v here, so a mask written after this line stays in
 * the code, right where the value is used. Older verifiers (6.1) lose a bound checked earlier
 * when the register is spilled and reloaded; a mask at the use needs no memory of the check. */
#define OPAQUE(v) asm volatile("" : "+r"(v))

/* task->files->fdt: the task's current fd table (it is replaced when it grows). */
static __always_inline void *task_fdt(void *task)
{
    void *files = KPTR(task, OFF_TASK_FILES);
    return files ? KPTR(files, OFF_FILES_FDT) : 0;
}

/* fdt->fd[fd], or NULL; *fds_out gets the fd array it was read from (the verdict cache
 * remembers it: a grown table means a new array). */
static __always_inline void *fdt_slot(void *fdt, s64 fd, u64 *fds_out)
{
    if (!fdt || fd < 0 || (u64)fd >= kread_u32(fdt, OFF_FDT_MAX_FDS))
        return 0;
    void *fds = KPTR(fdt, OFF_FDT_FD);
    if (!fds)
        return 0;
    *fds_out = (u64)fds;
    return KPTR(fds, (u32)fd * 8);
}

/* fdt_slot() in one read fewer where max_fds and fd sit side by side (every kernel so far), for
 * the syscall hot paths (exit_open, enter_close). Not for close_range_step's loop: there the
 * verifier follows it once per fd, and its budget is spent. */
static __always_inline void *fdt_slot_hot(void *fdt, s64 fd, u64 *fds_out)
{
#if OFF_FDT_FD == OFF_FDT_MAX_FDS + 8
    if (!fdt || fd < 0)
        return 0;
    struct { u32 max_fds; u32 pad; void *fd; } head = {};
    bpf_probe_read_kernel(&head, sizeof(head), (const char *)fdt + OFF_FDT_MAX_FDS);
    if ((u64)fd >= head.max_fds || !head.fd)
        return 0;
    *fds_out = (u64)head.fd;
    return KPTR(head.fd, (u32)fd * 8);
#else
    return fdt_slot(fdt, fd, fds_out);
#endif
}

/* task->files->fdt->fd[fd], or NULL. Works for any fd the task holds, however it got it
 * (opened before we started, inherited, dup'ed, received over a socket). */
static __always_inline void *task_fd_file(void *task, s64 fd)
{
    u64 fds = 0;
    return fdt_slot(task_fdt(task), fd, &fds);
}

static __always_inline u32 task_tgid(void *task)
{
    return kread_u32(task, OFF_TASK_TGID);
}

static __always_inline u32 task_ppid(void *task)
{
    void *parent = KPTR(task, OFF_TASK_REAL_PARENT);
    return parent ? task_tgid(parent) : 0;
}

/* task->nsproxy->mnt_ns->ns.inum: the mount namespace a path string is resolved in (0 once
 * the task has dropped its namespaces, at exit). */
static __always_inline u32 task_mntns(void *task)
{
    void *nsproxy = KPTR(task, OFF_TASK_NSPROXY);
    void *mnt_ns = nsproxy ? KPTR(nsproxy, OFF_NSPROXY_MNT_NS) : 0;
    return mnt_ns ? kread_u32(mnt_ns, OFF_MNT_NS_INUM) : 0;
}

static __always_inline void *file_inode(void *file)
{
    return KPTR(file, OFF_FILE_INODE);
}

static __always_inline u16 inode_mode(void *inode)
{
    return inode ? kread_u16(inode, OFF_INODE_MODE) : 0;
}

static __always_inline u32 sb_dev(void *sb)
{
    return sb ? kread_u32(sb, OFF_SB_DEV) : 0;
}

#define S_IFMT_ 00170000
#define S_IFREG_ 0100000
#define S_IFDIR_ 0040000

#endif
