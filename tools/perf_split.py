"""Split a `perf script` dump of a CPU train step into GEMM / element-wise / allocation /
autodiff bookkeeping / threading, by CPU samples and per thread (docs/performance.md,
"CPU: where the train step's time goes").

Record with call stacks (hardware counters are not needed; `cpu-clock` is a software event):

    RAYON_NUM_THREADS=2 perf record -e cpu-clock -F 499 -D 5000 --call-graph dwarf,16384 \
        -o perf.data target/debug/deps/models-<hash> --bench --profile-time 10 \
        backend_4_5m/flex_train_step
    perf script -i perf.data -F comm,tid,ip,sym,dso > perf.txt
    python3 tools/perf_split.py perf.txt

A sample belongs to the first rule that matches: any frame in gemm → GEMM; a scheduler symbol
in the kernel → threading; any other kernel leaf or an allocator / memset leaf → allocation;
a strided-copy leaf → layout copies; else the innermost burn frame decides.
"""

import collections
import sys

SCHED = ("finish_task_switch", "sched_yield", "schedule", "_raw_spin_unlock", "futex",
         "do_syscall_64", "handle_softirqs", "irqentry", "__rcu", "entry_SYSCALL")
ALLOC = ("malloc", "_int_free", "cfree", "memset", "mmap", "munmap", "__rust_alloc",
         "alloc_zeroed", "filled_typed", "raw_vec", "__rust_dealloc", "madvise")
COPY = ("memmove", "to_contiguous", "StridedIter", "BlockStartIter")
COMPUTE = ("burn_flex", "macerator", "expf", "xflowf", "logf", "errnof", "cubecl_zspace")


def samples(path):
    """(thread id, frames leaf first) per sample."""
    tid, frames = None, None
    for line in open(path, errors="replace"):
        if not line.strip():
            if frames is not None:
                yield tid, frames
            frames = None
        elif not line.startswith(("\t", " ")):
            tid, frames = line.split()[1], []
        else:
            parts = line.strip().split(" ", 1)
            if frames is not None and len(parts) == 2:
                frames.append(parts[1])
    if frames is not None:
        yield tid, frames


def category(frames):
    leaf, stack = frames[0], " | ".join(frames)
    kernel = "[kernel" in leaf or "vmlinux" in leaf
    if "gemm_" in stack:
        return "GEMM"
    if kernel and any(s in leaf for s in SCHED):
        return "threading"
    if kernel or any(s in leaf for s in ALLOC):
        return "allocation + zeroing"
    if any(s in leaf for s in COPY):
        return "element-wise: layout copies"
    for frame in frames:
        if "burn_autodiff" in frame or "hashbrown" in frame:
            return "autodiff bookkeeping"
        if any(s in frame for s in COMPUTE):
            return "element-wise: compute"
        if "rayon" in frame:
            return "threading"
    return "other"


def main(path):
    total, per_thread = collections.Counter(), collections.Counter()
    for tid, frames in samples(path):
        if frames:
            kind = category(frames)
            total[kind] += 1
            per_thread[(tid, kind)] += 1
    n = sum(total.values())
    print(f"{n} samples")
    for kind, count in total.most_common():
        print(f"{100 * count / n:5.1f}%  {kind}")
    print("\nper thread:")
    for (tid, kind), count in sorted(per_thread.items()):
        print(f"  {tid:>8}  {count:6}  {kind}")


if __name__ == "__main__":
    main(sys.argv[1])
