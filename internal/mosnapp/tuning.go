package mosnapp

import (
	"os"
	"runtime/debug"

	"mosn.io/mosn/pkg/track"
)

// DefaultGCPercent is the static binary's GOGC when the environment sets
// none. A proxy's live heap is small (tens of MiB) and most of what it
// allocates dies with the request, so at Go's default of 100 it collects
// far more often than its memory needs: in the Dubbo benchmark 200 gave
// about 1.13x the calls/s of 100 for +5 MiB of RSS, and 400 or 800 gave no
// more (docs/performance.md). GOGC in the environment overrides it.
const DefaultGCPercent = 200

// RequestTrackingEnv turns MOSN's per-request phase tracking back on in the
// static binary ("on").
const RequestTrackingEnv = "MESHPROTO_REQUEST_TRACKING"

// Tune applies the static binary's runtime defaults before MOSN starts:
// the GC percent above, and MOSN's request tracking off. MOSN times every
// phase of every request (time.Now and an append per phase) and only its
// SOFA tracer's log lines print the result, which meshproto's protocols
// never produce. The plugin host keeps stock MOSN's settings.
func Tune() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
	if os.Getenv(RequestTrackingEnv) != "on" {
		track.DisableTrack()
	}
}
