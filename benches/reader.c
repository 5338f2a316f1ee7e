/* Load generator for the benchmark scripts: opens, reads to EOF and closes FILE in a loop for
 * SECONDS, then prints "ops ERRORS WRONG" and the latency histogram, one "NS COUNT" line per
 * non-empty bucket (log-linear, 1/32 of a power of two wide: under 3% error), which the scripts
 * merge across readers. With a 4th argument `ts`, it prints one "START_NS LATENCY_NS" line per
 * read instead (START in CLOCK_REALTIME, the clock of `date +%s%N`). With MEMTOTAL_KB (or -),
 * every read's MemTotal line is checked. With START_AT (CLOCK_REALTIME ns, 5th argument), the
 * reader waits for that instant, so many readers measure the same window. SIGTERM ends the run
 * early, results printed.
 * Build: gcc -O2 -o reader benches/reader.c */
#include <fcntl.h>
#include <signal.h>
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

/* SIGTERM ends the run early (its results are still printed). */
static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

#define SUB 32
static unsigned long long hist[64 * SUB];

static int bucket(unsigned long long ns) {
    if (ns < SUB) return (int)ns;
    int e = 63 - __builtin_clzll(ns);
    int sub = (int)((ns >> (e - 5)) & (SUB - 1));
    return e * SUB + sub;
}

static unsigned long long bucket_floor(int b) {
    if (b < SUB) return b;
    int e = b / SUB, sub = b % SUB;
    return (1ULL << e) + ((unsigned long long)sub << (e - 5));
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: reader FILE SECONDS [MEMTOTAL_KB|-] [ts|hist] [START_AT_NS]\n");
        return 2;
    }
    const char *file = argv[1];
    double secs = atof(argv[2]);
    long want = argc > 3 && strcmp(argv[3], "-") != 0 ? atol(argv[3]) : -1;
    int stamps = argc > 4 && strcmp(argv[4], "ts") == 0;
    if (argc > 5) {
        long long at = atoll(argv[5]);
        while (wall_ns() < at) usleep(200);
    }
    size_t cap = stamps ? 1 << 20 : 0, n = 0;
    unsigned *lat = stamps ? malloc(cap * sizeof *lat) : NULL;
    long long *start = stamps ? malloc(cap * sizeof *start) : NULL;
    static char buf[1 << 16];
    long errors = 0, wrong = 0;
    signal(SIGTERM, on_term);
    double end = now() + secs;
    while (!stop && now() < end) {
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
        unsigned long long ns = (unsigned long long)((t1 - t0) * 1e9);
        if (stamps) {
            if (n == cap) {
                cap *= 2;
                lat = realloc(lat, cap * sizeof *lat);
                start = realloc(start, cap * sizeof *start);
            }
            start[n] = w0;
            lat[n] = (unsigned)ns;
        } else {
            hist[bucket(ns)]++;
        }
        n++;
    }
    printf("%zu %ld %ld\n", n, errors, wrong);
    if (stamps) {
        for (size_t i = 0; i < n; i++) printf("%lld %u\n", start[i], lat[i]);
    } else {
        for (int b = 0; b < 64 * SUB; b++)
            if (hist[b]) printf("%llu %llu\n", bucket_floor(b), hist[b]);
    }
    return 0;
}
