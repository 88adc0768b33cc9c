/* The one definition of everything the kernel side and Python share: record layouts, op codes,
 * flags, counter slots and limits. Python reads the structs from BCC's debug info and the
 * enums/defines from this file (probes/abi.py), so nothing here is written twice. */
#ifndef SNIFF_H
#define SNIFF_H

#define SNIFF_COMM_LEN 16
#define SNIFF_PATH_MAX 4096      /* PATH_MAX; a path of 4095 bytes plus its NUL */
#define SNIFF_NAME_MAX 255       /* longest directory entry name */
#define SNIFF_MAX_DEPTH 160      /* components walked per path; deeper is reported truncated */
/* Variable data goes at a masked offset so the verifier can bound every write; the slack
 * after the mask holds the last string read (at most PATH_MAX bytes). */
#define SNIFF_DATA_MASK 32767
#define SNIFF_DATA_SIZE (SNIFF_DATA_MASK + 1 + SNIFF_PATH_MAX)
#define SNIFF_CLOSE_RANGE_BATCH 256   /* fds examined per close_range tail call */
#define SNIFF_AT_FDCWD -100

enum sniff_op {
    SNIFF_OP_OPEN = 1,
    SNIFF_OP_READ = 2,
    SNIFF_OP_WRITE = 3,
    SNIFF_OP_CLOSE = 4,
    SNIFF_OP_RENAME = 5,
    SNIFF_OP_UNLINK = 6,
    SNIFF_OP_TRUNCATE = 7,
    /* process table, never shown as file records */
    SNIFF_OP_FORK = 16,
    SNIFF_OP_EXEC = 17,
    SNIFF_OP_EXIT = 18,
};

/* How a syscall names its file(s); decides what the exit handler resolves. */
enum sniff_shape {
    SNIFF_SHAPE_FD = 1,          /* a = fd */
    SNIFF_SHAPE_FD_PAIR = 2,     /* a = fd read from, b = fd written to (sendfile, splice...) */
    SNIFF_SHAPE_OPEN = 3,        /* a = dirfd, s1 = path */
    SNIFF_SHAPE_PATH = 4,        /* a = dirfd, s1 = path (unlink, truncate) */
    SNIFF_SHAPE_RENAME = 5,      /* a = old dirfd, s1 = old path, b = new dirfd, s2 = new path */
};

/* sniff_name.flags */
enum sniff_name_flag {
    SNIFF_NAME_TRUNCATED = 1,    /* the walk gave up (too long or too deep) */
    SNIFF_NAME_AT_ROOT = 2,      /* the walk reached the root without meeting a watched dir */
    SNIFF_NAME_STR_TRUNCATED = 4,/* the string the process passed did not fit */
};

/* sniff_event.flags */
enum sniff_event_flag {
    SNIFF_EV_DIR = 1,            /* rmdir / unlinkat(AT_REMOVEDIR) */
};

/* Slots of the per-CPU counters map. */
enum sniff_counter {
    SNIFF_CNT_RINGBUF_DROPS = 0,     /* records the ring buffer had no room for */
    SNIFF_CNT_TRUNCATED = 1,         /* paths that could not be completed */
    SNIFF_CNT_PENDING_FULL = 2,      /* syscalls whose enter state found no room */
    SNIFF_CNT_CLOSE_RANGE_SKIPPED = 3, /* fds a close_range closed beyond what we could walk */
    SNIFF_CNT_EVENTS = 4,            /* records submitted */
    SNIFF_CNT_MAX = 8,
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
    u32 count;
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
    char comm[SNIFF_COMM_LEN];
};

/* Key of the watched-directories map: the directory's filesystem and inode. */
struct sniff_watch_key {
    u32 dev;
    u32 pad;
    u64 ino;
};

/* State a syscall's enter leaves for its exit, per thread. */
struct sniff_pending {
    u32 op;
    u32 shape;
    s64 a;
    s64 b;
    u64 s1;              /* user pointers to path strings */
    u64 s2;
    u64 flags;
};

/* close_range walks one fd per tail call; this is where it is up to. */
struct sniff_close_cursor {
    u32 next;
    u32 last;
};

#endif
