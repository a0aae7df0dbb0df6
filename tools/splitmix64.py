"""Independent SplitMix64 reference (Steele, Lea & Flood 2014) for prime-data's rng tests.

Run: python3 tools/splitmix64.py [seed] [count]
"""
import sys

MASK = (1 << 64) - 1


def splitmix64(seed, count):
    state = seed & MASK
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        yield z ^ (z >> 31)


if __name__ == "__main__":
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    for value in splitmix64(seed, count):
        print(f"0x{value:016X}")
