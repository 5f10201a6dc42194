package cryo.sys;

/** x86_64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl). Public: remote syscalls need them too. */
public final class Nr {
    public static final int READ = 0, WRITE = 1, OPEN = 2, CLOSE = 3, LSEEK = 8, MMAP = 9, MPROTECT = 10,
            MUNMAP = 11, BRK = 12, RT_SIGACTION = 13, RT_SIGPROCMASK = 14, IOCTL = 16, PREAD64 = 17,
            MREMAP = 25, MADVISE = 28, PAUSE = 34, SHMAT = 30, NANOSLEEP = 35, GETITIMER = 36, SETITIMER = 38,
            GETPID = 39, SOCKETPAIR = 53, SENDMSG = 46, RECVMSG = 47, CLONE = 56, EXIT = 60, WAIT4 = 61,
            KILL = 62, UNAME = 63, FCNTL = 72, FLOCK = 73, CHDIR = 80, FCHDIR = 81, UMASK = 95, PTRACE = 101,
            GETUID = 102, SETPGID = 109, GETPPID = 110, SETSID = 112, SETRESUID = 117, SETRESGID = 119,
            SETGROUPS = 116, GETPGID = 121, GETSID = 124, RT_SIGTIMEDWAIT = 128, RT_SIGQUEUEINFO = 129,
            SIGALTSTACK = 131, PERSONALITY = 135, PRCTL = 157, ARCH_PRCTL = 158, CHROOT = 161, GETTID = 186,
            TKILL = 200, SET_TID_ADDRESS = 218, RESTART_SYSCALL = 219, EXIT_GROUP = 231, TGKILL = 234,
            OPENAT = 257, TEE = 276, SET_ROBUST_LIST = 273, GET_ROBUST_LIST = 274, DUP3 = 292, PIPE2 = 293,
            RT_TGSIGQUEUEINFO = 297, PRLIMIT64 = 302, PROCESS_VM_READV = 310, PROCESS_VM_WRITEV = 311,
            KCMP = 312, MEMFD_CREATE = 319, RSEQ = 334, SETNS = 308, MINCORE = 27, MLOCK2 = 325, PIDFD_OPEN = 434, CLONE3 = 435,
            MKDIR = 83, RMDIR = 84, FSTATFS = 138, MKNODAT = 259, SETDOMAINNAME = 171, USERFAULTFD = 323;
    public static final int FUTEX = 202;
    public static final int SOCKET = 41, EXECVE = 59, PIVOT_ROOT = 155, MOUNT = 165, UMOUNT2 = 166, SETHOSTNAME = 170,
            CLOSE_RANGE = 436;
    public static final int UNSHARE = 272;
    public static final int CONNECT = 42, ACCEPT4 = 288, SHUTDOWN = 48, BIND = 49, LISTEN = 50, SENDTO = 44, SETSOCKOPT = 54, GETSOCKOPT = 55, PIDFD_GETFD = 438,
            GETSOCKNAME = 51, GETPEERNAME = 52;
    public static final int SETFSUID = 122, SETFSGID = 123, CAPGET = 125, CAPSET = 126;

    private Nr() {
    }
}
