// Package gcfloor keeps the Go heap goal at or above a floor: GOGC is
// re-set after every collection so that the next one starts when the heap
// reaches max(floor, live × (1 + percent/100)).
//
// Why: a proxy's live heap is a few MiB while it allocates hundreds of MiB
// per second that die with their request. GOGC alone scales the heap goal
// with that tiny live heap, so the collector runs fifteen or more times a
// second and every cycle shows up as a latency spike (with GOMAXPROCS=1,
// the mark phase and assists take the one CPU). A floor in bytes makes
// idle and small proxies collect as rarely as their memory budget allows,
// while a large live heap (many connections) keeps the plain GOGC
// behaviour, so memory stays bounded by max(floor, live × (1+GOGC/100)).
// This is the "GC tuner" of Uber and CloudWeGo, without a heap ballast.
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Tuner re-sets GOGC after each collection. Start it once per process.
type Tuner struct {
	floor   uint64
	percent int

	mu      sync.Mutex
	sample  [1]metrics.Sample
	current int
	stopped bool
}

// liveBytes is the runtime metric of the heap marked live by the last
// collection (Go 1.21).
const liveBytes = "/gc/heap/live:bytes"

// Start sets GOGC to percent, raised after every collection as far as the
// floor (bytes) needs. floor 0 or percent < 0 (GOGC=off) leaves GOGC at
// percent and starts nothing.
func Start(floor uint64, percent int) *Tuner {
	t := &Tuner{floor: floor, percent: percent, current: percent}
	t.sample[0].Name = liveBytes
	debug.SetGCPercent(percent)
	if floor == 0 || percent < 0 {
		t.stopped = true
		return t
	}
	t.adjust()
	t.arm()
	return t
}

// Percent is the GOGC in effect.
func (t *Tuner) Percent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.current
}

// Stop restores the base percent; no more adjustments follow.
func (t *Tuner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	t.current = t.percent
	debug.SetGCPercent(t.percent)
}

// sentinel is collected by every cycle (it is never referenced), and its
// finalizer re-arms the next one: the finalizer runs once per collection.
type sentinel struct{ _ [32]byte }

func (t *Tuner) arm() {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		if t.adjust() {
			t.arm()
		}
	})
}

// adjust sets GOGC for the next cycle from the live heap of the last one;
// it reports whether the tuner is still running.
func (t *Tuner) adjust() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.sample[:])
	var live uint64
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	p := PercentFor(t.floor, live, t.percent)
	// Re-setting GOGC recomputes the pacer under the heap lock: skip
	// changes of less than an eighth.
	if d := p - t.current; d > t.current/8 || -d > t.current/8 {
		t.current = p
		debug.SetGCPercent(p)
	}
	return true
}

// runtimeHeapMinimum is Go's smallest heap goal at GOGC=100; the runtime
// scales it with GOGC, so a percent above floor×100/runtimeHeapMinimum
// would put the goal past the floor even with an empty heap.
const runtimeHeapMinimum = 4 << 20

// PercentFor is the GOGC that puts the next heap goal at the floor for
// this live heap, and never below base.
func PercentFor(floor, live uint64, base int) int {
	if floor <= live {
		return base
	}
	limit := floor * 100 / runtimeHeapMinimum
	p := limit
	if live > 0 {
		p = min((floor-live)*100/live, limit)
	}
	if p < uint64(base) {
		return base
	}
	return int(p)
}
