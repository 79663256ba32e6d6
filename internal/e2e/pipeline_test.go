package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// pipeliner is a healthy caller for the hostile-input and through-proxy
// fuzz tests of any protocol: batches of distinct calls written at once on
// one connection, every answer matched to its own call by request id.
type pipeliner struct {
	addr string
	// call builds the request with id and says what its answer must hold.
	call func(id uint32) (frame []byte, want string)
	// answer reads one frame: its id, whether its status is success, and
	// whether it holds want.
	answer func(r *bufio.Reader, want func(id uint32) (string, bool)) (id uint32, err error)

	conn  net.Conn
	r     *bufio.Reader
	next  uint32
	calls int
}

// batch makes n calls on the connection (dialled on first use) and checks
// every answer before ctx's deadline.
func (p *pipeliner) batch(ctx context.Context, n int) error {
	if p.conn == nil {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			return err
		}
		p.conn, p.r = c, bufio.NewReader(c)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	_ = p.conn.SetDeadline(deadline)
	want := map[uint32]string{}
	var frames []byte
	for k := 0; k < n; k++ {
		p.next++
		f, w := p.call(p.next)
		want[p.next] = w
		frames = append(frames, f...)
	}
	if _, err := p.conn.Write(frames); err != nil {
		return err
	}
	for len(want) > 0 {
		id, err := p.answer(p.r, func(id uint32) (string, bool) { w, ok := want[id]; return w, ok })
		if err != nil {
			return err
		}
		delete(want, id)
		p.calls++
	}
	return nil
}

func (p *pipeliner) close() {
	if p.conn != nil {
		p.conn.Close()
	}
}

// keepPipelining runs batches of 8 until stop is closed, then reports the
// first failure (nil if none) on the returned channel.
func keepPipelining(wg *sync.WaitGroup, stop <-chan struct{}, p *pipeliner) <-chan error {
	done := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer p.close()
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := p.batch(ctx, 8)
			cancel()
			if err != nil {
				done <- fmt.Errorf("after %d good calls: %w", p.calls, err)
				return
			}
		}
	}()
	return done
}
