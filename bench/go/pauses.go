// pauses: bench/pauses.c in Go, so that bench/pauses.sh can set the Go
// runtime's pauses beside pacegc's on the same structure: the same
// 64-byte nodes in the same lists, the same splitmix64 sequences, the same
// churn step, the same sleeper, the same output lines.  See pauses.c.
//
// usage: pauses-go [live-MiB [seconds [churn-threads [free|drop]]]]
//
// "free" has no meaning under a collector: both modes drop.  Build with
// GO111MODULE=off: the program uses the standard library only.
package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	nodePayload = 6
	bufferSize  = 4096
	sleepNS     = 200000
	lists       = 65536
	maxWakeups  = 1 << 22
)

type node struct {
	next    *node
	key     uint64
	payload [nodePayload]uint64
}

var (
	heads        [lists]*node
	locks        [lists]sync.Mutex
	nodesPerList uint64
	buffers      [][]byte
	bufferLock   sync.Mutex
	stop         atomic.Bool
	steps        atomic.Uint64
	lateUS       []uint32
)

// splitmix64, as bench_rng in bench_common.h.
func rng(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func mix(h, v uint64) uint64 {
	h ^= v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)
	return h
}

func newNode(key uint64) *node {
	n := &node{key: key}
	for i := 0; i < nodePayload; i++ {
		n.payload[i] = key * uint64(i+3)
	}
	return n
}

func churn(seed uint64, wg *sync.WaitGroup) {
	defer wg.Done()
	s := seed
	var local uint64
	for !stop.Load() {
		r := rng(&s)
		l := r % lists
		pos := (r >> 20) % nodesPerList
		locks[l].Lock()
		at := &heads[l]
		for i := uint64(0); i < pos && (*at).next != nil; i++ {
			at = &(*at).next
		}
		old := *at
		n := newNode(old.key)
		n.next = old.next
		*at = n
		locks[l].Unlock()
		if r&1023 == 0 {
			b := make([]byte, bufferSize)
			for i := range b {
				b[i] = byte(r >> 32)
			}
			bufferLock.Lock()
			buffers[(r>>40)%uint64(len(buffers))] = b
			bufferLock.Unlock()
		}
		local++
	}
	steps.Add(local)
}

func sleeper(done chan struct{}) {
	for !stop.Load() && len(lateUS) < maxWakeups {
		t0 := time.Now()
		time.Sleep(sleepNS * time.Nanosecond)
		late := time.Since(t0).Nanoseconds() - sleepNS
		if late < 0 {
			late = 0
		}
		lateUS = append(lateUS, uint32(late/1000))
	}
	close(done)
}

func arg(i int, def float64) float64 {
	if len(os.Args) <= i {
		return def
	}
	v, err := strconv.ParseFloat(os.Args[i], 64)
	if err != nil || v <= 0 {
		fmt.Fprintln(os.Stderr, "usage: pauses-go [live-MiB [seconds [churn-threads [free|drop]]]]")
		os.Exit(2)
	}
	return v
}

func main() {
	liveMiB := uint64(arg(1, 100))
	seconds := arg(2, 5)
	threads := int(arg(3, 1))
	live := liveMiB << 20
	nodesPerList = live / 8 * 7 / 64 / lists
	if nodesPerList < 1 {
		nodesPerList = 1
	}
	buffers = make([][]byte, live/8/bufferSize+1)
	s := uint64(42)
	for l := 0; l < lists; l++ {
		at := &heads[l]
		for i := uint64(0); i < nodesPerList; i++ {
			*at = newNode(rng(&s))
			at = &(*at).next
		}
	}
	for i := range buffers {
		b := make([]byte, bufferSize)
		for j := range b {
			b[j] = byte(i)
		}
		buffers[i] = b
	}
	lateUS = make([]uint32, 0, maxWakeups)
	done := make(chan struct{})
	go sleeper(done)
	var wg sync.WaitGroup
	for i := 0; i < threads; i++ {
		wg.Add(1)
		go churn(uint64(1000+i), &wg)
	}
	time.Sleep(time.Duration(seconds * float64(time.Second)))
	stop.Store(true)
	wg.Wait()
	<-done
	var sum, count uint64
	for l := 0; l < lists; l++ {
		for n := heads[l]; n != nil; n = n.next {
			sum = mix(sum, n.key+n.payload[nodePayload-1])
			count++
		}
	}
	sort.Slice(lateUS, func(i, j int) bool { return lateUS[i] < lateUS[j] })
	k := len(lateUS)
	var mx, p99, p50 uint32
	if k > 0 {
		mx, p99, p50 = lateUS[k-1], lateUS[k*99/100], lateUS[k/2]
	}
	if os.Getenv("PAUSES_QUIET") == "" {
		fmt.Fprintf(os.Stderr, "pauses: wakeups %d late max %d us p99 %d us p50 %d us, steps %d\n",
			k, mx, p99, p50, steps.Load())
	}
	fmt.Printf("%016x %d\n", sum, count)
}
