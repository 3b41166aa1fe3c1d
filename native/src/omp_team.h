// The calling thread's place in the current OpenMP team; a build without OpenMP is a team of one.
#pragma once

#ifdef _OPENMP
#include <omp.h>
#endif

namespace wsss {

inline int team_index() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

inline int team_size() {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

}  // namespace wsss
