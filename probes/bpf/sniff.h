/* The one definition of everything the kernel side and Python share: record layouts, op codes,
 * flags, counter slots and limits. Python reads the structs from BCC's debug info and the
 * enums/defines from this file (probes/abi.py), so nothing here is written twice. */
#ifndef SNIFF_H
#define SNIFF_H

#define SNIFF_COMM_LEN 16
#define SNIFF_PATH_MAX 4096      /* PATH_MAX; a path of 4095 bytes plus its NUL */
#define SNIFF_NAME_MAX 255       /* longest directory entry name */
#ifndef SNIFF_MAX_DEPTH
#define SNIFF_MAX_DEPTH 160      /* components walked per path; deeper is counted (too_deep) */
#endif
/* Variable data goes at a masked offset so the verifier can bound every write; the slack
 * after the mask holds the last string read (at most PATH_MAX bytes). */
#define SNIFF_DATA_MASK 32767
#define SNIFF_DATA_SIZE (SNIFF_DATA_MASK + 1 + SNIFF_PATH_MAX)
#define SNIFF_CLOSE_RANGE_BATCH 128   /* fd slots examined per close_range tail call (the
                                       * verifier follows each; more is "too complex") */
#define SNIFF_TAIL_CALLS_MAX 33       /* the kernel's MAX_TAIL_CALL_CNT */
#define SNIFF_OPEN_FDS_WORDS 1024     /* open_fds bitmap words read to find the highest open fd */
#define SNIFF_AT_FDCWD -100
#define SNIFF_VERDICT_SLOTS 16384     /* direct-mapped scope cache, (tgid, fd) -> verdict */
#define SNIFF_DVERDICT_SLOTS 65536    /* direct-mapped scope cache, dentry -> verdict (reopens, close_range) */
#define SNIFF_NAME_HASH_MAX 4096      /* bytes of a path string hashed to key a name counter */
#define SNIFF_HINT_SLOTS 4096         /* per-tid "has an in-scope read/write pending" counters */
#define SNIFF_EXEC_GEN_SLOTS 65536    /* per-tgid (direct-mapped) exec/exit generations */
#define SNIFF_SYS_SLOTS 1024          /* syscall numbers covered by the dispatch table */
#define SNIFF_TAIL_SLOTS 32           /* enter/exit tail-call table sizes */
#define SNIFF_SLOT_READ 1             /* sys_slot values: the read family, */
#define SNIFF_SLOT_WRITE 2            /* the write family; higher: an enter_tail index */
#define SNIFF_AGG_MAX 65536           /* coalescing counters; when full, records go out one by one */
#define SNIFF_PENDING_MAX 16384
#define SNIFF_FRONT_SLOTS 8192        /* per-thread syscall state, by tid: see struct sniff_front */
#define SNIFF_WATCH_MAX 4096         /* watched directories plus excluded ones (--exclude) */
/* watched map value of an excluded directory (watch ids start at 1): a walk that meets it
 * stops there with watch 0, out of scope, as it stops at a watch. */
#define SNIFF_WATCH_EXCLUDED 0
#define SNIFF_PIDSET_MAX 65536
#define SNIFF_MAPPED_MAX 16384        /* files with a shared writable mapping (LRU) */
#define SNIFF_PLACED_MAX 16384        /* open files placed in scope, by struct file (LRU; see placed) */
#define SNIFF_ANNOUNCED_MAX 4096      /* paths Python has been sent, by file identity (LRU); Python
                                       * keeps at least four times as many */
#define SNIFF_PROT_WRITE 0x2
#define SNIFF_MAP_SHARED_ANY 0x3      /* MAP_SHARED | MAP_SHARED_VALIDATE */
#define SNIFF_URING_OPS 128           /* IORING_OP_* codes covered by the uring_ops table */
#define SNIFF_URING_REQS 8192         /* io_uring requests of wanted ops in flight */
#define SNIFF_URING_PATH_REQS 256     /* ...of which openat/unlinkat/renameat, with their paths */
#define SNIFF_CGSET_MAX 1024          /* cgroups a --cgroup/--container/--unit filter keeps */
#define SNIFF_CG_LEVELS 16            /* deepest cgroup level (root: 0) the kernel filter takes */

enum sniff_op {
    SNIFF_OP_OPEN = 1,
    SNIFF_OP_READ = 2,
    SNIFF_OP_WRITE = 3,
    SNIFF_OP_CLOSE = 4,
    SNIFF_OP_RENAME = 5,
    SNIFF_OP_UNLINK = 6,
    SNIFF_OP_TRUNCATE = 7,
    SNIFF_OP_MMAP = 8,           /* a shared, writable mapping of the file was made */
    SNIFF_OP_MMAP_WRITE = 9,     /* pages dirtied through such a mapping (bytes: whole pages) */
    SNIFF_OP_FALLOCATE = 10,     /* fallocate/posix_fallocate: mode, offset, length in args */
    /* process table, never shown as file records */
    SNIFF_OP_FORK = 16,
    SNIFF_OP_EXEC = 17,
    SNIFF_OP_EXIT = 18,
    /* bytes a write put into a file (--content): a struct sniff_content, not a sniff_event */
    SNIFF_OP_CONTENT = 20,
};

/* How a syscall names its file(s); decides what the exit handler resolves. */
enum sniff_shape {
    SNIFF_SHAPE_FD = 1,          /* a = fd (ftruncate) */
    SNIFF_SHAPE_FD_PAIR = 2,     /* a = fd read from, b = fd written to (sendfile, splice...) */
    SNIFF_SHAPE_OPEN = 3,        /* a = dirfd, s1 = path */
    SNIFF_SHAPE_PATH = 4,        /* a = dirfd, s1 = path (unlink, truncate) */
    SNIFF_SHAPE_RENAME = 5,      /* a = old dirfd, s1 = old path, b = new dirfd, s2 = new path */
    SNIFF_SHAPE_NAME_COUNTED = 6,/* a = dirfd, s1 = path, coalesced by the string (failed open,
                                  * truncate by path) */
};

/* A path walk to decide an open file's scope runs in a program of its own (verdict_walk),
 * which then tail-calls back into the program that asked: inlined into every program that
 * needs it, the walk made the verifier's work explode. Slots of the walk_tail prog array. */
enum sniff_resume {
    SNIFF_RESUME_WALKER = 0,     /* verdict_walk itself */
    SNIFF_RESUME_RAW_ENTER = 1,
    SNIFF_RESUME_CLOSE = 2,
    SNIFF_RESUME_CLOSE_RANGE = 3,
    SNIFF_RESUME_EXIT_OPEN = 4,  /* from here on: exit programs (a syscall's state is pending) */
    SNIFF_RESUME_EXIT_FD = 5,
    SNIFF_RESUME_EXIT_PAIR = 6,
    /* io_uring (uring.h), apart from the syscall slots so that both can grow */
    SNIFF_RESUME_URING_SUBMIT = 12,
    SNIFF_RESUME_URING_FILE = 13,
    SNIFF_RESUME_SLOTS = 16,
};

/* sniff_name.flags */
enum sniff_name_flag {
    SNIFF_NAME_TRUNCATED = 1,    /* the walk gave up (too long or too deep) */
    SNIFF_NAME_AT_ROOT = 2,      /* the walk reached the root without meeting a watched dir */
    SNIFF_NAME_STR_TRUNCATED = 4,/* the string the process passed did not fit */
    SNIFF_NAME_TOO_DEEP = 8,     /* no watched dir within SNIFF_MAX_DEPTH components: scope unknown */
};

/* sniff_event.flags */
enum sniff_event_flag {
    SNIFF_EV_DIR = 1,            /* rmdir / unlinkat(AT_REMOVEDIR) */
    SNIFF_EV_AGG_NAME = 2,       /* the first syscall of a new coalescing counter (key, serial set):
                                  * the syscall itself is in count/ret, not in the counter */
    SNIFF_EV_AGG_RENAME = 4,     /* a counter's path changed (its file or a directory above it was
                                  * renamed): count/ret hold the counter's totals before the change;
                                  * no syscall of its own */
    SNIFF_EV_URING = 8,          /* submitted through io_uring, not by a syscall of its own */
    SNIFF_EV_NAME_BY_ID = 16,    /* no names: the file's path is the one already sent for its
                                  * (dev, ino, path_hash) (see the announced map) */
};

/* What a coalescing counter is keyed by, besides the process and the op. */
enum sniff_agg_kind {
    SNIFF_AGG_FILE = 1,          /* an open file: id = inode number, dev = its filesystem */
    SNIFF_AGG_NAME = 2,          /* a path string that names no open file (failed open, truncate by
                                  * path): id = hash of the string and its base directory, err set */
    SNIFF_AGG_VIA_URING = 0x100, /* flag: counted through io_uring, apart from the syscalls on the
                                  * same file, so that every record of the counter says so */
};

/* Which generation slot a scope change bumps (cached verdicts older than the sum are stale). */
enum sniff_gen_slot {
    SNIFF_GEN_RENAME = 0,        /* bumped by the kernel on every successful rename */
    SNIFF_GEN_USER = 1,          /* bumped by Python when watches or type filters change, and
                                  * when it is sent the rename of a directory (or of something it
                                  * could no longer look at) */
    SNIFF_GEN_UNSEEN = 2,        /* bumped by the kernel on a successful rename whose record did
                                  * not reach Python (not wanted, rate-limited, no room) */
    SNIFF_GEN_SLOTS = 3,
};

/* Slots of the per-CPU counters map. */
enum sniff_counter {
    SNIFF_CNT_RINGBUF_DROPS = 0,     /* file records the ring buffer had no room for */
    SNIFF_CNT_TRUNCATED = 1,         /* paths that could not be completed */
    SNIFF_CNT_PENDING_FULL = 2,      /* syscalls whose enter state found no room */
    SNIFF_CNT_CLOSE_RANGE_SKIPPED = 3, /* fd slots a close_range closed that we could not examine */
    SNIFF_CNT_EVENTS = 4,            /* records submitted */
    SNIFF_CNT_AGG_FULL = 5,          /* syscalls sent one by one because the counter map was full */
    SNIFF_CNT_RATE_LIMITED = 6,      /* --no-coalesce records dropped by the rate limit */
    SNIFF_CNT_VERDICT_MISS = 7,      /* scope decided by a path walk (cache miss) */
    SNIFF_CNT_TOO_DEEP = 8,          /* files whose scope could not be decided: too deep to walk */
    SNIFF_CNT_LOST_CALLS = 9,        /* syscalls the lost records of in-scope files stood for */
    SNIFF_CNT_PROC_DROPS = 10,       /* process-table records (fork/exec/exit) the ring buffer lost */
    SNIFF_CNT_DVERDICT_MISS = 11,    /* scope of an open file decided by a path walk */
    SNIFF_CNT_UNPLACED = 12,         /* syscalls on open files whose scope could not be decided
                                      * (the walk's tail call failed) */
    SNIFF_CNT_NAME_DROPS = 13,       /* lost records of paths given as strings (failed open, unlink,
                                      * rename...): their scope was still to be decided */
    SNIFF_CNT_URING_NO_CQE = 14,     /* io_uring requests of wanted ops submitted with
                                      * IOSQE_CQE_SKIP_SUCCESS: no completion to report them by */
    SNIFF_CNT_TORN = 15,             /* shared cache entries read mid-write: taken as misses */
    SNIFF_CNT_FRONT_SHARED = 16,     /* syscalls whose thread's front slot another thread held:
                                      * their state went to the hash maps (struct sniff_front) */
    SNIFF_CNT_MAX = 17,
};

/* Coalescing counter key: per process, op and file identity (or path string), so that reopening
 * a file finds the same counter. Totals only grow; Python deletes a counter once its process is
 * gone, or when it has been idle and the map fills. */
struct sniff_agg_key {
    u64 id;              /* SNIFF_AGG_FILE: inode number; SNIFF_AGG_NAME: hash of the path */
    u32 dev;             /* SNIFF_AGG_FILE: kernel dev_t of the inode's filesystem */
    u32 tgid;
    s32 err;             /* SNIFF_AGG_NAME: the syscall's -errno (0: it succeeded) */
    u16 op;
    u16 kind;            /* enum sniff_agg_kind */
};

/* One resolved location. In the record's data it is laid out as the string the process passed
 * (str_len bytes, no NUL) followed by the walk: directory entry names from the file upwards,
 * each NUL-terminated (walk_len bytes in all). The walk stops at a watched directory (watch
 * != 0) or at the root (SNIFF_NAME_AT_ROOT). */
struct sniff_name {
    u32 watch;
    u16 str_len;
    u16 walk_len;
    u16 ncomp;
    u16 flags;
};

/* The arguments a record's op carries besides its file: mmap (offset, length, prot | flags << 32),
 * fallocate (offset, length, mode). For a coalesced op, those of the counter's first call. */
struct sniff_args {
    u64 off;
    u64 len;
    u64 how;
};

/* A record as it crosses the ring buffer: this header, then hdr_data_len bytes of data. */
struct sniff_event {
    u64 ts;              /* CLOCK_MONOTONIC ns */
    u64 ino;
    s64 ret;             /* syscall return: bytes transferred, or -errno */
    u32 op;              /* enum sniff_op */
    u32 pid;             /* tgid */
    u32 tid;
    u32 ppid;
    u32 uid;
    s32 fd;
    u32 dev;             /* kernel dev_t: major << 20 | minor */
    u32 mntns;           /* records of paths given as strings: the task's mount namespace
                          * (its nsfs inode number, as /proc/PID/ns/mnt shows it); 0 otherwise */
    u64 count;           /* syscalls this record stands for */
    u64 serial;          /* AGG_NAME/AGG_RENAME: the counter's creation time (a deleted and
                          * re-created counter is another one) */
    u64 cgroup;          /* cgroup v2 id of the writer (its directory's inode in the cgroup2 mount) */
    struct sniff_args args;
    u64 path_hash;       /* an open file's path identity (see WALK_HASH); 0: none */
    struct sniff_agg_key key;  /* AGG_NAME/AGG_RENAME: the counter */
    u16 mode;            /* i_mode: file type bits */
    u16 flags;           /* enum sniff_event_flag */
    u32 data_len;
    char comm[SNIFF_COMM_LEN];
    struct sniff_name names[2];
    char data[SNIFF_DATA_SIZE];
};

/* Runtime settings, one entry of the config array; changed from Python without reloading. */
struct sniff_config {
    u32 self_tgid;       /* never report ourselves */
    u32 ops_mask;        /* 1 << op for each op wanted */
    u32 pid;             /* 0: any */
    u32 uid;             /* (u32)-1: any */
    u32 all_types;       /* 0: regular files (and directories for rename/unlink) only */
    u32 use_comm;
    u32 use_pidset;      /* only processes in the pidset map (a process tree, followed at fork) */
    u32 coalesce;        /* 1: count every op per (process, file, op) in the kernel */
    u32 rate_limit;      /* coalesce off: records per second per CPU, the rest counted */
    char comm[SNIFF_COMM_LEN];
    u32 use_cgroup;      /* only tasks at or below a cgroup of the cgset map */
    u32 cg_level_lo;     /* the levels of the cgset's cgroups (root: 0); ancestors of the */
    u32 cg_level_hi;     /* task's cgroup are compared only at these */
};

/* sniff_file_id.flags */
enum sniff_id_flag {
    SNIFF_ID_TOO_DEEP = 1,
};

/* What a scope verdict says about an open file. */
struct sniff_file_id {
    u64 ino;
    u64 path_hash;       /* see WALK_HASH; 0 when out of scope */
    u32 dev;
    u32 watch;           /* 0: out of scope */
    u16 mode;
    u16 flags;           /* SNIFF_ID_TOO_DEEP: out of scope because too deep to place */
    u16 pad[2];
};

/* What a verdict must still find for close_range to take it after renames (see
 * verdict_lasting): the dentry's parent and name as they were when it was made (a rename of the
 * file itself changes one), and no directory rename since (dgen). A rename of another regular
 * file moves nothing else in or out of scope. */
struct sniff_lasting {
    u64 dgen;            /* SNIFF_GEN_USER + SNIFF_GEN_UNSEEN when it was made */
    u64 parent;          /* dentry->d_parent */
    u64 name;            /* dentry->d_name.hash_len */
};

/* Scope verdict for one (tgid, fd), valid while the fd still holds the same struct file and
 * nothing that could change the answer happened since: a rename or watch change (gen), an exec
 * or exit of the process (exec_gen: close-on-exec fds vanish without a close, and a freed
 * struct file's address can come back), or a close of the fd by this process (which clears the
 * tag) or by another sharing the fd table (close_seq). */
struct sniff_verdict {
    u64 tag;             /* tgid << 32 | fd */
    u64 fds;             /* the fd array it was read from */
    u64 file;
    u64 gen;
    u32 exec_gen;
    u32 close_seq;       /* fd_closes of (fds, fd) when it was made */
    struct sniff_lasting at;
    struct sniff_file_id id;
    u64 check;           /* see entry.h: every shared cache's entry ends with one */
};

/* An open file placed in scope (see the placed map): valid for that struct file while it still
 * has the same dentry, inode and mount, and verdict_lasting holds for gen and at. */
struct sniff_placed {
    u64 file;            /* its key: an element being reused for another file fails the check */
    u64 dentry;
    u64 inode;
    u64 mnt;
    u64 gen;
    struct sniff_lasting at;
    struct sniff_file_id id;
    u64 check;
};

/* Scope verdict for one dentry, so that reopening a file costs no path walk: valid while the
 * dentry still has the same inode and no rename or watch change happened since (gen); for
 * close_range, also after renames that could not have moved it (at). */
struct sniff_dverdict {
    u64 dentry;
    u64 inode;
    u64 gen;
    struct sniff_lasting at;
    struct sniff_file_id id;
    u64 check;
};


/* A counter taken by Python (value read and element deleted) must not be added to meanwhile: the
 * kernel's lookup and its add are two steps. Around them, account_by counts itself in and out on
 * its CPU (agg_busy), and skips a key Python is taking (agg_retiring, looked up only while
 * agg_retire_n is not 0: the syscall then goes out on its own, as when the map is full). Python
 * marks the key, waits until every CPU's leave has reached the enter it read after marking (the
 * adds that may not have seen the mark are done: programs do not nest on a CPU), then takes it
 * (probes/mapops.py). */
#define SNIFF_AGG_RETIRING_MAX 64
struct sniff_agg_busy {
    u64 enter;
    u64 leave;
};

struct sniff_agg {
    u64 count;
    u64 bytes;
    u64 first_ts;
    u64 last_ts;
    u64 serial;
    u64 path_hash;       /* identity of the path it was last named by (see WALK_HASH) */
    u32 tid;
    u32 uid;
};

/* An in-scope read/write between its enter and exit, per thread. */
struct sniff_rw_pending {
    u64 file;
    s64 fd;
    u32 op;
    u32 nr;              /* the syscall number (content capture tells write from pwrite...) */
    struct sniff_file_id id;
};

/* A file some process mapped shared and writable (key: its inode's address): the pages then
 * dirtied outside a write syscall were written through a mapping. Where its path starts, to name
 * the counter of a process that dirties pages (the mapping holds the file, so they stay valid
 * while it lasts), and the file's verdict when it was mapped. */
struct sniff_mapped {
    u64 dentry;
    u64 vfsmnt;
    struct sniff_file_id id;
};

/* A path Python was sent in full: the file, and the identity of the path it was named by. */
struct sniff_announced_key {
    u64 ino;
    u64 path_hash;
    u32 dev;
    u32 pad;
};

/* --no-coalesce rate limit, per CPU. */
struct sniff_rate {
    u64 window;
    u64 used;
};

/* Key of the watched-directories map: the directory's filesystem and inode. */
struct sniff_watch_key {
    u32 dev;
    u32 pad;
    u64 ino;
};

/* State a (less frequent) syscall's enter leaves for its exit, per thread. */
struct sniff_pending {
    u32 op;
    u32 shape;
    u32 report;          /* 0: only bookkeeping (a rename still bumps the scope generation) */
    u32 pad;
    s64 a;
    s64 b;
    u64 s1;              /* user pointers to path strings */
    u64 s2;
    u64 flags;
};

/* A thread's syscall state between its enter and exit, in the array slot tid & (SLOTS - 1),
 * held by that thread from its first tracked syscall until it exits: a syscall then costs no
 * hash-map update and delete. A thread whose slot another thread holds keeps its state in the
 * LRU hash maps (pending, rw_pending), as every thread does on kernels before 5.12 (no
 * compare-and-swap: SNIFF_NO_FRONT). */
enum sniff_front_live { SNIFF_FRONT_NONE = 0, SNIFF_FRONT_RW = 1, SNIFF_FRONT_PENDING = 2 };
struct sniff_front {
    u64 tid;             /* the holder: claimed by compare-and-swap from 0 (64 bits: BCC's
                          * target has no 32-bit one), freed at its exit */
    u32 live;            /* enum sniff_front_live: what its syscall in flight keeps here */
    u32 pad;
    struct sniff_rw_pending rw;
    struct sniff_pending p;
};

/* Per CPU: the open file verdict_walk is asked to place, and its answer for the program it
 * resumes. */
struct sniff_walk_job {
    u64 file;
    u64 dentry;          /* with inode: a struct file freed and reused since is another file */
    u64 inode;
    u32 resume;          /* enum sniff_resume */
    u32 done;            /* 1: id holds the walk's answer for file */
    struct sniff_file_id id;
};

/* sniff_uring_req.state */
enum sniff_uring_state {
    SNIFF_UREQ_DIRECT = 1,       /* openat into the fixed-file table: no fd, reported by its path */
    SNIFF_UREQ_IN_DONE = 2,      /* splice: the side read from is accounted */
    SNIFF_UREQ_REPORT = 4,       /* 0: bookkeeping only (a rename still bumps the scope generation) */
    SNIFF_UREQ_OUT_SKIP = 8,     /* splice: the side written to is not wanted */
    SNIFF_UREQ_IOVS = 16,        /* --content: its iovecs were copied at submission (content_iovs) */
};

/* An io_uring request of a wanted op between its submission and its completion, by struct
 * io_kiocb address. The submission runs in the submitting thread; the completion may run in
 * one of io_uring's worker threads (same process, another name), so who asked is kept here. */
struct sniff_uring_req {
    u64 user_data;       /* with tgid and opcode: still the same request (io_kiocbs are recycled) */
    s64 fd;              /* the fd the SQE names (-1: a fixed file); splice: the fd read from */
    s64 fd2;             /* splice: the fd written to; renameat: the new dirfd */
    s64 dirfd;           /* openat, unlinkat, renameat: the (old) dirfd */
    struct sniff_args args;  /* fallocate: offset, length, mode */
    u32 tgid;
    u32 tid;             /* the submitting thread */
    u32 op;              /* enum sniff_op */
    u32 shape;           /* enum sniff_shape: what the completion resolves */
    u16 opcode;          /* IORING_OP_* */
    u16 ev_flags;        /* SNIFF_EV_DIR for unlinkat(AT_REMOVEDIR) */
    u32 state;           /* enum sniff_uring_state */
    char comm[SNIFF_COMM_LEN];
};

/* The path strings of an io_uring openat/unlinkat/renameat, copied at submission: the kernel
 * frees its copy before the completion, and the process may already reuse its own. */
struct sniff_uring_paths {
    char old[SNIFF_PATH_MAX];
    char dst[SNIFF_PATH_MAX];
};

/* close_range examines its fds over a chain of tail calls; this is where it is up to. */
struct sniff_close_cursor {
    u64 fds;             /* the task's fd array */
    u32 next;
    u32 last;
    u32 calls;           /* tail calls the chain has made (the kernel allows 33) */
    u32 pad;
    struct sniff_file_id id;   /* the placement close_known found for fd next (needs_names) */
};

/* ---- content capture (--content): the bytes a write put into a file -------------------------
 * Copied at the write's exit, up to its return value and at most SNIFF_CONTENT_MAX, into a
 * per-CPU buffer, then sent as one record of its own (struct sniff_content) by capture_write,
 * a program tail-called from raw_exit only when capture is on and the file is in scope. */
#define SNIFF_CONTENT_MAX 131072      /* --content-max's ceiling (a power of two: offsets are masked) */
#define SNIFF_CONTENT_MASK (SNIFF_CONTENT_MAX - 1)
#define SNIFF_CONTENT_CHUNK 4096      /* bytes copied per step: a page that cannot be read loses
                                       * only the rest of the copy */
#define SNIFF_CONTENT_BUF (SNIFF_CONTENT_MAX + SNIFF_CONTENT_CHUNK)   /* the slack bounds a
                                       * chunk copied at a masked offset */
#define SNIFF_CONTENT_STEPS 64        /* copy steps per write (chunks and iovecs together) */
#define SNIFF_CONTENT_O_APPEND 0x400  /* O_APPEND (x86_64 and arm64 alike) */
#define SNIFF_CONTENT_RWF_APPEND 0x10 /* pwritev2's RWF_APPEND */

/* What the write syscall was, by number (the content_kind map, filled by Python). */
enum sniff_content_kind {
    SNIFF_CK_WRITE = 1,          /* write(fd, buf, n): at the file position (end for O_APPEND) */
    SNIFF_CK_PWRITE = 2,         /* pwrite64(fd, buf, n, off) */
    SNIFF_CK_WRITEV = 3,         /* writev(fd, iov, cnt) */
    SNIFF_CK_PWRITEV = 4,        /* pwritev(fd, iov, cnt, off) */
    SNIFF_CK_PWRITEV2 = 5,       /* pwritev2(fd, iov, cnt, off, off_hi, flags); off -1: position */
    /* io_uring, by opcode (the content_uring_kind map): where the completion finds the bytes */
    SNIFF_CK_URING = 6,          /* IORING_OP_WRITE, WRITE_FIXED: one buffer (io_rw.addr) */
    SNIFF_CK_URING_V = 7,        /* IORING_OP_WRITEV, WRITEV_FIXED: iovecs, copied at submission */
};
#define SNIFF_CONTENT_IOVS 64         /* iovecs of an io_uring writev copied at submission */
#define SNIFF_CONTENT_URING_REQS 256  /* io_uring writevs in flight with their iovecs copied */

/* An io_uring writev's iovecs, copied at submission: the process may reuse its array as soon as
 * io_uring_enter returns, and the completion reads the bytes they point to. */
struct sniff_content_iovs {
    u64 count;                    /* iovecs the request has (only the first SNIFF_CONTENT_IOVS kept) */
    u64 iov[2 * SNIFF_CONTENT_IOVS];
};

/* sniff_content.flags */
enum sniff_content_flag {
    SNIFF_CF_UNREADABLE = 1,     /* the process's buffer could not be read to the end */
    SNIFF_CF_STEPS = 2,          /* too many iovecs: the copy stopped after SNIFF_CONTENT_STEPS */
};

/* Slots of the content_counters map (per CPU). */
enum sniff_content_counter {
    SNIFF_CC_RECORDS = 0,        /* content records sent */
    SNIFF_CC_DROPS = 1,          /* content records the ring buffer had no room for */
    SNIFF_CC_DROPPED_BYTES = 2,  /* bytes written by the writes of those records */
    SNIFF_CC_UNREADABLE = 3,     /* copies cut short: the buffer could not be read */
    SNIFF_CC_UNCAPTURED = 4,     /* in-scope writes with no buffer to copy (splice, sendfile,
                                  * copy_file_range, io_uring splice; mmap stores, per folio) */
    SNIFF_CC_UNCAPTURED_BYTES = 5,
    SNIFF_CC_MAX = 6,
};

struct sniff_content_config {
    u32 on;
    u32 max;             /* bytes copied per write, <= SNIFF_CONTENT_MAX */
};

/* What raw_exit hands capture_write (per CPU, armed just before the tail call), and where the
 * copy is up to: in map memory, which the verifier does not track by value, so that the paths
 * through one copy step merge before the next (in registers they multiplied at every step). */
struct sniff_content_job {
    u64 file;
    s64 fd;
    s64 ret;
    u32 nr;
    u32 armed;
    struct sniff_file_id id;
    /* an io_uring completion (kind SNIFF_CK_URING*) arms these; a syscall's are read from its
     * arguments */
    u32 kind;
    u32 tgid;            /* the submitting thread, not the io_uring worker that may complete it */
    u32 tid;
    u32 iov_kernel;      /* the iovecs are in content_iovs (kernel memory), not the process's */
    u64 req;             /* the io_kiocb: content_iovs' key */
    u64 src;             /* the buffer, or the iovec array */
    u64 srccnt;          /* the iovecs */
    u64 offset;
    char comm[SNIFF_COMM_LEN];
    u64 want;            /* bytes to copy: min(ret, max) */
    u64 copied;
    u64 seg;             /* user address of the piece being copied, and what is left of it */
    u64 left;
    u64 iov;             /* writev & co: the iovec array, its length, the next iovec */
    u64 iovcnt;
    u64 next_iov;
};

/* A content record as it crosses the ring buffer: this header, then data_len bytes. ts, ino,
 * ret and op sit where struct sniff_event has them: op tells the two apart. */
struct sniff_content {
    u64 ts;              /* CLOCK_MONOTONIC ns, at the write's exit */
    u64 ino;
    s64 ret;             /* bytes the write wrote */
    u32 op;              /* SNIFF_OP_CONTENT */
    u32 pid;
    u32 tid;
    u32 uid;
    u64 offset;          /* where in the file the bytes landed */
    u64 cgroup;
    u64 path_hash;       /* with dev and ino: the path of the write's record (see announced) */
    u32 dev;
    s32 fd;
    u32 data_len;        /* bytes copied: min(ret, max) unless flags say why not */
    u16 mode;
    u16 flags;           /* enum sniff_content_flag */
    char comm[SNIFF_COMM_LEN];
    char data[SNIFF_CONTENT_BUF];
};

#endif
