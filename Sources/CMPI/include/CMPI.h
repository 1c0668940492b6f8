// The few MPI calls glow-gpu uses, reached through dlopen so that the binary neither
// links Open MPI nor needs it installed to run as a single process.
#ifndef GLOW_CMPI_H
#define GLOW_CMPI_H
#include <stddef.h>

/// Loads `library` (e.g. "libmpi.so.40") with RTLD_NOW | RTLD_GLOBAL and resolves every
/// function and predefined handle below. Returns 0, or -1 with a message in `error`.
int glow_mpi_load(const char *library, char *error, size_t error_length);
/// MPI_Init(NULL, NULL). Returns the MPI error code (0 is success).
int glow_mpi_init(void);
/// MPI_Finalize.
int glow_mpi_finalize(void);
/// Rank and size in MPI_COMM_WORLD.
int glow_mpi_rank(int *rank);
int glow_mpi_size(int *size);
/// In-place MPI_Allreduce(MPI_SUM) over MPI_COMM_WORLD, split into calls of at most
/// 2^30 elements (MPI counts are int).
int glow_mpi_allreduce_sum_float(float *data, size_t count);
int glow_mpi_allreduce_sum_double(double *data, size_t count);
/// In-place MPI_Allreduce(MPI_MAX) of doubles.
int glow_mpi_allreduce_max_double(double *data, size_t count);
/// MPI_Barrier(MPI_COMM_WORLD).
int glow_mpi_barrier(void);
/// MPI_Abort(MPI_COMM_WORLD, code); does not return when MPI is loaded.
void glow_mpi_abort(int code);
/// MPI_Error_string into `out`.
void glow_mpi_error_string(int code, char *out, size_t length);

#endif
