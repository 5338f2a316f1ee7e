// Times sysinfo(2): N calls in a loop, prints nanoseconds per call and the totalram seen.
//   cc -O2 -o sysinfo benches/sysinfo.c && ./sysinfo 100000
#include <stdio.h>
#include <stdlib.h>
#include <sys/sysinfo.h>
#include <time.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    struct sysinfo s;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        if (sysinfo(&s) != 0) { perror("sysinfo"); return 1; }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
    printf("%.0f ns/call, totalram %lu MiB\n", ns, (unsigned long)(s.totalram * s.mem_unit >> 20));
    return 0;
}
