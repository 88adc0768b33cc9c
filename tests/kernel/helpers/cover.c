/* Real processes doing the file operations the coverage tests need, where Python cannot
 * (clone with CLONE_FILES, a raw mmap, chroot, a new mount namespace).
 * Usage: cover <case> <args...>; prints its pid first, like the tests' Python scripts. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "cover: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* clone_files OUTSIDE INSIDE: the child shares the parent's fd table (no CLONE_THREAD). */
static int ev_go[2], ev_done[2];
static const char *inside_path;
static int shared_fd;

static void wait_byte(int fd) { char c; if (read(fd, &c, 1) != 1) die("sync read"); }
static void send_byte(int fd) { if (write(fd, "x", 1) != 1) die("sync write"); }

static int clone_child(void *arg)
{
    (void)arg;
    char buf[100];
    memset(buf, 'a', sizeof(buf));
    /* An out-of-scope verdict for (child, fd), cached by the write. */
    if (write(shared_fd, buf, 10) != 10) die("child write outside");
    send_byte(ev_done[1]);
    wait_byte(ev_go[0]);                /* the parent closed the fd */
    int fd = open(inside_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd != shared_fd) { fprintf(stderr, "cover: fd %d, wanted %d\n", fd, shared_fd); return 3; }
    for (int i = 0; i < 20; i++)
        if (write(fd, buf, 100) != 100) die("child write inside");
    close(fd);
    return 0;
}

static int clone_files(const char *outside, const char *inside)
{
    inside_path = inside;
    if (pipe(ev_go) || pipe(ev_done)) die("pipe");
    shared_fd = open(outside, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (shared_fd < 0) die("open outside");
    size_t size = 1 << 16;
    char *stack = mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) die("stack");
    pid_t child = clone(clone_child, stack + size, CLONE_FILES | SIGCHLD, 0);
    if (child < 0) die("clone");
    printf("%d\n", child);
    fflush(stdout);
    wait_byte(ev_done[0]);
    close(shared_fd);                   /* by the parent: the child's verdict must die too */
    send_byte(ev_go[1]);
    int status;
    waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 4;
}

/* mmap_write FILE BYTES: a shared writable mapping, every page written, msync'd. */
static int mmap_write(const char *path, long bytes)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open");
    if (ftruncate(fd, bytes)) die("ftruncate");
    char *p = mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) die("mmap");
    for (long i = 0; i < bytes; i += 512)
        p[i] = 'm';
    if (msync(p, bytes, MS_SYNC)) die("msync");
    /* Written again after the writeback: each page is dirtied a second time. */
    for (long i = 0; i < bytes; i += 4096)
        p[i] = 'n';
    if (msync(p, bytes, MS_SYNC)) die("msync 2");
    munmap(p, bytes);
    /* Neither a private nor a read-only mapping can change the file. */
    char *q = mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (q == MAP_FAILED) die("mmap private");
    q[0] = 'p';
    munmap(q, bytes);
    char *r = mmap(0, bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (r == MAP_FAILED) die("mmap ro");
    volatile char c = r[0];
    (void)c;
    munmap(r, bytes);
    close(fd);
    return 0;
}

/* fallocate FILE: grow by 1 MiB, keep-size preallocation, punch a hole; posix_fallocate. */
static int do_fallocate(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open");
    if (fallocate(fd, 0, 0, 1 << 20)) die("fallocate");
    if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 1 << 20, 65536)) die("fallocate keep");
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192)) die("punch");
    if (posix_fallocate(fd, 0, 2 << 20)) die("posix_fallocate");
    close(fd);
    return 0;
}

/* close_range DIR N: N files opened under DIR (with pipes between), then one close_range. */
static int do_close_range(const char *dir, int n)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < (rlim_t)n * 2 + 64) {
        lim.rlim_cur = lim.rlim_max < (rlim_t)n * 2 + 64 ? lim.rlim_max : (rlim_t)n * 2 + 64;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    int first = -1, last = -1;
    char path[4096];
    if (mkdir(dir, 0755) && errno != EEXIST) die("mkdir");
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/cr%d", dir, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) die("open");
        if (first < 0) first = fd;
        last = fd;
        if (i % 7 == 0) {
            int p[2];
            if (pipe(p)) die("pipe");
            last = p[1];
        }
    }
    if (syscall(SYS_close_range, first, ~0u, 0)) die("close_range");
    (void)last;
    return 0;
}

/* Path operations by name, as a chrooted (or namespaced) process sees them. */
static int path_ops(void)
{
    if (unlink("/w/gone")) die("unlink");
    if (rename("/w/old", "/w/new")) die("rename");
    if (chdir("/w")) die("chdir");
    if (rename("new", "newer")) die("rename relative");
    if (open("/w/missing", O_RDONLY) >= 0 || errno != ENOENT) die("open missing");
    return 0;
}

/* chroot ROOT: ROOT/w is (or holds) the watched tree. */
static int do_chroot(const char *root)
{
    if (chroot(root) || chdir("/")) die("chroot");
    return path_ops();
}

/* mntns NEWROOT: a container's view: a new mount namespace whose root is NEWROOT (pivot_root),
 * NEWROOT/w being a bind mount of the watched tree made by the caller... or by us: BIND. */
static int do_mntns(const char *newroot, const char *bind_src)
{
    char w[4096], old[4096];
    if (unshare(CLONE_NEWNS)) die("unshare");
    if (mount(0, "/", 0, MS_REC | MS_PRIVATE, 0)) die("make private");
    if (mount(newroot, newroot, 0, MS_BIND, 0)) die("bind newroot");
    snprintf(w, sizeof(w), "%s/w", newroot);
    if (mount(bind_src, w, 0, MS_BIND, 0)) die("bind watched");
    snprintf(old, sizeof(old), "%s/old", newroot);
    mkdir(old, 0755);
    if (syscall(SYS_pivot_root, newroot, old)) die("pivot_root");
    if (chdir("/")) die("chdir");
    if (umount2("/old", MNT_DETACH)) die("umount old");
    /* Stay alive a moment after the operations: userspace resolves their paths through
     * /proc/PID/root while the process lives. */
    int r = path_ops();
    usleep(300 * 1000);
    return r;
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: cover CASE ARGS\n"); return 2; }
    const char *c = argv[1];
    if (strcmp(c, "clone_files") != 0) {
        printf("%d\n", getpid());
        fflush(stdout);
    }
    if (!strcmp(c, "clone_files") && argc == 4) return clone_files(argv[2], argv[3]);
    if (!strcmp(c, "mmap_write") && argc == 4) return mmap_write(argv[2], atol(argv[3]));
    if (!strcmp(c, "fallocate") && argc == 3) return do_fallocate(argv[2]);
    if (!strcmp(c, "close_range") && argc == 4) return do_close_range(argv[2], atoi(argv[3]));
    if (!strcmp(c, "chroot") && argc == 3) return do_chroot(argv[2]);
    if (!strcmp(c, "mntns") && argc == 4) return do_mntns(argv[2], argv[3]);
    fprintf(stderr, "cover: bad arguments\n");
    return 2;
}
