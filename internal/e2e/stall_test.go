package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
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
	t.Parallel()
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
