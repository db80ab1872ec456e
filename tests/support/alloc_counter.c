// LD_PRELOAD library for tests: counts the heap allocations of the process it is loaded into
// (malloc, calloc, realloc and the aligned forms; Asio's coroutine frames use aligned_alloc).
// The count lives in a shared mapping of the file named by PGTENANT_TEST_ALLOC_COUNTER, so a
// test can read it at any moment without stopping or signalling the process.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void* __libc_malloc(size_t size);
extern void* __libc_calloc(size_t n, size_t size);
extern void* __libc_realloc(void* p, size_t size);
extern void* __libc_memalign(size_t alignment, size_t size);

static uint64_t before_mapping;  // allocations before the constructor ran (the loader's)
static uint64_t* counter = &before_mapping;

__attribute__((constructor)) static void map_counter(void) {
    const char* path = getenv("PGTENANT_TEST_ALLOC_COUNTER");
    if (path == NULL) return;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    if (ftruncate(fd, sizeof(uint64_t)) == 0) {
        void* m = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED) counter = (uint64_t*)m;
    }
    close(fd);
}

static void count(void) { __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED); }

void* malloc(size_t size) {
    count();
    return __libc_malloc(size);
}

void* calloc(size_t n, size_t size) {
    count();
    return __libc_calloc(n, size);
}

void* realloc(void* p, size_t size) {
    count();
    return __libc_realloc(p, size);
}

void* memalign(size_t alignment, size_t size) {
    count();
    return __libc_memalign(alignment, size);
}

void* aligned_alloc(size_t alignment, size_t size) {
    count();
    return __libc_memalign(alignment, size);
}

int posix_memalign(void** out, size_t alignment, size_t size) {
    if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    count();
    void* p = __libc_memalign(alignment, size);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}
