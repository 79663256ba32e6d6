package mosnapp

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"mosn.io/mosn/pkg/log"
	"mosn.io/mosn/pkg/track"

	"github.com/meshproto/meshproto/internal/gcfloor"
)

// DefaultGCPercent is the static binary's GOGC when the environment sets
// none. A proxy's live heap is small (tens of MiB) and most of what it
// allocates dies with the request, so at Go's default of 100 it collects
// far more often than its memory needs: in the Dubbo benchmark 200 gave
// about 1.13x the calls/s of 100 for +5 MiB of RSS, and 400 or 800 gave no
// more (docs/performance.md). GOGC in the environment overrides it.
const DefaultGCPercent = 200

// DefaultGCHeapFloor is the static binary's heap goal floor when the
// environment sets none (internal/gcfloor): the collector starts no cycle
// before the heap reaches it, however small the live heap is. In the
// Dubbo benchmark 32 MiB gave 1.22x the calls/s of no floor for +23 MiB of
// RSS (78 against 55 MiB); 128 MiB gave no more (docs/performance.md).
const DefaultGCHeapFloor = 32 << 20

// GCHeapFloorEnv overrides DefaultGCHeapFloor: bytes, or a number with a
// KiB/MiB/GiB suffix; 0 turns the floor off (plain GOGC).
const GCHeapFloorEnv = "MESHPROTO_GC_HEAP_FLOOR"

// RequestTrackingEnv turns MOSN's per-request phase tracking back on in the
// static binary ("on").
const RequestTrackingEnv = "MESHPROTO_REQUEST_TRACKING"

// Tune applies the static binary's runtime defaults before MOSN starts:
// the GC percent above (GOGC in the environment wins, "off" included),
// the heap floor, and MOSN's request tracking off. MOSN times every
// phase of every request (time.Now and an append per phase) and only its
// SOFA tracer's log lines print the result, which meshproto's protocols
// never produce. The plugin host keeps stock MOSN's settings.
func Tune() {
	percent := DefaultGCPercent
	if v := os.Getenv("GOGC"); v != "" {
		percent = -1 // "off", or the runtime's own reading of a bad value
		if p, err := strconv.Atoi(v); err == nil {
			percent = p
		}
		if v != "off" && percent < 0 {
			percent = 100
		}
	}
	floor := uint64(DefaultGCHeapFloor)
	if v := os.Getenv(GCHeapFloorEnv); v != "" {
		f, err := ParseBytes(v)
		if err != nil {
			log.StartLogger.Errorf("[meshproto] %s=%q: %v; using %d", GCHeapFloorEnv, v, err, floor)
		} else {
			floor = f
		}
	}
	gcfloor.Start(floor, percent)
	if os.Getenv(RequestTrackingEnv) != "on" {
		track.DisableTrack()
	}
}

// ParseBytes reads "67108864", "64MiB", "64M", "512KiB", "1GiB".
func ParseBytes(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	mult := uint64(1)
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseUint(strings.TrimSpace(t), 10, 64)
	if err != nil || n > (1<<62)/mult {
		return 0, fmt.Errorf("not a size in bytes (like 64MiB)")
	}
	return n * mult, nil
}
