package coalesce

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/buffer"
)

// fakeConn records the batches written to it. gate, when set, holds every
// Write until a value arrives; fail makes the next Write return it.
type fakeConn struct {
	api.Connection // methods the queue does not use panic

	mu        sync.Mutex
	batches   [][]string
	closed    []api.ConnectionCloseType
	listeners []api.ConnectionEventListener
	gate      chan struct{}
	entered   chan struct{} // a Write has started (buffered)
	fail      error
}

func newFake() *fakeConn { return &fakeConn{entered: make(chan struct{}, 100)} }

func (c *fakeConn) ID() uint64           { return 7 }
func (c *fakeConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *fakeConn) AddConnectionEventListener(l api.ConnectionEventListener) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listeners = append(c.listeners, l)
}

func (c *fakeConn) Write(bufs ...buffer.IoBuffer) error {
	c.entered <- struct{}{}
	if c.gate != nil {
		<-c.gate
	}
	c.mu.Lock()
	if err := c.fail; err != nil {
		c.fail = nil
		c.mu.Unlock()
		return err
	}
	var b []string
	eof := false
	for _, x := range bufs {
		if x.EOF() {
			eof = true
			continue
		}
		b = append(b, x.String())
	}
	c.batches = append(c.batches, b)
	c.mu.Unlock()
	if eof { // as MOSN's writeDirectly: the end marker closes the connection
		_ = c.Close(api.NoFlush, api.LocalClose)
		return buffer.EOF
	}
	return nil
}

func (c *fakeConn) Close(t api.ConnectionCloseType, e api.ConnectionEvent) error {
	c.mu.Lock()
	c.closed = append(c.closed, t)
	ls := append([]api.ConnectionEventListener(nil), c.listeners...)
	c.mu.Unlock()
	for _, l := range ls {
		l.OnEvent(e)
	}
	return nil
}

func (c *fakeConn) snapshot() ([][]string, []api.ConnectionCloseType) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]string(nil), c.batches...), append([]api.ConnectionCloseType(nil), c.closed...)
}

func frame(s string) buffer.IoBuffer { return buffer.NewIoBufferString(s) }

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting: %s", what)
}

// batching is a queue that never takes the idle fast path, so that the
// tests see the flusher's batches.
func batching(conn api.Connection, max int) *queue {
	q := newQueue(conn, max, "test")
	q.idleGap = time.Hour
	q.lastWrite = sinceStart()
	return q
}

func idle(q *queue) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.flushing
}

func TestQueue(t *testing.T) {
	t.Run("one frame is written alone and the flusher ends", func(t *testing.T) {
		c := newFake()
		q := batching(c, 1<<20)
		require.NoError(t, q.write([]buffer.IoBuffer{frame("a")}))
		waitFor(t, "flusher done", func() bool { return idle(q) })
		batches, closed := c.snapshot()
		assert.Equal(t, [][]string{{"a"}}, batches)
		assert.Empty(t, closed)
	})

	t.Run("an idle connection writes from the caller, and queues behind that write", func(t *testing.T) {
		c := newFake()
		c.gate = make(chan struct{})
		q := newQueue(c, 1<<20, "test")
		done := make(chan error, 1)
		go func() { done <- q.write([]buffer.IoBuffer{frame("a")}) }()
		<-c.entered // the caller itself is inside Write with "a"
		require.NoError(t, q.write([]buffer.IoBuffer{frame("b")}))
		require.NoError(t, q.write([]buffer.IoBuffer{frame("c")}))
		close(c.gate)
		require.NoError(t, <-done)
		waitFor(t, "flusher done", func() bool { return idle(q) })
		batches, _ := c.snapshot()
		assert.Equal(t, [][]string{{"a"}, {"b", "c"}}, batches)
	})

	t.Run("an idle connection's first write carries the frames made ready with it", func(t *testing.T) {
		// One P, as the benchmark's MOSN: the goroutine started just
		// before the caller's write (a response of the same upstream
		// read) runs during the caller's yield and queues behind it.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		c := newFake()
		q := newQueue(c, 1<<20, "test")
		errs := make(chan error, 2)
		go func() {
			go func() { errs <- q.write([]buffer.IoBuffer{frame("b")}) }()
			errs <- q.write([]buffer.IoBuffer{frame("a")})
		}()
		require.NoError(t, <-errs)
		require.NoError(t, <-errs)
		waitFor(t, "flusher done", func() bool { return idle(q) })
		batches, _ := c.snapshot()
		assert.Equal(t, [][]string{{"a", "b"}}, batches, "one write")
	})

	t.Run("the bound counts a write from the caller", func(t *testing.T) {
		c := newFake()
		c.gate = make(chan struct{})
		q := newQueue(c, 8, "test")
		first := make(chan error, 1)
		go func() { first <- q.write([]buffer.IoBuffer{frame("12345678")}) }()
		<-c.entered
		done := make(chan error, 1)
		go func() { done <- q.write([]buffer.IoBuffer{frame("x")}) }()
		select {
		case err := <-done:
			t.Fatalf("writer did not wait: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		c.gate <- struct{}{}
		require.NoError(t, <-first)
		require.NoError(t, <-done)
		close(c.gate)
		waitFor(t, "flusher done", func() bool { return idle(q) })
		batches, _ := c.snapshot()
		assert.Equal(t, [][]string{{"12345678"}, {"x"}}, batches)
	})

	t.Run("a failed write from the caller returns its error and closes", func(t *testing.T) {
		c := newFake()
		c.fail = errors.New("broken pipe")
		q := newQueue(c, 1<<20, "test")
		assert.Error(t, q.write([]buffer.IoBuffer{frame("lost")}))
		_, closed := c.snapshot()
		assert.Equal(t, []api.ConnectionCloseType{api.NoFlush}, closed)
		assert.ErrorIs(t, q.write([]buffer.IoBuffer{frame("after")}), types.ErrConnectionHasClosed)
	})

	t.Run("frames queued during a write go out in the next single write, in order", func(t *testing.T) {
		c := newFake()
		c.gate = make(chan struct{})
		q := batching(c, 1<<20)
		require.NoError(t, q.write([]buffer.IoBuffer{frame("a")}))
		<-c.entered // the flusher is inside Write with "a"
		for _, s := range []string{"b", "c", "d"} {
			require.NoError(t, q.write([]buffer.IoBuffer{frame(s)}))
		}
		require.NoError(t, q.write([]buffer.IoBuffer{frame("e1"), frame("e2")}))
		close(c.gate)
		waitFor(t, "flusher done", func() bool { return idle(q) })
		batches, _ := c.snapshot()
		assert.Equal(t, [][]string{{"a"}, {"b", "c", "d", "e1", "e2"}}, batches)
	})

	t.Run("concurrent writers: every frame once, each writer's frames in its order", func(t *testing.T) {
		c := newFake()
		q := batching(c, 1<<20)
		const writers, each = 8, 200
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					assert.NoError(t, q.write([]buffer.IoBuffer{frame(fmt.Sprintf("%d/%d", w, i))}))
				}
			}()
		}
		wg.Wait()
		waitFor(t, "flusher done", func() bool { return idle(q) })
		batches, _ := c.snapshot()
		next := make([]int, writers)
		total := 0
		for _, b := range batches {
			for _, s := range b {
				var w, i int
				_, err := fmt.Sscanf(s, "%d/%d", &w, &i)
				require.NoError(t, err)
				require.Equal(t, next[w], i, "writer %d out of order", w)
				next[w]++
				total++
			}
		}
		assert.Equal(t, writers*each, total)
		t.Logf("%d frames in %d writes", total, len(batches))
	})

	t.Run("a writer past the bound waits until the batch is written", func(t *testing.T) {
		c := newFake()
		c.gate = make(chan struct{})
		q := batching(c, 8)
		require.NoError(t, q.write([]buffer.IoBuffer{frame("12345678")}))
		<-c.entered
		done := make(chan error, 1)
		go func() { done <- q.write([]buffer.IoBuffer{frame("x")}) }()
		select {
		case err := <-done:
			t.Fatalf("writer did not wait: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		c.gate <- struct{}{}
		require.NoError(t, <-done)
		close(c.gate)
		waitFor(t, "flusher done", func() bool { return idle(q) })
		batches, _ := c.snapshot()
		assert.Equal(t, [][]string{{"12345678"}, {"x"}}, batches)
	})

	t.Run("a frame larger than the bound goes out when nothing is queued", func(t *testing.T) {
		c := newFake()
		q := batching(c, 4)
		require.NoError(t, q.write([]buffer.IoBuffer{frame("larger than four")}))
		waitFor(t, "flusher done", func() bool { return idle(q) })
		batches, _ := c.snapshot()
		assert.Equal(t, [][]string{{"larger than four"}}, batches)
	})

	t.Run("close wakes a waiting writer with ErrConnectionHasClosed and drops the queue", func(t *testing.T) {
		c := newFake()
		c.gate = make(chan struct{})
		q := batching(c, 8)
		require.NoError(t, q.write([]buffer.IoBuffer{frame("12345678")}))
		<-c.entered
		require.NoError(t, q.write(nil)) // nothing to queue: no effect
		done := make(chan error, 1)
		go func() { done <- q.write([]buffer.IoBuffer{frame("waits")}) }()
		time.Sleep(20 * time.Millisecond)
		require.NoError(t, c.Close(api.NoFlush, api.RemoteClose))
		assert.ErrorIs(t, <-done, types.ErrConnectionHasClosed)
		assert.ErrorIs(t, q.write([]buffer.IoBuffer{frame("late")}), types.ErrConnectionHasClosed)
		close(c.gate)
		waitFor(t, "flusher done", func() bool { return idle(q) })
	})

	t.Run("a failed write closes the connection and later writes fail", func(t *testing.T) {
		c := newFake()
		c.fail = errors.New("broken pipe")
		q := batching(c, 1<<20)
		require.NoError(t, q.write([]buffer.IoBuffer{frame("lost")}))
		waitFor(t, "connection closed", func() bool { _, closed := c.snapshot(); return len(closed) == 1 })
		_, closed := c.snapshot()
		assert.Equal(t, []api.ConnectionCloseType{api.NoFlush}, closed)
		assert.ErrorIs(t, q.write([]buffer.IoBuffer{frame("after")}), types.ErrConnectionHasClosed)
	})

	t.Run("FlushWrite closes after the queued frames are written", func(t *testing.T) {
		c := newFake()
		c.gate = make(chan struct{})
		q := batching(c, 1<<20)
		require.NoError(t, q.write([]buffer.IoBuffer{frame("a")}))
		<-c.entered
		require.NoError(t, q.write([]buffer.IoBuffer{frame("b")}))
		require.NoError(t, q.close(api.FlushWrite, api.LocalClose))
		assert.ErrorIs(t, q.write([]buffer.IoBuffer{frame("after close")}), types.ErrConnectionHasClosed)
		_, closed := c.snapshot()
		assert.Empty(t, closed, "closed before the frames were out")
		close(c.gate)
		waitFor(t, "connection closed", func() bool { _, closed := c.snapshot(); return len(closed) == 1 })
		batches, _ := c.snapshot()
		assert.Equal(t, [][]string{{"a"}, {"b"}}, batches)
	})

	t.Run("FlushWrite with nothing queued is MOSN's at once", func(t *testing.T) {
		c := newFake()
		q := batching(c, 1<<20)
		require.NoError(t, q.close(api.FlushWrite, api.LocalClose))
		_, closed := c.snapshot()
		assert.Equal(t, []api.ConnectionCloseType{api.FlushWrite}, closed)
	})
}

// TestQueueBytesAreTheWriters checks the bytes, not only the order, under
// many writers: each frame is a distinct payload that must arrive whole.
func TestQueueBytesAreTheWriters(t *testing.T) {
	c := newFake()
	q := batching(c, 64<<10)
	var wg sync.WaitGroup
	want := map[string]bool{}
	var mu sync.Mutex
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				s := string(bytes.Repeat([]byte{byte('a' + w)}, 100+i))
				mu.Lock()
				want[s] = true
				mu.Unlock()
				assert.NoError(t, q.write([]buffer.IoBuffer{frame(s)}))
			}
		}()
	}
	wg.Wait()
	waitFor(t, "flusher done", func() bool { return idle(q) })
	batches, _ := c.snapshot()
	got := map[string]bool{}
	for _, b := range batches {
		for _, s := range b {
			assert.False(t, got[s], "frame written twice")
			got[s] = true
		}
	}
	assert.Equal(t, want, got)
}
