# Allocation-heavy Python for the plain-vs-preloaded comparison: dicts,
# lists, strings, json round trips, sorting, sets, bytes, a big join, a
# deep structure, gc of reference cycles.  Deterministic output (fixed
# seed; sets and dicts are printed sorted or through their sizes).
import gc
import hashlib
import json
import random
import re
import sys
from collections import Counter, OrderedDict, defaultdict, deque

rng = random.Random(20240607)
h = hashlib.sha256()


def out(*args):
    line = " ".join(str(a) for a in args)
    h.update(line.encode())
    print(line)


# Dicts of many small objects, grown and shrunk.
d = {}
for i in range(200000):
    d["k%07d" % rng.randrange(10**7)] = [i, str(i), i * 0.5]
for k in list(d)[::3]:
    del d[k]
out("dict", len(d), sum(v[0] for v in d.values()) % 1000003)

# Lists: build, sort with keys, slice, reverse.
lst = [rng.random() for _ in range(300000)]
lst.sort()
words = ["".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(1, 12)))
         for _ in range(100000)]
words.sort(key=lambda w: (len(w), w))
out("sorted", round(lst[0], 6), round(lst[-1], 6), words[0], words[-1])
out("top", Counter(words).most_common(3))

# Strings: concatenation, join, split, replace, format, regex.
s = "".join("%d:%s;" % (i, words[i % len(words)]) for i in range(200000))
parts = s.split(";")
big = "|".join(p.upper() for p in parts if p)
out("strings", len(s), len(parts), len(big), big[:40])
pat = re.compile(r"(\d+):([a-p]{3,5})\b")
found = pat.findall(s)
out("regex", len(found), found[:3])
s2 = s.replace("a", "AAAA").replace(";", "\n")
out("replace", len(s2), hashlib.md5(s2.encode()).hexdigest())

# JSON round trip of a nested structure.
doc = {
    "users": [
        {"id": i, "name": words[i], "tags": words[i:i + 5],
         "score": i * 1.25, "meta": {"n": i, "ok": i % 3 == 0, "none": None}}
        for i in range(30000)
    ],
    "index": {w: i for i, w in enumerate(words[:20000])},
}
text = json.dumps(doc, sort_keys=True)
back = json.loads(text)
assert back == doc
text2 = json.dumps(back, sort_keys=True, indent=1)
out("json", len(text), len(text2), hashlib.sha1(text.encode()).hexdigest())

# Sets, tuples, frozensets, defaultdict, deque.
a = set(rng.randrange(10**6) for _ in range(200000))
b = set(rng.randrange(10**6) for _ in range(200000))
out("sets", len(a), len(b), len(a & b), len(a | b), len(a ^ b))
groups = defaultdict(list)
for w in words:
    groups[w[0]].append(w)
out("groups", sorted((k, len(v)) for k, v in groups.items())[:5])
dq = deque(maxlen=1000)
for i in range(300000):
    dq.append((i, str(i)))
out("deque", len(dq), dq[0], dq[-1])
od = OrderedDict()
for i in range(50000):
    od[i] = bytes(i % 200)
    if i % 7 == 0:
        od.move_to_end(i // 2, last=False)
out("ordereddict", len(od), sum(len(v) for v in od.values()))

# Bytes and bytearrays of many sizes.
ba = bytearray()
for i in range(20000):
    ba += bytes([i % 256]) * (i % 97)
blobs = [bytes(rng.getrandbits(8) for _ in range(n)) for n in range(0, 2000, 7)]
out("bytes", len(ba), hashlib.sha256(ba).hexdigest()[:16], sum(map(len, blobs)))

# Reference cycles for the cyclic collector.


class Node:
    def __init__(self, v):
        self.v = v
        self.next = None
        self.data = [v] * 10


for _ in range(20):
    nodes = [Node(i) for i in range(5000)]
    for i, n in enumerate(nodes):
        n.next = nodes[(i + 1) % len(nodes)]
    del nodes
collected = gc.collect()
out("gc", "collected" if collected >= 0 else "?")

# Deep recursion building nested lists.


def build(n):
    return [] if n == 0 else [build(n - 1), str(n)]


deep = build(900)
depth = 0
while deep:
    deep = deep[0]
    depth += 1
out("deep", depth)

# Integers big enough to need allocation.
f = 1
for i in range(1, 3000):
    f *= i
out("factorial bits", f.bit_length(), len(hex(f)), str((f >> 99) % 10**30))

print("digest", h.hexdigest())
sys.stdout.flush()
sys.stderr.write("python: done\n")
