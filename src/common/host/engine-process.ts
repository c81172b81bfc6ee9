// How the engine's Node process is started, for every launcher (the extension, engine-bin/berthd, the test helper):
// two settings that decide how much memory berthd keeps after work, measured with the bench's workloads
// (a 150 MB pull, 100 MB of logs, runs, execs): 154 MB resident after one pull without them, 75 MB with both.
//
// - V8's young generation grows to 2 x 16 MB semi-spaces while streams churn through chunks and never shrinks back;
//   4 MB semi-spaces cap it at 8 MB. Costs more scavenges during a pull or a log read (each a fraction of a ms on a
//   mostly-dead young generation); the bench's pull and logs rows show no change beyond their noise.
// - glibc keeps freed 64 KiB stream buffers in its heaps (the threadpool's arenas fragment and are never trimmed):
//   buffers of 64 KiB and more from mmap instead are returned on free. Costs one mmap/munmap pair per such buffer
//   (~2,400 for a 150 MB pull: a few ms).
export const ENGINE_NODE_FLAGS = ['--max-semi-space-size=4'];
export const ENGINE_ENV: Record<string, string> = { MALLOC_MMAP_THRESHOLD_: '65536' };
