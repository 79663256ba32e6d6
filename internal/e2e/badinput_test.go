package e2e

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

// expectClosed reads from conn until EOF or reset; a close must come well
// before the deadline, with no Dubbo bytes for a request that never was.
func expectClosed(t *testing.T, conn net.Conn, within time.Duration) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 4096)
	for {
		_, err := conn.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection still open after %v", within)
		}
		return // EOF or reset: closed
	}
}

// readResponse reads and decodes one Dubbo response frame from a raw
// connection, failing the test after 3s.
func readResponse(t *testing.T, conn net.Conn) *dubbopeer.Result {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	fr, err := dubbopeer.ReadFrame(conn)
	require.NoError(t, err)
	res, err := dubbopeer.DecodeResponse(fr)
	require.NoError(t, err)
	return res
}

// TestBadInputClosesOnlyThatConnection sends broken Dubbo to the consumer
// sidecar while a healthy client keeps calling on its own connection.
func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	m := startMesh(t)
	healthy := m.dial(t)

	var stop atomic.Bool
	var healthyErrs, healthyCalls atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			res, err := healthy.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{Service: orderService, Method: "place", Version: "1.0.0", Args: []interface{}{"ok"}})
			healthyCalls.Add(1)
			if err != nil || res.Status != dubbopeer.StatusOK || res.Value != "ok" {
				healthyErrs.Add(1)
			}
		}
	}()

	good, err := dubbopeer.EncodeRequestFrame(9, &dubbopeer.Invocation{Service: orderService, Method: "place", Version: "1.0.0", Args: []interface{}{"x"}}, true)
	require.NoError(t, err)
	header := func(bodyLen uint32) []byte {
		h := append([]byte(nil), good[:16]...)
		binary.BigEndian.PutUint32(h[12:], bodyLen)
		return h
	}
	cases := []struct {
		name string
		send []byte
	}{
		{name: "garbage bytes", send: []byte("this is not dubbo at all\r\n\r\n")},
		{name: "wrong magic", send: append([]byte{0xca, 0xfe}, good[2:]...)},
		{name: "length field of 2 GiB", send: header(0x7fffffff)},
		{name: "negative length", send: header(0x80000000)},
		{name: "frame over the 8 MiB limit", send: header(8<<20 + 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", m.consumerAddr)
			require.NoError(t, err)
			defer conn.Close()
			_, err = conn.Write(tc.send)
			require.NoError(t, err)
			expectClosed(t, conn, 3*time.Second)
		})
	}

	t.Run("malformed body gets a Dubbo error and the connection stays", func(t *testing.T) {
		conn, err := net.Dial("tcp", m.consumerAddr)
		require.NoError(t, err)
		defer conn.Close()
		// The five leading strings are intact, the parameter descriptor
		// promises an argument that is not there.
		bad := append([]byte(nil), good[:16]...)
		body := []byte{0x05, '2', '.', '0', '.', '2', 0x04, 'S', 'v', 'c', '1', 0x00, 0x01, 'm', 0x01, 'I'}
		bad = append(bad, body...)
		binary.BigEndian.PutUint32(bad[12:], uint32(len(body)))
		_, err = conn.Write(bad)
		require.NoError(t, err)
		res := readResponse(t, conn)
		assert.Equal(t, uint64(9), res.RequestID)
		assert.Equal(t, byte(40), res.Status, "BAD_REQUEST")
		assert.Contains(t, res.ErrorMessage, "bad request")

		// Same connection, a good request next.
		c := dubbopeer.NewClient(conn, dubbopeer.WithFirstRequestID(100))
		res = call(t, c, orderService, "place", []interface{}{"after"}, nil)
		assert.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
		assert.Equal(t, "after", res.Value)
	})

	t.Run("frame sent one byte at a time", func(t *testing.T) {
		conn, err := net.Dial("tcp", m.consumerAddr)
		require.NoError(t, err)
		defer conn.Close()
		for _, b := range good {
			_, err := conn.Write([]byte{b})
			require.NoError(t, err)
			time.Sleep(time.Millisecond)
		}
		res := readResponse(t, conn)
		assert.Equal(t, uint64(9), res.RequestID)
		assert.Equal(t, dubbopeer.StatusOK, res.Status)
	})

	t.Run("truncated frame then close", func(t *testing.T) {
		conn, err := net.Dial("tcp", m.consumerAddr)
		require.NoError(t, err)
		_, err = conn.Write(good[:len(good)/2])
		require.NoError(t, err)
		require.NoError(t, conn.Close())
	})

	stop.Store(true)
	wg.Wait()
	assert.Positive(t, healthyCalls.Load())
	assert.Zero(t, healthyErrs.Load(), "a healthy client on its own connection saw errors")
	// A 2 GiB length is refused before anything is buffered.
	rss := rssKB(m.consumer.cmd.Process.Pid)
	t.Logf("consumer sidecar RSS after bad input: %d MiB", rss/1024)
	assert.Less(t, rss, 256*1024, "consumer sidecar RSS stays under 256 MiB")
}

// TestThriftBadInputClosesOnlyThatConnection: broken Thrift to the consumer
// sidecar while a Go client makes 300 calls on its own connection.
func TestThriftBadInputClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	clients := thriftClients(t)
	m := startThriftMesh(t)
	done := make(chan []thriftLine, 1)
	go func() {
		lines, _ := clients[0].run(t, "-addr", m.consumer, "-transport", "framed", "-protocol", "binary", "-multiplex", "-method", "echo", "-name", "ok", "-n", "300")
		done <- lines
	}()
	// THeader frame whose header announces one transform (zlib).
	transforms := []byte{0, 0, 0, 14, 0x0f, 0xff, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 1, 0}
	cases := []struct {
		name string
		send []byte
	}{
		{"garbage", []byte("this is not thrift\r\n\r\n")},
		{"length field of 2 GiB", []byte{0x7f, 0xff, 0xff, 0xff, 0x80, 0x01, 0x00, 0x01}},
		{"negative length", []byte{0xff, 0xff, 0xff, 0xf0, 0x80, 0x01}},
		{"binary version 2", []byte{0x80, 0x02, 0x00, 0x01, 0, 0, 0, 1, 'x'}},
		{"THeader transforms", transforms},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", m.consumer)
			require.NoError(t, err)
			defer conn.Close()
			_, err = conn.Write(tc.send)
			require.NoError(t, err)
			expectClosed(t, conn, 3*time.Second)
		})
	}
	lines := <-done
	require.Len(t, lines, 300)
	for _, l := range lines {
		require.True(t, l.OK, l.Error)
		assert.Equal(t, "ok", l.Message)
	}
}
