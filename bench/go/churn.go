// churn: the allocation pattern of bench/churn.c, in Go, so that
// `bench/run.sh --suite go` can compare pacegc's pacing with the Go
// runtime's on identical work: the same sizes, the same xorshift64
// sequence, the same byte count, the same checksum line.  See churn.c for
// the pattern.
//
// usage: churn-go [total-MiB [live-MiB [threads]]]      (defaults 4096, 32, 1)
//
// threads: goroutines, each with its part of the live set and of the
// bytes, as churn.c's threads.
//
// Objects are []uint64 (the runtime does not scan them, as it has no
// pointers); the live set is a slice of them.  Build with GO111MODULE=off:
// the program uses the standard library only.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
)

const (
	miB      = uint64(1) << 20
	meanSize = 2560 // mean of 1, 2, 3 and 4 KiB
	seed     = 0x2545f4914f6cdd1d
	golden   = 0x9e3779b97f4a7c15
)

// xorshift64 (Marsaglia): the same three lines as in churn.c.
func rng(s *uint64) uint64 {
	x := *s
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*s = x
	return x
}

func mix(h, v uint64) uint64 {
	return h ^ (v + golden + (h << 6) + (h >> 2))
}

func objectWords(r uint64) int {
	return int(1+(r&3)) * 1024 / 8
}

// newObject returns an object of the size r picks, every word written.
func newObject(r uint64, allocated *uint64) []uint64 {
	words := objectWords(r)
	o := make([]uint64, words)
	o[0] = uint64(words)
	for k := 1; k < words; k++ {
		o[k] = r ^ (uint64(k) * golden)
	}
	*allocated += uint64(words) * 8
	return o
}

// objectSum reads what the checksum needs before an object is dropped.
func objectSum(h uint64, o []uint64) uint64 {
	return mix(mix(h, o[0]), o[o[0]-1])
}

const maxThreads = 64

// sinks make the short-lived objects escape to the heap, as churn.c's
// volatile globals keep its mallocs from being optimised away.
var sinks [maxThreads][]uint64

func parseMiB(s, what string) uint64 {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == 0 || v > 1<<30 {
		fmt.Fprintf(os.Stderr, "usage: churn [total-MiB [live-MiB [threads]]]: bad %s \"%s\"\n", what, s)
		os.Exit(2)
	}
	return v * miB
}

type result struct{ h, allocated, steps uint64 }

// work is one thread of churn.c: its live set, then its churn.
func work(id int, total, live uint64, filled, start *sync.WaitGroup, out *result) {
	slots := live / meanSize
	if slots == 0 {
		slots = 1
	}
	set := make([][]uint64, slots)
	s, h, allocated, steps := uint64(seed)^(uint64(id)*golden), uint64(0), uint64(0), uint64(0)
	for i := range set {
		set[i] = newObject(rng(&s), &allocated)
	}
	filled.Done()
	start.Wait()

	for allocated < total {
		r := rng(&s)
		slot := (r >> 8) % slots
		h = objectSum(h, set[slot])
		set[slot] = newObject(r, &allocated) // the old one is garbage
		tmp := newObject(rng(&s), &allocated)
		sinks[id] = tmp
		h = objectSum(h, tmp)
		steps++
	}
	for _, o := range set {
		h = objectSum(h, o)
	}
	*out = result{h, allocated, steps}
}

func main() {
	total, live, threads := 4096*miB, 32*miB, 1
	if len(os.Args) > 1 {
		total = parseMiB(os.Args[1], "total")
	}
	if len(os.Args) > 2 {
		live = parseMiB(os.Args[2], "live")
	}
	if len(os.Args) > 3 {
		t, err := strconv.Atoi(os.Args[3])
		if err != nil || t < 1 || t > maxThreads {
			fmt.Fprintf(os.Stderr, "usage: churn [total-MiB [live-MiB [threads]]]: bad threads \"%s\"\n", os.Args[3])
			os.Exit(2)
		}
		threads = t
	}
	var filled, start, done sync.WaitGroup
	results := make([]result, threads)
	filled.Add(threads)
	start.Add(1)
	done.Add(threads)
	for t := 0; t < threads; t++ {
		go func(t int) {
			defer done.Done()
			work(t, total/uint64(threads), live/uint64(threads), &filled, &start, &results[t])
		}(t)
	}
	filled.Wait()
	fmt.Fprintln(os.Stderr, "churn: live set filled")
	start.Done()
	done.Wait()
	h, allocated, steps := uint64(0), uint64(0), uint64(0)
	for t, r := range results {
		if t == 0 {
			h = r.h
		} else {
			h = mix(h, r.h)
		}
		allocated += r.allocated
		steps += r.steps
	}
	fmt.Printf("churn steps=%d allocated=%d checksum=%016x\n", steps, allocated, h)
}
