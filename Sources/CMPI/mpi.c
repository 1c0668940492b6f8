// Open MPI through dlopen. Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are
// the addresses of data symbols in libmpi (ompi_mpi_comm_world, ...), so dlsym yields them
// directly; MPI_IN_PLACE is (void *)1. This is Open MPI's ABI (libmpi.so.40, 3.x to 5.x).
#include "CMPI.h"
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef void *Handle;
#define IN_PLACE ((void *)1)
#define CHUNK ((size_t)1 << 30)

static int (*p_init)(int *, char ***);
static int (*p_finalize)(void);
static int (*p_comm_rank)(Handle, int *);
static int (*p_comm_size)(Handle, int *);
static int (*p_allreduce)(const void *, void *, int, Handle, Handle, Handle);
static int (*p_barrier)(Handle);
static int (*p_abort)(Handle, int);
static int (*p_error_string)(int, char *, int *);
static Handle comm_world, type_float, type_double, op_sum, op_max;

int glow_mpi_load(const char *library, char *error, size_t error_length) {
    // RTLD_GLOBAL: Open MPI's plugins (mca_*.so) resolve their symbols against libmpi.
    void *lib = dlopen(library, RTLD_NOW | RTLD_GLOBAL);
    if (!lib) {
        snprintf(error, error_length, "%s", dlerror());
        return -1;
    }
    struct { const char *name; void **slot; } symbols[] = {
        {"MPI_Init", (void **)&p_init}, {"MPI_Finalize", (void **)&p_finalize},
        {"MPI_Comm_rank", (void **)&p_comm_rank}, {"MPI_Comm_size", (void **)&p_comm_size},
        {"MPI_Allreduce", (void **)&p_allreduce},
        {"MPI_Barrier", (void **)&p_barrier}, {"MPI_Abort", (void **)&p_abort},
        {"MPI_Error_string", (void **)&p_error_string},
        {"ompi_mpi_comm_world", &comm_world}, {"ompi_mpi_float", &type_float},
        {"ompi_mpi_double", &type_double},
        {"ompi_mpi_op_sum", &op_sum}, {"ompi_mpi_op_max", &op_max},
    };
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        *symbols[i].slot = dlsym(lib, symbols[i].name);
        if (!*symbols[i].slot) {
            snprintf(error, error_length, "%s has no symbol %s (glow-gpu needs Open MPI's libmpi.so.40)",
                     library, symbols[i].name);
            return -1;
        }
    }
    return 0;
}

int glow_mpi_init(void) { return p_init(NULL, NULL); }
int glow_mpi_finalize(void) { return p_finalize(); }
int glow_mpi_rank(int *rank) { return p_comm_rank(comm_world, rank); }
int glow_mpi_size(int *size) { return p_comm_size(comm_world, size); }

static int allreduce(void *data, size_t count, size_t element, Handle type, Handle op) {
    char *p = data;
    for (size_t done = 0; done < count;) {
        size_t n = count - done < CHUNK ? count - done : CHUNK;
        int rc = p_allreduce(IN_PLACE, p + done * element, (int)n, type, op, comm_world);
        if (rc != 0) return rc;
        done += n;
    }
    return 0;
}

int glow_mpi_allreduce_sum_float(float *data, size_t count) {
    return allreduce(data, count, sizeof(float), type_float, op_sum);
}
int glow_mpi_allreduce_sum_double(double *data, size_t count) {
    return allreduce(data, count, sizeof(double), type_double, op_sum);
}
int glow_mpi_allreduce_max_double(double *data, size_t count) {
    return allreduce(data, count, sizeof(double), type_double, op_max);
}


int glow_mpi_barrier(void) { return p_barrier(comm_world); }
void glow_mpi_abort(int code) { if (p_abort) p_abort(comm_world, code); }

void glow_mpi_error_string(int code, char *out, size_t length) {
    char buffer[512];
    int n = 0;
    if (p_error_string && p_error_string(code, buffer, &n) == 0) {
        snprintf(out, length, "%.*s", n, buffer);
    } else {
        snprintf(out, length, "MPI error %d", code);
    }
}
