#include <cblas.h>
// Declared by OpenBLAS; not in every cblas.h.
int openblas_get_num_threads(void);
char *openblas_get_config(void);
char *openblas_get_corename(void);
