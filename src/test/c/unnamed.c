/*
 * cryo test fixture: files without a name, each checking itself.
 *
 *   unnamed memfd
 *     The parent makes memfd "cryo memfd" (MFD_ALLOW_SEALING, fd 3): 4 MiB, data at [0, 1 MiB) and
 *     [3 MiB, 3 MiB + 64 KiB), holes elsewhere; maps it MAP_SHARED read-write; seals it with
 *     F_SEAL_SHRINK|F_SEAL_GROW; leaves fd 3 at offset 12345 and opens a second description of it read-only
 *     through /proc/self/fd/3 (fd 4, O_RDONLY|O_NONBLOCK, offset 777). It makes memfd "only mapped" too,
 *     writes it, maps it shared and closes its fd; and memfd "write sealed" (fd 5): 8 KiB, sealed with
 *     F_SEAL_WRITE|F_SEAL_SEAL, mapped shared read-only. Then it forks a child that inherits the mappings and
 *     fds and echoes: whenever word 0 of the first two mappings changes to n, it writes n + 1 into word 1.
 *   unnamed fifo DIR
 *     Makes FIFO DIR/fifo, opens it for reading (fd 3, O_NONBLOCK) and writing (fd 4), writes 10 KiB of a
 *     pattern into it and removes the FIFO.
 *   unnamed cwd DIR
 *     Makes DIR/gone (mode 0751), enters it and removes it.
 *   unnamed root DIR
 *     Makes DIR/jail (mode 0751), chroots into it, enters it (chdir "/") and removes it through an fd of DIR
 *     opened before: its root and cwd are one removed directory.
 *   unnamed rootonly DIR
 *     The same without chdir: its cwd stays the directory it was started in (check: always OK).
 *
 * Prints "READY <pid> <child pid or 0>". Commands on stdin:
 *   check   checks everything it set up (contents, name, seals, offsets, flags, that the parent's writes
 *           reach the child through each shared mapping and back; the FIFO's bytes read back; the deleted
 *           cwd) and prints "OK" or "FAIL <reason>" (the fifo check consumes the bytes: once only)
 *   quit    kills the child, reaps it, prints "BYE" and exits 0
 *
 * Build: gcc -O1 -Wall -o unnamed unnamed.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SEAL 1
#define F_SEAL_SHRINK 2
#define F_SEAL_GROW 4
#define F_SEAL_WRITE 8
#endif

#define MIB (1024L * 1024)
#define SIZE (4 * MIB)
#define ONLY_SIZE (64 * 1024)
#define FIFO_BYTES 10240
#define WS_SIZE 8192

static char failure[512];
static pid_t child;
static volatile uint64_t *shared_map, *only_map;
static const unsigned char *ws_map;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
    if (failure[0]) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(failure, sizeof failure, fmt, ap);
    va_end(ap);
    return -1;
}

static unsigned char pattern(long off) {
    return (unsigned char)((off * 7 + off / 4096) & 0xff);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static void echo_forever(void) {
    uint64_t last0 = 0, last1 = 0;
    for (;;) {
        uint64_t a = shared_map[0], b = only_map[0];
        if (a != last0) {
            shared_map[1] = a + 1;
            last0 = a;
        }
        if (b != last1) {
            only_map[1] = b + 1;
            last1 = b;
        }
        sleep_ms(1);
    }
}

static char *link_of(int fd) {
    static char buf[PATH_MAX];
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(p, buf, sizeof buf - 1);
    buf[n < 0 ? 0 : n] = 0;
    return buf;
}

static void setup_memfd(void) {
    int fd = memfd_create("cryo memfd", MFD_ALLOW_SEALING);
    if (fd != 3) { fprintf(stderr, "memfd_create gave fd %d\n", fd); exit(2); }
    if (ftruncate(fd, SIZE) < 0) { perror("ftruncate"); exit(2); }
    char *m = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) { perror("mmap"); exit(2); }
    for (long i = 0; i < MIB; i++) m[i] = pattern(i);
    for (long i = 3 * MIB; i < 3 * MIB + 64 * 1024; i++) m[i] = pattern(i);
    memset(m, 0, 16);          /* the two echo words */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) { perror("F_ADD_SEALS"); exit(2); }
    lseek(fd, 12345, SEEK_SET);
    int ro = open("/proc/self/fd/3", O_RDONLY | O_NONBLOCK);
    if (ro != 4) { fprintf(stderr, "reopen gave fd %d\n", ro); exit(2); }
    lseek(ro, 777, SEEK_SET);
    shared_map = (volatile uint64_t *)m;

    /* fd 5: write-sealed and closed to further seals, mapped shared read-only */
    int ws = memfd_create("write sealed", MFD_ALLOW_SEALING);
    if (ws != 5) { fprintf(stderr, "memfd_create gave fd %d\n", ws); exit(2); }
    unsigned char buf[WS_SIZE];
    for (long i = 0; i < WS_SIZE; i++) buf[i] = pattern(i + 3);
    if (write(ws, buf, WS_SIZE) != WS_SIZE) { perror("write"); exit(2); }
    /* sealed first: a shared mapping made after F_SEAL_WRITE may not become writable (no mw), one made before would keep the seal off */
    if (fcntl(ws, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SEAL) < 0) { perror("F_ADD_SEALS write"); exit(2); }
    ws_map = mmap(NULL, WS_SIZE, PROT_READ, MAP_SHARED, ws, 0);
    if (ws_map == MAP_FAILED) { perror("mmap ws"); exit(2); }

    int only = memfd_create("only mapped", MFD_CLOEXEC);
    if (ftruncate(only, ONLY_SIZE) < 0) { perror("ftruncate"); exit(2); }
    char *o = mmap(NULL, ONLY_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, only, 0);
    if (o == MAP_FAILED) { perror("mmap"); exit(2); }
    for (long i = 16; i < ONLY_SIZE; i++) o[i] = pattern(i + 1);
    close(only);
    only_map = (volatile uint64_t *)o;
}

/* Writes n into word 0 of map and waits (up to 20 s) for the child to answer n + 1 in word 1. */
static int echo(volatile uint64_t *map, uint64_t n, const char *what) {
    map[0] = n;
    for (int i = 0; i < 20000; i++) {
        if (map[1] == n + 1) return 0;
        sleep_ms(1);
    }
    return fail("the child did not answer %llu through %s (word 1 is %llu)", (unsigned long long)n, what, (unsigned long long)map[1]);
}

static int check_memfd(void) {
    static uint64_t round = 100;
    if (strcmp(link_of(3), "/memfd:cryo memfd (deleted)") != 0) return fail("fd 3 is '%s'", link_of(3));
    if (strcmp(link_of(4), "/memfd:cryo memfd (deleted)") != 0) return fail("fd 4 is '%s'", link_of(4));
    struct stat a, b;
    fstat(3, &a);
    fstat(4, &b);
    if (a.st_ino != b.st_ino || a.st_dev != b.st_dev) return fail("fd 3 and fd 4 are not one file");
    if (a.st_size != SIZE) return fail("size %ld", (long)a.st_size);
    if (a.st_nlink != 0) return fail("nlink %ld", (long)a.st_nlink);
    int seals = fcntl(3, F_GET_SEALS);
    if (seals != (F_SEAL_SHRINK | F_SEAL_GROW)) return fail("seals 0x%x", seals);
    if (ftruncate(3, SIZE * 2) == 0 || errno != EPERM) return fail("growing the sealed memfd did not fail with EPERM");
    if (lseek(3, 0, SEEK_CUR) != 12345) return fail("fd 3 offset %ld", (long)lseek(3, 0, SEEK_CUR));
    if (lseek(4, 0, SEEK_CUR) != 777) return fail("fd 4 offset %ld", (long)lseek(4, 0, SEEK_CUR));
    int fl3 = fcntl(3, F_GETFL), fl4 = fcntl(4, F_GETFL);
    if ((fl3 & O_ACCMODE) != O_RDWR) return fail("fd 3 flags 0%o", fl3);
    if ((fl4 & O_ACCMODE) != O_RDONLY || !(fl4 & O_NONBLOCK)) return fail("fd 4 flags 0%o", fl4);
    if (write(4, "x", 1) != -1) return fail("fd 4 could write");
    const char *m = (const char *)shared_map;
    for (long i = 16; i < SIZE; i++) {
        unsigned char want = (i < MIB || (i >= 3 * MIB && i < 3 * MIB + 64 * 1024)) ? pattern(i) : 0;
        if ((unsigned char)m[i] != want) return fail("memfd byte %ld is %d, not %d", i, (unsigned char)m[i], want);
    }
    char byte;
    if (pread(4, &byte, 1, 3 * MIB + 5) != 1 || (unsigned char)byte != pattern(3 * MIB + 5)) return fail("pread through fd 4");
    const char *o = (const char *)only_map;
    for (long i = 16; i < ONLY_SIZE; i++)
        if ((unsigned char)o[i] != pattern(i + 1)) return fail("only-mapped byte %ld is %d", i, (unsigned char)o[i]);
    if (strcmp(link_of(5), "/memfd:write sealed (deleted)") != 0) return fail("fd 5 is '%s'", link_of(5));
    int ws = fcntl(5, F_GET_SEALS);
    if (ws != (F_SEAL_WRITE | F_SEAL_SEAL)) return fail("fd 5 seals 0x%x", ws);
    if (pwrite(5, "x", 1, 0) != -1 || errno != EPERM) return fail("writing the write-sealed memfd did not fail with EPERM");
    if (fcntl(5, F_ADD_SEALS, F_SEAL_SHRINK) != -1 || errno != EPERM) return fail("F_SEAL_SEAL did not stop a new seal");
    for (long i = 0; i < WS_SIZE; i++)
        if (ws_map[i] != pattern(i + 3)) return fail("write-sealed byte %ld is %d", i, ws_map[i]);
    round += 10;
    if (echo(shared_map, round, "the memfd's mapping") < 0) return -1;
    if (echo(only_map, round + 1, "the only-mapped memfd") < 0) return -1;
    /* the parent's write through fd 3 shows in the child's mapping too: one object */
    uint64_t v = round + 5;
    if (pwrite(3, &v, 8, 0) != 8) return fail("pwrite fd 3");
    for (int i = 0; i < 20000 && shared_map[1] != v + 1; i++) sleep_ms(1);
    if (shared_map[1] != v + 1) return fail("a write through fd 3 did not reach the child's mapping");
    return 0;
}

static int check_fifo(void) {
    const char *l = link_of(3);
    size_t n = strlen(l);
    if (n < 10 || strcmp(l + n - 10, " (deleted)") != 0) return fail("fd 3 is '%s'", l);
    struct stat st;
    fstat(3, &st);
    if (!S_ISFIFO(st.st_mode) || st.st_nlink != 0) return fail("fd 3 mode 0%o nlink %ld", st.st_mode, (long)st.st_nlink);
    if ((st.st_mode & 07777) != 0640) return fail("fifo mode 0%o", st.st_mode & 07777);
    if (strcmp(link_of(4), l) != 0) return fail("fd 4 is '%s'", link_of(4));
    if (!(fcntl(3, F_GETFL) & O_NONBLOCK)) return fail("fd 3 lost O_NONBLOCK");
    if ((fcntl(4, F_GETFL) & O_ACCMODE) != O_WRONLY) return fail("fd 4 is not write-only");
    unsigned char buf[FIFO_BYTES + 1];
    long got = 0;
    for (;;) {
        ssize_t r = read(3, buf + got, sizeof buf - got);
        if (r > 0) { got += r; continue; }
        break;
    }
    if (got != FIFO_BYTES) return fail("read %ld bytes back, not %d", got, FIFO_BYTES);
    for (long i = 0; i < FIFO_BYTES; i++)
        if (buf[i] != pattern(i)) return fail("fifo byte %ld is %d", i, buf[i]);
    if (write(4, "ping", 4) != 4 || read(3, buf, 10) != 4 || memcmp(buf, "ping", 4) != 0) return fail("the FIFO does not pass new bytes");
    return 0;
}

static char cwd_path[PATH_MAX];

static int check_cwd(void) {
    char buf[PATH_MAX];
    /* getcwd(2) fails with ENOENT on a directory that was removed (fs/d_path.c) */
    if (getcwd(buf, sizeof buf) || errno != ENOENT) return fail("getcwd did not fail with ENOENT: %s", strerror(errno));
    char want[PATH_MAX + 16];
    snprintf(want, sizeof want, "%s (deleted)", cwd_path);
    char link[PATH_MAX];
    ssize_t n = readlink("/proc/self/cwd", link, sizeof link - 1);
    link[n < 0 ? 0 : n] = 0;
    if (strcmp(link, want) != 0) return fail("/proc/self/cwd is '%s'", link);
    struct stat st;
    if (stat(".", &st) < 0) return fail("stat(.): %s", strerror(errno));
    if (!S_ISDIR(st.st_mode) || st.st_nlink != 0 || (st.st_mode & 07777) != 0751) return fail(". mode 0%o nlink %ld", st.st_mode, (long)st.st_nlink);
    if (open("new", O_CREAT | O_WRONLY, 0600) >= 0 || errno != ENOENT) return fail("creating a file in the deleted cwd: %s", strerror(errno));
    if (access(cwd_path, F_OK) == 0) return fail("%s exists", cwd_path);
    return 0;
}

static int check_nothing(void) {
    return 0;
}

/* the root and cwd are one removed, empty directory of mode 0751 that nothing can be created in */
static int check_root(void) {
    char buf[PATH_MAX];
    if (getcwd(buf, sizeof buf) || errno != ENOENT) return fail("getcwd did not fail with ENOENT: %s", strerror(errno));
    struct stat root, cwd, up;
    if (stat("/", &root) < 0 || stat(".", &cwd) < 0 || stat("/..", &up) < 0) return fail("stat: %s", strerror(errno));
    if (root.st_ino != cwd.st_ino || root.st_dev != cwd.st_dev) return fail("/ and . are not one directory");
    if (up.st_ino != root.st_ino) return fail("/.. leads out of the root");
    if (!S_ISDIR(root.st_mode) || root.st_nlink != 0 || (root.st_mode & 07777) != 0751) return fail("/ mode 0%o nlink %ld", root.st_mode, (long)root.st_nlink);
    if (open("/new", O_CREAT | O_WRONLY, 0600) >= 0 || errno != ENOENT) return fail("creating a file in the deleted root: %s", strerror(errno));
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage\n"); return 2; }
    const char *mode = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    int (*check)(void);
    if (strcmp(mode, "memfd") == 0) {
        setup_memfd();
        child = fork();
        if (child == 0) echo_forever();
        check = check_memfd;
    } else if (strcmp(mode, "fifo") == 0 && argc > 2) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/fifo", argv[2]);
        if (mkfifo(path, 0640) < 0) { perror("mkfifo"); return 2; }
        chmod(path, 0640);
        int r = open(path, O_RDONLY | O_NONBLOCK), w = open(path, O_WRONLY);
        if (r != 3 || w != 4) { fprintf(stderr, "fifo fds %d %d\n", r, w); return 2; }
        unsigned char buf[FIFO_BYTES];
        for (long i = 0; i < FIFO_BYTES; i++) buf[i] = pattern(i);
        if (write(w, buf, FIFO_BYTES) != FIFO_BYTES) { perror("write fifo"); return 2; }
        unlink(path);
        check = check_fifo;
    } else if (strcmp(mode, "cwd") == 0 && argc > 2) {
        snprintf(cwd_path, sizeof cwd_path, "%s/gone", argv[2]);
        if (mkdir(cwd_path, 0751) < 0 || chmod(cwd_path, 0751) < 0 || chdir(cwd_path) < 0 || rmdir(cwd_path) < 0) { perror("cwd"); return 2; }
        check = check_cwd;
    } else if ((strcmp(mode, "root") == 0 || strcmp(mode, "rootonly") == 0) && argc > 2) {
        int parent = open(argv[2], O_RDONLY | O_DIRECTORY);
        snprintf(cwd_path, sizeof cwd_path, "%s/jail", argv[2]);
        if (parent < 0 || mkdir(cwd_path, 0751) < 0 || chmod(cwd_path, 0751) < 0 || chroot(cwd_path) < 0 || (mode[4] == 0 && chdir("/") < 0)
                || unlinkat(parent, "jail", AT_REMOVEDIR) < 0 || close(parent) < 0) { perror("root"); return 2; }
        check = mode[4] == 0 ? check_root : check_nothing;
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    printf("READY %d %d\n", getpid(), child);
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "check", 5) == 0) {
            failure[0] = 0;
            if (check() == 0) printf("OK\n");
            else printf("FAIL %s\n", failure);
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        }
    }
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    printf("BYE\n");
    return 0;
}
