/*
 * A program whose own executable is deleted while it runs (a package upgrade replaced it): the test copies
 * it to a temp dir, starts it and unlinks it. Prints "READY <pid>". Commands on stdin:
 *   check   prints "OK exe <n>" when a function of its text still computes what it did, the bytes of that
 *           function are the ones it read at start, /proc/self/exe ends with " (deleted)" and reads back
 *           its ELF header, and n (checks so far) counts on; else "FAIL <why>"
 *   quit    (or EOF) prints BYE, exits 0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

static __attribute__((noinline)) unsigned long mix(unsigned long x) {
    for (int i = 0; i < 1000; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
    return x;
}

static unsigned char code[64];
static unsigned long expected;
static int checks;

static const char *check(void) {
    static char why[512];
    if (mix(42) != expected) return "mix(42) changed";
    if (memcmp(code, (void *) mix, sizeof code) != 0) return "the text of mix changed";
    char link[4096];
    ssize_t n = readlink("/proc/self/exe", link, sizeof link - 1);
    if (n < 0) return "readlink /proc/self/exe failed";
    link[n] = 0;
    if (n < 10 || strcmp(link + n - 10, " (deleted)") != 0) {
        snprintf(why, sizeof why, "/proc/self/exe is %s", link);
        return why;
    }
    int fd = open("/proc/self/exe", O_RDONLY);
    if (fd < 0) return "cannot open /proc/self/exe";
    char elf[4];
    ssize_t r = read(fd, elf, 4);
    close(fd);
    if (r != 4 || memcmp(elf, "\177ELF", 4) != 0) return "/proc/self/exe does not read back an ELF header";
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    expected = mix(42);
    memcpy(code, (void *) mix, sizeof code);
    printf("READY %d\n", getpid());
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (strcmp(line, "check\n") == 0) {
            const char *why = check();
            if (why) printf("FAIL %s\n", why);
            else printf("OK exe %d\n", ++checks);
        } else if (strcmp(line, "quit\n") == 0) {
            break;
        }
    }
    printf("BYE\n");
    return 0;
}
