package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

// soakDuration is $MESHPROTO_SOAK (e.g. 60s); the soak tests are skipped
// without it. `make soak` sets it.
func soakDuration(t *testing.T) time.Duration {
	s := os.Getenv("MESHPROTO_SOAK")
	if s == "" {
		t.Skip("MESHPROTO_SOAK not set: run `make soak`")
	}
	d, err := time.ParseDuration(s)
	require.NoError(t, err, "MESHPROTO_SOAK")
	return d
}

// withPprof adds MOSN's pprof listener to a config, to read goroutines.
func withPprof(t *testing.T, cfg []byte, port int) []byte {
	var m map[string]interface{}
	require.NoError(t, json.Unmarshal(cfg, &m))
	m["pprof"] = map[string]interface{}{"debug": true, "port_value": port}
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

// goroutines reads MOSN's goroutines from its pprof listener: those of
// its proxy worker pool (bounded: 256 per CPU, kept alive once started)
// and all others (which must come back to where they started).
func goroutines(addr string) (others, pool int, err error) {
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var total int
	if _, err := fmt.Sscanf(string(b), "goroutine profile: total %d", &total); err != nil {
		return 0, 0, fmt.Errorf("pprof answered %.100q: %w", b, err)
	}
	// A stack record starts with a line "N @ pcs"; its frames follow.
	n, counted := 0, false
	for _, line := range strings.Split(string(b), "\n") {
		if _, err := fmt.Sscanf(line, "%d @", &n); err == nil {
			counted = false
			continue
		}
		if !counted && strings.Contains(line, "workerPool).spawnWorker") {
			pool += n
			counted = true
		}
	}
	return total - pool, pool, nil
}

// rssKB reads a process's resident set size.
func rssKB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// TestSoakDubboCorrelation: many clients, many calls in flight each,
// distinct payloads, through the consumer sidecar's multiplexed upstream
// connections, for MESHPROTO_SOAK. Every response is checked byte for byte
// against its own request.
func TestSoakDubboCorrelation(t *testing.T) { soakDubbo(t, 0) }

// TestSoakDubboSlowOutOfOrder is the same with providers that hold each
// answer up to 20 ms (a goroutine per request), so answers leave in
// another order than the requests came, and many calls wait at once on
// each coalescing upstream connection.
func TestSoakDubboSlowOutOfOrder(t *testing.T) { soakDubbo(t, 20*time.Millisecond) }

func soakDubbo(t *testing.T, maxDelay time.Duration) {
	d := soakDuration(t)
	p := newPorts(t, 20880, 20881, 20882, 20890, 20892, 34901, 34902, 34903)
	pprofPort := freePort(t)
	for _, pr := range []*provider{{instance: "v1", addr: p.addr(20880), maxDelay: maxDelay}, {instance: "v2", addr: p.addr(20890), maxDelay: maxDelay}} {
		pr.start(t)
		t.Cleanup(pr.stop)
	}
	startMOSN(t, "provider-sidecar-v1", loadConfig(t, "configs/dubbo/provider-sidecar.json", p), p.addr(20882))
	startMOSN(t, "provider-sidecar-v2", loadConfig(t, "configs/dubbo/provider-sidecar-v2.json", p), p.addr(20892))
	consumer := startMOSN(t, "consumer-sidecar", withPprof(t, loadConfig(t, "configs/dubbo/consumer-sidecar.json", p), pprofPort), p.addr(20881))
	pprofAddr := fmt.Sprintf("127.0.0.1:%d", pprofPort)
	require.Eventually(t, func() bool { _, err := http.Get("http://" + pprofAddr + "/debug/pprof/"); return err == nil }, 5*time.Second, 100*time.Millisecond)
	before, _, err := goroutines(pprofAddr)
	require.NoError(t, err)

	const clients, inflight = 32, 16
	var calls, mismatches, lost, dubboErrs atomic.Int64
	var peakRSS atomic.Int64
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if r := int64(rssKB(consumer.cmd.Process.Pid)); r > peakRSS.Load() {
					peakRSS.Store(r)
				}
			}
		}
	}()
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	var conns []*dubbopeer.Client
	for c := 0; c < clients; c++ {
		cl, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), p.addr(20881), dubbopeer.WithDefaultTimeout(10*time.Second))
		require.NoError(t, err)
		conns = append(conns, cl)
		for w := 0; w < inflight; w++ {
			wg.Add(1)
			go func(c, w int, cl *dubbopeer.Client) {
				defer wg.Done()
				rng := rand.New(rand.NewSource(int64(c*1000 + w)))
				for i := 0; time.Now().Before(deadline); i++ {
					// Distinct payload: who sent it, which call, random filler.
					arg := fmt.Sprintf("c%d-w%d-i%d-", c, w, i) + strings.Repeat(string(rune('a'+rng.Intn(26))), rng.Intn(2048))
					method := "echo"
					if i%3 == 0 {
						method = "greet"
					}
					res, err := cl.Call(ctxTimeout(t, 15*time.Second), &dubbopeer.Invocation{Service: greetingService, Method: method, Version: "1.0.0", Args: []interface{}{arg},
						Attachments: map[string]string{"x-soak": arg[:strings.IndexByte(arg, '-')]}})
					calls.Add(1)
					switch {
					case err != nil:
						lost.Add(1)
					case res.Status != dubbopeer.StatusOK:
						dubboErrs.Add(1)
					case res.Value != arg:
						mismatches.Add(1)
					}
				}
			}(c, w, cl)
		}
	}
	wg.Wait()
	close(stop)
	var idMismatches int64
	for _, cl := range conns {
		idMismatches += cl.Mismatches()
		_ = cl.Close()
	}
	// Let MOSN release the closed connections' goroutines.
	var after, pool int
	var afterErr error
	settle := time.Now().Add(15 * time.Second)
	for {
		after, pool, afterErr = goroutines(pprofAddr)
		if (afterErr == nil && after <= before+10) || time.Now().After(settle) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	require.NoError(t, afterErr)
	t.Logf("soak %v (answers held up to %v): %d calls (%.0f/s), %d mismatches, %d response-id mismatches, %d lost, %d dubbo errors, peak RSS %d MiB, goroutines before %d after %d (+%d idle proxy workers)",
		d, maxDelay, calls.Load(), float64(calls.Load())/d.Seconds(), mismatches.Load(), idMismatches, lost.Load(), dubboErrs.Load(), peakRSS.Load()/1024, before, after, pool)
	assert.Zero(t, mismatches.Load(), "a response carried another call's payload")
	assert.Zero(t, idMismatches, "a response id matched no outstanding call")
	assert.Zero(t, lost.Load(), "calls without a response")
	assert.Zero(t, dubboErrs.Load())
	assert.Less(t, peakRSS.Load(), int64(512*1024), "consumer sidecar RSS stays under 512 MiB")
	assert.LessOrEqual(t, after, before+10, "goroutines back to where they started")
	assert.LessOrEqual(t, pool, 256*runtime.NumCPU(), "MOSN's worker pool stays within its bound")
}

// TestSoakThriftCorrelation: Go client processes with distinct payloads,
// over every transport x protocol at once, through the Thrift sidecars
// (shared, per-kind multiplexed upstream connections) for MESHPROTO_SOAK.
func TestSoakThriftCorrelation(t *testing.T) {
	d := soakDuration(t)
	clients := thriftClients(t)
	m := startThriftMesh(t)
	kinds := [][2]string{{"framed", "binary"}, {"framed", "compact"}, {"buffered", "binary"}, {"buffered", "compact"}, {"header", "binary"}, {"header", "compact"}}
	var calls, bad atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			k := kinds[i%len(kinds)]
			for round := 0; time.Now().Before(deadline); round++ {
				name := fmt.Sprintf("p%d-r%d-%s", i, round, strings.Repeat("z", i*37%500))
				lines, err := clients[0].run(t, "-addr", m.consumer, "-transport", k[0], "-protocol", k[1], "-multiplex", "-method", "echo", "-name", name, "-n", "500")
				calls.Add(int64(len(lines)))
				if err != nil || len(lines) != 500 {
					bad.Add(int64(500 - len(lines)))
				}
				for _, l := range lines {
					if !l.OK || l.Message != name {
						bad.Add(1)
					}
				}
			}
		}(i)
	}
	wg.Wait()
	t.Logf("thrift soak %v: %d calls (%.0f/s) over 6 transport x protocol kinds, %d wrong or lost", d, calls.Load(), float64(calls.Load())/d.Seconds(), bad.Load())
	assert.Zero(t, bad.Load())
	assert.Positive(t, calls.Load())
}
