package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

// TestWedgedUpstreamIsReplaced: the provider's first connection reads
// requests and never answers (a wedged server thread), later connections
// are served. MOSN alone would keep sending every call to the wedged
// connection, each one timing out; the static binary closes it once it has
// had requests in flight and no response for stall_timeout, and the next
// calls go to a new connection.
func TestWedgedUpstreamIsReplaced(t *testing.T) {
	// Not parallel: it loads the machine, so it runs alone, before the
	// parallel tests (timing-sensitive ones among them) start.
	p := newPorts(t, 20880, 20890, 20881, 9090, 9190, 34951)
	ln, err := net.Listen("tcp", p.addr(20880))
	require.NoError(t, err)
	var accepted atomic.Int64
	srv := dubbopeer.NewServer((&provider{instance: "fresh", version: "1.0.0"}).handle)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if accepted.Add(1) == 1 {
				go func() { _, _ = io.Copy(io.Discard, c) }() // reads, never answers
				continue
			}
			go srv.ServeConn(c)
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); _ = srv.Close() })

	var cfg map[string]interface{}
	require.NoError(t, json.Unmarshal(loadConfig(t, "configs/stock/sidecar.json", p), &cfg))
	cfg["extends"] = []interface{}{map[string]interface{}{"type": "meshproto_dubbo", "config": map[string]interface{}{"stall_timeout": "1s"}}}
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	side := startMOSN(t, "stall-sidecar", b, p.addr(20881))

	c, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), p.addr(20881), dubbopeer.WithDefaultTimeout(20*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { assert.Zero(t, c.Mismatches()); _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The client allows 20 s; the wedged connection is given up after 1 s.
	res, err := c.Call(ctx, &dubbopeer.Invocation{Service: greetingService, Method: "greet", Version: "1.0.0", Args: []interface{}{"first"}})
	require.NoError(t, err, "the call is answered, not left waiting for the client's timeout")
	assert.NotEqual(t, dubbopeer.StatusOK, res.Status, "the first call was on the wedged connection")
	for i := 0; i < 10; i++ {
		res := call(t, c, greetingService, "greet", []interface{}{"next"}, nil)
		require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
		assert.Equal(t, "fresh", res.Attachments["instance"])
	}
	assert.GreaterOrEqual(t, accepted.Load(), int64(2), "a new upstream connection")
	assert.True(t, strings.Contains(side.log.String(), "no response for"), "the close is logged")
}

// TestStalledClientsAreCutOff: thousands of connections each send part of
// a frame (and a few trickle one byte now and then) while a healthy
// client calls through the same listener. Healthy calls never wait on
// them; every stalled connection is closed once its frame is overdue
// (frame_timeout 2s here); MOSN's memory stays bounded.
func TestStalledClientsAreCutOff(t *testing.T) {
	// Not parallel: it loads the machine, so it runs alone, before the
	// parallel tests (timing-sensitive ones among them) start.
	p := newPorts(t, 20880, 20890, 20881, 9090, 9190, 34951)
	startProvider(t, "provider-v1", "1.0.0", p.addr(20880))
	var cfg map[string]interface{}
	require.NoError(t, json.Unmarshal(loadConfig(t, "configs/stock/sidecar.json", p), &cfg))
	cfg["extends"] = []interface{}{
		map[string]interface{}{"type": "meshproto_dubbo", "config": map[string]interface{}{"frame_timeout": "2s"}},
		map[string]interface{}{"type": "meshproto_thrift", "config": map[string]interface{}{"frame_timeout": "2s"}},
	}
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	side := startMOSN(t, "frames-sidecar", b, p.addr(20881))
	healthy := dialAddr(t, p.addr(20881))
	_ = call(t, healthy, greetingService, "greet", []interface{}{"warm"}, nil)
	rssBefore := rssKB(side.cmd.Process.Pid)

	const stalled = 2000
	dubboHeader := []byte{0xda, 0xbb, 0xc2, 0x00, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 100} // a request announcing 100 body bytes
	thriftHeader := []byte{0, 0, 0, 100, 0x80, 0x01, 0x00, 0x01}                        // a framed call announcing 100 bytes
	conns := make([]net.Conn, 0, stalled)
	for i := 0; i < stalled; i++ {
		c, err := net.DialTimeout("tcp", p.addr(20881), 5*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		hdr := dubboHeader
		if i%2 == 1 {
			hdr = thriftHeader
		}
		_, err = c.Write(hdr)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	// A few trickle a byte every 500ms: that keeps MOSN's idle checker
	// away, not the frame deadline.
	stopTrickle := make(chan struct{})
	for _, c := range conns[:10] {
		c := c
		go func() {
			tk := time.NewTicker(500 * time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-stopTrickle:
					return
				case <-tk.C:
					if _, err := c.Write([]byte{0}); err != nil {
						return
					}
				}
			}
		}()
	}
	defer close(stopTrickle)

	// Healthy calls meanwhile.
	for i := 0; i < 50; i++ {
		res := call(t, healthy, greetingService, "greet", []interface{}{"healthy"}, nil)
		require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
	}
	rssStalled := rssKB(side.cmd.Process.Pid)
	t.Logf("MOSN RSS: %d MiB before, %d MiB with %d stalled connections", rssBefore/1024, rssStalled/1024, stalled)
	assert.Less(t, rssStalled-rssBefore, 200*1024, "stalled connections cost bounded memory")

	// Every stalled connection is closed by the proxy.
	var open atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		c := c
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.Copy(io.Discard, c); err != nil {
				open.Add(1) // the deadline, not the proxy, ended the read
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, open.Load(), "connections with an overdue frame still open")
	assert.Contains(t, side.log.String(), "frame_timeout")

	res := call(t, healthy, greetingService, "greet", []interface{}{"after"}, nil)
	require.Equal(t, dubbopeer.StatusOK, res.Status, "the healthy connection, whose frames always complete, stays")
}
