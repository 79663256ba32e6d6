package coalesce

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	"mosn.io/mosn/pkg/network"
	"mosn.io/pkg/buffer"
)

// TestQueueOverMOSNConnection runs the queue over MOSN's own connection on
// a loopback socket: pooled buffers handed over and released by MOSN's
// Write, many writers, then a FlushWrite close. The peer must read every
// frame whole, each writer's frames in order, and then EOF.
func TestQueueOverMOSNConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer peer.Close()
	raw, err := ln.Accept()
	require.NoError(t, err)

	conn := network.NewServerConnection(context.Background(), raw, nil)
	sc := &serverConn{Connection: conn}
	sc.q = newQueue(conn, 64<<10, "test")

	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(peer)
		got <- string(b)
	}()

	const writers, each = 6, 300
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				b := buffer.GetIoBuffer(64)
				_, _ = b.WriteString(fmt.Sprintf("<%d/%d/%s>", w, i, strings.Repeat("x", i%50)))
				assert.NoError(t, sc.Write(b))
			}
		}()
	}
	wg.Wait()
	require.NoError(t, sc.Close(api.FlushWrite, api.LocalClose))

	var out string
	select {
	case out = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("peer never saw EOF: FlushWrite did not close")
	}
	next := make([]int, writers)
	n := 0
	for _, f := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(out, "<"), ">"), "><") {
		parts := strings.Split(f, "/")
		require.Len(t, parts, 3, "frame %q", f)
		w, err1 := strconv.Atoi(parts[0])
		i, err2 := strconv.Atoi(parts[1])
		require.NoError(t, err1, "frame %q", f)
		require.NoError(t, err2, "frame %q", f)
		require.Equal(t, next[w], i, "writer %d", w)
		require.Equal(t, strings.Repeat("x", i%50), parts[2])
		next[w]++
		n++
	}
	assert.Equal(t, writers*each, n)
	assert.Equal(t, api.ConnClosed, conn.State())
}
