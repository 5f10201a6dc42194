/*
 * cryo test fixture: files without a name (ghost files), each mode checking itself on command.
 *
 *   ghost shared DIR    DIR/ghost-shared: 3 pages of a pattern, mode 0604, owner 1234:5678, mtime fixed;
 *                       fd 3 O_RDWR at offset 1234 and a MAP_SHARED mapping of it, then unlinked;
 *                       a child forked after: the same description at fd 3 and the same mapping
 *   ghost sparse DIR    DIR/ghost-sparse: 1 GiB with three data extents (0: 4 KiB of 'A',
 *                       512 MiB: 64 KiB of 'B', 1 GiB - 8 KiB: 8 KiB of 'C'), fd 3 at offset 77, unlinked
 *   ghost tmpfile DIR   an O_TMPFILE file of DIR, mode 0640, 10000 bytes, fd 3 at offset 5000, and a
 *                       MAP_SHARED mapping of its first page
 *   ghost hardlink DIR  DIR/a and DIR/b one file (10 bytes); fd 3 O_RDWR of DIR/a at offset 7, then
 *                       DIR/a unlinked: the file still has a name (DIR/b)
 *
 * Prints "READY <pid> [<child pid>]". Commands on stdin:
 *   check   checks the mode's state, prints "OK <mode>" or "FAIL <reason>"; shared: the parent writes
 *           to the mapping, the child must see it and write back, and the parent must see that
 *   quit    (or EOF) kills the child, reaps it, prints BYE, exits 0
 *
 * Build: gcc -O1 -Wall -o ghost ghost.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
#define GIB (1024L * 1024 * 1024)
#define KCMP_FILE 0

static const char *mode, *dir;
static char fail[9000];
static char *map;
static pid_t child;
static int toChild[2], fromChild[2];
static const struct timespec mtime = {1000000000, 123456789};

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond) && !fail[0]) snprintf(fail, sizeof fail, __VA_ARGS__); \
    } while (0)

static void must(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "ghost: %s: %s\n", what, strerror(errno));
        exit(2);
    }
}

static char pattern(long i) {
    return (char) ('a' + (i * 7 + i / 4096) % 26);
}

static void writeAll(int fd, const char *buf, size_t n, off_t at) {
    while (n > 0) {
        ssize_t r = pwrite(fd, buf, n, at);
        must(r > 0, "pwrite");
        buf += r, at += r, n -= r;
    }
}

static void fillAt(int fd, off_t at, size_t n, char c) {
    char *buf = malloc(n);
    memset(buf, c, n);
    writeAll(fd, buf, n, at);
    free(buf);
}

static void toFd3(int fd) {
    if (fd != 3) {
        must(dup2(fd, 3) == 3, "dup2");
        close(fd);
    }
}

/* the fd's link ends in " (deleted)" and starts with prefix (if given), and the file has no name left */
static void checkDeleted(int fd, const char *prefix) {
    char p[64], link[4096];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(p, link, sizeof link - 1);
    CHECK(n > 0, "readlink fd %d: %s", fd, strerror(errno));
    if (n <= 0) return;
    link[n] = 0;
    CHECK(n > 10 && strcmp(link + n - 10, " (deleted)") == 0, "fd %d is %s, not deleted", fd, link);
    if (prefix) CHECK(strncmp(link, prefix, strlen(prefix)) == 0, "fd %d is %s, not %s...", fd, link, prefix);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_nlink == 0, "fd %d: nlink %ld, not 0", fd, (long) st.st_nlink);
}

static void checkContents(int fd, off_t from, size_t n, const char *what, char (*expect)(long)) {
    char *buf = malloc(n);
    ssize_t r = pread(fd, buf, n, from);
    CHECK(r == (ssize_t) n, "%s: pread %zd of %zu bytes", what, r, n);
    for (size_t i = 0; r == (ssize_t) n && i < n; i++) {
        if (buf[i] != expect(from + i)) {
            CHECK(0, "%s: byte %ld is %d, not %d", what, (long) (from + i), buf[i], expect(from + i));
            break;
        }
    }
    free(buf);
}

/* ---------------------------------------------------------------- shared */

/* the child: on each byte from the parent, checks the parent's mark in the mapping, writes its own */
static void childLoop(void) {
    char c;
    while (read(toChild[0], &c, 1) == 1) {
        char ok = map[100] == c && map[PAGE + 5] == pattern(PAGE + 5) ? 'y' : 'n';
        map[200] = (char) (c + 1);
        must(write(fromChild[1], &ok, 1) == 1, "child write");
    }
    _exit(0);
}

static void setupShared(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/ghost-shared", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    must(fd >= 0, path);
    toFd3(fd);
    char *buf = malloc(3 * PAGE);
    for (long i = 0; i < 3 * PAGE; i++) buf[i] = pattern(i);
    writeAll(3, buf, 3 * PAGE, 0);
    free(buf);
    map = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, 3, 0);
    must(map != MAP_FAILED, "mmap");
    must(fchown(3, 1234, 5678) == 0 && fchmod(3, 0604) == 0, "fchown/fchmod");
    struct timespec ts[2] = {mtime, mtime};
    must(futimens(3, ts) == 0, "futimens");
    must(lseek(3, 1234, SEEK_SET) == 1234, "lseek");
    must(unlink(path) == 0, "unlink");
    must(pipe(toChild) == 0 && pipe(fromChild) == 0, "pipe");
    child = fork();
    must(child >= 0, "fork");
    if (child == 0) childLoop();
}

static char mark = 'A';

static void checkShared(void) {
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s/ghost-shared (deleted)", dir);
    checkDeleted(3, prefix);
    struct stat st;
    CHECK(fstat(3, &st) == 0, "fstat");
    CHECK(st.st_size == 3 * PAGE, "size %ld", (long) st.st_size);
    CHECK((st.st_mode & 07777) == 0604, "mode 0%o", st.st_mode & 07777);
    CHECK(st.st_uid == 1234 && st.st_gid == 5678, "owner %d:%d", st.st_uid, st.st_gid);
    CHECK(st.st_mtim.tv_sec == mtime.tv_sec && st.st_mtim.tv_nsec == mtime.tv_nsec, "mtime %ld.%09ld",
          (long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    CHECK(lseek(3, 0, SEEK_CUR) == 1234, "offset %ld, not 1234", (long) lseek(3, 0, SEEK_CUR));
    CHECK(syscall(SYS_kcmp, getpid(), child, KCMP_FILE, 3, 3) == 0, "the child's fd 3 is not the parent's description");
    checkContents(3, PAGE, 2 * PAGE, "pages 1-2", pattern);
    CHECK(map[PAGE + 5] == pattern(PAGE + 5) && map[3 * PAGE - 1] == pattern(3 * PAGE - 1), "the mapping does not show the file");
    /* a write by each process seen by the other, through the mapping and the fd */
    map[100] = ++mark;
    must(write(toChild[1], &mark, 1) == 1, "write to child");
    char ok = 0;
    CHECK(read(fromChild[0], &ok, 1) == 1 && ok == 'y', "the child does not see the parent's write in its mapping");
    CHECK(map[200] == mark + 1, "the parent does not see the child's write in its mapping");
    char b = 0;
    CHECK(pread(3, &b, 1, 200) == 1 && b == mark + 1, "the child's write is not in the file");
    struct timespec ts[2] = {st.st_atim, mtime};
    futimens(3, ts);
}

/* ---------------------------------------------------------------- sparse */

static char sparseByte(long i) {
    if (i < PAGE) return 'A';
    if (i >= GIB / 2 && i < GIB / 2 + 65536) return 'B';
    if (i >= GIB - 8192) return 'C';
    return 0;
}

static void setupSparse(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/ghost-sparse", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
    must(fd >= 0, path);
    toFd3(fd);
    must(ftruncate(3, GIB) == 0, "ftruncate");
    fillAt(3, 0, PAGE, 'A');
    fillAt(3, GIB / 2, 65536, 'B');
    fillAt(3, GIB - 8192, 8192, 'C');
    must(lseek(3, 77, SEEK_SET) == 77, "lseek");
    must(unlink(path) == 0, "unlink");
}

static void checkSparse(void) {
    checkDeleted(3, dir);
    struct stat st;
    CHECK(fstat(3, &st) == 0 && st.st_size == GIB, "size %ld", (long) st.st_size);
    CHECK(st.st_blocks * 512 < 16L << 20, "%ld bytes allocated: the file is no longer sparse", (long) st.st_blocks * 512);
    long want[3][2] = {{0, PAGE}, {GIB / 2, GIB / 2 + 65536}, {GIB - 8192, GIB}};
    off_t at = 0;
    int walk = open("/proc/self/fd/3", O_RDONLY);   /* a description of its own: lseek moves its offset */
    CHECK(walk >= 0, "reopen fd 3: %s", strerror(errno));
    for (int i = 0; i < 3; i++) {
        off_t d = lseek(walk, at, SEEK_DATA);
        off_t h = d < 0 ? -1 : lseek(walk, d, SEEK_HOLE);
        CHECK(d == want[i][0] && h == want[i][1], "extent %d is %ld-%ld, not %ld-%ld", i, (long) d, (long) h, want[i][0], want[i][1]);
        at = h < 0 ? GIB : h;
    }
    CHECK(at >= GIB || lseek(walk, at, SEEK_DATA) < 0, "data after the third extent");
    close(walk);
    checkContents(3, 0, PAGE + 100, "extent 0", sparseByte);
    checkContents(3, GIB / 2 - 100, 65536 + 200, "extent 1", sparseByte);
    checkContents(3, GIB - 9000, 9000, "extent 2", sparseByte);
    CHECK(lseek(3, 0, SEEK_CUR) == 77, "offset %ld, not 77", (long) lseek(3, 0, SEEK_CUR));
}

/* ---------------------------------------------------------------- tmpfile */

static char tmpByte(long i) {
    return (char) ('0' + i % 10);
}

static void setupTmpfile(void) {
    int fd = open(dir, O_TMPFILE | O_RDWR, 0640);
    must(fd >= 0, "open(O_TMPFILE)");
    toFd3(fd);
    must(fchmod(3, 0640) == 0, "fchmod");
    char buf[10000];
    for (int i = 0; i < 10000; i++) buf[i] = tmpByte(i);
    writeAll(3, buf, sizeof buf, 0);
    map = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, 3, 0);
    must(map != MAP_FAILED, "mmap");
    must(lseek(3, 5000, SEEK_SET) == 5000, "lseek");
}

static void checkTmpfile(void) {
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s/#", dir);
    checkDeleted(3, prefix);
    struct stat st;
    CHECK(fstat(3, &st) == 0 && st.st_size == 10000, "size %ld", (long) st.st_size);
    CHECK((st.st_mode & 07777) == 0640, "mode 0%o", st.st_mode & 07777);
    CHECK(lseek(3, 0, SEEK_CUR) == 5000, "offset %ld, not 5000", (long) lseek(3, 0, SEEK_CUR));
    checkContents(3, 0, 10000, "contents", tmpByte);
    CHECK(map[4095] == tmpByte(4095), "the mapping does not show the file");
    map[10] = 'x';
    char b = 0;
    CHECK(pread(3, &b, 1, 10) == 1 && b == 'x', "a write to the mapping is not in the file");
    map[10] = tmpByte(10);
}

/* ---------------------------------------------------------------- hardlink */

static void setupHardlink(void) {
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    int fd = open(a, O_RDWR | O_CREAT | O_EXCL, 0644);
    must(fd >= 0, a);
    toFd3(fd);
    writeAll(3, "0123456789", 10, 0);
    must(link(a, b) == 0, "link");
    must(lseek(3, 7, SEEK_SET) == 7, "lseek");
    must(unlink(a) == 0, "unlink");
}

static void checkHardlink(void) {
    char b[4096], got[16] = {0};
    snprintf(b, sizeof b, "%s/b", dir);
    struct stat st, sb;
    CHECK(fstat(3, &st) == 0 && stat(b, &sb) == 0 && st.st_ino == sb.st_ino && st.st_dev == sb.st_dev,
          "fd 3 is not the file of %s", b);
    CHECK(st.st_nlink == 1, "nlink %ld, not 1", (long) st.st_nlink);
    CHECK(lseek(3, 0, SEEK_CUR) == 7, "offset %ld, not 7", (long) lseek(3, 0, SEEK_CUR));
    CHECK(pread(3, got, 10, 0) == 10 && memcmp(got, "0123456789", 10) == 0, "contents '%s'", got);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: ghost shared|sparse|tmpfile|hardlink DIR\n");
        return 2;
    }
    mode = argv[1];
    dir = argv[2];
    void (*check)(void);
    if (!strcmp(mode, "shared")) setupShared(), check = checkShared;
    else if (!strcmp(mode, "sparse")) setupSparse(), check = checkSparse;
    else if (!strcmp(mode, "tmpfile")) setupTmpfile(), check = checkTmpfile;
    else if (!strcmp(mode, "hardlink")) setupHardlink(), check = checkHardlink;
    else return 2;
    if (child) printf("READY %d %d\n", getpid(), child);
    else printf("READY %d\n", getpid());
    fflush(stdout);
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "check", 5)) {
            fail[0] = 0;
            check();
            if (fail[0]) printf("FAIL %s\n", fail);
            else printf("OK %s\n", mode);
            fflush(stdout);
        } else if (!strncmp(line, "quit", 4)) {
            break;
        }
    }
    if (child) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    printf("BYE\n");
    fflush(stdout);
    return 0;
}
