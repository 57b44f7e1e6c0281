"""Allocation-heavy Python workload for bench/run.sh.

Builds records (dicts, lists, strings), serialises them with json and parses
them back, sorts and groups them, and does string processing.  Everything is
seeded, so the printed checksum does not depend on the allocator (or on
PYTHONHASHSEED: no set or dict of str is iterated in hash order).

usage: workload.py [scale-percent]
"""
import hashlib
import json
import random
import sys

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu "
         "nu xi omicron pi rho sigma tau upsilon phi chi psi omega").split()


def make_record(rng, i):
    n = rng.randrange(1, 12)
    return {
        "id": i,
        "name": "-".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 5))),
        "score": round(rng.random() * 1000, 3),
        "tags": [rng.choice(WORDS) for _ in range(n)],
        "values": [rng.randrange(-10**6, 10**6) for _ in range(rng.randrange(0, 24))],
        "nested": {"k%d" % j: "v" * rng.randrange(1, 40) for j in range(rng.randrange(0, 6))},
    }


def round_trip(records, digest):
    text = json.dumps(records, sort_keys=True)
    digest.update(text.encode())
    back = json.loads(text)
    assert len(back) == len(records)
    return back


def sort_and_group(records, digest):
    records.sort(key=lambda r: (r["name"], -r["score"], r["id"]))
    groups = {}
    for r in records:
        groups.setdefault(r["tags"][0], []).append(r)
    for tag in sorted(groups):
        g = groups[tag]
        total = sum(sum(r["values"]) for r in g)
        digest.update(("%s:%d:%d;" % (tag, len(g), total)).encode())


def text_work(rng, digest, lines):
    buf = []
    for _ in range(lines):
        buf.append(" ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 30))))
    text = "\n".join(buf)
    counts = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    digest.update(repr(top).encode())
    upper = [line.upper().replace("A", "4") for line in buf]
    digest.update(str(sum(len(s) for s in upper)).encode())


def main():
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    rounds = max(1, 10 * scale // 100)
    rng = random.Random(12345)
    digest = hashlib.sha256()
    keep = []  # a slowly growing long-lived set of records
    for rnd in range(rounds):
        records = [make_record(rng, rnd * 100000 + i) for i in range(12000)]
        records = round_trip(records, digest)
        sort_and_group(records, digest)
        text_work(rng, digest, 6000)
        keep.extend(records[::50])
        if len(keep) > 5000:
            del keep[:2000]
    digest.update(json.dumps(keep[-100:], sort_keys=True).encode())
    print("python rounds=%d kept=%d checksum=%s" % (rounds, len(keep), digest.hexdigest()[:16]))


if __name__ == "__main__":
    main()
