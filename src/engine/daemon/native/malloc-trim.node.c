// malloc-trim.node: a Node-API addon whose export is glibc's malloc_trim(0), for the engine's idle pass
// (src/engine/daemon/idle-memory.ts). glibc gives freed memory back only from the top of each heap; what is freed
// below a live allocation stays resident for good. After the bench's workloads that is ~16 MB of berthd's ~40 MB
// of anonymous memory: V8's compiler and GC threads fill glibc's thread arenas (one grew to 35 MB) and the main
// heap. malloc_trim returns the free pages of every arena (madvise), which nothing reachable from JavaScript does.
// Built for glibc hosts only (scripts/build.mjs); where it cannot be loaded the engine goes on without it.
#include <malloc.h>
#include <node_api.h>

static napi_value trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value released;
  if (napi_get_boolean(env, malloc_trim(0) == 1, &released) != napi_ok) return NULL;
  return released;
}

// The module's exports are the function itself: require(...)() → true when memory was given back.
NAPI_MODULE_INIT() {
  (void)exports;
  napi_value fn;
  if (napi_create_function(env, "mallocTrim", NAPI_AUTO_LENGTH, trim, NULL, &fn) != napi_ok) return NULL;
  return fn;
}
