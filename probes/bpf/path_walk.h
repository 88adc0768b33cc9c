/* Where a file really is: walk its dentry chain upwards, crossing mount points, and compare
 * each ancestor's (device, inode) with the watched directories. The string a process passed
 * never decides scope; the struct file (or the task's cwd/root/dirfd) does.
 *
 * Names are copied leaf first, each NUL-terminated, at a running offset into the record's data
 * (masked, so the verifier can bound the write); Python reverses them.
 *
 * BCC rewrites map calls (map.lookup()) only in the main source file, so the includer defines
 * lookup_watch() before including this header. */
#ifndef SNIFF_PATH_WALK_H
#define SNIFF_PATH_WALK_H

#include "kread.h"

/* A walk that only decides scope may continue above a bind mount's root inside its filesystem
 * (the file's real location); a walk that names a base directory follows the mount tree, as
 * the process sees it, to its mount namespace's root. */
#define WALK_SCOPE 0
#define WALK_BASE 1
/* A scope verdict needs no names: WALK_NAMES off skips copying them. */
#define WALK_NAMES 2
/* WALK_HASH: fold each component's dentry and name hash into *hash: the path's identity. A
 * coalescing counter is named again only when it changes (the file or a directory above it
 * was renamed), not after every rename on the machine. */
#define WALK_HASH 4

static __always_inline u64 path_hash_step(u64 h, void *dentry)
{
    u64 name_hash = kread_u32(dentry, OFF_DENTRY_NAME_HASH);
    return (h ^ (u64)dentry ^ (name_hash << 32)) * 0x9E3779B97F4A7C15ull;
}

struct walk_pos {
    void *dentry;
    void *vfsmnt;        /* &mount->mnt */
};

static __always_inline int walk_copy_name(struct sniff_event *ev, struct sniff_name *nm, void *dentry)
{
    u32 pos = ev->data_len;
    u32 len = kread_u32(dentry, OFF_DENTRY_NAME_LEN);
    /* The path as a string is the names plus a '/' each: it must stay under PATH_MAX. */
    if (nm->walk_len + len + 1 > SNIFF_PATH_MAX - 1 || pos > SNIFF_DATA_MASK)
        return -1;
    const char *name = KPTR(dentry, OFF_DENTRY_NAME_PTR);
    u32 at = pos;
    OPAQUE(at);
    long n = bpf_probe_read_kernel_str(&ev->data[at & SNIFF_DATA_MASK], SNIFF_NAME_MAX + 1, name);
    if (n <= 0)
        return -1;
    ev->data_len = pos + (u32)n;
    nm->walk_len += (u16)n;
    nm->ncomp += 1;
    return 0;
}

/* nm->flags while walking, never after: the walk went above its mount's root (a bind mount's,
 * or the namespace's root for a scope walk). Kept in map memory, which the verifier does not
 * track by value, rather than in a register, where each value doubled the states it follows
 * per step. */
#define WALK_ABOVE_MOUNT 0x8000

static __always_inline void walk_steps(struct sniff_event *ev, struct sniff_name *nm, struct walk_pos p,
                                       int how, u64 *hash)
{
    int mode = how & ~(WALK_NAMES | WALK_HASH);
    void *mnt_sb = KPTR(p.vfsmnt, OFF_VFSMOUNT_SB);
    struct sniff_watch_key key = { .dev = sb_dev(mnt_sb) };

#pragma clang loop unroll(disable)
    for (int i = 0; i < SNIFF_MAX_DEPTH; i++) {
        void *inode = KPTR(p.dentry, OFF_DENTRY_INODE);
        key.ino = inode ? kread_u64(inode, OFF_INODE_INO) : 0;
        u32 *watch = lookup_watch(&key);
        if (watch) {
            nm->watch = *watch;
            return;
        }
        void *parent = KPTR(p.dentry, OFF_DENTRY_PARENT);
        void *mnt_root = KPTR(p.vfsmnt, OFF_VFSMOUNT_ROOT);
        /* (A base walk never goes above a mount's root: no flag to read.) */
        if ((mode == WALK_BASE || !(nm->flags & WALK_ABOVE_MOUNT)) && p.dentry == mnt_root) {
            void *mount = (char *)p.vfsmnt - OFF_MOUNT_MNT;
            void *up = KPTR(mount, OFF_MOUNT_PARENT);
            if (up == mount || !up) {
                /* The root of the mount namespace. A base directory's path ends here even when
                 * that root is a subdirectory of its filesystem (a container's pivot_root):
                 * the names above it are nobody's path. */
                if (p.dentry == parent || mode == WALK_BASE) {
                    nm->flags |= SNIFF_NAME_AT_ROOT;
                    return;
                }
                /* A scope walk goes on above it, to where the file really is. */
                nm->flags |= WALK_ABOVE_MOUNT;
            } else if (mode == WALK_SCOPE && p.dentry != parent) {
                /* Bind mount of a subdirectory: where the file really is lies above it, in
                 * the same filesystem. */
                nm->flags |= WALK_ABOVE_MOUNT;
            } else {
                p.dentry = KPTR(mount, OFF_MOUNT_MOUNTPOINT);
                p.vfsmnt = (char *)up + OFF_MOUNT_MNT;
                key.dev = sb_dev(KPTR(p.vfsmnt, OFF_VFSMOUNT_SB));
                continue;
            }
        }
        if (p.dentry == parent) {
            nm->flags |= SNIFF_NAME_AT_ROOT;
            return;
        }
        if (how & WALK_HASH)
            *hash = path_hash_step(*hash, p.dentry);
        if ((how & WALK_NAMES) && !(nm->flags & SNIFF_NAME_TRUNCATED) &&
            walk_copy_name(ev, nm, p.dentry) < 0) {
            /* Too long to name in full: say so, and keep walking to decide scope. */
            nm->flags |= SNIFF_NAME_TRUNCATED;
        }
        p.dentry = parent;
    }
    /* Deeper than we walk: scope unknown. The caller counts it (never silently lost). */
    nm->flags |= SNIFF_NAME_TRUNCATED | SNIFF_NAME_TOO_DEEP;
}

/* Walk from p upwards. Stops at the first watched ancestor (nm->watch set), at the root
 * (SNIFF_NAME_AT_ROOT), or when the path is too long or too deep (SNIFF_NAME_TRUNCATED).
 * hash: see WALK_HASH (unused without it). */
static __always_inline void walk_path(struct sniff_event *ev, struct sniff_name *nm, struct walk_pos p,
                                      int how, u64 *hash)
{
    nm->flags &= ~WALK_ABOVE_MOUNT;
    walk_steps(ev, nm, p, how, hash);
    nm->flags &= ~WALK_ABOVE_MOUNT;
}

static __always_inline struct walk_pos file_pos(void *file)
{
    struct walk_pos p = {
        .dentry = KPTR(file, OFF_FILE_PATH_DENTRY),
        .vfsmnt = KPTR(file, OFF_FILE_PATH_MNT),
    };
    return p;
}

static __always_inline struct walk_pos fs_pos(void *task, u32 off_mnt, u32 off_dentry)
{
    struct walk_pos p = {0};
    void *fs = KPTR(task, OFF_TASK_FS);
    if (fs) {
        p.vfsmnt = KPTR(fs, off_mnt);
        p.dentry = KPTR(fs, off_dentry);
    }
    return p;
}

#endif
