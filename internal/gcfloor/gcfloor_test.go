package gcfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name        string
		floor, live uint64
		base, want  int
	}{
		{"live heap past the floor keeps GOGC", 32 * mib, 64 * mib, 200, 200},
		{"live heap at the floor keeps GOGC", 32 * mib, 32 * mib, 200, 200},
		{"goal lands on the floor", 32 * mib, 4 * mib, 200, 700},
		{"never below GOGC", 32 * mib, 16 * mib, 200, 200},
		{"small live heap: capped so the runtime's minimum stays at the floor", 32 * mib, 1 * mib, 100, 800},
		{"nothing live yet", 32 * mib, 0, 100, 800},
		{"a floor below the runtime minimum never lowers GOGC", 2 * mib, 0, 100, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, PercentFor(tc.floor, tc.live, tc.base))
		})
	}
}

// TestTunerFollowsCollections: after collections with a small live heap
// the tuner has raised GOGC towards the floor; Stop puts GOGC back.
func TestTunerFollowsCollections(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)

	tu := Start(256<<20, 100)
	defer tu.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for tu.Percent() == 100 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the finalizer goroutine runs adjust
	}
	assert.Greater(t, tu.Percent(), 100, "GOGC raised for a live heap far below the floor")
	assert.Equal(t, tu.Percent(), debug.SetGCPercent(tu.Percent()), "the runtime has the tuner's value")

	tu.Stop()
	assert.Equal(t, 100, debug.SetGCPercent(100))
}

func TestStartOff(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	for _, tc := range []struct {
		name          string
		floor         uint64
		percent, gogc int
	}{
		{"no floor: plain GOGC", 0, 300, 300},
		{"GOGC=off stays off", 64 << 20, -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tu := Start(tc.floor, tc.percent)
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
			assert.Equal(t, tc.gogc, tu.Percent())
			assert.Equal(t, tc.gogc, debug.SetGCPercent(100))
		})
	}
}
