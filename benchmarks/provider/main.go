// Command provider is the benchmark's Dubbo (or, with -protocol, Thrift or Bolt)
// provider: every two-way request is answered with its own first argument
// (an "echo"), written back without decoding or re-encoding it. One
// goroutine per connection reads, answers into a buffer and flushes once
// the read buffer is empty, so replies to pipelined requests leave in
// batches. It is deliberately lean so that it is never the bottleneck of a
// proxy benchmark (see docs/performance.md).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/meshproto/meshproto/benchmarks/boltwire"
	"github.com/meshproto/meshproto/benchmarks/dubbowire"
	"github.com/meshproto/meshproto/benchmarks/thriftwire"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:20880", "listen address")
	protocol := flag.String("protocol", "dubbo", "dubbo, bolt, thrift-framed-binary or thrift-header-compact")
	flag.Parse()
	serve := serveDubbo
	switch *protocol {
	case "dubbo":
	case "bolt":
		serve = serveBolt
	default:
		k, err := thriftwire.ParseProtocol(*protocol)
		if err != nil {
			log.Fatalf("provider: -protocol: not dubbo, and %v", err)
		}
		serve = func(c net.Conn) { serveThrift(c, k) }
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ready", ln.Addr())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Print(err)
			continue
		}
		go serve(c)
	}
}

// serveConn runs one connection: step reads one frame and appends its
// answer (if any) to out; answers are written once nothing more is
// buffered, so a pipelined batch leaves in one write.
func serveConn(c net.Conn, buffered func() int, step func(out []byte) ([]byte, error)) {
	defer c.Close()
	out := make([]byte, 0, 64<<10)
	for {
		var err error
		if out, err = step(out); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Printf("provider: %s: %v", c.RemoteAddr(), err)
			}
			return
		}
		if buffered() == 0 && len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
			out = out[:0]
		}
	}
}

func serveDubbo(c net.Conn) {
	r := dubbowire.NewReader(c)
	serveConn(c, r.Buffered, func(out []byte) ([]byte, error) {
		h, body, err := r.Next()
		switch {
		case err != nil:
			return out, err
		case !h.IsRequest() || !h.IsTwoWay():
			return out, nil // responses and one-way requests: nothing to answer
		case h.IsEvent():
			return dubbowire.AppendHeartbeatResponse(out, h.ID), nil
		}
		arg, err := dubbowire.RequestArg(body)
		if err != nil {
			return out, fmt.Errorf("request %d: %w", h.ID, err)
		}
		return dubbowire.AppendResponse(out, h.ID, arg), nil
	})
}

// serveThrift answers every call with a reply carrying its argument.
func serveThrift(c net.Conn, k thriftwire.Kind) {
	r := thriftwire.NewReader(c)
	serveConn(c, r.Buffered, func(out []byte) ([]byte, error) {
		f, err := r.Next()
		if err != nil {
			return out, err
		}
		m, err := thriftwire.Parse(k, f)
		if err != nil {
			return out, err
		}
		if m.Type == thriftwire.Call {
			out = thriftwire.AppendMessage(out, k, thriftwire.Reply, m.Name, m.Seq, m.Value)
		}
		return out, nil
	})
}

// serveBolt answers every SOFARPC echo with its argument, and heartbeats.
func serveBolt(c net.Conn) {
	r := boltwire.NewReader(c)
	serveConn(c, r.Buffered, func(out []byte) ([]byte, error) {
		f, err := r.Next()
		switch {
		case err != nil:
			return out, err
		case !f.Request:
			return out, nil
		case f.Heartbeat:
			return boltwire.AppendHeartbeatAck(out, f.ID), nil
		}
		arg, err := boltwire.RequestArg(f.Content)
		if err != nil {
			return out, fmt.Errorf("request %d: %w", f.ID, err)
		}
		return boltwire.AppendResponse(out, f.ID, arg), nil
	})
}
