/* Drives io_uring with raw syscalls (no liburing), for tests/kernel/test_uring.py.
 *
 *   uring CMD [ARGS] [CMD [ARGS]]...
 *
 * Each command is one SQE, submitted and waited for on its own; its CQE result is printed as
 * "CMD RES". The pid is printed first (the test harness tells processes apart by it). The
 * "current fd" is the one the last openat/sysopen returned. URING_SQPOLL=1 in the environment:
 * a ring with IORING_SETUP_SQPOLL.
 *
 *   openat PATH FLAGS        IORING_OP_OPENAT (dfd AT_FDCWD); FLAGS as a number
 *   openat2 PATH FLAGS       IORING_OP_OPENAT2
 *   openat_direct PATH FLAGS IORING_OP_OPENAT into slot 0 of the fixed-file table (no fd)
 *   sysopen PATH FLAGS       open(2), not through the ring; syswrite N, sysclose: likewise
 *   write N | writev N | write_fixed N | writev_fixed N       N bytes of 'x' to the current fd
 *                                                            (writev*: in two iovecs)
 *   pwrite N OFF             IORING_OP_WRITE of N bytes at offset OFF
 *   alphabet                 the bytes written from now on: a..z repeated, not 'x'
 *   read N | readv N | read_fixed N                          N bytes from it, at offset 0
 *   writes K N               K writes of N bytes, one SQE each (RES: the bytes in all)
 *   write_fixed_file N       IORING_OP_WRITE on the current fd registered as fixed file 0
 *   write_skip N             IORING_OP_WRITE with IOSQE_CQE_SKIP_SUCCESS (no CQE: RES is "-")
 *   fallocate OFF LEN MODE | ftruncate LEN | close
 *   splice_in N              N bytes written to a pipe, then spliced into the current fd
 *   splice_out N             N bytes of the current fd (offset 0) spliced into a pipe
 *   renameat OLD NEW | unlinkat PATH
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* Newer than the installed uapi headers may know. */
#define OP_FTRUNCATE 55
#define OP_READV_FIXED 60
#define OP_WRITEV_FIXED 61

#define BUF_SIZE (4 << 20)

struct ring {
    int fd;
    unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
};

static struct ring ring;
static char *buf;
static int cur_fd = -1;
static int fixed_registered;

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static void ring_setup(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    if (getenv("URING_SQPOLL"))
        p.flags |= IORING_SETUP_SQPOLL;    /* submissions run in the ring's own kernel thread */
    ring.fd = syscall(__NR_io_uring_setup, 8, &p);
    if (ring.fd < 0)
        die("io_uring_setup");
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (cq_len > sq_len)
        sq_len = cq_len;    /* IORING_FEAT_SINGLE_MMAP: one mapping for both rings */
    char *sq = mmap(0, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring.fd, IORING_OFF_SQ_RING);
    if (sq == MAP_FAILED)
        die("mmap sq");
    ring.sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_POPULATE, ring.fd, IORING_OFF_SQES);
    if (ring.sqes == MAP_FAILED)
        die("mmap sqes");
    ring.sq_tail = (unsigned *)(sq + p.sq_off.tail);
    ring.sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    ring.sq_array = (unsigned *)(sq + p.sq_off.array);
    ring.cq_head = (unsigned *)(sq + p.cq_off.head);
    ring.cq_tail = (unsigned *)(sq + p.cq_off.tail);
    ring.cq_mask = (unsigned *)(sq + p.cq_off.ring_mask);
    ring.cqes = (struct io_uring_cqe *)(sq + p.cq_off.cqes);
    buf = aligned_alloc(4096, BUF_SIZE);
    if (!buf)
        die("alloc");
    memset(buf, 'x', BUF_SIZE);
    struct iovec iov = { buf, BUF_SIZE };
    if (syscall(__NR_io_uring_register, ring.fd, IORING_REGISTER_BUFFERS, &iov, 1) < 0)
        die("register buffers");
}

static struct io_uring_sqe *sqe_new(int op, int fd)
{
    unsigned tail = *ring.sq_tail;
    unsigned idx = tail & *ring.sq_mask;
    struct io_uring_sqe *sqe = &ring.sqes[idx];
    memset(sqe, 0, sizeof(*sqe));
    sqe->opcode = op;
    sqe->fd = fd;
    sqe->user_data = 0x5eed0000u + tail;
    ring.sq_array[idx] = idx;
    return sqe;
}

/* Submit the SQE prepared by sqe_new and wait for its CQE (unless none is to come). */
static int submit(int wait)
{
    __atomic_store_n(ring.sq_tail, *ring.sq_tail + 1, __ATOMIC_RELEASE);
    if (syscall(__NR_io_uring_enter, ring.fd, 1, wait, IORING_ENTER_GETEVENTS | IORING_ENTER_SQ_WAKEUP,
                NULL, 0) < 0)
        die("io_uring_enter");
    if (!wait)
        return 0;
    unsigned head = *ring.cq_head;
    while (head == __atomic_load_n(ring.cq_tail, __ATOMIC_ACQUIRE))
        ;
    int res = ring.cqes[head & *ring.cq_mask].res;
    __atomic_store_n(ring.cq_head, head + 1, __ATOMIC_RELEASE);
    return res;
}

static int rw_at(int op, size_t n, int fixed_file, uint64_t off);

static int rw(int op, size_t n, int fixed_file)
{
    int is_read = op == IORING_OP_READ || op == IORING_OP_READV || op == IORING_OP_READ_FIXED
                  || op == OP_READV_FIXED;
    return rw_at(op, n, fixed_file, is_read ? 0 : (uint64_t)-1);    /* writes: at the file position */
}

static int rw_at(int op, size_t n, int fixed_file, uint64_t off)
{
    if (n > BUF_SIZE)
        n = BUF_SIZE;
    struct iovec iov[2] = { { buf, n / 2 }, { buf + n / 2, n - n / 2 } };
    struct io_uring_sqe *sqe = sqe_new(op, fixed_file ? 0 : cur_fd);
    int vec = op == IORING_OP_READV || op == IORING_OP_WRITEV || op == OP_READV_FIXED
              || op == OP_WRITEV_FIXED;
    sqe->addr = vec ? (uint64_t)(uintptr_t)iov : (uint64_t)(uintptr_t)buf;
    sqe->len = vec ? 2 : n;
    sqe->off = off;
    if (fixed_file)
        sqe->flags |= IOSQE_FIXED_FILE;
    return submit(1);
}

/* direct: into slot 0 of the ring's fixed-file table (no fd); the result is 0 */
static int open_at(int op, const char *path, int flags, int direct)
{
    struct open_how how = { .flags = flags, .mode = flags & (O_CREAT | O_TMPFILE) ? 0644 : 0 };
    struct io_uring_sqe *sqe = sqe_new(op, AT_FDCWD);
    if (direct) {
        int sparse = -1;
        if (!fixed_registered && syscall(__NR_io_uring_register, ring.fd, IORING_REGISTER_FILES, &sparse, 1) < 0)
            die("register files");
        fixed_registered = 1;
        sqe->file_index = 1;
    }
    sqe->addr = (uint64_t)(uintptr_t)path;
    if (op == IORING_OP_OPENAT2) {
        sqe->len = sizeof(how);
        sqe->off = (uint64_t)(uintptr_t)&how;
    } else {
        sqe->open_flags = flags;
        sqe->len = 0644;
    }
    int res = submit(1);
    if (res >= 0 && !direct)
        cur_fd = res;
    return res;
}

static int splice_pipe(size_t n, int into_file)
{
    int p[2];
    if (pipe(p) < 0 || fcntl(p[1], F_SETPIPE_SZ, 1 << 20) < 0)
        die("pipe");
    if (into_file && write(p[1], buf, n) != (ssize_t)n)
        die("write pipe");
    struct io_uring_sqe *sqe = sqe_new(IORING_OP_SPLICE, into_file ? cur_fd : p[1]);
    sqe->splice_fd_in = into_file ? p[0] : cur_fd;
    sqe->splice_off_in = into_file ? (uint64_t)-1 : 0;
    sqe->off = (uint64_t)-1;
    sqe->len = n;
    int res = submit(1);
    close(p[0]);
    close(p[1]);
    return res;
}

int main(int argc, char **argv)
{
    printf("%d\n", getpid());
    fflush(stdout);
    ring_setup();
    for (int i = 1; i < argc; i++) {
        const char *cmd = argv[i];
        long res;
#define ARG(k) (i + (k) < argc ? argv[i + (k)] : (fprintf(stderr, "%s: missing argument\n", cmd), exit(2), ""))
#define NUM(k) strtoll(ARG(k), 0, 0)
        if (!strcmp(cmd, "openat") || !strcmp(cmd, "openat2")) {
            res = open_at(cmd[6] ? IORING_OP_OPENAT2 : IORING_OP_OPENAT, ARG(1), NUM(2), 0);
            i += 2;
        } else if (!strcmp(cmd, "openat_direct")) {
            res = open_at(IORING_OP_OPENAT, ARG(1), NUM(2), 1);
            i += 2;
        } else if (!strcmp(cmd, "sysopen")) {
            res = cur_fd = open(ARG(1), NUM(2), 0644);
            i += 2;
        } else if (!strcmp(cmd, "syswrite")) {
            res = write(cur_fd, buf, NUM(1)), i++;
        } else if (!strcmp(cmd, "sysclose")) {
            res = close(cur_fd);
        } else if (!strcmp(cmd, "writes")) {
            long n = NUM(1), size = NUM(2);
            res = 0;
            for (long k = 0; k < n; k++) {
                int r = rw(IORING_OP_WRITE, size, 0);
                if (r < 0) {
                    res = r;
                    break;
                }
                res += r;
            }
            i += 2;
        } else if (!strcmp(cmd, "alphabet")) {
            for (size_t k = 0; k < BUF_SIZE; k++)
                buf[k] = 'a' + k % 26;
            printf("%s -\n", cmd);
            continue;
        } else if (!strcmp(cmd, "pwrite")) {
            res = rw_at(IORING_OP_WRITE, NUM(1), 0, NUM(2));
            i += 2;
        } else if (!strcmp(cmd, "write")) {
            res = rw(IORING_OP_WRITE, NUM(1), 0), i++;
        } else if (!strcmp(cmd, "writev")) {
            res = rw(IORING_OP_WRITEV, NUM(1), 0), i++;
        } else if (!strcmp(cmd, "write_fixed")) {
            res = rw(IORING_OP_WRITE_FIXED, NUM(1), 0), i++;
        } else if (!strcmp(cmd, "writev_fixed")) {
            res = rw(OP_WRITEV_FIXED, NUM(1), 0), i++;
        } else if (!strcmp(cmd, "read")) {
            res = rw(IORING_OP_READ, NUM(1), 0), i++;
        } else if (!strcmp(cmd, "readv")) {
            res = rw(IORING_OP_READV, NUM(1), 0), i++;
        } else if (!strcmp(cmd, "read_fixed")) {
            res = rw(IORING_OP_READ_FIXED, NUM(1), 0), i++;
        } else if (!strcmp(cmd, "write_fixed_file")) {
            if (!fixed_registered && syscall(__NR_io_uring_register, ring.fd, IORING_REGISTER_FILES, &cur_fd, 1) < 0)
                die("register files");
            fixed_registered = 1;
            res = rw(IORING_OP_WRITE, NUM(1), 1), i++;
        } else if (!strcmp(cmd, "write_skip")) {
            struct io_uring_sqe *sqe = sqe_new(IORING_OP_WRITE, cur_fd);
            sqe->addr = (uint64_t)(uintptr_t)buf;
            sqe->len = NUM(1);
            sqe->off = (uint64_t)-1;
            sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
            submit(0);
            i++;
            printf("%s -\n", cmd);
            continue;
        } else if (!strcmp(cmd, "fallocate")) {
            struct io_uring_sqe *sqe = sqe_new(IORING_OP_FALLOCATE, cur_fd);
            sqe->off = NUM(1);
            sqe->addr = NUM(2);
            sqe->len = NUM(3);
            res = submit(1);
            i += 3;
        } else if (!strcmp(cmd, "ftruncate")) {
            struct io_uring_sqe *sqe = sqe_new(OP_FTRUNCATE, cur_fd);
            sqe->off = NUM(1);
            res = submit(1);
            i++;
        } else if (!strcmp(cmd, "close")) {
            sqe_new(IORING_OP_CLOSE, cur_fd);
            res = submit(1);
        } else if (!strcmp(cmd, "splice_in") || !strcmp(cmd, "splice_out")) {
            res = splice_pipe(NUM(1), cmd[7] == 'i');
            i++;
        } else if (!strcmp(cmd, "renameat")) {
            struct io_uring_sqe *sqe = sqe_new(IORING_OP_RENAMEAT, AT_FDCWD);
            sqe->addr = (uint64_t)(uintptr_t)ARG(1);
            sqe->len = AT_FDCWD;
            sqe->addr2 = (uint64_t)(uintptr_t)ARG(2);
            res = submit(1);
            i += 2;
        } else if (!strcmp(cmd, "unlinkat")) {
            struct io_uring_sqe *sqe = sqe_new(IORING_OP_UNLINKAT, AT_FDCWD);
            sqe->addr = (uint64_t)(uintptr_t)ARG(1);
            res = submit(1);
            i++;
        } else {
            fprintf(stderr, "unknown command %s\n", cmd);
            return 2;
        }
        printf("%s %ld\n", cmd, res);
    }
    return 0;
}
