package coalesce

import (
	"runtime"
	"sync"
	"time"

	"mosn.io/api"
	"mosn.io/mosn/pkg/log"
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/buffer"
)

// queue holds the frames written to one connection and not yet handed to
// MOSN's Write. At most one flusher runs per queue; it exists only while
// there is something to write.
type queue struct {
	conn api.Connection // MOSN's connection
	max  int            // bound on queued + writing bytes
	name api.ProtocolName

	mu       sync.Mutex
	room     sync.Cond // signalled when a batch is written or the connection closes
	pending  []buffer.IoBuffer
	spare    []buffer.IoBuffer // the previous batch's slice, reused
	queued   int               // bytes in pending
	writing  int               // bytes in the batch being written
	flushing bool              // a flusher runs
	closing  bool              // FlushWrite asked for: nothing more is queued
	closed   bool
	waiters  int
	warned   bool
	idleGap  time.Duration // idleGap, or another value in tests
	// lastWrite is when the last write started (sinceStart).
	lastWrite time.Duration
}

// idleGap: a frame written to a connection that has written nothing for
// this long, with nothing queued, goes out at once. One call in flight
// writes a frame every few hundred microseconds; under load, frames come
// microseconds apart and the first of a burst is the only one sent alone.
const idleGap = 50 * time.Microsecond

var start = time.Now()

// sinceStart is a monotonic clock reading.
func sinceStart() time.Duration { return time.Since(start) }

func newQueue(conn api.Connection, max int, name api.ProtocolName) *queue {
	q := &queue{conn: conn, max: max, name: name, idleGap: idleGap}
	q.room.L = &q.mu
	conn.AddConnectionEventListener(q)
	return q
}

// write queues bufs as one unit and makes sure a flusher runs. It returns
// ErrConnectionHasClosed, as MOSN's Write does, once the connection is
// closed or closing, so that the stream is reset now rather than later.
func (q *queue) write(bufs []buffer.IoBuffer) error {
	n := 0
	for _, b := range bufs {
		if b != nil {
			n += b.Len()
		}
	}
	q.mu.Lock()
	if !q.flushing && !q.closed && !q.closing {
		if now := sinceStart(); now-q.lastWrite > q.idleGap {
			// Nothing queued, nothing written for a while: no flusher
			// is worth starting, the caller writes the first batch
			// itself (a flusher would only add its own delay).
			q.flushing = true
			q.appendLocked(bufs, n)
			q.mu.Unlock()
			return q.writeFirst()
		}
	}
	for !q.closed && !q.closing && q.queued+q.writing > 0 && q.queued+q.writing+n > q.max {
		if !q.warned {
			q.warned = true
			log.DefaultLogger.Warnf("[meshproto] [%s] connection %d to %s: %d bytes waiting to be written (max_pending_write_bytes %d): the peer reads slower than frames arrive, writers wait",
				q.name, q.conn.ID(), q.conn.RemoteAddr(), q.queued+q.writing, q.max)
		}
		q.waiters++
		q.room.Wait()
		q.waiters--
	}
	if q.closed || q.closing {
		q.mu.Unlock()
		return types.ErrConnectionHasClosed
	}
	q.appendLocked(bufs, n)
	start := !q.flushing && len(q.pending) > 0
	if start {
		q.flushing = true
	}
	q.mu.Unlock()
	if start {
		go q.flush()
	}
	return nil
}

func (q *queue) appendLocked(bufs []buffer.IoBuffer, n int) {
	for _, b := range bufs {
		if b != nil {
			q.pending = append(q.pending, b)
		}
	}
	q.queued += n
}

// writeFirst is the idle path: the caller, whose frame is queued and who
// set flushing, writes the first batch itself. It yields once first, so
// that the goroutines made ready together with it (the other responses
// of one upstream read, the other requests of one client read) queue
// their frames behind its frame and leave in the same write; with
// nothing else ready the yield returns at once and the frame leaves
// alone, as without coalescing. Whatever is queued after that batch is
// left to a flusher, so that the caller (a stream's goroutine or a read
// loop) does not stay a writer.
func (q *queue) writeFirst() error {
	runtime.Gosched()
	wrote, err := q.writeBatch()
	switch {
	case err == buffer.EOF:
		// A FlushWrite close was queued behind the frame: the frame
		// was written and the connection closes as asked.
		q.fail(err)
		return nil
	case err != nil:
		q.fail(err)
		return err
	case !wrote:
		// Closed before the batch left: the frame was given back to
		// the pool with the rest (shut); the stream is reset.
		return types.ErrConnectionHasClosed
	}
	q.mu.Lock()
	more := len(q.pending) > 0 && !q.closed
	q.flushing = more
	q.mu.Unlock()
	if more {
		go q.flush()
	}
	return nil
}

// flush writes batches until the queue is empty or the connection is gone.
func (q *queue) flush() {
	// The goroutine that started this flusher was made ready together
	// with others (the streams of one read, the responses of one upstream
	// read) that are about to queue frames too; let them run first, so
	// that the first batch carries their frames. With nothing else ready
	// this returns at once.
	runtime.Gosched()
	for {
		wrote, err := q.writeBatch()
		if err != nil {
			q.fail(err)
			return
		}
		if !wrote {
			return
		}
	}
}

// writeBatch writes everything queued in one Write. With nothing queued
// or the connection closed it writes nothing, clears flushing (under the
// same lock as the check, so that a frame queued right after starts a
// flusher of its own) and returns false.
func (q *queue) writeBatch() (bool, error) {
	q.mu.Lock()
	if q.closed || len(q.pending) == 0 {
		q.flushing = false
		q.mu.Unlock()
		return false, nil
	}
	batch := q.pending
	q.lastWrite = sinceStart()
	q.pending, q.spare = q.spare, nil
	q.writing, q.queued = q.queued, 0
	q.mu.Unlock()

	// MOSN's Write copies the slice's elements and owns the buffers from
	// here on: it returns them to the pool once written.
	err := q.conn.Write(batch...)

	clear(batch)
	q.mu.Lock()
	q.spare = batch[:0]
	q.writing = 0
	if q.waiters > 0 {
		q.room.Broadcast()
	}
	q.mu.Unlock()
	return true, err
}

// fail ends the queue after a batch write failed. buffer.EOF is the end
// marker a FlushWrite close queued: MOSN has closed the connection as
// asked. Any other error leaves part of a batch unwritten: the connection
// is closed, which resets every stream still on it.
func (q *queue) fail(err error) {
	if err != buffer.EOF && err != types.ErrConnectionHasClosed {
		log.DefaultLogger.Errorf("[meshproto] [%s] connection %d to %s: write failed: %v: closing it, its streams are reset",
			q.name, q.conn.ID(), q.conn.RemoteAddr(), err)
		_ = q.conn.Close(api.NoFlush, api.OnWriteErrClose)
	}
	q.shut()
}

// close: a FlushWrite close is queued behind the pending frames; any other
// close is MOSN's at once.
func (q *queue) close(ccType api.ConnectionCloseType, event api.ConnectionEvent) error {
	if ccType != api.FlushWrite {
		return q.conn.Close(ccType, event)
	}
	q.mu.Lock()
	if q.closed || q.closing {
		q.mu.Unlock()
		return nil
	}
	if !q.flushing {
		q.closing = true
		q.mu.Unlock()
		return q.conn.Close(ccType, event)
	}
	q.closing = true
	q.pending = append(q.pending, buffer.NewIoBufferEOF())
	q.mu.Unlock()
	return nil
}

// OnEvent ends the queue when the connection closes.
func (q *queue) OnEvent(event api.ConnectionEvent) {
	if event.IsClose() {
		q.shut()
	}
}

// shut marks the queue closed, gives the frames that will never be
// written back to the pool and wakes waiting writers (they get
// ErrConnectionHasClosed).
func (q *queue) shut() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	for i, b := range q.pending {
		_ = buffer.PutIoBuffer(b)
		q.pending[i] = nil
	}
	q.pending = q.pending[:0]
	q.queued = 0
	q.room.Broadcast()
}
