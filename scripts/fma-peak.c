// fma-peak: the FP32 multiply-add peak of this CPU, per core and for all cores together.
// Each thread runs 12 independent chains of 256-bit FMAs (more than latency x throughput on
// any AVX2 core), so the loop is bound by the FMA units alone. Build and run:
//   cc -O3 -mavx2 -mfma -pthread scripts/fma-peak.c -o /tmp/fma-peak && /tmp/fma-peak 2
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { CHAINS = 12, ITERS = 400 * 1000 * 1000 };

static double now(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void *spin(void *out) {
    __m256 acc[CHAINS];
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps((float)c);
    for (long i = 0; i < ITERS; i++)
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    float sum = 0, lanes[8];
    for (int c = 0; c < CHAINS; c++) { _mm256_storeu_ps(lanes, acc[c]); for (int l = 0; l < 8; l++) sum += lanes[l]; }
    *(float *)out = sum;  // keeps the loop from being removed
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1 || threads > 256) { fprintf(stderr, "usage: fma-peak [threads 1...256]\n"); return 2; }
    pthread_t t[256]; float sink[256];
    double start = now();
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, spin, &sink[i]);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    double seconds = now() - start, flops = 2.0 * 8 * CHAINS * (double)ITERS * threads;
    printf("%d thread(s): %.1f GFLOP/s FP32 (%.2f s; checksum %g)\n", threads, flops / seconds / 1e9, seconds, sink[0]);
    return 0;
}
