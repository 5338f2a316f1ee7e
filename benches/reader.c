/* Load generator for the benchmark scripts: opens, reads to EOF and closes FILE in a loop for
 * SECONDS, then prints "ops ERRORS WRONG" and one latency per line in nanoseconds (to stdout);
 * with a 4th argument `ts`, each line is "START_NS LATENCY_NS", START in CLOCK_REALTIME (the
 * clock of `date +%s%N`). With MEMTOTAL_KB (or -), every read's MemTotal line is checked.
 * Build: gcc -O2 -o reader benches/reader.c */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static long long wall_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: reader FILE SECONDS [MEMTOTAL_KB]\n");
        return 2;
    }
    const char *file = argv[1];
    double secs = atof(argv[2]);
    long want = argc > 3 && strcmp(argv[3], "-") != 0 ? atol(argv[3]) : -1;
    int stamps = argc > 4 && strcmp(argv[4], "ts") == 0;
    size_t cap = 1 << 20, n = 0;
    unsigned *lat = malloc(cap * sizeof *lat);
    long long *start = stamps ? malloc(cap * sizeof *start) : NULL;
    static char buf[1 << 16];
    long errors = 0, wrong = 0;
    double end = now() + secs;
    while (now() < end) {
        long long w0 = stamps ? wall_ns() : 0;
        double t0 = now();
        int fd = open(file, O_RDONLY);
        if (fd < 0) { errors++; continue; }
        size_t len = 0;
        ssize_t r;
        while ((r = read(fd, buf + len, sizeof buf - 1 - len)) > 0) len += r;
        close(fd);
        if (r < 0) { errors++; continue; }
        double t1 = now();
        if (want >= 0) {
            buf[len] = 0;
            char *p = strstr(buf, "MemTotal:");
            if (!p || atol(p + 9) != want) wrong++;
        }
        if (n == cap) {
            cap *= 2;
            lat = realloc(lat, cap * sizeof *lat);
            if (stamps) start = realloc(start, cap * sizeof *start);
        }
        if (stamps) start[n] = w0;
        lat[n++] = (unsigned)((t1 - t0) * 1e9);
    }
    printf("%zu %ld %ld\n", n, errors, wrong);
    for (size_t i = 0; i < n; i++) {
        if (stamps) printf("%lld %u\n", start[i], lat[i]);
        else printf("%u\n", lat[i]);
    }
    return 0;
}
