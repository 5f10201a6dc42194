/*
 * cryo test fixture: a self-checking single-threaded program.
 *
 *   fixture read  [WORKDIR]   blocks in read(0) waiting for command lines
 *   fixture sleep [WORKDIR]   loops on nanosleep(50 ms), verifying every round
 *
 * It fills mappings of every kind with deterministic patterns, keeps values in
 * general, SSE and AVX registers across the blocking system call (raw inline-asm
 * syscall, so the compiler cannot spill them), installs a signal handler, a
 * blocked mask, an alternate signal stack, umask, an rlimit, a cwd, comm and a
 * set of open files, then prints "READY <pid>".
 *
 * Commands (one per line on stdin; in sleep mode stdin is polled between rounds,
 * and EOF on stdin is ignored):
 *   check        verify everything; prints "FAIL <what>: <detail>" lines then
 *                "OK" (nothing failed) or "FAILED <n>"
 *   status       prints "STATUS pid=P checks=C ticks=T usr1=U pending=S1,S2|-"
 *   sharedwrite  writes a new pattern through the MAP_SHARED file mapping and
 *                checks the file sees it (and the reverse); prints OK / FAILED
 *   exit N       exits with status N at once
 *   quit         prints "BYE" and exits 0 if every check so far passed, else 1
 * In sleep mode every round checks what it can without opening a file (so a checkpoint never
 * finds a transient fd open) and prints "TICK <n>" (n continues across a restart) or FAIL lines
 * followed by "FAILED <n>"; "check" does the full check.
 * Soft findings (things a restore should ideally keep, but that do not change
 * the program's behaviour) are printed as "WARN <what>: <detail>" and do not
 * fail a check.
 * EOF on stdin in read mode: exits as for quit.
 *
 * Files created in WORKDIR (default: a new /tmp/cryofix.XXXXXX):
 *   data.priv    16 pages, mapped MAP_PRIVATE read-write (pages 0-7 written
 *                through the mapping) and again read-only at offset 8 pages
 *   data.ro      8 pages, mapped read-only MAP_SHARED
 *   data.shared  8 pages, mapped read-write MAP_SHARED, written through the map
 *   append.log   open O_WRONLY|O_APPEND (fd kept in memory); every check appends
 *   offset.dat   open O_RDWR|O_NONBLOCK|O_CLOEXEC at offset 1234; every check
 *                reads 10 bytes from it (offset continues)
 * The WORKDIR becomes the cwd. WORKDIR itself is opened O_DIRECTORY as fd 23,
 * /dev/null as fd 17.
 *
 * Build: gcc -O1 -o fixture fixture.c     (also works with -no-pie)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <asm/prctl.h>
#include <sys/rseq.h>

#define PAGE 4096UL
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- patterns */

static inline uint64_t pat(uint64_t seed, uint64_t i)
{
    uint64_t x = (seed + 1) * 0x9E3779B97F4A7C15ULL + i * 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBULL;
    x ^= x >> 29;
    return x;
}

/* fills len bytes (multiple of 8) at p; word index is counted from base_index */
static void fill_from(void *p, size_t len, uint64_t seed, uint64_t base_index)
{
    uint64_t *w = p;
    for (size_t i = 0; i < len / 8; i++)
        w[i] = pat(seed, base_index + i);
}

static void fill(void *p, size_t len, uint64_t seed) { fill_from(p, len, seed, 0); }

/* returns the byte offset of the first wrong word, or -1 */
static long check_from(const void *p, size_t len, uint64_t seed, uint64_t base_index)
{
    const volatile uint64_t *w = p;
    for (size_t i = 0; i < len / 8; i++)
        if (w[i] != pat(seed, base_index + i))
            return (long)(i * 8);
    return -1;
}

static long check(const void *p, size_t len, uint64_t seed) { return check_from(p, len, seed, 0); }

static long check_zero(const void *p, size_t len)
{
    const volatile uint64_t *w = p;
    for (size_t i = 0; i < len / 8; i++)
        if (w[i] != 0)
            return (long)(i * 8);
    return -1;
}

/* ------------------------------------------------------------------ output */

static char stdout_buf[1 << 16];
static int nfail;     /* failures in the current check */
static int any_failed; /* failures ever */

static void out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static void fail(const char *what, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    printf("FAIL %s: %s\n", what, detail);
    nfail++;
    any_failed = 1;
}

static void warn(const char *what, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    printf("WARN %s: %s\n", what, detail);
}

static void die(const char *what)
{
    printf("FAIL setup: %s: %s\n", what, strerror(errno));
    fflush(stdout);
    exit(2);
}

/* ----------------------------------------------------------------- globals */

/* .data: initialised; most pages are never written (stay file-backed) */
uint64_t data_init[2048] = {[0] = 0x1111111111111111ULL, [1000] = 0x2222222222222222ULL,
                            [2047] = 0x3333333333333333ULL};
/* .data: written at run time (become private anonymous copies) */
uint64_t data_rw[1024] = {1};
/* .bss */
uint64_t bss_arr[65536];
/* thread-local storage (fs base) */
__thread uint64_t tls_arr[64];
__thread uint64_t tls_init = 0x7777777777777777ULL;

enum {
    SEED_DATA = 11, SEED_BSS, SEED_TLS, SEED_HEAP, SEED_HEAP_SMALL, SEED_SBRK, SEED_SPARSE,
    SEED_SHANON, SEED_PRIV_FILE, SEED_PRIV_WRITTEN, SEED_RO_FILE, SEED_SHARED_FILE,
    SEED_PROTNONE, SEED_RDONLY, SEED_SPLIT, SEED_STACK, SEED_OFFSET_FILE, SEED_REGS,
    SEED_DONTDUMP, SEED_MAIN_STACK
};

static int mode_sleep;
static char workdir[PATH_MAX];
static pid_t my_pid, my_tid;

/* heap */
#define NSMALL 64
static unsigned char *heap_small[NSMALL];
static size_t heap_small_len[NSMALL];
static unsigned char *heap_big; /* below the mmap threshold: on the brk heap */
#define HEAP_BIG_LEN (96 * 1024)
static unsigned char *sbrk_area;
#define SBRK_LEN (64 * PAGE)
static void *brk_end;

/* mappings */
#define SPARSE_LEN (64UL << 20)
#define SPARSE_STRIDE 61
#define SPARSE_RUN_START 1000
#define SPARSE_RUN_PAGES 256
static unsigned char *sparse;
#define SHANON_LEN (64 * PAGE)
static unsigned char *shanon;
#define PRIV_FILE_PAGES 16
static unsigned char *priv_map, *priv_off_map;
#define RO_FILE_PAGES 8
static unsigned char *ro_map;
#define SHARED_FILE_PAGES 8
static unsigned char *shared_map;
static uint64_t shared_gen;
static int priv_fd_tmp = -1; /* closed after mapping */
static unsigned char *protnone_empty; /* PROT_NONE, never touched */
static unsigned char *protnone_filled; /* filled, then PROT_NONE */
#define PROTNONE_LEN (4 * PAGE)
static unsigned char *rdonly; /* filled, then PROT_READ */
#define RDONLY_LEN (4 * PAGE)
static unsigned char *split; /* 8 pages RW with pages 3-4 PROT_READ */
#define SPLIT_LEN (8 * PAGE)
static unsigned char *dontdump; /* MADV_DONTDUMP */
#define DONTDUMP_LEN (4 * PAGE)

/* stack frames kept alive below the loop */
#define NFRAMES 8
#define FRAME_LEN 3000
static unsigned char *frames[NFRAMES];
static unsigned char *main_stack_buf;
#define MAIN_STACK_LEN 16384

/* signals */
static volatile sig_atomic_t usr1_count;
static volatile sig_atomic_t usr1_on_altstack;
static volatile sig_atomic_t usr1_last_on_altstack;
static unsigned char altstack[64 * 1024] __attribute__((aligned(16)));

/* process state */
#define UMASK_VALUE 027
static rlim_t nofile_soft, nofile_hard;
#define COMM "cryofix"

/* files */
#define FD_NULL 17
#define FD_DIR 23
static int fd_append = -1, fd_offset = -1;
static off_t append_expected;
static off_t offset_expected;
#define OFFSET_FILE_LEN 65536
static ino_t dir_ino;
static dev_t dir_dev;

/* registers */
static int have_avx;
static uint8_t vecbuf[2 * 16 * 32] __attribute__((aligned(64))); /* in | out */
static uint64_t reg_round;
static char reg_fail[256]; /* set by the syscall wrapper when a register changed */
static const uint32_t MXCSR_VALUE = 0x1f80 | 0x8040; /* default + FTZ + DAZ */
static const uint16_t X87CW_VALUE = 0x027f;          /* precision: double */
static unsigned long fs_base;

/* saved /proc views */
static char saved_cmdline[4096];
static ssize_t saved_cmdline_len;
static char saved_environ[16384];
static ssize_t saved_environ_len;
static unsigned char saved_auxv[4096];
static ssize_t saved_auxv_len;
static char saved_exe[PATH_MAX];
static unsigned long saved_mmfields[12];
static long rseq_expected;
static int saved_fds[64], saved_nfds;
static int rseq_len_used;

/* counters */
static uint64_t checks, ticks;
static int full_check;
static volatile uint64_t sink;

/* ------------------------------------------------------------ /proc helpers */

static char procbuf[1 << 17];

static ssize_t read_file(const char *path, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return (ssize_t)got;
}

/* the open fds (sorted), without the one used to list them */
static int list_fds(int *fds, int max)
{
    static char dbuf[8192];
    int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    int n = 0;
    for (;;) {
        long got = syscall(SYS_getdents64, dfd, dbuf, sizeof dbuf);
        if (got <= 0)
            break;
        for (long off = 0; off < got;) {
            unsigned short reclen = *(unsigned short *)(dbuf + off + 16);
            const char *name = dbuf + off + 19;
            if (name[0] >= '0' && name[0] <= '9') {
                int fd = atoi(name);
                if (fd != dfd && n < max)
                    fds[n++] = fd;
            }
            off += reclen;
        }
    }
    close(dfd);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
            int t = fds[j];
            fds[j] = fds[j - 1];
            fds[j - 1] = t;
        }
    return n;
}

/* normalised view of /proc/self/maps: adjacent compatible lines merged */
struct vma {
    unsigned long start, end, off;
    char perms[5];
    char path[160];
};
#define MAXVMA 512
static struct vma saved_maps[MAXVMA], cur_maps[MAXVMA];
static int saved_nmaps;

static void norm_path(char *p)
{
    size_t n = strlen(p);
    const char *del = " (deleted)";
    /* shared anonymous memory may come back as a memfd or /dev/zero */
    if (n >= strlen(del) && strcmp(p + n - strlen(del), del) == 0)
        strcpy(p, "<deleted>");
}

static int read_maps(struct vma *v)
{
    ssize_t n = read_file("/proc/self/maps", procbuf, sizeof procbuf - 1);
    if (n < 0)
        return -1;
    procbuf[n] = 0;
    int cnt = 0;
    char *save = NULL;
    for (char *line = strtok_r(procbuf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct vma x;
        memset(&x, 0, sizeof x);
        int pos = 0;
        unsigned long ino;
        char dev[16];
        if (sscanf(line, "%lx-%lx %4s %lx %15s %lu %n", &x.start, &x.end, x.perms, &x.off, dev, &ino,
                   &pos) < 6)
            continue;
        snprintf(x.path, sizeof x.path, "%s", line + pos);
        norm_path(x.path);
        if (x.path[0] == 0)
            x.off = 0;
        if (cnt > 0) {
            struct vma *p = &v[cnt - 1];
            int anon = x.path[0] == 0;
            if (p->end == x.start && strcmp(p->perms, x.perms) == 0 && strcmp(p->path, x.path) == 0 &&
                (anon || p->off + (p->end - p->start) == x.off)) {
                p->end = x.end;
                continue;
            }
        }
        if (cnt == MAXVMA)
            break;
        v[cnt++] = x;
    }
    return cnt;
}

/* VmFlags of the vma containing addr, from smaps */
static int vmflags_of(unsigned long addr, char *flags, size_t len)
{
    ssize_t n = read_file("/proc/self/smaps", procbuf, sizeof procbuf - 1);
    if (n < 0)
        return -1;
    procbuf[n] = 0;
    int in = 0;
    char *save = NULL;
    for (char *line = strtok_r(procbuf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        unsigned long s, e;
        char c;
        if (sscanf(line, "%lx-%lx %c", &s, &e, &c) == 3) {
            in = addr >= s && addr < e;
            continue;
        }
        if (in && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(flags, len, "%s", line + 8);
            return 0;
        }
    }
    return -1;
}

static int read_mmfields(unsigned long *f)
{
    ssize_t n = read_file("/proc/self/stat", procbuf, sizeof procbuf - 1);
    if (n < 0)
        return -1;
    procbuf[n] = 0;
    char *p = strrchr(procbuf, ')');
    if (!p)
        return -1;
    p += 2; /* now at field 3 */
    /* fields wanted: 26 start_code, 27 end_code, 28 start_stack, 45 start_data, 46 end_data,
     * 47 start_brk, 48 arg_start, 49 arg_end, 50 env_start, 51 env_end */
    static const int wanted[] = {26, 27, 28, 45, 46, 47, 48, 49, 50, 51};
    int field = 3, k = 0;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok && k < (int)ARRAY_LEN(wanted); tok = strtok_r(NULL, " ", &save), field++)
        if (field == wanted[k])
            f[k++] = strtoul(tok, NULL, 10);
    return k == (int)ARRAY_LEN(wanted) ? 0 : -1;
}
static const char *mmfield_names[] = {"start_code", "end_code", "start_stack", "start_data", "end_data",
                                      "start_brk", "arg_start", "arg_end", "env_start", "env_end"};

/* ------------------------------------------------------- registers/syscall */

#define K_R8 0x0808080808080808UL
#define K_R9 0x0909090909090909UL
#define K_R10 0x1010101010101010UL
#define K_R12 0x1212121212121212UL
#define K_R13 0x1313131313131313UL
#define K_R14 0x1414141414141414UL
#define K_R15 0x1515151515151515UL

/*
 * A blocking system call with known values in r8-r10, r12-r15 and in every
 * xmm/ymm register across it. Any change is recorded in reg_fail.
 */
static long reg_syscall(long nr, long a1, long a2, long a3)
{
    reg_round++;
    size_t vlen = have_avx ? 32 : 16;
    uint8_t *in = vecbuf, *outv = vecbuf + 16 * 32;
    fill(in, 16 * 32, SEED_REGS * 1000003ULL + reg_round);
    memset(outv, 0, 16 * 32);

    register long r8 asm("r8") = (long)K_R8;
    register long r9 asm("r9") = (long)K_R9;
    register long r10 asm("r10") = (long)K_R10;
    register long r12 asm("r12") = (long)K_R12;
    register long r13 asm("r13") = (long)K_R13;
    register long r14 asm("r14") = (long)K_R14;
    register long r15 asm("r15") = (long)K_R15;
    long ret = nr;
    uint8_t *buf = vecbuf;

    if (have_avx) {
        asm volatile(
            "vmovdqu 0*32(%[b]), %%ymm0\n\t"
            "vmovdqu 1*32(%[b]), %%ymm1\n\t"
            "vmovdqu 2*32(%[b]), %%ymm2\n\t"
            "vmovdqu 3*32(%[b]), %%ymm3\n\t"
            "vmovdqu 4*32(%[b]), %%ymm4\n\t"
            "vmovdqu 5*32(%[b]), %%ymm5\n\t"
            "vmovdqu 6*32(%[b]), %%ymm6\n\t"
            "vmovdqu 7*32(%[b]), %%ymm7\n\t"
            "vmovdqu 8*32(%[b]), %%ymm8\n\t"
            "vmovdqu 9*32(%[b]), %%ymm9\n\t"
            "vmovdqu 10*32(%[b]), %%ymm10\n\t"
            "vmovdqu 11*32(%[b]), %%ymm11\n\t"
            "vmovdqu 12*32(%[b]), %%ymm12\n\t"
            "vmovdqu 13*32(%[b]), %%ymm13\n\t"
            "vmovdqu 14*32(%[b]), %%ymm14\n\t"
            "vmovdqu 15*32(%[b]), %%ymm15\n\t"
            "syscall\n\t"
            "vmovdqu %%ymm0, 16*32(%[b])\n\t"
            "vmovdqu %%ymm1, 17*32(%[b])\n\t"
            "vmovdqu %%ymm2, 18*32(%[b])\n\t"
            "vmovdqu %%ymm3, 19*32(%[b])\n\t"
            "vmovdqu %%ymm4, 20*32(%[b])\n\t"
            "vmovdqu %%ymm5, 21*32(%[b])\n\t"
            "vmovdqu %%ymm6, 22*32(%[b])\n\t"
            "vmovdqu %%ymm7, 23*32(%[b])\n\t"
            "vmovdqu %%ymm8, 24*32(%[b])\n\t"
            "vmovdqu %%ymm9, 25*32(%[b])\n\t"
            "vmovdqu %%ymm10, 26*32(%[b])\n\t"
            "vmovdqu %%ymm11, 27*32(%[b])\n\t"
            "vmovdqu %%ymm12, 28*32(%[b])\n\t"
            "vmovdqu %%ymm13, 29*32(%[b])\n\t"
            "vmovdqu %%ymm14, 30*32(%[b])\n\t"
            "vmovdqu %%ymm15, 31*32(%[b])\n\t"
            "vzeroupper\n\t"
            : "+a"(ret), "+r"(r8), "+r"(r9), "+r"(r10), "+r"(r12), "+r"(r13), "+r"(r14), "+r"(r15)
            : "D"(a1), "S"(a2), "d"(a3), [b] "r"(buf)
            : "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
              "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    } else {
        asm volatile(
            "movdqu 0*32(%[b]), %%xmm0\n\t"
            "movdqu 1*32(%[b]), %%xmm1\n\t"
            "movdqu 2*32(%[b]), %%xmm2\n\t"
            "movdqu 3*32(%[b]), %%xmm3\n\t"
            "movdqu 4*32(%[b]), %%xmm4\n\t"
            "movdqu 5*32(%[b]), %%xmm5\n\t"
            "movdqu 6*32(%[b]), %%xmm6\n\t"
            "movdqu 7*32(%[b]), %%xmm7\n\t"
            "movdqu 8*32(%[b]), %%xmm8\n\t"
            "movdqu 9*32(%[b]), %%xmm9\n\t"
            "movdqu 10*32(%[b]), %%xmm10\n\t"
            "movdqu 11*32(%[b]), %%xmm11\n\t"
            "movdqu 12*32(%[b]), %%xmm12\n\t"
            "movdqu 13*32(%[b]), %%xmm13\n\t"
            "movdqu 14*32(%[b]), %%xmm14\n\t"
            "movdqu 15*32(%[b]), %%xmm15\n\t"
            "syscall\n\t"
            "movdqu %%xmm0, 16*32(%[b])\n\t"
            "movdqu %%xmm1, 17*32(%[b])\n\t"
            "movdqu %%xmm2, 18*32(%[b])\n\t"
            "movdqu %%xmm3, 19*32(%[b])\n\t"
            "movdqu %%xmm4, 20*32(%[b])\n\t"
            "movdqu %%xmm5, 21*32(%[b])\n\t"
            "movdqu %%xmm6, 22*32(%[b])\n\t"
            "movdqu %%xmm7, 23*32(%[b])\n\t"
            "movdqu %%xmm8, 24*32(%[b])\n\t"
            "movdqu %%xmm9, 25*32(%[b])\n\t"
            "movdqu %%xmm10, 26*32(%[b])\n\t"
            "movdqu %%xmm11, 27*32(%[b])\n\t"
            "movdqu %%xmm12, 28*32(%[b])\n\t"
            "movdqu %%xmm13, 29*32(%[b])\n\t"
            "movdqu %%xmm14, 30*32(%[b])\n\t"
            "movdqu %%xmm15, 31*32(%[b])\n\t"
            : "+a"(ret), "+r"(r8), "+r"(r9), "+r"(r10), "+r"(r12), "+r"(r13), "+r"(r14), "+r"(r15)
            : "D"(a1), "S"(a2), "d"(a3), [b] "r"(buf)
            : "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
              "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    }

    if (!reg_fail[0]) {
        if ((unsigned long)r8 != K_R8 || (unsigned long)r9 != K_R9 || (unsigned long)r10 != K_R10)
            snprintf(reg_fail, sizeof reg_fail, "r8-r10 changed across syscall %ld: %lx %lx %lx", nr, r8, r9, r10);
        else if ((unsigned long)r12 != K_R12 || (unsigned long)r13 != K_R13 || (unsigned long)r14 != K_R14 ||
                 (unsigned long)r15 != K_R15)
            snprintf(reg_fail, sizeof reg_fail, "r12-r15 changed across syscall %ld: %lx %lx %lx %lx", nr, r12,
                     r13, r14, r15);
        else
            for (int r = 0; r < 16; r++)
                if (memcmp(in + r * 32, outv + r * 32, vlen) != 0) {
                    int lo_ok = memcmp(in + r * 32, outv + r * 32, 16) == 0;
                    snprintf(reg_fail, sizeof reg_fail, "%s%d %s changed across syscall %ld", have_avx ? "ymm" : "xmm",
                             r, lo_ok ? "upper half" : "value", nr);
                    break;
                }
    }
    return ret;
}

static uint32_t get_mxcsr(void)
{
    uint32_t v;
    asm volatile("stmxcsr %0" : "=m"(v));
    return v;
}

static uint16_t get_x87cw(void)
{
    uint16_t v;
    asm volatile("fnstcw %0" : "=m"(v));
    return v;
}

/* ------------------------------------------------------------------ signals */

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    char here;
    usr1_count++;
    usr1_last_on_altstack = (unsigned char *)&here >= altstack && (unsigned char *)&here < altstack + sizeof altstack;
    if (usr1_last_on_altstack)
        usr1_on_altstack++;
}

static void pending_list(char *buf, size_t len)
{
    sigset_t p;
    buf[0] = 0;
    if (sigpending(&p) != 0) {
        snprintf(buf, len, "error");
        return;
    }
    size_t used = 0;
    for (int s = 1; s < 65; s++)
        if (sigismember(&p, s) == 1)
            used += (size_t)snprintf(buf + used, len - used, "%s%d", used ? "," : "", s);
    if (!used)
        snprintf(buf, len, "-");
}

/* ------------------------------------------------------------------- verify */

static long rseq_probe(void)
{
    if (__rseq_size == 0)
        return 1; /* rseq not used by glibc */
    char *tp;
    asm("mov %%fs:0, %0" : "=r"(tp));
    void *area = tp + __rseq_offset;
    long r = syscall(SYS_rseq, area, rseq_len_used, 0, RSEQ_SIG);
    return r < 0 ? -errno : r;
}

static void verify_memory(void)
{
    long bad;
    /* globals */
    if (data_init[0] != 0x1111111111111111ULL || data_init[1000] != 0x2222222222222222ULL ||
        data_init[2047] != 0x3333333333333333ULL)
        fail("data", "initialised .data values changed");
    for (size_t i = 0; i < ARRAY_LEN(data_init); i++)
        if (i != 0 && i != 1000 && i != 2047 && data_init[i] != 0) {
            fail("data", "data_init[%zu] = %lx", i, (unsigned long)data_init[i]);
            break;
        }
    if ((bad = check(data_rw, sizeof data_rw, SEED_DATA)) >= 0)
        fail("data", "written .data wrong at +%ld", bad);
    if ((bad = check(bss_arr, sizeof bss_arr / 2, SEED_BSS)) >= 0)
        fail("bss", "filled half wrong at +%ld", bad);
    if ((bad = check_zero((char *)bss_arr + sizeof bss_arr / 2, sizeof bss_arr / 2)) >= 0)
        fail("bss", "untouched half not zero at +%ld", bad);
    if ((bad = check(tls_arr, sizeof tls_arr, SEED_TLS)) >= 0)
        fail("tls", "__thread array wrong at +%ld", bad);
    if (tls_init != 0x7777777777777777ULL)
        fail("tls", "initialised __thread value changed");

    /* heap */
    for (int i = 0; i < NSMALL; i++)
        if ((bad = check(heap_small[i], heap_small_len[i], SEED_HEAP_SMALL * 1000 + i)) >= 0) {
            fail("heap", "malloc block %d wrong at +%ld", i, bad);
            break;
        }
    if ((bad = check(heap_big, HEAP_BIG_LEN, SEED_HEAP)) >= 0)
        fail("heap", "big malloc block wrong at +%ld", bad);
    if ((bad = check(sbrk_area, SBRK_LEN, SEED_SBRK)) >= 0)
        fail("sbrk", "sbrk area wrong at +%ld", bad);
    void *b = sbrk(0);
    if (b != brk_end)
        fail("brk", "sbrk(0) = %p, expected %p", b, brk_end);
    else {
        /* the heap still works (and does not move brk: the top chunk has room) */
        void *m = malloc(1000);
        if (!m)
            fail("heap", "malloc(1000) failed");
        else {
            memset(m, 0x5a, 1000);
            free(m);
        }
        brk_end = sbrk(0);
    }

    /* sparse private anonymous mapping */
    size_t npages = SPARSE_LEN / PAGE;
    int reported = 0;
    for (size_t pg = 0; pg < npages; pg++) {
        int touched = pg % SPARSE_STRIDE == 0 || (pg >= SPARSE_RUN_START && pg < SPARSE_RUN_START + SPARSE_RUN_PAGES);
        unsigned char *p = sparse + pg * PAGE;
        if (touched) {
            if ((bad = check_from(p, PAGE, SEED_SPARSE, pg * (PAGE / 8))) >= 0 && !reported++)
                fail("sparse", "touched page %zu wrong at +%ld", pg, bad);
        } else if (pg % 97 == 3) {
            /* a sample of never-touched pages must read as zero */
            if ((bad = check_zero(p, PAGE)) >= 0 && !reported++)
                fail("sparse", "untouched page %zu not zero at +%ld", pg, bad);
        }
    }

    /* shared anonymous */
    if ((bad = check(shanon, SHANON_LEN, SEED_SHANON)) >= 0)
        fail("shared-anon", "wrong at +%ld", bad);

    /* private file mapping: written pages are private copies, the rest come from the file */
    if ((bad = check(priv_map, 8 * PAGE, SEED_PRIV_WRITTEN)) >= 0)
        fail("private-file-map", "written pages wrong at +%ld", bad);
    if ((bad = check_from(priv_map + 8 * PAGE, 8 * PAGE, SEED_PRIV_FILE, 8 * PAGE / 8)) >= 0)
        fail("private-file-map", "clean pages wrong at +%ld", bad);
    if ((bad = check_from(priv_off_map, 4 * PAGE, SEED_PRIV_FILE, 8 * PAGE / 8)) >= 0)
        fail("private-file-map", "mapping at file offset 8 pages wrong at +%ld", bad);
    if (full_check) {
        static unsigned char tmp[PAGE];
        int fd = open("data.priv", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || pread(fd, tmp, PAGE, 0) != (ssize_t)PAGE || check(tmp, PAGE, SEED_PRIV_FILE) >= 0)
            fail("private-file-map", "data.priv on disk no longer holds its original bytes (private writes leaked?)");
        if (fd >= 0)
            close(fd);
    }

    /* read-only shared file mapping */
    if ((bad = check(ro_map, RO_FILE_PAGES * PAGE, SEED_RO_FILE)) >= 0)
        fail("ro-file-map", "wrong at +%ld", bad);

    /* writable shared file mapping: mapping and file agree */
    if ((bad = check(shared_map, SHARED_FILE_PAGES * PAGE, SEED_SHARED_FILE + shared_gen)) >= 0)
        fail("shared-file-map", "mapping wrong at +%ld", bad);
    if (full_check) {
        static unsigned char tmp[SHARED_FILE_PAGES * PAGE];
        int fd = open("data.shared", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || pread(fd, tmp, sizeof tmp, 0) != (ssize_t)sizeof tmp)
            fail("shared-file-map", "cannot read data.shared: %s", strerror(errno));
        else if ((bad = check(tmp, sizeof tmp, SEED_SHARED_FILE + shared_gen)) >= 0)
            fail("shared-file-map", "file content differs from what was written through the map at +%ld", bad);
        if (fd >= 0)
            close(fd);
    }

    /* PROT_NONE filled region: look at it through a temporary PROT_READ */
    if (mprotect(protnone_filled, PROTNONE_LEN, PROT_READ) != 0)
        fail("protnone", "mprotect: %s", strerror(errno));
    else {
        if ((bad = check(protnone_filled, PROTNONE_LEN, SEED_PROTNONE)) >= 0)
            fail("protnone", "filled PROT_NONE region wrong at +%ld", bad);
        mprotect(protnone_filled, PROTNONE_LEN, PROT_NONE);
    }
    if ((bad = check(rdonly, RDONLY_LEN, SEED_RDONLY)) >= 0)
        fail("rdonly", "read-only region wrong at +%ld", bad);
    if ((bad = check(split, SPLIT_LEN, SEED_SPLIT)) >= 0)
        fail("split", "split-protection region wrong at +%ld", bad);
    if ((bad = check(dontdump, DONTDUMP_LEN, SEED_DONTDUMP)) >= 0)
        fail("dontdump", "MADV_DONTDUMP region wrong at +%ld", bad);

    /* stack */
    for (int i = 0; i < NFRAMES; i++)
        if ((bad = check(frames[i], FRAME_LEN / 8 * 8, SEED_STACK * 100 + i)) >= 0) {
            fail("stack", "frame %d buffer wrong at +%ld", i, bad);
            break;
        }
    if ((bad = check(main_stack_buf, MAIN_STACK_LEN, SEED_MAIN_STACK)) >= 0)
        fail("stack", "main() buffer wrong at +%ld", bad);

    if (!full_check)
        return;

    /* the layout: every mapping at the same place with the same protection and backing */
    int n = read_maps(cur_maps);
    if (n < 0)
        fail("maps", "cannot read /proc/self/maps");
    else {
        int i = 0, j = 0;
        while (i < saved_nmaps || j < n) {
            struct vma *a = i < saved_nmaps ? &saved_maps[i] : NULL, *c = j < n ? &cur_maps[j] : NULL;
            if (a && c && a->start == c->start && a->end == c->end && strcmp(a->perms, c->perms) == 0 &&
                a->off == c->off && strcmp(a->path, c->path) == 0) {
                i++, j++;
                continue;
            }
            if (a && c && strcmp(a->path, "[stack]") == 0 && strcmp(c->path, "[stack]") == 0 && a->end == c->end &&
                strcmp(a->perms, c->perms) == 0) {
                if (a->start != c->start)
                    warn("maps", "[stack] start %lx, was %lx", c->start, a->start);
                i++, j++;
                continue;
            }
            if (a && (!c || a->start <= c->start))
                fail("maps", "missing or changed: %lx-%lx %s %lx %s (now: %s)", a->start, a->end, a->perms, a->off,
                     a->path, c ? "differs" : "nothing");
            else
                fail("maps", "new or changed: %lx-%lx %s %lx %s", c->start, c->end, c->perms, c->off, c->path);
            break;
        }
    }
    char flags[256];
    if (vmflags_of((unsigned long)dontdump, flags, sizeof flags) != 0)
        warn("vmflags", "no smaps entry for the MADV_DONTDUMP region");
    else if (!strstr(flags, " dd"))
        warn("vmflags", "MADV_DONTDUMP region lost its dd flag:%s", flags);
}

static void verify_process(void)
{
    /* identity */
    if (getpid() != my_pid || (pid_t)syscall(SYS_getpid) != my_pid)
        fail("pid", "getpid() = %d, expected %d", (int)syscall(SYS_getpid), (int)my_pid);
    if ((pid_t)syscall(SYS_gettid) != my_tid)
        fail("pid", "gettid() = %ld, expected %d", syscall(SYS_gettid), (int)my_tid);

    /* registers */
    if (reg_fail[0]) {
        fail("regs", "%s", reg_fail);
        reg_fail[0] = 0;
    }
    if (get_mxcsr() != MXCSR_VALUE)
        fail("mxcsr", "%#x, expected %#x", get_mxcsr(), MXCSR_VALUE);
    if (get_x87cw() != X87CW_VALUE)
        fail("x87", "control word %#x, expected %#x", get_x87cw(), X87CW_VALUE);
    unsigned long fs = 0;
    syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
    if (fs != fs_base)
        fail("fs", "fs base %#lx, expected %#lx", fs, fs_base);

    /* signals */
    struct sigaction sa;
    if (sigaction(SIGUSR1, NULL, &sa) != 0 || sa.sa_sigaction != on_usr1)
        fail("sighandler", "SIGUSR1 handler not installed");
    else {
        int want = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
        if ((sa.sa_flags & want) != want)
            fail("sighandler", "SIGUSR1 flags %#x lack %#x", sa.sa_flags, want);
        if (sigismember(&sa.sa_mask, SIGWINCH) != 1)
            fail("sighandler", "SIGUSR1 sa_mask lost SIGWINCH");
    }
    if (sigaction(SIGHUP, NULL, &sa) != 0 || sa.sa_handler != SIG_IGN)
        fail("sighandler", "SIGHUP no longer ignored");
    if (sigaction(SIGINT, NULL, &sa) != 0 || sa.sa_handler != SIG_DFL)
        fail("sighandler", "SIGINT not SIG_DFL");
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    for (int s = 1; s < 65; s++) {
        int want = s == SIGUSR2 || s == SIGURG;
        if (s == 32 || s == 33)
            continue; /* glibc-internal */
        if (sigismember(&cur, s) != want) {
            fail("sigmask", "signal %d %s", s, want ? "not blocked" : "blocked");
            break;
        }
    }
    stack_t ss;
    if (sigaltstack(NULL, &ss) != 0 || ss.ss_sp != altstack || ss.ss_size != sizeof altstack)
        fail("sigaltstack", "alternate signal stack lost (sp %p size %zu)", ss.ss_sp, ss.ss_size);
    sig_atomic_t before = usr1_count;
    raise(SIGUSR1);
    if (usr1_count != before + 1)
        fail("sighandler", "raise(SIGUSR1) did not run the handler (%d -> %d)", (int)before, (int)usr1_count);
    else if (!usr1_last_on_altstack)
        fail("sigaltstack", "SIGUSR1 handler did not run on the alternate stack");

    /* umask, rlimit, cwd, comm */
    mode_t um = umask(UMASK_VALUE);
    if (um != UMASK_VALUE)
        fail("umask", "%03o, expected %03o", um, UMASK_VALUE);
    umask(um);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur != nofile_soft || rl.rlim_max != nofile_hard)
        fail("rlimit", "RLIMIT_NOFILE %lu/%lu, expected %lu/%lu", (unsigned long)rl.rlim_cur,
             (unsigned long)rl.rlim_max, (unsigned long)nofile_soft, (unsigned long)nofile_hard);
    static char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd) || strcmp(cwd, workdir) != 0)
        fail("cwd", "%s, expected %s", cwd, workdir);
    char comm[17] = {0};
    prctl(PR_GET_NAME, comm);
    if (strcmp(comm, COMM) != 0)
        fail("comm", "'%s', expected '%s'", comm, COMM);

    if (!full_check)
        goto files;

    /* mm: arg/env, auxv, exe, mm fields */
    static char buf[16384];
    ssize_t n = read_file("/proc/self/cmdline", buf, sizeof buf);
    if (n != saved_cmdline_len || memcmp(buf, saved_cmdline, (size_t)n) != 0)
        fail("cmdline", "/proc/self/cmdline changed (%zd bytes, was %zd)", n, saved_cmdline_len);
    n = read_file("/proc/self/environ", buf, sizeof buf);
    if (n != saved_environ_len || memcmp(buf, saved_environ, (size_t)n) != 0)
        fail("environ", "/proc/self/environ changed (%zd bytes, was %zd)", n, saved_environ_len);
    n = read_file("/proc/self/auxv", buf, sizeof buf);
    if (n != saved_auxv_len || memcmp(buf, saved_auxv, (size_t)n) != 0)
        fail("auxv", "/proc/self/auxv changed (%zd bytes, was %zd)", n, saved_auxv_len);
    static char exe[PATH_MAX];
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n < 0 ? 0 : n] = 0;
    if (strcmp(exe, saved_exe) != 0)
        fail("exe", "/proc/self/exe -> '%s', expected '%s'", exe, saved_exe);
    unsigned long mm[12];
    if (read_mmfields(mm) != 0)
        fail("mm", "cannot parse /proc/self/stat");
    else
        for (int i = 0; i < 10; i++)
            if (mm[i] != saved_mmfields[i]) {
                fail("mm", "%s = %#lx, expected %#lx", mmfield_names[i], mm[i], saved_mmfields[i]);
                break;
            }
    unsigned long vdso = getauxval(AT_SYSINFO_EHDR);
    int found = 0;
    for (int i = 0; i < saved_nmaps; i++)
        if (strcmp(saved_maps[i].path, "[vdso]") == 0 && saved_maps[i].start == vdso)
            found = 1;
    if (!found)
        fail("vdso", "[vdso] is not at AT_SYSINFO_EHDR %#lx", vdso);
    struct timespec t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t1); /* through the vdso */
    clock_gettime(CLOCK_MONOTONIC, &t2);
    if (t2.tv_sec < t1.tv_sec || (t2.tv_sec == t1.tv_sec && t2.tv_nsec < t1.tv_nsec))
        fail("vdso", "CLOCK_MONOTONIC went backwards");
    long r = rseq_probe();
    if (r != rseq_expected)
        fail("rseq", "probe gave %ld, expected %ld (registration lost?)", r, rseq_expected);

files:;
    /* files */
    struct stat st;
    off_t pos = lseek(fd_append, 0, SEEK_CUR);
    int fl = fcntl(fd_append, F_GETFL);
    if (pos != append_expected)
        fail("fd-append", "offset %ld, expected %ld", (long)pos, (long)append_expected);
    if (fl < 0 || !(fl & O_APPEND) || (fl & O_ACCMODE) != O_WRONLY)
        fail("fd-append", "flags %#x lack O_APPEND|O_WRONLY", fl);
    if (fcntl(fd_append, F_GETFD) != 0)
        fail("fd-append", "close-on-exec set");
    char line[64];
    int len = snprintf(line, sizeof line, "check %lu pid %d\n", (unsigned long)checks, (int)my_pid);
    if (write(fd_append, line, (size_t)len) != len)
        fail("fd-append", "write: %s", strerror(errno));
    pos = lseek(fd_append, 0, SEEK_CUR);
    if (fstat(fd_append, &st) != 0 || pos != st.st_size)
        fail("fd-append", "after an O_APPEND write the offset %ld is not the file size %ld", (long)pos,
             (long)st.st_size);
    append_expected = pos;

    pos = lseek(fd_offset, 0, SEEK_CUR);
    fl = fcntl(fd_offset, F_GETFL);
    if (pos != offset_expected)
        fail("fd-offset", "offset %ld, expected %ld", (long)pos, (long)offset_expected);
    if (fl < 0 || !(fl & O_NONBLOCK) || (fl & O_ACCMODE) != O_RDWR || (fl & O_APPEND))
        fail("fd-offset", "flags %#x, expected O_RDWR|O_NONBLOCK", fl);
    if (fcntl(fd_offset, F_GETFD) != FD_CLOEXEC)
        fail("fd-offset", "close-on-exec lost");
    unsigned char rec[10];
    if (read(fd_offset, rec, sizeof rec) != (ssize_t)sizeof rec)
        fail("fd-offset", "read: %s", strerror(errno));
    else
        for (size_t i = 0; i < sizeof rec; i++)
            if (rec[i] != (unsigned char)((offset_expected + (off_t)i) * 7 % 251)) {
                fail("fd-offset", "read wrong bytes at offset %ld", (long)(offset_expected + (off_t)i));
                break;
            }
    offset_expected += sizeof rec;
    if (offset_expected > OFFSET_FILE_LEN - 100) {
        offset_expected = 1234;
        lseek(fd_offset, offset_expected, SEEK_SET);
    }

    if (fstat(FD_DIR, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_ino != dir_ino || st.st_dev != dir_dev)
        fail("fd-dir", "fd %d is not the work directory", FD_DIR);
    fl = fcntl(FD_DIR, F_GETFL);
    if (fl < 0 || !(fl & O_DIRECTORY))
        fail("fd-dir", "flags %#x lack O_DIRECTORY", fl);
    if (fcntl(FD_DIR, F_GETFD) != FD_CLOEXEC)
        fail("fd-dir", "close-on-exec lost");
    if (fstat(FD_NULL, &st) != 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
        fail("fd-null", "fd %d is not /dev/null", FD_NULL);
    else if (write(FD_NULL, "x", 1) != 1)
        fail("fd-null", "write: %s", strerror(errno));
    if (fcntl(FD_NULL, F_GETFD) != 0)
        fail("fd-null", "close-on-exec set");
    if (!full_check)
        return;
    int fds[64];
    int nfds = list_fds(fds, 64);
    if (nfds != saved_nfds || memcmp(fds, saved_fds, sizeof(int) * (size_t)nfds) != 0) {
        char a[256] = "", c[256] = "";
        size_t ua = 0, uc = 0;
        for (int i = 0; i < saved_nfds; i++)
            ua += (size_t)snprintf(a + ua, sizeof a - ua, " %d", saved_fds[i]);
        for (int i = 0; i < nfds && uc < sizeof c; i++)
            uc += (size_t)snprintf(c + uc, sizeof c - uc, " %d", fds[i]);
        fail("fds", "open fds are [%s ], expected [%s ]", c, a);
    }
}

/*
 * full: everything. Otherwise (every round of sleep mode) only what needs no new file descriptor, so that a
 * checkpoint taken at any moment finds no transient fd (to /proc files, data files) open.
 */
static int verify(int full)
{
    full_check = full;
    nfail = 0;
    verify_memory();
    verify_process();
    return nfail;
}

static void report(void)
{
    checks++;
    if (verify(1) == 0)
        out("OK\n");
    else
        out("FAILED %d\n", nfail);
}

static void shared_write(void)
{
    nfail = 0;
    shared_gen++;
    fill(shared_map, SHARED_FILE_PAGES * PAGE, SEED_SHARED_FILE + shared_gen);
    static unsigned char tmp[SHARED_FILE_PAGES * PAGE];
    long bad;
    int fd = open("data.shared", O_RDWR | O_CLOEXEC);
    if (fd < 0 || pread(fd, tmp, sizeof tmp, 0) != (ssize_t)sizeof tmp)
        fail("shared-file-map", "cannot read data.shared: %s", strerror(errno));
    else if ((bad = check(tmp, sizeof tmp, SEED_SHARED_FILE + shared_gen)) >= 0)
        fail("shared-file-map", "a write through the MAP_SHARED mapping is not in the file (+%ld)", bad);
    else {
        /* and the other way round: a write to the file shows in the mapping */
        shared_gen++;
        fill(tmp, sizeof tmp, SEED_SHARED_FILE + shared_gen);
        if (pwrite(fd, tmp, sizeof tmp, 0) != (ssize_t)sizeof tmp)
            fail("shared-file-map", "pwrite: %s", strerror(errno));
        else if ((bad = check(shared_map, sizeof tmp, SEED_SHARED_FILE + shared_gen)) >= 0)
            fail("shared-file-map", "a write to the file does not show in the MAP_SHARED mapping (+%ld)", bad);
    }
    if (fd >= 0)
        close(fd);
    if (nfail == 0)
        out("OK\n");
    else
        out("FAILED %d\n", nfail);
}

/* ------------------------------------------------------------------- setup */

static void write_file(const char *name, size_t len, uint64_t seed, int byte_pattern)
{
    static unsigned char buf[OFFSET_FILE_LEN];
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die(name);
    for (size_t off = 0; off < len; off += sizeof buf) {
        size_t n = len - off < sizeof buf ? len - off : sizeof buf;
        if (byte_pattern)
            for (size_t i = 0; i < n; i++)
                buf[i] = (unsigned char)((off + i) * 7 % 251);
        else
            fill_from(buf, n, seed, off / 8);
        if (write(fd, buf, n) != (ssize_t)n)
            die(name);
    }
    if (fsync(fd) != 0)
        die(name);
    close(fd);
}

static void *map_or_die(void *addr, size_t len, int prot, int flags, int fd, off_t off, const char *what)
{
    void *p = mmap(addr, len, prot, flags, fd, off);
    if (p == MAP_FAILED)
        die(what);
    return p;
}

static void setup(void)
{
    my_pid = getpid();
    my_tid = (pid_t)syscall(SYS_gettid);
    have_avx = __builtin_cpu_supports("avx");

    if (chdir(workdir) != 0)
        die("chdir");

    /* globals and TLS */
    fill(data_rw, sizeof data_rw, SEED_DATA);
    fill(bss_arr, sizeof bss_arr / 2, SEED_BSS);
    fill(tls_arr, sizeof tls_arr, SEED_TLS);

    /* heap: small blocks and one big block (all on the brk heap), then a raw sbrk area */
    for (int i = 0; i < NSMALL; i++) {
        heap_small_len[i] = 64 + (size_t)i * 136;
        heap_small[i] = malloc(heap_small_len[i]);
        if (!heap_small[i])
            die("malloc");
        fill(heap_small[i], heap_small_len[i], SEED_HEAP_SMALL * 1000 + i);
    }
    heap_big = malloc(HEAP_BIG_LEN);
    if (!heap_big)
        die("malloc");
    fill(heap_big, HEAP_BIG_LEN, SEED_HEAP);
    sbrk_area = sbrk(SBRK_LEN);
    if (sbrk_area == (void *)-1)
        die("sbrk");
    fill(sbrk_area, SBRK_LEN, SEED_SBRK);

    /* sparse private anonymous mapping: every 61st page plus a 1 MiB run */
    sparse = map_or_die(NULL, SPARSE_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0,
                        "mmap sparse");
    for (size_t pg = 0; pg < SPARSE_LEN / PAGE; pg++)
        if (pg % SPARSE_STRIDE == 0 || (pg >= SPARSE_RUN_START && pg < SPARSE_RUN_START + SPARSE_RUN_PAGES))
            fill_from(sparse + pg * PAGE, PAGE, SEED_SPARSE, pg * (PAGE / 8));

    /* shared anonymous */
    shanon = map_or_die(NULL, SHANON_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0, "mmap shared anon");
    fill(shanon, SHANON_LEN, SEED_SHANON);

    /* private file mapping, half written through the mapping */
    write_file("data.priv", PRIV_FILE_PAGES * PAGE, SEED_PRIV_FILE, 0);
    priv_fd_tmp = open("data.priv", O_RDWR | O_CLOEXEC);
    if (priv_fd_tmp < 0)
        die("open data.priv");
    priv_map = map_or_die(NULL, PRIV_FILE_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, priv_fd_tmp, 0, "mmap data.priv");
    fill(priv_map, 8 * PAGE, SEED_PRIV_WRITTEN);
    for (size_t i = 8 * PAGE; i < PRIV_FILE_PAGES * PAGE; i += PAGE)
        sink += priv_map[i]; /* fault the clean pages in from the file */
    priv_off_map = map_or_die(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, priv_fd_tmp, 8 * PAGE, "mmap data.priv offset");
    close(priv_fd_tmp); /* the mappings keep the file */

    /* read-only shared file mapping */
    write_file("data.ro", RO_FILE_PAGES * PAGE, SEED_RO_FILE, 0);
    int fd = open("data.ro", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open data.ro");
    ro_map = map_or_die(NULL, RO_FILE_PAGES * PAGE, PROT_READ, MAP_SHARED, fd, 0, "mmap data.ro");
    close(fd);

    /* writable shared file mapping, written through the mapping */
    fd = open("data.shared", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ftruncate(fd, SHARED_FILE_PAGES * PAGE) != 0)
        die("data.shared");
    shared_map = map_or_die(NULL, SHARED_FILE_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0, "mmap data.shared");
    close(fd);
    fill(shared_map, SHARED_FILE_PAGES * PAGE, SEED_SHARED_FILE);
    if (msync(shared_map, SHARED_FILE_PAGES * PAGE, MS_SYNC) != 0)
        die("msync");

    /* PROT_NONE: one never touched, one filled first */
    protnone_empty = map_or_die(NULL, PROTNONE_LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, "mmap protnone");
    protnone_filled = map_or_die(NULL, PROTNONE_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, "mmap protnone2");
    fill(protnone_filled, PROTNONE_LEN, SEED_PROTNONE);
    if (mprotect(protnone_filled, PROTNONE_LEN, PROT_NONE) != 0)
        die("mprotect");

    /* read-only after filling */
    rdonly = map_or_die(NULL, RDONLY_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, "mmap rdonly");
    fill(rdonly, RDONLY_LEN, SEED_RDONLY);
    if (mprotect(rdonly, RDONLY_LEN, PROT_READ) != 0)
        die("mprotect");

    /* one mapping split in three by protection */
    split = map_or_die(NULL, SPLIT_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, "mmap split");
    fill(split, SPLIT_LEN, SEED_SPLIT);
    if (mprotect(split + 3 * PAGE, 2 * PAGE, PROT_READ) != 0)
        die("mprotect");

    /* a VM flag set with madvise */
    dontdump = map_or_die(NULL, DONTDUMP_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, "mmap dontdump");
    fill(dontdump, DONTDUMP_LEN, SEED_DONTDUMP);
    if (madvise(dontdump, DONTDUMP_LEN, MADV_DONTDUMP) != 0)
        die("madvise");

    /* signals */
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        die("sigaltstack");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGWINCH);
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        die("sigaction");
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_DFL); /* may be inherited as ignored (background job) */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGURG);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        die("sigprocmask");

    /* umask, rlimit, comm */
    umask(UMASK_VALUE);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("getrlimit");
    nofile_hard = rl.rlim_max;
    nofile_soft = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 777 ? 777 : rl.rlim_max - 1;
    rl.rlim_cur = nofile_soft;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("setrlimit");
    if (prctl(PR_SET_NAME, COMM) != 0)
        die("prctl");

    /* files */
    fd_append = open("append.log", O_WRONLY | O_APPEND | O_CREAT | O_TRUNC, 0644);
    if (fd_append < 0)
        die("open append.log");
    const char *hello = "fixture started\n";
    if (write(fd_append, hello, strlen(hello)) != (ssize_t)strlen(hello))
        die("write append.log");
    append_expected = (off_t)strlen(hello);
    write_file("offset.dat", OFFSET_FILE_LEN, 0, 1);
    fd_offset = open("offset.dat", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd_offset < 0)
        die("open offset.dat");
    offset_expected = 1234;
    if (lseek(fd_offset, offset_expected, SEEK_SET) != offset_expected)
        die("lseek");
    int dfd = open(workdir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0 || dup3(dfd, FD_DIR, O_CLOEXEC) != FD_DIR)
        die("open workdir");
    close(dfd);
    struct stat st;
    if (fstat(FD_DIR, &st) != 0)
        die("fstat");
    dir_ino = st.st_ino;
    dir_dev = st.st_dev;
    int nfd = open("/dev/null", O_RDWR);
    if (nfd < 0 || dup2(nfd, FD_NULL) != FD_NULL)
        die("open /dev/null");
    close(nfd);

    /* FPU control */
    uint32_t mx = MXCSR_VALUE;
    asm volatile("ldmxcsr %0" ::"m"(mx));
    uint16_t cw = X87CW_VALUE;
    asm volatile("fldcw %0" ::"m"(cw));
    syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_base);

    /* rseq: registering again with the same arguments gives EBUSY while registered */
    rseq_len_used = 32;
    long r = rseq_probe();
    if (r == -EINVAL) {
        rseq_len_used = (int)__rseq_size;
        r = rseq_probe();
    }
    rseq_expected = r == 0 ? -EBUSY : r;
    brk_end = sbrk(0);
}

static void save_views(void)
{
    saved_cmdline_len = read_file("/proc/self/cmdline", saved_cmdline, sizeof saved_cmdline);
    saved_environ_len = read_file("/proc/self/environ", saved_environ, sizeof saved_environ);
    saved_auxv_len = read_file("/proc/self/auxv", saved_auxv, sizeof saved_auxv);
    ssize_t n = readlink("/proc/self/exe", saved_exe, sizeof saved_exe - 1);
    saved_exe[n < 0 ? 0 : n] = 0;
    if (read_mmfields(saved_mmfields) != 0)
        die("parse /proc/self/stat");
    saved_nmaps = read_maps(saved_maps);
    if (saved_nmaps <= 0)
        die("read /proc/self/maps");
    saved_nfds = list_fds(saved_fds, 64);
    if (saved_nfds <= 0)
        die("list /proc/self/fd");
}

/* ------------------------------------------------------------------- loop */

static char linebuf[4096];
static size_t linelen;
static int stdin_eof;

/* reads what is available on fd 0 (blocking or not); returns 1 when a full line is in linebuf */
static int take_line(char *line, size_t len)
{
    char *nl = memchr(linebuf, '\n', linelen);
    if (!nl)
        return 0;
    size_t n = (size_t)(nl - linebuf);
    size_t c = n < len - 1 ? n : len - 1;
    memcpy(line, linebuf, c);
    line[c] = 0;
    memmove(linebuf, nl + 1, linelen - n - 1);
    linelen -= n + 1;
    return 1;
}

static void command(const char *line)
{
    if (strcmp(line, "check") == 0) {
        report();
    } else if (strcmp(line, "status") == 0) {
        char pend[256];
        pending_list(pend, sizeof pend);
        out("STATUS pid=%d checks=%lu ticks=%lu usr1=%d pending=%s\n", (int)getpid(), (unsigned long)checks,
            (unsigned long)ticks, (int)usr1_count, pend);
    } else if (strcmp(line, "sharedwrite") == 0) {
        shared_write();
    } else if (strncmp(line, "exit ", 5) == 0) {
        fflush(stdout);
        _exit(atoi(line + 5));
    } else if (strcmp(line, "quit") == 0) {
        out("BYE\n");
        exit(any_failed ? 1 : 0);
    } else if (line[0] != 0) {
        out("ERR unknown command '%s'\n", line);
    }
}

static void loop_read(void)
{
    char line[1024];
    for (;;) {
        while (take_line(line, sizeof line))
            command(line);
        if (linelen == sizeof linebuf)
            linelen = 0; /* overlong line: drop it */
        long n = reg_syscall(SYS_read, 0, (long)(linebuf + linelen), (long)(sizeof linebuf - linelen));
        if (n == -EINTR || n == -EAGAIN)
            continue;
        if (n < 0) {
            out("FAIL read: %s\n", strerror((int)-n));
            exit(3);
        }
        if (n == 0) {
            out("BYE\n");
            exit(any_failed ? 1 : 0);
        }
        linelen += (size_t)n;
    }
}

static void loop_sleep(void)
{
    char line[1024];
    for (;;) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
        long r = reg_syscall(SYS_nanosleep, (long)&ts, 0, 0);
        if (r != 0 && r != -EINTR)
            out("FAIL nanosleep: %ld\n", r);
        ticks++;
        checks++;
        if (verify(0) == 0)
            out("TICK %lu\n", (unsigned long)ticks);
        else
            out("FAILED %d\n", nfail);
        while (!stdin_eof) {
            struct pollfd p = {.fd = 0, .events = POLLIN};
            if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
                break;
            ssize_t n = read(0, linebuf + linelen, sizeof linebuf - linelen);
            if (n <= 0) {
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                    break;
                stdin_eof = 1;
                break;
            }
            linelen += (size_t)n;
            while (take_line(line, sizeof line))
                command(line);
            if (linelen == sizeof linebuf)
                linelen = 0;
        }
    }
}

/* keeps NFRAMES stack frames with filled buffers alive below the main loop */
static void __attribute__((noinline)) descend(int depth)
{
    unsigned char buf[FRAME_LEN] __attribute__((aligned(8)));
    if (depth >= NFRAMES)
        return;
    fill(buf, FRAME_LEN / 8 * 8, SEED_STACK * 100 + depth);
    frames[depth] = buf;
    if (depth + 1 < NFRAMES) {
        descend(depth + 1);
    } else {
        /* first self-check before anything else: the fixture must pass on its own */
        save_views();
        checks++;
        if (verify(1) != 0) {
            out("FAILED %d\n", nfail);
            exit(2);
        }
        /* the layout after the first check is the reference (the check itself may grow the stack) */
        saved_nmaps = read_maps(saved_maps);
        checks = 0;
        out("READY %d\n", (int)my_pid);
        if (mode_sleep)
            loop_sleep();
        else
            loop_read();
    }
    sink += buf[0]; /* not reached; keeps buf alive */
}

int main(int argc, char **argv)
{
    setvbuf(stdout, stdout_buf, _IOFBF, sizeof stdout_buf);
    signal(SIGPIPE, SIG_DFL);
    if (argc < 2 || (strcmp(argv[1], "read") != 0 && strcmp(argv[1], "sleep") != 0)) {
        fprintf(stderr, "usage: %s read|sleep [WORKDIR]\n", argv[0]);
        return 64;
    }
    mode_sleep = strcmp(argv[1], "sleep") == 0;
    if (argc > 2) {
        if (!realpath(argv[2], workdir))
            die("realpath WORKDIR");
    } else {
        char tmpl[] = "/tmp/cryofix.XXXXXX";
        if (!mkdtemp(tmpl))
            die("mkdtemp");
        snprintf(workdir, sizeof workdir, "%s", tmpl);
    }
    unsigned char stackbuf[MAIN_STACK_LEN] __attribute__((aligned(8)));
    fill(stackbuf, sizeof stackbuf, SEED_MAIN_STACK);
    main_stack_buf = stackbuf;
    setup();
    /* a first round of the register check before READY */
    struct timespec ts = {0, 1000};
    reg_syscall(SYS_nanosleep, (long)&ts, 0, 0);
    descend(0);
    sink += stackbuf[0];
    return 0;
}
