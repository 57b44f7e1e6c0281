// churn: the allocation pattern of bench/churn.c, in Go, so that
// `bench/run.sh --suite go` can compare pacegc's pacing with the Go
// runtime's on identical work: the same sizes, the same xorshift64
// sequence, the same byte count, the same checksum line.  See churn.c for
// the pattern.
//
// usage: churn-go [total-MiB [live-MiB]]      (defaults 4096 and 32)
//
// Objects are []uint64 (the runtime does not scan them, as it has no
// pointers); the live set is a slice of them.  Build with GO111MODULE=off:
// the program uses the standard library only.
package main

import (
	"fmt"
	"os"
	"strconv"
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

// sink makes the short-lived object escape to the heap, as churn.c's
// volatile global keeps its malloc from being optimised away.
var sink []uint64

func parseMiB(s, what string) uint64 {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == 0 || v > 1<<30 {
		fmt.Fprintf(os.Stderr, "usage: churn [total-MiB [live-MiB]]: bad %s \"%s\"\n", what, s)
		os.Exit(2)
	}
	return v * miB
}

func main() {
	total, live := 4096*miB, 32*miB
	if len(os.Args) > 1 {
		total = parseMiB(os.Args[1], "total")
	}
	if len(os.Args) > 2 {
		live = parseMiB(os.Args[2], "live")
	}
	slots := live / meanSize
	if slots == 0 {
		slots = 1
	}
	set := make([][]uint64, slots)
	s, h, allocated, steps := uint64(seed), uint64(0), uint64(0), uint64(0)
	for i := range set {
		set[i] = newObject(rng(&s), &allocated)
	}
	fmt.Fprintln(os.Stderr, "churn: live set filled")

	for allocated < total {
		r := rng(&s)
		slot := (r >> 8) % slots
		h = objectSum(h, set[slot])
		set[slot] = newObject(r, &allocated) // the old one is garbage
		tmp := newObject(rng(&s), &allocated)
		sink = tmp
		h = objectSum(h, tmp)
		steps++
	}
	for _, o := range set {
		h = objectSum(h, o)
	}
	fmt.Printf("churn steps=%d allocated=%d checksum=%016x\n", steps, allocated, h)
}
