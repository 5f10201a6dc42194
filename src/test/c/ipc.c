/*
 * cryo test fixture: SysV IPC objects that a two-process tree holds by id and verifies itself.
 *
 * The root creates (keys base+1, base+2, base+3 with base = 0x63700000 + 4 * pid, so that parallel
 * runs never meet):
 *   - a message queue (owner 1001:1002, mode 0640, qbytes msgmnb - 384: lowered, as raising it above
 *     msgmnb needs CAP_SYS_RESOURCE) holding NMSG messages of many types and sizes: 0 bytes, 1 byte,
 *     4 KiB and 4049 bytes (just past the kernel's first internal segment, PAGE_SIZE - sizeof(struct
 *     msg_msg) = 4048 bytes), msgmax (read from /proc/sys/kernel/msgmax: three segments), type LONG_MAX,
 *     two messages of type 1 (their order matters); every body is a pattern of its index;
 *   - a semaphore set of 4 (created with egid 1234, so its cgid is 1234; then gid 100, mode 0600) with
 *     values 7, 0, 32767 (SEMVMX) and 10; the child then takes 2 from the last one with SEM_UNDO (value
 *     8; the child holds a semadj of +2);
 *   - a shared memory segment of SHMSZ = 12388 bytes (3 pages + 100 bytes; owner uid 1003, mode 0644),
 *     filled with a pattern except page 2, which is never touched. The root attaches it read-write before
 *     the fork (the child inherits that attachment), then each process attaches it read-only on its own
 *     (at different addresses: the child maps a placeholder first): 4 attachments in all. Bytes 0..7 hold
 *     a generation counter that the root bumps on every check;
 *   - a second segment (IPC_PRIVATE, 8192 bytes, filled) attached read-write by the root only (after the
 *     fork), then IPC_RMID'ed: it is "destroyed" and lives on while attached.
 *
 * With the argument "spread" (for a fresh IPC namespace, where ids start at 0) it first creates and
 * removes 3 queues, 5 semaphore sets and 7 segments, so its objects get ids that only a restart that asks
 * for them (*_next_id) reproduces.
 *
 * Root and child talk through two pipes (root -> child commands, child -> root result lines).
 *
 * Protocol (root's stdin/stdout):
 *   at start: IDS msg=<id> sem=<id> shm=<id> dshm=<id> keybase=0x<hex>
 *             ADDR root rw=0x.. ro=0x.. dshm=0x..
 *             ADDR child rw=0x.. ro=0x..
 *             MSG <n> <total bytes> <msgmax> <qbytes>
 *             CHILD <pid>
 *             READY <pid>
 *   check   the child then the root verify, through the ids they hold in memory: every attribute that
 *           restart must restore (key, owner, mode, qbytes, nsems, size, nattch, SHM_DEST), every message
 *           in order (msgrcv MSG_COPY, nothing removed), every semaphore value, the segment contents seen
 *           through each attachment, each attachment's address and flags in /proc/self/maps (and that a
 *           read-only one cannot be made writable: mprotect gives EACCES), that the rw and ro attachments
 *           are one segment shared by both processes (the generation counter the root just wrote), and
 *           that each object still works (a message sent and received by type, a semop up and down).
 *           Prints "FAIL <who> <what>" lines then "FAILED <n>", or "OK".
 *   ppid    prints "PPID <root's ppid>"
 *   quit    (or EOF) the child exits 0; the root reaps it, prints "SEMS v0 v1 v2 v3" (the values once the
 *           child is gone: its SEM_UNDO adjustment applied or not), removes the queue, the set and the
 *           segment, detaches, prints "BYE <child wait status>" and exits 0 (1 if removing failed).
 *
 * Build: gcc -O1 -Wall -o ipc ipc.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

#define NMSG 8
#define NSEM 4
#define SHMSZ 12388
#define DSHMSZ 8192
#define PAGE 4096
#define MSG_UID 1001
#define MSG_GID 1002
#define SEM_GID 100
#define SEM_CGID 1234
#define SHM_UID 1003

union semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
};

static long msg_type[NMSG];
static size_t msg_size[NMSG];
static size_t msg_total;
static long msgmax, qbytes;
static int msq = -1, semid = -1, shmid = -1, dshmid = -1;
static key_t keybase;
static unsigned char *rw, *ro, *dshm; /* this process's attachments */
static int is_root;
static const unsigned short sem_want[NSEM] = {7, 0, 32767, 8};

static char fails[16384];
static int nfail;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t len = strlen(fails);
    snprintf(fails + len, sizeof fails - len, "FAIL %s %s\n", is_root ? "root" : "child", line);
    nfail++;
}

/* A setup failure: says why and removes what was created so far. */
static void die(const char *what) {
    printf("FAIL setup %s: %s\n", what, strerror(errno));
    fflush(stdout);
    if (msq >= 0) msgctl(msq, IPC_RMID, NULL);
    if (semid >= 0) semctl(semid, 0, IPC_RMID);
    if (shmid >= 0) shmctl(shmid, IPC_RMID, NULL);
    if (dshmid >= 0) shmctl(dshmid, IPC_RMID, NULL);
    exit(2);
}

static long read_long(const char *path) {
    long v;
    FILE *f = fopen(path, "r");
    if (!f || fscanf(f, "%ld", &v) != 1) die(path);
    fclose(f);
    return v;
}

static unsigned char msg_byte(int i, size_t j) {
    return (unsigned char)(i * 131 + j * 7 + (j >> 8) + 1);
}

static unsigned char shm_byte(size_t j) {
    return (unsigned char)((j * 2654435761u) >> 13) ^ (unsigned char)(j >> 12) ^ 0x5a;
}

static unsigned char dshm_byte(size_t j) {
    return (unsigned char)(~(j * 40503u) >> 3);
}

/* the untouched page of the segment, and bytes 0..7 (the generation counter), are not pattern */
static int shm_patterned(size_t j) {
    return j >= 8 && (j < 2 * PAGE || j >= 3 * PAGE);
}

static void setup_messages(void) {
    msgmax = read_long("/proc/sys/kernel/msgmax");
    long msgmnb = read_long("/proc/sys/kernel/msgmnb");
    long types[NMSG] = {1, 2, 7, 3, LONG_MAX, 1, 1000000, 5};
    size_t sizes[NMSG] = {0, 1, 4096, (size_t)msgmax, 100, 1, 2000, 4049};
    msg_total = 0;
    for (int i = 0; i < NMSG; i++) {
        msg_type[i] = types[i];
        msg_size[i] = sizes[i];
        if (msg_total + sizes[i] + 64 > (size_t)msgmnb) msg_size[i] = sizes[i] = 1; /* a small msgmnb: keep the count */
        msg_total += sizes[i];
    }
    /* a queue limit of its own, below msgmnb (raising it above would need CAP_SYS_RESOURCE) */
    qbytes = msgmnb - 384 >= (long)msg_total + 64 ? msgmnb - 384 : msgmnb;
}

static void create_objects(void) {
    keybase = (key_t)(0x63700000 + 4 * getpid());
    /* queue */
    msq = msgget(keybase + 1, IPC_CREAT | IPC_EXCL | 0600);
    if (msq < 0) die("msgget");
    struct msqid_ds mq;
    if (msgctl(msq, IPC_STAT, &mq) < 0) die("msgctl IPC_STAT");
    mq.msg_qbytes = qbytes;
    mq.msg_perm.uid = MSG_UID;
    mq.msg_perm.gid = MSG_GID;
    mq.msg_perm.mode = 0640;
    if (msgctl(msq, IPC_SET, &mq) < 0) die("msgctl IPC_SET");
    struct {
        long type;
        char text[1 << 20];
    } *m = malloc(sizeof *m);
    for (int i = 0; i < NMSG; i++) {
        m->type = msg_type[i];
        for (size_t j = 0; j < msg_size[i]; j++) m->text[j] = (char)msg_byte(i, j);
        if (msgsnd(msq, m, msg_size[i], IPC_NOWAIT) < 0) die("msgsnd");
    }
    free(m);
    /* semaphores */
    /* created with egid SEM_CGID: the set's creator gid (cgid), which user space cannot set afterwards */
    if (setegid(SEM_CGID) < 0) die("setegid");
    semid = semget(keybase + 2, NSEM, IPC_CREAT | IPC_EXCL | 0600);
    if (setegid(0) < 0) die("setegid back");
    if (semid < 0) die("semget");
    unsigned short init[NSEM] = {7, 0, 32767, 10};
    union semun u = {.array = init};
    if (semctl(semid, 0, SETALL, u) < 0) die("semctl SETALL");
    struct semid_ds sd;
    u.buf = &sd;
    if (semctl(semid, 0, IPC_STAT, u) < 0) die("semctl IPC_STAT");
    sd.sem_perm.gid = SEM_GID;
    if (semctl(semid, 0, IPC_SET, u) < 0) die("semctl IPC_SET");
    /* shared memory */
    shmid = shmget(keybase + 3, SHMSZ, IPC_CREAT | IPC_EXCL | 0600);
    if (shmid < 0) die("shmget");
    rw = shmat(shmid, NULL, 0);
    if (rw == (void *)-1) die("shmat rw");
    memset(rw, 0, 8);
    for (size_t j = 0; j < SHMSZ; j++)
        if (shm_patterned(j)) rw[j] = shm_byte(j);
    struct shmid_ds ss;
    if (shmctl(shmid, IPC_STAT, &ss) < 0) die("shmctl IPC_STAT");
    ss.shm_perm.uid = SHM_UID;
    ss.shm_perm.mode = 0644;
    if (shmctl(shmid, IPC_SET, &ss) < 0) die("shmctl IPC_SET");
}

/* The /proc/self/maps line of the mapping that starts at addr (into line); 0 if none. */
static int maps_line(void *addr, char *line, size_t size) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return 0;
    char buf[1024];
    int found = 0;
    while (fgets(buf, sizeof buf, f)) {
        unsigned long start;
        if (sscanf(buf, "%lx-", &start) == 1 && start == (unsigned long)addr) {
            buf[strcspn(buf, "\n")] = 0;
            snprintf(line, size, "%s", buf);
            found = 1;
            break;
        }
    }
    fclose(f);
    return found;
}

/* An attachment at addr: in maps with this size, perms, the segment's file (/SYSV<key>, inode = id). */
static void check_attachment(const char *name, void *addr, int id, key_t key, size_t size, int writable) {
    char line[1024];
    if (!maps_line(addr, line, sizeof line)) {
        fail("%s attachment of segment %d: nothing mapped at %p", name, id, addr);
        return;
    }
    unsigned long start, end, off, inode;
    char perms[8], dev[32], path[512] = "";
    if (sscanf(line, "%lx-%lx %7s %lx %31s %lu %511[^\n]", &start, &end, perms, &off, dev, &inode, path) < 6) {
        fail("%s attachment: cannot parse maps line '%s'", name, line);
        return;
    }
    size_t want = (size + PAGE - 1) / PAGE * PAGE;
    if (end - start != want) fail("%s attachment at %p: %lu bytes mapped, expected %zu", name, addr, end - start, want);
    const char *wp = writable ? "rw-s" : "r--s";
    if (strcmp(perms, wp) != 0) fail("%s attachment at %p: perms %s, expected %s", name, addr, perms, wp);
    if (inode != (unsigned long)id) fail("%s attachment at %p: inode %lu, expected the segment id %d", name, addr, inode, id);
    char sysv[32];
    snprintf(sysv, sizeof sysv, "/SYSV%08x", (unsigned)key);
    if (strncmp(path, sysv, strlen(sysv)) != 0) fail("%s attachment at %p: file '%s', expected %s", name, addr, path, sysv);
    /* the attach flags themselves: a read-only attachment has no VM_MAYWRITE */
    int r = mprotect(addr, want, PROT_READ | PROT_WRITE);
    if (writable && r != 0) fail("%s attachment at %p: mprotect(rw) failed: %s", name, addr, strerror(errno));
    if (!writable && (r == 0 || errno != EACCES))
        fail("%s attachment at %p: mprotect(rw) of a read-only attachment gave %s, expected EACCES", name, addr,
             r == 0 ? "success" : strerror(errno));
}

static void check_contents(const char *name, const unsigned char *p, uint64_t gen) {
    uint64_t g;
    memcpy(&g, p, 8);
    if (g != gen) fail("%s attachment: generation counter is %llu, expected %llu (not the same segment?)", name,
                       (unsigned long long)g, (unsigned long long)gen);
    for (size_t j = 8; j < SHMSZ; j++) {
        unsigned char want = shm_patterned(j) ? shm_byte(j) : 0;
        if (p[j] != want) {
            fail("%s attachment: byte %zu is 0x%02x, expected 0x%02x", name, j, p[j], want);
            return;
        }
    }
    for (size_t j = SHMSZ; j < 4 * PAGE; j++)
        if (p[j] != 0) {
            fail("%s attachment: byte %zu past the segment's size is 0x%02x, expected 0", name, j, p[j]);
            return;
        }
}

static void check_queue(void) {
    struct msqid_ds mq;
    if (msgctl(msq, IPC_STAT, &mq) < 0) {
        fail("msgctl(%d, IPC_STAT): %s", msq, strerror(errno));
        return;
    }
    if (mq.msg_perm.__key != keybase + 1) fail("queue %d: key 0x%x, expected 0x%x", msq, mq.msg_perm.__key, keybase + 1);
    if (mq.msg_perm.uid != MSG_UID || mq.msg_perm.gid != MSG_GID)
        fail("queue %d: owner %u:%u, expected %d:%d", msq, mq.msg_perm.uid, mq.msg_perm.gid, MSG_UID, MSG_GID);
    if ((mq.msg_perm.mode & 0777) != 0640) fail("queue %d: mode 0%o, expected 0640", msq, mq.msg_perm.mode & 0777);
    if ((long)mq.msg_qbytes != qbytes) fail("queue %d: qbytes %lu, expected %ld", msq, (unsigned long)mq.msg_qbytes, qbytes);
    if (mq.msg_qnum != NMSG) fail("queue %d: %lu messages, expected %d", msq, (unsigned long)mq.msg_qnum, NMSG);
    if (mq.__msg_cbytes != msg_total) fail("queue %d: cbytes %lu, expected %zu", msq, (unsigned long)mq.__msg_cbytes, msg_total);
    int byKey = msgget(keybase + 1, 0);
    if (byKey != msq) fail("msgget(key 0x%x) gives %d, expected %d", keybase + 1, byKey, msq);
    struct {
        long type;
        char text[1 << 20];
    } *m = malloc(sizeof *m);
    for (int i = 0; i < NMSG; i++) {
        memset(m, 0xee, 8 + msg_size[i] + 16);
        ssize_t n = msgrcv(msq, m, msgmax, i, IPC_NOWAIT | MSG_COPY);
        if (n < 0) {
            fail("queue %d: msgrcv(MSG_COPY #%d): %s", msq, i, strerror(errno));
            continue;
        }
        if (m->type != msg_type[i]) fail("queue %d: message #%d has type %ld, expected %ld", msq, i, m->type, msg_type[i]);
        if ((size_t)n != msg_size[i]) {
            fail("queue %d: message #%d has %zd bytes, expected %zu", msq, i, n, msg_size[i]);
            continue;
        }
        for (size_t j = 0; j < msg_size[i]; j++)
            if ((unsigned char)m->text[j] != msg_byte(i, j)) {
                fail("queue %d: message #%d differs at byte %zu: 0x%02x, expected 0x%02x", msq, i, j,
                     (unsigned char)m->text[j], msg_byte(i, j));
                break;
            }
    }
    if (msgrcv(msq, m, msgmax, NMSG, IPC_NOWAIT | MSG_COPY) >= 0 || errno != ENOMSG)
        fail("queue %d: a message #%d exists (expected %d messages)", msq, NMSG, NMSG);
    /* it works: a message sent and received back by its type */
    long t = 900 + is_root;
    m->type = t;
    memcpy(m->text, "abc", 3);
    if (msgsnd(msq, m, 3, IPC_NOWAIT) < 0) fail("queue %d: msgsnd: %s", msq, strerror(errno));
    else {
        ssize_t n = msgrcv(msq, m, 16, t, IPC_NOWAIT);
        if (n != 3 || m->type != t || memcmp(m->text, "abc", 3) != 0)
            fail("queue %d: the message just sent came back as %zd bytes of type %ld", msq, n, m->type);
    }
    free(m);
}

static void check_sems(void) {
    struct semid_ds sd;
    union semun u = {.buf = &sd};
    if (semctl(semid, 0, IPC_STAT, u) < 0) {
        fail("semctl(%d, IPC_STAT): %s", semid, strerror(errno));
        return;
    }
    if (sd.sem_perm.__key != keybase + 2) fail("semaphore set %d: key 0x%x, expected 0x%x", semid, sd.sem_perm.__key, keybase + 2);
    if (sd.sem_perm.uid != 0 || sd.sem_perm.gid != SEM_GID)
        fail("semaphore set %d: owner %u:%u, expected 0:%d", semid, sd.sem_perm.uid, sd.sem_perm.gid, SEM_GID);
    if ((sd.sem_perm.mode & 0777) != 0600) fail("semaphore set %d: mode 0%o, expected 0600", semid, sd.sem_perm.mode & 0777);
    if (sd.sem_nsems != NSEM) fail("semaphore set %d: %lu semaphores, expected %d", semid, (unsigned long)sd.sem_nsems, NSEM);
    int byKey = semget(keybase + 2, 0, 0);
    if (byKey != semid) fail("semget(key 0x%x) gives %d, expected %d", keybase + 2, byKey, semid);
    unsigned short v[NSEM] = {0};
    u.array = v;
    if (semctl(semid, 0, GETALL, u) < 0) fail("semctl(%d, GETALL): %s", semid, strerror(errno));
    for (int i = 0; i < NSEM; i++)
        if (v[i] != sem_want[i]) fail("semaphore set %d: semaphore %d is %u, expected %u", semid, i, v[i], sem_want[i]);
    /* it works: up and down again on semaphore 1, and a down on 0 would block */
    struct sembuf up = {1, 1, IPC_NOWAIT}, down = {1, -1, IPC_NOWAIT};
    if (semop(semid, &up, 1) < 0) fail("semaphore set %d: semop(+1): %s", semid, strerror(errno));
    int val = semctl(semid, 1, GETVAL);
    if (val != 1) fail("semaphore set %d: semaphore 1 is %d after +1", semid, val);
    if (semop(semid, &down, 1) < 0) fail("semaphore set %d: semop(-1): %s", semid, strerror(errno));
    if (semop(semid, &down, 1) == 0 || errno != EAGAIN)
        fail("semaphore set %d: semop(-1) on a zero semaphore did not say EAGAIN", semid);
}

static void check_shm(uint64_t gen) {
    struct shmid_ds ss;
    if (shmctl(shmid, IPC_STAT, &ss) < 0) {
        fail("shmctl(%d, IPC_STAT): %s", shmid, strerror(errno));
    } else {
        if (ss.shm_perm.__key != keybase + 3) fail("segment %d: key 0x%x, expected 0x%x", shmid, ss.shm_perm.__key, keybase + 3);
        if (ss.shm_perm.uid != SHM_UID || ss.shm_perm.gid != 0)
            fail("segment %d: owner %u:%u, expected %d:0", shmid, ss.shm_perm.uid, ss.shm_perm.gid, SHM_UID);
        if ((ss.shm_perm.mode & 0777) != 0644) fail("segment %d: mode 0%o, expected 0644", shmid, ss.shm_perm.mode & 0777);
        if (ss.shm_perm.mode & SHM_DEST) fail("segment %d: marked destroyed", shmid);
        if (ss.shm_segsz != SHMSZ) fail("segment %d: size %zu, expected %d", shmid, (size_t)ss.shm_segsz, SHMSZ);
        if (ss.shm_nattch != 4) fail("segment %d: %lu attachments, expected 4", shmid, (unsigned long)ss.shm_nattch);
        int byKey = shmget(keybase + 3, 0, 0);
        if (byKey != shmid) fail("shmget(key 0x%x) gives %d, expected %d", keybase + 3, byKey, shmid);
    }
    check_attachment("rw", rw, shmid, keybase + 3, SHMSZ, 1);
    check_attachment("ro", ro, shmid, keybase + 3, SHMSZ, 0);
    check_contents("rw", rw, gen);
    check_contents("ro", ro, gen);
    if (!is_root) return;
    /* the destroyed one, attached by the root only */
    if (shmctl(dshmid, IPC_STAT, &ss) < 0) {
        fail("shmctl(%d, IPC_STAT) of the destroyed segment: %s", dshmid, strerror(errno));
    } else {
        if (!(ss.shm_perm.mode & SHM_DEST)) fail("segment %d: not marked destroyed (mode 0%o)", dshmid, ss.shm_perm.mode);
        if (ss.shm_perm.__key != IPC_PRIVATE) fail("destroyed segment %d: key 0x%x, expected 0 (IPC_PRIVATE)", dshmid, ss.shm_perm.__key);
        if (ss.shm_nattch != 1) fail("destroyed segment %d: %lu attachments, expected 1", dshmid, (unsigned long)ss.shm_nattch);
        if (ss.shm_segsz != DSHMSZ) fail("destroyed segment %d: size %zu, expected %d", dshmid, (size_t)ss.shm_segsz, DSHMSZ);
    }
    check_attachment("destroyed", dshm, dshmid, IPC_PRIVATE, DSHMSZ, 1);
    for (size_t j = 0; j < DSHMSZ; j++)
        if (dshm[j] != dshm_byte(j)) {
            fail("destroyed segment: byte %zu is 0x%02x, expected 0x%02x", j, dshm[j], dshm_byte(j));
            break;
        }
}

static void check_all(uint64_t gen) {
    fails[0] = 0;
    nfail = 0;
    check_queue();
    check_sems();
    check_shm(gen);
}

static void child_main(int cmd, int res) {
    is_root = 0;
    FILE *in = fdopen(cmd, "r");
    FILE *out = fdopen(res, "w");
    char line[256];
    while (fgets(line, sizeof line, in)) {
        unsigned long long gen;
        if (sscanf(line, "check %llu", &gen) == 1) {
            check_all(gen);
            fprintf(out, "%sDONE %d\n", fails, nfail);
            fflush(out);
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        }
    }
    _exit(0);
}

/* Creates and removes n objects of each kind, so that the next ids are not the first ones. */
static void spread(int nmsg, int nsem, int nshm) {
    for (int i = 0; i < nmsg; i++) {
        int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (id < 0 || msgctl(id, IPC_RMID, NULL) < 0) die("spread msg");
    }
    for (int i = 0; i < nsem; i++) {
        int id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
        if (id < 0 || semctl(id, 0, IPC_RMID) < 0) die("spread sem");
    }
    for (int i = 0; i < nshm; i++) {
        int id = shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
        if (id < 0 || shmctl(id, IPC_RMID, NULL) < 0) die("spread shm");
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    is_root = 1;
    if (argc > 1 && strcmp(argv[1], "spread") == 0) spread(3, 5, 7);
    setup_messages();
    create_objects();
    int c2p[2], p2c[2], hello[2];
    if (pipe(c2p) < 0 || pipe(p2c) < 0 || pipe(hello) < 0) die("pipe");
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        close(p2c[1]);
        close(c2p[0]);
        close(hello[0]);
        is_root = 0;
        struct sembuf take = {3, -2, SEM_UNDO | IPC_NOWAIT};
        if (semop(semid, &take, 1) < 0) die("child semop SEM_UNDO");
        /* a mapping of the child's own first, so that its read-only attachment lands elsewhere than the root's */
        if (mmap(NULL, 4 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) die("child mmap");
        ro = shmat(shmid, NULL, SHM_RDONLY);
        if (ro == (void *)-1) die("child shmat ro");
        char msg[64];
        int n = snprintf(msg, sizeof msg, "%p %p\n", (void *)rw, (void *)ro);
        if (write(hello[1], msg, n) != n) die("child hello");
        close(hello[1]);
        child_main(p2c[0], c2p[1]);
    }
    close(p2c[0]);
    close(c2p[1]);
    close(hello[1]);
    char buf[128] = "";
    ssize_t n = read(hello[0], buf, sizeof buf - 1);
    close(hello[0]);
    if (n <= 0) {
        printf("FAIL setup the child did not start\n");
        return 2;
    }
    buf[n] = 0;
    void *crw, *cro;
    if (sscanf(buf, "%p %p", &crw, &cro) != 2) die("child hello parse");
    ro = shmat(shmid, NULL, SHM_RDONLY);
    if (ro == (void *)-1) die("shmat ro");
    dshmid = shmget(IPC_PRIVATE, DSHMSZ, IPC_CREAT | 0600);
    if (dshmid < 0) die("shmget private");
    dshm = shmat(dshmid, NULL, 0);
    if (dshm == (void *)-1) die("shmat private");
    for (size_t j = 0; j < DSHMSZ; j++) dshm[j] = dshm_byte(j);
    if (shmctl(dshmid, IPC_RMID, NULL) < 0) die("shmctl IPC_RMID while attached");

    FILE *to = fdopen(p2c[1], "w");
    FILE *from = fdopen(c2p[0], "r");
    printf("IDS msg=%d sem=%d shm=%d dshm=%d keybase=0x%x\n", msq, semid, shmid, dshmid, (unsigned)keybase);
    printf("ADDR root rw=%p ro=%p dshm=%p\n", (void *)rw, (void *)ro, (void *)dshm);
    printf("ADDR child rw=%p ro=%p\n", crw, cro);
    printf("MSG %d %zu %ld %ld\n", NMSG, msg_total, msgmax, qbytes);
    printf("CHILD %d\n", (int)child);
    printf("READY %d\n", (int)getpid());

    uint64_t gen = 0;
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        if (strcmp(line, "check") == 0) {
            gen++;
            memcpy(rw, &gen, 8);
            fprintf(to, "check %llu\n", (unsigned long long)gen);
            fflush(to);
            int total = 0, done = 0;
            char l[1200];
            while (fgets(l, sizeof l, from)) {
                int k;
                if (sscanf(l, "DONE %d", &k) == 1) {
                    total += k;
                    done = 1;
                    break;
                }
                fputs(l, stdout);
            }
            if (!done) {
                printf("FAIL root the child did not answer the check\n");
                total++;
            }
            check_all(gen);
            fputs(fails, stdout);
            total += nfail;
            if (total) printf("FAILED %d\n", total);
            else printf("OK\n");
        } else if (strcmp(line, "ppid") == 0) {
            printf("PPID %d\n", (int)getppid());
        } else if (strcmp(line, "quit") == 0) {
            break;
        }
    }
    fprintf(to, "quit\n");
    fflush(to);
    int status = -1;
    if (waitpid(child, &status, 0) != child) printf("FAIL root waitpid: %s\n", strerror(errno));
    unsigned short v[NSEM] = {0};
    union semun u = {.array = v};
    if (semctl(semid, 0, GETALL, u) < 0) printf("FAIL root GETALL at quit: %s\n", strerror(errno));
    printf("SEMS %u %u %u %u\n", v[0], v[1], v[2], v[3]);
    int bad = 0;
    if (msgctl(msq, IPC_RMID, NULL) < 0) bad = 1, printf("FAIL root msgctl IPC_RMID: %s\n", strerror(errno));
    if (semctl(semid, 0, IPC_RMID) < 0) bad = 1, printf("FAIL root semctl IPC_RMID: %s\n", strerror(errno));
    if (shmctl(shmid, IPC_RMID, NULL) < 0) bad = 1, printf("FAIL root shmctl IPC_RMID: %s\n", strerror(errno));
    shmdt(rw);
    shmdt(ro);
    shmdt(dshm);
    printf("BYE %d\n", status);
    return bad;
}
